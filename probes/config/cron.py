"""Crontab expressions as people write them, read by APScheduler 3 with the same meaning.

APScheduler 3's ``CronTrigger.from_crontab`` numbers weekdays from Monday (0 = Monday,
6 = Sunday) while crontab numbers them from Sunday (0 or 7 = Sunday, 1 = Monday): read as
is, ``0 9 * * 1`` would fire on Tuesdays. Numeric weekdays are therefore rewritten as names,
which both read alike::

    >>> standard_crontab("0 9 * * 1-5")
    '0 9 * * mon-fri'
    >>> standard_crontab("0 9 * * 0,6")
    '0 9 * * sat-sun'
    >>> standard_crontab("*/15 * * * *")
    '*/15 * * * *'

A day of month together with a weekday is refused: crontab fires when *either* matches,
APScheduler only when both do.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from apscheduler.triggers.cron import CronTrigger

from .windows import parse_zone

#: crontab's weekday numbers: 0 (and 7) is Sunday.
_CRON_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
#: APScheduler's order (Monday first), the order names are written back in.
_ORDER = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_ITEM = re.compile(r"^(\*|[a-z0-9]+)(?:-([a-z0-9]+))?(?:/(\d+))?$")


def standard_crontab(expr: str) -> str:
    """``expr`` with numeric weekdays written as names; raises ``ValueError`` (with a reason
    people can act on) for a weekday it cannot read or a day of month with a weekday.

    """
    fields = expr.split()
    if len(fields) != 5:
        raise ValueError(
            f"it has {len(fields)} field{'s' if len(fields) != 1 else ''}, not five "
            "(minute hour day-of-month month weekday, e.g. '*/15 * * * *' or '0 9 * * mon')"
        )
    day, weekday = fields[2], fields[4].lower()
    if day != "*" and weekday != "*":
        raise ValueError(
            "it restricts both the day of month and the weekday; give one of them "
            "(crontab runs when either matches, the scheduler only when both do)"
        )
    if any(c.isdigit() for c in weekday):
        fields[4] = _names(_weekdays(weekday))
    return " ".join(fields)


def cron_trigger(expr: str, timezone: str = "UTC") -> Any:
    """The APScheduler trigger of a crontab expression in ``timezone`` (crontab's weekdays).

    Raises ``ValueError`` for a bad expression or time zone.
    """
    return CronTrigger.from_crontab(standard_crontab(expr), timezone=parse_zone(timezone))


def check_crontab(expr: str, timezone: str = "UTC") -> None:
    """Raise ``ValueError`` unless ``expr`` fires at least once (in the next 5 years)."""
    trigger = cron_trigger(expr, timezone)
    now = dt.datetime.now(parse_zone(timezone))
    fire = trigger.get_next_fire_time(None, now)
    if fire is None or fire > now + dt.timedelta(days=5 * 366):
        raise ValueError("it never fires (a date that does not exist, such as 31 February?)")


def _weekdays(field: str) -> set[int]:
    """crontab day numbers (0 = Sunday) of a weekday field such as ``1-5``, ``*/2``, ``0,6``."""
    days: set[int] = set()
    for item in field.split(","):
        match = _ITEM.match(item)
        if not match:
            raise ValueError(f"cannot read the weekday {item!r}; use 0-7 or sun-sat")
        first, last, step = match.groups()
        if first == "*":
            if last is not None:
                raise ValueError(f"cannot read the weekday {item!r}; use 0-7 or sun-sat")
            low, high = 0, 6
        else:
            low = _day(first)
            high = _day(last) if last is not None else (7 if step else low)
        if low > high:
            raise ValueError(f"the weekday range {item!r} runs backwards; write e.g. 'fri-sun'")
        every = int(step) if step else 1
        if every < 1:
            raise ValueError(f"the weekday step in {item!r} must be 1 or more")
        days.update(d % 7 for d in range(low, high + 1, every))
    return days


def _day(text: str) -> int:
    if text.isdigit() and int(text) <= 7:
        return int(text)
    if text in _CRON_DAYS:
        return _CRON_DAYS.index(text)
    raise ValueError(f"cannot read the weekday {text!r}; use 0-7 (0 or 7 is Sunday) or sun-sat")


def _names(days: set[int]) -> str:
    """Day numbers as APScheduler names, consecutive days (Monday first) as ranges."""
    order = sorted(_ORDER.index(_CRON_DAYS[d]) for d in days)
    parts: list[str] = []
    start = prev = order[0]
    for index in [*order[1:], None]:
        if index is not None and index == prev + 1:
            prev = index
            continue
        parts.append(_ORDER[start] if start == prev else f"{_ORDER[start]}-{_ORDER[prev]}")
        if index is not None:
            start = prev = index
    return ",".join(parts)
