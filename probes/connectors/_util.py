"""Small helpers the built-in connectors share: options, templates, JSON paths, flattening."""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx

from ..config import StageConfig, ToolConfig
from ..config import messages as msg
from ..errors import ApiError, ConfigError, UsageError
from ..record import TestRecord, check_template_syntax


def option(tool: ToolConfig, stage: StageConfig | None, key: str, default: Any = None) -> Any:
    """``stages[i].options.<key>``, else ``tools.<name>.<key>``, else ``default``."""
    if stage is not None and key in stage.options:
        return stage.options[key]
    return tool.options.get(key, default)


def mapping_option(
    tool: ToolConfig, stage: StageConfig | None, key: str, default: Mapping[str, Any]
) -> dict[str, str]:
    """An option that must be a mapping of names to strings (field maps, headers)."""
    value = option(tool, stage, key, default)
    if not isinstance(value, Mapping):
        raise ConfigError(f"tools.{tool.name}.{key}: must be a mapping, got {type(value).__name__}")
    return {str(k): str(v) for k, v in value.items()}


def record_values(record: TestRecord, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The record's template values, booleans as ``"true"``/``"false"`` as forms send them."""
    values = {
        k: ("true" if v else "false") if isinstance(v, bool) else v
        for k, v in record.values().items()
    }
    if extra:
        values.update(extra)
    return values


def render(record: TestRecord, template: str, extra: Mapping[str, Any] | None = None) -> str:
    """Fill ``{field}`` / ``{field:format}`` like ``TestRecord.render``, but write booleans in
    lower case (``{marketing_consent}`` -> ``"true"``), which is what web forms send.

    Only plain templates are filled (``record.check_template_syntax``): ``{email.__class__}``
    or ``{first_name:>50000000}`` is a ``UsageError`` before anything is formatted."""
    check_template_syntax(template)
    try:
        return template.format_map(record_values(record, extra))
    except KeyError as exc:
        raise UsageError(_unknown_field(exc, template)) from exc
    except (ValueError, IndexError, AttributeError, TypeError) as exc:
        raise UsageError(msg.bad_template(template, str(exc))) from exc


def _unknown_field(exc: KeyError, template: str) -> str:
    return f"unknown record field {msg.shown(exc.args[0])} in {msg.shown(template)}"


class _UrlFormatter(string.Formatter):
    def format_field(self, value: Any, format_spec: str) -> str:
        return quote(super().format_field(value, format_spec), safe="")


def render_url(record: TestRecord, template: str, extra: Mapping[str, Any] | None = None) -> str:
    """``render`` for URLs: each filled-in value is percent-encoded, so
    ``?email={email}`` sends ``probe%2Bbt7k2xq9%40example.com``, not a ``+`` a server would
    read as a space. Only plain templates are filled, as in ``render``."""
    check_template_syntax(template)
    try:
        return _UrlFormatter().vformat(template, (), record_values(record, extra))
    except KeyError as exc:
        raise UsageError(_unknown_field(exc, template)) from exc
    except (ValueError, IndexError, AttributeError, TypeError) as exc:
        raise UsageError(msg.bad_template(template, str(exc))) from exc


def render_tree(record: TestRecord, tree: Any, extra: Mapping[str, Any] | None = None) -> Any:
    """``render`` every string inside a JSON-like value (dict keys are left as they are)."""
    if isinstance(tree, str):
        return render(record, tree, extra)
    if isinstance(tree, Mapping):
        return {k: render_tree(record, v, extra) for k, v in tree.items()}
    if isinstance(tree, list):
        return [render_tree(record, v, extra) for v in tree]
    return tree


def dig(data: Any, path: str, default: Any = None) -> Any:
    """Follow a dotted path (``"data.items"``, ``"results.0.id"``); ``""`` is ``data`` itself."""
    current = data
    for part in filter(None, path.split(".")):
        if isinstance(current, Mapping) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.lstrip("-").isdigit():
            try:
                current = current[int(part)]
            except IndexError:
                return default
        else:
            return default
    return current


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts and lists as one level with dotted keys: ``{"a": {"b": [1]}}`` ->
    ``{"a.b.0": 1}``. Empty dicts and lists are kept as values so they stay visible."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, name + "."))
        elif isinstance(value, list) and value:
            out.update(flatten({str(i): v for i, v in enumerate(value)}, name + "."))
        else:
            out[name] = value
    return out


def json_body(resp: httpx.Response, tool: str) -> Any:
    """The response's JSON, or ``ApiError`` naming the tool when it is not JSON."""
    try:
        return resp.json()
    except ValueError as exc:
        raise ApiError(
            f"{tool}: expected JSON from {resp.request.method} {resp.request.url.path}, "
            f"got {resp.headers.get('content-type', 'no content type')}",
            tool=tool,
            status_code=resp.status_code,
        ) from exc


def expected_fields(stage: StageConfig | None) -> list[str]:
    """Field names the stage's expectation checks (so observers fetch them too)."""
    return list(stage.expect.fields) if stage is not None else []


def dedupe(items: list[str]) -> list[str]:
    """``items`` without repeats, first occurrence wins."""
    return list(dict.fromkeys(items))


def epoch(value: object) -> float | None:
    """A Unix timestamp from an epoch number or an ISO 8601 string; None if neither."""
    import datetime as dt

    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) / 1000 if value > 1e11 else float(value)  # epoch ms or s
    if isinstance(value, str) and value:
        try:
            when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        return when.timestamp()
    return None
