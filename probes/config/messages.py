"""Every message the config loader shows, in one place.

Each function returns the text after ``<file>:<line>: <key path>: ``; the loader adds
that prefix. Messages say what to change, and never repeat a secret's value.

Size: every config problem's wording, in one place on purpose: one voice, one did-you-mean,
one way to quote a value; the checks hold no sentences.
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Iterable
from typing import Any

EXAMPLE = "config.example.yaml"

#: A list of choices in a message shows at most this many.
MAX_LISTED = 20

#: A value echoed in a message is cut to about this many characters: a message is one line.
SHOWN_CHARS = 80


def shown(value: Any, limit: int = SHOWN_CHARS) -> str:
    """``repr(value)``, cut short when long: a 5 MB string or a 400-digit number is echoed as
    its start and its size, and control characters are escaped, so a message stays one line.

    >>> shown("30s")
    "'30s'"
    >>> shown("x" * 500, 10)
    "'xxxxxxxxx…(500 characters)"
    >>> shown(10**100, 10)
    '1000000000…(101 digits)'
    """
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**limit:
        digits = len(str(abs(value)))  # below Python's 4,300-digit limit: YAML refuses more
        return f"{str(value)[:limit]}…({digits} digits)"
    if isinstance(value, str) and len(value) > limit:
        return f"{repr(value[:limit])[:limit]}…({len(value):,} characters)"
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}…"


def span(seconds: float) -> str:
    """``604800`` → ``"7d"``, ``3600`` → ``"1h"``, ``90`` → ``"90s"``: a cap, in words."""
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest choice, or ``""`` when none is close."""
    if len(word) > SHOWN_CHARS:
        return ""  # nothing that long is a typo of a name
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def hint(word: str, choices: Iterable[str]) -> str:
    """A did-you-mean, or else the list of what is allowed."""
    options = sorted(set(choices))
    close = did_you_mean(word, options)
    if close:
        return close
    if not options:
        return "; none are defined"
    listed = ", ".join(shown(o)[1:-1] for o in options[:MAX_LISTED])
    if len(options) > MAX_LISTED:
        listed += f", ... ({len(options):,} in all)"
    return f"; expected one of: {listed}"


def unknown(kind: str, word: str, choices: Iterable[str]) -> str:
    """``unknown tool 'hubspt' (did you mean 'hubspot'?)``, or the list of known ones."""
    return f"unknown {kind} {shown(word)}{hint(word, choices)}"


def describe(value: Any) -> str:
    """What a YAML value is, in words: ``a list``, ``a number``, ``text``..."""
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dt.date):
        return "a date"
    return type(value).__name__


def connector_validate_failed(type_name: str, exc: Exception) -> str:
    return (
        f"the {type_name} connector failed to check this tool's options "
        f"({type(exc).__name__}: {shown(str(exc))}); report it to the connector's authors"
    )


def wrong_type(expected: str, value: Any) -> str:
    return f"must be {expected}, not {describe(value)}"


# -- the file itself ---------------------------------------------------------------------


def file_missing() -> str:
    return f"no such config file (start from {EXAMPLE})"


def file_is_directory() -> str:
    return "is a directory, not a config file"


def file_unreadable(reason: str) -> str:
    return f"cannot read the config file: {reason}"


def _size(n: int) -> str:
    if n >= 1 << 20:
        mib = f"{n / (1 << 20):.1f}".removesuffix(".0")
        return f"{mib} MiB ({n:,} bytes)"
    return f"{n:,} bytes"


def file_too_large(size: int | None, limit: int) -> str:
    """``size``: ``None`` when the file does not say (a pipe): more than ``limit`` was read."""
    if size is None:
        return (
            f"the config file is more than {_size(limit)}, the most a config file may be "
            "(is this the right file?)"
        )
    return (
        f"the config file is {_size(size)}; a config file is at most {_size(limit)} "
        "(is this the right file?)"
    )


def text_too_large(chars: int, limit: int) -> str:
    return (
        f"the config is {chars:,} characters long; a config is at most {limit:,} characters "
        "(is this the right file?)"
    )


def not_utf8(byte: int, offset: int) -> str:
    return f"not UTF-8 text (byte 0x{byte:02x} at offset {offset}); save the file as UTF-8"


def utf16() -> str:
    return "the file is UTF-16 text; save it as UTF-8"


def empty_file() -> str:
    return f"the file is empty; a config needs at least 'tools' and 'workflows' (see {EXAMPLE})"


def top_level(value: Any) -> str:
    return (
        "the top level must be a mapping of keys (version, tools, workflows, ...), "
        f"not {describe(value)}"
    )


def tab_character() -> str:
    return "invalid YAML: a tab character; YAML indents with spaces, never tabs"


def control_character(code: int) -> str:
    return f"invalid YAML: control character U+{code:04X} is not allowed (binary data?)"


def several_documents() -> str:
    return "invalid YAML: more than one document (a second '---'); a config file holds one"


def invalid_yaml(problem: str, context: str | None = None, context_line: int | None = None) -> str:
    text = f"invalid YAML: {_one_line(problem)}"
    if context:
        where = f" started on line {context_line}" if context_line else ""
        text += f" ({_one_line(context)}{where})"
    return text


def _one_line(text: str, limit: int = 4 * SHOWN_CHARS) -> str:
    """``text`` (a library's reason) with line breaks and control characters escaped, cut
    to ``limit`` characters."""
    if text.isprintable() and len(text) <= limit:
        return text
    escaped = repr(text[:limit])[1:-1]
    return escaped if len(text) <= limit else f"{escaped}…"


def bad_scalar(value: str, reason: str) -> str:
    """A YAML value PyYAML cannot build (a date like 2026-13-45, a 5,000-digit number)."""
    return invalid_yaml(f"{shown(value)}: {reason}")


def number_too_long(length: int) -> str:
    return (
        f"invalid YAML: a number {length:,} characters long is more than any setting takes "
        "(quote it if it is text)"
    )


def duplicate_key(key: str, first_line: int) -> str:
    return f"duplicate key {shown(key)} (first defined on line {first_line}); keep one"


def bad_merge(found: str, *, in_list: bool) -> str:
    """``found``: what the ``<<`` was given (``scalar``, ``sequence``), in PyYAML's words."""
    what = "a mapping" if in_list else "a mapping or list of mappings"
    return f"invalid YAML: expected {what} for merging, but found {found} (e.g. <<: *defaults)"


def complex_key() -> str:
    return "keys must be plain text, not a list or a mapping"


def unsupported_tag(tag: str) -> str:
    return f"unsupported YAML tag {shown(tag)}; a config holds plain mappings, lists and values"


def recursive_alias() -> str:
    return "an alias refers to a mapping or list that contains it; recursion is not allowed"


def too_large(limit: int) -> str:
    return f"the document expands to more than {limit} values (too many aliases?)"


def too_deep() -> str:
    return "invalid YAML: nested too deeply"


# -- keys and values ---------------------------------------------------------------------


def unknown_key(key: str, allowed: Iterable[str]) -> str:
    return unknown("key", key, allowed)


def unknown_option(key: str, type_name: str, allowed: Iterable[str]) -> str:
    return f"unknown option {shown(key)} for type {shown(type_name)}{hint(key, allowed)}"


def missing_key(what: str = "") -> str:
    return f"missing; {what}" if what else "missing; this key is required"


def needs_value() -> str:
    return "needs a value"


def name_too_long(kind: str, name: str, limit: int) -> str:
    return f"{kind} name {shown(name)} is {len(name):,} characters long; at most {limit}"


def bad_slug(kind: str, name: str) -> str:
    return (
        f"{kind} name {shown(name)} must be lower case letters, digits, '-' and '_', "
        "starting with a letter or digit (e.g. 'lead-intake')"
    )


def bad_version(value: Any) -> str:
    return f"unsupported config version {shown(value)}; this Baton reads version 1"


def bad_url(value: str) -> str:
    return f"must be an http:// or https:// URL, not {shown(value)}"


def url_no_host(value: str) -> str:
    return (
        "must be an http:// or https:// URL with a host, e.g. 'https://api.example.com', "
        f"not {shown(value)}"
    )


def url_invalid(value: str, reason: str) -> str:
    return f"is not a valid URL ({_one_line(reason)}): {shown(value)}"


def url_character(code: int) -> str:
    char = chr(code)
    what = (
        "a line break"
        if char in "\r\n\v\f\x85\u2028\u2029"
        else "whitespace"
        if char.isspace()
        else "a control character"
    )
    return (
        f"contains {what} (U+{code:04X}); a URL is one line of printable text "
        "(percent-encode it, e.g. %20 for a space)"
    )


def url_too_long(length: int, limit: int) -> str:
    return f"is a URL of {length:,} characters; a URL is at most {limit:,}"


def url_secret(where: str, var: str) -> str:
    """``where``: ``query parameter 'api_key'`` or ``user:password@``. Never the value."""
    return (
        f"holds a secret in the URL ({where}); put it in an environment variable, e.g. "
        f"${{{var}}}, not in the file"
    )


def bad_header_name(name: str) -> str:
    return (
        f"header name {shown(name)} is not one HTTP allows: letters, digits and "
        "!#$%&'*+-.^_`|~, e.g. 'X-Source'"
    )


def header_character(code: int) -> str:
    return f"contains a control character (U+{code:04X}); a header is one line of text"


def header_secret(name: str, var: str) -> str:
    return (
        f"header {shown(name)} carries a secret; put it in an environment variable, e.g. "
        f"{name}: ${{{var}}}, not in the file"
    )


def bad_duration(value: Any) -> str:
    return f"must be a duration like 30, '30s', '5m', '1h30m' or '500ms', not {shown(value)}"


def duration_too_long(value: Any, maximum_s: float) -> str:
    return f"must be at most {span(maximum_s)}, not {shown(value)}"


def bad_rate(value: Any) -> str:
    return (
        "must be requests per second (a number > 0) or a rate like '10/s', '6/min', "
        f"not {shown(value)}"
    )


def rate_out_of_range(value: Any, low_per_hour: float, high_per_s: float) -> str:
    return f"must be from {low_per_hour:g}/hour to {high_per_s:g}/s, not {shown(value)}"


def must_be_positive(value: Any, *, zero_ok: bool = False) -> str:
    return f"must be {'0 or more' if zero_ok else 'more than 0'}, not {shown(value)}"


def bad_count(value: Any) -> str:
    return f"must be a whole number of 1 or more, not {shown(value)}"


def count_too_large(value: Any, maximum: int) -> str:
    return f"must be a whole number from 1 to {maximum:,}, not {shown(value)}"


def empty_list(what: str) -> str:
    return f"needs at least one {what}"


def slack_command(value: str) -> str:
    return f"a slash command starts with '/', e.g. '/baton', not {shown(value)}"


# -- workspaces (slack.oauth) ------------------------------------------------------------


def workspace_id(value: str) -> str:
    return (
        f"a workspace is its Slack team ID (T followed by capitals and digits, e.g. "
        f"T0123ABCD; Baton names it when the app is installed there), not {shown(value)}"
    )


def workspace_missing() -> str:
    """A workflow without ``workspace:`` while ``slack.oauth`` serves several workspaces."""
    return (
        "needs workspace: (the team ID, e.g. T0123ABCD, of the Slack workspace it belongs "
        "to): with slack.oauth Baton serves several workspaces, and each sees only its own "
        "workflows"
    )


def digest_workspace(workspaces: Iterable[str]) -> str:
    """A digest under ``slack.oauth`` of no workflow in particular, or of several workspaces."""
    found = sorted(workspaces)
    of = f" (these are of {', '.join(found)})" if len(found) > 1 else ""
    return (
        f"with slack.oauth a digest names its workflows, all of one workspace{of}: "
        "each workspace sees only its own"
    )


def oauth_default_channel() -> str:
    """``slack.default_channel`` under ``slack.oauth``: a channel is of one workspace."""
    return (
        "with slack.oauth a channel belongs to one workspace, and this one would take the "
        "alerts of every workspace: remove it, and give each schedule its channel "
        "(workflows.<name>.schedule.channel) and each digest its own (slack.digests[].channel)"
    )


def oauth_installations_memory() -> str:
    return "needs a file: the installations are kept in SQLite between restarts"


# -- environment variables and secrets ---------------------------------------------------


def literal_secret(key: str, var: str) -> str:
    return f"put secrets in an environment variable, e.g. {key}: ${{{var}}}, not in the file"


def literal_secret_default(key: str, var: str) -> str:
    """A ``${VAR:-default}`` whose default is a real-looking secret. Never the value."""
    return (
        f"the default of ${{{var}:-...}} looks like a real secret, and a default is written "
        f"in the file; set {var} in the environment and write {key}: ${{{var}}}"
    )


def env_unset(var: str, *, looks_like_field: bool = False) -> str:
    text = f"environment variable {var} is not set (set it, or give a default: ${{{var}:-value}})"
    if looks_like_field:
        # "Total: ${amount}" meant a dollar sign before a record template.
        text += f"; for a literal '$' before a record template, write $${{{var}}}"
    return text


def env_malformed() -> str:
    return "malformed environment reference; write ${NAME} or ${NAME:-default}"


def credential_missing(key: str, type_name: str, var: str) -> str:
    return f"missing; type {shown(type_name)} needs credentials.{key}, e.g. {key}: ${{{var}}}"


def credential_empty(var_hint: str) -> str:
    return f"is empty; set the environment variable ({var_hint})"


# -- records and templates ---------------------------------------------------------------


def unknown_record_field(name: str, fields: Iterable[str]) -> str:
    close = did_you_mean(name, fields)
    if close:
        return f"unknown record field {shown(name)}{close}"
    return (
        f"unknown record field {shown(name)}; fields are: {', '.join(fields)} "
        "(or x_anything for an extra field)"
    )


def template_field(name: str, template: str, fields: Iterable[str]) -> str:
    return f"unknown record field {shown(name)} in template {shown(template)}{hint(name, fields)}"


def template_positional(template: str) -> str:
    return (
        f"template {shown(template)} has an unnamed '{{}}'; name a record field, e.g. '{{email}}'"
    )


def bad_template(template: str, reason: str) -> str:
    return f"bad template {shown(template)}: {_one_line(reason)}"


# Why one ``{...}`` of a template is refused (``bad_template`` puts the template first).


def template_not_plain(field: str) -> str:
    return (
        f"{shown(field)} reaches into a value ('.' or '['); a template names plain record "
        "fields only, e.g. '{email}' or '{date:%d/%m/%Y}'"
    )


def template_conversion(field: str, conversion: str) -> str:
    return (
        f"'!{conversion}' in {{{shown(field)[1:-1]}!{conversion}}} is not allowed; write "
        "'{field}' or '{field:format}'"
    )


def template_nested(spec: str) -> str:
    return f"the format {shown(spec)} holds a '{{...}}' of its own; a format is plain text"


def template_too_wide(width: int, limit: int) -> str:
    """``width``: what the formats of one template add up to (capped at a million)."""
    amount = f"{width:,}" if width < 10**6 else "millions of"
    return (
        f"its formats pad to or show {amount} characters; at most {limit:,} in all "
        "(e.g. '{first_name:>20}')"
    )


# -- workflows ---------------------------------------------------------------------------


def unknown_tool(name: str, tools: Iterable[str], of_that_type: list[str] | None = None) -> str:
    """``of_that_type``: tools whose *type* is ``name`` (a stage names a tool, not a type)."""
    close = did_you_mean(name, tools)
    if not close and of_that_type:
        named = " or ".join(repr(t) for t in of_that_type)
        return (
            f"unknown tool {shown(name)}; stages name a tool by its key under 'tools:' "
            f"(did you mean {named}, of type {shown(name)}?)"
        )
    return unknown("tool", name, tools)


def empty_type(types: Iterable[str]) -> str:
    return f"needs a connector type; one of: {', '.join(sorted(types))}"


def unknown_type(name: str, types: Iterable[str]) -> str:
    return unknown("connector type", name, types)


def cannot_inject(tool: str, type_name: str, entry_types: Iterable[str]) -> str:
    return (
        f"the first stage is the entry, but tool {shown(tool)} (type {type_name!r}) cannot "
        f"inject records; entry types: {', '.join(sorted(entry_types))}"
    )


def cannot_observe(tool: str, type_name: str, observer_types: Iterable[str]) -> str:
    return (
        f"tool {shown(tool)} (type {type_name!r}) cannot be observed, so it can only be the "
        f"entry (the first stage); observer types: {', '.join(sorted(observer_types))}"
    )


def entry_has_after() -> str:
    return "the first stage is the entry and comes after nothing; remove 'after'"


def entry_has_expect() -> str:
    return "the first stage is the entry and is not observed; put 'expect' on later stages"


def after_missing(earlier: Iterable[str]) -> str:
    return (
        "missing; every stage but the first names the earlier stage it comes after "
        f"(one of: {', '.join(earlier)})"
    )


def after_self(name: str) -> str:
    return f"stage {shown(name)} cannot come after itself"


def after_later(name: str, cycle: list[str] | None) -> str:
    text = f"{shown(name)} is a later stage; list stages in order, each after an earlier one"
    if cycle:
        text += f" (this makes a cycle: {' → '.join(cycle)})"
    return text


def duplicate_stage(name: str, first_index: int) -> str:
    return (
        f"duplicate stage name {shown(name)} (also stages[{first_index}]); stage names are unique"
    )


def unknown_stage(name: str, stages: Iterable[str]) -> str:
    return unknown("stage", name, stages)


# -- schedules, alerts and digests -------------------------------------------------------


def cron_and_every() -> str:
    return "has both 'cron' and 'every'; give one of them"


def cron_or_every() -> str:
    return "needs 'cron' or 'every', e.g. every: 15m or cron: '*/15 * * * *'"


def bad_cron(expr: str, reason: str) -> str:
    return f"bad cron expression {shown(expr)}: {_one_line(reason)}"


def every_too_short(value: Any) -> str:
    text = f"must be at least 1m (a schedule runs at most once a minute), not {shown(value)}"
    if isinstance(value, int | float) and not isinstance(value, bool):
        text += f" (a bare number is seconds; did you mean '{value:g}m'?)"
    return text


def bad_timezone(name: str, zones: Iterable[str]) -> str:
    close = did_you_mean(name, zones)
    if close:
        return f"unknown time zone {shown(name)}{close}"
    return f"unknown time zone {shown(name)}; use an IANA name such as 'Europe/London' or 'UTC'"


def unknown_variant(name: str, variants: Iterable[str]) -> str:
    """``variants`` of the workflow; ``default`` (its own record) is always allowed."""
    return unknown("variant", name, [*variants, "default"])


def unknown_workflow(name: str, workflows: Iterable[str]) -> str:
    return unknown("workflow", name, workflows)


def bad_mention(value: str) -> str:
    hint = ""
    if value.startswith("@") or value.startswith("<"):
        hint = " (the ID, not the name: a member's profile → ⋯ → Copy member ID)"
    return f"{shown(value)} is not a Slack user ID (U…, W…) or user-group ID (S…){hint}"


def digest_channel_missing() -> str:
    return "missing; a digest needs the channel to post to (empty turns the digest off)"


def digest_cron_missing() -> str:
    return "missing; a digest needs the time to post, e.g. cron: '0 9 * * mon' (Mondays, 09:00)"
