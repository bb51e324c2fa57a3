"""The engine: inject a marked record, watch every downstream stage, diagnose, clean up.

A probe run is durable. ``start`` writes the run, its stages (with absolute deadlines) and
one cleanup row per tool to the store *before* injecting; the watch state of each stage is
saved after every check. So any process can pick a run up where another left it
(``resume_interrupted``), and ``tick`` advances every active run by one step without holding
a task per run: deadlines of hours cost nothing while nothing is due.

    engine = Engine(config, store=open_store("baton.db"), client=httpx.AsyncClient())
    result = await engine.run("lead-to-invoice", variant="paypal")
    print(result.verdict, result.first_break)

Size: one class: the probe run's durable state machine (start, step, finish, resume,
cleanup) over the store. What is pure already lives elsewhere (diagnosis.decide,
diagnosis.findings, record, store); the rest shares one run context and one lease, and split
across files it would be one lifecycle read in five places.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import json
import math
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, TypeVar

import httpx
from tenacity import wait_exponential, wait_random
from tenacity.wait import wait_base

from . import connectors, diagnosis
from .config import Config, Expectation, StageConfig, WorkflowConfig
from .config import messages as msg
from .connectors import Connector, Look, Removal, RetryPolicy
from .connectors._timing import RequestTiming
from .diagnosis import decide
from .errors import (
    AuthError,
    BadUrl,
    ConnectorError,
    NotListening,
    RunTakenOver,
    UsageError,
)
from .model import (
    STATUS_OK,
    STATUS_PENDING,
    STATUS_SKIPPED,
    CleanupResult,
    Finding,
    RunResult,
    StageResult,
    Verdict,
    status_for,
    verdict_for,
)
from .observer import Observer, Remover
from .record import TestRecord, make_record, new_marker
from .redact import Redactor
from .store import (
    CLEANUP_DONE,
    CLEANUP_PENDING,
    DONE,
    RUN_FINISHED,
    RUN_INTERRUPTED,
    SETTLING,
    WAITING,
    RunRow,
    StageRow,
    Store,
)
from .store.rollup import record_stage_rollup

ProgressCallback = Callable[[StageResult], Awaitable[None]]

#: Domains that never reach a real person (RFC 2606 / RFC 6761).
RESERVED_DOMAINS = ("example.com", "example.org", "example.net")
RESERVED_SUFFIXES = (".example", ".test", ".invalid", ".localhost")

#: How long a process keeps its claim on a run between two checks.
T = TypeVar("T")
INTERRUPTED_INJECTING = (
    "Baton was interrupted while injecting the record; whether the tool accepted it is unknown"
)
LEASE_S = 60.0
#: How often a process renews its lease on a run it is injecting (a third of the lease).
LEASE_RENEW_S = LEASE_S / 3

#: Clock skew allowed between Baton and a tool when placing the tool's own timestamps.
SKEW_S = 5.0
#: A seam's recent latencies are read again after this long (they pace the first look).
PACE_TTL_S = 60.0
#: Fewest recent arrivals at a seam before they pace its first look.
PACE_MIN_SAMPLES = 5


#: One plain address: a dot-atom local part, an @, and a host name. No display names,
#: comments, quoted local parts, lists (`,` `;`), spaces or line breaks: anything else could
#: carry a second, real recipient past the reserved-domain guard.
#: RFC 5322's dot-atom, without ``%`` and ``!``: old mail routing (``victim%gmail.com@…``,
#: ``gmail.com!victim@…``) could still send a test record to a real person.
_PLAIN_ADDRESS = re.compile(
    r"[A-Za-z0-9#$&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9#$&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)


def is_plain_address(email: str) -> bool:
    """Exactly one plain address, at most 254 characters (RFC 5321)."""
    return len(email) <= 254 and _PLAIN_ADDRESS.fullmatch(email) is not None


def is_reserved_email(email: str) -> bool:
    domain = email.rpartition("@")[2].lower()
    return domain in RESERVED_DOMAINS or domain.endswith(
        RESERVED_SUFFIXES + tuple("." + d for d in RESERVED_DOMAINS)
    )


def default_poll_wait() -> wait_base:
    """Exponential backoff with jitter between checks of one stage, capped at 5 s."""
    return wait_exponential(multiplier=0.25, max=5.0) + wait_random(0, 0.25)


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="milliseconds")


class Engine:
    """Runs probes for one config. Share one per process; it is safe for hundreds of runs."""

    def __init__(
        self,
        config: Config,
        *,
        store: Store,
        client: httpx.AsyncClient,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        marker_factory: Callable[[], str] = new_marker,
        retry: RetryPolicy | None = None,
        poll_wait: wait_base | None = None,
        allow_unreserved_domains: bool = False,
        max_concurrent_checks: int = 64,
    ) -> None:
        self.config = config
        self.store = store
        self.client = client
        self.clock = clock
        self.sleep = sleep
        self.marker_factory = marker_factory
        self.retry = retry
        self.poll_wait = poll_wait or default_poll_wait()
        self.allow_unreserved_domains = allow_unreserved_domains
        self.owner = uuid.uuid4().hex
        #: Runs ``tick`` advances at once (each one's looks still go through the observers).
        self.max_concurrent_checks = max(1, max_concurrent_checks)
        self._connectors: dict[str, Connector] = {}
        self._observers: dict[str, Observer] = {}
        self._removers: dict[str, Remover] = {}
        self._pace: dict[tuple[str, str], tuple[float, float | None]] = {}
        #: Masks every secret and environment value in what the engine stores.
        self.redactor = Redactor.from_config(config)

    # -- public API ----------------------------------------------------------------------

    async def run(
        self,
        workflow: str,
        variant: str | None = None,
        overrides: Mapping[str, Any] | None = None,
        *,
        origin: Mapping[str, Any] | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> RunResult:
        """Start a probe run and watch it to the end."""
        run_id = await self.start(workflow, variant, overrides, origin=origin)
        return await self.finish(run_id, on_progress=on_progress)

    def prepare(
        self,
        workflow: str,
        variant: str | None = None,
        overrides: Mapping[str, Any] | None = None,
    ) -> tuple[WorkflowConfig, TestRecord]:
        """Check the names and build the record, without touching any tool."""
        wf = self._workflow(workflow)
        variant = _variant(wf, variant)
        record = self._record(wf, variant, overrides or {}, self.marker_factory())
        return wf, record

    async def start(
        self,
        workflow: str,
        variant: str | None = None,
        overrides: Mapping[str, Any] | None = None,
        *,
        origin: Mapping[str, Any] | None = None,
    ) -> str:
        """Write the run to the store, inject the record at the entry; return the run id."""
        wf, record = self.prepare(workflow, variant, overrides)
        variant = _variant(wf, variant)
        run_id = "r-" + record.marker.removeprefix("bt")
        now = self.clock()
        rows = [self._stage_row(wf, stage, i, run_id, now) for i, stage in enumerate(wf.stages)]
        tools = list(dict.fromkeys(s.tool for s in wf.stages))
        self.store.create_run(
            run_id=run_id,
            marker=record.marker,
            workflow=wf.name,
            variant=variant,
            overrides=dict(overrides or {}),
            origin=dict(origin or {}),
            started_at=_iso(now),
            started_ts=now,
            stages=rows,
            cleanup_tools=tools,
            lease_owner=self.owner,
            lease_until=now + LEASE_S,
        )
        self.store.claim(run_id, self.owner, now=now, lease_s=LEASE_S)
        entry = rows[0]
        with RequestTiming.collect(self.clock) as timing:
            try:
                await self._holding(run_id, self._connector(wf.entry.tool).inject(record, wf.entry))
            except asyncio.CancelledError:
                # Ctrl-C or shutdown mid-injection: the record may be in the tools; let the
                # next `baton resume` or `baton cleanup` take the run at once.
                self.store.release(run_id, self.owner)
                raise
            except ConnectorError as exc:
                finding = diagnosis.unreachable_finding(
                    seam=wf.seam(wf.entry), where=wf.entry.display, error=self._said(exc)
                )
                self._done(entry, [finding], latency=None)
                for row in rows[1:]:
                    row.state, row.status = DONE, STATUS_SKIPPED
                    self.store.save_stage(row)
                if isinstance(exc, NotListening):  # refused: not a byte was sent
                    for tool in tools:
                        self.store.save_cleanup(
                            run_id, tool, status=CLEANUP_DONE, removed=0, error=None, now=now
                        )
                return run_id
        # The entry accepted the record when its answer came back; whatever the record
        # waited before it was sent (the entry's rate limit) is Baton's own delay.
        accepted = timing.answered_at if timing.answered_at is not None else self.clock()
        sent = timing.sent_at if timing.sent_at is not None else now + timing.queued_s
        entry.queued_s = max(0.0, sent - now)
        entry.arrived_ts = accepted
        entry.found = 1
        self._done(entry, [], latency=max(0.0, accepted - sent))
        by_name = {r.name: r for r in rows}
        for child in _children(by_name, entry.name):
            self._hand_off(wf, by_name, child, accepted)
        return run_id

    async def _holding(self, run_id: str, work: Awaitable[T]) -> T:
        """``work``, with this process's lease on the run renewed while it lasts: a record
        waiting behind the entry's rate limit for minutes is not taken (and cleaned up)
        by another process before it is even sent. If the lease is taken all the same
        (``--takeover``), the work is stopped and ``RunTakenOver`` raised."""
        task = asyncio.ensure_future(work)

        async def renew() -> None:
            while True:
                await self.sleep(LEASE_RENEW_S)
                if not self.store.claim(run_id, self.owner, now=self.clock(), lease_s=LEASE_S):
                    return

        keeper = asyncio.ensure_future(renew())
        try:
            await asyncio.wait({task, keeper}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            task.cancel()
            raise
        finally:
            keeper.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            raise RunTakenOver(
                f"run {run_id} was taken over by another process while its record waited "
                "to be sent; that process closes and cleans it up"
            )
        return task.result()

    async def finish(
        self, run_id: str, *, on_progress: ProgressCallback | None = None
    ) -> RunResult:
        """Watch a started run until every stage is decided, then diagnose and clean up.

        Each undecided stage is watched by its own task, so a slow or failing tool never
        delays the checks of the others; a stage waits for its upstream to hand the record
        on before it is looked at.
        """
        run = self.store.run(run_id)
        if run is None:
            raise UsageError(f"no probe run {run_id!r} in the store")
        if run["status"] != "active":
            return await self._result_of(run_id)
        ctx = self._context(run, wake=True)

        async def report(row: StageRow) -> None:
            if on_progress is not None:
                await on_progress(self._localised_result(ctx, row))

        async def watch(row: StageRow) -> None:
            while row.state != DONE:
                await self._until_due(ctx, row)
                self.store.claim(run_id, self.owner, now=self.clock(), lease_s=LEASE_S)
                await self._check(ctx, row)
            await report(row)

        for row in ctx.rows.values():
            if row.state == DONE:
                await report(row)
        try:
            await asyncio.gather(*(watch(r) for r in ctx.rows.values() if r.state != DONE))
        except asyncio.CancelledError:
            # Ctrl-C or shutdown: let `baton resume` (or another process) take it at once.
            self.store.release(run_id, self.owner)
            raise
        return await self._finalize(ctx, status=RUN_FINISHED)

    async def _until_due(self, ctx: _RunContext, row: StageRow) -> None:
        """Sleep until the stage's next look, or until its upstream hands the record on."""
        wake = ctx.wake[row.name]
        while True:
            delay = row.next_check_ts - self.clock()
            if delay <= 0:
                return
            wake.clear()
            sleeper = asyncio.ensure_future(self.sleep(delay))
            woken = asyncio.ensure_future(wake.wait())
            try:
                await asyncio.wait({sleeper, woken}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                sleeper.cancel()
                woken.cancel()

    def _context(self, run: RunRow, *, wake: bool = False) -> _RunContext:
        wf = self._workflow(run["workflow"])
        record = self._record(wf, run["variant"], run["overrides"], run["marker"])
        rows = {r.name: r for r in self.store.stages(run["id"])}
        events = {name: asyncio.Event() for name in rows} if wake else {}
        return _RunContext(wf=wf, run=run, record=record, rows=rows, wake=events)

    async def _result_of(self, run_id: str) -> RunResult:
        result = self.store.get_result(run_id)
        if result is None:  # pragma: no cover - finished runs always carry a result
            raise UsageError(f"probe run {run_id!r} has no result")
        return result

    async def step(self, run_id: str) -> RunResult | None:
        """Check every stage of ``run_id`` that is due; finish the run when all are decided."""
        run = self.store.run(run_id)
        if run is None:
            raise UsageError(f"no probe run {run_id!r} in the store")
        if run["status"] != "active":
            return await self._result_of(run_id)
        now = self.clock()
        self.store.claim(run_id, self.owner, now=now, lease_s=LEASE_S)
        ctx = self._context(run)
        due = [r for r in ctx.rows.values() if r.state != DONE and r.next_check_ts <= now]
        if due:
            await asyncio.gather(*(self._check(ctx, r) for r in due))
        if all(r.state == DONE for r in ctx.rows.values()):
            return await self._finalize(ctx, status=RUN_FINISHED)
        return None

    async def tick(self) -> list[RunResult]:
        """One pass over every active run this process may work on; returns those finished.

        Runs are stepped together (up to ``max_concurrent_checks`` at once), so their looks
        at one tool share its observation loop's batches.

        A run nobody watched through its deadline (its process died, and no stage was checked
        for longer than a lease) is closed as interrupted, as ``resume_interrupted`` does:
        checking it only now could call an on-time record late.
        """
        now = self.clock()
        limit = asyncio.Semaphore(self.max_concurrent_checks)

        async def advance(run: RunRow) -> RunResult | None:
            async with limit:
                if not self.store.claim(run["id"], self.owner, now=now, lease_s=LEASE_S):
                    return None
                pending = [r for r in self.store.stages(run["id"]) if r.state != DONE]
                unwatched = pending and all(
                    r.grace_ts <= now and now - r.next_check_ts > LEASE_S for r in pending
                )
                if unwatched:
                    return await self._close_interrupted(run)
                return await self.step(run["id"])

        results = await asyncio.gather(*(advance(r) for r in self.store.active_runs()))
        return [r for r in results if r is not None]

    async def resume_interrupted(self, *, takeover: bool = False) -> list[RunResult]:
        """Pick up runs whose process died: watch on if a deadline is still ahead, else close
        them as interrupted (stages not yet decided become "could not check"). Their cleanup
        runs either way. A run whose owner still holds its lease is left alone unless
        ``takeover`` (the operator knows that process is gone)."""
        now = self.clock()
        claimed = [
            (run, run.get("lease_owner") != self.owner)
            for run in self.store.active_runs()
            if self.store.claim(run["id"], self.owner, now=now, lease_s=LEASE_S, force=takeover)
        ]

        async def one(run: RunRow, dead: bool) -> RunResult:
            pending = [r for r in self.store.stages(run["id"]) if r.state != DONE]
            for row in pending:
                if dead and row.after is None and row.next_check_ts > now:
                    # An entry still undecided in a run taken from another process: that
                    # process died (or was stopped) mid-injection. Decide it now, so the
                    # stages after it get their last look and the run is cleaned up at once
                    # (not after the entry's deadline and grace).
                    row.next_check_ts = now
                    self.store.save_stage(row)
            if any(r.grace_ts > now for r in pending):
                return await self.finish(run["id"])
            return await self._close_interrupted(run)

        # Together, as tick does: no run waits for the others' deadlines (and is judged only
        # after its own have passed), and their looks and cleanups share each tool's batches.
        return list(await asyncio.gather(*(one(run, dead) for run, dead in claimed)))

    async def _close_interrupted(self, run: RunRow) -> RunResult:
        """Undecided stages become "could not check"; then diagnose and clean up as usual."""
        ctx = self._context(run)
        for row in ctx.rows.values():
            if row.state == DONE:
                continue
            stage = ctx.wf.stage(row.name)
            if row.first_seen_ts is not None and await self._judge_seen(ctx, row):
                continue
            # An undecided entry was being injected, whenever that was.
            error = (
                INTERRUPTED_INJECTING
                if row.after is None
                else "Baton was interrupted while watching and the deadline passed"
            )
            finding = diagnosis.unreachable_finding(
                seam=ctx.wf.seam(stage), where=stage.display, error=error
            )
            self._done(row, [finding], latency=None)
        return await self._finalize(ctx, status=RUN_INTERRUPTED)

    async def _judge_seen(self, ctx: _RunContext, row: StageRow) -> bool:
        """A stage already seen before the interruption is judged on one more look (its
        content and duplicates), timed by when it arrived. False if that look fails."""
        stage = ctx.wf.stage(row.name)
        try:
            observed = await self.observer(stage.tool).look(
                self._look(ctx, row, thorough=True), priority=row.deadline_ts
            )
        except ConnectorError:
            return False
        if not observed or row.first_seen_ts is None:
            return False
        row.found = max(row.found, len(observed))
        self._decide_found(ctx, row, observed)
        return True

    def held_runs(self) -> list[tuple[str, float]]:
        """Active runs another live process is watching: (run id, lease end)."""
        now = self.clock()
        return [
            (r["id"], r["lease_until"])
            for r in self.store.active_runs()
            if r["lease_owner"] not in (None, self.owner)
            and r["lease_until"] is not None
            and r["lease_until"] > now
        ]

    async def cleanup_pending(self) -> int:
        """Retry every cleanup not yet done (from crashed or failed runs); return removed.

        A run still marked active that no live process watches (its process died, or was
        stopped, possibly mid-injection) is closed as interrupted first, which cleans it up:
        a record that may have been injected never waits for someone to run `baton resume`.
        Runs are cleaned together, so their removals share each tool's batches."""
        now = self.clock()
        closing = [
            run
            for run in self.store.active_runs()
            if run.get("lease_owner") != self.owner
            and self._abandoned(run, now)
            and self.store.claim(run["id"], self.owner, now=now, lease_s=LEASE_S)
        ]
        before_closed = {
            run["id"]: sum(r["removed"] or 0 for r in self.store.cleanup_rows(run["id"]))
            for run in closing
        }
        removed = 0
        for result in await asyncio.gather(*(self._close_interrupted(r) for r in closing)):
            removed += result.cleanup.removed - before_closed[result.run_id]

        async def retry(run_id: str) -> int:
            run = self.store.run(run_id)
            if run is None or run["status"] == "active":
                return 0  # its own finish() will clean up
            wf = self.config.workflows.get(run["workflow"])
            if wf is None:
                return 0
            record = self._record(wf, run["variant"], run["overrides"], run["marker"])
            before = sum(r["removed"] or 0 for r in self.store.cleanup_rows(run_id))
            result = await self._cleanup(run_id, record, started=float(run["started_ts"]))
            self.store.update_cleanup_result(run_id, result)
            return result.removed - before

        run_ids = list(dict.fromkeys(row["run_id"] for row in self.store.pending_cleanup()))
        removed += sum(await asyncio.gather(*(retry(run_id) for run_id in run_ids)))
        return removed

    def _abandoned(self, run: RunRow, now: float) -> bool:
        """Nobody watches this active run: its lease was given up (Ctrl-C, shutdown), or it
        lapsed and no stage was looked at for longer than a lease (the process died)."""
        if run.get("lease_owner") is None:
            return True
        if float(run.get("lease_until") or 0) >= now:
            return False
        pending = [r for r in self.store.stages(run["id"]) if r.state != DONE]
        return all(now - r.next_check_ts > LEASE_S for r in pending)

    # -- internals -----------------------------------------------------------------------

    def _workflow(self, name: str) -> WorkflowConfig:
        try:
            return self.config.workflows[name]
        except KeyError:
            raise UsageError(_unknown("workflow", name, list(self.config.workflows))) from None

    def _record(
        self,
        wf: WorkflowConfig,
        variant: str | None,
        overrides: Mapping[str, Any],
        marker: str,
    ) -> TestRecord:
        configured = [self.config.record, wf.record]
        if variant is not None:
            configured.append(wf.variants[variant].record)
        layers: dict[str, Any] = {}
        for layer in configured:
            layers.update(layer)
        # A domain named in the config file (record.domain, per workflow or variant) is the
        # operator's own choice, e.g. a domain they own for real tools; one from a per-run
        # override is not, so `--set email=someone@gmail.com` is still refused.
        chosen = {str(layer["domain"]).lower() for layer in configured if "domain" in layer}
        layers.update(overrides)
        record = make_record(marker, layers)
        if not is_plain_address(record.email):
            raise UsageError(
                f"refusing to inject {record.email[:80]!r}: a test record's email must be "
                "exactly one plain address (name@domain, no display name, list or comment)"
            )
        domain = record.email.rpartition("@")[2].lower()
        if not (
            self.allow_unreserved_domains or is_reserved_email(record.email) or domain in chosen
        ):
            raise UsageError(
                f"refusing to inject {record.email!r}: test records use reserved domains "
                f"({', '.join(RESERVED_DOMAINS)}, *.test) or the config's record.domain, "
                "so they never reach a real person"
            )
        return record

    def _expectation(
        self, wf: WorkflowConfig, variant: str | None, stage: StageConfig
    ) -> Expectation:
        if variant is not None:
            override = wf.variants[variant].expect.get(stage.name)
            if override is not None:
                return override
        return stage.expect

    def _stage_row(
        self, wf: WorkflowConfig, stage: StageConfig, position: int, run_id: str, now: float
    ) -> StageRow:
        """A stage's row before injection. Only the entry's clock runs yet; a downstream
        stage's deadlines are provisional (as if each upstream arrived at its own latest)
        until its upstream hands the record on (``_hand_off``)."""
        latest = now
        upstream = stage.after
        while upstream is not None:
            parent = wf.stage(upstream)
            latest += parent.deadline_s + parent.grace_s if parent.after else 0.0
            upstream = parent.after
        return StageRow(
            run_id=run_id,
            name=stage.name,
            tool=stage.tool,
            after=stage.after,
            seam=wf.seam(stage),
            state=WAITING,
            status=STATUS_PENDING,
            deadline_ts=latest + stage.deadline_s,
            grace_ts=latest + stage.deadline_s + stage.grace_s,
            next_check_ts=latest + stage.deadline_s + stage.grace_s,
            workflow=wf.name,
            started_ts=now,
            position=position,
            origin_ts=now if stage.after is None else None,
        )

    def _hand_off(
        self, wf: WorkflowConfig, rows: Mapping[str, StageRow], row: StageRow, at: float
    ) -> None:
        """The upstream of ``row`` handed the record on at ``at``: start its seam clock."""
        if row.origin_ts is not None or row.state == DONE:
            return
        stage = wf.stage(row.name)
        row.origin_ts = at
        row.deadline_ts = at + stage.deadline_s
        row.grace_ts = row.deadline_ts + stage.grace_s
        row.next_check_ts = at + self._first_look_after(wf, stage)
        self.store.save_stage(row)

    def _first_look_after(self, wf: WorkflowConfig, stage: StageConfig) -> float:
        """Seconds from the handoff to the first look at a stage.

        A tool that stamps its records (creation time) needs no early looks for timing: the
        seam is timed by the stamp, so the first look waits until the record has most likely
        arrived and settled (the seam's recent 90th percentile, else a quarter of its
        deadline, plus the settle window), and one look usually finds and decides it. A tool
        without stamps is timed by when Baton first sees the record, so it is looked at early
        and often (the poll backoff)."""
        if not getattr(self._connector(stage.tool), "stamps_arrival", False):
            return float(self.poll_wait(SimpleNamespace(attempt_number=1)))  # type: ignore[arg-type]
        expected = self._expected_latency(wf.name, stage)
        return min(expected + stage.settle_s, stage.deadline_s)

    def _expected_latency(self, workflow: str, stage: StageConfig) -> float:
        key = (workflow, stage.name)
        now = self.clock()
        cached = self._pace.get(key)
        if cached is None or now - cached[0] > PACE_TTL_S:
            recent = sorted(self.store.recent_latencies(workflow, stage.name))
            p90 = recent[int(0.9 * (len(recent) - 1))] if len(recent) >= PACE_MIN_SAMPLES else None
            cached = (now, p90)
            self._pace[key] = cached
        fallback = min(stage.deadline_s / 4, 2.0)
        return fallback if cached[1] is None else min(cached[1], stage.deadline_s)

    def _said(self, exc: BaseException) -> str:
        """What an error says, with every secret and environment value masked."""
        return self.redactor.text(str(exc))

    def _connector(self, tool: str) -> Connector:
        conn = self._connectors.get(tool)
        if conn is None:
            conn = connectors.build(
                self.config.tools[tool],
                self.client,
                retry=self.retry,
                secrets=self.config.env_values,
            )
            self._connectors[tool] = conn
        return conn

    def remover(self, tool: str) -> Remover:
        """The cleanup loop of ``tool``, shared by every run of this engine."""
        rem = self._removers.get(tool)
        if rem is None:
            rem = Remover(self._connector(tool), sleep=self.sleep)
            self._removers[tool] = rem
        return rem

    def observer(self, tool: str) -> Observer:
        """The observation loop of ``tool``, shared by every run of this engine."""
        obs = self._observers.get(tool)
        if obs is None:
            obs = Observer(self._connector(tool), sleep=self.sleep, clock=self.clock)
            self._observers[tool] = obs
        return obs

    def _done(self, row: StageRow, findings: list[Finding], *, latency: float | None) -> None:
        row.state = DONE
        row.status = status_for(findings)
        row.findings = json.dumps([f.to_json() for f in findings])
        row.latency_s = latency
        self.store.save_stage(row)

    def _schedule(self, row: StageRow, now: float, *, limit: float, floor: float = 0.0) -> None:
        row.attempts += 1
        state = SimpleNamespace(attempt_number=row.attempts)
        wait = max(float(self.poll_wait(state)), floor)  # type: ignore[arg-type]
        row.next_check_ts = min(now + wait, max(limit, now + 0.05))
        self.store.save_stage(row)

    def _look(
        self, ctx: _RunContext, row: StageRow, *, thorough: bool, deciding: bool = True
    ) -> Look:
        since = row.origin_ts
        if since is None:  # its upstream never handed on: since the run began, then
            since = float(ctx.run["started_ts"])
        stage = ctx.wf.stage(row.name)
        return Look(ctx.record, stage, since=since, thorough=thorough, deciding=deciding)

    def _wake_children(self, ctx: _RunContext, row: StageRow) -> None:
        for child in _children(ctx.rows, row.name):
            if row.state == DONE and child.origin_ts is None and child.state != DONE:
                # Decided without handing the record on: the child gets its last look now.
                child.next_check_ts = self.clock()
                self.store.save_stage(child)
            event = ctx.wake.get(child.name)
            if event is not None:
                event.set()

    async def _check(self, ctx: _RunContext, row: StageRow) -> None:
        """One look at one stage, and what follows from it (see ``finish``)."""
        wf = ctx.wf
        stage = wf.stage(row.name)
        expect = self._expectation(wf, ctx.run["variant"], stage)
        seam, where = wf.seam(stage), stage.display
        parent = ctx.rows.get(row.after) if row.after else None
        now = self.clock()
        if parent is None:
            # The entry is still undecided only when the process that injected died (or was
            # stopped) mid-request: whether the record went in is unknown, so every stage
            # after it gets one last look and the run is cleaned up.
            finding = diagnosis.unreachable_finding(
                seam=seam,
                where=where,
                error=INTERRUPTED_INJECTING,
            )
            self._done(row, [finding], latency=None)
            self._wake_children(ctx, row)
            return
        # Whether the upstream stage was decided without ever handing the record on
        # (missing, could not check): then this stage gets one last look and is decided.
        upstream_closed = False
        if row.origin_ts is None and parent is not None:
            if parent.arrived_ts is not None:
                self._hand_off(wf, ctx.rows, row, parent.arrived_ts)
                if row.next_check_ts > now:
                    return
            elif parent.state != DONE:
                # Nothing to look at until the upstream hands the record on.
                row.next_check_ts = max(parent.next_check_ts, now + 0.05)
                self.store.save_stage(row)
                return
            else:
                upstream_closed = True
        seen = row.first_seen_ts is not None
        settle_from = row.arrived_ts if row.arrived_ts is not None else row.first_seen_ts
        final = upstream_closed or now >= (row.deadline_ts if expect.absent else row.grace_ts)
        deciding = (settle_from is not None and now >= settle_from + stage.settle_s) or (
            row.origin_ts is not None and now >= row.origin_ts + stage.settle_s
        )
        thorough = final or (not seen and now >= row.deadline_ts)
        look = self._look(ctx, row, thorough=thorough, deciding=deciding or thorough)
        # A record that came into being before its batch is formed, less the settle window,
        # has settled: the connector looks for its duplicates, and the engine may judge it
        # on this look (``asked``: when the batch was formed).
        look = dataclasses.replace(look, settled_before=now - stage.settle_s)
        clock = decide.Stage(
            deadline_ts=row.deadline_ts,
            grace_ts=row.grace_ts,
            settle_s=stage.settle_s,
            absent=expect.absent,
            stamped=bool(getattr(self._connector(stage.tool), "stamps_arrival", False)),
            seen_from=settle_from if seen else None,
        )
        when = {"final": final, "thorough": thorough, "deciding": deciding}
        try:
            observed, asked = await self.observer(stage.tool).look_timed(
                look, priority=row.deadline_ts
            )
        except ConnectorError as exc:
            row.last_error = self._said(exc)
            failed = decide.Failed(lasting=isinstance(exc, AuthError | BadUrl))
            self._apply(ctx, row, decide.decide(clock, failed, now=self.clock(), **when), [])
            return
        now = self.clock()
        row.last_error = None
        if observed:
            # What was seen is kept whatever follows: copies, ids, when it first showed.
            row.found = len(observed) if expect.absent else max(row.found, len(observed))
            _note_ids(row, observed)
            if row.first_seen_ts is None:
                row.first_seen_ts = now
                if not expect.absent:
                    row.state = SETTLING
            if not expect.absent and row.origin_ts is not None and row.arrived_ts is None:
                row.arrived_ts = _arrival(observed, row.origin_ts, row.first_seen_ts)
                for child in _children(ctx.rows, row.name):
                    self._hand_off(wf, ctx.rows, child, row.arrived_ts)
                self._wake_children(ctx, row)
        start = row.arrived_ts if row.arrived_ts is not None else row.first_seen_ts
        seen_now = decide.Seen(count=len(observed), start=start if observed else None)
        outcome = decide.decide(clock, seen_now, now=now, asked=asked, **when)
        self._apply(ctx, row, outcome, observed)

    def _apply(
        self,
        ctx: _RunContext,
        row: StageRow,
        outcome: decide.Outcome,
        observed: list[dict[str, Any]],
    ) -> None:
        """Do what ``decide`` said: judge, decide, or look again (the I/O around it)."""
        stage = ctx.wf.stage(row.name)
        seam, where = ctx.wf.seam(stage), stage.display
        now = self.clock()
        if isinstance(outcome, decide.Wait):
            self._schedule(row, now, limit=outcome.limit, floor=outcome.floor)
            return
        if isinstance(outcome, decide.Judge):
            self._decide_found(ctx, row, observed)
        elif isinstance(outcome, decide.Absent):
            self._done(row, [], latency=None)
        elif isinstance(outcome, decide.Missing):
            finding = diagnosis.missing_finding(
                seam=seam,
                where=where,
                deadline_s=stage.deadline_s + stage.grace_s,
                grace_s=stage.grace_s,
            )
            self._done(row, [finding], latency=None)
        else:
            error = row.last_error or "the look failed"
            finding = diagnosis.unreachable_finding(seam=seam, where=where, error=error)
            self._done(row, [finding], latency=None)
        self._wake_children(ctx, row)

    def _decide_found(
        self, ctx: _RunContext, row: StageRow, observed: list[dict[str, Any]]
    ) -> None:
        """Judge a stage on what it shows now, timed from its seam clock where it runs."""
        wf = ctx.wf
        stage = wf.stage(row.name)
        expect = self._expectation(wf, ctx.run["variant"], stage)
        seam, where = wf.seam(stage), stage.display
        findings = diagnosis.compare(ctx.record, expect, observed, seam=seam, where=where)
        latency: float | None = None
        if row.origin_ts is not None:
            first_seen = row.first_seen_ts if row.first_seen_ts is not None else self.clock()
            if row.arrived_ts is None:
                row.arrived_ts = _arrival(observed, row.origin_ts, first_seen)
            latency = max(0.0, row.arrived_ts - row.origin_ts)
            if not expect.absent and row.arrived_ts > row.deadline_ts:
                findings.insert(
                    0,
                    diagnosis.late_finding(
                        seam=seam, where=where, latency_s=latency, deadline_s=stage.deadline_s
                    ),
                )
        self._done(row, findings, latency=latency)

    def _localised_result(self, ctx: _RunContext, row: StageRow) -> StageResult:
        """``row``'s result as the final report will show it: a consequence of an upstream
        break reads as one while the run is still going (an upstream is always decided
        before the stages after it)."""
        variant = ctx.run["variant"]
        results = [self._stage_result(ctx.wf, r, variant) for r in ctx.rows.values()]
        localised, _ = diagnosis.localise(ctx.wf, results)
        here = (r for r in localised if r.name == row.name)
        return next(here, self._stage_result(ctx.wf, row, variant))

    def _stage_result(self, wf: WorkflowConfig, row: StageRow, variant: str | None) -> StageResult:
        stage = wf.stage(row.name)
        return StageResult(
            name=row.name,
            tool=row.tool,
            after=row.after,
            status=row.status,
            found=row.found,
            latency_s=row.latency_s,
            findings=row.finding_list(),
            label=stage.display,
            handoff_at=None if row.origin_ts is None else _iso(row.origin_ts),
            arrived_at=None if row.arrived_ts is None else _iso(row.arrived_ts),
            queued_s=row.queued_s,
            expected_absent=self._expectation(wf, variant, stage).absent,
        )

    async def _finalize(self, ctx: _RunContext, *, status: str) -> RunResult:
        wf, run, record = ctx.wf, ctx.run, ctx.record
        rows = list(ctx.rows.values())  # the run's rows, as every check left them (and saved)
        # Localised: a stage missing because its upstream is missing is a consequence, not a
        # second break; one below a stage that could not be checked is "could not check".
        results = [self._stage_result(wf, r, run["variant"]) for r in rows]
        stages, first = diagnosis.localise(wf, results)
        # A run that was watched to its end knows what it saw; one closed after a crash
        # does not, so every tool is searched thoroughly then.
        cleanup = await self._cleanup(
            run["id"],
            record,
            thorough=status != RUN_FINISHED,
            stages=rows,
            started=float(run["started_ts"]),
        )
        now = self.clock()
        verdict = verdict_for(stages)
        result = RunResult(
            run_id=run["id"],
            workflow=wf.name,
            variant=run["variant"],
            started_at=run["started_at"] or _iso(run["started_ts"]),
            finished_at=_iso(now),
            verdict=verdict,
            stages=stages,
            first_break=first if verdict != Verdict.OK else None,
            cleanup=cleanup,
            marker=record.marker,
        )
        self.store.finish_run(result, status=status, finished_ts=now)
        # Digests read per-day rollups; sync_rollup() repairs a crash between the two writes.
        record_stage_rollup(self.store.db, rows, verdict=str(verdict))
        return result

    async def _cleanup(
        self,
        run_id: str,
        record: TestRecord,
        *,
        thorough: bool = True,
        stages: list[StageRow] | None = None,
        started: float | None = None,
    ) -> CleanupResult:
        """Remove the record from every tool, all tools at once, each through its cleanup
        loop (shared with every other run ending now). ``done`` only when every tool's
        cleanup went through; a tool that could not be cleaned stays pending (``baton
        cleanup`` retries it) and its error names what Baton saw there and could not remove.

        ``thorough=False`` (a run that just finished): a tool where every stage found the
        record by its email, as expected, is not searched by marker."""
        rows = self.store.cleanup_rows(run_id)
        removed = sum(r["removed"] or 0 for r in rows)
        seen: dict[str, list[str]] = {}
        off: set[str] = set()
        stages = self.store.stages(run_id) if stages is None else stages
        for stage in stages:
            seen.setdefault(stage.tool, []).extend(stage.seen_id_list())
            if stage.status != STATUS_OK or stage.state != DONE:
                off.add(stage.tool)
        if started is None:
            started = stages[0].started_ts if stages else 0.0

        async def one(tool: str) -> tuple[str, int | ConnectorError]:
            if not _cleans_up(self._connector(tool)):
                return tool, 0  # nothing to remove there (a form endpoint, a catch hook)
            removal = Removal(
                record,
                known_ids=tuple(dict.fromkeys(seen.get(tool, []))),
                thorough=thorough or tool in off,
                since=started,
            )
            try:
                return tool, await self.remover(tool).remove(removal, priority=started)
            except ConnectorError as exc:
                return tool, exc

        pending = [row["tool"] for row in rows if row["status"] == CLEANUP_PENDING]
        errors: list[str] = []
        for tool, outcome in await asyncio.gather(*(one(t) for t in pending)):
            if isinstance(outcome, ConnectorError):
                ids = list(dict.fromkeys(seen.get(tool, [])))
                left = f"{tool}: could not remove {', '.join(ids)}: " if ids else ""
                errors.append(left + self._said(outcome))
                self.store.save_cleanup(
                    run_id,
                    tool,
                    status=CLEANUP_PENDING,
                    removed=0,
                    error=left + self._said(outcome),
                    now=self.clock(),
                )
                continue
            removed += outcome
            self.store.save_cleanup(
                run_id, tool, status=CLEANUP_DONE, removed=outcome, error=None, now=self.clock()
            )
        if not rows:
            status = "skipped"
        elif errors:
            status = "partial" if len(errors) < len(rows) else "failed"
        else:
            status = "done"
        return CleanupResult(status=status, removed=removed, errors=errors)


def _variant(wf: WorkflowConfig, variant: str | None) -> str | None:
    """The variant to use; ``default`` (unless a variant has that name) is the plain record."""
    if variant == "default" and variant not in wf.variants:
        return None
    if variant is not None and variant not in wf.variants:
        raise UsageError(_unknown("variant", variant, list(wf.variants), f"of {wf.name}"))
    return variant


def _arrival(observed: list[dict[str, Any]], origin: float, first_seen: float) -> float:
    """When the record came into being in its tool: between the handoff and when Baton first
    saw it, placed by the tool's own timestamps where its API gives them.

    ``_created_ts`` is the creation time. A coarse one (``_stamp_resolution_s``: 1 for
    Stripe's whole-second ``created``) only says "within that second": the record is placed
    at the earliest moment the stamp and the handoff allow, so a coarse clock never makes an
    on-time record late. ``_seen_by_ts`` is the time of an event of the record's (SendGrid's
    last event): it came into being about then, in the middle of the stamp's second. A
    stamp more than ``SKEW_S`` outside the window is another clock's mistake, and Baton's
    own sighting is used instead. Checks held back by rate limits or backoff never make a
    record late."""
    for key in ("_created_ts", "_seen_by_ts"):
        stamps = [float(r[key]) for r in observed if isinstance(r.get(key), int | float)]
        stamps = [t for t in stamps if math.isfinite(t)]
        if not stamps:
            continue
        stamp = min(stamps)
        if not origin - SKEW_S <= stamp <= first_seen + SKEW_S:
            continue
        if key == "_seen_by_ts":  # an event of the record's: it came into being about then
            resolution = max((_resolution(r) for r in observed), default=0.0)
            stamp += resolution / 2
        return min(max(stamp, origin), first_seen)
    return max(first_seen, origin)


def _resolution(record: dict[str, Any]) -> float:
    value = record.get("_stamp_resolution_s")
    if not isinstance(value, int | float) or not math.isfinite(value):
        return 0.0
    return min(max(float(value), 0.0), 60.0)


def _cleans_up(connector: Connector) -> bool:
    """Whether a connector has anything to remove (it overrides a cleanup method)."""
    cls = type(connector)
    return cls.cleanup is not Connector.cleanup or cls.cleanup_batch is not Connector.cleanup_batch


def _note_ids(row: StageRow, observed: list[dict[str, Any]]) -> None:
    """Remember the tool's ids of what was seen, so a failed cleanup can name them."""
    ids = row.seen_id_list()
    for record in observed:
        oid = record.get("_id")
        if oid is not None and str(oid) not in ids and len(ids) < 50:
            ids.append(str(oid))
    row.seen_ids = json.dumps(ids)


def _children(rows: Mapping[str, StageRow], name: str) -> list[StageRow]:
    return [r for r in rows.values() if r.after == name]


@dataclass
class _RunContext:
    """One active run as the engine works on it: its config, record and stage rows."""

    wf: WorkflowConfig
    run: RunRow
    record: TestRecord
    rows: dict[str, StageRow]
    wake: dict[str, asyncio.Event] = field(default_factory=dict)


def _unknown(what: str, name: str, choices: list[str], where: str = "") -> str:
    suffix = f" {where}" if where else ""
    known = f"; known: {', '.join(sorted(choices))}" if choices else ""
    return f"unknown {what} {msg.shown(name)}{suffix}{msg.did_you_mean(name, choices)}{known}"


__all__ = ["Engine", "ProgressCallback", "is_reserved_email"]
