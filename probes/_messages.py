"""Every message the config loader shows, in one place.

Each function returns the text after ``<file>:<line>: <key path>: ``; the loader adds
that prefix. Messages say what to change, and never repeat a secret's value.
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Iterable
from typing import Any

EXAMPLE = "config.example.yaml"


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest choice, or ``""`` when none is close."""
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
    return f"; expected one of: {', '.join(options)}"


def unknown(kind: str, word: str, choices: Iterable[str]) -> str:
    """``unknown tool 'hubspt' (did you mean 'hubspot'?)``, or the list of known ones."""
    return f"unknown {kind} {word!r}{hint(word, choices)}"


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


def wrong_type(expected: str, value: Any) -> str:
    return f"must be {expected}, not {describe(value)}"


# -- the file itself ---------------------------------------------------------------------


def file_missing() -> str:
    return f"no such config file (start from {EXAMPLE})"


def file_is_directory() -> str:
    return "is a directory, not a config file"


def file_unreadable(reason: str) -> str:
    return f"cannot read the config file: {reason}"


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
    text = f"invalid YAML: {problem}"
    if context:
        where = f" started on line {context_line}" if context_line else ""
        text += f" ({context}{where})"
    return text


def duplicate_key(key: str, first_line: int) -> str:
    return f"duplicate key {key!r} (first defined on line {first_line}); keep one"


def complex_key() -> str:
    return "keys must be plain text, not a list or a mapping"


def unsupported_tag(tag: str) -> str:
    return f"unsupported YAML tag {tag!r}; a config holds plain mappings, lists and values"


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
    return f"unknown option {key!r} for type {type_name!r}{hint(key, allowed)}"


def missing_key(what: str = "") -> str:
    return f"missing; {what}" if what else "missing; this key is required"


def needs_value() -> str:
    return "needs a value"


def bad_slug(kind: str, name: str) -> str:
    return (
        f"{kind} name {name!r} must be lower case letters, digits, '-' and '_', "
        "starting with a letter or digit (e.g. 'lead-intake')"
    )


def bad_version(value: Any) -> str:
    return f"unsupported config version {value!r}; this Baton reads version 1"


def bad_url(value: str) -> str:
    return f"must be an http:// or https:// URL, not {value!r}"


def bad_duration(value: Any) -> str:
    return f"must be a duration like 30, '30s', '5m', '1h30m' or '500ms', not {value!r}"


def bad_rate(value: Any) -> str:
    return (
        f"must be requests per second (a number > 0) or a rate like '10/s', '6/min', not {value!r}"
    )


def must_be_positive(value: Any, *, zero_ok: bool = False) -> str:
    return f"must be {'0 or more' if zero_ok else 'more than 0'}, not {value!r}"


def bad_count(value: Any) -> str:
    return f"must be a whole number of 1 or more, not {value!r}"


def empty_list(what: str) -> str:
    return f"needs at least one {what}"


def slack_command(value: str) -> str:
    return f"a slash command starts with '/', e.g. '/baton', not {value!r}"


# -- environment variables and secrets ---------------------------------------------------


def literal_secret(key: str, var: str) -> str:
    return f"put secrets in an environment variable, e.g. {key}: ${{{var}}}, not in the file"


def env_unset(var: str, *, looks_like_field: bool = False) -> str:
    text = f"environment variable {var} is not set (set it, or give a default: ${{{var}:-value}})"
    if looks_like_field:
        # "Total: ${amount}" meant a dollar sign before a record template.
        text += f"; for a literal '$' before a record template, write $${{{var}}}"
    return text


def env_malformed() -> str:
    return "malformed environment reference; write ${NAME} or ${NAME:-default}"


def credential_missing(key: str, type_name: str, var: str) -> str:
    return f"missing; type {type_name!r} needs credentials.{key}, e.g. {key}: ${{{var}}}"


def credential_empty(var_hint: str) -> str:
    return f"is empty; set the environment variable ({var_hint})"


# -- records and templates ---------------------------------------------------------------


def unknown_record_field(name: str, fields: Iterable[str]) -> str:
    close = did_you_mean(name, fields)
    if close:
        return f"unknown record field {name!r}{close}"
    return (
        f"unknown record field {name!r}; fields are: {', '.join(fields)} "
        "(or x_anything for an extra field)"
    )


def bad_record_value(reason: str) -> str:
    return reason


def template_field(name: str, template: str, fields: Iterable[str]) -> str:
    return f"unknown record field {name!r} in template {template!r}{hint(name, fields)}"


def template_positional(template: str) -> str:
    return f"template {template!r} has an unnamed '{{}}'; name a record field, e.g. '{{email}}'"


def bad_template(template: str, reason: str) -> str:
    return f"bad template {template!r}: {reason}"


# -- workflows ---------------------------------------------------------------------------


def unknown_tool(name: str, tools: Iterable[str], of_that_type: list[str] | None = None) -> str:
    """``of_that_type``: tools whose *type* is ``name`` (a stage names a tool, not a type)."""
    close = did_you_mean(name, tools)
    if not close and of_that_type:
        named = " or ".join(repr(t) for t in of_that_type)
        return (
            f"unknown tool {name!r}; stages name a tool by its key under 'tools:' "
            f"(did you mean {named}, of type {name!r}?)"
        )
    return unknown("tool", name, tools)


def unknown_type(name: str, types: Iterable[str]) -> str:
    return unknown("connector type", name, types)


def cannot_inject(tool: str, type_name: str, entry_types: Iterable[str]) -> str:
    return (
        f"the first stage is the entry, but tool {tool!r} (type {type_name!r}) cannot inject "
        f"records; entry types: {', '.join(sorted(entry_types))}"
    )


def cannot_observe(tool: str, type_name: str, observer_types: Iterable[str]) -> str:
    return (
        f"tool {tool!r} (type {type_name!r}) cannot be observed, so it can only be the entry "
        f"(the first stage); observer types: {', '.join(sorted(observer_types))}"
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
    return f"stage {name!r} cannot come after itself"


def after_later(name: str, cycle: list[str] | None) -> str:
    text = f"{name!r} is a later stage; list stages in order, each after an earlier one"
    if cycle:
        text += f" (this makes a cycle: {' → '.join(cycle)})"
    return text


def duplicate_stage(name: str, first_index: int) -> str:
    return f"duplicate stage name {name!r} (also stages[{first_index}]); stage names are unique"


def unknown_stage(name: str, stages: Iterable[str]) -> str:
    return unknown("stage", name, stages)


# -- schedules, alerts and digests -------------------------------------------------------


def cron_and_every() -> str:
    return "has both 'cron' and 'every'; give one of them"


def cron_or_every() -> str:
    return "needs 'cron' or 'every', e.g. every: 15m or cron: '*/15 * * * *'"


def bad_cron(expr: str, reason: str) -> str:
    return f"bad cron expression {expr!r}: {reason}"


def every_too_short(value: Any) -> str:
    text = f"must be at least 1m (a schedule runs at most once a minute), not {value!r}"
    if isinstance(value, int | float) and not isinstance(value, bool):
        text += f" (a bare number is seconds; did you mean '{value:g}m'?)"
    return text


def bad_timezone(name: str, zones: Iterable[str]) -> str:
    close = did_you_mean(name, zones)
    if close:
        return f"unknown time zone {name!r}{close}"
    return f"unknown time zone {name!r}; use an IANA name such as 'Europe/London' or 'UTC'"


def unknown_variant(name: str, variants: Iterable[str]) -> str:
    """``variants`` of the workflow; ``default`` (its own record) is always allowed."""
    return unknown("variant", name, [*variants, "default"])


def unknown_workflow(name: str, workflows: Iterable[str]) -> str:
    return unknown("workflow", name, workflows)


def digest_channel_missing() -> str:
    return "missing; a digest needs the channel to post to (empty turns the digest off)"


def digest_cron_missing() -> str:
    return "missing; a digest needs the time to post, e.g. cron: '0 9 * * mon' (Mondays, 09:00)"
