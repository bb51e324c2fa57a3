"""SendGrid ``observe_batch``: one Email Activity query (``to_email`` OR ...) per round, split
back to the looks; a bad look fails alone; ``_seen_by_ts`` from ``last_event_time``."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from baton.probes.config import StageConfig, ToolConfig
from baton.probes.connectors import Look
from baton.probes.connectors.sendgrid import MAX_QUERY_CHARS
from baton.probes.connectors.testing import FakeApi, connect
from baton.probes.errors import ApiError, BadUrl, RateLimited
from baton.probes.record import make_record

MAIL = ToolConfig(
    name="mail",
    type="sendgrid",
    credentials={"token": "SG.test"},
    options={"fallback_query": 'subject="Welcome {first_name} {last_name}"'},
)
STAGE = StageConfig(name="welcome", tool="mail")
MESSAGES = "/v3/messages"
A, B, C = (make_record(m) for m in ("btaaaaaa", "btbbbbbb", "btcccccc"))
#: ``last_event_time`` of the messages below (now, whole seconds), as ``_seen_by_ts``.
SEEN = float(int(time.time()))
WHOLE_SECONDS = {"_stamp_resolution_s": 1.0}


def stamp(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def message(to: str, msg_id: str, **overrides: Any) -> dict[str, Any]:
    return {
        "from_email": "from@test.com",
        "msg_id": msg_id,
        "subject": "Welcome",
        "to_email": to,
        "status": "delivered",
        "opens_count": 0,
        "clicks_count": 0,
        "last_event_time": stamp(SEEN),
        **overrides,
    }


def listing(*messages: dict[str, Any]) -> httpx.Response:
    return httpx.Response(200, json={"messages": list(messages)})


@pytest.mark.anyio
async def test_one_query_for_the_round_split_back_by_recipient() -> None:
    since = SEEN - 120
    to_a = message(A.email.upper(), "m1")  # SendGrid may echo another case
    to_a2 = message(A.email, "m2", last_event_time=stamp(SEEN + 39))
    to_b = message(B.email, "m3")
    api = FakeApi().on("GET", MESSAGES, listing(to_a, to_b, to_a2))
    looks = [
        Look(A, STAGE, since=since),
        Look(B, STAGE, since=since + 30),
        Look(A, STAGE, since=since + 60),  # same recipient, another stage: asked once
        Look(C, STAGE, since=since),
    ]
    before = time.time()
    async with connect(MAIL, api) as mail:
        assert mail.max_batch == 50
        out = await mail.observe_batch(looks)
    [req] = api.requests
    query = req.url.params["query"]
    head, _, window = query.partition(" AND last_event_time BETWEEN TIMESTAMP ")
    assert head == f'(to_email="{A.email}" OR to_email="{B.email}" OR to_email="{C.email}")'
    start, _, end = window.partition(" AND TIMESTAMP ")
    assert start == f'"{stamp(since - 5)}"'
    assert end.startswith('"') and end[1:-1] >= stamp(before + 86000)
    assert req.url.params["limit"] == "30"  # 3 recipients x the per-record limit of 10
    assert out == [
        [
            {**to_a, "_id": "m1", "_matched_by": "email", "_seen_by_ts": SEEN, **WHOLE_SECONDS},
            {
                **to_a2,
                "_id": "m2",
                "_matched_by": "email",
                "_seen_by_ts": SEEN + 39,
                **WHOLE_SECONDS,
            },
        ],
        [{**to_b, "_id": "m3", "_matched_by": "email", "_seen_by_ts": SEEN, **WHOLE_SECONDS}],
        [
            {**to_a, "_id": "m1", "_matched_by": "email", "_seen_by_ts": SEEN, **WHOLE_SECONDS},
            {
                **to_a2,
                "_id": "m2",
                "_matched_by": "email",
                "_seen_by_ts": SEEN + 39,
                **WHOLE_SECONDS,
            },
        ],
        [],  # not thorough: no fallback query
    ]


@pytest.mark.anyio
async def test_a_look_drops_mail_last_seen_before_its_injection() -> None:
    """With an email fixed in config every run shares it: mail an earlier run got (its last
    event before this run injected) is not this run's."""
    shared = make_record("bteeeeee", {"email": "qa@example.com"})
    since = SEEN - 60
    earlier = message(shared.email, "m0", last_event_time=stamp(SEEN - 120))
    later = message(shared.email, "m1")
    api = FakeApi().on("GET", MESSAGES, listing(later, earlier))
    async with connect(MAIL, api) as mail:
        [found] = await mail.observe_batch([Look(shared, STAGE, since=since)])
    assert isinstance(found, list) and [m["_id"] for m in found] == ["m1"]


@pytest.mark.anyio
async def test_the_limit_is_capped_at_1000() -> None:
    cfg = ToolConfig(name="mail", type="sendgrid", options={"limit": 50})
    recs = [make_record(f"bt{i:06d}") for i in range(50)]
    api = FakeApi().on("GET", MESSAGES, listing())
    async with connect(cfg, api) as mail:
        await mail.observe_batch([Look(r, STAGE, since=SEEN) for r in recs])
    [req] = api.requests
    assert req.url.params["limit"] == "1000"
    assert req.url.params["query"].count(" OR ") == 49


@pytest.mark.anyio
async def test_a_look_without_injection_time_is_asked_without_a_window() -> None:
    api = FakeApi().on("GET", MESSAGES, listing())
    async with connect(MAIL, api) as mail:
        await mail.observe_batch([Look(A, STAGE, since=0), Look(B, STAGE, since=SEEN)])
    assert api.requests[0].url.params["query"] == f'to_email="{A.email}" OR to_email="{B.email}"'


@pytest.mark.anyio
async def test_a_long_round_is_split_to_keep_the_url_short() -> None:
    recs = [
        make_record(f"bt{i:06d}", {"email": "probe+{marker}+" + "x" * 150 + "@example.com"})
        for i in range(50)
    ]
    api = FakeApi().on("GET", MESSAGES, listing())
    async with connect(MAIL, api) as mail:
        out = await mail.observe_batch([Look(r, STAGE, since=SEEN) for r in recs])
    assert out == [[]] * 50
    assert len(api.requests) >= 2
    asked = []
    for req in api.requests:
        query = req.url.params["query"]
        recipients = query.partition(" AND last_event_time")[0]
        assert len(quote(recipients, safe="")) <= MAX_QUERY_CHARS
        assert len(str(req.url)) < 8192
        asked += [r for r in recs if f'to_email="{r.email}"' in query]
    assert asked == recs


@pytest.mark.anyio
async def test_a_bad_look_fails_alone() -> None:
    odd = make_record("btoddodd", {"email": '"odd"@example.com'})
    api = FakeApi().on("GET", MESSAGES, listing(message(A.email, "m1")))
    async with connect(MAIL, api) as mail:
        found, refused = await mail.observe_batch(
            [Look(A, STAGE, since=SEEN), Look(odd, STAGE, since=SEEN, thorough=True)]
        )
    [req] = api.requests
    assert '"odd"' not in req.url.params["query"]
    assert isinstance(found, list) and [m["_id"] for m in found] == ["m1"]
    assert isinstance(refused, ApiError) and "has a" in str(refused)


@pytest.mark.anyio
async def test_the_fallback_query_is_asked_for_thorough_looks_that_found_nothing() -> None:
    elsewhere = message("ada@wrong.example.com", "m9", subject=f"Welcome Ada Probe-{B.marker}")
    api = FakeApi().on("GET", MESSAGES, listing(message(A.email, "m1")), listing(elsewhere))
    looks = [
        Look(A, STAGE, since=SEEN, thorough=True),  # found: no fallback
        Look(B, STAGE, since=SEEN, thorough=True),  # nothing: fallback
        Look(C, STAGE, since=SEEN),  # nothing, not thorough: no fallback
    ]
    async with connect(MAIL, api) as mail:
        out = await mail.observe_batch(looks)
    _, second = api.requests
    assert second.url.params["query"] == f'subject="Welcome Ada Probe-{B.marker}"'
    assert second.url.params["limit"] == "10"
    assert out[1] == [
        {**elsewhere, "_id": "m9", "_matched_by": "marker", "_seen_by_ts": SEEN, **WHOLE_SECONDS}
    ]
    assert out[2] == []


@pytest.mark.anyio
async def test_a_failed_query_fails_every_look_it_served() -> None:
    api = FakeApi().on("GET", MESSAGES, httpx.Response(429, headers={"Retry-After": "0"}))
    async with connect(MAIL, api) as mail:
        out = await mail.observe_batch([Look(A, STAGE, since=1.0), Look(B, STAGE, since=1.0)])
    assert isinstance(out[0], RateLimited) and out[1] is out[0]


@pytest.mark.anyio
async def test_a_404_on_messages_is_a_wrong_base_url() -> None:
    cfg = ToolConfig(name="mail", type="sendgrid", base_url="https://sendgrid.example/api")
    api = FakeApi().on("GET", "/api" + MESSAGES, httpx.Response(404, text="404 page not found"))
    async with connect(cfg, api) as mail:
        [out] = await mail.observe_batch([Look(A, STAGE, since=SEEN)])
        with pytest.raises(BadUrl):
            await mail.observe(A, STAGE)
    assert str(out) == (
        "mail: GET https://sendgrid.example/api/v3/messages answered 404: "
        "is tools.mail.base_url right?"
    )
