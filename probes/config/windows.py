"""How loud a workflow is: its alert thresholds, and time windows for quiet hours and
maintenance, in its own time zone (``AlertPolicy``; pure, no store).

Three forms, all written in the policy's time zone (``zoneinfo`` names, e.g.
``Europe/London``; DST is handled by ``zoneinfo``):

=====================================  ===================================================
``22:00-07:00``                        every day; a start after the end spans midnight
``Sun 02:00-04:00``                    weekly, on the days named (``Mon`` … ``Sun``,
``Mon,Thu 23:30-00:30``                comma-separated, or ``daily``); the day is the day
                                       the window starts
``2026-03-01T02:00/2026-03-01T06:00``  once, an ISO 8601 interval; a time without an offset
                                       is in the policy's time zone
=====================================  ===================================================

    >>> w = parse_window("22:00-07:00")
    >>> london = ZoneInfo("Europe/London")
    >>> ts = dt.datetime(2026, 1, 5, 23, 0, tzinfo=london).timestamp()
    >>> w.active_until(ts, london) == dt.datetime(2026, 1, 6, 7, 0, tzinfo=london).timestamp()
    True
    >>> w.active_until(ts + 9 * 3600, london) is None
    True
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAY_NAMES = {**{d: i for i, d in enumerate(DAYS)}, **{d[:3]: i for i, d in enumerate(DAYS)}}
_CLOCK = r"([01]?\d|2[0-3]):([0-5]\d)"
_DAILY = re.compile(rf"^{_CLOCK}\s*-\s*{_CLOCK}$")
_WEEKLY = re.compile(rf"^([A-Za-z]+(?:\s*,\s*[A-Za-z]+)*)\s+{_CLOCK}\s*-\s*{_CLOCK}$")
#: A Slack user ID (``U…``, ``W…`` on Enterprise Grid) or user-group ID (``S…``).
MENTION_ID = re.compile(r"^[UWS][A-Z0-9]{2,20}$")
EXAMPLES = "'22:00-07:00', 'Sun 02:00-04:00' or '2026-03-01T02:00/2026-03-01T06:00'"


class WindowSyntaxError(ValueError):
    """A window or time zone Baton cannot read; the message says what it expected."""


@dataclass(frozen=True)
class Window:
    """One parsed window: daily or weekly (``start``/``end`` clock times), or absolute."""

    spec: str
    days: frozenset[int] | None = None  # weekdays (0 = Monday) it starts on; None: every day
    start: dt.time | None = None
    end: dt.time | None = None
    start_at: dt.datetime | None = None  # absolute windows (naive: policy time zone)
    end_at: dt.datetime | None = None

    def active_until(self, now: float, tz: dt.tzinfo) -> float | None:
        """When the window that holds ``now`` ends (a timestamp); ``None`` if not in one."""
        if self.start_at is not None and self.end_at is not None:
            start, end = _aware(self.start_at, tz), _aware(self.end_at, tz)
            return end.timestamp() if start.timestamp() <= now < end.timestamp() else None
        assert self.start is not None and self.end is not None
        local = dt.datetime.fromtimestamp(now, tz)
        today, clock = local.date(), local.time().replace(tzinfo=None)
        if self.start < self.end:
            if self._starts_on(today) and self.start <= clock < self.end:
                return _at(today, self.end, tz)
            return None
        if clock >= self.start and self._starts_on(today):
            return _at(today + dt.timedelta(days=1), self.end, tz)
        if clock < self.end and self._starts_on(today - dt.timedelta(days=1)):
            return _at(today, self.end, tz)
        return None

    def _starts_on(self, day: dt.date) -> bool:
        return self.days is None or day.weekday() in self.days


def parse_window(spec: str) -> Window:
    """Read one window; raises :class:`WindowSyntaxError` naming the accepted forms.

    >>> parse_window("Sun 02:00-04:00").days
    frozenset({6})
    >>> parse_window("25:00-07:00")
    Traceback (most recent call last):
    ...
    baton.probes.config.windows.WindowSyntaxError: '25:00-07:00': not a time window; use ...
    """
    text = spec.strip()
    if "/" in text:
        return _absolute(spec, text)
    days: frozenset[int] | None = None
    match = _DAILY.match(text)
    if match:
        h1, m1, h2, m2 = match.groups()
    else:
        match = _WEEKLY.match(text)
        if not match:
            raise WindowSyntaxError(f"{spec!r}: not a time window; use {EXAMPLES}")
        names, h1, m1, h2, m2 = match.groups()
        days = _days(spec, names)
    start, end = dt.time(int(h1), int(m1)), dt.time(int(h2), int(m2))
    if start == end:
        raise WindowSyntaxError(f"{spec!r}: the window starts when it ends; it would be empty")
    return Window(spec=spec, days=days, start=start, end=end)


def parse_zone(name: str) -> ZoneInfo:
    """A ``zoneinfo`` time zone, or :class:`WindowSyntaxError` naming an example."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise WindowSyntaxError(
            f"unknown time zone {name!r}; use an IANA name such as 'Europe/London' or 'UTC'"
        ) from None


def _days(spec: str, names: str) -> frozenset[int] | None:
    out: set[int] = set()
    for raw in names.split(","):
        name = raw.strip().lower()
        if name == "daily":
            return None
        if name not in _DAY_NAMES:
            raise WindowSyntaxError(
                f"{spec!r}: unknown day {raw.strip()!r}; use Mon, Tue, Wed, Thu, Fri, Sat, Sun "
                "(or the full names), comma-separated, or daily"
            )
        out.add(_DAY_NAMES[name])
    return frozenset(out)


def _absolute(spec: str, text: str) -> Window:
    first, _, second = text.partition("/")
    try:
        start_at = dt.datetime.fromisoformat(first.strip())
        end_at = dt.datetime.fromisoformat(second.strip())
    except ValueError:
        raise WindowSyntaxError(
            f"{spec!r}: not an ISO 8601 interval; use e.g. '2026-03-01T02:00/2026-03-01T06:00'"
        ) from None
    if (start_at.tzinfo is None) != (end_at.tzinfo is None):
        raise WindowSyntaxError(f"{spec!r}: give both ends an offset, or neither")
    if end_at <= start_at:
        raise WindowSyntaxError(f"{spec!r}: the window ends before it starts")
    return Window(spec=spec, start_at=start_at, end_at=end_at)


def _aware(value: dt.datetime, tz: dt.tzinfo) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=tz)


def _at(day: dt.date, clock: dt.time, tz: dt.tzinfo) -> float:
    return dt.datetime.combine(day, clock, tzinfo=tz).timestamp()


@dataclass(frozen=True)
class AlertPolicy:
    """How loud one workflow is (config: ``workflows.<name>.alerts``).

    ``quiet_hours``: one daily window such as ``"22:00-07:00"``; ``maintenance``: windows
    in any form of this module; both in ``timezone``. Invalid values raise
    :class:`WindowSyntaxError` (a ``ValueError``) when the policy is built.
    """

    failures_before_alert: int = 2
    errors_before_alert: int = 2
    timezone: str = "UTC"
    quiet_hours: str | None = None
    maintenance: tuple[str, ...] = ()
    #: Who a new alert mentions: Slack user IDs (``U…``, ``W…``) and user-group IDs (``S…``).
    mention: tuple[str, ...] = ()
    _quiet: Window | None = field(init=False, repr=False, compare=False, default=None)
    _maintenance: tuple[Window, ...] = field(init=False, repr=False, compare=False, default=())

    def __post_init__(self) -> None:
        if self.failures_before_alert < 1 or self.errors_before_alert < 1:
            raise ValueError("failures_before_alert and errors_before_alert must be at least 1")
        parse_zone(self.timezone)
        quiet = parse_window(self.quiet_hours) if self.quiet_hours else None
        object.__setattr__(self, "_quiet", quiet)
        object.__setattr__(self, "_maintenance", tuple(parse_window(m) for m in self.maintenance))
        bad = [m for m in self.mention if not MENTION_ID.match(m)]
        if bad:
            raise ValueError(f"not a Slack user or user-group ID: {bad[0]!r}")

    def maintenance_until(self, now: float) -> tuple[str, float] | None:
        """``(window spec, end timestamp)`` if ``now`` is in a maintenance window."""
        tz = parse_zone(self.timezone)
        for window in self._maintenance:
            end = window.active_until(now, tz)
            if end is not None:
                return window.spec, end
        return None

    def quiet_until(self, now: float) -> float | None:
        """When the quiet hours holding ``now`` end; ``None`` outside quiet hours."""
        if self._quiet is None:
            return None
        return self._quiet.active_until(now, parse_zone(self.timezone))


__all__ = ["MENTION_ID", "AlertPolicy", "Window", "WindowSyntaxError", "parse_window", "parse_zone"]
