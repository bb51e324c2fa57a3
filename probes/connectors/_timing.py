"""When a request really left, apart from the time it waited in Baton.

The engine needs to know when the entry accepted the record (the seam clocks downstream
start there) and how long the record waited in Baton before it was sent (rate limits):
that wait is Baton's own delay and is never counted in any seam.

    with RequestTiming.collect() as timing:
        await connector.inject(record, stage)
    timing.queued_s, timing.answered_at

``ToolHttp`` notes every attempt in the timing of the current task, if one is collecting.
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

_CURRENT: contextvars.ContextVar[RequestTiming | None] = contextvars.ContextVar(
    "baton_request_timing", default=None
)


@dataclass
class RequestTiming:
    """Seconds spent queued (rate limiter) and when the last answer came back."""

    clock: Callable[[], float] = time.time
    queued_s: float = 0.0
    sent_at: float | None = None
    answered_at: float | None = None
    attempts: int = 0

    @classmethod
    @contextlib.contextmanager
    def collect(cls, clock: Callable[[], float] = time.time) -> Iterator[RequestTiming]:
        timing = cls(clock=clock)
        token = _CURRENT.set(timing)
        try:
            yield timing
        finally:
            _CURRENT.reset(token)


def current() -> RequestTiming | None:
    return _CURRENT.get()


def note_queued(seconds: float) -> None:
    timing = _CURRENT.get()
    if timing is not None:
        timing.queued_s += max(0.0, seconds)


def note_sent() -> None:
    timing = _CURRENT.get()
    if timing is not None:
        timing.sent_at = timing.clock()
        timing.attempts += 1


def note_answered() -> None:
    timing = _CURRENT.get()
    if timing is not None:
        timing.answered_at = timing.clock()
