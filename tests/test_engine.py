"""Engine behaviour with an in-process fake tool and a fake clock (no sockets, no sleeping)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import heapq
from typing import Any, ClassVar

import httpx
import pytest
import sqlite_utils
from tenacity import wait_fixed

from baton.probes.config import (
    Config,
    Expectation,
    StageConfig,
    ToolConfig,
    VariantConfig,
    WorkflowConfig,
)
from baton.probes.connectors import Connector, _timing, register
from baton.probes.engine import Engine
from baton.probes.errors import Unreachable, UsageError
from baton.probes.model import Verdict
from baton.probes.record import TestRecord
from baton.probes.store import Store


class Clock:
    """Virtual time: ``sleep`` parks the caller; ``drive`` wakes the earliest sleeper and
    moves the clock to its wake-up time once every task is blocked."""

    def __init__(self) -> None:
        self.now = 1_000_000.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = 0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._seq += 1
        heapq.heappush(self._sleepers, (self.now + max(seconds, 0.0), self._seq, fut))
        await fut

    async def drive(self) -> None:
        while True:
            for _ in range(20):
                await asyncio.sleep(0)
            if self._sleepers:
                when, _, fut = heapq.heappop(self._sleepers)
                if fut.done():  # a sleep given up (woken early by an event)
                    continue
                self.now = max(self.now, when)
                fut.set_result(None)


class World:
    """What each fake tool holds: tool -> list of (visible_from_ts, record)."""

    clock: Clock
    items: ClassVar[dict[tuple[str, str], list[tuple[float, dict[str, Any]]]]] = {}
    down: ClassVar[set[str]] = set()
    injected: ClassVar[list[TestRecord]] = []
    removed: ClassVar[list[str]] = []
    plan: ClassVar[dict[str, Any]] = {}
    #: Seconds an injection waits in Baton (as for a rate limiter) before it is sent.
    queue_s: ClassVar[float] = 0.0
    #: Tools whose cleanup fails (while their reads work).
    cleanup_down: ClassVar[set[str]] = set()
    #: (tool, virtual time) of every look.
    looks: ClassVar[list[tuple[str, float]]] = []


@register
class FakeTool(Connector):
    type_name = "fake"
    can_inject = True
    can_observe = True

    async def inject(self, record: TestRecord, stage: StageConfig) -> None:
        if self.name in World.down:
            raise Unreachable(f"{self.name}: cannot connect", tool=self.name)
        if World.queue_s:
            await World.clock.sleep(World.queue_s)
            _timing.note_queued(World.queue_s)
        _timing.note_sent()
        _timing.note_answered()
        World.injected.append(record)
        now = World.clock()
        for tool, (delay, copies, mutate) in World.plan.items():
            for _ in range(copies):
                rec = {"email": record.email, "firstname": record.first_name, "_id": tool}
                rec.update(mutate(record) if mutate else {})
                World.items.setdefault((tool, record.marker), []).append((now + delay, rec))

    async def observe(self, record: TestRecord, stage: StageConfig) -> list[dict[str, Any]]:
        if self.name in World.down:
            raise Unreachable(f"{self.name}: cannot connect", tool=self.name)
        now = World.clock()
        World.looks.append((self.name, now))
        return [r for t, r in World.items.get((self.name, record.marker), []) if t <= now]

    async def cleanup(self, record: TestRecord) -> int:
        if self.name in World.down or self.name in World.cleanup_down:
            raise Unreachable(f"{self.name}: cannot connect", tool=self.name)
        n = len(World.items.pop((self.name, record.marker), []))
        World.removed.append(self.name)
        return n


FIELDS = {"email": "{email}", "firstname": "{first_name}"}


def make_config() -> Config:
    tools = {n: ToolConfig(name=n, type="fake") for n in ("form", "crm", "mail", "billing")}
    stages = [
        StageConfig(name="form", tool="form", label="Form"),
        StageConfig(
            name="crm",
            tool="crm",
            after="form",
            label="CRM",
            expect=Expectation(fields=FIELDS),
            deadline_s=10,
            grace_s=5,
            settle_s=1,
        ),
        StageConfig(
            name="mail",
            tool="mail",
            after="form",
            label="Email",
            expect=Expectation(fields={"email": "{email}"}),
            deadline_s=10,
            grace_s=5,
            settle_s=1,
        ),
        StageConfig(
            name="billing",
            tool="billing",
            after="crm",
            label="Invoice",
            expect=Expectation(fields={"email": "{email}"}),
            deadline_s=10,
            grace_s=5,
            settle_s=1,
        ),
    ]
    wf = WorkflowConfig(
        name="lead",
        stages=stages,
        variants={
            "no-consent": VariantConfig(
                name="no-consent",
                record={"marketing_consent": False},
                expect={"mail": Expectation(absent=True)},
            )
        },
    )
    return Config(tools=tools, workflows={"lead": wf})


@pytest.fixture
def world() -> Clock:
    clock = Clock()
    World.clock = clock
    World.items.clear()
    World.down.clear()
    World.injected.clear()
    World.removed.clear()
    World.plan.clear()
    World.queue_s = 0.0
    World.looks.clear()
    World.cleanup_down.clear()
    return clock


def engine_for(clock: Clock, store: Store | None = None) -> Engine:
    counter = iter(range(1000))
    return Engine(
        make_config(),
        store=store or Store(sqlite_utils.Database(memory=True)),
        client=httpx.AsyncClient(),
        clock=clock,
        sleep=clock.sleep,
        marker_factory=lambda: f"bttest{next(counter):02d}",
        poll_wait=wait_fixed(0.5),
    )


def healthy(**changes: tuple[float, int, Any]) -> None:
    World.plan.update({"crm": (1.0, 1, None), "mail": (2.0, 1, None), "billing": (3.0, 1, None)})
    World.plan.update(changes)


def drive(clock: Clock, coro: Any) -> Any:
    """Run ``coro`` to the end in virtual time."""

    async def main() -> Any:
        driver = asyncio.create_task(clock.drive())
        try:
            return await coro
        finally:
            driver.cancel()

    return asyncio.run(main())


def run(engine: Engine, *args: Any, **kwargs: Any) -> Any:
    return drive(World.clock, engine.run(*args, **kwargs))


def test_healthy_run_is_ok_and_cleans_every_tool(world: Clock) -> None:
    healthy()
    result = run(engine_for(world), "lead")
    assert result.verdict == Verdict.OK
    assert [s.status for s in result.stages] == ["ok"] * 4
    assert result.first_break is None
    assert {s.name: s.found for s in result.stages} == {
        "form": 1,
        "crm": 1,
        "mail": 1,
        "billing": 1,
    }
    crm = result.stages[1]
    assert crm.latency_s is not None and 1.0 <= crm.latency_s <= 1.6
    assert sorted(World.removed) == ["billing", "crm", "form", "mail"]
    assert result.cleanup.status == "done" and result.cleanup.removed == 3


def test_missing_stage_waits_out_deadline_and_grace(world: Clock) -> None:
    healthy(billing=(0, 0, None))
    start = world.now
    result = run(engine_for(world), "lead")
    assert result.verdict == Verdict.LEAK
    assert result.first_break.stage == "billing" and result.first_break.kind == "missing"
    assert result.first_break.seam == "CRM → Invoice"
    assert world.now - start >= 15


def test_found_after_deadline_within_grace_is_late_not_missing(world: Clock) -> None:
    healthy(billing=(12.0, 1, None))
    result = run(engine_for(world), "lead")
    billing = result.stages[3]
    assert billing.status == "late"
    assert result.verdict == Verdict.LEAK


def test_duplicate_caught_in_settle_window(world: Clock) -> None:
    healthy(mail=(2.0, 2, None))
    result = run(engine_for(world), "lead")
    assert result.stages[2].status == "duplicate"
    assert result.stages[2].found == 2


def test_swapped_fields_reported_at_first_broken_seam(world: Clock) -> None:
    healthy(crm=(1.0, 1, lambda r: {"email": r.first_name, "firstname": r.email}))
    result = run(engine_for(world), "lead")
    assert result.first_break.stage == "crm"
    assert result.first_break.kind == "swapped"


def test_unreachable_tool_is_error_never_leak(world: Clock) -> None:
    healthy()
    World.down.add("billing")
    result = run(engine_for(world), "lead")
    assert result.stages[3].status == "unreachable"
    assert result.verdict == Verdict.ERROR
    assert result.first_break.kind == "unreachable"
    assert result.cleanup.status == "partial"


def test_unreachable_entry_skips_the_rest(world: Clock) -> None:
    World.down.add("form")
    result = run(engine_for(world), "lead")
    assert result.verdict == Verdict.ERROR
    assert [s.status for s in result.stages] == ["unreachable", "skipped", "skipped", "skipped"]


def test_absent_expectation_ok_when_nothing_arrives_and_unexpected_when_it_does(
    world: Clock,
) -> None:
    healthy(mail=(0, 0, None))
    result = run(engine_for(world), "lead", "no-consent")
    assert result.verdict == Verdict.OK
    World.items.clear()
    healthy()
    result = run(engine_for(world), "lead", "no-consent")
    assert result.stages[2].status == "unexpected"
    assert result.verdict == Verdict.LEAK


def test_unknown_names_are_usage_errors_with_suggestions(world: Clock) -> None:
    engine = engine_for(world)
    with pytest.raises(UsageError, match="did you mean 'lead'"):
        run(engine, "laed")
    with pytest.raises(
        UsageError, match=r"unknown variant 'no-consnet'.*did you mean 'no-consent'"
    ):
        run(engine, "lead", "no-consnet")
    with pytest.raises(UsageError, match="unknown record field 'nmae'"):
        run(engine, "lead", None, {"nmae": "x"})


def test_refuses_unreserved_email_domains(world: Clock) -> None:
    with pytest.raises(UsageError, match="reserved domains"):
        run(engine_for(world), "lead", None, {"email": "ceo@bigcustomer.com"})
    assert World.injected == []


def test_crash_after_inject_is_resumed_and_cleaned_up(world: Clock, tmp_path: Any) -> None:
    healthy()
    db_path = tmp_path / "runs.db"
    first = engine_for(world, Store(sqlite_utils.Database(db_path)))
    run_id = asyncio.run(first.start("lead"))  # the process "dies" here, before finish()
    store = Store(sqlite_utils.Database(db_path))
    assert [r["tool"] for r in store.pending_cleanup(run_id)] == ["form", "crm", "mail", "billing"]
    world.now += 120  # the lease expired long ago
    second = engine_for(world, store)
    [result] = drive(world, second.resume_interrupted())
    assert result.run_id == run_id
    # Deadlines passed while nobody watched: "could not check", never a leak.
    assert result.verdict == Verdict.ERROR
    assert store.pending_cleanup() == []
    assert sorted(World.removed) == ["billing", "crm", "form", "mail"]
    assert store.run(run_id)["status"] == "interrupted"


def test_resume_within_deadline_watches_on(world: Clock, tmp_path: Any) -> None:
    healthy()
    db_path = tmp_path / "runs.db"
    run_id = asyncio.run(engine_for(world, Store(sqlite_utils.Database(db_path))).start("lead"))
    world.now += 61  # lease expired, but... deadlines are 10 s: move them forward for the test
    store = Store(sqlite_utils.Database(db_path))
    store.db.execute("UPDATE stages SET deadline_ts = deadline_ts + 100, grace_ts = grace_ts + 100")
    store.db.conn.commit()
    [result] = drive(world, engine_for(world, store).resume_interrupted())
    assert result.run_id == run_id and result.verdict == Verdict.OK


def test_a_live_lease_is_not_stolen(world: Clock, tmp_path: Any) -> None:
    healthy()
    db_path = tmp_path / "runs.db"
    asyncio.run(engine_for(world, Store(sqlite_utils.Database(db_path))).start("lead"))
    other = engine_for(world, Store(sqlite_utils.Database(db_path)))
    assert asyncio.run(other.resume_interrupted()) == []


def test_failed_cleanup_is_retried_later(world: Clock) -> None:
    healthy()
    World.down.add("billing")
    engine = engine_for(world)
    result = run(engine, "lead")
    assert result.cleanup.status == "partial"
    assert [r["tool"] for r in engine.store.pending_cleanup()] == ["billing"]
    World.down.clear()
    removed = drive(world, engine.cleanup_pending())
    assert removed == 1
    assert engine.store.pending_cleanup() == []
    assert engine.store.get_result(result.run_id).cleanup.status == "done"


def test_results_are_stored_and_listed(world: Clock) -> None:
    healthy()
    engine = engine_for(world)
    a = run(engine, "lead")
    world.now += 10
    b = run(engine, "lead")
    assert [r.run_id for r in engine.store.recent_runs("lead")] == [b.run_id, a.run_id]
    assert engine.store.get_result(a.run_id).to_json() == a.to_json()
    assert engine.store.last_verdicts()["lead"].run_id == b.run_id


def test_hundreds_of_concurrent_runs(world: Clock) -> None:
    healthy()
    engine = engine_for(world)
    counter = iter(range(10_000))
    engine.marker_factory = lambda: f"btc{next(counter):05d}"

    async def many() -> list[Any]:
        return await asyncio.gather(*(engine.run("lead") for _ in range(200)))

    results = drive(world, many())
    assert len({r.run_id for r in results}) == 200
    assert all(r.verdict == Verdict.OK for r in results)


def test_tool_creation_time_decides_late_not_when_baton_looked(world: Clock) -> None:
    # Created 3 s in (on time), but Baton only saw it at 12 s (e.g. held back by a rate
    # limit): on time, not late.
    healthy(billing=(12.0, 1, lambda r: {"_created_ts": World.clock() + 3}))
    result = run(engine_for(world), "lead")
    billing = result.stages[3]
    assert billing.status == "ok"
    # The seam clock starts when CRM got the record, not when the run started.
    crm = result.stages[1]
    assert crm.latency_s is not None and billing.latency_s is not None
    assert abs(billing.latency_s - (3 - crm.latency_s)) < 0.01
    # A creation time that makes no sense (before the run, beyond skew) is ignored.
    healthy(billing=(12.0, 1, lambda r: {"_created_ts": World.clock() - 3600}))
    result = run(engine_for(world), "lead")
    assert result.stages[3].status == "late"


def test_tick_closes_a_run_nobody_watched_instead_of_calling_it_late(
    world: Clock, tmp_path: Any
) -> None:
    healthy()
    db_path = tmp_path / "runs.db"
    run_id = asyncio.run(engine_for(world, Store(sqlite_utils.Database(db_path))).start("lead"))
    world.now += 600  # the process died; every deadline and lease is long past
    store = Store(sqlite_utils.Database(db_path))
    [result] = drive(world, engine_for(world, store).tick())
    assert result.run_id == run_id
    assert result.verdict == Verdict.ERROR  # could not check, never "late"
    assert store.run(run_id)["status"] == "interrupted"
    assert store.pending_cleanup() == []


def test_tick_advances_watched_runs_to_the_end(world: Clock) -> None:
    healthy()
    engine = engine_for(world)
    run_id = asyncio.run(engine.start("lead"))
    finished: list[Any] = []
    for _ in range(100):
        finished += drive(world, engine.tick())
        if finished:
            break
        world.now += 0.5
    assert [r.run_id for r in finished] == [run_id]
    assert finished[0].verdict == Verdict.OK


def test_a_domain_chosen_in_the_config_is_allowed_but_not_one_from_a_run(world: Clock) -> None:
    healthy()
    engine = engine_for(world)
    engine.config = dataclasses.replace(engine.config, record={"domain": "acme-probes.io"})
    result = run(engine, "lead")
    assert World.injected[-1].email.endswith("@acme-probes.io")
    assert result.verdict == Verdict.OK
    with pytest.raises(UsageError, match="reserved domains"):
        run(engine, "lead", None, {"email": "ceo@bigcustomer.com"})
    with pytest.raises(UsageError, match="reserved domains"):
        run(engine, "lead", None, {"domain": "bigcustomer.com"})


def test_cancelled_watch_releases_the_run_and_resume_keeps_what_was_seen(
    world: Clock, tmp_path: Any
) -> None:
    healthy(billing=(0, 0, None))  # the invoice never comes: a real leak
    db_path = tmp_path / "runs.db"
    first = engine_for(world, Store(sqlite_utils.Database(db_path)))

    async def interrupted() -> str:
        run_id = await first.start("lead")
        task = asyncio.create_task(first.finish(run_id))
        while world.now < 1_000_000.0 + 4:  # CRM and email seen, nothing decided about billing
            await world.sleep(0.5)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return run_id

    run_id = drive(world, interrupted())
    store = Store(sqlite_utils.Database(db_path))
    assert store.run(run_id)["lease_owner"] is None  # Ctrl-C let go of it
    world.now += 600  # resumed long after every deadline
    [result] = drive(world, engine_for(world, store).resume_interrupted())
    statuses = {s.name: s.status for s in result.stages}
    # Seen before the interruption: judged on one more look, not "could not check".
    assert statuses["crm"] == "ok" and statuses["mail"] == "ok"
    assert statuses["billing"] == "unreachable"
    assert result.verdict == Verdict.ERROR


def test_default_variant_is_the_plain_record(world: Clock) -> None:
    healthy()
    result = run(engine_for(world), "lead", "default")
    assert result.variant is None and result.verdict == Verdict.OK


# -- seam clocks ---------------------------------------------------------------------------


def test_time_queued_before_injection_is_batons_own_delay_not_a_seams(world: Clock) -> None:
    # The entry's rate limit held the record 12 s before it was sent; every tool then got
    # it within 3 s. Counted from the start of the run, CRM (10 s deadline) would be late.
    healthy()
    World.queue_s = 12.0
    engine = engine_for(world)
    result = run(engine, "lead")
    assert result.verdict == Verdict.OK, result.first_break
    rows = {r.name: r for r in engine.store.stages(result.run_id)}
    assert rows["form"].queued_s == pytest.approx(12.0)
    assert rows["form"].arrived_ts == pytest.approx(rows["form"].started_ts + 12.0)
    assert rows["crm"].origin_ts == pytest.approx(rows["form"].arrived_ts)
    crm = result.stages[1]
    assert crm.latency_s is not None and crm.latency_s < 2.0


def test_a_record_waiting_minutes_to_be_sent_keeps_its_run(world: Clock) -> None:
    # The entry's rate limit holds the record 200 s, past the 60 s lease. Another process
    # looking for interrupted runs meanwhile must not take the run (and clean it up before
    # the record is even sent, leaving it in the tools).
    healthy()
    World.queue_s = 200.0
    store = Store(sqlite_utils.Database(memory=True))
    mine, other = engine_for(world, store), engine_for(world, store)

    async def both() -> tuple[Any, list[Any]]:
        async def meanwhile() -> list[Any]:
            await world.sleep(150.0)
            return await other.resume_interrupted()

        return await asyncio.gather(mine.run("lead"), meanwhile())

    result, taken = drive(world, both())
    assert taken == []
    assert result.verdict == Verdict.OK, result.first_break
    assert result.cleanup.status == "done" and World.items == {}


def test_a_run_taken_over_while_its_record_waits_is_not_injected(world: Clock) -> None:
    from baton.probes.errors import RunTakenOver

    healthy()
    World.queue_s = 200.0
    store = Store(sqlite_utils.Database(memory=True))
    mine, other = engine_for(world, store), engine_for(world, store)

    async def both() -> Any:
        async def takeover() -> list[Any]:
            await world.sleep(30.0)
            return await other.resume_interrupted(takeover=True)

        return await asyncio.gather(mine.run("lead"), takeover(), return_exceptions=True)

    ran, taken = drive(world, both())
    assert isinstance(ran, RunTakenOver), ran
    assert World.injected == []  # stopped before it was sent
    (closed,) = taken
    assert closed.verdict == Verdict.ERROR and closed.cleanup.status == "done"


def test_a_downstream_deadline_counts_from_its_upstreams_arrival(world: Clock) -> None:
    # CRM gets it 8 s in (deadline 10 s), the invoice 8 s after that: 16 s after the
    # start, but 8 s after its upstream handed it on. On time.
    healthy(crm=(8.0, 1, None), billing=(16.0, 1, None))
    engine = engine_for(world)
    result = run(engine, "lead")
    assert result.verdict == Verdict.OK, result.first_break
    billing = result.stages[3]
    assert billing.latency_s is not None and 7.4 <= billing.latency_s <= 8.5
    rows = {r.name: r for r in engine.store.stages(result.run_id)}
    assert rows["billing"].origin_ts == pytest.approx(rows["crm"].arrived_ts)
    assert rows["billing"].deadline_ts == pytest.approx(rows["crm"].arrived_ts + 10)


def test_lateness_is_measured_on_the_seam(world: Clock) -> None:
    # CRM at 1 s; the invoice 12 s after CRM: late on CRM → Invoice (deadline 10, grace 5).
    healthy(billing=(13.0, 1, None))
    result = run(engine_for(world), "lead")
    billing = result.stages[3]
    assert billing.status == "late"
    assert billing.latency_s is not None and 11.4 <= billing.latency_s <= 13.0


def test_a_stage_is_not_looked_at_before_its_upstream_hands_the_record_on(
    world: Clock,
) -> None:
    healthy(crm=(6.0, 1, None), billing=(7.0, 1, None))
    start = world.now
    result = run(engine_for(world), "lead")
    assert result.verdict == Verdict.OK
    crm_found = min(t for tool, t in World.looks if tool == "crm" and t >= start + 6.0)
    billing_looks = [t for tool, t in World.looks if tool == "billing"]
    assert billing_looks and min(billing_looks) >= crm_found


def test_a_cleanup_that_fails_is_not_done_and_names_what_stays(world: Clock) -> None:
    healthy(crm=(1.0, 1, lambda r: {"_id": "contact-77"}))
    World.cleanup_down.add("crm")
    engine = engine_for(world)
    result = run(engine, "lead")
    assert result.verdict == Verdict.OK
    assert result.cleanup.status == "partial"
    assert any("could not remove contact-77" in e for e in result.cleanup.errors)
    pending = engine.store.pending_cleanup(result.run_id)
    assert [p["tool"] for p in pending] == ["crm"]
    assert "contact-77" in pending[0]["last_error"]


# -- blame only what was checked, localised ------------------------------------------------


def test_a_missing_upstream_makes_its_downstream_a_consequence(world: Clock) -> None:
    healthy()
    del World.plan["crm"]
    del World.plan["billing"]
    result = run(engine_for(world), "lead")
    assert result.verdict == Verdict.LEAK
    assert result.first_break is not None and result.first_break.seam == "Form → CRM"
    billing = result.stages[3]
    assert billing.status == "missing"
    assert billing.findings[0].consequence_of == "Form → CRM"
    assert "consequence" in billing.findings[0].message


def test_an_unreachable_upstream_leaves_its_downstream_could_not_check(world: Clock) -> None:
    healthy()
    del World.plan["billing"]
    World.down.add("crm")
    result = run(engine_for(world), "lead")
    assert result.verdict == Verdict.ERROR
    billing = result.stages[3]
    assert billing.status == "unreachable"
    assert "upstream unknown" in billing.findings[0].message


def test_a_lost_entry_handoff_is_named_as_the_handoff_out_of_the_entry(world: Clock) -> None:
    World.plan.clear()  # the form accepted the record; nothing downstream ever got it
    result = run(engine_for(world), "lead")
    assert result.verdict == Verdict.LEAK
    fb = result.first_break
    assert fb is not None and fb.after == "form"
    assert fb.seam == "Form → CRM, Email"
    assert "none of CRM, Email, Invoice received it" in fb.message


def test_a_wrong_url_is_could_not_check_at_once_not_missing(world: Clock) -> None:
    from baton.probes.errors import BadUrl

    healthy()

    async def wrong(self: FakeTool, record: TestRecord, stage: StageConfig) -> Any:
        raise BadUrl("crm: GET http://x/crm answered 404: is tools.crm.base_url right?")

    FakeTool.observe, original = wrong, FakeTool.observe  # type: ignore[method-assign]
    try:
        start = world.now
        result = run(engine_for(world), "lead")
    finally:
        FakeTool.observe = original  # type: ignore[method-assign]
    assert result.verdict == Verdict.ERROR
    assert all(s.status == "unreachable" for s in result.stages[1:])
    assert "base_url" in result.stages[1].findings[0].message
    assert world.now - start < 10  # decided at once, not after deadline and grace


def test_progress_reports_a_consequence_as_one_while_the_run_goes_on(world: Clock) -> None:
    healthy()
    del World.plan["crm"]
    del World.plan["billing"]
    seen: dict[str, Any] = {}

    async def progress(stage: Any) -> None:
        seen[stage.name] = stage

    result = drive(world, engine_for(world).run("lead", on_progress=progress))
    assert result.verdict == Verdict.LEAK
    assert seen["billing"].consequence_of == "Form → CRM"
    assert seen["crm"].consequence_of is None and seen["crm"].status == "missing"


def test_arrival_is_the_earliest_moment_the_tools_stamp_allows() -> None:
    from baton.probes.engine import _arrival

    origin, seen = 1000.4, 1003.0
    # Stripe's whole-second created=1000 means "between 1000 and 1001": not before the
    # handoff at 1000.4, so 1000.4 (an on-time record is never made late by a coarse clock).
    assert _arrival([{"_created_ts": 1000, "_stamp_resolution_s": 1}], origin, seen) == 1000.4
    assert _arrival([{"_created_ts": 1001.25}], origin, seen) == 1001.25  # a fine stamp
    assert _arrival([{"_created_ts": 1002.0}, {"_created_ts": 1001.0}], origin, seen) == 1001.0
    assert _arrival([{"_seen_by_ts": 1001.5}], origin, seen) == 1001.5
    whole = {"_seen_by_ts": 1001, "_stamp_resolution_s": 1}  # an event within that second
    assert _arrival([whole], origin, seen) == 1001.5
    assert _arrival([{"_created_ts": 1009.0}], origin, seen) == seen  # another clock: skewed
    assert _arrival([{"_created_ts": float("nan")}], origin, seen) == seen
    assert _arrival([{}], origin, seen) == seen


# -- crashes leave nothing behind -----------------------------------------------------------


def _hang_inject(monkeypatch: pytest.MonkeyPatch) -> None:
    """The entry's POST never answers (the process will be stopped mid-request)."""
    original = FakeTool.inject

    async def hanging(self: FakeTool, record: TestRecord, stage: StageConfig) -> None:
        await original(self, record, stage)  # the tool got it...
        await asyncio.Event().wait()  # ...but its answer never comes back

    monkeypatch.setattr(FakeTool, "inject", hanging)


def test_ctrl_c_mid_injection_gives_the_run_up_and_resume_cleans_it(
    world: Clock, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    healthy()
    db_path = tmp_path / "runs.db"
    _hang_inject(monkeypatch)
    engine = engine_for(world, Store(sqlite_utils.Database(db_path)))

    async def interrupted() -> None:
        task = asyncio.ensure_future(engine.run("lead"))
        await asyncio.sleep(0.01)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    drive(world, interrupted())
    monkeypatch.undo()
    store = Store(sqlite_utils.Database(db_path))
    [run] = store.active_runs()
    assert run["lease_owner"] is None  # given up: the next process may take it at once
    [result] = drive(world, engine_for(world, store).resume_interrupted())
    assert result.verdict == Verdict.ERROR
    assert "interrupted while injecting" in result.stages[0].findings[0].message
    assert result.cleanup.status == "done"
    assert sorted(World.removed) == ["billing", "crm", "form", "mail"]
    assert not any(World.items.values())


def test_cleanup_closes_a_run_whose_process_died_and_removes_its_record(
    world: Clock, tmp_path: Any
) -> None:
    healthy()
    db_path = tmp_path / "runs.db"
    run_id = asyncio.run(engine_for(world, Store(sqlite_utils.Database(db_path))).start("lead"))
    world.now += 5
    other = engine_for(world, Store(sqlite_utils.Database(db_path)))
    assert drive(world, other.cleanup_pending()) == 0  # its process may still be alive
    world.now += 2 * 60  # no lease renewed, no stage looked at for longer than a lease
    removed = drive(world, other.cleanup_pending())
    assert removed == 3  # the contact, the mail and the invoice the glue made
    result = other.store.get_result(run_id)
    assert result is not None and result.cleanup.status == "done"
    assert other.store.active_runs() == []
    assert not any(World.items.values())


def test_a_run_starts_leased_so_no_other_process_can_take_it_before_its_first_claim(
    world: Clock,
) -> None:
    engine = engine_for(world)
    captured: dict[str, Any] = {}
    original = engine.store.create_run

    def spy(**kwargs: Any) -> None:
        original(**kwargs)
        captured.update(engine.store.run(kwargs["run_id"]) or {})

    engine.store.create_run = spy  # type: ignore[method-assign]
    healthy()
    run(engine, "lead")
    assert captured["lease_owner"] == engine.owner and captured["lease_until"] > world.now - 60
