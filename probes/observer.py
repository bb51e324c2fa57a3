"""One observation loop (and one cleanup loop) per tool, shared by every probe run in flight.

A probe run does not ask a tool about its record by itself. Each stage that wants a look
hands it to its tool's ``Observer``, which gathers the looks of every run waiting on that
tool and asks the vendor in as few requests as its API allows (``Connector.observe_batch``,
up to ``Connector.max_batch`` looks per call): one HubSpot batch read for a hundred emails,
one Stripe list for every invoice created in the window, one SendGrid query for every
recipient in flight. Cleanups go the same way through the tool's ``Remover``
(``Connector.cleanup_batch``): one HubSpot batch archive for a hundred contacts.

    observer = Observer(connector, sleep=asyncio.sleep)
    records = await observer.look(Look(record, stage, since=t0), priority=deadline_ts)

Fair order: when more items wait than one call takes, the oldest deadline goes first. A
batch is sent only when the tool's rate limiter has a request to spare, so items keep
gathering while the limit holds them back, and a rate limit is shared by every run.
Backoff, ``Retry-After`` and transport retries stay where they were, in the connector's
``ToolHttp``: a batch that fails gives every item in it the same ``ConnectorError``.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import dataclasses
import heapq
import itertools
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from .connectors import Connector, Look, ObservedRecord, Removal
from .connectors._http import CLEANING
from .errors import ApiError, ConnectorError

#: How long a batch waits for more items to join it once the first one arrived. A tool
#: whose records carry their own time stamps can wait longer: the wait costs no accuracy.
#: The longer waits apply only while the loop is busy (items keep coming); an item alone
#: (one ``baton run``) waits no more than ``COALESCE_S``.
COALESCE_S = 0.01
STAMPED_COALESCE_S = 1.0
CLEANUP_COALESCE_S = 2.0
#: Items asked for within this many seconds of each other make a loop busy.
BUSY_WINDOW_S = 2.0
#: Batches of one tool in flight at once (each still paced by the tool's rate limit).
MAX_IN_FLIGHT = 4

#: True inside an observation batch: lets an HTTP hook tell observation requests from the
#: rest (benchmarks count reads per observed stage with it).
OBSERVING: contextvars.ContextVar[bool] = contextvars.ContextVar("baton_observing", default=False)

Item = TypeVar("Item")
Result = TypeVar("Result")


@dataclass(order=True)
class _Waiting(Generic[Item, Result]):
    priority: float
    seq: int
    item: Item = field(compare=False)
    future: asyncio.Future[Result | ConnectorError] = field(compare=False)
    #: When its batch was formed (the loop's clock): what the answer is as of.
    formed_at: float = field(default=0.0, compare=False)


@dataclass
class LoopStats:
    """What one loop did: items asked for, batches sent, the largest batch."""

    items: int = 0
    batches: int = 0
    largest_batch: int = 0

    @property
    def looks(self) -> int:  # the observer's items are looks
        return self.items


class BatchLoop(Generic[Item, Result]):
    """Gathers items for one tool from every run and hands them to ``call`` in batches."""

    def __init__(
        self,
        connector: Connector,
        call: Callable[[Sequence[Item]], Awaitable[list[Result | ConnectorError]]],
        *,
        max_batch: int,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        coalesce_s: float = COALESCE_S,
        max_in_flight: int = MAX_IN_FLIGHT,
        marks: contextvars.ContextVar[bool] | None = None,
        paced: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.connector = connector
        self.call = call
        self.sleep = sleep
        self.clock = clock
        self.coalesce_s = coalesce_s
        self.max_in_flight = max(1, max_in_flight)
        self.max_batch = max(1, max_batch)
        self.marks = marks
        #: Wait for the tool's rate limiter before forming a batch (items gather meanwhile).
        self.paced = paced
        self.stats = LoopStats()
        self._queue: list[_Waiting[Item, Result]] = []
        self._seq = itertools.count()
        self._dispatcher: asyncio.Task[None] | None = None
        self._batches: set[asyncio.Task[None]] = set()
        self._slots: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._asked: collections.deque[float] = collections.deque(maxlen=2)

    def _coalesce(self) -> float:
        """The full coalescing wait while items keep coming, else the shortest."""
        busy = len(self._asked) == 2 and self._asked[1] - self._asked[0] <= BUSY_WINDOW_S
        return self.coalesce_s if busy else min(self.coalesce_s, COALESCE_S)

    async def ask(self, item: Item, *, priority: float = 0.0) -> Result:
        """``item``'s answer; raises the ``ConnectorError`` of its batch. Lower ``priority``
        goes first (the engine passes the stage's deadline)."""
        return (await self.ask_timed(item, priority=priority))[0]

    def prepare(self, item: Item, formed_at: float) -> Item:
        """The item as its batch sends it (a hook: the observer stamps looks)."""
        return item

    async def ask_timed(self, item: Item, *, priority: float = 0.0) -> tuple[Result, float]:
        """``item``'s answer and when its batch was formed (what the answer is as of)."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a new event loop (tests, a restarted bot): start afresh
            self._loop, self._queue, self._dispatcher, self._batches = loop, [], None, set()
            self._slots = asyncio.Semaphore(self.max_in_flight)
        future: asyncio.Future[Result | ConnectorError] = loop.create_future()
        waiting = _Waiting(priority, next(self._seq), item, future)
        heapq.heappush(self._queue, waiting)
        self.stats.items += 1
        self._asked.append(loop.time())
        if self._dispatcher is None or self._dispatcher.done():
            self._dispatcher = loop.create_task(self._dispatch())
        result = await future  # cancelling the caller cancels the future: it is skipped
        if isinstance(result, ConnectorError):
            raise result
        return result, waiting.formed_at

    async def _dispatch(self) -> None:
        slots = self._slots
        assert slots is not None
        while self._queue:
            await self.sleep(self._coalesce())
            await slots.acquire()
            wait = _ready_in(self.connector) if self.paced else 0.0
            if wait > 0:  # the rate limit holds: let more items gather meanwhile
                await self.sleep(wait)
            batch = self._take()
            if not batch:
                slots.release()
                continue
            task = asyncio.get_running_loop().create_task(self._serve(batch, slots))
            self._batches.add(task)
            task.add_done_callback(self._batches.discard)
            # Let the batch take its rate-limit token before the next one is formed.
            await asyncio.sleep(0)

    def _take(self) -> list[_Waiting[Item, Result]]:
        batch: list[_Waiting[Item, Result]] = []
        now = self.clock()
        while self._queue and len(batch) < self.max_batch:
            waiting = heapq.heappop(self._queue)
            if not waiting.future.done():
                waiting.formed_at = now
                waiting.item = self.prepare(waiting.item, now)
                batch.append(waiting)
        return batch

    async def _serve(self, batch: list[_Waiting[Item, Result]], slots: asyncio.Semaphore) -> None:
        if self.marks is not None:
            self.marks.set(True)  # this task's own context
        self.stats.batches += 1
        self.stats.largest_batch = max(self.stats.largest_batch, len(batch))
        results: list[Result | ConnectorError]
        try:
            results = await self.call([w.item for w in batch])
            if len(results) != len(batch):
                name = self.connector.name
                error = ApiError(
                    f"{name}: the connector answered {len(results)} of {len(batch)} items",
                    tool=name,
                )
                results = [error] * len(batch)
        except ConnectorError as exc:
            results = [exc] * len(batch)
        except Exception as exc:  # a connector bug must not leave its runs waiting forever
            for waiting in batch:
                if not waiting.future.done():
                    waiting.future.set_exception(exc)
            return
        finally:
            slots.release()
        for waiting, result in zip(batch, results, strict=True):
            if not waiting.future.done():
                waiting.future.set_result(result)


class Observer(BatchLoop[Look, list[ObservedRecord]]):
    """The looks at one tool from every run, answered with ``observe_batch``."""

    def __init__(
        self,
        connector: Connector,
        *,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        coalesce_s: float | None = None,
        max_in_flight: int = MAX_IN_FLIGHT,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if coalesce_s is None:
            stamped = getattr(connector, "stamps_arrival", False)
            coalesce_s = STAMPED_COALESCE_S if stamped else COALESCE_S
        super().__init__(
            connector,
            connector.observe_batch,
            max_batch=int(getattr(connector, "max_batch", 1) or 1),
            sleep=sleep,
            coalesce_s=coalesce_s,
            max_in_flight=max_in_flight,
            marks=OBSERVING,
            clock=clock,
        )

    async def look(self, look: Look, *, priority: float = 0.0) -> list[ObservedRecord]:
        """The records the tool holds for ``look``."""
        return await self.ask(look, priority=priority)

    async def look_timed(
        self, look: Look, *, priority: float = 0.0
    ) -> tuple[list[ObservedRecord], float]:
        """The records, and when the batch that asked for them was formed."""
        return await self.ask_timed(look, priority=priority)

    def prepare(self, item: Look, formed_at: float) -> Look:
        """A deciding look judges what had settled when its batch is formed."""
        if item.settled_before is None:
            return item
        return dataclasses.replace(item, settled_before=formed_at - item.stage.settle_s)


class Remover(BatchLoop[Removal, int]):
    """The cleanups of every run at one tool, done with ``cleanup_batch``."""

    def __init__(
        self,
        connector: Connector,
        *,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        coalesce_s: float = CLEANUP_COALESCE_S,
        max_in_flight: int = 2,
    ) -> None:
        super().__init__(
            connector,
            connector.cleanup_batch,
            max_batch=int(getattr(connector, "max_removals", 1) or 1),
            sleep=sleep,
            coalesce_s=coalesce_s,
            max_in_flight=max_in_flight,
            # Cleanup is not urgent, and an entry's limiter is busy with injections: gather
            # by time alone, and let each request wait at the limiter behind observations.
            paced=False,
            marks=CLEANING,
        )

    async def remove(self, removal: Removal, *, priority: float = 0.0) -> int:
        """Objects removed for ``removal``."""
        return await self.ask(removal, priority=priority)


def _ready_in(connector: Connector) -> float:
    """Seconds until the connector's rate limiter has a request to spare (0: now)."""
    limiter = getattr(getattr(connector, "http", None), "limiter", None)
    if limiter is None:
        return 0.0
    ready_in = getattr(limiter, "ready_in", None)
    return float(ready_in()) if callable(ready_in) else 0.0


ObserverStats = LoopStats

__all__ = ["OBSERVING", "BatchLoop", "LoopStats", "Observer", "ObserverStats", "Remover"]
