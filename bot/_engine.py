"""What the bot needs from the engine (``baton.probes.engine.Engine`` and
``baton.probes.store.Store``).

Protocols rather than the classes: the bot depends on a handful of methods, and tests can
hand it a small fake with the same shape.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from baton.probes.model import RunResult, StageResult
from baton.probes.store import RunRow

ProgressCallback = Callable[[StageResult], Awaitable[None]]


class StoreLike(Protocol):
    def get_result(self, run_id: str) -> RunResult | None: ...

    def recent_runs(self, workflow: str | None = None, limit: int = 20) -> list[RunResult]: ...

    def last_verdicts(self) -> dict[str, RunResult]: ...

    def active_runs(self) -> list[RunRow]: ...

    def run(self, run_id: str) -> RunRow | None: ...


class EngineLike(Protocol):
    @property
    def store(self) -> StoreLike: ...

    async def start(
        self,
        workflow: str,
        variant: str | None = None,
        overrides: Mapping[str, Any] | None = None,
        *,
        origin: Mapping[str, Any] | None = None,
    ) -> str: ...

    async def finish(
        self, run_id: str, *, on_progress: ProgressCallback | None = None
    ) -> RunResult: ...

    async def tick(self) -> list[RunResult]: ...

    async def resume_interrupted(self) -> list[RunResult]: ...

    async def cleanup_pending(self) -> int: ...
