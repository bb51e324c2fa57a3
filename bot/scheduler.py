"""Scheduling inside ``baton serve``: probes, digests and the engine's tick, as jobs of one
APScheduler ``AsyncIOScheduler`` on the bot's event loop.

==========================  ===============================================================
job id                      what it does
==========================  ===============================================================
``baton-probe:<workflow>``  a workflow's ``schedule`` (``health.schedule.register_schedules``:
                            each slot claimed once across processes, variants in turn, the
                            latest missed slot run once after a restart, never a burst)
``baton-digest:<key>``      a ``slack.digests`` entry (``DigestSchedule.trigger()``); its slot
                            is claimed in ``schedule_slots`` too, so it is posted once
``baton-tick``              every ``tick_every_s``: ``engine.tick()`` advances every active
                            run one step; finished scheduled runs go to alerting, then every
                            alert that is due goes out (new ones, retries, the end of quiet
                            hours, and at start-up those a stopped process left pending or
                            mid-send)
==========================  ===============================================================

A slot only *starts* its run (the record injected, the run written to the store) and
returns: the tick job watches the run to its end, so a deadline of hours holds no worker.
The tick has its own ``Engine`` (its own lease owner), so it never steps a run that a
``/baton run`` is watching. Which finished runs came from a schedule is in the run's origin
(``{"schedule": …}``); the bot notes each in ``bot_scheduled_runs`` and claims it there
before alerting, so a result is observed once even with two processes, and also when the
run was finished by another process or before a restart.

Alerts are sent by a task of their own that the tick waits for (up to half a tick; a
longer pass goes on while the next ticks advance the runs, and no second pass starts
meanwhile), so stopping the scheduler (``shutdown``, which cancels running jobs) never cuts
a send in half:
``shutdown`` tells the alerter to take no new alert, and hands the send under way to the
bot's background tasks, which ``Bot.aclose`` gives 10 s to finish (``aclose`` here does the
same). A send cut off after that, or by a crash, is safe too: its alert is given back (or
its lease runs out) and the next start looks in the channel before sending it again.

    scheduling = BotScheduler(bot=bot, engine=Engine(config, store=store, client=http))
    scheduling.register()   # the scheduler need not be started: jobs are only added
    scheduling.start()      # on the running event loop
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import logging
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import sqlite_utils
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from baton.probes.config import Config, DigestSchedule
from baton.probes.health.alerts import load_state
from baton.probes.health.schedule import (
    DEFAULT_MISFIRE_GRACE_S,
    ScheduledRun,
    ScheduleSpec,
    claim_slot,
    last_slot,
    pause_state,
    register_schedules,
    set_paused,
    specs_from_config,
)
from baton.probes.model import RunResult
from baton.probes.store import RunRow
from baton.probes.store.snoozes import active_snooze

from ._engine import EngineLike
from .blocks import replies
from .blocks import schedule as schedule_replies
from .blocks.run import Message
from .blocks.schedule import ScheduleRow
from .reporter import new_error_id

if TYPE_CHECKING:
    from .app import Bot

log = logging.getLogger("bot.schedule")

TICK_JOB = "baton-tick"
DEFAULT_TICK_S = 5.0


def digest_key(spec: DigestSchedule) -> str:
    """A stable name for a digest's slots: the same in every process with the same config."""
    what = repr((spec.channel, spec.cron, spec.timezone, spec.period_s, spec.workflows))
    return "digest:" + hashlib.sha256(what.encode()).hexdigest()[:12]


def digest_job_id(spec: DigestSchedule) -> str:
    """The APScheduler job id of a digest: ``baton-digest:<key>``."""
    return "baton-" + digest_key(spec)


# -- the commands: schedule, pause, resume -------------------------------------------------------


def spec_of(config: Config, workflow: str) -> ScheduleSpec | None:
    """A workflow's schedule (``workflows.<name>.schedule``), if it has one."""
    return next((s for s in specs_from_config(config) if s.workflow == workflow), None)


def alert_channel(config: Config, workflow: str) -> str | None:
    """Where a workflow's alerts go: its schedule's channel, else ``slack.default_channel``."""
    spec = spec_of(config, workflow)
    return (spec.channel if spec else None) or config.slack.default_channel


def list_schedules(
    config: Config, db: sqlite_utils.Database, now: float, command: str = "/baton"
) -> Message:
    """``/baton schedule``: every scheduled workflow, its next run, paused or not, and its
    alert snooze in force."""
    rows = schedule_rows(specs_from_config(config), db, now)
    return schedule_replies.schedule_list(rows, now, command)


def pause_or_resume(
    config: Config,
    db: sqlite_utils.Database,
    workflow: str,
    *,
    paused: bool,
    user: str,
    at: float,
    now: float,
    command: str = "/baton",
) -> tuple[Message, bool]:
    """``/baton pause|resume WORKFLOW`` (the allowlist was checked): what to say, and
    whether the schedule changed. Kept in the store: it wins over the config, also after a
    restart and in every process. ``at``: the store's clock; ``now``: the one people read."""
    spec = spec_of(config, workflow)
    if spec is None:
        problem = f"{workflow} has no schedule: add `schedule:` to it in the config"
        return replies.problem(problem, command), False
    set_paused(db, workflow, paused, now=at, by=user)
    log.info("%s %s the schedule of %s", user, "paused" if paused else "resumed", workflow)
    if paused:
        return schedule_replies.paused(spec, user, command), True
    return schedule_replies.resumed(spec, user, spec.next_slot(now), now), True


def schedule_rows(
    specs: list[ScheduleSpec], db: sqlite_utils.Database, now: float
) -> list[ScheduleRow]:
    """What ``/baton schedule`` (and the App Home) shows of each spec, read from the store:
    paused or not, the next and last slot, the alert state and the snooze in force."""
    rows = []
    for spec in specs:
        paused, _ = pause_state(db, spec)
        rows.append(
            ScheduleRow(
                spec=spec,
                paused=paused,
                next_ts=None if paused else spec.next_slot(now),
                last_ts=last_slot(db, spec.workflow),
                alert_status=load_state(db, spec.workflow).status,
                snooze=active_snooze(db, spec.workflow, now),
            )
        )
    return rows


class BotScheduler:
    """The scheduler of ``baton serve``; see the module docstring."""

    def __init__(
        self,
        *,
        bot: Bot,
        engine: EngineLike,
        scheduler: AsyncIOScheduler | None = None,
        clock: Callable[[], float] = time.time,
        tick_every_s: float = DEFAULT_TICK_S,
        owner: str | None = None,
    ) -> None:
        self.bot = bot
        self.engine = engine
        self.scheduler = scheduler or AsyncIOScheduler(timezone=dt.UTC)
        self.clock = clock
        self.tick_every_s = tick_every_s
        self.owner = owner or uuid.uuid4().hex
        self.specs = specs_from_config(bot.config)
        self.db = bot.store.db
        self._alerting: asyncio.Task[int] | None = None

    # -- jobs ------------------------------------------------------------------------------

    def register(self) -> list[str]:
        """Add every job (see the module docstring); return their ids."""
        for spec in self.specs:
            if spec.channel is None:
                log.warning(
                    "the schedule of %s has no channel: its alerts are only logged; set "
                    "workflows.%s.schedule.channel or slack.default_channel",
                    spec.workflow,
                    spec.workflow,
                )
        ids = register_schedules(
            self.scheduler,
            self.specs,
            self.start_run,
            db=self.db,
            clock=self.clock,
            owner=self.owner,
        )
        common: dict[str, Any] = {
            "coalesce": True,
            "max_instances": 1,
            "misfire_grace_time": DEFAULT_MISFIRE_GRACE_S,
            "replace_existing": True,
        }
        for digest in self.bot.config.slack.digests:
            job = digest_job_id(digest)
            self.scheduler.add_job(
                self.post_digest,
                trigger=digest.trigger(),
                id=job,
                name=f"digest to {digest.channel} {digest.cron!r} ({digest.timezone})",
                kwargs={"spec": digest},
                **common,
            )
            ids.append(job)
        self.scheduler.add_job(
            self.tick,
            trigger=IntervalTrigger(seconds=self.tick_every_s, timezone=dt.UTC),
            id=TICK_JOB,
            name=f"advance active probe runs every {self.tick_every_s:g}s",
            **common,
        )
        ids.append(TICK_JOB)
        return ids

    def start(self) -> None:
        """Start the scheduler on the running event loop (after ``register``).

        Scheduled runs a previous process left active are adopted first: the tick finishes
        them, and their results go to alerting like any other.
        """
        for run in self.engine.store.active_runs():
            self._note_if_scheduled(run)
        self.scheduler.start()

    def shutdown(self) -> None:
        """Stop firing jobs; a run already started stays in the store, ticked on next start.

        Alerting takes no new alert; a send under way goes on as one of the bot's background
        tasks (``Bot.aclose`` waits for those, bounded)."""
        self.bot.alerts.close()
        task = self._alerting
        if task is not None and not task.done():
            self.bot.spawn(_finish(task))
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    async def aclose(self, timeout_s: float = 10.0) -> None:
        """``shutdown``, then wait up to ``timeout_s`` for a send under way; one still going
        then is cancelled (its alert is given back, to be looked for before it is resent)."""
        self.shutdown()
        task = self._alerting
        if task is not None and not task.done():
            await asyncio.wait({task}, timeout=timeout_s)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- a slot ----------------------------------------------------------------------------

    async def start_run(self, slot: ScheduledRun) -> str | None:
        """A claimed slot: start its run and return (the tick job watches it)."""
        origin = {
            "schedule": {"slot_ts": slot.slot_ts, "slot_index": slot.slot_index},
            "channel": slot.channel,
        }
        try:
            run_id = await self.engine.start(slot.workflow, slot.variant, origin=origin)
        except Exception:
            log.exception(
                "%s: could not start the scheduled probe of %s", new_error_id(), slot.workflow
            )
            return None
        self.bot.store.remember_scheduled(
            run_id=run_id, workflow=slot.workflow, channel=slot.channel, slot_ts=slot.slot_ts
        )
        log.info("scheduled probe of %s started: run %s", slot.workflow, run_id)
        return run_id

    async def post_digest(self, spec: DigestSchedule) -> str | None:
        """A digest's slot: claim it (once across processes), then post the digest."""
        now, key = self.clock(), digest_key(spec)
        slot = ScheduleSpec(key, cron=spec.cron, timezone=spec.timezone).latest_slot(now)
        if slot is None or not claim_slot(self.db, key, slot, owner=self.owner, now=now):
            return None
        try:
            return await self.bot.digests.scheduled(spec)
        except Exception:
            log.exception("%s: the digest to %s failed", new_error_id(), spec.channel)
            return None

    # -- the tick --------------------------------------------------------------------------

    async def tick(self) -> list[RunResult]:
        """Advance every active run one step, then alert on finished scheduled runs."""
        try:
            finished = await self.engine.tick()
        except Exception:
            log.exception("%s: engine tick failed; trying again next tick", new_error_id())
            finished = []
        for result in finished:
            run = self.engine.store.run(result.run_id)
            if run is not None:
                self._note_if_scheduled(run)
        if finished:
            self.bot.refresh_home()  # debounced: one publish however many ended
        if self.bot.alerts.closing:
            return finished
        if self._alerting is None or self._alerting.done():
            self._alerting = asyncio.create_task(self.observe_finished())
        try:
            # Not awaited directly: a stop cancels the tick, not the send; and a long pass
            # (many alerts, paced) goes on while the next ticks advance the runs.
            await asyncio.wait({self._alerting}, timeout=self.tick_every_s / 2)
        except asyncio.CancelledError:
            if not self.bot.alerts.closing:
                raise
            # shutdown() cancelled this job: the send goes on as a background task
        return finished

    def _note_if_scheduled(self, run: RunRow) -> None:
        """A run's origin says whether a schedule started it (perhaps in a process that
        stopped before noting it in ``bot_scheduled_runs``)."""
        origin = run.get("origin") or {}
        if isinstance(origin, dict) and isinstance(origin.get("schedule"), dict):
            self.bot.store.remember_scheduled(
                run_id=str(run["id"]),
                workflow=str(run["workflow"]),
                channel=origin.get("channel"),
                slot_ts=origin["schedule"].get("slot_ts"),
            )

    async def observe_finished(self) -> int:
        """Hand every finished, not yet observed scheduled run to alerting, then send every
        alert that is due (in order per workflow, channels in parallel); how many observed."""
        observed = 0
        for row in self.bot.store.unobserved():
            result = self.engine.store.get_result(row.run_id)
            if result is None or not self.bot.store.claim_observation(row.run_id):
                continue
            try:
                self.bot.alerts.record(row, result)
            except Exception:
                log.exception("%s: alerting on run %s failed", new_error_id(), row.run_id)
            observed += 1
        try:
            await self.bot.alerts.deliver_due()
        except Exception:
            log.exception("%s: delivering alerts failed; trying again next tick", new_error_id())
        return observed


async def _finish(task: asyncio.Task[Any]) -> None:
    """Wait for ``task``; cancelled (by ``Bot.aclose`` after its timeout), cancel it too."""
    await task


__all__ = [
    "TICK_JOB",
    "BotScheduler",
    "alert_channel",
    "digest_job_id",
    "digest_key",
    "list_schedules",
    "pause_or_resume",
    "schedule_rows",
    "spec_of",
]
