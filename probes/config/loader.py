"""YAML → ``Config``, with every problem reported at once, each with its file, line and key.

    >>> load_config_text("tools: {}\\nworkflows: {}\\n", path="baton.yaml")
    Traceback (most recent call last):
      ...
    baton.probes.errors.ConfigError: baton.yaml:2: workflows: needs at least one workflow

The pipeline: bytes → UTF-8 text → YAML nodes with lines (``config.document``) → plain
values checked key by key (``config.check.Checker``) → the typed model in
``baton.probes.config``. Workflows are checked in ``config.workflows``; their schedules and
alerts, and ``slack.digests``, in ``config.schedules``; the rest of ``slack:`` in
``config.slack``.

Secrets only come from the environment: every value under ``tools.<name>.credentials``
and ``slack.bot_token`` / ``signing_secret`` / ``app_token`` must be ``${VAR}`` or
``${VAR:-default}``, and a default that looks like a real key (``sk_live_...``, a long
generated token) is refused, as is a secret written into a URL (``user:pass@``,
``?api_key=...``) or a secret header. ``${VAR}`` references are expanded in every other
string too.

Hostile input is refused with the cap it broke, never a traceback: a file over
``MAX_CONFIG_BYTES`` (unread), alias bombs and deep nesting (``config.document``), durations,
counts and rates past their caps (``baton.probes.config``), URLs that are not one plain http(s)
line with a host, and templates that do more than name record fields.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import ConfigError
from . import messages as msg
from .check import Checker, location
from .connector_specs import ConnectorSpec, connector_specs
from .document import KeyPath, YamlProblem, beside_config, is_file_path, parse_yaml
from .model import (
    DEFAULT_TIMEOUT_S,
    MAX_CONFIG_BYTES,
    Config,
    ToolConfig,
    WorkflowConfig,
)
from .options import check_option
from .records import check_record, check_tool_templates
from .slack import check_digest_workspaces, check_secret, check_slack
from .values import env_var_hint, name_problem, single_ref
from .workflows import parse_workflows

__all__ = ["ConnectorSpec", "connector_specs", "load_config", "load_config_text"]

SUPPORTED_VERSION = 1
TOP_KEYS = ("version", "store", "record", "tools", "workflows", "slack")
TOOL_KEYS = ("type", "base_url", "credentials", "rate_limit", "timeout")


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read and validate a config file.

    Raises ``ConfigError`` listing every problem, one line each, e.g.
    ``baton.yaml:14: workflows.lead.stages[2].tool: unknown tool 'hubspt' (did you mean
    'hubspot'?)``. A missing file, a directory, non-UTF-8 bytes or a file over
    ``MAX_CONFIG_BYTES`` (read no further) are ``ConfigError`` too.
    """
    name = os.fspath(path)
    try:
        with open(name, "rb") as file:
            data = file.read(MAX_CONFIG_BYTES + 1)
            if len(data) > MAX_CONFIG_BYTES:
                size = _size_of(file)
                raise ConfigError(
                    f"{name}: {msg.file_too_large(size, MAX_CONFIG_BYTES)}", path=name
                )
    except FileNotFoundError:
        raise ConfigError(f"{name}: {msg.file_missing()}", path=name) from None
    except IsADirectoryError:
        raise ConfigError(f"{name}: {msg.file_is_directory()}", path=name) from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(f"{name}: {msg.file_unreadable(reason)}", path=name) from None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ConfigError(f"{name}:1: {msg.utf16()}", path=name)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        problem = msg.not_utf8(data[exc.start], exc.start)
        raise ConfigError(f"{name}:{line}: {problem}", path=name) from None
    return load_config_text(text, path=name)


def _size_of(file: Any) -> int | None:
    """The file's size when it has one (not a pipe or a device), else ``None``."""
    try:
        size = os.fstat(file.fileno()).st_size
    except OSError:  # pragma: no cover - an open file can always be stat'ed
        return None
    return size if size > MAX_CONFIG_BYTES else None


def load_config_text(
    text: str, *, path: str = "<string>", env: Mapping[str, str] | None = None
) -> Config:
    """Validate config ``text``; ``path`` names it in messages and anchors a relative store.

    ``env`` replaces ``os.environ`` for ``${VAR}`` references (tests pass a dict).
    A ``path`` like ``"<string>"`` is not a file: ``Config.path`` is then ``None`` and a
    relative ``store`` stays relative to the working directory. Text longer than
    ``MAX_CONFIG_BYTES`` characters is refused before it is parsed.
    """
    if len(text) > MAX_CONFIG_BYTES:
        raise ConfigError(
            location(path, None) + msg.text_too_large(len(text), MAX_CONFIG_BYTES), path=path
        )
    try:
        doc = parse_yaml(text)
    except YamlProblem as exc:
        problems = [location(path, line) + message for line, message in exc.problems]
        raise ConfigError(problems, path=path) from None
    if not isinstance(doc.data, dict):
        raise ConfigError(location(path, doc.lines.get(())) + msg.top_level(doc.data), path=path)
    ck = Checker(path, doc, os.environ if env is None else env)
    config = _build(ck, doc.data, path)
    ck.raise_if_any()
    return config


def _build(ck: Checker, top: dict[str, Any], path: str) -> Config:
    ck.mapping((), top, TOP_KEYS)
    _check_version(ck, top)
    store = _store(ck, top.get("store"), path)
    record = check_record(ck, ("record",), top.get("record"))
    specs = connector_specs()
    tools, tool_specs = _tools(ck, top.get("tools"), specs)
    raw_workflows = top.get("workflows")
    # Every name written, so a workflow with its own problem is not "unknown" to a digest.
    names = list(raw_workflows) if isinstance(raw_workflows, dict) else []
    slack = check_slack(ck, top.get("slack"), names, path)
    workflows = parse_workflows(
        ck,
        raw_workflows,
        tool_specs,
        specs=specs,
        global_record=record,
        default_channel=slack.default_channel,
    )
    check_tool_templates(ck, tools, tool_specs, [record, *_records(workflows)])
    if slack.oauth is not None:
        for name, wf in workflows.items():
            if wf.workspace is None and not ck.reported(("workflows", name, "workspace")):
                ck.add(("workflows", name), msg.workspace_missing())
        check_digest_workspaces(ck, top.get("slack"), workflows)
    return Config(
        tools=tools,
        workflows=workflows,
        record=record,
        store=store,
        slack=slack,
        path=path if is_file_path(path) else None,
        env_values=_masked_env_values(ck.env_used),
    )


#: Slack keys whose values are addresses (channel and user IDs) Baton must send as they are.
_SLACK_ADDRESSES = frozenset(["allowed_users", "allowed_channels", "default_channel", "channel"])


def _masked_env_values(used: Iterable[tuple[KeyPath, str]]) -> tuple[str, ...]:
    """The environment values to mask wherever Baton writes text: all of them, but Slack
    addresses, and bare origins (``http://127.0.0.1:8765``), which name a server and
    carry no credential, so messages can still say which server did not answer."""
    keep: set[str] = set()
    for path, value in used:
        if path[:1] == ("slack",) and any(
            k in _SLACK_ADDRESSES for k in path if isinstance(k, str)
        ):
            continue
        if _BARE_ORIGIN.fullmatch(value.strip()):
            continue
        keep.add(value)
    return tuple(sorted(keep))


_BARE_ORIGIN = re.compile(
    r"https?://[A-Za-z0-9.\-]+(?::[0-9]{1,5})?/?|https?://\[[0-9A-Fa-f:.]+\](?::[0-9]{1,5})?/?"
)


def _records(workflows: Mapping[str, WorkflowConfig]) -> list[dict[str, Any]]:
    out = []
    for workflow in workflows.values():
        out.append(workflow.record)
        out.extend(v.record for v in workflow.variants.values())
    return out


def _check_version(ck: Checker, top: dict[str, Any]) -> None:
    # Optional for now; any other number means a file written for another Baton.
    version = top.get("version", SUPPORTED_VERSION)
    if isinstance(version, bool) or str(version).strip() != str(SUPPORTED_VERSION):
        ck.add(("version",), msg.bad_version(version))


def _store(ck: Checker, value: Any, path: str) -> str:
    store = ck.text(("store",), value) if value is not None else "baton.db"
    if not store:
        if value is not None:
            ck.add(("store",), msg.needs_value())
        store = "baton.db"
    if store == ":memory:":
        return store
    return beside_config(store, path)


def _tools(
    ck: Checker, value: Any, specs: Mapping[str, ConnectorSpec]
) -> tuple[dict[str, ToolConfig], dict[str, ConnectorSpec | None]]:
    """``tools.*``; also returns each declared tool's spec (``None`` if its type is bad)."""
    tools: dict[str, ToolConfig] = {}
    tool_specs: dict[str, ConnectorSpec | None] = {}
    if value is None:
        present = ("tools",) in ck.doc.lines
        ck.add(
            ("tools",),
            msg.empty_list("tool")
            if present
            else msg.missing_key("a config needs 'tools:' for its workflows"),
        )
        return tools, tool_specs
    mapping = ck.mapping(("tools",), value)
    for name, raw in (mapping or {}).items():
        tool, spec = _tool(ck, name, raw, specs)
        tool_specs[name] = spec
        if tool is not None:
            tools[name] = tool
    return tools, tool_specs


def _tool(
    ck: Checker, name: str, raw: Any, specs: Mapping[str, ConnectorSpec]
) -> tuple[ToolConfig | None, ConnectorSpec | None]:
    path: KeyPath = ("tools", name)
    if problem := name_problem("tool", name):
        ck.add(path, problem)
    m = ck.mapping(path, raw, required=("type",))
    if m is None:
        return None, None
    type_name = ck.text((*path, "type"), m.get("type"), required="type" in m)
    if type_name is not None and not type_name.strip():
        ck.add((*path, "type"), msg.empty_type(specs))
        type_name = None
    spec = specs.get(type_name) if type_name else None
    if type_name and spec is None:
        ck.add((*path, "type"), msg.unknown_type(type_name, specs))
    base_url = ck.url((*path, "base_url"), m.get("base_url"))
    credentials = _credentials(ck, path, name, m.get("credentials"), spec)
    rate_limit = ck.rate((*path, "rate_limit"), m.get("rate_limit"))
    timeout = ck.duration((*path, "timeout"), m.get("timeout"), default=DEFAULT_TIMEOUT_S)
    options = _options(ck, path, m, spec)
    tool = ToolConfig(
        name=name,
        type=type_name or "",
        base_url=base_url.rstrip("/") if base_url else None,
        credentials=credentials,
        rate_limit=rate_limit,
        timeout_s=timeout,
        options=options,
    )
    if spec is not None and spec.validate is not None:
        # The connector's own checks, so loading refuses what building it would. A key
        # already reported (a bad URL, a missing option) is not reported twice.
        try:
            problems = spec.validate(tool)
        except Exception as exc:  # a plugin's bug: name it, never a traceback
            problems = [("type", msg.connector_validate_failed(spec.type_name, exc))]
        for key, problem in problems:
            if not ck.reported((*path, key)):
                ck.add((*path, key), problem)
    return tool, spec


def _options(
    ck: Checker, path: KeyPath, m: Mapping[str, Any], spec: ConnectorSpec | None
) -> dict[str, Any]:
    """Every key besides the common ones, checked against the connector's ``options_doc``."""
    options: dict[str, Any] = {}
    for key, option in m.items():
        if key in TOOL_KEYS:
            continue
        if spec is not None and spec.options is not None and key not in spec.options:
            choices = [*TOOL_KEYS, *spec.options]
            ck.add((*path, key), msg.unknown_option(key, spec.type_name, choices))
            continue
        options[key] = check_option(ck, (*path, key), spec.type_name if spec else None, key, option)
    if spec is None:
        return options
    for key in spec.required_options:
        if key not in m:
            ck.add((*path, key), msg.missing_key(f"type {spec.type_name!r} needs it"))
        elif options.get(key) in (None, "") and not ck.reported((*path, key)):
            ck.add((*path, key), msg.needs_value())
    return options


def _credentials(
    ck: Checker, tool_path: KeyPath, tool: str, value: Any, spec: ConnectorSpec | None
) -> dict[str, str]:
    """``tools.<name>.credentials``: each value an env reference, resolved here."""
    path = (*tool_path, "credentials")
    raw = {} if value is None else ck.mapping(path, value) or {}
    out: dict[str, str] = {}
    empty: set[str] = set()
    for key, ref in raw.items():
        resolved = check_secret(ck, (*path, key), key, ref, env_var_hint(tool, key))
        if resolved:
            out[key] = resolved
        elif resolved == "":
            empty.add(key)
    if spec is None:
        return out
    for key in spec.required_credentials:
        hint = env_var_hint(tool, key)
        if key in empty:
            ck.add((*path, key), msg.credential_empty(f"${{{single_ref(raw[key]) or hint}}}"))
        elif key not in raw:
            ck.add((*path, key), msg.credential_missing(key, spec.type_name, hint))
    return out
