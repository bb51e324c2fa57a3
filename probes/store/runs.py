"""The run store: every probe run, its stages and its cleanup, in SQLite (WAL).

Everything the engine needs to resume a run after a crash lives here: the marker (from
which the test record is rebuilt), absolute deadlines, what each stage has seen so far, and
one cleanup row per tool, written *before* anything is injected.

    >>> store = Store(sqlite_utils.Database(memory=True))
    >>> store.recent_runs(limit=5)
    []
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict, cast

import sqlite_utils

from ..errors import StoreError
from ..model import CleanupResult, Finding, FirstBreak, RunResult, StageResult, Verdict
from .schema import migrate

RUN_ACTIVE = "active"
RUN_FINISHED = "finished"
RUN_INTERRUPTED = "interrupted"

#: Stage watch states (``stages.state``); ``status`` holds ok or a finding kind once done.
WAITING = "waiting"
SETTLING = "settling"
DONE = "done"

CLEANUP_PENDING = "pending"
CLEANUP_DONE = "done"

#: How long opening a new store waits for other processes setting it up at the same time.
SETUP_WAIT_S = 10.0


class RunRow(TypedDict):
    """One row of ``runs``, as the store hands it out (``overrides`` and ``origin`` decoded)."""

    id: str
    marker: str
    workflow: str
    variant: str | None
    overrides: dict[str, Any]
    origin: dict[str, Any]
    status: str
    verdict: str | None
    started_at: str | None
    started_ts: float
    finished_at: str | None
    finished_ts: float | None
    lease_owner: str | None
    lease_until: float | None
    result: str | None


@dataclass
class StageRow:
    """The mutable watch state of one stage of one run (a row of ``stages``)."""

    run_id: str
    name: str
    tool: str
    after: str | None
    seam: str
    state: str
    status: str
    deadline_ts: float
    grace_ts: float
    next_check_ts: float
    attempts: int = 0
    first_seen_ts: float | None = None
    found: int = 0
    latency_s: float | None = None
    last_error: str | None = None
    findings: str = "[]"
    workflow: str = ""
    started_ts: float = 0.0
    position: int = 0
    #: The seam clock: when the upstream stage handed the record on (the entry accepted it,
    #: or the upstream record came into being in its tool). ``None`` until then; deadlines
    #: count from it. For the entry: when the run asked to inject.
    origin_ts: float | None = None
    #: When the record came into being here (the tool's own creation time where its API gives
    #: one, else when Baton first saw it); for the entry, when it accepted the record.
    arrived_ts: float | None = None
    #: The entry only: seconds the record waited in Baton before it was sent (rate limits,
    #: concurrency caps), Baton's own delay, never counted in any seam.
    queued_s: float | None = None
    #: The tool's ids of what was seen for the record here (JSON list): what cleanup must
    #: remove, named when it cannot.
    seen_ids: str = "[]"

    def seen_id_list(self) -> list[str]:
        try:
            ids = json.loads(self.seen_ids or "[]")
        except ValueError:
            return []
        return [str(i) for i in ids] if isinstance(ids, list) else []

    def finding_list(self) -> list[Finding]:
        return [Finding.from_json(f) for f in json.loads(self.findings)]


def open_store(path: str | Path) -> Store:
    """Open (or create) the store at ``path``, in WAL mode."""
    try:
        db = sqlite_utils.Database(str(path))
    except (sqlite3.Error, OSError) as exc:
        raise StoreError(f"cannot open the run store {str(path)!r}: {exc}") from exc
    return Store(db)


class Store:
    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db
        give_up = time.monotonic() + SETUP_WAIT_S
        while True:
            try:
                db.execute("PRAGMA busy_timeout=5000")
                if db.conn.execute("PRAGMA database_list").fetchone()[2]:  # a file
                    db.enable_wal()
                    db.execute("PRAGMA synchronous=NORMAL")
                self._migrate()
                return
            except sqlite3.DatabaseError as exc:
                # Processes opening a new store at once (parallel `baton run`s) race to set
                # it up: the loser's journal mode change or table creation fails. The
                # checks see the winner's work on the next try.
                if not _setup_race(exc) or time.monotonic() >= give_up:
                    raise StoreError(f"cannot use the run store: {exc}") from exc
                with contextlib.suppress(sqlite3.Error):
                    db.conn.rollback()
                time.sleep(0.05)

    def _migrate(self) -> None:
        migrate(self.db)  # every table of the store (baton.probes.store.schema), up to date

    # -- runs ----------------------------------------------------------------------------

    def create_run(
        self,
        *,
        run_id: str,
        marker: str,
        workflow: str,
        variant: str | None,
        overrides: dict[str, Any],
        origin: dict[str, Any],
        started_at: str,
        started_ts: float,
        stages: Iterable[StageRow],
        cleanup_tools: Iterable[str],
        lease_owner: str | None = None,
        lease_until: float | None = None,
    ) -> None:
        """Write a new run, its stages and its cleanup rows in one transaction."""
        with self.db.conn:
            self.db.table("runs").insert(
                {
                    "id": run_id,
                    "marker": marker,
                    "workflow": workflow,
                    "variant": variant,
                    "overrides": json.dumps(overrides, default=str),
                    "origin": json.dumps(origin, default=str),
                    "status": RUN_ACTIVE,
                    "started_at": started_at,
                    "started_ts": started_ts,
                    # Leased from birth: no other process may take it before its own claims.
                    "lease_owner": lease_owner,
                    "lease_until": lease_until,
                }
            )
            self.db.table("stages").insert_all(_stage_dict(s) for s in stages)
            self.db.table("cleanup").insert_all(
                {
                    "run_id": run_id,
                    "tool": tool,
                    "marker": marker,
                    "status": CLEANUP_PENDING,
                    "attempts": 0,
                    "removed": 0,
                    "updated_ts": started_ts,
                }
                for tool in cleanup_tools
            )

    def run(self, run_id: str) -> RunRow | None:
        rows = list(self.db.table("runs").rows_where("id = ?", [run_id]))
        if not rows:
            return None
        return _decode_run(rows[0])

    def active_runs(self) -> list[RunRow]:
        rows = self.db.table("runs").rows_where("status = ?", [RUN_ACTIVE], order_by="started_ts")
        return [_decode_run(r) for r in rows]

    def claim(
        self, run_id: str, owner: str, *, now: float, lease_s: float, force: bool = False
    ) -> bool:
        """Take (or renew) the lease on an active run; False if another live owner holds it.

        ``force`` takes it whoever holds it: for an operator who knows that process is gone.
        """
        with self.db.conn:
            cur = self.db.execute(
                "UPDATE runs SET lease_owner = ?, lease_until = ? WHERE id = ? AND status = ? "
                "AND (lease_owner IS NULL OR lease_owner = ? OR lease_until < ? OR ?)",
                [owner, now + lease_s, run_id, RUN_ACTIVE, owner, now, force],
            )
        return cur.rowcount == 1

    def release(self, run_id: str, owner: str) -> None:
        """Give up the lease on a run (this process stops watching it)."""
        with self.db.conn:
            self.db.execute(
                "UPDATE runs SET lease_owner = NULL, lease_until = NULL "
                "WHERE id = ? AND lease_owner = ?",
                [run_id, owner],
            )

    def finish_run(self, result: RunResult, *, status: str, finished_ts: float) -> None:
        with self.db.conn:
            self.db.table("runs").update(
                result.run_id,
                {
                    "status": status,
                    "verdict": str(result.verdict),
                    "finished_at": result.finished_at,
                    "finished_ts": finished_ts,
                    "lease_owner": None,
                    "lease_until": None,
                    "result": json.dumps(_result_json(result)),
                },
            )

    def update_cleanup_result(self, run_id: str, cleanup: CleanupResult) -> None:
        row = self.run(run_id)
        if row is None or not row["result"]:
            return
        data = json.loads(row["result"])
        data["cleanup"] = {"status": cleanup.status, "removed": cleanup.removed}
        self.db.table("runs").update(run_id, {"result": json.dumps(data)})

    # -- stages --------------------------------------------------------------------------

    def stages(self, run_id: str) -> list[StageRow]:
        rows = self.db.table("stages").rows_where("run_id = ?", [run_id], order_by="position")
        return [StageRow(**row) for row in rows]

    def save_stage(self, stage: StageRow) -> None:
        values = _stage_dict(stage)
        del values["run_id"], values["name"]
        with self.db.conn:
            self.db.execute(_SAVE_STAGE_SQL, [*values.values(), stage.run_id, stage.name])

    def recent_latencies(self, workflow: str, stage: str, *, limit: int = 50) -> list[float]:
        """The latencies of the newest ``limit`` arrivals at one stage (for pacing looks)."""
        rows = self.db.execute(
            "SELECT latency_s FROM stages WHERE workflow = ? AND name = ? "
            "AND latency_s IS NOT NULL AND state = ? ORDER BY started_ts DESC LIMIT ?",
            [workflow, stage, DONE, limit],
        ).fetchall()
        return [float(r[0]) for r in rows]

    # -- cleanup -------------------------------------------------------------------------

    def pending_cleanup(
        self, run_id: str | None = None, *, finished_only: bool = False
    ) -> list[dict[str, Any]]:
        """Cleanup tasks not yet done; ``finished_only`` leaves out runs still being watched
        (their own end cleans up)."""
        if run_id is None:
            where = "status = ?"
            if finished_only:
                where += " AND run_id IN (SELECT id FROM runs WHERE status != 'active')"
            return list(self.db.table("cleanup").rows_where(where, [CLEANUP_PENDING]))
        return list(
            self.db.table("cleanup").rows_where(
                "status = ? AND run_id = ?", [CLEANUP_PENDING, run_id]
            )
        )

    def cleanup_rows(self, run_id: str) -> list[dict[str, Any]]:
        return list(self.db.table("cleanup").rows_where("run_id = ?", [run_id]))

    def save_cleanup(
        self, run_id: str, tool: str, *, status: str, removed: int, error: str | None, now: float
    ) -> None:
        self.db.execute(
            "UPDATE cleanup SET status = ?, removed = removed + ?, attempts = attempts + 1, "
            "last_error = ?, updated_ts = ? WHERE run_id = ? AND tool = ?",
            [status, removed, error, now, run_id, tool],
        )
        self.db.conn.commit()

    # -- results -------------------------------------------------------------------------

    def get_result(self, run_id: str) -> RunResult | None:
        row = self.run(run_id)
        if row is None or not row["result"]:
            return None
        return _result_from_json(json.loads(row["result"]))

    def recent_runs(self, workflow: str | None = None, limit: int = 20) -> list[RunResult]:
        """Finished runs, newest first."""
        where = "result IS NOT NULL" + (" AND workflow = ?" if workflow else "")
        params = [workflow] if workflow else []
        rows = self.db.table("runs").rows_where(
            where, params, order_by="started_ts DESC", limit=limit, select="result"
        )
        return [_result_from_json(json.loads(r["result"])) for r in rows]

    def last_verdicts(self) -> dict[str, RunResult]:
        """The newest finished run of each workflow."""
        sql = (
            "SELECT r.result FROM runs r JOIN (SELECT workflow, MAX(started_ts) AS ts FROM runs "
            "WHERE result IS NOT NULL GROUP BY workflow) last "
            "ON r.workflow = last.workflow AND r.started_ts = last.ts WHERE r.result IS NOT NULL"
        )
        out: dict[str, RunResult] = {}
        for (text,) in self.db.execute(sql).fetchall():
            res = _result_from_json(json.loads(text))
            out[res.workflow] = res
        return out


def _setup_race(exc: sqlite3.DatabaseError) -> bool:
    """Whether setting up the store failed only because another process was doing it too."""
    code = getattr(exc, "sqlite_errorcode", None)  # extended: SQLITE_BUSY_RECOVERY, ...
    if code is not None and (code & 0xFF) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return True
    text = str(exc)
    return any(s in text for s in ("database is locked", "already exists", "duplicate column"))


def _decode_run(row: dict[str, Any]) -> RunRow:
    row["overrides"] = json.loads(row["overrides"] or "{}")
    row["origin"] = json.loads(row["origin"] or "{}")
    return cast(RunRow, row)


def _stage_dict(s: StageRow) -> dict[str, Any]:
    return dict(s.__dict__)


_STAGE_COLUMNS = [f for f in StageRow.__dataclass_fields__ if f not in ("run_id", "name")]
_SAVE_STAGE_SQL = (
    "UPDATE stages SET "
    + ", ".join(f"[{c}] = ?" for c in _STAGE_COLUMNS)
    + " WHERE run_id = ? AND name = ?"
)


def _result_json(result: RunResult) -> dict[str, Any]:
    data = result.to_json()
    data["marker"] = result.marker
    data["cleanup"]["errors"] = result.cleanup.errors
    for stage_json, stage in zip(data["stages"], result.stages, strict=True):
        stage_json["label"] = stage.label
    return data


def _result_from_json(data: dict[str, Any]) -> RunResult:
    fb = data.get("first_break")
    cleanup = data.get("cleanup") or {}
    return RunResult(
        run_id=data["run_id"],
        workflow=data["workflow"],
        variant=data.get("variant"),
        started_at=data["started_at"],
        finished_at=data.get("finished_at"),
        verdict=Verdict(data["verdict"]),
        stages=[
            StageResult(
                name=s["name"],
                tool=s["tool"],
                after=s.get("after"),
                status=s["status"],
                found=s["found"],
                latency_s=s.get("latency_s"),
                findings=[Finding.from_json(f) for f in s.get("findings", [])],
                label=s.get("label", ""),
                handoff_at=s.get("handoff_at"),
                arrived_at=s.get("arrived_at"),
                queued_s=s.get("queued_s"),
                expected_absent=bool(s.get("expect_absent", False)),
            )
            for s in data["stages"]
        ],
        first_break=FirstBreak(**fb) if fb else None,
        cleanup=CleanupResult(
            status=cleanup.get("status", "pending"),
            removed=cleanup.get("removed", 0),
            errors=list(cleanup.get("errors", [])),
        ),
        marker=data.get("marker", ""),
    )
