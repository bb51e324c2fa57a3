"""Checks for ``record:`` sections and for record templates (``{first_name}``).

A template may only use record fields (``baton.probes.record.FIELD_NAMES``, the derived names
such as ``amount_cents``, and ``x_*`` fields some ``record:`` layer sets); it is rendered
against a sample record to prove it::

    >>> check_template("Hi {frist_name}", make_record(SAMPLE_MARKER))
    "unknown record field 'frist_name' in template 'Hi {frist_name}' (did you mean 'first_name'?)"
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from typing import Any

from ..errors import UsageError
from ..record import FIELD_NAMES, TestRecord, make_record, template_syntax_problem
from . import messages as msg
from .check import Checker
from .connector_specs import ConnectorSpec
from .document import KeyPath
from .model import ToolConfig
from .options import check_option_templates

#: Any valid marker renders templates the same way; this one is only for checking.
SAMPLE_MARKER = "bt0000aa"


def check_record(ck: Checker, path: KeyPath, value: Any) -> dict[str, Any]:
    """A ``record:`` section: known fields (or ``x_*``) with values the record accepts."""
    if value is None:
        return {}
    mapping = ck.mapping(path, value)
    out: dict[str, Any] = {}
    for key, raw in (mapping or {}).items():
        p = (*path, key)
        if key not in FIELD_NAMES and not key.startswith("x_"):
            ck.add(p, msg.unknown_record_field(key, FIELD_NAMES))
            continue
        if raw is None or isinstance(raw, dict | list):
            ck.add(p, msg.wrong_type("a single value", raw))
            continue
        val = ck.expand(p, raw) if isinstance(raw, str) else raw
        try:
            make_record(SAMPLE_MARKER, {key: val})
        except UsageError as exc:
            ck.add(p, str(exc))
            continue
        except (KeyError, ValueError, IndexError) as exc:  # the email template
            reason = f"unknown placeholder {exc}" if isinstance(exc, KeyError) else str(exc)
            ck.add(p, msg.bad_template(str(val), f"{reason}; it can use {{marker}}, {{domain}}"))
            continue
        except ArithmeticError:  # an amount like 1e308 has no cents
            ck.add(p, f"{key} must be a number like 49.00, not {msg.shown(val)}")
            continue
        out[key] = val
    return out


def sample_record(*records: Mapping[str, Any]) -> TestRecord:
    """A record with every ``x_`` field any of ``records`` sets, for checking templates."""
    extra = {k: "x" for r in records for k in r if k.startswith("x_")}
    return make_record(SAMPLE_MARKER, extra)


def check_tool_templates(
    ck: Checker,
    tools: Mapping[str, ToolConfig],
    specs: Mapping[str, ConnectorSpec | None],
    records: list[dict[str, Any]],
) -> None:
    """Templates in a tool's own options (``tools.<name>.fields``, ``url``, ``json``...),
    against a record with every ``x_`` field any of ``records`` sets."""
    sample = sample_record(*records)

    def problem(template: str, extra: tuple[str, ...]) -> str | None:
        return check_template(template, sample, extra)

    for name, tool in tools.items():
        spec = specs.get(name)
        if spec is None:
            continue
        check_option_templates(ck, ("tools", name), spec.type_name, tool.options, problem)


def check_template(template: str, sample: TestRecord, extra: tuple[str, ...] = ()) -> str | None:
    """Why ``template`` cannot be rendered from a record, or ``None`` when it can.

    Only plain fields with small formats (``record.template_syntax_problem``); ``extra``
    names fields the connector fills in besides the record's (``{id}`` in a cleanup URL).
    """
    known = sample.values()
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        return msg.bad_template(template, str(exc))
    for _, field, _, _ in parsed:
        if field is None:
            continue
        root = re.split(r"[.\[!]", field, maxsplit=1)[0]
        if root == "" or root.isdigit():
            return msg.template_positional(template)
    syntax = template_syntax_problem(template)
    if syntax is not None:
        return msg.bad_template(template, syntax)
    for _, field, _, _ in parsed:
        if field is not None and field not in known and field not in extra:
            return msg.template_field(field, template, [*known, *extra])
    try:
        if extra:
            template.format_map({**known, **dict.fromkeys(extra, "x")})
        else:
            sample.render(template)
    except UsageError as exc:
        return str(exc)
    except (AttributeError, TypeError, ValueError, KeyError, IndexError) as exc:
        return msg.bad_template(template, str(exc))
    return None
