"""Storage of the alert state machine: ``alert_state`` and ``alert_flips`` (see
:mod:`probes.alerts`). Every write that reads first runs in ``BEGIN IMMEDIATE``, so two
processes sharing the store never interleave a read-decide-write.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from ._sqlite import create_tables

OK = "ok"
#: The flip kind whose delivery opens a thread (``probes.alerts.Action.NEW_ALERT``).
NEW_ALERT = "new_alert"


@dataclass(frozen=True)
class AlertState:
    """A workflow's alert state (a row of ``alert_state``)."""

    workflow: str
    status: str = OK
    consecutive_failures: int = 0  # leaks in a row (could-not-check results do not break it)
    consecutive_errors: int = 0  # could-not-check results in a row
    last_run_id: str | None = None
    thread: dict[str, Any] | None = None  # the open alert's thread: {"channel", "ts"}


@dataclass(frozen=True)
class Flip:
    """A recorded notification (a row of ``alert_flips``)."""

    id: int
    workflow: str
    old_status: str
    new_status: str
    kind: str  # an Action value: new_alert, recovered, add_to_thread
    run_id: str
    created_ts: float
    deliver_after_ts: float
    processed_ts: float | None
    thread: dict[str, Any] | None
    outcome: str | None


_DDL = """
CREATE TABLE IF NOT EXISTS alert_state (
    workflow TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    consecutive_failures INTEGER NOT NULL,
    consecutive_errors INTEGER NOT NULL,
    last_run_id TEXT,
    thread TEXT,
    updated_ts REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS alert_flips (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    workflow TEXT NOT NULL,
    old_status TEXT NOT NULL,
    new_status TEXT NOT NULL,
    kind TEXT NOT NULL,
    run_id TEXT NOT NULL,
    created_ts REAL NOT NULL,
    deliver_after_ts REAL NOT NULL,
    processed_ts REAL,
    thread TEXT,
    outcome TEXT,
    error TEXT
);
CREATE INDEX IF NOT EXISTS alert_flips_due ON alert_flips (processed_ts, deliver_after_ts);
"""


def ensure_alert_tables(db: sqlite_utils.Database) -> None:
    create_tables(db, _DDL)


def claim_flip(db: sqlite_utils.Database, flip_id: int, now: float) -> bool:
    """Take a flip for sending; False if another worker has it or it is not due yet."""
    ensure_alert_tables(db)
    with db.conn:
        cur = db.execute(
            "UPDATE alert_flips SET processed_ts = ? WHERE id = ? AND processed_ts IS NULL "
            "AND deliver_after_ts <= ?",
            [now, flip_id, now],
        )
    return cur.rowcount == 1


def record_delivery(
    db: sqlite_utils.Database,
    flip_id: int,
    *,
    now: float,
    thread: dict[str, Any] | None = None,
    error: str | None = None,
) -> None:
    """Write down how sending a claimed flip went; a NEW_ALERT's ``thread`` (channel and
    message ts) becomes the workflow's open thread, for the repeats and the recovery."""
    with db.conn:
        db.execute(
            "UPDATE alert_flips SET outcome = ?, error = ? WHERE id = ?",
            ["failed" if error else "sent", error, flip_id],
        )
        if thread is not None and error is None:
            db.execute(
                "UPDATE alert_state SET thread = ?, updated_ts = ? WHERE workflow = "
                "(SELECT workflow FROM alert_flips WHERE id = ? AND kind = ?) AND status = "
                "(SELECT new_status FROM alert_flips WHERE id = ?)",
                [json.dumps(thread), now, flip_id, NEW_ALERT, flip_id],
            )


#: How long an immediate flip may stay unclaimed before it counts as orphaned by a crash.
ORPHAN_AFTER_S = 120.0


def due_flips(db: sqlite_utils.Database, now: float) -> list[Flip]:
    """Deferred flips whose quiet hours are over, at most one per workflow (the newest).

    Also flips that were due at once but never claimed, ``ORPHAN_AFTER_S`` after they were
    written: their process died between writing them down and sending them.
    Older deferred flips of a workflow are marked ``superseded``; when the newest leaves the
    workflow where the oldest found it (it broke and recovered in the night), all are, and
    the open thread is kept. Claim each returned flip before sending it.
    """
    ensure_alert_tables(db)
    with immediate(db):
        rows = db.execute(
            "SELECT * FROM alert_flips WHERE processed_ts IS NULL AND deliver_after_ts <= ? "
            "AND (deliver_after_ts > created_ts OR created_ts < ?) ORDER BY id",
            [now, now - ORPHAN_AFTER_S],
        )
        names = [d[0] for d in rows.description]
        by_wf: dict[str, list[Flip]] = {}
        for values in rows.fetchall():
            flip = flip_from_row(dict(zip(names, values, strict=True)))
            by_wf.setdefault(flip.workflow, []).append(flip)
        out = []
        for flips in by_wf.values():
            first, last = flips[0], flips[-1]
            cancelled = flips if last.new_status == first.old_status else flips[:-1]
            for flip in cancelled:
                db.execute(
                    "UPDATE alert_flips SET processed_ts = ?, outcome = 'superseded' "
                    "WHERE id = ? AND processed_ts IS NULL",
                    [now, flip.id],
                )
            if len(cancelled) == len(flips):
                if first.thread is not None:
                    db.execute(
                        "UPDATE alert_state SET thread = ? WHERE workflow = ? AND thread IS NULL "
                        "AND status = ?",
                        [json.dumps(first.thread), first.workflow, first.old_status],
                    )
            else:
                out.append(last)
        return out


def load_state(db: sqlite_utils.Database, workflow: str) -> AlertState:
    """The workflow's alert state (``ok`` with no history if it has none)."""
    ensure_alert_tables(db)
    row = db.execute(
        "SELECT status, consecutive_failures, consecutive_errors, last_run_id, thread "
        "FROM alert_state WHERE workflow = ?",
        [workflow],
    ).fetchone()
    if row is None:
        return AlertState(workflow)
    status, leaks, errors, last_run_id, thread = row
    return AlertState(workflow, status, leaks, errors, last_run_id, json.loads(thread or "null"))


def flips(db: sqlite_utils.Database, workflow: str | None = None) -> list[Flip]:
    """Every recorded flip (of one workflow), oldest first."""
    ensure_alert_tables(db)
    where, params = ("WHERE workflow = ?", [workflow]) if workflow else ("", [])
    cur = db.execute(f"SELECT * FROM alert_flips {where} ORDER BY id", params)
    names = [d[0] for d in cur.description]
    return [flip_from_row(dict(zip(names, values, strict=True))) for values in cur.fetchall()]


@contextlib.contextmanager
def immediate(db: sqlite_utils.Database) -> Iterator[None]:
    """A write transaction taken up front, so read-decide-write is atomic across processes."""
    conn = db.conn
    if conn.in_transaction:
        yield
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.rollback()
        raise
    conn.commit()


def save_state(db: sqlite_utils.Database, state: AlertState, now: float) -> None:
    db.execute(
        "INSERT INTO alert_state (workflow, status, consecutive_failures, consecutive_errors, "
        "last_run_id, thread, updated_ts) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (workflow) "
        "DO UPDATE SET status = excluded.status, consecutive_failures = "
        "excluded.consecutive_failures, consecutive_errors = excluded.consecutive_errors, "
        "last_run_id = excluded.last_run_id, thread = excluded.thread, "
        "updated_ts = excluded.updated_ts",
        [
            state.workflow,
            state.status,
            state.consecutive_failures,
            state.consecutive_errors,
            state.last_run_id,
            json.dumps(state.thread) if state.thread is not None else None,
            now,
        ],
    )


def insert_flip(
    db: sqlite_utils.Database,
    old: AlertState,
    new: AlertState,
    kind: str,
    run_id: str,
    now: float,
    deliver_after: float,
    thread: dict[str, Any] | None,
) -> int:
    cur = db.execute(
        "INSERT INTO alert_flips (workflow, old_status, new_status, kind, run_id, created_ts, "
        "deliver_after_ts, thread) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            old.workflow,
            old.status,
            new.status,
            kind,
            run_id,
            now,
            deliver_after,
            json.dumps(thread) if thread is not None else None,
        ],
    )
    return int(cur.lastrowid or 0)


def flip_from_row(row: dict[str, Any]) -> Flip:
    row.pop("error", None)
    row["thread"] = json.loads(row["thread"] or "null")
    return Flip(**row)


__all__ = [
    "AlertState",
    "Flip",
    "claim_flip",
    "due_flips",
    "ensure_alert_tables",
    "flips",
    "immediate",
    "insert_flip",
    "load_state",
    "record_delivery",
    "save_state",
]
