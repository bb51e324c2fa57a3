"""Two small query languages: Stripe's search and SendGrid's Email Activity ``query``.

Stripe (``/v1/customers/search?query=...``)::

    email:'ada@example.com' AND metadata['plan']:'pro'
    name~'Probe'  -status:'void'  created>1700000000  total>=4900

``:`` is an exact (case-insensitive) match, ``~`` a substring (3 characters at least),
``-`` negates, ``null`` matches a missing value; clauses join with all ``AND`` or all ``OR``.

SendGrid (``/v3/messages?query=...``)::

    to_email="ada@example.com" AND subject="Welcome, Ada!"
    subject LIKE "%Welcome%"   status!="delivered"
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


class QueryError(ValueError):
    """A query the vendor would refuse; the message is the vendor's kind of message."""


# Stripe ---------------------------------------------------------------------------------
_STRIPE_CLAUSE = re.compile(
    r"""\s*(?P<neg>-)?
    (?P<field>[a-z_]+)(?:\[(?P<q>['"])(?P<key>.*?)(?P=q)\])?
    \s*(?P<op>:|~|>=|<=|>|<)\s*
    (?:'(?P<sq>(?:[^'\\]|\\.)*)'|"(?P<dq>(?:[^"\\]|\\.)*)"|(?P<null>null)\b|(?P<num>-?\d+(?:\.\d+)?))
    \s*""",
    re.VERBOSE,
)
_JOIN = re.compile(r"(AND|OR)\b\s*")


@dataclass(frozen=True)
class StripeClause:
    field: str
    key: str | None  # metadata key
    op: str
    value: str | None  # None: null
    negate: bool = False

    def matches(self, obj: Mapping[str, Any]) -> bool:
        raw = (
            (obj.get("metadata") or {}).get(self.key)
            if self.key is not None
            else obj.get(self.field)
        )
        return self._test(raw) != self.negate

    def _test(self, raw: Any) -> bool:
        if self.value is None:
            return raw is None or raw == ""
        if raw is None:
            return False
        if self.op in (">", "<", ">=", "<="):
            try:
                a, b = float(raw), float(self.value)
            except (TypeError, ValueError):
                return False
            return {">": a > b, "<": a < b, ">=": a >= b, "<=": a <= b}[self.op]
        text, want = str(raw).lower(), self.value.lower()
        return want in text if self.op == "~" else text == want


@dataclass(frozen=True)
class StripeQuery:
    clauses: tuple[StripeClause, ...]
    join: str = "AND"

    def matches(self, obj: Mapping[str, Any]) -> bool:
        test = all if self.join == "AND" else any
        return test(c.matches(obj) for c in self.clauses)


def parse_stripe_query(text: str, *, fields: tuple[str, ...], resource: str) -> StripeQuery:
    """Parse a Stripe search query over ``fields`` (plus ``metadata['key']``)."""
    pos, clauses, joins = 0, [], set()
    text = text.strip()
    if not text:
        raise QueryError("The query must not be empty.")
    while pos < len(text):
        m = _STRIPE_CLAUSE.match(text, pos)
        if m is None:
            raise QueryError(
                f"We were unable to parse your search query. Try using the format "
                f'`metadata["key"]:"value"` to query for metadata or `key:"value"` to query '
                f"for other fields. (near position {pos}: {text[pos : pos + 20]!r})"
            )
        field, key = m["field"], m["key"]
        if field == "metadata" and key is None:
            raise QueryError("Use metadata['key'] to search metadata.")
        if field != "metadata" and field not in fields:
            raise QueryError(
                f"Field `{field}` is an unsupported search field for resource `{resource}`. "
                f"See http://stripe.com/docs/search#query-fields-for-{resource} for a list of "
                f"supported fields."
            )
        value = m["sq"] if m["sq"] is not None else m["dq"] if m["dq"] is not None else m["num"]
        if value is not None:
            value = re.sub(r"\\(.)", r"\1", value)
        if m["op"] == "~" and (value is None or len(value) < 3):
            raise QueryError("Substring search (`~`) needs a value of at least 3 characters.")
        clauses.append(StripeClause(field, key, m["op"], value, bool(m["neg"])))
        pos = m.end()
        if pos < len(text):
            j = _JOIN.match(text, pos)
            if j is None:
                raise QueryError(f"Expected AND or OR at position {pos}: {text[pos : pos + 20]!r}")
            joins.add(j[1])
            pos = j.end()
            if pos >= len(text):
                raise QueryError(f"The query ends with a dangling {j[1]}.")
    if len(joins) > 1:
        raise QueryError("The query cannot combine AND and OR.")
    return StripeQuery(tuple(clauses), joins.pop() if joins else "AND")


# SendGrid -------------------------------------------------------------------------------
_SG_CLAUSE = re.compile(
    r'\s*(?P<field>[A-Za-z_]+)\s*(?P<op>!=|=|NOT\s+LIKE|LIKE)\s*"(?P<value>(?:[^"\\]|\\.)*)"\s*',
    re.IGNORECASE,
)
_SG_JOIN = re.compile(r"(AND|OR)\b\s*", re.IGNORECASE)
#: Fields of an activity message a query may name.
SENDGRID_FIELDS = ("msg_id", "from_email", "subject", "to_email", "status", "template_id")
_CASELESS = ("from_email", "to_email", "status")


def _like(pattern: str) -> Callable[[str], bool]:
    parts = [re.escape(p) for p in pattern.split("%")]
    rx = re.compile("^" + ".*".join(parts) + "$", re.IGNORECASE | re.DOTALL)
    return lambda s: rx.match(s) is not None


@dataclass(frozen=True)
class SendGridClause:
    field: str
    op: str  # "=", "!=", "LIKE", "NOT LIKE"
    value: str

    def matches(self, msg: Mapping[str, Any]) -> bool:
        actual = str(msg.get(self.field) or "")
        if self.op in ("LIKE", "NOT LIKE"):
            return _like(self.value)(actual) != (self.op == "NOT LIKE")
        if self.field in _CASELESS:
            equal = actual.lower() == self.value.lower()
        else:
            equal = actual == self.value
        return equal != (self.op == "!=")


@dataclass(frozen=True)
class SendGridQuery:
    clauses: tuple[SendGridClause, ...]
    join: str = "AND"

    def matches(self, msg: Mapping[str, Any]) -> bool:
        test = all if self.join == "AND" else any
        return test(c.matches(msg) for c in self.clauses)


def parse_sendgrid_query(text: str) -> SendGridQuery:
    """Parse ``field="value" [AND|OR field LIKE "%v%" ...]``."""
    pos, clauses, joins = 0, [], set()
    text = text.strip()
    if not text:
        raise QueryError("invalid syntax: query is required")
    while pos < len(text):
        m = _SG_CLAUSE.match(text, pos)
        if m is None:
            raise QueryError(f"invalid syntax: cannot parse {text[pos : pos + 30]!r}")
        field = m["field"]
        if field not in SENDGRID_FIELDS:
            raise QueryError(f"invalid syntax: '{field}' is not a known field")
        op = " ".join(m["op"].upper().split())
        clauses.append(SendGridClause(field, op, re.sub(r"\\(.)", r"\1", m["value"])))
        pos = m.end()
        if pos < len(text):
            j = _SG_JOIN.match(text, pos)
            if j is None:
                raise QueryError(
                    f"invalid syntax: expected AND or OR near {text[pos : pos + 20]!r}"
                )
            joins.add(j[1].upper())
            pos = j.end()
            if pos >= len(text):
                raise QueryError(f"invalid syntax: dangling {j[1].upper()}")
    if len(joins) > 1:
        raise QueryError("invalid syntax: use parentheses to combine AND and OR")
    return SendGridQuery(tuple(clauses), joins.pop() if joins else "AND")
