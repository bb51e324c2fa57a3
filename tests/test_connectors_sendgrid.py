from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from tenacity import wait_none

from baton.probes.config import StageConfig, ToolConfig
from baton.probes.connectors import RetryPolicy
from baton.probes.connectors.testing import FakeApi, connect
from baton.probes.errors import (
    ApiError,
    AuthError,
    ConfigError,
    RateLimited,
    Unreachable,
    UsageError,
)
from baton.probes.record import make_record

RECORD = make_record("bt7k2xq9")
#: ``last_event_time`` of the messages below ("2017-10-13T18:56:21Z") as a Unix time: the
#: connector's ``_seen_by_ts``, by which SendGrid says the mail existed.
SEEN = 1507920981.0
WHOLE_SECONDS = {"_stamp_resolution_s": 1.0}
MAIL = ToolConfig(name="mail", type="sendgrid", credentials={"token": "SG.test"})
STAGE = StageConfig(name="welcome", tool="mail")
MESSAGES = "/v3/messages"


def message(**overrides: Any) -> dict[str, Any]:
    """A message as "Filter all messages" lists it (the spec's own example)."""
    return {
        "from_email": "from@test.com",
        "msg_id": "abc123",
        "subject": "something profound",
        "to_email": RECORD.email,
        "status": "processed",
        "opens_count": 0,
        "clicks_count": 0,
        "last_event_time": "2017-10-13T18:56:21Z",
        "last_timestamp": 1495064728,
        **overrides,
    }


def listing(*messages: dict[str, Any]) -> httpx.Response:
    return httpx.Response(200, json={"messages": list(messages)})


@pytest.mark.anyio
async def test_observe_queries_email_activity_by_recipient() -> None:
    delivered = message(msg_id="321befe", status="delivered", opens_count=1)
    api = FakeApi().on("GET", MESSAGES, listing(message(), delivered))
    async with connect(MAIL, api) as mail:
        found = await mail.observe(RECORD, STAGE)
    [req] = api.requests
    # Encoded exactly as the docs show: query=to_email%3D%22example%40example.com%22
    assert req.url.query == b"query=to_email%3D%22probe%2Bbt7k2xq9%40example.com%22&limit=10"
    assert req.headers["authorization"] == "Bearer SG.test"
    assert found == [
        {
            **message(),
            "_id": "abc123",
            "_matched_by": "email",
            "_seen_by_ts": SEEN,
            **WHOLE_SECONDS,
        },
        {
            **delivered,
            "_id": "321befe",
            "_matched_by": "email",
            "_seen_by_ts": SEEN,
            **WHOLE_SECONDS,
        },
    ]


@pytest.mark.anyio
async def test_nothing_sent_is_an_empty_list_and_there_is_no_default_fallback() -> None:
    api = FakeApi().on("GET", MESSAGES, listing())
    async with connect(MAIL, api) as mail:
        assert await mail.observe(RECORD, STAGE) == []
    assert len(api.requests) == 1


@pytest.mark.anyio
async def test_fallback_query_finds_mail_sent_to_a_mangled_address() -> None:
    cfg = ToolConfig(
        name="mail",
        type="sendgrid",
        options={"limit": 50, "fallback_query": 'subject="Welcome {first_name} {last_name}"'},
    )
    elsewhere = message(to_email="ada@wrong.example.com", subject="Welcome Ada Probe-bt7k2xq9")
    api = FakeApi().on("GET", MESSAGES, listing(), listing(elsewhere))
    async with connect(cfg, api) as mail:
        found = await mail.observe(RECORD, STAGE)
    first, second = api.requests
    assert first.url.params["limit"] == "50"
    assert second.url.params["query"] == 'subject="Welcome Ada Probe-bt7k2xq9"'
    assert found == [
        {
            **elsewhere,
            "_id": "abc123",
            "_matched_by": "marker",
            "_seen_by_ts": SEEN,
            **WHOLE_SECONDS,
        }
    ]


@pytest.mark.anyio
async def test_429_waits_for_x_ratelimit_reset() -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    reset = str(int(time.time()) + 5)
    too_many = httpx.Response(
        429,
        headers={
            "X-RateLimit-Limit": "6",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": reset,
        },
        json={"errors": [{"field": None, "message": "too many requests"}]},
    )
    api = FakeApi().on("GET", MESSAGES, too_many, listing(message()))
    async with connect(MAIL, api, retry=RetryPolicy(wait=wait_none(), sleep=sleep)) as mail:
        found = await mail.observe(RECORD, STAGE)
    assert len(found) == 1
    assert len(slept) == 1 and 3.0 <= slept[0] <= 5.0


@pytest.mark.anyio
async def test_429_every_time_gives_up_with_rate_limited() -> None:
    api = FakeApi().on("GET", MESSAGES, httpx.Response(429, headers={"Retry-After": "0"}))
    async with connect(MAIL, api) as mail:
        with pytest.raises(RateLimited):
            await mail.observe(RECORD, STAGE)
    assert len(api.requests) == 4  # RetryPolicy().attempts


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("answer", "error"),
    [
        pytest.param(httpx.Response(401, json={"errors": [{"message": "denied"}]}), AuthError),
        pytest.param(
            httpx.Response(400, json={"errors": [{"message": "invalid syntax"}]}), ApiError
        ),
        pytest.param(httpx.ConnectError("no route"), Unreachable),
        pytest.param(httpx.Response(200, json={"result": []}), ApiError),
    ],
)
async def test_errors_are_typed(answer: httpx.Response | Exception, error: type[Exception]) -> None:
    api = FakeApi().on("GET", MESSAGES, answer)
    async with connect(MAIL, api) as mail:
        with pytest.raises(error):
            await mail.observe(RECORD, STAGE)


@pytest.mark.anyio
async def test_an_email_with_a_double_quote_is_refused_not_sent() -> None:
    record = make_record("bt7k2xq9", {"email": '"odd"@example.com'})
    api = FakeApi()
    async with connect(MAIL, api) as mail:
        with pytest.raises(UsageError):
            await mail.observe(record, STAGE)
    assert api.requests == []


@pytest.mark.anyio
@pytest.mark.parametrize("limit", [0, 1001, "ten", True])
async def test_limit_is_checked_at_build(limit: object) -> None:
    cfg = ToolConfig(name="mail", type="sendgrid", options={"limit": limit})
    with pytest.raises(ConfigError, match=r"tools\.mail\.limit"):
        async with connect(cfg, FakeApi()):
            pass


@pytest.mark.anyio
async def test_cleanup_cannot_unsend_mail() -> None:
    api = FakeApi()
    async with connect(MAIL, api) as mail:
        assert await mail.cleanup(RECORD) == 0
    assert api.requests == []
