"""Scheduled probes without Slack: slot claiming, pause and catch-up (the schedule model,
``ScheduleSpec``, is :mod:`baton.probes.config.slots`).

A schedule fires at *slots*: the fire times of its APScheduler 3 trigger (a crontab
expression, or an interval anchored at the Unix epoch so every process computes the same
slots). Before a slot runs it is claimed in ``schedule_slots`` (``INSERT OR IGNORE`` on
``(workflow, slot_ts)``), so two processes sharing a store never run the same slot twice.
Each claimed slot gets the next ``slot_index`` of its workflow, and slot ``n`` probes
``variants[n % len(variants)]``. Pause and resume are kept in ``schedule_state`` and win over
the config's ``paused`` flag. On start, :func:`register_schedules` runs only the *latest*
missed slot of each schedule (coalesced, never a burst) and only for schedules that ran
before.

    spec = ScheduleSpec("lead-to-invoice", cron="*/15 * * * *", variants=("card", "paypal"))
    scheduler = AsyncIOScheduler()
    register_schedules(scheduler, [spec], run_probe, db=store.db)
    scheduler.start()

    async def run_probe(slot: ScheduledRun) -> None:   # the bot's callback
        result = await engine.run(slot.workflow, slot.variant, origin={"schedule": ...})
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from ..config.slots import ScheduleSpec, as_utc
from ..store.slots import (
    claim_slot,
    last_slot,
    pause_state,
    set_paused,
    slot_index,
)

RunCallback = Callable[["ScheduledRun"], Awaitable[Any]]
#: How late (seconds) a slot may still start when the process was busy or briefly down.
DEFAULT_MISFIRE_GRACE_S = 300


@dataclass(frozen=True)
class ScheduledRun:
    """One claimed slot, handed to the run callback."""

    workflow: str
    slot_ts: float
    slot_index: int
    variant: str | None
    channel: str | None


def missed_slot(db: sqlite_utils.Database, spec: ScheduleSpec, now: float) -> float | None:
    """The latest slot that passed unclaimed while no process ran (only one: coalesced).

    ``None`` when the schedule never ran here before, is paused, or missed nothing since it
    last ran or was resumed.
    """
    paused, changed = pause_state(db, spec)
    last = last_slot(db, spec.workflow)
    latest = spec.latest_slot(now)
    if paused or last is None or latest is None:
        return None
    return latest if latest > max(last, changed or last) else None


async def fire_slot(
    db: sqlite_utils.Database,
    spec: ScheduleSpec,
    run_callback: RunCallback,
    *,
    clock: Callable[[], float] = time.time,
    slot_ts: float | None = None,
    owner: str = "",
) -> ScheduledRun | None:
    """Run the slot due now (or ``slot_ts``) unless paused or claimed elsewhere."""
    now = clock()
    slot = spec.latest_slot(now) if slot_ts is None else slot_ts
    if slot is None or pause_state(db, spec)[0]:
        return None
    if not claim_slot(db, spec.workflow, slot, owner=owner, now=now):
        return None
    index = slot_index(db, spec.workflow, slot) or 0
    run = ScheduledRun(spec.workflow, slot, index, spec.variant_for(index), spec.channel)
    await run_callback(run)
    return run


def job_id(workflow: str) -> str:
    return f"baton-probe:{workflow}"


def register_schedules(
    scheduler: Any,
    specs: list[ScheduleSpec],
    run_callback: RunCallback,
    *,
    db: sqlite_utils.Database,
    clock: Callable[[], float] = time.time,
    misfire_grace_s: int = DEFAULT_MISFIRE_GRACE_S,
    owner: str | None = None,
) -> list[str]:
    """Add one APScheduler job per schedule (plus a one-off catch-up job for the latest
    missed slot, if any); return the job ids. The scheduler need not be started.

    Jobs coalesce (a backlog fires once), never overlap (``max_instances=1``) and may start
    up to ``misfire_grace_s`` late; slot claiming makes them safe in several processes.
    """
    owner = owner or uuid.uuid4().hex
    now = clock()
    ids = []
    for spec in specs:
        common: dict[str, Any] = {
            "coalesce": True,
            "max_instances": 1,
            "misfire_grace_time": misfire_grace_s,
            "replace_existing": True,
        }
        kwargs = {"db": db, "spec": spec, "run_callback": run_callback, "clock": clock}
        scheduler.add_job(
            fire_slot,
            trigger=spec.trigger(),
            id=job_id(spec.workflow),
            name=f"probe {spec.workflow} {spec.describe()}",
            kwargs={**kwargs, "owner": owner},
            **common,
        )
        ids.append(job_id(spec.workflow))
        missed = missed_slot(db, spec, now)
        if missed is not None:
            catch_up = job_id(spec.workflow) + ":catch-up"
            scheduler.add_job(
                fire_slot,
                trigger="date",
                run_date=as_utc(now),
                id=catch_up,
                name=f"probe {spec.workflow}: the missed slot {as_utc(missed).isoformat()}",
                kwargs={**kwargs, "owner": owner, "slot_ts": missed},
                **common,
            )
            ids.append(catch_up)
    return ids


def spec_from_config(name: str, workflow: Any) -> ScheduleSpec | None:
    """The schedule of a config workflow: ``workflow.schedule`` as a ScheduleSpec, a mapping
    (keys cron, every / every_s, channel, variants, paused, timezone) or an object with
    those attributes; ``None`` when it has none."""
    raw = getattr(workflow, "schedule", None)
    if raw is None or isinstance(raw, ScheduleSpec):
        return raw

    def get(key: str, default: Any = None) -> Any:
        if isinstance(raw, Mapping):
            return raw.get(key, default)
        return getattr(raw, key, default)

    every = get("every_s", get("every"))
    return ScheduleSpec(
        workflow=name,
        cron=get("cron"),
        every_s=float(every) if every is not None else None,
        channel=get("channel"),
        variants=tuple(get("variants") or ()),
        paused=bool(get("paused", False)),
        timezone=get("timezone") or "UTC",
    )


def specs_from_config(config: Any) -> list[ScheduleSpec]:
    """Every workflow schedule in a config, by workflow name."""
    specs = (spec_from_config(n, wf) for n, wf in sorted(config.workflows.items()))
    return [s for s in specs if s is not None]


__all__ = [
    "ScheduleSpec",
    "ScheduledRun",
    "claim_slot",
    "fire_slot",
    "last_slot",
    "missed_slot",
    "pause_state",
    "register_schedules",
    "set_paused",
    "slot_index",
    "spec_from_config",
    "specs_from_config",
]
