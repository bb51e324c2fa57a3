"""Alerts about scheduled runs: the builders (whole payloads), and the ``Alerter`` against the
Slack stand-in: quiet hours, maintenance, "could not check" apart from leaks, a flip sent
once by two workers, and failures written down instead of lost.

(The whole pipeline, schedule to alert, is in ``test_bot_schedule.py``.)
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import logging
import random
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils
from bot_support import BOT_TOKEN, FakeEngine, make_result, sample_config
from slack_sdk.web.async_client import AsyncWebClient
from slack_standin import Call, SlackStandIn, spec_violations

from baton.bot.alerter import Alerter, ChannelPacer, Notice
from baton.bot.app import Bot
from baton.bot.blocks.alert import alert_opened, alert_recovered, alert_repeat, recovered_reply
from baton.bot.scheduler import BotScheduler
from baton.bot.slack_api import SlackApi
from baton.probes.config import Config
from baton.probes.health.alerts import LEASE_S, Action, AlertPolicy, flips, load_state
from baton.probes.model import RunResult
from baton.probes.store import Store
from baton.probes.store.bot import BotStore, ScheduledRunRow

pytestmark = pytest.mark.anyio

WF = sample_config().workflows["lead-to-invoice"]
ALERTS = "C0ALERTS"
#: Tuesday 6 January 2026, 23:00 UTC.
NIGHT = dt.datetime(2026, 1, 6, 23, 0, tzinfo=dt.UTC).timestamp()


def md(text: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": text}


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": md(text)}


def context(*texts: str) -> dict[str, Any]:
    return {"type": "context", "elements": [md(t) for t in texts]}


# -- builders ---------------------------------------------------------------------------------


def test_alert_opened_for_a_leak() -> None:
    result = make_result(outcome="drop", variant="card")
    assert alert_opened(result, WF, consecutive=2).payload() == {
        "text": "❌ lead-to-invoice (card): dropped at Form → CRM · 2 scheduled probes in a row · "
        "run r-7k2xq9",
        "blocks": [
            section(
                "❌ *lead-to-invoice* (card): *dropped at Form → CRM*\n"
                "> The record never arrived in CRM within 30s."
            ),
            context(
                "2 scheduled probes in a row · run `r-7k2xq9`",
                "Diagnosis and evidence in the thread; repeats go there, not to the channel.",
            ),
        ],
    }


def test_alert_opened_for_could_not_check_is_not_a_leak() -> None:
    result = make_result(outcome="outage")
    assert alert_opened(result, WF, consecutive=None).payload() == {
        "text": "⚠️ lead-to-invoice: could not check Invoice · not a leak · run r-7k2xq9",
        "blocks": [
            section(
                "⚠️ *lead-to-invoice*: *could not check Invoice* (not a leak: Baton could not "
                "look)\n"
                "> Could not check Invoice: stripe: HTTP 503 Service Unavailable."
            ),
            context(
                "run `r-7k2xq9`",
                "Why in the thread; later results go there too until it checks again.",
            ),
        ],
    }


@pytest.mark.parametrize(
    ("outcome", "status", "text"),
    [
        pytest.param(
            "swap",
            "leak",
            "Still failing: ❌ fields swapped at Form → CRM · run `r-7k2xq9` · 3 in a row\n"
            "> Email and first name are swapped (CRM has email='Ada', "
            "firstname='probe+bt7k2xq9@example.com').",
            id="leak-again",
        ),
        pytest.param(
            "outage",
            "leak",
            "⚠️ Could not check this time: could not check Invoice (run `r-7k2xq9`). The leak is "
            "neither confirmed nor cleared.",
            id="could-not-check-during-a-leak",
        ),
        pytest.param(
            "outage",
            "error",
            "Still could not check: ⚠️ could not check Invoice · run `r-7k2xq9` · 3 in a row",
            id="could-not-check-again",
        ),
    ],
)
def test_alert_repeat(outcome: str, status: str, text: str) -> None:
    message = alert_repeat(make_result(outcome=outcome), WF, status=status, consecutive=3)
    assert message.payload() == {
        "text": text.split("\n")[0].replace("`", ""),
        "blocks": [section(text)],
    }


def test_recovery() -> None:
    result = make_result(outcome="ok")
    link = "https://acme.slack.com/archives/C0ALERTS/p1700000000000001"
    assert alert_recovered(result, old_status="leak", alert_link=link).payload() == {
        "text": "✅ lead-to-invoice is healthy again: arrived intact at every stage · run r-7k2xq9",
        "blocks": [
            section("✅ *lead-to-invoice* is healthy again: *arrived intact at every stage*"),
            context(f"run `r-7k2xq9` · closes <{link}|the leak alert>"),
        ],
    }
    assert alert_recovered(result, old_status="error").payload()["blocks"][1] == context(
        "run `r-7k2xq9` · closes the could-not-check alert"
    )
    assert recovered_reply(result).payload() == {
        "text": "✅ Recovered: run r-7k2xq9 arrived intact at every stage.",
        "blocks": [section("✅ Recovered: run `r-7k2xq9` arrived intact at every stage.")],
    }


# -- the Alerter ----------------------------------------------------------------------------------


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Rig:
    slack: SlackStandIn
    engine: FakeEngine
    alerter: Alerter
    clock: Clock
    config: Config
    slept: list[float]  # what the channel pacer waited, in order

    async def result(self, outcome: str) -> tuple[ScheduledRunRow, RunResult]:
        """A finished scheduled run of lead-to-invoice with ``outcome``."""
        self.engine.outcome = outcome
        run_id = await self.engine.start("lead-to-invoice", origin={"schedule": {}})
        row = ScheduledRunRow(run_id, "lead-to-invoice", ALERTS, None)
        return row, await self.engine.finish(run_id)

    async def observe(self, outcome: str) -> Action:
        return (await self.alerter.observe(*await self.result(outcome))).action

    def texts(self) -> list[tuple[bool, str]]:
        """(in a thread?, text) of every message posted."""
        return [
            ("thread_ts" in c.params, c.params["text"]) for c in self.slack.of("chat.postMessage")
        ]

    def restart(self, db: sqlite_utils.Database) -> Alerter:
        """Another process (or the same after a restart): new objects over ``db``."""
        return alerter_for(self.slack, db, self.config, self.clock, self.slept)

    def in_slack(self, part: str = "main") -> Counter[int]:
        """How many messages of each flip (by the flip id in their metadata) the stand-in
        holds: ``main`` (the alert itself) or ``reply`` (its follow-up in the thread)."""
        return Counter(
            m["metadata"]["event_payload"]["flip"]
            for m in self.slack.messages.values()
            if m.get("metadata", {}).get("event_payload", {}).get("part") == part
        )


def alerter_for(
    slack: SlackStandIn,
    db: sqlite_utils.Database,
    config: Config,
    clock: Clock,
    slept: list[float],
) -> Alerter:
    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.now += seconds

    return Alerter(
        api=SlackApi(client=AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url)),
        store=BotStore(db, clock=clock),
        results=Store(db),
        workflows=config.workflows,
        channel_for=lambda workflow: ALERTS,
        clock=clock,
        pacer=ChannelPacer(clock=clock, sleep=sleep),
        rng=random.Random(7),
    )


@asynccontextmanager
async def rig(
    policy: AlertPolicy | None = None, now: float = NIGHT, db: sqlite_utils.Database | None = None
) -> AsyncIterator[Rig]:
    config = sample_config()
    lead = dataclasses.replace(config.workflows["lead-to-invoice"], alerts=policy or AlertPolicy())
    config = dataclasses.replace(config, workflows={**config.workflows, "lead-to-invoice": lead})
    db = db if db is not None else sqlite_utils.Database(memory=True)
    clock = Clock(now)
    engine = FakeEngine(config, store=Store(db))
    async with SlackStandIn(token=BOT_TOKEN, clock=clock) as slack:
        slept: list[float] = []
        alerter = alerter_for(slack, db, config, clock, slept)
        yield Rig(slack, engine, alerter, clock, config, slept)
        assert [p for c in slack.calls for p in spec_violations(c)] == []


async def test_quiet_hours_hold_the_alert_until_they_end() -> None:
    async with rig(AlertPolicy(quiet_hours="22:00-07:00")) as r:
        assert [await r.observe("drop"), await r.observe("drop")] == [Action.NOTHING, Action.QUIET]
        assert await r.observe("drop") == Action.QUIET  # a repeat: suppressed, not queued
        assert await r.alerter.deliver_due() == 0
        assert r.slack.calls == []

        r.clock.now = dt.datetime(2026, 1, 7, 7, 0, 1, tzinfo=dt.UTC).timestamp()
        assert await r.alerter.deliver_due() == 1
        assert await r.alerter.deliver_due() == 0  # once
        assert r.texts() == [
            (False, "❌ lead-to-invoice: dropped at Form → CRM · run r-000002"),
            (True, "❌ First break: Form → CRM. The record never arrived in CRM within 30s. 🧹 "
             "Cleanup: removed 1 test object(s)."),
        ]  # fmt: skip
        ts = r.slack.of("chat.postMessage")[0].answer["ts"]
        assert load_state(r.alerter.db, "lead-to-invoice").thread == {"channel": ALERTS, "ts": ts}


async def test_a_night_that_broke_and_recovered_says_nothing() -> None:
    async with rig(AlertPolicy(quiet_hours="22:00-07:00", failures_before_alert=1)) as r:
        assert [await r.observe(o) for o in ("drop", "ok")] == [Action.QUIET, Action.QUIET]
        r.clock.now += 9 * 3600
        assert await r.alerter.deliver_due() == 0
        assert r.slack.calls == []


async def test_maintenance_windows_are_ignored() -> None:
    policy = AlertPolicy(failures_before_alert=1, maintenance=("Tue 22:00-23:30",))
    async with rig(policy) as r:
        assert await r.observe("drop") == Action.QUIET
        assert r.slack.calls == []
        assert load_state(r.alerter.db, "lead-to-invoice").status == "ok"


async def test_could_not_check_opens_its_own_alert_then_a_leak_replaces_it() -> None:
    async with rig(AlertPolicy(failures_before_alert=1, errors_before_alert=1)) as r:
        assert await r.observe("outage") == Action.NEW_ALERT
        assert await r.observe("outage") == Action.ADD_TO_THREAD
        assert await r.observe("drop") == Action.NEW_ALERT  # a leak is news: a new message
        assert await r.observe("ok") == Action.RECOVERED
        channel = [text for in_thread, text in r.texts() if not in_thread]
        # the recovery is said in place and in the thread: nothing new in the channel
        assert [t.split(" · ")[0] for t in channel] == [
            "⚠️ lead-to-invoice: could not check Invoice",
            "❌ lead-to-invoice: dropped at Form → CRM",
        ]
        leak_ts = r.slack.of("chat.postMessage")[3].answer["ts"]
        closing = r.slack.thread(ALERTS, leak_ts)[-1]["text"]
        assert closing.startswith("✅ Recovered after ") and ": run r-000004 arrived" in closing
        # the leak alert's own message now says it is over (the could-not-check one was
        # replaced by the leak alert, so it is left as it was)
        (update,) = r.slack.of("chat.update")
        assert (update.params["channel"], update.params["ts"]) == (ALERTS, leak_ts)
        assert r.slack.messages[(ALERTS, leak_ts)]["text"].startswith(
            "✅ lead-to-invoice: healthy again; it was failing for "
        )


async def test_two_workers_never_both_send_a_flip() -> None:
    db = sqlite_utils.Database(memory=True)
    async with rig(AlertPolicy(failures_before_alert=1), db=db) as r:
        row, result = await r.result("drop")
        decision = await r.alerter.observe(row, result)
        other = Alerter(
            api=r.alerter.api,
            store=r.alerter.store,
            results=r.engine.store,
            workflows=r.alerter.workflows,
            clock=r.clock,
        )
        assert not await other.deliver(Notice.of_decision(decision), result, ALERTS)
        assert len([t for in_thread, t in r.texts() if not in_thread]) == 1
        (flip,) = flips(db)
        assert flip.outcome == "sent"


async def test_a_refused_alert_is_written_down_and_the_next_one_goes_to_the_channel() -> None:
    async with rig(AlertPolicy(failures_before_alert=1)) as r:
        r.slack.fail("chat.postMessage", "channel_not_found")
        assert await r.observe("drop") == Action.NEW_ALERT
        (flip,) = flips(r.alerter.db)
        assert flip.outcome == "failed"
        error = r.alerter.db.execute("SELECT error FROM alert_flips").fetchone()[0]
        assert error.startswith("channel_not_found (E-")
        assert await r.observe("drop") == Action.ADD_TO_THREAD
        (sent,) = r.slack.of("chat.postMessage")[1:]
        assert "thread_ts" not in sent.params  # no thread to add to: said in the channel
        assert sent.params["text"].startswith("Still failing: ❌ dropped at Form → CRM")


async def test_no_channel_means_the_alert_is_logged_not_lost() -> None:
    async with rig(AlertPolicy(failures_before_alert=1)) as r:
        r.alerter.channel_for = lambda workflow: None
        row, result = await r.result("drop")
        await r.alerter.observe(dataclasses.replace(row, channel=None), result)
        assert r.slack.calls == []
        error = r.alerter.db.execute("SELECT error FROM alert_flips").fetchone()[0]
        assert error == (
            "no channel for lead-to-invoice's alerts: set "
            "workflows.lead-to-invoice.schedule.channel or slack.default_channel"
        )


# -- delivery: at least once, never twice ---------------------------------------------------------

ONE = AlertPolicy(failures_before_alert=1)
OPENED = "❌ lead-to-invoice: dropped at Form → CRM"


def flip_row(db: sqlite_utils.Database, column: str) -> Any:
    return db.execute(f"SELECT {column} FROM alert_flips ORDER BY id DESC LIMIT 1").fetchone()[0]


async def test_a_429_is_retried_after_its_retry_after_and_sent_once() -> None:
    async with rig(ONE) as r:
        r.slack.fail("chat.postMessage", "ratelimited", status=429, retry_after=30)
        assert await r.observe("drop") == Action.NEW_ALERT
        (flip,) = flips(r.alerter.db)
        assert (flip.state, flip.attempts) == ("pending", 1)
        assert flip.error is not None and flip.error.startswith("ratelimited (E-")
        assert flip.next_attempt_ts == NIGHT + 30  # Retry-After, longer than the 2 s backoff
        assert flip.maybe_sent_ts is None  # a 429 posted nothing: no need to look
        r.clock.now += 29
        assert await r.alerter.deliver_due() == 0  # not due yet
        r.clock.now += 1
        assert await r.alerter.deliver_due() == 1
        assert await r.alerter.deliver_due() == 0
        (flip,) = flips(r.alerter.db)
        assert (flip.state, flip.attempts) == ("delivered", 2)
        assert r.in_slack("main") == {flip.id: 1} and r.in_slack("reply") == {flip.id: 1}
        assert r.slack.of("conversations.history") == []
        assert r.slept == [1.0]  # after a 429, no burst: the reply waits its second
        (opened,) = [t for in_thread, t in r.texts()[1:] if not in_thread]
        assert opened.startswith(OPENED)
        thread = load_state(r.alerter.db, "lead-to-invoice").thread
        assert thread == {"channel": ALERTS, "ts": flip.posted_ts}


async def test_a_5xx_after_slack_posted_is_found_in_the_channel_not_sent_twice() -> None:
    async with rig(ONE) as r:
        r.slack.fail("chat.postMessage", "internal_error", status=500, posted=True)
        await r.observe("drop")
        (flip,) = flips(r.alerter.db)
        assert flip.state == "pending" and flip.maybe_sent_ts == NIGHT  # it may be there
        assert r.in_slack() == {flip.id: 1}
        r.clock.now += 60
        assert await r.alerter.deliver_due() == 1
        (history,) = r.slack.of("conversations.history")
        assert history.http_verb == "GET"
        assert history.params["oldest"] == f"{NIGHT - 300:.6f}"
        assert history.params["include_all_metadata"] == "true"
        assert r.in_slack("main") == {flip.id: 1}  # found, not posted again
        assert r.in_slack("reply") == {flip.id: 1}  # the diagnosis, once
        (flip,) = flips(r.alerter.db)
        assert flip.state == "delivered"
        assert r.slack.messages[(ALERTS, str(flip.posted_ts))]["text"].startswith(OPENED)


async def test_a_5xx_that_posted_nothing_is_looked_for_then_sent() -> None:
    async with rig(ONE) as r:
        r.slack.fail("chat.postMessage", "service_unavailable", status=503)
        await r.observe("drop")
        r.clock.now += 60
        assert await r.alerter.deliver_due() == 1
        assert len(r.slack.of("conversations.history")) == 1
        (flip,) = flips(r.alerter.db)
        assert r.in_slack() == {flip.id: 1} and r.in_slack("reply") == {flip.id: 1}


async def test_a_lost_reply_is_retried_alone_and_not_doubled() -> None:
    async with rig(ONE) as r:
        # the alert goes out; its diagnosis reply is posted but answered 500, then 500 again
        r.slack.fail("chat.postMessage", "internal_error", status=500, skip=1, posted=True)
        await r.observe("drop")
        (flip,) = flips(r.alerter.db)
        assert flip.state == "pending" and flip.posted_ts is not None and flip.replied_ts is None
        r.slack.fail("conversations.replies", "internal_error", status=500)
        r.clock.now += 60
        assert await r.alerter.deliver_due() == 0  # the look failed: nothing sent blind
        assert flips(r.alerter.db)[0].maybe_sent_ts == NIGHT  # still to be looked for
        r.clock.now += 600
        assert await r.alerter.deliver_due() == 1
        (replies, _) = r.slack.of("conversations.replies")
        assert replies.params["ts"] == flip.posted_ts
        assert r.in_slack("main") == {flip.id: 1} and r.in_slack("reply") == {flip.id: 1}
        assert len(r.slack.of("chat.postMessage")) == 2  # the alert and its reply, once each


async def test_a_process_that_died_mid_send_is_taken_over_without_a_duplicate(
    tmp_path: Path,
) -> None:
    async with rig(ONE, db=sqlite_utils.Database(tmp_path / "baton.db")) as r:
        r.slack.stall("chat.postMessage", 1.0)  # Slack posts it; the answer never comes in time
        row, result = await r.result("drop")
        dying = asyncio.create_task(r.alerter.observe(row, result))
        while not r.slack.stalling:
            await asyncio.sleep(0.01)
        (flip,) = flips(r.alerter.db)
        assert flip.state == "sending" and flip.maybe_sent_ts == NIGHT
        # "restart": a new process over the same file; the old lease must run out first
        other = r.restart(sqlite_utils.Database(tmp_path / "baton.db"))
        assert await other.deliver_due() == 0
        r.clock.now += LEASE_S
        assert await other.deliver_due() == 1  # looked, found it, sent only the reply
        assert r.in_slack("main") == {flip.id: 1} and r.in_slack("reply") == {flip.id: 1}
        # the old worker wakes up: its lease is gone, it records and sends nothing more
        assert (await dying).action == Action.NEW_ALERT
        assert r.in_slack("main") == {flip.id: 1} and r.in_slack("reply") == {flip.id: 1}
        (flip,) = flips(other.db)
        assert (flip.state, flip.attempts) == ("delivered", 2)


async def test_a_flip_left_by_an_older_baton_goes_out_after_the_upgrade(tmp_path: Path) -> None:
    db = sqlite_utils.Database(tmp_path / "baton.db")
    async with rig(ONE, db=db) as r:
        r.slack.fail("chat.postMessage", "internal_error", status=500)
        await r.observe("drop")  # written and leased, as an older Baton did before it died
        db.execute(
            "UPDATE alert_flips SET lease_until = NULL, lease_token = NULL, "
            "next_attempt_ts = NULL, attempts = 0, maybe_sent_ts = NULL, error = NULL"
        )
        db.conn.commit()
        new = r.restart(sqlite_utils.Database(tmp_path / "baton.db"))
        assert await new.deliver_due() == 1
        (flip,) = flips(new.db)
        assert flip.state == "delivered" and r.in_slack() == {flip.id: 1}


# -- a recovery: the alert updated in place, a line in its thread, nothing in the channel ----


async def alert_then_recovery(r: Rig, *fail: tuple[str, dict[str, Any]]) -> tuple[str, int]:
    """One alert out, then a pass observed (with ``fail`` programmed on the stand-in just
    before it): the alert's ts and the recovery's flip id."""
    assert await r.observe("drop") == Action.NEW_ALERT
    alert_ts = str(flips(r.alerter.db)[0].posted_ts)
    for method, kw in fail:
        r.slack.fail(method, **kw)
    r.clock.now += 900
    assert await r.observe("ok") == Action.RECOVERED
    return alert_ts, flips(r.alerter.db)[-1].id


def said_in(r: Rig, ts: str) -> list[str]:
    return [m["text"].split(":")[0].split(" after ")[0] for m in r.slack.thread(ALERTS, ts)]


async def test_a_recovery_is_said_in_place_and_in_the_thread_not_in_the_channel() -> None:
    async with rig(ONE) as r:
        alert_ts, flip_id = await alert_then_recovery(r)
        assert [t for in_thread, t in r.texts() if not in_thread] == [
            OPENED + " · 1 scheduled probe in a row · run r-000001"
        ]
        (update,) = r.slack.of("chat.update")
        assert (update.params["channel"], update.params["ts"]) == (ALERTS, alert_ts)
        assert r.slack.messages[(ALERTS, alert_ts)]["text"].startswith(
            "✅ lead-to-invoice: healthy again; it was failing for "
        )
        assert said_in(r, alert_ts) == ["❌ First break", "✅ Recovered"]
        recovery = flips(r.alerter.db)[-1]
        assert (recovery.id, recovery.state) == (flip_id, "delivered")
        assert (recovery.posted_channel, recovery.posted_ts) == (ALERTS, alert_ts)
        assert load_state(r.alerter.db, "lead-to-invoice").thread is None


@pytest.mark.parametrize(
    ("failure", "too_soon", "due"),
    [  # a jittered backoff (1-2 s), Retry-After, hourly
        pytest.param({"error": "internal_error", "status": 500}, 0.9, 2, id="5xx"),
        pytest.param({"error": "ratelimited", "status": 429, "retry_after": 30}, 29, 30, id="429"),
        pytest.param({"error": "not_in_channel"}, 3599, 3600, id="needs-a-person"),
    ],
)
async def test_a_failed_in_place_update_is_retried_before_the_thread_line(
    failure: dict[str, Any], too_soon: float, due: float
) -> None:
    async with rig(ONE) as r:
        alert_ts, _ = await alert_then_recovery(r, ("chat.update", failure))
        recovery = flips(r.alerter.db)[-1]
        assert (recovery.state, recovery.posted_ts, recovery.replied_ts) == ("pending", None, None)
        assert said_in(r, alert_ts) == ["❌ First break"]  # the update goes first
        assert r.slack.messages[(ALERTS, alert_ts)]["text"].startswith(OPENED)
        r.clock.now += too_soon
        assert await r.alerter.deliver_due() == 0
        r.clock.now += due - too_soon
        assert await r.alerter.deliver_due() == 1
        assert len(r.slack.of("chat.update")) == 2
        assert r.slack.messages[(ALERTS, alert_ts)]["text"].startswith("✅ lead-to-invoice: ")
        assert said_in(r, alert_ts) == ["❌ First break", "✅ Recovered"]
        assert [t for in_thread, t in r.texts() if not in_thread] == [
            OPENED + " · 1 scheduled probe in a row · run r-000001"
        ]
        assert r.slack.of("conversations.history") == []  # an update is redone, not looked for
        assert flips(r.alerter.db)[-1].state == "delivered"


async def test_a_lost_closing_line_is_retried_without_updating_again() -> None:
    async with rig(ONE) as r:
        posted_line = {"error": "internal_error", "status": 500, "posted": True}
        alert_ts, _ = await alert_then_recovery(r, ("chat.postMessage", posted_line))
        recovery = flips(r.alerter.db)[-1]
        assert recovery.state == "pending" and recovery.posted_ts == alert_ts
        r.clock.now += 60
        assert await r.alerter.deliver_due() == 1
        assert len(r.slack.of("chat.update")) == 1  # recorded: not done again
        assert len(r.slack.of("conversations.replies")) == 1  # looked for, found
        assert said_in(r, alert_ts) == ["❌ First break", "✅ Recovered"]


async def test_a_deleted_alert_gets_its_recovery_in_the_channel_instead() -> None:
    async with rig(ONE) as r:
        assert await r.observe("drop") == Action.NEW_ALERT
        alert_ts = str(flips(r.alerter.db)[0].posted_ts)
        for key in [k for k in r.slack.messages if k[1] == alert_ts or
                    r.slack.messages[k].get("thread_ts") == alert_ts]:  # fmt: skip
            del r.slack.messages[key]  # someone deleted the alert (and its thread)
        r.clock.now += 900
        assert await r.observe("ok") == Action.RECOVERED
        (update,) = r.slack.of("chat.update")
        assert update.answer["error"] == "message_not_found"
        *_, last = r.slack.of("chat.postMessage")
        assert "thread_ts" not in last.params  # no line in a thread that is gone
        assert last.params["text"] == (
            "✅ lead-to-invoice is healthy again: arrived intact at every stage · run r-000002"
        )
        assert "archives" not in json.dumps(last.params["blocks"])  # no link to what is gone
        recovery = flips(r.alerter.db)[-1]
        assert recovery.state == "delivered" and recovery.posted_ts == last.answer["ts"]
        r.clock.now += 60
        assert await r.alerter.deliver_due() == 0  # delivered once


async def test_a_repeat_waits_for_its_alert_and_goes_to_its_thread() -> None:
    async with rig(ONE) as r:
        r.slack.fail("chat.postMessage", "fatal_error")
        assert await r.observe("drop") == Action.NEW_ALERT
        r.clock.now += 60
        assert await r.observe("drop") == Action.ADD_TO_THREAD  # the alert is still pending
        assert [f.state for f in flips(r.alerter.db)] == ["pending", "pending"]
        assert len(r.slack.of("chat.postMessage")) == 1  # the repeat did not jump the queue
        r.clock.now += 60
        assert await r.alerter.deliver_due() == 2
        alert, repeat = flips(r.alerter.db)
        assert [f.state for f in (alert, repeat)] == ["delivered", "delivered"]
        (parent,) = [c for c in r.slack.of("chat.postMessage")[1:] if "thread_ts" not in c.params]
        assert parent.params["text"].startswith(OPENED)
        last = r.slack.of("chat.postMessage")[-1].params
        assert last["thread_ts"] == alert.posted_ts
        assert last["text"].startswith("Still failing: ❌ dropped at Form → CRM")


async def test_a_refusal_for_good_is_failed_once_with_what_to_fix(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="baton.bot.alerter")
    async with rig(ONE) as r:
        r.slack.fail("chat.postMessage", "channel_not_found")
        await r.observe("drop")
        (flip,) = flips(r.alerter.db)
        assert flip.state == "failed" and str(flip.error).startswith("channel_not_found (E-")
        r.clock.now += 7 * 86400
        assert await r.alerter.deliver_due() == 0
        assert len(r.slack.calls) == 1
        (warning,) = [rec for rec in caplog.records if rec.levelno >= logging.WARNING]
        assert "check workflows.lead-to-invoice.schedule.channel" in warning.getMessage()


async def test_not_in_channel_is_retried_hourly_for_a_day_then_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="baton.bot.alerter")
    async with rig(ONE) as r:
        r.slack.fail("chat.postMessage", "not_in_channel", times=100)
        await r.observe("drop")
        for _ in range(23):
            r.clock.now += 3600
            assert await r.alerter.deliver_due() == 0
        (flip,) = flips(r.alerter.db)
        assert (flip.state, flip.attempts) == ("pending", 24)
        warnings = [rec.getMessage() for rec in caplog.records if rec.levelno >= logging.WARNING]
        assert len(warnings) == 1 and "invite the bot to C0ALERTS" in warnings[0]
        r.clock.now += 3600
        assert await r.alerter.deliver_due() == 0
        (flip,) = flips(r.alerter.db)
        assert flip.state == "failed" and "still failing 24 h after it was due" in str(flip.error)
        assert len(r.slack.of("chat.postMessage")) == 25


async def test_invited_after_not_in_channel_the_alert_goes_out() -> None:
    async with rig(ONE) as r:
        r.slack.fail("chat.postMessage", "not_in_channel")
        await r.observe("drop")
        r.clock.now += 1800
        assert await r.alerter.deliver_due() == 0  # hourly
        r.clock.now += 1800
        assert await r.alerter.deliver_due() == 1
        (flip,) = flips(r.alerter.db)
        assert r.in_slack() == {flip.id: 1}
        assert r.slack.of("conversations.history") == []  # not_in_channel posted nothing


async def test_without_history_access_it_warns_and_sends_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with rig(ONE) as r:
        r.slack.scopes -= {"channels:history", "groups:history"}
        r.slack.fail("chat.postMessage", "internal_error", status=500, posted=True)
        await r.observe("drop")
        r.clock.now += 60
        assert await r.alerter.deliver_due() == 1  # at least once, even if it may be twice
        (flip,) = flips(r.alerter.db)
        assert r.in_slack() == {flip.id: 2}
        (warning,) = [rec.getMessage() for rec in caplog.records if rec.levelno >= logging.WARNING]
        assert "cannot check (conversations.history: missing_scope)" in warning
        assert "channels:history and groups:history scopes" in warning


def test_backoff_is_exponential_jittered_capped_and_honours_retry_after() -> None:
    db = sqlite_utils.Database(memory=True)
    alerter = Alerter(
        api=SlackApi(client=AsyncWebClient(token=BOT_TOKEN)),
        store=BotStore(db),
        results=Store(db),
        workflows={},
        rng=random.Random(1),
    )
    waits = [alerter.backoff(n) for n in range(1, 12)]
    for n, wait in enumerate(waits, start=1):
        full = min(300.0, 2.0 * 2 ** (n - 1))
        assert full / 2 <= wait <= full
    assert waits[-1] <= 300 and waits[3] > waits[0]
    assert alerter.backoff(1, retry_after=45) == 45


async def test_the_pacer_allows_a_burst_then_about_one_a_second_per_channel() -> None:
    now = [0.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    pacer = ChannelPacer(clock=lambda: now[0], sleep=sleep)
    for _ in range(6):
        await pacer.wait("C1")
    await pacer.wait("C2")  # another channel: its own pace
    assert slept == [1.0, 2.0]
    pacer.hold("C2", 30)
    await pacer.wait("C2")
    assert slept[-1] == 30.0


def test_the_spec_check_refuses_bad_metadata() -> None:
    def post(metadata: Any) -> Call:
        params = {"channel": ALERTS, "text": "x", "metadata": metadata}
        headers = {"Authorization": f"Bearer {BOT_TOKEN}"}
        return Call("chat.postMessage", params, headers, "application/json", "POST", "/api/x")

    good = {"event_type": "baton_alert", "event_payload": {"key": "k"}}
    assert spec_violations(post(good)) == []
    assert spec_violations(post({"event_type": "baton alert!", "event_payload": []})) == [
        "chat.postMessage: metadata event_type 'baton alert!' is not an alphanumeric string",
        "chat.postMessage: metadata event_payload must be an object",
    ]


# -- stopping: never a send cut in half -----------------------------------------------------------


@asynccontextmanager
async def serving(path: Path) -> AsyncIterator[tuple[SlackStandIn, Bot, BotScheduler]]:
    """``baton serve``'s alerting pieces over the store at ``path``: a bot, its scheduler
    ticking every 50 ms, and one finished scheduled run (a leak) waiting to be alerted on."""
    config = sample_config()
    lead = dataclasses.replace(config.workflows["lead-to-invoice"], alerts=ONE)
    config = dataclasses.replace(config, workflows={**config.workflows, "lead-to-invoice": lead})
    db = sqlite_utils.Database(path)
    engine = FakeEngine(config, store=Store(db), outcome="drop")
    async with SlackStandIn(token=BOT_TOKEN, clock=time.time) as slack:
        client = AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url)
        bot = Bot(config=config, engine=engine, client=client, db=db)
        scheduling = BotScheduler(bot=bot, engine=engine, tick_every_s=0.05)
        origin = {"schedule": {"slot_ts": NIGHT}, "channel": ALERTS}
        run_id = await engine.start("lead-to-invoice", origin=origin)
        await engine.finish(run_id)
        bot.store.remember_scheduled(
            run_id=run_id, workflow="lead-to-invoice", channel=ALERTS, slot_ts=NIGHT
        )
        yield slack, bot, scheduling
        assert [p for c in slack.calls for p in spec_violations(c)] == []


async def test_a_stop_lets_the_send_under_way_finish(tmp_path: Path) -> None:
    async with serving(tmp_path / "baton.db") as (slack, bot, scheduling):
        slack.stall("chat.postMessage", 0.5)
        scheduling.register()
        scheduling.start()
        while not slack.stalling:
            await asyncio.sleep(0.01)
        scheduling.shutdown()  # APScheduler cancels the running tick job here
        await bot.aclose()  # as baton serve does after it: background work gets 10 s
        (flip,) = flips(bot.store.db)
        assert flip.state == "delivered"
        alert, reply = [c.params["text"] for c in slack.of("chat.postMessage")]
        assert alert.startswith(OPENED) and reply.startswith("❌ First break: Form → CRM.")


async def test_a_send_cut_off_by_a_stop_is_resumed_on_the_next_start(tmp_path: Path) -> None:
    async with serving(tmp_path / "baton.db") as (slack, bot, scheduling):
        slack.stall("chat.postMessage", 2.0)
        scheduling.register()
        scheduling.start()
        while not slack.stalling:
            await asyncio.sleep(0.01)
        started = time.monotonic()
        await scheduling.aclose(timeout_s=0.2)
        assert time.monotonic() - started < 1.0  # bounded: the stall lasts 2 s
        (flip,) = flips(bot.store.db)
        assert (flip.state, flip.error) == ("pending", "interrupted: Baton stopped mid-send")
        assert flip.maybe_sent_ts is not None  # it may be in Slack (it is): look first
        assert len(slack.of("chat.postMessage")) == 1
        # the next start: a new bot over the same file
        db = sqlite_utils.Database(tmp_path / "baton.db")
        client = AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url)
        again = Bot(config=bot.config, engine=bot.engine, client=client, db=db)
        assert await again.alerts.deliver_due() == 1
        (flip,) = flips(db)
        assert flip.state == "delivered"
        counted = Counter(
            m["metadata"]["event_payload"]["part"]
            for m in slack.messages.values()
            if m["metadata"]["event_payload"]["flip"] == flip.id
        )
        assert counted == {"main": 1, "reply": 1}
        assert len(slack.of("conversations.history")) == 1
