"""Storage of the alert state machine: ``alert_state`` and ``alert_flips`` (see
:mod:`baton.probes.health.alerts`). Every write that reads first runs in ``BEGIN IMMEDIATE``, so two
processes sharing the store never interleave a read-decide-write.

``alert_flips`` is also the alerts' **outbox**. A flip's delivery state:

=================  ============================================================================
pending            ``outcome`` NULL, no live lease; due at ``next_attempt_ts`` (NULL: at once,
                   or when its quiet hours end, ``deliver_after_ts``)
sending            leased (:func:`lease_flip`): ``lease_until`` in the future, ``lease_token``
                   names the holder; a lease that ran out (its process died) is taken again
delivered          ``outcome = 'sent'``
failed             ``outcome = 'failed'``, ``error`` says why (refused for good, or not
                   delivered within ``GIVE_UP_AFTER_S`` of being due)
suppressed,        never to be sent (a repeat in quiet hours; a deferred flip a newer one
superseded         replaced)
=================  ============================================================================

A flip is sent in parts: the *main* message (``posted_channel``/``posted_ts`` once Slack took
it) and, for a new alert or a recovery, a *reply* in a thread (``replied_ts``). Before each
part is sent, ``maybe_sent_ts`` is set: an attempt that ends without a clear "not posted"
leaves it, so the next holder looks in the channel for the part (by ``dedupe_key``) before
sending it again. Flips of one workflow go out in order: one is not leased while an older
one of the same workflow is pending or sending.

Stores written before the outbox get its columns added in place (:func:`ensure_alert_tables`).

Size: every query of the alert outbox (state, flips, leases, retries, give-ups), each in its
own transaction; splitting them would hide which writes share a BEGIN IMMEDIATE.
"""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from .schema import migrate

log = logging.getLogger("probes.alerts")

OK = "ok"
#: The flip kind whose delivery opens a thread (``baton.probes.health.alerts.Action.NEW_ALERT``).
NEW_ALERT = "new_alert"
RECOVERED = "recovered"

#: How long a lease holds a flip for one delivery attempt (renewed before each part is sent).
LEASE_S = 60.0
#: A flip not delivered this long after it was due is failed ("not delivered within 24 h").
GIVE_UP_AFTER_S = 86_400.0


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
    """A recorded notification (a row of ``alert_flips``): what to say, and its delivery."""

    id: int
    workflow: str
    old_status: str
    new_status: str
    kind: str  # an Action value: new_alert, recovered, add_to_thread
    run_id: str
    created_ts: float
    deliver_after_ts: float
    processed_ts: float | None  # first leased (or suppressed, superseded)
    thread: dict[str, Any] | None
    outcome: str | None  # sent, failed, suppressed, superseded; None while undelivered
    error: str | None = None  # the last failed attempt's error, or why it failed for good
    channel: str | None = None  # where it goes (None: the workflow's alert channel)
    consecutive: int | None = None  # results in a row, as the message says it
    attempts: int = 0
    next_attempt_ts: float | None = None
    lease_until: float | None = None
    maybe_sent_ts: float | None = None
    dedupe_key: str | None = None
    posted_channel: str | None = None
    posted_ts: str | None = None
    replied_ts: str | None = None
    delivered_ts: float | None = None

    @property
    def state(self) -> str:
        """pending, sending, delivered, failed, suppressed or superseded."""
        if self.outcome is not None:
            return {"sent": "delivered"}.get(self.outcome, self.outcome)
        return "pending" if self.lease_until is None else "sending"


@dataclass(frozen=True)
class Lease:
    """A flip taken for one delivery attempt (:func:`lease_flip`)."""

    flip_id: int
    token: str
    attempt: int  # 1 for the first attempt
    dedupe_key: str
    maybe_sent_ts: float | None  # an earlier attempt may have posted the next part since
    posted: tuple[str, str] | None  # (channel, ts) of the main message, once posted
    replied: bool  # the reply part is done (or was given up)
    last_error: str | None
    due_ts: float  # when the flip was first due (deliver_after_ts)


def ensure_alert_tables(db: sqlite_utils.Database) -> None:
    """The store's tables, the alerts' among them (:mod:`.schema`), brought up to date."""
    migrate(db)


# -- leasing and recording ---------------------------------------------------------------------

_LEASABLE = (
    "outcome IS NULL AND deliver_after_ts <= :now "
    "AND (lease_until IS NULL OR lease_until <= :now) "
    "AND coalesce(next_attempt_ts, 0) <= :now "
    "AND NOT EXISTS (SELECT 1 FROM alert_flips o WHERE o.workflow = alert_flips.workflow "
    "AND o.id < alert_flips.id AND o.outcome IS NULL)"
)


def lease_flip(
    db: sqlite_utils.Database,
    flip_id: int,
    now: float,
    *,
    lease_s: float = LEASE_S,
    token: str | None = None,
) -> Lease | None:
    """Take a flip for one delivery attempt (a conditional UPDATE): ``None`` if it is not
    due, delivered or failed, held by a live lease, or behind an older undelivered flip of
    its workflow. A lease that ran out (its holder died mid-send) is taken again."""
    ensure_alert_tables(db)
    token = token or uuid.uuid4().hex
    with immediate(db):
        cur = db.execute(
            "UPDATE alert_flips SET processed_ts = coalesce(processed_ts, :now), "
            "lease_until = :until, lease_token = :token, attempts = attempts + 1, "
            f"dedupe_key = coalesce(dedupe_key, :key) WHERE id = :id AND {_LEASABLE}",
            {"now": now, "until": now + lease_s, "token": token, "key": uuid.uuid4().hex,
             "id": flip_id},
        )  # fmt: skip
        if cur.rowcount != 1:
            return None
        row = db.execute(
            "SELECT attempts, dedupe_key, maybe_sent_ts, posted_channel, posted_ts, "
            "replied_ts, error, deliver_after_ts FROM alert_flips WHERE id = ?",
            [flip_id],
        ).fetchone()
    attempts, key, maybe_sent, channel, ts, replied, error, due = row
    posted = (str(channel), str(ts)) if ts is not None else None
    return Lease(flip_id, token, attempts, key, maybe_sent, posted, replied is not None, error, due)


def claim_flip(
    db: sqlite_utils.Database, flip_id: int, now: float, *, lease_s: float = LEASE_S
) -> bool:
    """Take a flip for sending; False if another worker has it or it is not due yet (see
    :func:`lease_flip`)."""
    return lease_flip(db, flip_id, now, lease_s=lease_s) is not None


def renew_lease(
    db: sqlite_utils.Database,
    flip_id: int,
    token: str,
    now: float,
    *,
    lease_s: float = LEASE_S,
    sending: bool = False,
) -> bool:
    """Extend the lease; with ``sending``, note that a part is about to go to Slack (from
    now on it may be there). False if the lease was lost (it ran out and another took it)."""
    with db.conn:
        cur = db.execute(
            "UPDATE alert_flips SET lease_until = ?, maybe_sent_ts = CASE WHEN ? THEN ? "
            "ELSE maybe_sent_ts END WHERE id = ? AND lease_token = ? AND outcome IS NULL",
            [now + lease_s, sending, now, flip_id, token],
        )
    return cur.rowcount == 1


def record_part(
    db: sqlite_utils.Database,
    flip_id: int,
    token: str,
    *,
    part: str,
    channel: str,
    ts: str,
    now: float,
) -> bool:
    """A part of the flip is in Slack: ``"main"`` (its channel and ts are kept; a new
    alert's message becomes the workflow's open thread) or ``"reply"``. False if the lease
    was lost."""
    with immediate(db):
        if part == "main":
            cur = db.execute(
                "UPDATE alert_flips SET posted_channel = ?, posted_ts = ?, maybe_sent_ts = NULL "
                "WHERE id = ? AND lease_token = ? AND outcome IS NULL",
                [channel, ts, flip_id, token],
            )
            if cur.rowcount == 1:
                _open_thread(db, flip_id, {"channel": channel, "ts": ts}, now)
        else:
            cur = db.execute(
                "UPDATE alert_flips SET replied_ts = ?, maybe_sent_ts = NULL "
                "WHERE id = ? AND lease_token = ? AND outcome IS NULL",
                [ts, flip_id, token],
            )
    return cur.rowcount == 1


def release_flip(
    db: sqlite_utils.Database,
    flip_id: int,
    token: str,
    *,
    retry_at: float,
    error: str,
    maybe_sent: bool,
) -> bool:
    """Give a leased flip back after a failed attempt, to be tried again at ``retry_at``.
    ``maybe_sent``: the attempt may have reached Slack (a 5xx, a dropped connection, a
    cut-off send), so the next one looks before sending; False: it surely did not."""
    with db.conn:
        cur = db.execute(
            "UPDATE alert_flips SET lease_until = NULL, lease_token = NULL, next_attempt_ts = ?, "
            "error = ?, maybe_sent_ts = CASE WHEN ? THEN maybe_sent_ts END "
            "WHERE id = ? AND lease_token = ? AND outcome IS NULL",
            [retry_at, error, maybe_sent, flip_id, token],
        )
    return cur.rowcount == 1


def record_delivery(
    db: sqlite_utils.Database,
    flip_id: int,
    *,
    now: float,
    thread: dict[str, Any] | None = None,
    error: str | None = None,
    token: str | None = None,
) -> bool:
    """Write down how sending a claimed flip ended: delivered, or failed for good with
    ``error``. A NEW_ALERT's ``thread`` (channel and message ts) becomes the workflow's open
    thread, for the repeats and the recovery. With ``token``, only while that lease holds;
    False if it did not."""
    holder = " AND lease_token = ?" if token is not None else ""
    with immediate(db):
        cur = db.execute(
            "UPDATE alert_flips SET outcome = ?, error = coalesce(?, error), lease_until = NULL,"
            " lease_token = NULL, maybe_sent_ts = NULL, delivered_ts = ? "
            f"WHERE id = ? AND outcome IS NULL{holder}",
            [
                "failed" if error else "sent",
                error,
                None if error else now,
                flip_id,
                *([token] if token is not None else []),
            ],
        )
        if cur.rowcount == 1 and thread is not None and error is None:
            _open_thread(db, flip_id, thread, now)
    return cur.rowcount == 1


def _open_thread(
    db: sqlite_utils.Database, flip_id: int, thread: dict[str, Any], now: float
) -> None:
    """A new alert's message is the workflow's open thread, unless the workflow moved on
    (recovered, or a newer alert or recovery was recorded) before it went out."""
    db.execute(
        "UPDATE alert_state SET thread = ?, updated_ts = ? WHERE workflow = "
        "(SELECT workflow FROM alert_flips WHERE id = ? AND kind = ?) AND status = "
        "(SELECT new_status FROM alert_flips WHERE id = ?) AND NOT EXISTS (SELECT 1 FROM "
        "alert_flips o WHERE o.workflow = alert_state.workflow AND o.id > ? AND o.kind IN "
        "(?, ?) AND coalesce(o.outcome, '') NOT IN ('superseded', 'suppressed'))",
        [json.dumps(thread), now, flip_id, NEW_ALERT, flip_id, flip_id, NEW_ALERT, RECOVERED],
    )


def opened_thread(db: sqlite_utils.Database, flip_id: int) -> dict[str, Any] | None:
    """The thread a repeat or recovery recorded without one belongs in: the message of the
    workflow's alert before it, if that alert went out (it may have gone out late)."""
    row = db.execute(
        "SELECT o.kind, o.posted_channel, o.posted_ts FROM alert_flips o JOIN alert_flips f "
        "ON o.workflow = f.workflow AND o.id < f.id WHERE f.id = ? AND o.kind IN (?, ?) "
        "AND coalesce(o.outcome, '') NOT IN ('superseded', 'suppressed') "
        "ORDER BY o.id DESC LIMIT 1",
        [flip_id, NEW_ALERT, RECOVERED],
    ).fetchone()
    if row is None or row[0] != NEW_ALERT or row[2] is None:
        return None
    return {"channel": row[1], "ts": row[2]}


# -- what is due -----------------------------------------------------------------------------


def suppress_flip(db: sqlite_utils.Database, flip_id: int, now: float) -> None:
    """Mark a flip said nowhere (a thread line inside quiet hours: no one is woken for it)."""
    db.execute(
        "UPDATE alert_flips SET processed_ts = ?, outcome = 'suppressed' WHERE id = ?",
        [now, flip_id],
    )


def suppress_leased(
    db: sqlite_utils.Database, flip_id: int, *, token: str, why: str, now: float
) -> None:
    """Never send a flip its holder leased (its workflow is snoozed): written down with why."""
    with db.conn:
        db.conn.execute(
            "UPDATE alert_flips SET outcome = 'suppressed', error = ?, lease_until = NULL, "
            "lease_token = NULL, maybe_sent_ts = NULL, processed_ts = coalesce(processed_ts, ?)"
            " WHERE id = ? AND lease_token = ? AND outcome IS NULL",
            [why, now, flip_id, token],
        )


def due_flips(db: sqlite_utils.Database, now: float) -> list[Flip]:
    """The flips to attempt now: per workflow, its oldest undelivered flip, if it is due
    (not before its quiet hours end or its next retry, not under a live lease).

    Deferred flips whose quiet hours are over go out at most one per workflow (the
    newest): older never-attempted deferred flips of a workflow are marked ``superseded``;
    when the newest leaves the workflow where the oldest found it (it broke and recovered
    in the night), all are, and the open thread is kept. Flips still undelivered
    ``GIVE_UP_AFTER_S`` after they were due are failed, with a warning. Lease each
    returned flip before sending it.
    """
    ensure_alert_tables(db)
    with immediate(db):
        _supersede_deferred(db, now)
        _give_up_stale(db, now)
        cur = db.execute(
            "SELECT * FROM alert_flips f WHERE outcome IS NULL AND id = (SELECT min(id) FROM "
            "alert_flips o WHERE o.workflow = f.workflow AND o.outcome IS NULL) ORDER BY id"
        )
        names = [d[0] for d in cur.description]
        heads = [flip_from_row(dict(zip(names, values, strict=True))) for values in cur]
    return [f for f in heads if _is_due(f, now)]


def _is_due(flip: Flip, now: float) -> bool:
    if flip.deliver_after_ts > now or (flip.next_attempt_ts or 0.0) > now:
        return False
    return flip.lease_until is None or flip.lease_until <= now


def _supersede_deferred(db: sqlite_utils.Database, now: float) -> None:
    rows = db.execute(
        "SELECT * FROM alert_flips WHERE outcome IS NULL AND processed_ts IS NULL "
        "AND attempts = 0 AND deliver_after_ts <= ? AND deliver_after_ts > created_ts "
        "ORDER BY id",
        [now],
    )
    names = [d[0] for d in rows.description]
    by_wf: dict[str, list[Flip]] = {}
    for values in rows.fetchall():
        flip = flip_from_row(dict(zip(names, values, strict=True)))
        by_wf.setdefault(flip.workflow, []).append(flip)
    for deferred in by_wf.values():
        first, last = deferred[0], deferred[-1]
        cancelled = deferred if last.new_status == first.old_status else deferred[:-1]
        for flip in cancelled:
            db.execute(
                "UPDATE alert_flips SET processed_ts = ?, outcome = 'superseded' "
                "WHERE id = ? AND processed_ts IS NULL",
                [now, flip.id],
            )
        if len(cancelled) == len(deferred) and first.thread is not None:
            db.execute(
                "UPDATE alert_state SET thread = ? WHERE workflow = ? AND thread IS NULL "
                "AND status = ?",
                [json.dumps(first.thread), first.workflow, first.old_status],
            )


def _give_up_stale(db: sqlite_utils.Database, now: float) -> None:
    stale = db.execute(
        "SELECT id, workflow, kind, error FROM alert_flips WHERE outcome IS NULL "
        "AND deliver_after_ts < ? AND (lease_until IS NULL OR lease_until <= ?)",
        [now - GIVE_UP_AFTER_S, now],
    ).fetchall()
    for flip_id, workflow, kind, error in stale:
        why = f"not delivered within {GIVE_UP_AFTER_S / 3600:g} h of being due"
        why += f"; last error: {error}" if error else ""
        log.warning("alert %d (%s of %s) dropped: %s", flip_id, kind, workflow, why)
        db.execute(
            "UPDATE alert_flips SET outcome = 'failed', error = ?, lease_until = NULL, "
            "lease_token = NULL, processed_ts = coalesce(processed_ts, ?) WHERE id = ?",
            [why, now, flip_id],
        )


# -- state -------------------------------------------------------------------------------------


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
    *,
    channel: str | None = None,
    consecutive: int | None = None,
) -> int:
    cur = db.execute(
        "INSERT INTO alert_flips (workflow, old_status, new_status, kind, run_id, created_ts, "
        "deliver_after_ts, thread, channel, consecutive) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            old.workflow,
            old.status,
            new.status,
            kind,
            run_id,
            now,
            deliver_after,
            json.dumps(thread) if thread is not None else None,
            channel,
            consecutive,
        ],
    )
    return int(cur.lastrowid or 0)


def flip_from_row(row: dict[str, Any]) -> Flip:
    row.pop("lease_token", None)
    row["thread"] = json.loads(row["thread"] or "null")
    return Flip(**row)


__all__ = [
    "GIVE_UP_AFTER_S",
    "LEASE_S",
    "AlertState",
    "Flip",
    "Lease",
    "claim_flip",
    "due_flips",
    "ensure_alert_tables",
    "flips",
    "immediate",
    "insert_flip",
    "lease_flip",
    "load_state",
    "opened_thread",
    "record_delivery",
    "record_part",
    "release_flip",
    "renew_lease",
    "save_state",
    "suppress_flip",
    "suppress_leased",
]
