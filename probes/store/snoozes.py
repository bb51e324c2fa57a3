"""An alert's life after it is posted: which message it is, its snoozes and failing streaks.

``alert_snoozes``: a workflow's alerts held back, for a time or until it passes again (a new
snooze ends the one before). ``alert_streaks``: when each workflow started failing (its first
non-ok scheduled result) and when it passed again, so a recovery can say how long it failed.
The alert's message itself is its flip in ``alert_flips`` (:mod:`.alerts`).
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlite_utils


@dataclass(frozen=True)
class AlertRow:
    """An alert Baton posted: its flip, and where its message is."""

    flip_id: int
    workflow: str
    run_id: str
    consecutive: int | None
    channel: str
    ts: str


def alert_at(db: sqlite_utils.Database, channel: str, ts: str) -> AlertRow | None:
    """The alert whose message is ``ts`` in ``channel``, if Baton posted one there."""
    row = db.execute(
        "SELECT id, workflow, run_id, consecutive, posted_channel, posted_ts FROM alert_flips "
        "WHERE kind = 'new_alert' AND posted_channel = ? AND posted_ts = ? AND outcome = 'sent'",
        [channel, ts],
    ).fetchone()
    if row is None:
        return None
    return AlertRow(int(row[0]), str(row[1]), str(row[2]), row[3], str(row[4]), str(row[5]))


@dataclass(frozen=True)
class Snooze:
    workflow: str
    user: str
    until_ts: float | None  # None: until the workflow passes again
    words: str  # "for 1 h by <@U…>, until 15:00 UTC"


def save_snooze(
    db: sqlite_utils.Database,
    workflow: str,
    *,
    user: str,
    flip_id: int,
    now: float,
    until_ts: float | None,
    words: str,
) -> Snooze:
    """Snooze ``workflow`` until ``until_ts`` (None: until it passes), ending any snooze before."""
    with db.conn:
        db.conn.execute(
            "UPDATE alert_snoozes SET ended_ts = ? WHERE workflow = ? AND ended_ts IS NULL",
            [now, workflow],
        )
        db.conn.execute(
            "INSERT INTO alert_snoozes (workflow, flip_id, user, at_ts, until_ts, until_ok, "
            "words) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [workflow, flip_id, user, now, until_ts, int(until_ts is None), words],
        )
    return Snooze(workflow, user, until_ts, words)


def active_snooze(db: sqlite_utils.Database, workflow: str, now: float) -> Snooze | None:
    """The workflow's snooze in force at ``now``, if any."""
    row = db.execute(
        "SELECT user, until_ts, words FROM alert_snoozes WHERE workflow = ? AND ended_ts IS NULL "
        "AND (until_ok = 1 OR until_ts > ?) ORDER BY id DESC LIMIT 1",
        [workflow, now],
    ).fetchone()
    return Snooze(workflow, str(row[0]), row[1], str(row[2])) if row else None


def note_streak(
    db: sqlite_utils.Database, workflow: str, *, ok: bool, run_id: str, at: float, now: float
) -> None:
    """Track the workflow's failing streak; a pass ends it and any until-it-passes snooze.
    Idempotent per run (noting a run twice changes nothing), and safe across processes: a
    workflow has at most one open streak (a unique index; a second one is not inserted)."""
    with db.conn:
        if ok:
            db.conn.execute(
                "UPDATE alert_streaks SET ended_ts = ?, ended_run_id = ? "
                "WHERE workflow = ? AND ended_ts IS NULL",
                [at, run_id, workflow],
            )
            db.conn.execute(
                "UPDATE alert_snoozes SET ended_ts = ? "
                "WHERE workflow = ? AND until_ok = 1 AND ended_ts IS NULL",
                [now, workflow],
            )
            return
        db.conn.execute(
            "INSERT OR IGNORE INTO alert_streaks (workflow, since_ts, first_run_id) "
            "VALUES (?, ?, ?)",
            [workflow, at, run_id],
        )


def failing_for(db: sqlite_utils.Database, recovery_run_id: str) -> float | None:
    """How long the workflow failed before the run ``recovery_run_id`` passed."""
    row = db.execute(
        "SELECT since_ts, ended_ts FROM alert_streaks WHERE ended_run_id = ? "
        "ORDER BY id DESC LIMIT 1",
        [recovery_run_id],
    ).fetchone()
    return max(float(row[1]) - float(row[0]), 0.0) if row else None


__all__ = [
    "AlertRow",
    "Snooze",
    "active_snooze",
    "alert_at",
    "failing_for",
    "note_streak",
    "save_snooze",
]
