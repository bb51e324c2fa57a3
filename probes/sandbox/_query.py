"""Two small query languages: Stripe's search and SendGrid's Email Activity ``query``.

Stripe (``/v1/customers/search?query=...``)::

    email:'ada@example.com' AND metadata['plan']:'pro'
    name~'Probe'  -status:'void'  created>1700000000  total>=4900

``:`` is an exact (case-insensitive) match, ``~`` a substring (3 characters at least),
``-`` negates, ``null`` matches a missing value; clauses join with all ``AND`` or all ``OR``.

SendGrid (``/v3/messages?query=...``)::

    to_email="ada@example.com" AND subject="Welcome, Ada!"
    subject LIKE "%Welcome%"   status!="delivered"   to_email IN ("a@x.io", "b@x.io")
    (to_email="a@x.io" OR to_email="b@x.io") AND last_event_time BETWEEN
        TIMESTAMP "2026-11-29T10:00:00Z" AND TIMESTAMP "2026-11-29T10:05:00Z"

``AND`` and ``OR`` mix only with parentheses; anything else is a 400 ``invalid syntax``.
"""

from __future__ import annotations

import datetime as dt
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
_SG_TOKEN = re.compile(
    r"""\s*(?:
        (?P<str>"(?:[^"\\]|\\.)*")
      | (?P<op>!=|<=|>=|=|<|>)
      | (?P<punct>[(),])
      | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.VERBOSE,
)
#: Fields of an activity message a query may name.
SENDGRID_FIELDS = (
    "msg_id",
    "from_email",
    "subject",
    "to_email",
    "status",
    "template_id",
    "last_event_time",
)
_CASELESS = ("from_email", "to_email", "status")
#: The one timestamp field: compared with ``TIMESTAMP "..."`` values, and ``BETWEEN``.
_TIME_FIELD = "last_event_time"
_TIME_OPS: dict[str, Callable[[float, float], bool]] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _like(pattern: str) -> Callable[[str], bool]:
    parts = [re.escape(p) for p in pattern.split("%")]
    rx = re.compile("^" + ".*".join(parts) + "$", re.IGNORECASE | re.DOTALL)
    return lambda s: rx.match(s) is not None


def _epoch(stamp: str) -> float | None:
    """``2026-11-29T10:00:00Z`` (or with an offset, or naive = UTC) as Unix seconds."""
    try:
        when = dt.datetime.fromisoformat(stamp.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()


@dataclass(frozen=True)
class SendGridClause:
    field: str
    op: str  # "=", "!=", "LIKE", "NOT LIKE", "IN", "NOT IN"
    value: str = ""
    values: tuple[str, ...] = ()  # IN, NOT IN

    def matches(self, msg: Mapping[str, Any]) -> bool:
        actual = str(msg.get(self.field) or "")
        if self.op in ("LIKE", "NOT LIKE"):
            return _like(self.value)(actual) != (self.op == "NOT LIKE")
        wanted = self.values if self.op in ("IN", "NOT IN") else (self.value,)
        if self.field in _CASELESS:
            actual = actual.lower()
            found = any(actual == w.lower() for w in wanted)
        else:
            found = actual in wanted
        return found != (self.op in ("!=", "NOT IN"))


@dataclass(frozen=True)
class SendGridTimeClause:
    """``last_event_time <op> TIMESTAMP "..."`` or ``BETWEEN ... AND ...`` (inclusive)."""

    op: str  # one of _TIME_OPS, or "BETWEEN"
    low: float
    high: float | None = None

    def matches(self, msg: Mapping[str, Any]) -> bool:
        when = _epoch(str(msg.get(_TIME_FIELD) or ""))
        if when is None:
            return False
        if self.op == "BETWEEN":
            return self.low <= when <= (self.high if self.high is not None else self.low)
        return _TIME_OPS[self.op](when, self.low)


@dataclass(frozen=True)
class SendGridGroup:
    """Terms joined by all ``AND`` or all ``OR`` (parentheses make mixed queries)."""

    join: str
    parts: tuple[SendGridClause | SendGridTimeClause | SendGridGroup, ...]

    def matches(self, msg: Mapping[str, Any]) -> bool:
        test = all if self.join == "AND" else any
        return test(p.matches(msg) for p in self.parts)


@dataclass(frozen=True)
class SendGridQuery:
    root: SendGridClause | SendGridTimeClause | SendGridGroup

    def matches(self, msg: Mapping[str, Any]) -> bool:
        return self.root.matches(msg)


@dataclass(frozen=True)
class _Token:
    kind: str  # "str", "op", "punct", "word"
    text: str
    pos: int

    @property
    def keyword(self) -> str:
        return self.text.upper() if self.kind == "word" else ""


def _sg_tokens(text: str) -> list[_Token]:
    out: list[_Token] = []
    pos = 0
    while pos < len(text):
        if not text[pos:].strip():
            break
        m = _SG_TOKEN.match(text, pos)
        if m is None or m.lastgroup is None:
            raise QueryError(f"invalid syntax: cannot parse {text[pos : pos + 30].strip()!r}")
        kind = m.lastgroup
        raw = m[kind]
        value = re.sub(r"\\(.)", r"\1", raw[1:-1]) if kind == "str" else raw
        out.append(_Token(kind, value, m.start(kind)))
        pos = m.end()
    return out


class _SendGridParser:
    """``expr := term ((AND | OR) term)*`` with one kind of join per level,
    ``term := "(" expr ")" | clause``."""

    def __init__(self, text: str) -> None:
        self.tokens = _sg_tokens(text)
        self.i = 0

    def parse(self) -> SendGridQuery:
        if not self.tokens:
            raise QueryError("invalid syntax: query is required")
        root = self.expr()
        extra = self.peek()
        if extra is not None:
            raise QueryError(f"invalid syntax: unexpected {extra.text!r} at position {extra.pos}")
        return SendGridQuery(root)

    def peek(self) -> _Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, what: str) -> _Token:
        token = self.peek()
        if token is None:
            raise QueryError(f"invalid syntax: expected {what} at the end of the query")
        self.i += 1
        return token

    def keyword(self, *words: str) -> str | None:
        token = self.peek()
        if token is not None and token.keyword in words:
            self.i += 1
            return token.keyword
        return None

    def punct(self, char: str) -> bool:
        token = self.peek()
        if token is not None and token.kind == "punct" and token.text == char:
            self.i += 1
            return True
        return False

    def string(self, what: str = 'a quoted value ("...")') -> str:
        token = self.take(what)
        if token.kind != "str":
            raise QueryError(f"invalid syntax: expected {what} near {token.text!r}")
        return token.text

    def expr(self) -> SendGridClause | SendGridTimeClause | SendGridGroup:
        parts = [self.term()]
        joins: set[str] = set()
        while (join := self.keyword("AND", "OR")) is not None:
            if self.peek() is None:
                raise QueryError(f"invalid syntax: dangling {join}")
            joins.add(join)
            parts.append(self.term())
        if len(joins) > 1:
            raise QueryError("invalid syntax: use parentheses to combine AND and OR")
        return parts[0] if len(parts) == 1 else SendGridGroup(joins.pop(), tuple(parts))

    def term(self) -> SendGridClause | SendGridTimeClause | SendGridGroup:
        if self.punct("("):
            inner = self.expr()
            if not self.punct(")"):
                raise QueryError("invalid syntax: missing )")
            return inner
        return self.clause()

    def clause(self) -> SendGridClause | SendGridTimeClause:
        token = self.take("a field name")
        if token.kind != "word":
            raise QueryError(f"invalid syntax: expected a field name near {token.text!r}")
        field = token.text
        if field not in SENDGRID_FIELDS:
            raise QueryError(f"invalid syntax: '{field}' is not a known field")
        if field == _TIME_FIELD:
            return self.time_clause()
        op_token = self.peek()
        if op_token is not None and op_token.kind == "op" and op_token.text in ("=", "!="):
            self.i += 1
            return SendGridClause(field, op_token.text, self.string())
        negate = self.keyword("NOT") is not None
        word = self.keyword("LIKE", "IN")
        if word == "LIKE":
            return SendGridClause(field, "NOT LIKE" if negate else "LIKE", self.string())
        if word == "IN":
            return SendGridClause(field, "NOT IN" if negate else "IN", values=self.value_list())
        near = op_token.text if op_token is not None else "the end"
        raise QueryError(
            f"invalid syntax: expected =, !=, LIKE, NOT LIKE, IN or NOT IN after '{field}' "
            f"near {near!r}"
        )

    def value_list(self) -> tuple[str, ...]:
        if not self.punct("("):
            raise QueryError('invalid syntax: IN takes a list: IN ("a", "b")')
        values = [self.string()]
        while self.punct(","):
            values.append(self.string())
        if not self.punct(")"):
            raise QueryError("invalid syntax: missing ) after the IN list")
        return tuple(values)

    def timestamp(self) -> float:
        if self.keyword("TIMESTAMP") is None:
            raise QueryError(
                f'invalid syntax: {_TIME_FIELD} compares with TIMESTAMP "2026-01-02T03:04:05Z"'
            )
        text = self.string('a quoted timestamp ("2026-01-02T03:04:05Z")')
        when = _epoch(text)
        if when is None:
            raise QueryError(f"invalid syntax: {text!r} is not a valid timestamp")
        return when

    def time_clause(self) -> SendGridTimeClause:
        if self.keyword("BETWEEN") is not None:
            low = self.timestamp()
            if self.keyword("AND") is None:
                raise QueryError("invalid syntax: BETWEEN needs AND between its two timestamps")
            return SendGridTimeClause("BETWEEN", low, self.timestamp())
        token = self.take("an operator")
        if token.kind != "op":
            raise QueryError(
                f"invalid syntax: expected BETWEEN, =, !=, <, <=, > or >= after {_TIME_FIELD}"
            )
        return SendGridTimeClause(token.text, self.timestamp())


def parse_sendgrid_query(text: str) -> SendGridQuery:
    """Parse an Email Activity query: ``field="v"``, ``!=``, ``LIKE "%v%"``, ``NOT LIKE``,
    ``IN ("a", "b")``, ``NOT IN``, ``last_event_time BETWEEN TIMESTAMP "..." AND TIMESTAMP
    "..."`` (or ``<``, ``<=``, ``>``, ``>=`` a ``TIMESTAMP``), joined by ``AND`` / ``OR``
    with parentheses; ``AND`` and ``OR`` mix only across parentheses."""
    return _SendGridParser(text.strip()).parse()
