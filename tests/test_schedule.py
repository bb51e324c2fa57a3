"""Schedules: slots, claiming across processes, pause, restart coalescing, registration."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from types import SimpleNamespace

import pytest
import sqlite_utils
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from baton.probes.health.schedule import (
    ScheduledRun,
    ScheduleSpec,
    claim_slot,
    fire_slot,
    missed_slot,
    pause_state,
    register_schedules,
    set_paused,
    slot_index,
    spec_from_config,
    specs_from_config,
)
from baton.probes.store import Store


def ts(*args: int) -> float:
    return dt.datetime(*args, tzinfo=dt.UTC).timestamp()  # type: ignore[misc]


T = ts(2026, 1, 6, 12, 7, 30)
EVERY_15 = ScheduleSpec("lead", cron="*/15 * * * *", channel="C1", variants=("card", "paypal"))


class Calls:
    def __init__(self) -> None:
        self.runs: list[ScheduledRun] = []

    async def __call__(self, run: ScheduledRun) -> None:
        self.runs.append(run)


@pytest.fixture
def two_processes(tmp_path: Path) -> tuple[sqlite_utils.Database, sqlite_utils.Database]:
    """Two Store instances (two connections) on one SQLite file, like two processes."""
    path = tmp_path / "baton.db"
    return Store(sqlite_utils.Database(path)).db, Store(sqlite_utils.Database(path)).db


@pytest.mark.parametrize(
    ("spec", "now", "latest", "next_"),
    [
        pytest.param(EVERY_15, T, ts(2026, 1, 6, 12, 0), ts(2026, 1, 6, 12, 15), id="cron"),
        pytest.param(
            EVERY_15,
            ts(2026, 1, 6, 12, 15),
            ts(2026, 1, 6, 12, 15),
            ts(2026, 1, 6, 12, 15),
            id="cron-on-the-slot",
        ),
        pytest.param(
            ScheduleSpec("x", every_s=600),
            T,
            ts(2026, 1, 6, 12, 0),
            ts(2026, 1, 6, 12, 10),
            id="interval-anchored-at-epoch",
        ),
        pytest.param(
            ScheduleSpec("x", cron="0 3 1 * *"),
            T,
            ts(2026, 1, 1, 3),
            ts(2026, 2, 1, 3),
            id="monthly",
        ),
        pytest.param(
            ScheduleSpec("x", cron="0 9 * * *", timezone="America/New_York"),
            T,
            ts(2026, 1, 5, 14),
            ts(2026, 1, 6, 14),
            id="time-zone",
        ),
    ],
)
def test_slots(spec: ScheduleSpec, now: float, latest: float, next_: float) -> None:
    assert spec.latest_slot(now) == latest
    assert spec.next_slot(now) == next_


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({}, "either cron or every", id="neither"),
        pytest.param({"cron": "* * * * *", "every_s": 60}, "either cron or every", id="both"),
        pytest.param({"every_s": 0}, "more than 0s", id="zero"),
        pytest.param({"cron": "*/15 * * *"}, "it has 4 fields, not five", id="bad-cron"),
        pytest.param({"every_s": 60, "timezone": "Nowhere/Land"}, "unknown time zone", id="tz"),
    ],
)
def test_bad_specs(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ScheduleSpec("x", **kwargs)  # type: ignore[arg-type]


def test_describe() -> None:
    assert EVERY_15.describe() == "cron '*/15 * * * *' (UTC)"
    assert ScheduleSpec("x", every_s=900).describe() == "every 15m"
    assert ScheduleSpec("x", every_s=90).describe() == "every 90s"


def test_a_slot_is_claimed_once_across_processes(
    two_processes: tuple[sqlite_utils.Database, ...],
) -> None:
    one, two = two_processes
    assert claim_slot(one, "lead", 1000.0, owner="one")
    assert not claim_slot(two, "lead", 1000.0, owner="two")
    assert not claim_slot(one, "lead", 1000.0, owner="one")
    assert claim_slot(two, "lead", 1900.0)
    assert claim_slot(one, "other", 1000.0)  # per workflow
    assert [slot_index(one, "lead", s) for s in (1000.0, 1900.0, 2800.0)] == [0, 1, None]


def test_fire_slot_runs_each_slot_once_and_rotates_variants(
    two_processes: tuple[sqlite_utils.Database, ...],
) -> None:
    one, two = two_processes
    calls = Calls()

    async def fire_all() -> None:
        for minute in (0, 15, 30, 45):
            now = ts(2026, 1, 6, 12, minute, 2)
            for db in (one, two, one):
                await fire_slot(db, EVERY_15, calls, clock=lambda now=now: now)

    asyncio.run(fire_all())
    assert [(r.slot_ts, r.slot_index, r.variant, r.channel) for r in calls.runs] == [
        (ts(2026, 1, 6, 12, 0), 0, "card", "C1"),
        (ts(2026, 1, 6, 12, 15), 1, "paypal", "C1"),
        (ts(2026, 1, 6, 12, 30), 2, "card", "C1"),
        (ts(2026, 1, 6, 12, 45), 3, "paypal", "C1"),
    ]


def test_pause_is_kept_and_shared(two_processes: tuple[sqlite_utils.Database, ...]) -> None:
    one, two = two_processes
    calls = Calls()
    set_paused(one, "lead", True, now=T, by="U1")
    assert pause_state(two, EVERY_15) == (True, T)
    assert asyncio.run(fire_slot(two, EVERY_15, calls, clock=lambda: T)) is None
    set_paused(two, "lead", False, now=T + 1)
    assert asyncio.run(fire_slot(one, EVERY_15, calls, clock=lambda: T + 2)) is not None
    assert len(calls.runs) == 1
    # the config's flag counts only until someone pauses or resumes
    assert pause_state(one, ScheduleSpec("new", every_s=60, paused=True)) == (True, None)


def test_restart_runs_only_the_latest_missed_slot(
    two_processes: tuple[sqlite_utils.Database, ...],
) -> None:
    one, two = two_processes
    calls = Calls()
    ran_at = ts(2026, 1, 6, 12, 0)
    asyncio.run(fire_slot(one, EVERY_15, calls, clock=lambda: ran_at + 1))
    restart = ts(2026, 1, 6, 14, 20)  # down for 2 hours: 8 slots missed
    assert missed_slot(one, EVERY_15, restart) == ts(2026, 1, 6, 14, 15)

    jobs: dict[str, list[object]] = {}
    for name, db in (("one", one), ("two", two)):  # both processes restart at once
        scheduler = AsyncIOScheduler(timezone=dt.UTC)
        register_schedules(scheduler, [EVERY_15], calls, db=db, clock=lambda: restart)
        jobs[name] = scheduler.get_jobs()

    async def run_catch_ups() -> None:
        for name in ("one", "two"):
            job = next(j for j in jobs[name] if j.id.endswith(":catch-up"))  # type: ignore[attr-defined]
            await job.func(**job.kwargs)  # type: ignore[attr-defined]
        main = next(j for j in jobs["one"] if j.id == "baton-probe:lead")  # type: ignore[attr-defined]
        await main.func(**main.kwargs)  # the regular job for the same slot: already claimed

    asyncio.run(run_catch_ups())
    assert [r.slot_ts for r in calls.runs] == [ran_at, ts(2026, 1, 6, 14, 15)]
    assert missed_slot(one, EVERY_15, restart) is None


@pytest.mark.parametrize(
    ("history", "expected"),
    [
        pytest.param("never-ran", None, id="first-start-runs-nothing"),
        pytest.param("paused", None, id="paused"),
        pytest.param("resumed-after-last-slot", None, id="resumed-recently"),
        pytest.param("ran-long-ago", ts(2026, 1, 6, 12, 0), id="ran-before"),
    ],
)
def test_missed_slot(history: str, expected: float | None) -> None:
    db = Store(sqlite_utils.Database(memory=True)).db
    if history != "never-ran":
        claim_slot(db, "lead", ts(2026, 1, 5, 9, 0))
    if history == "paused":
        set_paused(db, "lead", True, now=ts(2026, 1, 5, 10))
    if history == "resumed-after-last-slot":
        set_paused(db, "lead", False, now=ts(2026, 1, 6, 12, 5))
    assert missed_slot(db, EVERY_15, T) == expected


def test_registration_with_a_scheduler_that_is_not_started() -> None:
    db = Store(sqlite_utils.Database(memory=True)).db
    scheduler = AsyncIOScheduler(timezone=dt.UTC)
    hourly = ScheduleSpec("billing", every_s=3600)
    ids = register_schedules(
        scheduler, [EVERY_15, hourly], Calls(), db=db, clock=lambda: T, misfire_grace_s=120
    )
    assert ids == ["baton-probe:lead", "baton-probe:billing"]  # no history: no catch-up
    assert not scheduler.running
    jobs = {j.id: j for j in scheduler.get_jobs()}
    assert set(jobs) == set(ids)
    for job in jobs.values():
        assert (job.coalesce, job.max_instances, job.misfire_grace_time) == (True, 1, 120)
        assert job.func is fire_slot
        assert job.kwargs["db"] is db
    assert isinstance(jobs["baton-probe:lead"].trigger, CronTrigger)
    assert isinstance(jobs["baton-probe:billing"].trigger, IntervalTrigger)
    assert jobs["baton-probe:billing"].kwargs["spec"] is hourly
    # registering again replaces the jobs instead of doubling them
    claim_slot(db, "lead", ts(2026, 1, 6, 9, 0))
    register_schedules(scheduler, [EVERY_15], Calls(), db=db, clock=lambda: T)
    jobs = {j.id: j for j in scheduler.get_jobs()}
    assert sorted(jobs) == ["baton-probe:billing", "baton-probe:lead", "baton-probe:lead:catch-up"]
    catch_up = jobs["baton-probe:lead:catch-up"]
    assert isinstance(catch_up.trigger, DateTrigger)
    assert catch_up.kwargs["slot_ts"] == ts(2026, 1, 6, 12, 0)


def test_specs_from_config() -> None:
    spec = ScheduleSpec("a", every_s=60)
    config = SimpleNamespace(
        workflows={
            "c": SimpleNamespace(schedule={"cron": "0 * * * *", "variants": ["x"], "paused": True}),
            "b": SimpleNamespace(),
            "a": SimpleNamespace(schedule=spec),
            "d": SimpleNamespace(schedule=SimpleNamespace(every=300, channel="C9")),
        }
    )
    assert specs_from_config(config) == [
        spec,
        ScheduleSpec("c", cron="0 * * * *", variants=("x",), paused=True),
        ScheduleSpec("d", every_s=300.0, channel="C9"),
    ]
    assert spec_from_config("b", SimpleNamespace()) is None


def test_cron_weekdays_count_as_in_crontab() -> None:
    """APScheduler counts weekdays from Monday=0; crontab from Sunday=0, so 1 is Monday."""
    import datetime as dt

    spec = ScheduleSpec("wf", cron="0 9 * * 1")
    after = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)  # a Wednesday
    fire = spec.trigger().get_next_fire_time(None, after)
    assert (fire.strftime("%A"), fire.hour) == ("Monday", 9)
