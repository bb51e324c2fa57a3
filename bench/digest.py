"""Benchmark: a digest over 1,000,000 stored stage results must take under 500 ms.

Creates a temporary store (SQLite file, WAL) holding 200,000 finished runs of 5 workflows
with 5 stages each (an entry and 4 seams): 1,000,000 stage rows over the last 7 days, with
realistic outcomes (about 1 in 50 missing, some late or reformatted, some could-not-check)
and log-normal latencies. Rolls them up (``sync_rollup``, the backfill path), then times
``build_digest`` several times and prints min / median milliseconds. For comparison it
also times a plain SQL count over ``stages`` (no percentiles) and the engine's per-run
``record_stage_rollup``.

    python bench/digest.py                 # the full benchmark
    python bench/digest.py --runs 20000    # a quick one
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import sqlite_utils

from baton.probes.health.digest import build_digest, render_digest_text
from baton.probes.store import Store
from baton.probes.store.rollup import record_stage_rollup, sync_rollup

WORKFLOWS = [f"workflow-{i}" for i in range(1, 6)]
STAGES = ["form", "crm", "mail", "billing", "ledger"]
LABELS = {"form": "Form", "crm": "CRM", "mail": "Mail", "billing": "Invoice", "ledger": "Ledger"}
PERIOD_S = 7 * 86_400


def seed(db: sqlite_utils.Database, runs: int, now: float, rng: random.Random) -> None:
    run_rows, stage_rows = [], []
    for i in range(runs):
        wf = WORKFLOWS[i % len(WORKFLOWS)]
        started = now - PERIOD_S + (i + rng.random()) * PERIOD_S / runs
        run_id = f"r-{i:07d}"
        statuses, verdict, first_break = [], "ok", None
        reached = True
        for pos, name in enumerate(STAGES):
            if not reached:
                status = "missing"
            elif pos and rng.random() < 0.004:
                status = "missing"
                reached = False
            elif rng.random() < 0.002:
                status = rng.choice(["late", "reformatted", "duplicate"])
            elif rng.random() < 0.002:
                status = "unreachable"
            else:
                status = "ok"
            statuses.append(status)
            if status not in ("ok", "unreachable") and verdict != "leak":
                verdict = "leak"
                first_break = {"seam": name, "stage": name, "kind": status, "message": status}
            elif status == "unreachable" and verdict == "ok":
                verdict = "error"
        for pos, (name, status) in enumerate(zip(STAGES, statuses, strict=True)):
            after = STAGES[pos - 1] if pos else None
            seam = f"{LABELS[after]} → {LABELS[name]}" if after else LABELS[name]
            latency = None if status in ("missing", "unreachable") else rng.lognormvariate(1.0, 0.8)
            findings = "[]" if status == "ok" else json.dumps([{"kind": status, "message": ""}])
            found = 0 if status in ("missing", "unreachable") else 1
            stage_rows.append(
                (
                    run_id,
                    name,
                    pos,
                    wf,
                    name,
                    after,
                    seam,
                    "done",
                    status,
                    started,
                    latency,
                    found,
                    findings,
                )
            )
        result = json.dumps({"first_break": first_break}) if verdict != "ok" else "{}"
        origin = json.dumps({"slack_channel": "C1", "slack_thread_ts": f"{started:.6f}"})
        run_rows.append((run_id, run_id, wf, "finished", verdict, started, origin, result))
    with db.conn:
        db.conn.executemany(
            "INSERT INTO runs (id, marker, workflow, status, verdict, started_ts, origin, result) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            run_rows,
        )
        db.conn.executemany(
            "INSERT INTO stages (run_id, name, position, workflow, tool, after, seam, state, "
            "status, started_ts, latency_s, found, findings) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            stage_rows,
        )


def timed(fn: object, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]
        out.append((time.perf_counter() - t0) * 1000)
    return out


def report(label: str, ms: list[float]) -> None:
    print(f"{label:<44} min {min(ms):8.1f} ms   median {statistics.median(ms):8.1f} ms")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--print", action="store_true", help="print the digest text too")
    args = parser.parse_args(argv)
    rng = random.Random(42)
    now = 1_780_000_000.0
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(sqlite_utils.Database(str(Path(tmp) / "bench.db")))
        db = store.db
        t0 = time.perf_counter()
        seed(db, args.runs, now, rng)
        (stage_count,) = db.execute("SELECT COUNT(*) FROM stages").fetchone()
        print(
            f"seeded {args.runs:,} runs, {stage_count:,} stage rows in "
            f"{time.perf_counter() - t0:.1f} s"
        )
        t0 = time.perf_counter()
        added = sync_rollup(db)
        (rollup_rows,) = db.execute("SELECT COUNT(*) FROM stage_rollup").fetchone()
        print(
            f"sync_rollup (backfill) of {added:,} runs: {time.perf_counter() - t0:.1f} s, "
            f"{rollup_rows:,} rollup rows"
        )

        digest = build_digest(store, now)
        checked = sum(s.runs for w in digest.workflows for s in w.seams)
        assert checked == stage_count, (checked, stage_count)
        report(
            "build_digest, all workflows, 7 days",
            timed(lambda: build_digest(store, now), args.repeat),
        )
        report(
            "build_digest, one workflow, 7 days",
            timed(lambda: build_digest(store, now, workflow=WORKFLOWS[0]), args.repeat),
        )
        report(
            "build_digest, all workflows, 24 h",
            timed(lambda: build_digest(store, now, period_s=86_400), args.repeat),
        )
        report("sync_rollup with nothing to add", timed(lambda: sync_rollup(db), args.repeat))
        plain = (
            "SELECT workflow, seam, status, COUNT(*) FROM stages WHERE state = 'done' "
            "AND started_ts >= ? AND started_ts < ? GROUP BY workflow, seam, status"
        )
        report(
            "for comparison: plain SQL counts, no p50/p95",
            timed(lambda: db.execute(plain, [now - PERIOD_S, now]).fetchall(), 3),
        )

        rows = [store.stages(f"r-{i:07d}") for i in range(1000)]
        db.execute("DELETE FROM rollup_runs WHERE run_id < 'r-0001000'")
        t0 = time.perf_counter()
        for stage_rows in rows:
            record_stage_rollup(db, stage_rows, verdict="ok")
        per_run = (time.perf_counter() - t0) * 1000 / len(rows)
        print(f"{'record_stage_rollup, per finished run':<44} mean {per_run:8.2f} ms")
        if args.print:
            print(render_digest_text(digest))
    return 0


if __name__ == "__main__":
    sys.exit(main())
