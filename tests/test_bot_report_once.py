"""One run, one report, however many reporters follow it: through the bot's real endpoint.

A workspace's bot rebuilt on a reinstall follows every open thread while the old one still
drains; a second ``baton serve`` resumes while the first still reports. Each bot here is
such a process: its own Slack stand-in and HTTP endpoint, over the one store. Whoever
claims the run's conclusion first posts the diagnosis and the final update (or delivers
the result outside the channel); a claim whose holder died is taken over after its lease.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import sqlite_utils
from test_bot_http import Harness, harness
from test_bot_private import SECRET_CHANNEL, in_channel, run_in_private, until

from baton.probes.store.bot import CONCLUDE_LEASE_S, BotStore

pytestmark = pytest.mark.anyio


def diagnoses(*hs: Harness) -> list[dict[str, Any]]:
    """The closing replies (the diagnosis carries the Re-run button) every bot posted."""
    return [p for h in hs for p in h.posts() if "run_rerun" in json.dumps(p.get("blocks"))]


def verdict_updates(*hs: Harness) -> list[dict[str, Any]]:
    """Updates of the parent message to the run's verdict."""
    return [
        c.params
        for h in hs
        for c in h.slack.of("chat.update")
        if str(c.params.get("text", "")).startswith(("✅", "❌", "⚠️"))
    ]


async def test_two_bots_following_one_thread_post_its_diagnosis_once() -> None:
    db = sqlite_utils.Database(memory=True)
    async with harness(db=db) as first, harness(db=db) as second:
        first.engine.gate = asyncio.Event()  # the first is still watching the run...
        await first.command("run lead-to-invoice")
        await until(lambda: first.bot.store.unfinished() != [])
        parent_ts = first.bot.store.unfinished()[0].ts
        second.bot.resume()  # ...when a second process starts and follows its thread
        await asyncio.sleep(0.05)
        first.engine.gate.set()
        await first.bot.drain()
        await second.bot.drain()
        (diagnosis,) = diagnoses(first, second)
        assert diagnosis["thread_ts"] == parent_ts
        (final,) = verdict_updates(first, second)
        assert final["ts"] == parent_ts and final["text"].startswith("✅ lead-to-invoice")
        assert first.bot.store.unfinished() == []
        thread = first.bot.store.thread("r-000001")
        assert thread is not None and thread.state == "done"
        first.assert_spec()
        second.assert_spec()


async def test_two_bots_following_one_run_outside_its_channel_deliver_it_once() -> None:
    db = sqlite_utils.Database(memory=True)
    async with harness(db=db, outcome="swap") as first, harness(db=db) as second:
        first.engine.gate = asyncio.Event()
        await run_in_private(first)
        await until(lambda: len(first.slack.hook_messages("cmd")) == 1)  # the ephemeral start
        second.bot.resume()
        await asyncio.sleep(0.05)
        first.engine.gate.set()
        await first.bot.drain()
        await second.bot.drain()
        (shown,) = in_channel(first)  # the response URL used once for the result
        assert shown["text"].startswith("❌ lead-to-invoice: fields swapped at Form → CRM")
        assert len(first.slack.of("response_url")) == 2  # the start and the result
        assert second.slack.of("response_url") == []
        assert [h.slack.of("conversations.open") for h in (first, second)] == [[], []]
        assert [p["channel"] for h in (first, second) for p in h.posts()] == [SECRET_CHANNEL]
        row = first.bot.store.fallback("r-000001")
        assert row is not None and (row.state, row.url_uses) == ("done", 2)
        first.assert_spec()
        second.assert_spec()


async def test_a_claim_whose_holder_died_is_taken_over_by_resume_and_reported_once() -> None:
    db = sqlite_utils.Database(memory=True)
    async with harness(db=db) as first:
        first.engine.gate = asyncio.Event()  # finish() hangs: the process "dies" mid-run
        await first.command("run lead-to-invoice")
        await until(lambda: first.bot.store.unfinished() != [])
        await first.bot.aclose(timeout_s=0)
        parent_ts = first.bot.store.unfinished()[0].ts
    async with harness(db=db) as second:
        # Another process claimed the run's conclusion, then died before posting anything.
        dead = BotStore(db, clock=second.clock)
        assert dead.claim_thread("r-000001", "dead-process")
        second.bot.resume()
        await second.engine.finish("r-000001")
        await asyncio.sleep(0.1)
        assert diagnoses(second) == []  # the claim may still be alive: wait for it
        second.clock.now += CONCLUDE_LEASE_S + 1  # its lease runs out: taken over
        await second.bot.drain()
        (diagnosis,) = diagnoses(second)
        assert diagnosis["thread_ts"] == parent_ts
        (final,) = verdict_updates(second)
        assert final["ts"] == parent_ts
        assert second.bot.store.unfinished() == []
        row = db.execute("SELECT state, concluded_by FROM bot_threads").fetchone()
        assert row == ("done", second.bot.reporter.holder)
        second.assert_spec()


async def test_a_fallback_claim_whose_holder_died_is_taken_over_and_delivered_once() -> None:
    db = sqlite_utils.Database(memory=True)
    async with harness(db=db) as h:
        h.engine.gate = asyncio.Event()
        await run_in_private(h)
        await until(lambda: len(h.slack.hook_messages("cmd")) == 1)
        # A process that followed the run claimed its delivery long ago, then died.
        dead = BotStore(db, clock=lambda: h.clock.now - CONCLUDE_LEASE_S - 1)
        assert dead.claim_fallback("r-000001", "dead-process")
        h.bot.resume()  # follows it too, beside the run's own reporter
        h.engine.gate.set()
        await h.bot.drain()
        (shown,) = in_channel(h)
        assert shown["text"].startswith("✅ lead-to-invoice")
        assert len(h.slack.of("response_url")) == 2 and h.slack.of("conversations.open") == []
        row = h.bot.store.fallback("r-000001")
        assert row is not None and (row.state, row.url_uses) == ("done", 2)
        h.assert_spec()
