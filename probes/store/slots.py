"""Schedule slots and pause state: ``schedule_slots`` and ``schedule_state``.

A slot is claimed with one ``INSERT OR IGNORE`` on ``(workflow, slot_ts)``, so two processes
sharing the store never run the same slot twice; each claimed slot gets the next
``slot_index`` of its workflow. Pause and resume win over the config's ``paused`` flag. What
the slots mean (the schedule model, catch-up) is :mod:`baton.probes.health.schedule`.
"""

from __future__ import annotations

import time

import sqlite_utils

from ..config.slots import ScheduleSpec, norm_ts
from .schema import migrate


def ensure_schedule_tables(db: sqlite_utils.Database) -> None:
    """The store's tables, the schedule's among them (``baton.probes.store.schema``), up to date."""
    migrate(db)


def claim_slot(
    db: sqlite_utils.Database,
    workflow: str,
    slot_ts: float,
    *,
    owner: str = "",
    now: float | None = None,
) -> bool:
    """Claim one slot; False if any process claimed it before (one statement, atomic)."""
    ensure_schedule_tables(db)
    with db.conn:
        cur = db.execute(
            "INSERT OR IGNORE INTO schedule_slots (workflow, slot_ts, slot_index, claimed_ts, "
            "owner) SELECT ?, ?, COALESCE(MAX(slot_index) + 1, 0), ?, ? FROM schedule_slots "
            "WHERE workflow = ?",
            [workflow, norm_ts(slot_ts), time.time() if now is None else now, owner, workflow],
        )
    return cur.rowcount == 1


def slot_index(db: sqlite_utils.Database, workflow: str, slot_ts: float) -> int | None:
    """The index a claimed slot got (for variant rotation); ``None`` if not claimed."""
    ensure_schedule_tables(db)
    row = db.execute(
        "SELECT slot_index FROM schedule_slots WHERE workflow = ? AND slot_ts = ?",
        [workflow, norm_ts(slot_ts)],
    ).fetchone()
    return None if row is None else int(row[0])


def last_slot(db: sqlite_utils.Database, workflow: str) -> float | None:
    """The newest claimed slot of a workflow."""
    ensure_schedule_tables(db)
    row = db.execute(
        "SELECT MAX(slot_ts) FROM schedule_slots WHERE workflow = ?", [workflow]
    ).fetchone()
    return None if row is None or row[0] is None else float(row[0])


def set_paused(
    db: sqlite_utils.Database, workflow: str, paused: bool, *, now: float, by: str | None = None
) -> None:
    """Pause or resume a workflow's schedule (kept across restarts; wins over the config)."""
    ensure_schedule_tables(db)
    with db.conn:
        db.execute(
            "INSERT INTO schedule_state (workflow, paused, updated_ts, updated_by) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (workflow) DO UPDATE SET paused = excluded.paused, "
            "updated_ts = excluded.updated_ts, updated_by = excluded.updated_by",
            [workflow, int(paused), now, by],
        )


def pause_state(db: sqlite_utils.Database, spec: ScheduleSpec) -> tuple[bool, float | None]:
    """``(paused, when it was last paused or resumed)``; the config's flag if never."""
    ensure_schedule_tables(db)
    row = db.execute(
        "SELECT paused, updated_ts FROM schedule_state WHERE workflow = ?", [spec.workflow]
    ).fetchone()
    return (spec.paused, None) if row is None else (bool(row[0]), float(row[1]))


__all__ = [
    "claim_slot",
    "ensure_schedule_tables",
    "last_slot",
    "pause_state",
    "set_paused",
    "slot_index",
]
