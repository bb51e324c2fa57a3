"""Quiet hours and maintenance windows: parsing, midnight spans, weekly days, DST."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from baton.probes.config.windows import WindowSyntaxError, parse_window, parse_zone

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")


def at(*args: int, tz: dt.tzinfo = LONDON) -> float:
    return dt.datetime(*args, tzinfo=tz).timestamp()  # type: ignore[misc]


@pytest.mark.parametrize(
    ("spec", "now", "until"),
    [
        pytest.param("22:00-07:00", at(2026, 1, 5, 23, 0), at(2026, 1, 6, 7, 0), id="night-late"),
        pytest.param("22:00-07:00", at(2026, 1, 6, 6, 59), at(2026, 1, 6, 7, 0), id="night-early"),
        pytest.param("22:00-07:00", at(2026, 1, 6, 7, 0), None, id="night-ends-at-end"),
        pytest.param("22:00-07:00", at(2026, 1, 6, 21, 59), None, id="night-not-yet"),
        pytest.param("09:00-17:00", at(2026, 1, 6, 12, 0), at(2026, 1, 6, 17, 0), id="day"),
        pytest.param("09:00-17:00", at(2026, 1, 6, 17, 0), None, id="day-over"),
        pytest.param("Sun 02:00-04:00", at(2026, 1, 4, 3, 0), at(2026, 1, 4, 4, 0), id="sunday"),
        pytest.param("Sun 02:00-04:00", at(2026, 1, 5, 3, 0), None, id="not-monday"),
        pytest.param(
            "Sun 23:00-01:00", at(2026, 1, 5, 0, 30), at(2026, 1, 5, 1, 0), id="sun-into-mon"
        ),
        pytest.param("Sun 23:00-01:00", at(2026, 1, 4, 0, 30), None, id="not-sat-into-sun"),
        pytest.param(
            "Mon,Thursday 01:00-02:00", at(2026, 1, 8, 1, 30), at(2026, 1, 8, 2, 0), id="list"
        ),
        pytest.param("daily 03:00-03:30", at(2026, 1, 7, 3, 10), at(2026, 1, 7, 3, 30), id="daily"),
        pytest.param(
            "2026-03-01T02:00/2026-03-01T06:00",
            at(2026, 3, 1, 5, 0),
            at(2026, 3, 1, 6, 0),
            id="absolute-local",
        ),
        pytest.param(
            "2026-03-01T02:00/2026-03-01T06:00", at(2026, 3, 1, 6, 0), None, id="absolute-over"
        ),
        pytest.param(
            "2026-03-01T02:00+00:00/2026-03-01T06:00+00:00",
            at(2026, 3, 1, 0, 0, tz=NEW_YORK),  # 05:00 UTC
            at(2026, 3, 1, 6, 0, tz=dt.UTC),
            id="absolute-offsets",
        ),
        # DST starts in London on Sunday 29 March 2026: 07:00 BST is 06:00 UTC
        pytest.param(
            "22:00-07:00",
            at(2026, 3, 28, 23, 0),
            at(2026, 3, 29, 6, 0, tz=dt.UTC),
            id="dst-spring-forward",
        ),
    ],
)
def test_active_until(spec: str, now: float, until: float | None) -> None:
    assert parse_window(spec).active_until(now, LONDON) == until


def test_same_clock_time_in_another_zone() -> None:
    window = parse_window("22:00-07:00")
    assert window.active_until(at(2026, 1, 6, 2, 0, tz=NEW_YORK), LONDON) is None  # 07:00 there
    assert window.active_until(at(2026, 1, 6, 2, 0, tz=NEW_YORK), NEW_YORK) is not None


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        pytest.param("25:00-07:00", "not a time window; use '22:00-07:00'", id="bad-hour"),
        pytest.param("noon", "not a time window", id="words"),
        pytest.param("07:00-07:00", "starts when it ends", id="empty"),
        pytest.param("Funday 01:00-02:00", "unknown day 'Funday'; use Mon", id="bad-day"),
        pytest.param("2026-03-01T06:00/2026-03-01T02:00", "ends before it starts", id="backwards"),
        pytest.param("2026-03-01T02:00+00:00/2026-03-01T06:00", "both ends", id="one-offset"),
        pytest.param("2026-13-01T02:00/2026-13-01T06:00", "not an ISO 8601 interval", id="iso"),
    ],
)
def test_bad_windows(spec: str, message: str) -> None:
    with pytest.raises(WindowSyntaxError, match=message.replace("(", r"\(")):
        parse_window(spec)


def test_bad_zone() -> None:
    with pytest.raises(WindowSyntaxError, match="unknown time zone 'Mars/Olympus'"):
        parse_zone("Mars/Olympus")
