"""What to do with a stage after one look at its tool: a pure function of what the engine
knows, in the style of ``alerts.next_state``. Everything around it (the look itself, the
store, waking the stages after it) is the engine's I/O.

    >>> s = Stage(deadline_ts=30.0, grace_ts=40.0, settle_s=3.0)
    >>> decide(s, Seen(count=0), now=10.0)
    Wait(limit=30.0, floor=0.0)
    >>> decide(s, Seen(count=0), now=41.0, final=True, thorough=True)
    Missing()
    >>> decide(s, Seen(count=1, start=10.0), now=14.0, thorough=True)
    Judge()
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Stage:
    """The stage as the decision sees it: its clock and what it expects."""

    deadline_ts: float
    grace_ts: float
    settle_s: float
    #: The record must not show up here (``expect: absent``): finding it is the leak.
    absent: bool = False
    #: The tool stamps arrivals (``Connector.stamps_arrival``): no need to look early.
    stamped: bool = False
    #: When the record was first seen here, before this look (``None``: never).
    seen_from: float | None = None


@dataclass(frozen=True)
class Seen:
    """What the look found: how many copies, and when the record came into being here
    (its arrival, else when Baton first saw it; ``None`` when nothing was found)."""

    count: int
    start: float | None = None


@dataclass(frozen=True)
class Failed:
    """The look failed; ``lasting``: a wrong URL or refused credentials, which asking again
    will not mend."""

    lasting: bool = False


@dataclass(frozen=True)
class Judge:
    """Compare what is there with what is expected (and time it): the stage is decided."""


@dataclass(frozen=True)
class Missing:
    """Decided: the record never arrived, deadline and grace included."""


@dataclass(frozen=True)
class Absent:
    """Decided: the record rightly stayed away until the deadline."""


@dataclass(frozen=True)
class Unreachable:
    """Decided: Baton could not check this stage (never a leak)."""


@dataclass(frozen=True)
class Wait:
    """Look again: before ``limit``, and not before ``floor`` seconds from now."""

    limit: float
    floor: float = 0.0


Outcome = Judge | Missing | Absent | Unreachable | Wait


def decide(
    stage: Stage,
    look: Seen | Failed,
    *,
    now: float,
    final: bool = False,
    thorough: bool = False,
    deciding: bool = False,
    asked: float | None = None,
) -> Outcome:
    """The stage's next step after one look.

    ``final``: this was its last chance (its upstream closed without handing on, or its
    time is up); ``thorough``: the look searched every way the tool allows; ``deciding``: the
    look may settle it; ``asked``: when the look's batch was formed (what it saw was there
    by then).
    """
    end = stage.deadline_ts if stage.absent else stage.grace_ts
    if isinstance(look, Failed):
        if final or now >= end or look.lasting:
            return Unreachable()
        return Wait(limit=end)
    early = 1.0 if stage.stamped else 0.0
    if stage.absent:
        if look.count:
            return Judge()
        if final or now >= stage.deadline_ts:
            return Absent()
        return Wait(limit=stage.deadline_ts, floor=early)
    if look.count:
        start = look.start if look.start is not None else now
        settled = start + stage.settle_s
        if final or (thorough and now >= settled) or (deciding and (asked or 0.0) >= settled):
            return Judge()
        return Wait(limit=settled, floor=settled - now)
    if stage.seen_from is not None and now < stage.seen_from + stage.settle_s:
        # Seen before, gone now (archived by someone, or a flaky search): keep looking
        # until the settle window ends, then judge on what was seen.
        return Wait(limit=stage.seen_from + stage.settle_s)
    if final and thorough:
        return Missing()
    return Wait(limit=stage.deadline_ts if now < stage.deadline_ts else stage.grace_ts, floor=early)


__all__ = [
    "Absent",
    "Failed",
    "Judge",
    "Missing",
    "Outcome",
    "Seen",
    "Stage",
    "Unreachable",
    "Wait",
    "decide",
]
