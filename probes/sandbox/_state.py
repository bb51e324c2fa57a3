"""The sandbox's memory: one table per vendor object, a lagging search view, the request log
(the newest ``request_log_size`` requests) and a request counter per tool and route.

Everything here is touched only from the sandbox's event loop thread.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import random
import string
import time
from collections import deque
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any

from .faults import FaultPlan

Obj = dict[str, Any]

#: Versions kept per object for the lagging search view.
_MAX_VERSIONS = 16
#: Requests the log keeps by default (the newest ones); counters count every request.
REQUEST_LOG_SIZE = 2000


class Table:
    """Objects of one kind by id, in creation order, with a search view that lags.

    Every ``put`` and ``remove`` is a new version; ``indexed(lag)`` shows each object as
    it was ``lag`` seconds ago (or not at all), as an eventually consistent search index
    would. Reads by id (``get``) are immediately consistent.
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._rows: dict[str, Obj] = {}
        self._versions: dict[str, list[tuple[float, Obj | None]]] = {}

    def put(self, obj: Obj) -> Obj:
        oid = str(obj["id"])
        self._rows[oid] = obj
        self._remember(oid, copy.deepcopy(obj))
        return obj

    def remove(self, oid: str) -> Obj | None:
        obj = self._rows.pop(oid, None)
        if obj is not None:
            self._remember(oid, None)
        return obj

    def get(self, oid: str) -> Obj | None:
        return self._rows.get(oid)

    def __iter__(self) -> Iterator[Obj]:
        return iter(list(self._rows.values()))

    def __len__(self) -> int:
        return len(self._rows)

    def indexed(self, lag: float) -> list[Obj]:
        """What search shows now: each object's newest version at least ``lag`` s old."""
        horizon = self._clock() - lag
        out: list[Obj] = []
        for versions in self._versions.values():
            seen = [obj for at, obj in versions if at <= horizon]
            if seen and seen[-1] is not None:
                out.append(seen[-1])
        return out

    def clear(self) -> None:
        self._rows.clear()
        self._versions.clear()

    def _remember(self, oid: str, snapshot: Obj | None) -> None:
        versions = self._versions.setdefault(oid, [])
        versions.append((self._clock(), snapshot))
        del versions[:-_MAX_VERSIONS]


@dataclass
class GlueRun:
    """One run of the glue automation, for ``/_sandbox/state`` and debugging."""

    id: str
    source: str  # "glue" or "hsforms"
    email: str
    received_at: float
    steps: dict[str, str] = field(default_factory=dict)
    done: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "source": self.source,
            "email": self.email,
            "received_at": self.received_at,
            "steps": dict(self.steps),
            "done": self.done,
        }


class SandboxState:
    """All stand-ins' data, the active faults, the request log and the glue's work."""

    def __init__(
        self,
        *,
        faults: FaultPlan,
        search_lag_s: float,
        glue_delay_s: tuple[float, float],
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        request_log_size: int = REQUEST_LOG_SIZE,
    ) -> None:
        self.faults = faults
        self.search_lag_s = search_lag_s
        self.glue_delay_s = glue_delay_s
        self.clock = clock
        self.wall = wall
        self.rng = random.Random(faults.seed)
        self.contacts = Table(clock)
        self.messages = Table(clock)
        self.customers = Table(clock)
        self.invoices = Table(clock)
        self.invoiceitems = Table(clock)
        #: Stripe keeps a stub of a deleted customer: retrieving it says ``deleted: true``.
        self.deleted_customers: set[str] = set()
        self.requests: deque[dict[str, Any]] = deque(maxlen=request_log_size)
        #: ``{tool: {"METHOD /route/{template}": n}}``: every request, however answered.
        self.request_counts: dict[str, dict[str, int]] = {}
        self.glue_runs: deque[GlueRun] = deque(maxlen=500)
        #: When the glue stored each record in a tool, by the sandbox's own clock
        #: (``{"tool", "email", "at"}``): the truth benchmarks time Baton against.
        self.created: deque[dict[str, Any]] = deque(maxlen=100_000)
        self.tasks: set[asyncio.Task[None]] = set()
        # Ids keep counting across resets, so an id never means two objects.
        self._numbers = itertools.count(1001)

    # Ids ----------------------------------------------------------------------------------
    def next_number(self) -> int:
        return next(self._numbers)

    def token(self, n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
        return "".join(self.rng.choice(alphabet) for _ in range(n))

    # Faults ---------------------------------------------------------------------------
    def lag(self, tool: str) -> float:
        """Search / activity lag of ``tool`` in seconds (a ``lag@tool`` fault wins)."""
        return self.faults.lag(tool, self.search_lag_s)

    def set_faults(self, plan: FaultPlan) -> None:
        self.faults = plan

    # Background work ----------------------------------------------------------------------
    def spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def cancel_tasks(self) -> None:
        tasks = list(self.tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    # Requests -------------------------------------------------------------------------
    def count_request(self, tool: str, route: str) -> None:
        per_tool = self.request_counts.setdefault(tool, {})
        per_tool[route] = per_tool.get(route, 0) + 1

    def route_counts(self) -> dict[str, dict[str, int]]:
        """A copy of the request counters: ``{tool: {route: n}}``."""
        return {tool: dict(routes) for tool, routes in self.request_counts.items()}

    # Control ------------------------------------------------------------------------------
    async def reset(self) -> None:
        """Cancel the glue's pending work, then ``clear``."""
        await self.cancel_tasks()
        self.clear()

    def clear(self) -> None:
        """Forget every object, logged and counted request and glue run (faults stay)."""
        for table in (
            self.contacts,
            self.messages,
            self.customers,
            self.invoices,
            self.invoiceitems,
        ):
            table.clear()
        self.created.clear()
        self.deleted_customers.clear()
        self.requests.clear()
        self.request_counts.clear()
        self.glue_runs.clear()
        self.faults.reset_counters()

    def counts(self) -> dict[str, Any]:
        contacts = list(self.contacts)
        return {
            "hubspot": {
                "contacts": sum(1 for c in contacts if not c["archived"]),
                "archived": sum(1 for c in contacts if c["archived"]),
            },
            "sendgrid": {"messages": len(self.messages)},
            "stripe": {
                "customers": len(self.customers),
                "deleted_customers": len(self.deleted_customers),
                "invoices": len(self.invoices),
                "invoiceitems": len(self.invoiceitems),
            },
            "glue": {
                "runs": len(self.glue_runs),
                "pending": len(self.tasks),
            },
            "requests": len(self.requests),
        }

    def snapshot(self) -> dict[str, Any]:
        """Counts, faults and the latest glue runs: ``GET /_sandbox/state``."""
        return {
            "counts": self.counts(),
            "faults": self.faults.specs,
            "seed": self.faults.seed,
            "search_lag_s": self.search_lag_s,
            "glue_runs": [run.to_json() for run in list(self.glue_runs)[-50:]],
        }
