"""Alerts about scheduled runs: the builders (whole payloads), and the ``Alerter`` against the
Slack stand-in: quiet hours, maintenance, "could not check" apart from leaks, a flip sent
once by two workers, and failures written down instead of lost.

(The whole pipeline, schedule to alert, is in ``test_bot_schedule.py``.)
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import sqlite_utils
from bot_support import BOT_TOKEN, FakeEngine, make_result, sample_config
from slack_sdk.web.async_client import AsyncWebClient
from slack_standin import SlackStandIn, spec_violations

from bot.alert_messages import alert_opened, alert_recovered, alert_repeat, recovered_reply
from bot.alerts import Alerter, Notice
from bot.slack_api import SlackApi
from bot.store import BotStore, ScheduledRunRow
from probes.alerts import Action, AlertPolicy, flips, load_state
from probes.model import RunResult
from probes.store import Store

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
    async with SlackStandIn(token=BOT_TOKEN) as slack:
        client = AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url)
        alerter = Alerter(
            api=SlackApi(client=client),
            store=BotStore(db, clock=clock),
            results=engine.store,
            workflows=config.workflows,
            channel_for=lambda workflow: ALERTS,
            clock=clock,
        )
        yield Rig(slack, engine, alerter, clock)
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
        assert [t.split(" · ")[0] for t in channel] == [
            "⚠️ lead-to-invoice: could not check Invoice",
            "❌ lead-to-invoice: dropped at Form → CRM",
            "✅ lead-to-invoice is healthy again: arrived intact at every stage",
        ]
        leak_ts = r.slack.of("chat.postMessage")[3].answer["ts"]
        assert r.slack.thread(ALERTS, leak_ts)[-1]["text"].startswith("✅ Recovered: run r-000004")


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
