"""Pacing what Baton sends to Slack: per channel, and per message.

Slack allows ``chat.postMessage`` about one message a second per channel, with short bursts
(its rate-limit docs); past that it answers 429 with ``Retry-After``. Every post, update and
file share goes through one ``ChannelPacer`` (held by ``SlackApi``, shared with alerting), so
a run's thread, an alert and a digest in the same channel queue behind one another instead
of tripping the limit, and a 429 holds the whole channel for its ``Retry-After``.

    pacer = ChannelPacer(per_s=1.0, burst=4)
    await pacer.wait("C123")            # at once for a burst, then about one a second
    pacer.hold("C123", 30)              # Slack said Retry-After: 30

Slack also allows roughly one ``chat.update`` per second per message before it answers 429. A
probe run can settle several stages within a second, so updates of the parent message go
through a ``Coalescer``: the first goes out at once; later ones within ``interval_s`` wait,
and while they wait only the newest survives (older ones are stale anyway).

    updates = Coalescer(send=lambda m: api.update(channel, ts, m), interval_s=1.0)
    updates.push(progress_message)      # returns at once
    await updates.close(final_message)  # sent after the interval; waits for it
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class ChannelPacer:
    """About ``per_s`` messages a second per channel (Slack allows chat.postMessage about
    one a second per channel), after a burst of ``burst``; a 429 holds the channel for its
    ``Retry-After``. ``per_s=None``: no pacing."""

    def __init__(
        self,
        *,
        per_s: float | None = 1.0,
        burst: int = 4,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self.per_s = per_s
        self.burst = burst
        self.clock = clock
        self.sleep = sleep
        self._tat: dict[str, float] = {}  # per channel: when the next message is "due"

    async def wait(self, channel: str) -> None:
        """Wait for the channel's next slot (taken now, so concurrent callers queue)."""
        if not self.per_s:
            return
        now = self.clock()
        tat = max(self._tat.get(channel, now), now)
        wait = tat - (self.burst - 1) / self.per_s - now
        self._tat[channel] = tat + 1 / self.per_s
        if wait > 0:
            await self.sleep(wait)

    def hold(self, channel: str, seconds: float) -> None:
        """Nothing to ``channel`` for ``seconds`` (Slack said Retry-After)."""
        if not self.per_s:
            return
        now = self.clock()
        free = now + seconds + (self.burst - 1) / self.per_s
        self._tat[channel] = max(self._tat.get(channel, now), free)


class Coalescer(Generic[T]):
    """At most one ``send`` per ``interval_s``; the newest pending item wins."""

    def __init__(
        self,
        *,
        send: Callable[[T], Awaitable[Any]],
        interval_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self._send = send
        self.interval_s = interval_s
        self._clock = clock
        self._sleep = sleep
        self._pending: T | None = None
        self._has_pending = False
        self._last_sent: float | None = None
        self._task: asyncio.Task[None] | None = None
        self.sent = 0
        self.dropped = 0

    def push(self, item: T) -> None:
        """Queue ``item``, replacing any item not yet sent."""
        if self._has_pending:
            self.dropped += 1
        self._pending, self._has_pending = item, True
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain())

    async def close(self, item: T | None = None) -> None:
        """Queue a last ``item`` (if given) and wait until everything queued is sent."""
        if item is not None:
            self.push(item)
        while self._task is not None and not self._task.done():
            await self._task

    def cancel(self) -> None:
        """Drop whatever is queued (shutting down)."""
        self._pending, self._has_pending = None, False
        if self._task is not None:
            self._task.cancel()

    async def _drain(self) -> None:
        while self._has_pending:
            if self._last_sent is not None:
                wait = self._last_sent + self.interval_s - self._clock()
                if wait > 0:
                    await self._sleep(wait)
            item = self._pending
            self._pending, self._has_pending = None, False
            self._last_sent = self._clock()
            await self._send(item)  # type: ignore[arg-type]
            self.sent += 1


__all__ = ["ChannelPacer", "Coalescer"]
