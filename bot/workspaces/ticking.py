"""One tick for the process (``slack.oauth``): every active run stepped once per interval,
however many workspaces are installed.

Each installed workspace has a ``BotScheduler`` of its own (its slots, its digests, its
alerts, with its token), but the runs are in one store. Were each scheduler's tick to step
the engine, N workspaces would step every run N times an interval, and their engines (each
its own lease owner) would take the runs from one another. So ``SharedTick`` steps the
engine alone, once an interval, and hands each finished run to the workspaces that asked for
its workflow (a ``TickShare``). A workspace scheduler's engine reads its share instead of
stepping (``ScopedEngine(..., share=share)``): its tick job then only notes its scheduled
results and sends its alerts.

    shared = SharedTick(Engine(config, store=store, client=http), every_s=5.0)
    share = shared.join(team_config.workflows)      # one per workspace scheduler
    task = asyncio.create_task(shared.run(stop))    # until ``stop`` is set
    shared.leave(share)                             # the workspace's scheduler stopped

``WorkspaceSchedulers`` is that wiring for ``serve_workspaces``: a scheduler per workspace
bot, its engine reading a share of the one tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Collection
from typing import TYPE_CHECKING

from baton.probes.model import RunResult

from .._engine import EngineLike
from ..reporter import new_error_id
from ..scheduler import DEFAULT_TICK_S, BotScheduler
from .scope import ScopedEngine

if TYPE_CHECKING:
    from ..app import Bot

log = logging.getLogger("bot.ticking")

#: Results a share keeps for a scheduler that stopped reading them (they only note runs a
#: schedule started, which the scheduler noted when it started them: the oldest may go).
SHARE_LIMIT = 1000


class TickShare:
    """The finished runs of some workflows, from the shared tick, until taken."""

    def __init__(self, workflows: Collection[str], limit: int = SHARE_LIMIT) -> None:
        self.workflows = frozenset(workflows)
        self._results: deque[RunResult] = deque(maxlen=limit)

    def put(self, results: Collection[RunResult]) -> None:
        self._results.extend(r for r in results if r.workflow in self.workflows)

    def take(self) -> list[RunResult]:
        """What finished since the last ``take``, oldest first."""
        taken = list(self._results)
        self._results.clear()
        return taken

    def __len__(self) -> int:
        return len(self._results)


class SharedTick:
    """The process's one tick; see the module docstring."""

    def __init__(self, engine: EngineLike, *, every_s: float = DEFAULT_TICK_S) -> None:
        self.engine = engine
        self.every_s = every_s
        #: How many ticks stepped the engine (one an interval).
        self.ticks = 0
        self._shares: list[TickShare] = []

    @property
    def shares(self) -> int:
        return len(self._shares)

    def join(self, workflows: Collection[str]) -> TickShare:
        share = TickShare(workflows)
        self._shares.append(share)
        return share

    def leave(self, share: TickShare) -> None:
        with contextlib.suppress(ValueError):
            self._shares.remove(share)

    async def tick(self) -> list[RunResult]:
        """Step every active run once; hand what finished to each share."""
        try:
            finished = await self.engine.tick()
        except Exception:
            log.exception("%s: engine tick failed; trying again next tick", new_error_id())
            finished = []
        self.ticks += 1
        for share in self._shares:
            share.put(finished)
        return finished

    async def run(self, stop: asyncio.Event) -> None:
        """Tick every ``every_s`` (counted from the start of a tick) until ``stop``."""
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            began = loop.time()
            await self.tick()
            wait = max(0.0, self.every_s - (loop.time() - began))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=wait)


class WorkspaceSchedulers:
    """A ``BotScheduler`` per workspace bot (its slots, digests and alerts), over the one
    ``SharedTick``: ``add`` is ``Workspaces(on_bot=...)``; ``remove`` a reinstalled one."""

    def __init__(self, shared: SharedTick) -> None:
        self.shared = shared
        self.by_team: dict[str, tuple[BotScheduler, TickShare]] = {}

    def add(self, team: str, bot: Bot) -> BotScheduler:
        self.remove(team)
        workflows = bot.config.workflows
        share = self.shared.join(workflows)
        scheduling = BotScheduler(
            bot=bot,
            # Starts its slots' runs with the ticking engine (its lease owner), steps none.
            engine=ScopedEngine(self.shared.engine, workflows, share=share),
            tick_every_s=self.shared.every_s,
        )
        scheduling.register()
        scheduling.start()
        self.by_team[team] = (scheduling, share)
        return scheduling

    def remove(self, team: str) -> None:
        entry = self.by_team.pop(team, None)
        if entry is not None:
            scheduling, share = entry
            scheduling.shutdown()
            self.shared.leave(share)

    def shutdown(self) -> None:
        for team in list(self.by_team):
            self.remove(team)


__all__ = ["SHARE_LIMIT", "SharedTick", "TickShare", "WorkspaceSchedulers"]
