"""The Slack wrapper against the local stand-in: retries, error sorting, response URLs."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from bot_support import BOT_TOKEN, STRIPE_KEY
from slack_sdk.web.async_client import AsyncWebClient
from slack_standin import SlackStandIn, spec_violations

from baton.bot.blocks.run import Message, section
from baton.bot.redact import Redactor
from baton.bot.slack_api import SlackApi, SlackCallError

pytestmark = pytest.mark.anyio


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
async def slack() -> AsyncIterator[SlackStandIn]:
    async with SlackStandIn(token=BOT_TOKEN) as standin:
        standin.joined.add("C1")  # these tests' channel: the bot is a member
        yield standin


def api_for(slack: SlackStandIn, sleeps: Sleeps, **kw: object) -> SlackApi:
    client = AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url)
    return SlackApi(client=client, sleep=sleeps, redactor=Redactor([STRIPE_KEY]), **kw)  # type: ignore[arg-type]


MSG = Message(text="hello", blocks=(section("*hello*"),))


async def test_post_and_update_conform_to_the_spec(slack: SlackStandIn) -> None:
    api = api_for(slack, Sleeps())
    ts = await api.post("C1", MSG)
    await api.post("C1", MSG, thread_ts=ts)
    await api.update("C1", ts, Message(text="bye"))
    assert [c.method for c in slack.calls] == ["chat.postMessage"] * 2 + ["chat.update"]
    assert slack.calls[1].params["thread_ts"] == ts
    assert slack.messages[("C1", ts)]["text"] == "bye"
    for call in slack.calls:
        assert spec_violations(call) == []
        assert call.headers["Authorization"] == f"Bearer {BOT_TOKEN}"


async def test_429_waits_retry_after_then_succeeds(slack: SlackStandIn) -> None:
    sleeps = Sleeps()
    slack.rate_limit("chat.postMessage", retry_after=7, times=2)
    ts = await api_for(slack, sleeps).post("C1", MSG)
    assert ts
    assert sleeps.waits == [7.0, 7.0]
    assert len(slack.of("chat.postMessage")) == 3


async def test_429_wait_is_capped_and_attempts_are_limited(slack: SlackStandIn) -> None:
    sleeps = Sleeps()
    slack.rate_limit("chat.update", retry_after=600, times=10)
    api = api_for(slack, sleeps, max_attempts=3, max_wait_s=5.0)
    ts = await api.post("C1", MSG)
    with pytest.raises(SlackCallError) as info:
        await api.update("C1", ts, MSG)
    assert sleeps.waits == [5.0, 5.0]
    assert (info.value.error, info.value.side) == ("ratelimited", "theirs")


@pytest.mark.parametrize(
    ("error", "side", "unreachable"),
    [
        pytest.param("not_in_channel", "theirs", True, id="not_in_channel"),
        pytest.param("channel_not_found", "theirs", True, id="channel_not_found"),
        pytest.param("invalid_auth", "theirs", False, id="invalid_auth"),
        pytest.param("is_archived", "theirs", False, id="archived"),
        pytest.param("invalid_blocks", "ours", False, id="invalid_blocks"),
        pytest.param("msg_too_long", "ours", False, id="too_long"),
    ],
)
async def test_errors_are_sorted(
    slack: SlackStandIn, error: str, side: str, unreachable: bool
) -> None:
    slack.fail("chat.postMessage", error)
    with pytest.raises(SlackCallError) as info:
        await api_for(slack, Sleeps()).post("C1", MSG)
    assert (info.value.error, info.value.side) == (error, side)
    assert info.value.channel_unreachable is unreachable


async def test_a_wrong_token_is_theirs_and_named(slack: SlackStandIn) -> None:
    client = AsyncWebClient(token="xoxb-wrong", base_url=slack.api_url)
    with pytest.raises(SlackCallError, match="invalid_auth"):
        await SlackApi(client=client).post("C1", MSG)


async def test_respond_via_response_url(slack: SlackStandIn) -> None:
    await api_for(slack, Sleeps()).respond(
        slack.response_url("a"), MSG, in_channel=True, replace_original=True
    )
    (call,) = slack.of("response_url")
    assert call.params == {
        "text": "hello",
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "*hello*"}}],
        "response_type": "in_channel",
        "replace_original": True,
    }
    assert spec_violations(call) == []


async def test_response_url_errors_and_429(slack: SlackStandIn) -> None:
    sleeps = Sleeps()
    api = api_for(slack, sleeps)
    slack.rate_limit("response_url", retry_after=2)
    await api.respond(slack.response_url(), MSG)
    assert sleeps.waits == [2.0]
    slack.fail("response_url", "expired_url", status=404)
    with pytest.raises(SlackCallError) as info:
        await api.respond(slack.response_url(), MSG)
    assert (info.value.error, info.value.side) == ("expired_url", "theirs")


async def test_connection_errors_are_retried_then_theirs() -> None:
    sleeps = Sleeps()
    client = AsyncWebClient(
        token=BOT_TOKEN, base_url="http://127.0.0.1:9/api/", timeout=2, retry_handlers=[]
    )
    with pytest.raises(SlackCallError) as info:
        await SlackApi(client=client, sleep=sleeps, max_attempts=2).post("C1", MSG)
    assert (info.value.error, info.value.side) == ("connection_error", "theirs")
    assert sleeps.waits == [1.0]


async def test_secrets_are_masked_before_they_leave(slack: SlackStandIn) -> None:
    leaky = Message(text=f"stripe said: bad key {STRIPE_KEY}, also xoxb-99-leaked-token")
    await api_for(slack, Sleeps()).post("C1", leaky)
    sent = slack.calls[-1].params["text"]
    assert STRIPE_KEY not in sent and "xoxb-99" not in sent
    assert sent == "stripe said: bad key [redacted], also [redacted]"


# -- files_upload_v2 ----------------------------------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


async def test_upload_shares_the_file_in_the_thread(slack: SlackStandIn) -> None:
    api = api_for(slack, Sleeps())
    ts = await api.post("C1", MSG)
    file_id = await api.upload(
        "C1", PNG, filename="health.png", title=f"key {STRIPE_KEY}", thread_ts=ts, alt_text="a"
    )
    methods = [c.method for c in slack.calls[1:]]
    assert methods == ["files.getUploadURLExternal", "upload", "files.completeUploadExternal"]
    asked, sent, shared = slack.calls[1:]
    assert asked.params == {"filename": "health.png", "length": str(len(PNG)), "alt_txt": "a"}
    assert sent.params["length"] == len(PNG) and "Authorization" not in sent.headers
    assert shared.params["channel_id"] == "C1" and shared.params["thread_ts"] == ts
    assert slack.files[file_id]["bytes"] == PNG
    assert slack.files[file_id]["title"] == "key [redacted]"
    assert [p for c in slack.calls for p in spec_violations(c)] == []


async def test_upload_waits_out_a_429_and_sorts_errors(slack: SlackStandIn) -> None:
    sleeps = Sleeps()
    api = api_for(slack, sleeps)
    slack.rate_limit("files.completeUploadExternal", retry_after=3)
    assert await api.upload("C1", PNG, filename="a.png", title="a")
    assert sleeps.waits == [3.0]
    slack.fail("files.getUploadURLExternal", "missing_scope")
    with pytest.raises(SlackCallError) as info:
        await api.upload("C1", PNG, filename="a.png", title="a")
    assert (info.value.method, info.value.error, info.value.side) == (
        "files.upload",
        "missing_scope",
        "theirs",
    )
    slack.fail("upload", "storage down", status=500)
    with pytest.raises(SlackCallError) as info:
        await api.upload("C1", PNG, filename="a.png", title="a")
    assert (info.value.error, info.value.side) == ("upload_failed", "theirs")


def test_the_spec_check_still_checks_the_newer_methods() -> None:
    from slack_standin import Call

    def call(method: str, params: dict[str, object], auth: str = f"Bearer {BOT_TOKEN}") -> Call:
        headers = {"Authorization": auth} if auth else {}
        return Call(method, params, headers, "application/octet-stream", "POST", "/api/" + method)

    assert spec_violations(call("files.getUploadURLExternal", {"filename": "a.png"})) == [
        "files.getUploadURLExternal: required parameter 'length' missing"
    ]
    assert spec_violations(
        call("files.getUploadURLExternal", {"filename": "a", "length": "x", "title": "t"})
    ) == [
        "files.getUploadURLExternal: unexpected 'title'",
        "files.getUploadURLExternal: length must be a whole number",
    ]
    assert spec_violations(
        call("files.completeUploadExternal", {"files": "[]"}, auth="Bearer xapp-1")
    ) == ["files.completeUploadExternal: needs a xoxb-… token (Authorization: Bearer)"]
    assert spec_violations(
        call("files.completeUploadExternal", {"files": '[{"id": "F1"}]', "thread_ts": "1.2"})
    ) == ["files.completeUploadExternal: thread_ts needs channel_id"]
    assert spec_violations(
        call("upload", {"file_id": "F1", "length": 3, "declared_length": "4"})
    ) == [
        "upload: sends an Authorization header to the upload URL",
        "upload: 3 bytes sent, 4 declared",
    ]
