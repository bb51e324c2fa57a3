"""When a schedule fires: the schedule model and its slots, pure (no store, no scheduler).

A schedule fires at *slots*: the fire times of its APScheduler 3 trigger (a crontab
expression, or an interval anchored at the Unix epoch, so every process computes the same
slots). ``baton.probes.health.schedule`` claims slots in the store and registers the jobs.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from apscheduler.triggers.interval import IntervalTrigger

from .cron import cron_trigger
from .messages import span
from .windows import parse_zone

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
#: How far back :meth:`ScheduleSpec.latest_slot` looks, widening until a slot is found.
_LOOKBACK_S = (120, 7_200, 86_400, 8 * 86_400, 32 * 86_400, 367 * 86_400, 5 * 366 * 86_400)


@dataclass(frozen=True)
class ScheduleSpec:
    """When to probe one workflow (config: ``workflows.<name>.schedule``).

    Exactly one of ``cron`` (five crontab fields, in ``timezone``) or ``every_s``.
    ``variants`` rotate per slot; an empty tuple probes the default record.

    >>> ScheduleSpec("wf", every_s=900, variants=("a", "b")).variant_for(3)
    'b'
    """

    workflow: str
    cron: str | None = None
    every_s: float | None = None
    channel: str | None = None
    variants: tuple[str | None, ...] = ()
    paused: bool = False
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        if (self.cron is None) == (self.every_s is None):
            raise ValueError(f"schedule of {self.workflow}: give either cron or every, not both")
        if self.every_s is not None and self.every_s <= 0:
            raise ValueError(f"schedule of {self.workflow}: every must be more than 0s")
        self.trigger()  # raises ValueError on a bad crontab or time zone

    def trigger(self) -> Any:
        """The APScheduler 3 trigger (CronTrigger or epoch-anchored IntervalTrigger)."""
        tz = parse_zone(self.timezone)
        if self.cron is not None:
            return cron_trigger(self.cron, self.timezone)  # crontab weekdays: 1 is Monday
        return IntervalTrigger(seconds=self.every_s or 0, start_date=EPOCH, timezone=tz)

    def describe(self) -> str:
        """``cron '*/15 * * * *' (UTC)`` or ``every 15m``."""
        if self.cron is not None:
            return f"cron {self.cron!r} ({self.timezone})"
        return f"every {span(self.every_s or 0)}"

    def next_slot(self, now: float) -> float | None:
        """The first slot at or after ``now``."""
        fire = self.trigger().get_next_fire_time(None, as_utc(now))
        return None if fire is None else _slot_ts(fire)

    def latest_slot(self, now: float) -> float | None:
        """The newest slot at or before ``now`` (``None`` if there is none in five years)."""
        trigger = self.trigger()
        for back in _LOOKBACK_S:
            fire = trigger.get_next_fire_time(None, as_utc(now - back))
            if fire is None or _slot_ts(fire) > now:
                continue
            latest = fire
            while True:
                nxt = trigger.get_next_fire_time(None, latest + dt.timedelta(microseconds=1))
                if nxt is None or _slot_ts(nxt) > now:
                    return _slot_ts(latest)
                latest = nxt
        return None

    def variant_for(self, slot_index: int) -> str | None:
        return self.variants[slot_index % len(self.variants)] if self.variants else None


def as_utc(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, dt.UTC)


def _slot_ts(fire: dt.datetime) -> float:
    return norm_ts(fire.timestamp())


def norm_ts(ts: float) -> float:
    return round(ts, 3)


__all__ = ["EPOCH", "ScheduleSpec", "as_utc", "norm_ts"]
