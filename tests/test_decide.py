"""The stage decision, as a pure function: one case per branch, no engine, no clock."""

from __future__ import annotations

import pytest

from baton.probes.diagnosis.decide import (
    Absent,
    Failed,
    Judge,
    Missing,
    Outcome,
    Seen,
    Stage,
    Unreachable,
    Wait,
    decide,
)

S = Stage(deadline_ts=30.0, grace_ts=40.0, settle_s=3.0)
ABSENT = Stage(deadline_ts=30.0, grace_ts=40.0, settle_s=3.0, absent=True, stamped=True)
NOTHING = Seen(count=0)


@pytest.mark.parametrize(
    ("stage", "look", "kw", "expected"),
    [
        # A failed look: again until the end, at once when it cannot mend.
        (S, Failed(), {"now": 10.0}, Wait(limit=40.0)),
        (S, Failed(), {"now": 41.0}, Unreachable()),
        (S, Failed(lasting=True), {"now": 10.0}, Unreachable()),
        (S, Failed(), {"now": 10.0, "final": True}, Unreachable()),
        (ABSENT, Failed(), {"now": 10.0}, Wait(limit=30.0)),  # absent: ends at the deadline
        # Must stay away: found is a leak to judge; not found until the deadline is right.
        (ABSENT, Seen(count=1, start=5.0), {"now": 10.0}, Judge()),
        (ABSENT, NOTHING, {"now": 10.0}, Wait(limit=30.0, floor=1.0)),
        (ABSENT, NOTHING, {"now": 30.0}, Absent()),
        (ABSENT, NOTHING, {"now": 10.0, "final": True}, Absent()),
        # Found: judged once its settle window has passed, on a look that may decide.
        (S, Seen(count=1, start=10.0), {"now": 11.0}, Wait(limit=13.0, floor=2.0)),
        (S, Seen(count=1, start=10.0), {"now": 13.5, "thorough": True}, Judge()),
        (S, Seen(count=1, start=10.0), {"now": 14.0, "deciding": True, "asked": 13.2}, Judge()),
        (
            S,
            Seen(count=1, start=10.0),
            {"now": 14.0, "deciding": True, "asked": 12.0},
            Wait(limit=13.0, floor=-1.0),
        ),
        (S, Seen(count=2, start=10.0), {"now": 11.0, "final": True}, Judge()),
        # Seen before, gone now: wait out the settle window.
        (Stage(30.0, 40.0, 3.0, seen_from=20.0), NOTHING, {"now": 21.0}, Wait(limit=23.0)),
        (
            Stage(30.0, 40.0, 3.0, seen_from=20.0),
            NOTHING,
            {"now": 41.0, "final": True, "thorough": True},
            Missing(),
        ),
        # Never seen: keep looking until the deadline, then the grace; missing at the end.
        (S, NOTHING, {"now": 10.0}, Wait(limit=30.0)),
        (S, NOTHING, {"now": 35.0}, Wait(limit=40.0)),
        (S, NOTHING, {"now": 41.0, "final": True}, Wait(limit=40.0)),  # one thorough look left
        (S, NOTHING, {"now": 41.0, "final": True, "thorough": True}, Missing()),
    ],
)
def test_decide(
    stage: Stage, look: Seen | Failed, kw: dict[str, object], expected: Outcome
) -> None:
    assert decide(stage, look, **kw) == expected  # type: ignore[arg-type]
