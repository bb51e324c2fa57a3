"""The observation loop: looks from many runs answered in batches, oldest deadline first."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, ClassVar

import httpx
import pytest

from baton.probes.config import StageConfig, ToolConfig
from baton.probes.connectors import Connector, Look, LookResult, ToolHttp
from baton.probes.errors import ApiError, Unreachable
from baton.probes.observer import OBSERVING, Observer
from baton.probes.record import make_record


class Batcher(Connector):
    type_name = "batcher-test"
    can_observe = True
    max_batch: ClassVar[int] = 3

    def __init__(self) -> None:
        tool = ToolConfig(name="batcher", type="batcher-test")
        super().__init__(tool, ToolHttp(httpx.AsyncClient(), tool="batcher", base_url="x"))
        self.batches: list[list[str]] = []
        self.fail: Exception | None = None
        self.short = False
        self.observing: list[bool] = []

    async def observe_batch(self, looks: Sequence[Look]) -> list[LookResult]:
        self.observing.append(OBSERVING.get())
        self.batches.append([look.record.marker for look in looks])
        await asyncio.sleep(0)
        if self.fail is not None:
            raise self.fail
        results: list[LookResult] = [[{"_id": look.record.marker}] for look in looks]
        return results[:-1] if self.short else results


def look(marker: str) -> Look:
    return Look(make_record(marker, {}), StageConfig(name="s", tool="batcher"), since=0.0)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_looks_from_many_runs_share_batches_oldest_deadline_first() -> None:
    conn = Batcher()
    obs = Observer(conn, coalesce_s=0.001)

    async def main() -> list[list[dict[str, Any]]]:
        return list(
            await asyncio.gather(
                *(obs.look(look(f"bt{i:06d}"), priority=100 - i) for i in range(7))
            )
        )

    answers = run(main())
    assert [a[0]["_id"] for a in answers] == [f"bt{i:06d}" for i in range(7)]
    assert [len(b) for b in conn.batches] == [3, 3, 1]
    # Priority 100 - i: the highest i has the oldest deadline and goes first.
    assert conn.batches[0] == ["bt000006", "bt000005", "bt000004"]
    assert obs.stats.looks == 7 and obs.stats.batches == 3 and obs.stats.largest_batch == 3
    assert conn.observing == [True, True, True]


def test_a_failed_batch_fails_each_of_its_looks_with_the_same_error() -> None:
    conn = Batcher()
    conn.fail = Unreachable("batcher: server error 503", tool="batcher")
    obs = Observer(conn, coalesce_s=0.001)

    async def main() -> list[Any]:
        return list(
            await asyncio.gather(
                *(obs.look(look(f"bt{i:06d}")) for i in range(4)), return_exceptions=True
            )
        )

    errors = run(main())
    assert all(isinstance(e, Unreachable) and "503" in str(e) for e in errors)


def test_a_connector_answering_the_wrong_number_of_looks_is_an_api_error() -> None:
    conn = Batcher()
    conn.short = True
    obs = Observer(conn, coalesce_s=0.001)
    with pytest.raises(ApiError, match="answered 1 of 2 items"):

        async def main() -> None:
            await asyncio.gather(obs.look(look("bt000001")), obs.look(look("bt000002")))

        run(main())


def test_a_connector_bug_reaches_every_waiting_look_instead_of_hanging() -> None:
    conn = Batcher()
    conn.fail = KeyError("oops")
    obs = Observer(conn, coalesce_s=0.001)

    async def main() -> list[Any]:
        return list(
            await asyncio.gather(
                *(obs.look(look(f"bt{i:06d}")) for i in range(2)), return_exceptions=True
            )
        )

    assert all(isinstance(e, KeyError) for e in run(main()))


def test_a_cancelled_look_is_skipped() -> None:
    conn = Batcher()
    obs = Observer(conn, coalesce_s=0.05)

    async def main() -> list[dict[str, Any]]:
        doomed = asyncio.ensure_future(obs.look(look("bt000001")))
        kept = asyncio.ensure_future(obs.look(look("bt000002")))
        await asyncio.sleep(0)
        doomed.cancel()
        return await kept

    assert run(main()) == [{"_id": "bt000002"}]
    assert conn.batches == [["bt000002"]]


def test_looks_wait_for_the_rate_limit_and_gather_meanwhile() -> None:
    conn = Batcher()
    waits: list[float] = []

    class Limiter:
        def __init__(self) -> None:
            self.ready = [0.5, 0.0, 0.0]

        def ready_in(self) -> float:
            return self.ready.pop(0) if self.ready else 0.0

    conn.http.limiter = Limiter()  # type: ignore[assignment]

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        await asyncio.sleep(0)

    obs = Observer(conn, sleep=sleep, coalesce_s=0.0)

    async def main() -> None:
        await asyncio.gather(*(obs.look(look(f"bt{i:06d}")) for i in range(3)))

    run(main())
    assert 0.5 in waits
    assert conn.batches == [["bt000000", "bt000001", "bt000002"]]


def test_cleanups_wait_behind_observations_at_a_tools_rate_limit() -> None:
    from baton.probes.connectors._http import RateLimiter

    limiter = RateLimiter(20.0, burst=1.0)
    order: list[str] = []

    async def take(name: str, *, low: bool) -> None:
        await limiter.acquire(low=low)
        order.append(name)

    async def main() -> None:
        await limiter.acquire()  # the bucket is empty now
        await asyncio.gather(
            take("cleanup-1", low=True),
            take("cleanup-2", low=True),
            take("look-1", low=False),
            take("look-2", low=False),
        )

    run(main())
    assert order[:2] == ["look-1", "look-2"]
    assert sorted(order[2:]) == ["cleanup-1", "cleanup-2"]
    assert limiter.ready_in() > 0  # every request took its token
