"""Private channels, DMs and pacing, through the bot's real HTTP endpoint.

Where Baton is not a member (a private channel, a DM between people) it cannot start a
thread: the runner alone hears that the run started, the result comes once in the
channel through the command's response URL (Slack never replaces a slash command's
response, so nothing is left saying ⏳), and a run that outlives that URL (30 minutes, five
uses) is delivered to the runner's DM with Baton, also after a restart. Every post, update
and file share is paced per channel, and a 429's Retry-After holds the channel.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any

import pytest
import sqlite_utils
from bot_support import BOT_TOKEN
from slack_sdk.web.async_client import AsyncWebClient
from slack_standin import HOOK_TTL_S, SlackStandIn, spec_violations
from test_bot_digest import NOW, seed_lead_to_invoice
from test_bot_http import Harness, harness

from baton.bot.app import BotSettings
from baton.bot.blocks.fallback import NOTE_CHANNEL
from baton.bot.blocks.run import Message
from baton.bot.slack_api import SlackApi, SlackCallError
from baton.bot.throttle import ChannelPacer
from baton.probes.store.bot import BotStore

pytestmark = pytest.mark.anyio

SECRET_CHANNEL = "G0SECRET"  # a private channel Baton was never invited to


def in_channel(h: Harness, hook: str = "cmd") -> list[dict[str, Any]]:
    """What the command's response URL showed to everyone in the channel."""
    return [m for m in h.slack.hook_messages(hook) if m["response_type"] == "in_channel"]


def shows_hourglass(message: dict[str, Any]) -> bool:
    return "⏳" in json.dumps([message.get("text"), message.get("blocks")], ensure_ascii=False)


async def run_in_private(h: Harness, **fields: str) -> None:
    h.slack.clock = h.clock  # the response URL's 30 minutes count on the test's clock
    await h.command("run lead-to-invoice", channel_id=SECRET_CHANNEL, channel_name="secret")


async def until(check: Any, timeout_s: float = 2.0) -> None:
    for _ in range(int(timeout_s / 0.01)):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("timed out")


# -- a private channel Baton is not in -----------------------------------------------------------


async def test_a_private_channel_gets_an_ephemeral_start_and_one_result() -> None:
    async with harness(outcome="swap") as h:
        await run_in_private(h)
        await h.bot.drain()
        (refused,) = h.slack.of("chat.postMessage")
        assert refused.answer == {"ok": False, "error": "channel_not_found"}
        started, result = h.slack.hook_messages("cmd")
        assert started["response_type"] == "ephemeral"
        started_text = started["blocks"][0]["text"]["text"]
        assert started_text.startswith("⏳ Probing *lead-to-invoice* … run `r-000001`.")
        assert "`/invite @Baton` here" in started_text
        assert "in your DM with Baton" in started_text
        (shown,) = in_channel(h)
        assert shown is result and not shown["asked_to_replace"]
        assert shown["text"].startswith("❌ lead-to-invoice: fields swapped at Form → CRM")
        assert shown["blocks"][-2]["elements"][0]["text"] == NOTE_CHANNEL
        assert shown["blocks"][-1]["elements"][0]["action_id"] == "run_rerun"  # Re-run
        assert not any(shows_hourglass(m) for m in in_channel(h))
        row = h.bot.store.fallback("r-000001")
        assert row is not None and (row.state, row.response_url, row.url_uses) == ("done", None, 2)
        assert h.slack.of("conversations.open") == []
        h.assert_spec()


async def test_a_run_that_outlives_the_response_url_is_sent_to_the_runners_dm() -> None:
    async with harness(outcome="drop") as h:
        h.engine.gate = asyncio.Event()  # the run takes longer than Slack keeps the URL
        await run_in_private(h)
        await until(lambda: len(h.slack.hook_messages("cmd")) == 1)
        h.clock.now += HOOK_TTL_S + 1
        h.engine.gate.set()
        await h.bot.drain()
        assert in_channel(h) == []  # nothing in the channel: the URL had expired
        (opened,) = h.slack.of("conversations.open")
        assert opened.params == {"users": "U0ALICE"}
        dm = opened.answer["channel"]["id"]
        (refused, sent) = h.slack.of("chat.postMessage")
        assert refused.params["channel"] == SECRET_CHANNEL
        assert sent.params["channel"] == dm and "thread_ts" not in sent.params
        assert sent.params["text"].startswith("❌ lead-to-invoice: dropped at Form → CRM")
        note = sent.params["blocks"][-2]["elements"][0]["text"]
        assert note.startswith(f"The result of your run in <#{SECRET_CHANNEL}>")
        assert "`/invite @Baton` there" in note
        row = h.bot.store.fallback("r-000001")
        assert row is not None and (row.state, row.response_url) == ("done", None)
        h.assert_spec()


async def test_a_response_url_slack_no_longer_takes_falls_back_to_the_dm() -> None:
    async with harness(outcome="ok") as h:
        h.engine.gate = asyncio.Event()
        await run_in_private(h)
        await until(lambda: len(h.slack.hook_messages("cmd")) == 1)
        h.slack.hooks["cmd"]["uses"] = 5  # used up (Slack counts; Baton may not know)
        h.engine.gate.set()
        await h.bot.drain()
        final = h.slack.of("response_url")[-1]
        assert final.params["response_type"] == "in_channel"  # tried, refused: used_url
        assert in_channel(h) == []
        (sent,) = [p for p in h.posts() if p["channel"] != SECRET_CHANNEL]
        assert sent["text"].startswith("✅ lead-to-invoice")
        h.assert_spec()


async def test_without_im_write_a_lost_result_is_logged_with_what_to_do(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with harness(outcome="ok") as h:
        h.slack.scopes.discard("im:write")  # an app installed before the scope
        h.engine.gate = asyncio.Event()
        await run_in_private(h)
        await until(lambda: len(h.slack.hook_messages("cmd")) == 1)
        h.clock.now += HOOK_TTL_S + 1
        h.engine.gate.set()
        await h.bot.drain()
        (opened,) = h.slack.of("conversations.open")
        assert opened.answer["error"] == "missing_scope"
        warning = [r.getMessage() for r in caplog.records if "reached nobody" in r.getMessage()]
        assert len(warning) == 1 and "add the im:write scope" in warning[0]
        row = h.bot.store.fallback("r-000001")
        assert row is not None and row.state == "done"


async def test_a_restart_still_delivers_through_the_response_url_then_the_dm() -> None:
    db = sqlite_utils.Database(memory=True)
    async with harness(db=db) as first:
        first.engine.gate = asyncio.Event()  # finish() hangs: the process "dies" mid-run
        await run_in_private(first)
        await until(lambda: first.bot.store.unfinished_fallbacks() != [])
        await until(lambda: len(first.slack.hook_messages("cmd")) == 1)
        await first.bot.aclose(timeout_s=0)
        url = first.slack.response_url("cmd")
    for late, expect in ((0.0, "response_url"), (HOOK_TTL_S + 1, "dm")):
        copy = sqlite_utils.Database(memory=True)
        db.conn.backup(copy.conn)  # the same stopped store, twice
        async with harness(db=copy) as second:
            # The same response URL, now served by this stand-in, issued when the first was.
            second.slack.clock = second.clock
            second.slack.hooks["cmd"] = {"issued": second.clock.now, "uses": 1, "messages": []}
            second.clock.now += late
            with copy.conn:
                copy.conn.execute(
                    "UPDATE bot_fallbacks SET response_url = ?",
                    [second.slack.response_url("cmd")],
                )
            assert url != second.slack.response_url("cmd")
            second.bot.resume()
            await second.engine.finish("r-000001")
            await second.bot.drain()
            if expect == "response_url":
                (shown,) = in_channel(second)
                assert shown["text"].startswith("✅ lead-to-invoice")
                assert second.slack.of("conversations.open") == []
            else:
                assert in_channel(second) == []
                (sent,) = second.posts()
                assert sent["channel"].startswith("D") and sent["text"].startswith("✅")
            row = second.bot.store.fallback("r-000001")
            assert row is not None and row.state == "done"
            second.assert_spec()


async def test_a_forged_response_url_is_never_fetched() -> None:
    async with harness() as h:
        await h.command(
            "run lead-to-invoice",
            channel_id=SECRET_CHANNEL,
            response_url="file:///etc/passwd",
        )
        await h.bot.drain()
        assert h.slack.of("response_url") == []
        (opened,) = h.slack.of("conversations.open")  # the result reaches the runner anyway
        assert opened.params == {"users": "U0ALICE"}


# -- the response URL's limits, in the store and the stand-in -------------------------------------


def test_response_url_uses_are_counted_and_limited_in_the_store() -> None:
    now = [1000.0]
    store = BotStore(sqlite_utils.Database(memory=True), clock=lambda: now[0])
    store.save_fallback(
        run_id="r-1",
        channel="G1",
        user="U1",
        workflow="w",
        response_url="https://hooks.slack.com/commands/x",
        url_issued_ts=1000.0,
    )
    uses = [store.use_response_url("r-1", max_uses=5, issued_after=900.0) for _ in range(6)]
    assert uses == ["https://hooks.slack.com/commands/x"] * 5 + [None]
    store.save_fallback(
        run_id="r-2", channel="G1", user="U1", workflow="w", response_url="u", url_issued_ts=5.0
    )
    assert store.use_response_url("r-2", max_uses=5, issued_after=900.0) is None  # too old
    store.finish_fallback("r-1", verdict="ok", via="response_url")
    row = store.fallback("r-1")
    assert row is not None and (row.state, row.response_url, row.url_uses) == ("done", None, 5)
    assert [f.run_id for f in store.unfinished_fallbacks()] == ["r-2"]


async def test_the_stand_in_keeps_slacks_response_url_limits() -> None:
    now = [0.0]
    async with SlackStandIn(token=BOT_TOKEN, clock=lambda: now[0]) as slack:
        api = SlackApi(client=AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url))
        url = slack.response_url("a")
        for _ in range(5):
            await api.respond(url, Message(text="⏳"), replace_original=True)
        with pytest.raises(SlackCallError) as used:
            await api.respond(url, Message(text="six"))
        assert (used.value.error, used.value.side) == ("used_url", "theirs")
        assert len(slack.hook_messages("a")) == 5  # each a message of its own: none replaced
        assert all(m["asked_to_replace"] for m in slack.hook_messages("a"))
        late = slack.response_url("b")
        now[0] += HOOK_TTL_S + 1
        with pytest.raises(SlackCallError) as expired:
            await api.respond(late, Message(text="late"))
        assert expired.value.error == "expired_url"


# -- pacing ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("paced", [True, False], ids=["paced", "unpaced"])
async def test_posts_to_one_channel_are_paced_below_slacks_limit(paced: bool) -> None:
    settings = BotSettings(
        update_interval_s=0.01,
        resume_poll_s=0.01,
        pace_per_s=20.0 if paced else None,  # Slack's 1 a second, sped up for the test
        pace_burst=3,
    )
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        # Unpaced, the waits are Slack's Retry-After (whole seconds): at the test's scale.
        waits.append(seconds)
        await asyncio.sleep(seconds if paced else seconds / 20)

    async with harness(outcome="swap", settings=settings, sleep=sleep) as h:
        h.slack.channel_limit = (4, 20.0)  # what Slack takes per channel (some room for jitter)
        await h.command("run lead-to-invoice", trigger_id="t-1")
        await h.command("run lead-to-invoice paypal", trigger_id="t-2")
        await h.bot.drain()
        threads = {
            c.answer["ts"]
            for c in h.slack.of("chat.postMessage")
            if c.answer.get("ok") and "thread_ts" not in c.params
        }
        assert len(threads) == 2
        if paced:
            assert h.slack.limited == 0  # never hit Slack's limit
            for ts in threads:
                assert len(h.slack.thread("C0PROBES", ts)) == 5  # every reply got through
                assert h.slack.messages[("C0PROBES", ts)]["text"].startswith("❌")
        else:
            # The control: unpaced, Slack's limit bites (each 429's Retry-After is waited
            # out, but retries run out and replies are lost).
            assert h.slack.limited > 0 and 1.0 in waits
        h.assert_spec()


async def test_a_429_holds_the_channel_for_every_caller_not_only_the_one_refused() -> None:
    now = [0.0]
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    async with SlackStandIn(token=BOT_TOKEN) as slack:
        slack.joined.add("C1")
        pacer = ChannelPacer(per_s=1.0, burst=4, clock=lambda: now[0], sleep=sleep)
        client = AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url)
        api = SlackApi(client=client, sleep=sleep, pacer=pacer)
        slack.rate_limit("chat.postMessage", retry_after=7)
        await api.post("C1", Message(text="one"))
        assert waits == [7.0]  # Retry-After, once
        await api.post("C2", Message(text="elsewhere"))  # another channel: not held
        await api.post("C1", Message(text="two"))  # after a hold, no burst: a second later
        assert waits == [7.0, 1.0]
        texts = [c.params["text"] for c in slack.of("chat.postMessage")]
        assert texts == ["one", "one", "elsewhere", "two"]


# -- digest charts where Baton is not a member ----------------------------------------------------


async def test_the_digest_joins_a_public_channel_before_sharing_its_chart() -> None:
    async with harness() as h:
        h.bot.digests.chart = lambda d: b"\x89PNG chart"
        seed_lead_to_invoice(h.db)
        h.clock.now = NOW
        await h.command("digest", channel_id="C0NEWS", channel_name="news")
        await h.bot.drain()
        (join,) = h.slack.of("conversations.join")
        assert join.params == {"channel": "C0NEWS"} and join.answer["ok"] is True
        (shared,) = h.slack.of("files.completeUploadExternal")
        assert shared.answer["ok"] is True and shared.params["channel_id"] == "C0NEWS"
        h.assert_spec()


async def test_without_channels_join_the_digest_says_what_to_do_instead_of_failing_silently() -> (
    None
):
    async with harness() as h:
        h.bot.digests.chart = lambda d: b"\x89PNG chart"
        h.slack.scopes.discard("channels:join")
        seed_lead_to_invoice(h.db)
        h.clock.now = NOW
        await h.command("digest", channel_id="C0NEWS", channel_name="news")
        await h.bot.drain()
        (shared,) = h.slack.of("files.completeUploadExternal")
        assert shared.answer == {"ok": False, "error": "not_in_channel"}
        said = [p for p in h.posts() if p["channel"] == "C0NEWS" and "thread_ts" in p]
        (text,) = [p["text"] for p in said]
        assert text.startswith("The chart could not be uploaded (not_in_channel, error E-")
        assert "`/invite @Baton` here" in text and "channels:join" in text
        h.assert_spec()


async def test_a_digest_in_a_private_channel_baton_is_not_in_tells_the_asker_to_invite_it() -> None:
    async with harness() as h:
        await h.command("digest", channel_id=SECRET_CHANNEL, channel_name="secret")
        await h.bot.drain()
        (told,) = h.slack.of("response_url")
        assert told.params["response_type"] == "ephemeral"
        assert "channel_not_found" in told.params["text"]
        assert "invite the app first (`/invite @Baton`)" in told.params["text"]
        assert [p for c in h.slack.calls for p in spec_violations(c)] == []


def test_bot_settings_pace_by_default() -> None:
    settings = BotSettings()
    assert (settings.pace_per_s, settings.pace_burst) == (1.0, 10)
    assert dataclasses.replace(settings, pace_per_s=None).pace_per_s is None
