"""Checks for connector options whose values Baton sends: URLs, headers and templates.

Each built-in connector type reads some of its options as URLs (``tools.<name>.url``), as
record templates (``fields``, ``json``, ``fallback_query``) or as request headers, whether
they are set on the tool or on a stage (``stages[i].options``)::

    OPTION_KINDS["http"]["cleanup_url"]   # URL_TEMPLATE_ID: a URL, a template with {id}

A URL is checked by ``Checker.url`` (http(s), a host, no control characters, no secret
written in it); a template by ``config.records.check_template``; a header must be one
line, and a header that carries a secret (``Authorization``, ``X-Api-Key``) must take it
from ``${ENV}``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from . import messages as msg
from .check import Checker
from .document import KeyPath
from .values import env_var_hint, header_secret

URL = "url"  # a plain URL, sent as is
URL_TEMPLATE = "url template"  # a URL and a record template (``?email={email}``)
URL_TEMPLATE_ID = "url template with id"  # ... that may also use ``{id}`` (cleanup)
TEMPLATE = "template"  # one record template
TEMPLATES = "templates"  # a mapping of name -> record template (``fields``)
TEMPLATE_TREE = "template tree"  # JSON whose strings are record templates (``json``)
WHOLE_NUMBER = "whole number"  # an id such as a subscription type: digits
HEADERS = "headers"  # a mapping of header -> literal value
TEMPLATE_HEADERS = "template headers"  # a mapping of header -> record template

#: What each option of a built-in connector type is, for the options Baton sends.
OPTION_KINDS: dict[str, dict[str, str]] = {
    "webhook": {"url": URL, "fields": TEMPLATES, "headers": HEADERS},
    "http": {
        "url": URL_TEMPLATE,
        "cleanup_url": URL_TEMPLATE_ID,
        "headers": TEMPLATE_HEADERS,
        "json": TEMPLATE_TREE,
    },
    "hubspot_forms": {
        "fields": TEMPLATES,
        "page_uri": URL_TEMPLATE,
        "subscription_type_id": WHOLE_NUMBER,
    },
    "sendgrid": {"fallback_query": TEMPLATE},
}

#: A header name as HTTP allows it (an RFC 9110 token).
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")

#: ``problem(template, extra_fields)``: why a template cannot be rendered, or ``None``.
TemplateCheck = Callable[[str, tuple[str, ...]], "str | None"]


def check_option(ck: Checker, path: KeyPath, type_name: str | None, key: str, raw: Any) -> Any:
    """One option's value with ``${ENV}`` expanded, after the checks its kind needs.

    A URL or header with a problem is reported and kept as written, so the option is not
    also reported as missing.
    """
    kind = OPTION_KINDS.get(type_name or "", {}).get(key)
    if kind in (URL, URL_TEMPLATE, URL_TEMPLATE_ID) and raw is not None:
        url = ck.url(path, raw, template=kind != URL)
        return url if url is not None else raw
    if kind in (HEADERS, TEMPLATE_HEADERS) and raw is not None:
        return _headers(ck, path, raw)
    value = ck.expand_tree(path, raw)
    if kind == WHOLE_NUMBER and value is not None and not _whole_number(value):
        ck.add(path, msg.wrong_type("a whole number (an id, e.g. 12345)", value))
    return value


def _whole_number(value: Any) -> bool:
    if isinstance(value, int) and not isinstance(value, bool):
        return 0 <= value < 10**20
    return isinstance(value, str) and re.fullmatch(r"\s*[0-9]{1,20}\s*", value) is not None


def _headers(ck: Checker, path: KeyPath, raw: Any) -> Any:
    if not isinstance(raw, dict):
        ck.add(path, msg.wrong_type("a mapping of header: value", raw))
        return raw
    out: dict[str, Any] = {}
    for name, value in raw.items():
        p = (*path, name)
        if not _HEADER_NAME.fullmatch(name):
            ck.add(p, msg.bad_header_name(name))
            continue
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            ck.add(p, msg.wrong_type("text", value))
            continue
        text = str(value)
        if header_secret(name, text):
            owner = str(path[1]) if len(path) > 1 else "tool"
            ck.add(p, msg.header_secret(name, env_var_hint(owner, name)))
            continue
        expanded = ck.expand(p, text)
        bad = next((c for c in expanded if not c.isprintable() and c != "\t"), None)
        if bad is not None:
            ck.add(p, msg.header_character(ord(bad)))
            continue
        out[name] = expanded
    return out


def check_option_templates(
    ck: Checker,
    path: KeyPath,
    type_name: str | None,
    options: Mapping[str, Any],
    problem: TemplateCheck,
    *,
    skip: tuple[str, ...] = (),
) -> None:
    """Every record template in ``options`` (already expanded), by the type's kinds."""
    for key, kind in OPTION_KINDS.get(type_name or "", {}).items():
        value = options.get(key)
        p = (*path, key)
        if key in skip or value is None or ck.reported(p):
            continue
        if kind in (URL_TEMPLATE, URL_TEMPLATE_ID, TEMPLATE):
            extra = ("id",) if kind == URL_TEMPLATE_ID else ()
            _one(ck, p, value, problem, extra)
        elif kind in (TEMPLATES, TEMPLATE_HEADERS):
            if not isinstance(value, dict):
                ck.add(p, msg.wrong_type("a mapping of field: template", value))
                continue
            for name, template in value.items():
                if not ck.reported((*p, name)):
                    _one(ck, (*p, name), template, problem, ())
        elif kind == TEMPLATE_TREE:
            _tree(ck, p, value, problem)


def _one(
    ck: Checker, path: KeyPath, value: Any, problem: TemplateCheck, extra: tuple[str, ...]
) -> None:
    if isinstance(value, dict | list):
        ck.add(path, msg.wrong_type("a template (text, e.g. '{email}')", value))
        return
    found = problem(str(value), extra)
    if found:
        ck.add(path, found)


def _tree(ck: Checker, path: KeyPath, value: Any, problem: TemplateCheck) -> None:
    if isinstance(value, str):
        _one(ck, path, value, problem, ())
    elif isinstance(value, dict):
        for key, item in value.items():
            _tree(ck, (*path, key), item, problem)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _tree(ck, (*path, index), item, problem)
