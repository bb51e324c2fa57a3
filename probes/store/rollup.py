"""Hourly rollup of finished probe runs, so a digest over a million stage results is fast.

A digest needs counts per status, finding kinds and latency percentiles per seam. Reading
every row of ``stages`` for that takes seconds at a million rows (percentiles need every
latency), so each finished run is also added, once, to three small tables:

``stage_rollup`` (one row per hour, workflow, stage, metric and key; ``n`` counts; the
primary key starts with the UTC day so a digest groups by day without sorting)
    ============  =================================================================
    metric        key
    ============  =================================================================
    ``status``    the stage's outcome: ``ok``, a finding kind, ``skipped``, or
                  ``not_reached`` (missing because the stage before it never saw the
                  record either: that seam was never exercised; also a stage missing
                  below one that could not be checked; as ``diagnosis.localise`` says:
                  a consequence, or "could not check (upstream unknown)")
    ``kind``      every finding kind the stage had (once per stage)
    ``latency``   the latency histogram bucket (see below)
    ``verdict``   on stage ``*`` only: the run's verdict (ok / leak / error)
    ============  =================================================================

``rollup_stages``: the seam label and position of each (workflow, stage), newest wins.

``rollup_runs`` (one row per run rolled up)
    makes rolling up idempotent (a run is counted once, however often it is offered) and
    indexes the failed runs by workflow, verdict and time for the digest's list of them, and
    every run by start time for digest buckets finer than an hour (:func:`recount`).

Latency histogram: fixed log-spaced buckets, 20 per decade from 0.01 s to 100,000 s
(about 28 h); bucket ``b`` holds ``[10**(b/20), 10**((b+1)/20))`` seconds and is read
back as its geometric middle, so a percentile taken from it is within ±6% of the exact
sample percentile. Faster or slower values go to the first or last bucket.

The engine calls :func:`record_stage_rollup` when a run finishes; :func:`sync_rollup`
adds any finished run that was missed (a crash between the two writes, or a store from
before the rollup existed).

    >>> latency_bucket(1.0), latency_bucket(12.0)
    (0, 21)
    >>> round(bucket_value(21), 2)
    11.89
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import sqlite_utils

from ..model import STATUS_PENDING, STATUS_SKIPPED, Finding, FindingKind, Reach, StageResult, trace
from .schema import migrate

ROLLUP_TABLE = "stage_rollup"
RUNS_TABLE = "rollup_runs"
STAGES_TABLE = "rollup_stages"
#: The ``stage`` value of the run-level rows (metric ``verdict``).
RUN_STAGE = "*"

STATUS = "status"
KIND = "kind"
LATENCY = "latency"
VERDICT = "verdict"

#: A stage reported missing whose upstream stage never saw the record either.
NOT_REACHED = "not_reached"
COULD_NOT_CHECK = str(FindingKind.UNREACHABLE)
#: Statuses that say nothing about the seam itself: left out of pass rates.
NOT_CHECKED = frozenset({STATUS_SKIPPED, NOT_REACHED})
#: Stages ``diagnosis.localise`` reports as no break of their own: counted ``not_reached``.
_NOT_A_BREAK = frozenset({Reach.NOT_REACHED, Reach.UPSTREAM_UNKNOWN})

BUCKETS_PER_DECADE = 20
MIN_BUCKET = -2 * BUCKETS_PER_DECADE  # 0.01 s
MAX_BUCKET = 5 * BUCKETS_PER_DECADE  # 100,000 s
#: Largest relative error of a latency read back from its bucket: sqrt(10**(1/20)) - 1.
BUCKET_PRECISION = 10 ** (0.5 / BUCKETS_PER_DECADE) - 1

HOUR_S = 3600
DAY_S = 86_400
_FINDING_KINDS = frozenset(str(k) for k in FindingKind)

_UPSERT = (
    f"INSERT INTO {ROLLUP_TABLE} (day_ts, workflow, stage, metric, key, hour_ts, n) "
    "VALUES (?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (day_ts, workflow, stage, metric, key, hour_ts) DO UPDATE SET n = n + excluded.n"
)
_UPSERT_STAGE = (
    f"INSERT INTO {STAGES_TABLE} (workflow, stage, seam, position) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (workflow, stage) DO UPDATE SET seam = excluded.seam, position = excluded.position"
)

_Key = tuple[int, str, str, str, str]  # hour_ts, workflow, stage, metric, key


def latency_bucket(seconds: float) -> int:
    """The histogram bucket of a latency: ``floor(20 * log10(seconds))``, clamped."""
    if seconds <= 0:
        return MIN_BUCKET
    bucket = math.floor(BUCKETS_PER_DECADE * math.log10(seconds))
    return max(MIN_BUCKET, min(MAX_BUCKET, bucket))


def bucket_value(bucket: int) -> float:
    """The latency a bucket stands for: its geometric middle, in seconds."""
    return float(10 ** ((bucket + 0.5) / BUCKETS_PER_DECADE))


def hour_of(ts: float) -> int:
    """The start of the UTC hour holding ``ts``."""
    return int(ts // HOUR_S) * HOUR_S


def ensure_rollup(db: sqlite_utils.Database) -> None:
    """The store's tables, the rollup's among them (:mod:`.schema`), brought up to date."""
    migrate(db)


def stage_outcome(status: str, upstream_found: int | None) -> str:
    """The ``status`` key a stage is counted under.

    >>> stage_outcome("missing", upstream_found=0)
    'not_reached'
    >>> stage_outcome("missing", upstream_found=1)
    'missing'
    """
    if status == str(FindingKind.MISSING) and upstream_found == 0:
        return NOT_REACHED
    return status


def record_stage_rollup(
    db: sqlite_utils.Database,
    rows: Sequence[Any],
    *,
    verdict: str,
) -> bool:
    """Add one finished run to the rollup; False if it was already there (idempotent).

    ``rows`` are the run's stage rows: ``baton.probes.store.StageRow`` objects or ``stages`` table
    dicts (fields run_id, workflow, name, after, seam, position, status, found, latency_s,
    findings, started_ts). ``verdict`` is the run's verdict. One transaction, so two
    processes offering the same run count it once.

        rows = store.stages(run_id)
        record_stage_rollup(store.db, rows, verdict=str(result.verdict))
    """
    if not rows:
        return False
    ensure_rollup(db)
    return _apply(db, [(verdict, [_as_dict(r) for r in rows])]) == 1


def sync_rollup(db: sqlite_utils.Database, *, batch: int = 500) -> int:
    """Roll up every finished run that is not in the rollup yet; return how many.

    Cheap when nothing is missing (one indexed anti-join over ``runs``); run it when a
    process starts and before an on-demand digest.
    """
    ensure_rollup(db)
    if "runs" not in db.table_names():
        return 0
    missing = db.execute(
        f"SELECT id, verdict FROM runs WHERE verdict IS NOT NULL AND NOT EXISTS "
        f"(SELECT 1 FROM {RUNS_TABLE} rr WHERE rr.run_id = runs.id)"
    ).fetchall()
    added = 0
    for start in range(0, len(missing), batch):
        chunk = dict(missing[start : start + batch])
        marks = ",".join("?" * len(chunk))
        by_run: dict[str, list[dict[str, Any]]] = {}
        cur = db.execute(f"SELECT * FROM stages WHERE run_id IN ({marks})", list(chunk))
        names = [d[0] for d in cur.description]
        for values in cur.fetchall():
            row = dict(zip(names, values, strict=True))
            by_run.setdefault(row["run_id"], []).append(row)
        added += _apply(db, [(chunk[run_id], rows) for run_id, rows in by_run.items()])
    return added


def recount(
    db: sqlite_utils.Database,
    *,
    since: float,
    until: float,
    slot: Callable[[float], int],
    workflow: str | None = None,
    limit: int | None = None,
) -> Counter[tuple[int, str, str, str, str]] | None:
    """The rollup's counts of the runs rolled up that started in ``[since, until)``, keyed by
    ``slot(started_ts)`` instead of their hour; ``None`` when there are more than ``limit``.

    For time buckets finer than an hour (a digest over 2 h): each run is counted again from
    its stage rows, exactly as :func:`record_stage_rollup` counted it (same outcomes, kinds
    and latency buckets), so the finer buckets add up to the hourly rollup; each run falls in
    exactly one slot. Keys are ``(slot, workflow, stage, metric, key)``.
    """
    ensure_rollup(db)
    where = "started_ts >= ? AND started_ts < ?" + (" AND workflow = ?" if workflow else "")
    params: list[Any] = [since, until] + ([workflow] if workflow else [])
    (found,) = db.execute(f"SELECT COUNT(*) FROM {RUNS_TABLE} WHERE {where}", params).fetchone()
    if limit is not None and found > limit:
        return None
    counts: Counter[_Key] = Counter()
    if not found or "stages" not in db.table_names():
        return counts
    runs = db.execute(
        f"SELECT run_id, workflow, verdict, started_ts FROM {RUNS_TABLE} WHERE {where}", params
    ).fetchall()
    labels: dict[tuple[str, str], tuple[str, int]] = {}
    for start in range(0, len(runs), 500):
        chunk = {run_id: rest for run_id, *rest in runs[start : start + 500]}
        by_run: dict[str, list[dict[str, Any]]] = {}
        marks = ",".join("?" * len(chunk))
        cur = db.execute(f"SELECT * FROM stages WHERE run_id IN ({marks})", list(chunk))
        names = [d[0] for d in cur.description]
        for values in cur.fetchall():
            row = dict(zip(names, values, strict=True))
            by_run.setdefault(row["run_id"], []).append(row)
        for run_id, rows in by_run.items():
            wf, verdict, started = chunk[run_id]
            _count_run(counts, labels, str(wf), slot(float(started)), str(verdict), rows)
    return counts


def _as_dict(row: Any) -> dict[str, Any]:
    if isinstance(row, Mapping):
        return dict(row)
    return dict(vars(row))


def _apply(db: sqlite_utils.Database, runs: Iterable[tuple[str, list[dict[str, Any]]]]) -> int:
    """Count each not-yet-seen run into the rollup, in one transaction; return runs added."""
    counts: Counter[_Key] = Counter()
    labels: dict[tuple[str, str], tuple[str, int]] = {}
    added = 0
    conn = db.conn
    with conn:
        for verdict, rows in runs:
            first = min(rows, key=lambda r: r.get("position") or 0)
            workflow = str(first["workflow"])
            started = min(float(r["started_ts"] or 0.0) for r in rows)
            cur = conn.execute(
                f"INSERT OR IGNORE INTO {RUNS_TABLE} (run_id, workflow, verdict, started_ts) "
                "VALUES (?, ?, ?, ?)",
                [first["run_id"], workflow, str(verdict), started],
            )
            if cur.rowcount != 1:
                continue
            added += 1
            _count_run(counts, labels, workflow, hour_of(started), str(verdict), rows)
        conn.executemany(
            _UPSERT,
            [
                (hour // DAY_S * DAY_S, wf, stage, metric, key, hour, n)
                for (hour, wf, stage, metric, key), n in counts.items()
            ],
        )
        conn.executemany(
            _UPSERT_STAGE, [(wf, stage, *label) for (wf, stage), label in labels.items()]
        )
    return added


def _count_run(
    counts: Counter[_Key],
    labels: dict[tuple[str, str], tuple[str, int]],
    workflow: str,
    hour: int,
    verdict: str,
    rows: list[dict[str, Any]],
) -> None:
    found = {r["name"]: int(r.get("found") or 0) for r in rows}
    findings = {str(r["name"]): json.loads(r.get("findings") or "[]") for r in rows}
    traced = trace([_stage_of(r, findings[str(r["name"])]) for r in rows])
    counts[(hour, workflow, RUN_STAGE, VERDICT, verdict)] += 1
    for row in rows:
        status = str(row.get("status") or STATUS_PENDING)
        if status == STATUS_PENDING:
            continue  # never decided: nothing to count
        name = str(row["name"])
        labels[(workflow, name)] = (str(row.get("seam") or name), int(row.get("position") or 0))
        after = row.get("after")
        outcome = stage_outcome(status, found.get(after) if after else None)
        if traced[name].reach in _NOT_A_BREAK:
            outcome = NOT_REACHED  # as localised: a consequence, or upstream unknown
        counts[(hour, workflow, name, STATUS, outcome)] += 1
        if outcome not in NOT_CHECKED:
            kinds = {f.get("kind") for f in findings[name]}
            for kind in sorted(k for k in kinds if k in _FINDING_KINDS):
                counts[(hour, workflow, name, KIND, kind)] += 1
        latency = row.get("latency_s")
        if latency is not None:
            counts[(hour, workflow, name, LATENCY, str(latency_bucket(float(latency))))] += 1


def _stage_of(row: Mapping[str, Any], findings: list[dict[str, Any]]) -> StageResult:
    """Enough of a stage result to trace the record through the run."""
    return StageResult(
        name=str(row["name"]),
        tool=str(row.get("tool") or ""),
        after=row.get("after"),
        status=str(row.get("status") or STATUS_PENDING),
        found=int(row.get("found") or 0),
        latency_s=None,
        findings=[
            Finding.from_json(f)
            for f in findings
            if f.get("kind") in _FINDING_KINDS and isinstance(f.get("message"), str)
        ],
    )


__all__ = [
    "BUCKET_PRECISION",
    "COULD_NOT_CHECK",
    "NOT_CHECKED",
    "NOT_REACHED",
    "RUN_STAGE",
    "bucket_value",
    "counts",
    "ensure_rollup",
    "hour_of",
    "latency_bucket",
    "record_stage_rollup",
    "recount",
    "runs_with",
    "stage_labels",
    "stage_outcome",
    "sync_rollup",
]


# ---------------------------------------------------------------------------- reads (digests)


def stage_labels(db: sqlite_utils.Database) -> dict[tuple[str, str], tuple[str, int]]:
    """``(workflow, stage) -> (seam, position)`` for every stage the rollup has seen."""
    rows = db.execute(f"SELECT workflow, stage, seam, position FROM {STAGES_TABLE}").fetchall()
    return {(wf, stage): (seam, position) for wf, stage, seam, position in rows}


def counts(
    db: sqlite_utils.Database,
    *,
    since: int,
    until: float,
    slot_s: int | None,
    workflow: str | None = None,
) -> list[tuple[int, str, str, str, str, int]]:
    """``(slot, workflow, stage, metric, key, n)`` summed over the hours ``since``..``until``.

    ``slot`` is the UTC day (``slot_s`` None), or the start of the ``slot_s``-long slot of
    the hour (``slot_s`` a multiple of an hour that divides a day).
    """
    slot = f"hour_ts - hour_ts % {int(slot_s)}" if slot_s else "day_ts"
    sql = (
        f"SELECT {slot} AS slot, workflow, stage, metric, key, SUM(n) FROM {ROLLUP_TABLE} "
        "WHERE day_ts >= ? AND day_ts <= ? AND hour_ts >= ? AND hour_ts <= ?"
        + (" AND workflow = ?" if workflow else "")
        + " GROUP BY day_ts, workflow, stage, metric, key"
        + (", slot" if slot_s else "")
    )
    params: list[Any] = [since - since % DAY_S, until, since, until]
    return [tuple(r) for r in db.execute(sql, params + ([workflow] if workflow else []))]


def runs_with(
    db: sqlite_utils.Database,
    workflow: str,
    verdict: str,
    since: float,
    until: float,
    limit: int,
) -> list[tuple[str, float, str | None, str | None, str | None]]:
    """The newest ``limit`` runs of ``workflow`` with ``verdict`` that started in
    ``since``..``until``: ``(run_id, started_ts, variant, origin JSON, result JSON)``."""
    sql = (
        f"SELECT rr.run_id, rr.started_ts, runs.variant, runs.origin, runs.result "
        f"FROM {RUNS_TABLE} rr LEFT JOIN runs ON runs.id = rr.run_id "
        "WHERE rr.workflow = ? AND rr.verdict = ? AND rr.started_ts >= ? AND rr.started_ts < ? "
        "ORDER BY rr.started_ts DESC LIMIT ?"
    )
    return [tuple(r) for r in db.execute(sql, [workflow, verdict, since, until, limit])]
