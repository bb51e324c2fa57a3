"""The engine: inject a marked record, watch every downstream stage, diagnose, clean up.

A probe run is durable. ``start`` writes the run, its stages (with absolute deadlines) and
one cleanup row per tool to the store *before* injecting; the watch state of each stage is
saved after every check. So any process can pick a run up where another left it
(``resume_interrupted``), and ``tick`` advances every active run by one step without holding
a task per run: deadlines of hours cost nothing while nothing is due.

    engine = Engine(config, store=open_store("baton.db"), client=httpx.AsyncClient())
    result = await engine.run("lead-to-invoice", variant="paypal")
    print(result.verdict, result.first_break)
"""

from __future__ import annotations

import asyncio
import datetime as dt
import difflib
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from types import SimpleNamespace
from typing import Any

import httpx
from tenacity import wait_exponential, wait_random
from tenacity.wait import wait_base

from . import connectors, diagnosis
from .config import Config, Expectation, StageConfig, WorkflowConfig
from .connectors import Connector, RetryPolicy
from .errors import ConnectorError, UsageError
from .model import (
    STATUS_PENDING,
    STATUS_SKIPPED,
    CleanupResult,
    Finding,
    FindingKind,
    RunResult,
    StageResult,
    Verdict,
    status_for,
    verdict_for,
)
from .record import TestRecord, make_record, new_marker
from .rollup import record_stage_rollup
from .store import (
    CLEANUP_DONE,
    CLEANUP_PENDING,
    DONE,
    RUN_FINISHED,
    RUN_INTERRUPTED,
    SETTLING,
    WAITING,
    StageRow,
    Store,
)

ProgressCallback = Callable[[StageResult], Awaitable[None]]

#: Domains that never reach a real person (RFC 2606 / RFC 6761).
RESERVED_DOMAINS = ("example.com", "example.org", "example.net")
RESERVED_SUFFIXES = (".example", ".test", ".invalid", ".localhost")

#: How long a process keeps its claim on a run between two checks.
LEASE_S = 60.0


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
        # Bounds the requests in flight: hundreds of runs polling at once would otherwise
        # queue thousands of requests in the HTTP pool, whose bookkeeping grows with it.
        self._checks = asyncio.Semaphore(max_concurrent_checks)
        self._connectors: dict[str, Connector] = {}

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
        )
        self.store.claim(run_id, self.owner, now=now, lease_s=LEASE_S)
        entry = rows[0]
        try:
            await self._connector(wf.entry.tool).inject(record, wf.entry)
        except ConnectorError as exc:
            finding = diagnosis.unreachable_finding(
                seam=wf.seam(wf.entry), where=wf.entry.display, error=str(exc)
            )
            self._done(entry, [finding], latency=None)
            for row in rows[1:]:
                row.state, row.status = DONE, STATUS_SKIPPED
                self.store.save_stage(row)
            return run_id
        self._done(entry, [], latency=self.clock() - now)
        entry.found = 1
        self.store.save_stage(entry)
        return run_id

    async def finish(
        self, run_id: str, *, on_progress: ProgressCallback | None = None
    ) -> RunResult:
        """Watch a started run until every stage is decided, then diagnose and clean up.

        Each undecided stage is watched by its own task, so a slow or failing tool never
        delays the checks of the others.
        """
        run = self.store.run(run_id)
        if run is None:
            raise UsageError(f"no probe run {run_id!r} in the store")
        if run["status"] != "active":
            return await self._result_of(run_id)
        wf = self._workflow(run["workflow"])
        record = self._record(wf, run["variant"], run["overrides"], run["marker"])
        rows = self.store.stages(run_id)

        async def report(row: StageRow) -> None:
            if on_progress is not None:
                await on_progress(self._stage_result(wf, row))

        async def watch(row: StageRow) -> None:
            while row.state != DONE:
                delay = row.next_check_ts - self.clock()
                if delay > 0:
                    await self.sleep(delay)
                self.store.claim(run_id, self.owner, now=self.clock(), lease_s=LEASE_S)
                await self._check(wf, run, record, row)
            await report(row)

        for row in rows:
            if row.state == DONE:
                await report(row)
        try:
            await asyncio.gather(*(watch(r) for r in rows if r.state != DONE))
        except asyncio.CancelledError:
            # Ctrl-C or shutdown: let `baton resume` (or another process) take it at once.
            self.store.release(run_id, self.owner)
            raise
        return await self._finalize(wf, run, record, rows, status=RUN_FINISHED)

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
        wf = self._workflow(run["workflow"])
        record = self._record(wf, run["variant"], run["overrides"], run["marker"])
        rows = self.store.stages(run_id)
        due = [r for r in rows if r.state != DONE and r.next_check_ts <= now]
        if due:
            await asyncio.gather(*(self._check(wf, run, record, r) for r in due))
        if all(r.state == DONE for r in rows):
            return await self._finalize(wf, run, record, rows, status=RUN_FINISHED)
        return None

    async def tick(self) -> list[RunResult]:
        """One pass over every active run this process may work on; returns those finished.

        A run nobody watched through its deadline (its process died, and no stage was checked
        for longer than a lease) is closed as interrupted, as ``resume_interrupted`` does:
        checking it only now could call an on-time record late.
        """
        now = self.clock()
        finished: list[RunResult] = []
        for run in self.store.active_runs():
            if not self.store.claim(run["id"], self.owner, now=now, lease_s=LEASE_S):
                continue
            pending = [r for r in self.store.stages(run["id"]) if r.state != DONE]
            unwatched = pending and all(
                r.grace_ts <= now and now - r.next_check_ts > LEASE_S for r in pending
            )
            if unwatched:
                result: RunResult | None = await self._close_interrupted(run)
            else:
                result = await self.step(run["id"])
            if result is not None:
                finished.append(result)
        return finished

    async def resume_interrupted(self, *, takeover: bool = False) -> list[RunResult]:
        """Pick up runs whose process died: watch on if a deadline is still ahead, else close
        them as interrupted (stages not yet decided become "could not check"). Their cleanup
        runs either way. A run whose owner still holds its lease is left alone unless
        ``takeover`` (the operator knows that process is gone)."""
        now = self.clock()
        results: list[RunResult] = []
        for run in self.store.active_runs():
            if not self.store.claim(
                run["id"], self.owner, now=now, lease_s=LEASE_S, force=takeover
            ):
                continue
            pending = [r for r in self.store.stages(run["id"]) if r.state != DONE]
            if any(r.grace_ts > now for r in pending):
                results.append(await self.finish(run["id"]))
            else:
                results.append(await self._close_interrupted(run))
        return results

    async def _close_interrupted(self, run: dict[str, Any]) -> RunResult:
        """Undecided stages become "could not check"; then diagnose and clean up as usual."""
        wf = self._workflow(run["workflow"])
        record = self._record(wf, run["variant"], run["overrides"], run["marker"])
        rows = self.store.stages(run["id"])
        for row in rows:
            if row.state == DONE:
                continue
            stage = wf.stage(row.name)
            if row.first_seen_ts is not None and await self._judge_seen(wf, run, record, row):
                continue
            finding = diagnosis.unreachable_finding(
                seam=wf.seam(stage),
                where=stage.display,
                error="Baton was interrupted while watching and the deadline passed",
            )
            self._done(row, [finding], latency=None)
        return await self._finalize(wf, run, record, rows, status=RUN_INTERRUPTED)

    async def _judge_seen(
        self, wf: WorkflowConfig, run: dict[str, Any], record: TestRecord, row: StageRow
    ) -> bool:
        """A stage already seen before the interruption is judged on one more look (its
        content and duplicates), timed by when it was first seen. False if that look fails."""
        stage = wf.stage(row.name)
        expect = self._expectation(wf, run["variant"], stage)
        try:
            observed = await self._connector(stage.tool).observe(record, stage)
        except ConnectorError:
            return False
        if not observed or row.first_seen_ts is None:
            return False
        seam, where = wf.seam(stage), stage.display
        row.found = max(row.found, len(observed))
        findings = diagnosis.compare(record, expect, observed, seam=seam, where=where)
        latency = row.first_seen_ts - row.started_ts
        if row.first_seen_ts > row.deadline_ts:
            findings.insert(
                0,
                diagnosis.late_finding(
                    seam=seam, where=where, latency_s=latency, deadline_s=stage.deadline_s
                ),
            )
        self._done(row, findings, latency=latency)
        return True

    def held_runs(self) -> list[tuple[str, float]]:
        """Active runs another live process is watching: (run id, lease end)."""
        now = self.clock()
        return [
            (r["id"], float(r["lease_until"]))
            for r in self.store.active_runs()
            if r.get("lease_owner") not in (None, self.owner) and (r["lease_until"] or 0) > now
        ]

    async def cleanup_pending(self) -> int:
        """Retry every cleanup not yet done (from crashed or failed runs); return removed."""
        removed = 0
        by_run: dict[str, list[dict[str, Any]]] = {}
        for row in self.store.pending_cleanup():
            by_run.setdefault(row["run_id"], []).append(row)
        for run_id in by_run:
            run = self.store.run(run_id)
            if run is None or run["status"] == "active":
                continue  # its own finish() will clean up
            wf = self.config.workflows.get(run["workflow"])
            if wf is None:
                continue
            record = self._record(wf, run["variant"], run["overrides"], run["marker"])
            before = sum(r["removed"] or 0 for r in self.store.cleanup_rows(run_id))
            result = await self._cleanup(run_id, record)
            self.store.update_cleanup_result(run_id, result)
            removed += result.removed - before
        return removed

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
        return StageRow(
            run_id=run_id,
            name=stage.name,
            tool=stage.tool,
            after=stage.after,
            seam=wf.seam(stage),
            state=WAITING,
            status=STATUS_PENDING,
            deadline_ts=now + stage.deadline_s,
            grace_ts=now + stage.deadline_s + stage.grace_s,
            next_check_ts=now,
            workflow=wf.name,
            started_ts=now,
            position=position,
        )

    def _connector(self, tool: str) -> Connector:
        conn = self._connectors.get(tool)
        if conn is None:
            conn = connectors.build(self.config.tools[tool], self.client, retry=self.retry)
            self._connectors[tool] = conn
        return conn

    def _done(self, row: StageRow, findings: list[Finding], *, latency: float | None) -> None:
        row.state = DONE
        row.status = status_for(findings)
        row.findings = json.dumps([f.to_json() for f in findings])
        row.latency_s = latency
        self.store.save_stage(row)

    def _schedule(self, row: StageRow, now: float, *, limit: float) -> None:
        row.attempts += 1
        state = SimpleNamespace(attempt_number=row.attempts)
        wait = float(self.poll_wait(state))  # type: ignore[arg-type]
        row.next_check_ts = min(now + wait, max(limit, now + 0.05))
        self.store.save_stage(row)

    async def _check(
        self, wf: WorkflowConfig, run: dict[str, Any], record: TestRecord, row: StageRow
    ) -> None:
        stage = wf.stage(row.name)
        expect = self._expectation(wf, run["variant"], stage)
        seam, where = wf.seam(stage), stage.display
        try:
            async with self._checks:
                observed = await self._connector(stage.tool).observe(record, stage)
        except ConnectorError as exc:
            row.last_error = str(exc)
            now = self.clock()
            end = row.deadline_ts if expect.absent else row.grace_ts
            if now >= end:
                self._done(
                    row,
                    [diagnosis.unreachable_finding(seam=seam, where=where, error=str(exc))],
                    latency=None,
                )
            else:
                self._schedule(row, now, limit=end)
            return
        now = self.clock()
        row.last_error = None
        if expect.absent:
            if observed:
                row.found = len(observed)
                findings = diagnosis.compare(record, expect, observed, seam=seam, where=where)
                self._done(row, findings, latency=now - row.started_ts)
            elif now >= row.deadline_ts:
                self._done(row, [], latency=None)
            else:
                self._schedule(row, now, limit=row.deadline_ts)
            return
        if observed:
            row.found = max(row.found, len(observed))
            if row.first_seen_ts is None:
                row.first_seen_ts = now
                row.state = SETTLING
            settle_end = row.first_seen_ts + stage.settle_s
            if now >= settle_end:
                findings = diagnosis.compare(record, expect, observed, seam=seam, where=where)
                arrived = _arrival(observed, row.started_ts, row.first_seen_ts, row.deadline_ts)
                latency = arrived - row.started_ts
                if arrived > row.deadline_ts:
                    findings.insert(
                        0,
                        diagnosis.late_finding(
                            seam=seam, where=where, latency_s=latency, deadline_s=stage.deadline_s
                        ),
                    )
                self._done(row, findings, latency=latency)
            else:
                self._schedule(row, now, limit=settle_end)
            return
        if row.first_seen_ts is not None:
            # Seen before, gone now (archived by someone, or a flaky search): keep watching
            # until the settle window ends, then judge on what was seen.
            settle_end = row.first_seen_ts + stage.settle_s
            if now < settle_end:
                self._schedule(row, now, limit=settle_end)
                return
        if now >= row.grace_ts:
            upstream = self._upstream_missing(wf, row)
            self._done(
                row,
                [
                    diagnosis.missing_finding(
                        seam=seam,
                        where=where,
                        deadline_s=stage.deadline_s + stage.grace_s,
                        upstream_missing=upstream,
                    )
                ],
                latency=None,
            )
            return
        self._schedule(row, now, limit=row.grace_ts if now >= row.deadline_ts else row.deadline_ts)

    def _upstream_missing(self, wf: WorkflowConfig, row: StageRow) -> str | None:
        if row.after is None:
            return None
        for other in self.store.stages(row.run_id):
            if other.name == row.after and other.status == str(FindingKind.MISSING):
                return wf.stage(other.name).display
        return None

    def _stage_result(self, wf: WorkflowConfig, row: StageRow) -> StageResult:
        return StageResult(
            name=row.name,
            tool=row.tool,
            after=row.after,
            status=row.status,
            found=row.found,
            latency_s=row.latency_s,
            findings=row.finding_list(),
            label=wf.stage(row.name).display,
        )

    async def _finalize(
        self,
        wf: WorkflowConfig,
        run: dict[str, Any],
        record: TestRecord,
        rows: list[StageRow],
        *,
        status: str,
    ) -> RunResult:
        rows = self.store.stages(run["id"])
        stages = [self._stage_result(wf, r) for r in rows]
        cleanup = await self._cleanup(run["id"], record)
        now = self.clock()
        verdict = verdict_for(stages)
        result = RunResult(
            run_id=run["id"],
            workflow=wf.name,
            variant=run["variant"],
            started_at=run["started_at"],
            finished_at=_iso(now),
            verdict=verdict,
            stages=stages,
            first_break=diagnosis.first_break(wf, stages) if verdict != Verdict.OK else None,
            cleanup=cleanup,
            marker=record.marker,
        )
        self.store.finish_run(result, status=status, finished_ts=now)
        # Digests read per-day rollups; sync_rollup() repairs a crash between the two writes.
        record_stage_rollup(self.store.db, self.store.stages(run["id"]), verdict=str(verdict))
        return result

    async def _cleanup(self, run_id: str, record: TestRecord) -> CleanupResult:
        rows = self.store.cleanup_rows(run_id)
        removed = sum(r["removed"] or 0 for r in rows)
        errors: list[str] = []
        for row in rows:
            if row["status"] != CLEANUP_PENDING:
                continue
            tool = row["tool"]
            try:
                n = await self._connector(tool).cleanup(record)
            except ConnectorError as exc:
                errors.append(str(exc))
                self.store.save_cleanup(
                    run_id,
                    tool,
                    status=CLEANUP_PENDING,
                    removed=0,
                    error=str(exc),
                    now=self.clock(),
                )
                continue
            removed += n
            self.store.save_cleanup(
                run_id, tool, status=CLEANUP_DONE, removed=n, error=None, now=self.clock()
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


def _arrival(
    observed: list[dict[str, Any]], started: float, first_seen: float, deadline: float
) -> float:
    """When the record arrived: when Baton first saw it, unless that was after the deadline
    and the tool's own creation time says it was there in time (rate limits and backoff can
    delay our checks, never the tool's clock). Allows 5 s of clock skew."""
    if first_seen <= deadline:
        return first_seen
    stamps = [r.get("_created_ts") for r in observed]
    created = [float(t) for t in stamps if isinstance(t, int | float)]
    if created and started - 5 <= min(created) <= first_seen + 5:
        return min(max(min(created), started), first_seen)
    return first_seen


def _unknown(what: str, name: str, choices: list[str], where: str = "") -> str:
    suffix = f" {where}" if where else ""
    close = difflib.get_close_matches(name, choices, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    known = f"; known: {', '.join(sorted(choices))}" if choices else ""
    return f"unknown {what} {name!r}{suffix}{hint}{known}"


__all__ = ["Engine", "ProgressCallback", "is_reserved_email"]
