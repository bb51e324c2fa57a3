"""``sendgrid``: watch SendGrid's Email Activity for mail sent to the test record.

Email Activity API, "Filter all messages":
https://www.twilio.com/docs/sendgrid/api-reference/email-activity/filter-all-messages
(query syntax: https://www.twilio.com/docs/sendgrid/for-developers/sending-email/getting-started-email-activity-api).
It needs the paid "additional email activity history" add-on and an API key with Email
Activity access (``credentials.token``, sent as ``Authorization: Bearer``).

Rate limit: Email Activity allows about 6 requests per minute, so the default is
``rate_limit: 0.1`` (one request every 10 s), which makes a probe's SendGrid stage slow to
confirm. Set ``tools.<name>.rate_limit`` higher to poll faster if your account allows it;
a 429 is retried after the time SendGrid asks for.

Messages are found by recipient (``to_email="<email>"``). The query language has no
substring match on ``subject`` or ``to_email`` (``CONTAINS`` works on arrays and maps only), so
there is no built-in search by marker; ``fallback_query`` lets you name one that fits how
your mails are built, e.g. ``subject="Welcome {first_name} {last_name}"``.

Many records at once (``observe_batch``, up to 50 looks): one round is ONE request,
``query=(to_email="a" OR to_email="b" ...) AND last_event_time BETWEEN TIMESTAMP "<earliest
injection - 5 s>" AND TIMESTAMP "<now + 1 day>"`` with ``limit`` = the looks' per-record limits
added up (at most 1000), and the messages are handed back to the looks by ``to_email``
(compared case-insensitively); a look drops a message whose last event is older than its own
injection. The time window is left out when a look has no injection time
(``since`` 0, as ``observe()`` of one record). A query whose URL would pass ~8 KB is split
(one more request per ~7,000 encoded characters). A look whose email has a ``"`` is refused
on its own (``ApiError`` for that look only). ``fallback_query`` is asked, one request per look,
only for a ``thorough`` look that found nothing (``observe()`` always is thorough).

Each message also carries ``_seen_by_ts``: its ``last_event_time`` as a Unix time, by which
SendGrid says the mail existed (an upper bound of its arrival), whole seconds
(``_stamp_resolution_s`` 1).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import quote

from ..config import StageConfig, ToolConfig
from ..config import messages as msg
from ..errors import ApiError, ConnectorError, UsageError
from ..record import TestRecord
from . import register
from ._base import Connector, Look, LookResult, ObservedRecord, Removal, RemovalResult
from ._util import epoch, json_body, option, render

MESSAGES = "/v3/messages"
DEFAULT_LIMIT = 10
MAX_LIMIT = 1000
#: Encoded length of one request's ``query`` at most, so the URL stays under ~8 KB.
MAX_QUERY_CHARS = 7000
#: Clock skew allowed between Baton and SendGrid at the window's start.
SKEW_S = 5.0
#: The window's end: this long after now, so a fast SendGrid clock never hides a message.
WINDOW_AHEAD_S = 86400.0


def quote_value(value: str) -> str:
    """A value for the query language, in double quotes. The docs define no escape for a
    quote inside a value, so such a value is refused rather than sent half-understood."""
    if '"' in value:
        raise UsageError(f'sendgrid: cannot search Email Activity for {value!r} (it has a ")')
    return f'"{value}"'


@register
class SendGrid(Connector):
    """Messages in Email Activity addressed to the test record."""

    type_name = "sendgrid"
    default_base_url = "https://api.sendgrid.com"
    default_rate_limit = 0.1  # ~6 requests per minute
    can_observe = True
    options_doc: ClassVar[dict[str, str]] = {
        "limit": f"messages to fetch per query, 1..{MAX_LIMIT} (default {DEFAULT_LIMIT})",
        "fallback_query": "Email Activity query (a record template) tried when nothing was "
        'sent to the record\'s email, e.g. subject="Welcome {first_name} {last_name}"',
    }
    required_credentials = ("token",)
    max_batch = 50
    #: Nothing is removed, so any number of removals is answered at once.
    max_removals = 1000
    stamps_arrival = True  # ``_seen_by_ts`` from last_event_time

    @classmethod
    def validate(cls, tool: ToolConfig) -> list[tuple[str, str]]:
        problems = super().validate(tool)
        limit = tool.options.get("limit", DEFAULT_LIMIT)
        if not isinstance(limit, int) or isinstance(limit, bool) or not 0 < limit <= MAX_LIMIT:
            problems.append(
                ("limit", f"must be a whole number from 1 to {MAX_LIMIT}, got {msg.shown(limit)}")
            )
        return problems

    async def messages(self, query: str, limit: int) -> list[dict[str, Any]]:
        """``GET /v3/messages?query=...&limit=...``; httpx URL-encodes the query exactly as the
        docs show (``to_email%3D%22example%40example.com%22``)."""
        resp = await self.http.request(
            "GET", MESSAGES, params={"query": query, "limit": limit}, route_must_exist=True
        )
        data = json_body(resp, self.name)
        messages = data.get("messages") if isinstance(data, dict) else None
        if not isinstance(messages, list):
            raise ApiError(f"{self.name}: Email Activity answer without messages", tool=self.name)
        return [m for m in messages if isinstance(m, dict)]

    def _limit(self, stage: StageConfig) -> int:
        return int(option(self.tool, stage, "limit", DEFAULT_LIMIT))

    async def observe(self, record: TestRecord, stage: StageConfig) -> list[ObservedRecord]:
        quote_value(record.email)  # a refused email is the caller's error, as before
        [result] = await self.observe_batch([Look(record, stage, since=0, thorough=True)])
        if isinstance(result, ConnectorError):
            raise result
        return result

    async def observe_batch(self, looks: Sequence[Look]) -> list[LookResult]:
        """One Email Activity query for the round's recipients (see the module docstring),
        then the fallback query of each thorough look that found nothing."""
        results: list[LookResult | None] = [None] * len(looks)
        chunks: list[_Chunk] = []
        for i, look in enumerate(looks):
            try:
                term = f"to_email={quote_value(look.record.email)}"
            except UsageError as exc:
                results[i] = ApiError(str(exc), tool=self.name)
                continue
            chunk = chunks[-1] if chunks else None
            if chunk is None or (
                term not in chunk.terms
                and len(quote(" OR ".join([*chunk.terms, term]), safe="")) > MAX_QUERY_CHARS
            ):
                chunk = _Chunk()
                chunks.append(chunk)
            chunk.add(i, term, look, self._limit(look.stage))
        now = time.time()
        for chunk in chunks:
            try:
                messages = await self.messages(chunk.query(now), chunk.limit())
            except ConnectorError as exc:
                for i in chunk.looks:
                    results[i] = exc
                continue
            by_email: dict[str, list[dict[str, Any]]] = {}
            for message in messages:
                by_email.setdefault(str(message.get("to_email") or "").casefold(), []).append(
                    message
                )
            for i in chunk.looks:
                found = by_email.get(looks[i].record.email.casefold(), [])
                results[i] = [
                    m
                    for m in (_observed(m, "email") for m in found)
                    if not _before(m, looks[i].since)
                ]
        for i, look in enumerate(looks):
            if results[i] == [] and look.thorough:
                results[i] = await self._fallback(look)
        return [r if r is not None else [] for r in results]

    async def _fallback(self, look: Look) -> LookResult:
        """The stage's ``fallback_query`` for one look (nothing when it has none)."""
        fallback = option(self.tool, look.stage, "fallback_query")
        if not fallback:
            return []
        try:
            query = render(look.record, str(fallback))
        except UsageError as exc:
            return ApiError(f"{self.name}: fallback_query: {exc}", tool=self.name)
        try:
            found = await self.messages(query, self._limit(look.stage))
        except ConnectorError as exc:
            return exc
        return [_observed(m, "marker") for m in found]

    async def cleanup(self, record: TestRecord) -> int:
        """Sent mail cannot be unsent: nothing to remove."""
        return 0

    async def cleanup_batch(self, removals: Sequence[Removal]) -> list[RemovalResult]:
        """Nothing to remove for any of them, and no request to find that out."""
        return [0 for _ in removals]


def _observed(message: dict[str, Any], matched_by: str) -> ObservedRecord:
    out: ObservedRecord = {**message, "_id": message.get("msg_id"), "_matched_by": matched_by}
    seen = epoch(message.get("last_event_time"))
    if seen is not None:
        out["_seen_by_ts"] = seen
        out["_stamp_resolution_s"] = 1.0  # whole seconds
    return out


def _before(observed: ObservedRecord, since: float) -> bool:
    """Whether SendGrid saw the message's last event before the look's record was injected
    (less the skew): then it is not this run's mail (an email fixed in config is shared by
    every run). A look without injection time keeps everything."""
    seen = observed.get("_seen_by_ts")
    return since > 0 and isinstance(seen, float) and seen < since - SKEW_S


def _timestamp(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


@dataclass
class _Chunk:
    """Looks asked in one request: their recipients' terms, deduplicated."""

    looks: list[int] = field(default_factory=list)
    terms: list[str] = field(default_factory=list)
    limits: dict[str, int] = field(default_factory=dict)
    since: list[float] = field(default_factory=list)

    def add(self, index: int, term: str, look: Look, limit: int) -> None:
        self.looks.append(index)
        if term not in self.terms:
            self.terms.append(term)
        self.limits[term] = max(self.limits.get(term, 0), limit)
        self.since.append(look.since)

    def limit(self) -> int:
        return min(MAX_LIMIT, sum(self.limits.values()))

    def query(self, now: float) -> str:
        query = " OR ".join(self.terms)
        if min(self.since) <= 0:
            return query
        if len(self.terms) > 1:
            query = f"({query})"
        start, end = min(self.since) - SKEW_S, now + WINDOW_AHEAD_S
        return (
            f"{query} AND last_event_time BETWEEN TIMESTAMP {quote_value(_timestamp(start))}"
            f" AND TIMESTAMP {quote_value(_timestamp(end))}"
        )
