"""What one workspace sees (``slack.oauth``): its config, and views of the engine and the
run store that show its workflows' runs alone.

    config_a = for_workspace(config, "T0A")             # its workflows, and its digests
    engine_a = ScopedEngine(engine, config_a.workflows)  # starts and shows those alone
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any

from baton.probes.config import Config
from baton.probes.config.messages import shown
from baton.probes.errors import UsageError
from baton.probes.model import RunResult
from baton.probes.store import RunRow

from .._engine import EngineLike, ProgressCallback, StoreLike

if TYPE_CHECKING:
    from .ticking import TickShare


def for_workspace(config: Config, team: str, *, shared: bool = False) -> Config:
    """The config that workspace ``team`` sees: its workflows (with ``shared``, also those
    naming no workspace), and the digests about those alone."""
    workflows = {
        name: wf
        for name, wf in config.workflows.items()
        if wf.workspace == team or (shared and wf.workspace is None)
    }
    digests = [
        d
        for d in config.slack.digests
        if (d.workflows and all(name in workflows for name in d.workflows))
        # a digest of "every workflow" is one workspace's only when there is one workspace
        or (not d.workflows and shared)
    ]
    slack = dataclasses.replace(config.slack, digests=digests)
    return dataclasses.replace(config, workflows=workflows, slack=slack)


class ScopedResults:
    """The run store, seen from one workspace: runs of its workflows only."""

    def __init__(self, store: StoreLike, workflows: Collection[str]) -> None:
        self.inner = store
        self.workflows = frozenset(workflows)

    def get_result(self, run_id: str) -> RunResult | None:
        result = self.inner.get_result(run_id)
        return result if result is not None and result.workflow in self.workflows else None

    def recent_runs(self, workflow: str | None = None, limit: int = 20) -> list[RunResult]:
        if workflow is not None:
            return self.inner.recent_runs(workflow, limit) if workflow in self.workflows else []
        runs = self.inner.recent_runs(None, limit * 10)
        return [r for r in runs if r.workflow in self.workflows][:limit]

    def last_verdicts(self) -> dict[str, RunResult]:
        return {k: v for k, v in self.inner.last_verdicts().items() if k in self.workflows}

    def active_runs(self) -> list[RunRow]:
        return [r for r in self.inner.active_runs() if r["workflow"] in self.workflows]

    def run(self, run_id: str) -> RunRow | None:
        row = self.inner.run(run_id)
        return row if row is not None and row["workflow"] in self.workflows else None


class ScopedEngine:
    """An engine whose store shows one workspace's runs (see ``ScopedResults``).

    With a ``share`` of the process's one tick (``baton.bot.workspaces.ticking``), ``tick`` steps no
    run: it returns this workspace's runs that the shared tick finished since last asked."""

    def __init__(
        self, engine: EngineLike, workflows: Collection[str], *, share: TickShare | None = None
    ) -> None:
        self.inner = engine
        self.share = share
        self._store = ScopedResults(engine.store, workflows)

    @property
    def store(self) -> ScopedResults:
        return self._store

    async def start(
        self,
        workflow: str,
        variant: str | None = None,
        overrides: Mapping[str, Any] | None = None,
        *,
        origin: Mapping[str, Any] | None = None,
    ) -> str:
        if workflow not in self._store.workflows:
            # Said as for a name no config has: another workspace's names stay unknown here.
            raise UsageError(f"unknown workflow {shown(workflow)}")
        return await self.inner.start(workflow, variant, overrides, origin=origin)

    async def finish(
        self, run_id: str, *, on_progress: ProgressCallback | None = None
    ) -> RunResult:
        return await self.inner.finish(run_id, on_progress=on_progress)

    async def tick(self) -> list[RunResult]:
        if self.share is not None:
            return self.share.take()
        return await self.inner.tick()

    async def resume_interrupted(self) -> list[RunResult]:
        return await self.inner.resume_interrupted()

    async def cleanup_pending(self) -> int:
        return await self.inner.cleanup_pending()


def workspaces_of(config: Config) -> list[str]:
    """The team IDs the config's workflows name, sorted."""
    return sorted({wf.workspace for wf in config.workflows.values() if wf.workspace})


__all__ = ["ScopedEngine", "ScopedResults", "for_workspace", "workspaces_of"]
