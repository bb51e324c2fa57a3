"""Scheduling in ``baton serve``: job registration (scheduler not started), and scheduled
probes through the real pipeline: the real engine probing the sandbox, the bot alerting in
the Slack stand-in, the schedule's slots fired by hand on a fake clock.

What a channel should see: nothing for a first leak, one message when the state changes
(its diagnosis in the thread), a reply in that thread for a repeat, and a recovery message.
Two bot instances on one store file never run a slot twice nor send an alert twice.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlite_utils
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from bot_support import BOT_TOKEN, SECRET, FakeEngine, sample_config
from slack_sdk.web.async_client import AsyncWebClient
from slack_standin import SlackStandIn, spec_violations
from tenacity import wait_fixed
from test_bot_sandbox import fast

from baton.bot.alert_actions import snooze
from baton.bot.app import Bot, BotSettings
from baton.bot.scheduler import TICK_JOB, BotScheduler, digest_job_id
from baton.probes.config import Config, DigestSchedule
from baton.probes.connectors import RetryPolicy
from baton.probes.demo import sandbox_config
from baton.probes.engine import Engine
from baton.probes.health.alerts import AlertPolicy, load_state
from baton.probes.health.schedule import ScheduleSpec, claim_slot, job_id, pause_state
from baton.probes.sandbox import Sandbox
from baton.probes.store import Store

pytestmark = pytest.mark.anyio

ALERTS = "C0ALERTS"
UTC = dt.UTC
#: A Tuesday, 12:07:30 UTC: the latest 15-minute slot is 12:00.
T = dt.datetime(2026, 1, 6, 12, 7, 30, tzinfo=UTC).timestamp()
SLOT = dt.datetime(2026, 1, 6, 12, 0, tzinfo=UTC).timestamp()


class SlotClock:
    """The scheduler's clock; the engine and Slack run on real time."""

    def __init__(self, now: float = T) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def with_schedule(config: Config, policy: AlertPolicy | None = None, **slack: Any) -> Config:
    """lead-to-invoice every 15 minutes with the card variant, alerting to #alerts."""
    spec = ScheduleSpec("lead-to-invoice", every_s=900, channel=ALERTS, variants=("card",))
    lead = dataclasses.replace(
        config.workflows["lead-to-invoice"], schedule=spec, alerts=policy or AlertPolicy()
    )
    workflows = {
        name: dataclasses.replace(wf, schedule=None) for name, wf in config.workflows.items()
    }
    workflows["lead-to-invoice"] = lead
    return dataclasses.replace(
        config, workflows=workflows, slack=dataclasses.replace(config.slack, **slack)
    )


# -- registration, with the scheduler not started -------------------------------------------------


async def test_jobs_triggers_and_next_run_times() -> None:
    digest = DigestSchedule("C0DIGEST", "0 9 * * mon", timezone="Europe/London")
    config = with_schedule(sample_config(), digests=[digest])
    db = sqlite_utils.Database(memory=True)
    async with SlackStandIn(token=BOT_TOKEN) as slack:
        bot = Bot(
            config=config,
            engine=FakeEngine(config, store=Store(db)),
            client=AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url),
            db=db,
        )
        scheduling = BotScheduler(bot=bot, engine=bot.engine, clock=SlotClock(), tick_every_s=5)
        ids = scheduling.register()
        assert not scheduling.scheduler.running
        assert ids == [job_id("lead-to-invoice"), digest_job_id(digest), TICK_JOB]
        jobs = {job.id: job for job in scheduling.scheduler.get_jobs()}
        assert sorted(jobs) == sorted(ids)

        now = dt.datetime.fromtimestamp(T, UTC)
        probe, post, tick = jobs[ids[0]], jobs[ids[1]], jobs[TICK_JOB]
        assert isinstance(probe.trigger, IntervalTrigger)
        assert probe.trigger.get_next_fire_time(None, now) == dt.datetime(
            2026, 1, 6, 12, 15, tzinfo=UTC
        )
        assert (probe.coalesce, probe.max_instances) == (True, 1)
        assert isinstance(post.trigger, CronTrigger)
        monday_9_in_london = dt.datetime(2026, 1, 12, 9, 0, tzinfo=UTC)  # GMT in January
        assert post.trigger.get_next_fire_time(None, now) == monday_9_in_london
        assert post.kwargs == {"spec": digest}
        assert isinstance(tick.trigger, IntervalTrigger)
        assert tick.trigger.interval == dt.timedelta(seconds=5)


async def test_a_restart_runs_the_latest_missed_slot_once() -> None:
    config = with_schedule(sample_config())
    db = sqlite_utils.Database(memory=True)
    claim_slot(db, "lead-to-invoice", SLOT - 3 * 900)  # it ran before, then the process stopped
    async with SlackStandIn(token=BOT_TOKEN) as slack:
        engine = FakeEngine(config, store=Store(db))
        bot = Bot(
            config=config,
            engine=engine,
            client=AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url),
            db=db,
        )
        scheduling = BotScheduler(bot=bot, engine=engine, clock=SlotClock())
        ids = scheduling.register()
        catch_up = scheduling.scheduler.get_job(job_id("lead-to-invoice") + ":catch-up")
        assert catch_up is not None and catch_up.id in ids
        assert isinstance(catch_up.trigger, DateTrigger)
        assert await catch_up.func(**catch_up.kwargs) is not None
        assert await catch_up.func(**catch_up.kwargs) is None  # the slot is taken now
        (start,) = engine.starts
        assert start["origin"] == {
            "schedule": {"slot_ts": SLOT, "slot_index": 1},
            "channel": ALERTS,
        }
        assert start["variant"] == "card"


async def test_scheduled_runs_left_active_by_a_stopped_process_are_adopted() -> None:
    config = with_schedule(sample_config())
    db = sqlite_utils.Database(memory=True)
    engine = FakeEngine(config, store=Store(db))
    origin = {"schedule": {"slot_ts": SLOT, "slot_index": 4}, "channel": ALERTS}
    left = await engine.start("lead-to-invoice", origin=origin)  # then the process stopped
    await engine.start("newsletter", origin={"slack_user": "U0ALICE"})  # not scheduled
    async with SlackStandIn(token=BOT_TOKEN) as slack:
        bot = Bot(
            config=config,
            engine=engine,
            client=AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url),
            db=db,
        )
        scheduling = BotScheduler(bot=bot, engine=engine, clock=SlotClock())
        scheduling.register()
        scheduling.start()
        try:
            (row,) = bot.store.unobserved()
            assert (row.run_id, row.channel, row.slot_ts) == (left, ALERTS, SLOT)
        finally:
            scheduling.shutdown()
            await asyncio.sleep(0)


# -- the real pipeline -----------------------------------------------------------------------


@dataclass
class Instance:
    """One ``baton serve`` process: its bot, its scheduler (not started) and its engines."""

    bot: Bot
    scheduling: BotScheduler

    async def fire(self, workflow: str = "lead-to-invoice") -> Any:
        """What APScheduler does at the slot: call the job."""
        job = self.scheduling.scheduler.get_job(job_id(workflow))
        return await job.func(**job.kwargs)


@dataclass
class World:
    sandbox: Sandbox
    slack: SlackStandIn
    clock: SlotClock
    instances: list[Instance]

    async def settle(self, timeout_s: float = 15.0) -> None:
        """Tick every instance until no run is active and every result was observed."""
        deadline = time.monotonic() + timeout_s
        first = self.instances[0]
        while True:
            for instance in self.instances:
                await instance.scheduling.tick()
            store = first.scheduling.engine.store
            if not store.active_runs() and not first.bot.store.unobserved():
                return
            assert time.monotonic() < deadline, "scheduled runs did not finish"
            await asyncio.sleep(0.05)

    async def slot(self, *faults: str) -> None:
        """The next 15-minute slot, with ``faults`` planted in the chain."""
        await asyncio.to_thread(self.sandbox.set_faults, list(faults))
        self.clock.now += 900
        assert [await i.fire() for i in self.instances].count(None) == len(self.instances) - 1
        await self.settle()

    def channel_posts(self) -> list[dict[str, Any]]:
        return [c.params for c in self.slack.of("chat.postMessage") if "thread_ts" not in c.params]

    def replies(self, ts: str) -> list[str]:
        return [m["text"] for m in self.slack.thread(ALERTS, ts)]


@asynccontextmanager
async def world(tmp_path: Path, *, instances: int = 1, **policy: int) -> AsyncIterator[World]:
    sandbox = Sandbox(seed=1, search_lag_s=0.05, glue_delay_s=(0.0, 0.05))
    await asyncio.to_thread(sandbox.start)
    clock = SlotClock(T - 900)
    try:
        config = with_schedule(fast(sandbox_config(sandbox.url)), AlertPolicy(**policy))
        async with AsyncExitStack() as stack:
            tools = await stack.enter_async_context(httpx.AsyncClient())
            slack = await stack.enter_async_context(SlackStandIn(token=BOT_TOKEN))
            made = []
            for _ in range(instances):
                store = Store(sqlite_utils.Database(tmp_path / "baton.db"))  # one file, like
                engines = [  # two processes: the bot's and the tick's engine each
                    Engine(
                        config,
                        store=store,
                        client=tools,
                        poll_wait=wait_fixed(0.05),
                        retry=RetryPolicy(attempts=2, wait=wait_fixed(0.05)),
                    )
                    for _ in range(2)
                ]
                bot = Bot(
                    config=config,
                    engine=engines[0],
                    client=AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url),
                    db=store.db,
                    signing_secret=SECRET,
                    settings=BotSettings(update_interval_s=0.1),
                )
                await bot.prepare()
                scheduling = BotScheduler(bot=bot, engine=engines[1], clock=clock)
                scheduling.register()
                made.append(Instance(bot, scheduling))
            slack.calls.clear()  # auth.test
            yield World(sandbox, slack, clock, made)
    finally:
        await asyncio.to_thread(sandbox.stop)


async def test_alerts_only_on_state_changes_repeats_in_the_thread(tmp_path: Path) -> None:
    swap = "swap@crm=firstname,email"
    async with world(tmp_path) as w:
        await w.slot(swap)  # the first leak: counted, nothing said
        assert w.slack.of("chat.postMessage") == []

        await w.slot(swap)  # the second in a row: one alert, its diagnosis in the thread
        (alert,) = w.channel_posts()
        alert_ts = w.slack.of("chat.postMessage")[0].answer["ts"]
        assert alert["channel"] == ALERTS
        assert alert["text"].startswith(
            "❌ lead-to-invoice (card): fields swapped at Form → CRM · 2 scheduled probes in a "
            "row · run r-"
        )
        (diagnosis,) = w.replies(alert_ts)
        assert diagnosis.startswith("❌ First break: Form → CRM. Email and first name are swapped")
        state = load_state(w.instances[0].bot.store.db, "lead-to-invoice")
        assert (state.status, state.thread) == ("leak", {"channel": ALERTS, "ts": alert_ts})

        await w.slot(swap)  # a repeat: a reply in the open thread, nothing in the channel
        assert len(w.channel_posts()) == 1
        repeat = w.replies(alert_ts)[-1]
        assert repeat.startswith("Still failing: ❌ fields swapped at Form → CRM · run r-")
        assert repeat.endswith(" · 3 in a row")

        await w.slot()  # healthy again: said in the thread and on the alert, not the channel
        assert w.channel_posts() == [alert]
        closing = w.replies(alert_ts)[-1]
        assert closing.startswith("✅ Recovered after ") and " s: run r-" in closing
        assert len(w.replies(alert_ts)) == 3
        # the alert itself now says it is over, and how long it failed; no buttons left
        (update,) = w.slack.of("chat.update")
        assert (update.params["channel"], update.params["ts"]) == (ALERTS, alert_ts)
        closed = w.slack.messages[(ALERTS, alert_ts)]
        assert closed["text"].startswith(
            "✅ lead-to-invoice (card): healthy again; it was failing for "
        )
        assert "actions" not in [b["type"] for b in closed["blocks"]]
        assert load_state(w.instances[0].bot.store.db, "lead-to-invoice").thread is None
        assert [p for c in w.slack.calls for p in spec_violations(c)] == []


async def test_two_instances_never_double_run_a_slot_nor_double_send(tmp_path: Path) -> None:
    async with world(tmp_path, instances=2, failures_before_alert=1) as w:
        await w.slot("swap@crm=firstname,email")
        one, two = w.instances
        runs = one.bot.store.db.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
        assert runs == 1
        (alert,) = w.channel_posts()
        assert alert["text"].startswith("❌ lead-to-invoice (card): fields swapped")
        alert_ts = w.slack.of("chat.postMessage")[0].answer["ts"]
        assert len(w.replies(alert_ts)) == 1  # the diagnosis, once
        # The same slot fired again (a late job in either process) changes nothing.
        assert await one.fire() is None and await two.fire() is None
        await w.settle()
        assert len(w.slack.of("chat.postMessage")) == 2


# -- /baton schedule, pause and resume, over signed requests ----------------------------------


def two_schedules() -> Config:
    """lead-to-invoice every 15 minutes; newsletter on Mondays, paused in the config."""
    config = with_schedule(sample_config())
    weekly = ScheduleSpec("newsletter", cron="0 9 * * 1", paused=True)
    news = dataclasses.replace(config.workflows["newsletter"], schedule=weekly)
    return dataclasses.replace(config, workflows={**config.workflows, "newsletter": news})


def at(ts: float) -> Any:
    return lambda: dt.datetime.fromtimestamp(ts, UTC)


def md(text: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": text}


LEAD_LINE = "*lead-to-invoice* · every 15m · to <#C0ALERTS> · variants card"
NEWS_PAUSED = (
    "⏸️ *newsletter* · cron '0 9 * * 1' (UTC) · no channel for alerts\n"
    "*paused* · `/baton resume newsletter` to start it again"
)
FOOTER = {
    "type": "context",
    "elements": [md("`/baton pause WORKFLOW` stops one; `/baton resume WORKFLOW`")],
}


async def test_schedule_lists_next_runs_and_paused_state() -> None:
    from test_bot_http import harness

    async with harness(config=two_schedules(), now=at(T)) as h:
        reply = await h.command("schedule")
        assert reply.status == 200
        assert reply.json == {
            "text": "2 scheduled probes: lead-to-invoice next 12:15 UTC; newsletter paused",
            "blocks": [
                {"type": "section", "text": md("*Scheduled probes* (2)")},
                {
                    "type": "section",
                    "text": md(f"▶️ {LEAD_LINE}\nnext run 12:15 UTC (in 8 min)\n{NEWS_PAUSED}"),
                },
                FOOTER,
            ],
        }
        assert h.slack.calls == []  # answered in the ack


async def test_schedule_lists_each_workflows_snooze_in_force() -> None:
    from test_bot_http import harness

    async with harness(config=two_schedules(), now=at(T)) as h:
        snooze(h.db, "lead-to-invoice", key="1h", user="U0ALICE", flip_id=1, now=T - 600)
        snooze(h.db, "newsletter", key="24h", user="U0CAROL", flip_id=2, now=T - 60)
        snooze(h.db, "newsletter", key="ok", user="U0BOB", flip_id=3, now=T)  # replaces it
        reply = await h.command("schedule")
        assert reply.status == 200
        assert reply.json["blocks"][1] == {
            "type": "section",
            "text": md(
                f"▶️ {LEAD_LINE}\nnext run 12:15 UTC (in 8 min)\n"
                "🔕 alerts snoozed by <@U0ALICE> until 12:57 UTC (in 50 min)\n"
                f"{NEWS_PAUSED}\n🔕 alerts snoozed by <@U0BOB> until it passes again"
            ),
        }
        h.db.execute("UPDATE alert_snoozes SET until_ts = ? WHERE user = ?", [T, "U0ALICE"])
        snooze(h.db, "newsletter", key="1h", user="<!channel>", flip_id=4, now=T)  # forged
        reply = await h.command("schedule")
        shown = json.dumps(reply.json)
        assert "U0ALICE" not in shown  # over: not shown
        assert "snoozed by &lt;!channel&gt; until 13:07 UTC" in shown and "<!channel>" not in shown


async def test_pause_and_resume_by_an_allowed_user_are_said_in_the_channel() -> None:
    from test_bot_http import harness

    settings = BotSettings(allowed_users=("U0ALICE",), update_interval_s=0.05)
    async with harness(config=two_schedules(), now=at(T), settings=settings) as h:
        scheduling = BotScheduler(bot=h.bot, engine=h.engine, clock=SlotClock())
        scheduling.register()
        fire = scheduling.scheduler.get_job(job_id("lead-to-invoice"))

        paused = await h.command("pause lead-to-invoice")
        assert paused.json == {
            "response_type": "in_channel",
            "text": "⏸️ <@U0ALICE> paused the schedule of lead-to-invoice (every 15m). "
            "/baton resume lead-to-invoice starts it again.",
            "blocks": [
                {
                    "type": "section",
                    "text": md(
                        "⏸️ <@U0ALICE> paused the schedule of *lead-to-invoice* (every 15m). "
                        "`/baton resume lead-to-invoice` starts it again."
                    ),
                }
            ],
        }
        listed = await h.command("schedule")
        assert listed.json["blocks"][1]["text"]["text"].startswith(
            f"⏸️ {LEAD_LINE}\n*paused* · `/baton resume lead-to-invoice` to start it again"
        )
        assert await fire.func(**fire.kwargs) is None  # the slot passes, nothing runs
        assert h.engine.starts == []

        resumed = await h.command("resume lead-to-invoice")
        assert resumed.json["response_type"] == "in_channel"
        assert resumed.json["text"] == (
            "▶️ <@U0ALICE> resumed the schedule of lead-to-invoice (every 15m). "
            "Next run 12:15 UTC (in 8 min)."
        )
        scheduling.clock.now += 900  # type: ignore[attr-defined]
        assert await fire.func(**fire.kwargs) is not None
        assert [s["workflow"] for s in h.engine.starts] == ["lead-to-invoice"]
        row = h.db.execute("SELECT paused, updated_by FROM schedule_state").fetchone()
        assert row == (0, "U0ALICE")


@pytest.mark.parametrize("text", ["pause lead-to-invoice", "resume lead-to-invoice"])
async def test_pause_and_resume_refused_for_others(text: str) -> None:
    from test_bot_http import harness

    settings = BotSettings(allowed_users=("U0ALICE",), update_interval_s=0.05)
    async with harness(config=two_schedules(), now=at(T), settings=settings) as h:
        reply = await h.command(text, user_id="U0MALLORY")
        assert reply.text == (
            "Sorry <@U0MALLORY>, you are not on the list of people who can use /baton here. "
            "Ask whoever runs Baton to add your user id `U0MALLORY` to `slack.allowed_users`."
        )
        assert "response_type" not in reply.json  # ephemeral
        spec = h.bot.config.workflows["lead-to-invoice"].schedule
        assert spec is not None and pause_state(h.db, spec) == (False, None)  # unchanged


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        pytest.param(
            "pause lead-to-invoce",
            "⚠️ unknown workflow 'lead-to-invoce' (did you mean 'lead-to-invoice'?); known: "
            "lead-to-invoice, newsletter",
            id="unknown",
        ),
        pytest.param(
            "resume newsletter",
            "⚠️ newsletter has no schedule: add `schedule:` to it in the config",
            id="no-schedule",
        ),
    ],
)
async def test_pause_problems(text: str, problem: str) -> None:
    from test_bot_http import harness

    async with harness(config=with_schedule(sample_config()), now=at(T)) as h:
        reply = await h.command(text)
        assert reply.text == problem
        assert "response_type" not in reply.json  # only to whoever asked
