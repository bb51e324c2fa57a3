"""Alerting without noise: per-workflow alert state and recorded transitions (no Slack).

Modelled on healthchecks' ``Flip``: a result never goes straight to Slack. Each scheduled
result is *observed* (:func:`observe_result`), which updates the workflow's ``alert_state``
and, when something should be said, writes an ``alert_flips`` row (old status, new status,
what to do, where) **before** anything is sent. A notifier then claims the row with a
conditional UPDATE (:func:`claim_flip`, :func:`lease_flip`), so two workers never both send
it, sends, and records the outcome (:func:`record_delivery`). ``alert_flips`` is an outbox
(see :mod:`baton.probes.store.alerts`): a failed attempt gives the flip back for a later retry
(:func:`release_flip`), a lease whose holder died runs out and the flip is taken again, and
:func:`due_flips` hands out what is due, in order per workflow.

Statuses are ``ok``, ``leak`` and ``error`` ("could not check", its own state, never a
leak). The rules (``N`` = ``failures_before_alert``, ``M`` = ``errors_before_alert``):

========  ===========================  ===============================================
status    result                       decision
========  ===========================  ===============================================
ok        ok                           NOTHING
ok        leak, fewer than N in a row  NOTHING (counted)
ok/error  leak, the N-th in a row      NEW_ALERT, status → leak
ok        error, fewer than M in a row NOTHING (counted)
ok        error, the M-th in a row     NEW_ALERT, status → error
leak      leak or error                ADD_TO_THREAD (the open leak thread)
error     error                        ADD_TO_THREAD (the open could-not-check thread)
error     leak, fewer than N in a row  NOTHING (counted)
leak/err  ok                           RECOVERED, status → ok (reply in the open thread)
========  ===========================  ===============================================

A could-not-check result neither confirms nor clears a leak: it does not reset the count of
leaks in a row. Results in a maintenance window are ignored (QUIET, nothing changes).
In quiet hours the state still changes, but a NEW_ALERT or RECOVERED is deferred to the end
of the quiet hours (QUIET; :func:`due_flips` hands it out then, and drops transitions that
cancelled out), and repeats are recorded as suppressed.

    policy = AlertPolicy(failures_before_alert=2, quiet_hours="22:00-07:00",
                         timezone="Europe/London")
    decision = observe_result(db, "lead-to-invoice", "leak", run_id, now, policy)
    if decision.flip_id is not None and decision.action != Action.QUIET:
        if claim_flip(db, decision.flip_id, now):
            ts = post(decision)                    # the bot's job (baton.bot.alerter)
            record_delivery(db, decision.flip_id, now=now, thread={"channel": c, "ts": ts})
    for flip in due_flips(db, now):                # retries, quiet hours over, crashed sends
        ...
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from ..config.windows import AlertPolicy, parse_zone
from ..model import Verdict
from ..store.alerts import (
    GIVE_UP_AFTER_S,
    LEASE_S,
    AlertState,
    Flip,
    Lease,
    claim_flip,
    due_flips,
    ensure_alert_tables,
    flips,
    immediate,
    insert_flip,
    lease_flip,
    load_state,
    opened_thread,
    record_delivery,
    record_part,
    release_flip,
    renew_lease,
    save_state,
    suppress_flip,
)

OK, LEAK, ERROR = str(Verdict.OK), str(Verdict.LEAK), str(Verdict.ERROR)


class Action(enum.StrEnum):
    NEW_ALERT = "new_alert"
    RECOVERED = "recovered"
    ADD_TO_THREAD = "add_to_thread"
    QUIET = "quiet"
    NOTHING = "nothing"


@dataclass(frozen=True)
class Decision:
    """What to do about one result, with what a notifier needs to do it."""

    action: Action
    workflow: str
    run_id: str
    verdict: str
    old_status: str
    new_status: str
    consecutive: int  # results of this verdict in a row, this one included
    reason: str
    flip_id: int | None = None  # the alert_flips row to claim before sending
    thread: dict[str, Any] | None = None  # where to reply (ADD_TO_THREAD, RECOVERED)
    deliver_after_ts: float | None = None  # QUIET: when the deferred message is due


def policy_from_config(workflow: Any) -> AlertPolicy:
    """The alert policy of a config workflow: ``workflow.alerts`` as an AlertPolicy, a mapping
    or an object with its fields; the defaults when it has none."""
    raw = getattr(workflow, "alerts", None)
    if raw is None or isinstance(raw, AlertPolicy):
        return raw or AlertPolicy()

    def get(key: str) -> Any:
        return raw.get(key) if isinstance(raw, dict) else getattr(raw, key, None)

    names = ("failures_before_alert", "errors_before_alert", "timezone", "quiet_hours")
    values: dict[str, Any] = {k: get(k) for k in names if get(k) is not None}
    return AlertPolicy(**values, maintenance=tuple(get("maintenance") or ()))


def next_state(state: AlertState, verdict: str, policy: AlertPolicy) -> tuple[AlertState, Action]:
    """The pure transition: the new state and the action, before quiet hours.

    >>> s, a = next_state(AlertState("wf"), "leak", AlertPolicy())
    >>> s.status, s.consecutive_failures, a
    ('ok', 1, <Action.NOTHING: 'nothing'>)
    """
    leaks, errors, status = state.consecutive_failures, state.consecutive_errors, state.status
    action = Action.NOTHING
    if verdict == OK:
        leaks = errors = 0
        if status != OK:
            status, action = OK, Action.RECOVERED
    elif verdict == LEAK:
        leaks, errors = leaks + 1, 0
        if status == LEAK:
            action = Action.ADD_TO_THREAD
        elif leaks >= policy.failures_before_alert:
            status, action = LEAK, Action.NEW_ALERT
    elif verdict == ERROR:
        errors += 1
        if status in (LEAK, ERROR):
            action = Action.ADD_TO_THREAD
        elif errors >= policy.errors_before_alert:
            status, action = ERROR, Action.NEW_ALERT
    else:
        raise ValueError(f"unknown verdict {verdict!r}; expected ok, leak or error")
    new = AlertState(state.workflow, status, leaks, errors, state.last_run_id, state.thread)
    return new, action


def observe_result(
    db: sqlite_utils.Database,
    workflow: str,
    verdict: str | Verdict,
    run_id: str,
    now: float,
    policy: AlertPolicy,
    *,
    channel: str | None = None,
) -> Decision:
    """Record one finished run's verdict and decide what to tell the channel.

    Idempotent per ``run_id`` (the same run observed twice: NOTHING). One write transaction,
    so concurrent observers of a workflow are serialized. ``channel``: where the flip goes,
    kept with it for retries.
    """
    verdict = str(verdict)
    ensure_alert_tables(db)
    with immediate(db):
        state = load_state(db, workflow)
        base = {"workflow": workflow, "run_id": run_id, "verdict": verdict}
        if state.last_run_id == run_id:
            return _decision(Action.NOTHING, state, state, base, "this run was already observed")
        window = policy.maintenance_until(now)
        if window is not None:
            spec, end = window
            reason = f"in the maintenance window {spec!r} until {_clock(end, policy)}"
            return _decision(Action.QUIET, state, state, base, reason)
        new, action = next_state(state, verdict, policy)
        thread = state.thread
        if action in (Action.RECOVERED, Action.NEW_ALERT):
            new = dataclasses.replace(new, thread=None)  # the old thread is done
        save_state(db, dataclasses.replace(new, last_run_id=run_id), now)
        reason = _reason(action, new, verdict)
        if action == Action.NOTHING:
            return _decision(action, state, new, base, reason)
        reply_to = thread if action != Action.NEW_ALERT else None
        quiet_end = policy.quiet_until(now)
        if quiet_end is None:
            decision = _decision(action, state, new, base, reason, thread=reply_to)
            flip_id = insert_flip(
                db, state, new, str(action), run_id, now, now, reply_to, channel=channel,
                consecutive=decision.consecutive,
            )  # fmt: skip
            return dataclasses.replace(decision, flip_id=flip_id)
        quiet = f"quiet hours until {_clock(quiet_end, policy)}"
        if action == Action.ADD_TO_THREAD:
            flip_id = insert_flip(db, state, new, str(action), run_id, now, now, reply_to)
            suppress_flip(db, flip_id, now)
            return _decision(Action.QUIET, state, new, base, f"{reason}; {quiet}")
        flip_id = insert_flip(
            db, state, new, str(action), run_id, now, quiet_end, reply_to, channel=channel
        )
        return _decision(
            Action.QUIET,
            state,
            new,
            base,
            f"{reason}; deferred: {quiet}",
            flip_id=flip_id,
            thread=reply_to,
            deliver_after_ts=quiet_end,
        )


def _decision(
    action: Action,
    old: AlertState,
    new: AlertState,
    base: dict[str, str],
    reason: str,
    *,
    flip_id: int | None = None,
    thread: dict[str, Any] | None = None,
    deliver_after_ts: float | None = None,
) -> Decision:
    verdict = base["verdict"]
    consecutive = {LEAK: new.consecutive_failures, ERROR: new.consecutive_errors}.get(verdict, 0)
    return Decision(
        action=action,
        workflow=base["workflow"],
        run_id=base["run_id"],
        verdict=verdict,
        old_status=old.status,
        new_status=new.status,
        consecutive=consecutive,
        reason=reason,
        flip_id=flip_id,
        thread=thread,
        deliver_after_ts=deliver_after_ts,
    )


def _reason(action: Action, state: AlertState, verdict: str) -> str:
    what = {LEAK: "leak", ERROR: "could-not-check result", OK: "ok result"}[verdict]
    count = {LEAK: state.consecutive_failures, ERROR: state.consecutive_errors}.get(verdict, 1)
    in_a_row = f"{count} {what}{'s' if count != 1 else ''} in a row"
    return {
        Action.NEW_ALERT: f"{in_a_row}: now {state.status}",
        Action.RECOVERED: "checked ok again",
        Action.ADD_TO_THREAD: f"still {state.status} ({in_a_row})",
        Action.NOTHING: in_a_row if verdict != OK else "still ok",
    }.get(action, in_a_row)


def _clock(ts: float, policy: AlertPolicy) -> str:
    local = dt.datetime.fromtimestamp(ts, parse_zone(policy.timezone))
    return local.strftime("%a %H:%M ") + policy.timezone


__all__ = [
    "GIVE_UP_AFTER_S",
    "LEASE_S",
    "Action",
    "AlertPolicy",
    "AlertState",
    "Decision",
    "Flip",
    "Lease",
    "claim_flip",
    "due_flips",
    "flips",
    "lease_flip",
    "load_state",
    "next_state",
    "observe_result",
    "opened_thread",
    "policy_from_config",
    "record_delivery",
    "record_part",
    "release_flip",
    "renew_lease",
]
