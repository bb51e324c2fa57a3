"""What people did in Slack: every button press and modal submission (``action_presses``).

One row per press or submission: when, who (team, user), where (channel, message), which
control (``action_id``) with its value, what it was about (``subject``, e.g. ``flip:12``) and
what came of it (``outcome``: done, duplicate, refused, invalid, opened, started ...). Values
come from Slack and may be forged, so they are clipped before they are written. Rows are
kept ``KEEP_PRESSES_S`` (90 days): ``BotStore`` prunes older ones when it prunes its claims.
"""

from __future__ import annotations

import sqlite_utils

#: How long a press is kept: long enough to answer "who pressed what" about any alert or run
#: still talked about; an alert open longer forgets who acknowledged it that long ago.
KEEP_PRESSES_S = 90 * 86_400.0

#: How much of a press's free-form values is kept (they may be forged and long).
_CLIP = {"team": 40, "user": 40, "channel": 40, "message_ts": 40, "action_ts": 40, "value": 200}


def record_press(
    db: sqlite_utils.Database,
    *,
    at: float,
    action_id: str,
    outcome: str,
    team: str | None = None,
    user: str | None = None,
    channel: str | None = None,
    message_ts: str | None = None,
    action_ts: str | None = None,
    value: str | None = None,
    subject: str | None = None,
) -> int:
    """Write one press down; returns its id."""
    row: dict[str, object] = {
        "at_ts": at,
        "team": team,
        "user": user,
        "channel": channel,
        "message_ts": message_ts,
        "action_id": action_id[:80],
        "action_ts": action_ts,
        "value": value,
        "subject": subject,
        "outcome": outcome,
    }
    for key, limit in _CLIP.items():
        if isinstance(row[key], str):
            row[key] = str(row[key])[:limit]
    with db.conn:
        cur = db.conn.execute(
            f"INSERT INTO action_presses ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
            list(row.values()),
        )
    return int(cur.lastrowid or 0)


def set_press_outcome(db: sqlite_utils.Database, press_id: int, outcome: str) -> None:
    """A press admitted as ``done`` that could not act after all."""
    with db.conn:
        db.conn.execute("UPDATE action_presses SET outcome = ? WHERE id = ?", [outcome, press_id])


def done_presses(db: sqlite_utils.Database, *, action_id: str, subject: str) -> list[str]:
    """The users whose press of this control on this subject acted, in order, with repeats."""
    rows = db.conn.execute(
        "SELECT user FROM action_presses WHERE action_id = ? AND subject = ? "
        "AND outcome = 'done' ORDER BY id",
        [action_id, subject],
    ).fetchall()
    return [str(r[0]) for r in rows]


def prune_presses(db: sqlite_utils.Database, *, before: float) -> int:
    """Forget the presses recorded before ``before``; returns how many."""
    with db.conn:
        cur = db.conn.execute("DELETE FROM action_presses WHERE at_ts < ?", [before])
    return cur.rowcount


__all__ = ["KEEP_PRESSES_S", "done_presses", "prune_presses", "record_press", "set_press_outcome"]
