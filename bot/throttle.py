"""Coalescing, rate-limited updates of one Slack message.

Slack allows roughly one ``chat.update`` per second per message before it answers 429. A
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


__all__ = ["Coalescer"]
