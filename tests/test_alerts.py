"""The alert state machine: every transition, quiet hours, maintenance, claiming."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlite_utils

from baton.probes.config.windows import WindowSyntaxError
from baton.probes.health.alerts import (
    LEASE_S,
    Action,
    AlertPolicy,
    AlertState,
    claim_flip,
    due_flips,
    flips,
    lease_flip,
    load_state,
    next_state,
    observe_result,
    policy_from_config,
    record_delivery,
    record_part,
    release_flip,
    renew_lease,
)
from baton.probes.store import Store

N, A, R, T, Q = (
    Action.NOTHING,
    Action.NEW_ALERT,
    Action.RECOVERED,
    Action.ADD_TO_THREAD,
    Action.QUIET,
)
UTC = dt.UTC
NOON = dt.datetime(2026, 1, 6, 12, 0, tzinfo=UTC).timestamp()  # a Tuesday


@pytest.mark.parametrize(
    ("status", "leaks", "errors", "verdict", "expected"),
    [
        pytest.param("ok", 0, 0, "ok", ("ok", 0, 0, N), id="ok-ok"),
        pytest.param("ok", 0, 1, "ok", ("ok", 0, 0, N), id="ok-ok-resets-counts"),
        pytest.param("ok", 0, 0, "leak", ("ok", 1, 0, N), id="ok-first-leak-counted"),
        pytest.param("ok", 1, 0, "leak", ("leak", 2, 0, A), id="ok-second-leak-alerts"),
        pytest.param("ok", 1, 1, "leak", ("leak", 2, 0, A), id="ok-leak-error-leak-alerts"),
        pytest.param("ok", 0, 0, "error", ("ok", 0, 1, N), id="ok-first-error-counted"),
        pytest.param("ok", 0, 1, "error", ("error", 0, 2, A), id="ok-second-error-alerts"),
        pytest.param("ok", 1, 0, "error", ("ok", 1, 1, N), id="ok-error-keeps-leak-count"),
        pytest.param("leak", 2, 0, "leak", ("leak", 3, 0, T), id="leak-leak-thread"),
        pytest.param("leak", 2, 0, "error", ("leak", 2, 1, T), id="leak-error-thread"),
        pytest.param("leak", 3, 0, "ok", ("ok", 0, 0, R), id="leak-ok-recovers"),
        pytest.param("error", 0, 2, "error", ("error", 0, 3, T), id="error-error-thread"),
        pytest.param("error", 0, 2, "ok", ("ok", 0, 0, R), id="error-ok-recovers"),
        pytest.param("error", 0, 2, "leak", ("error", 1, 0, N), id="error-first-leak-counted"),
        pytest.param("error", 1, 0, "leak", ("leak", 2, 0, A), id="error-second-leak-alerts"),
    ],
)
def test_transitions(
    status: str, leaks: int, errors: int, verdict: str, expected: tuple[str, int, int, Action]
) -> None:
    state = AlertState("wf", status, leaks, errors)
    new, action = next_state(state, verdict, AlertPolicy())
    assert (new.status, new.consecutive_failures, new.consecutive_errors, action) == expected


@pytest.mark.parametrize(
    ("n", "verdicts", "actions"),
    [
        pytest.param(1, ["leak", "leak", "ok"], [A, T, R], id="n1-alerts-at-once"),
        pytest.param(2, ["leak", "ok", "leak", "ok"], [N, N, N, N], id="n2-flaky-stays-quiet"),
        pytest.param(3, ["leak", "leak", "leak", "leak"], [N, N, A, T], id="n3"),
        pytest.param(2, ["error", "error", "leak", "leak", "ok"], [N, A, N, A, R], id="cnc-then"),
    ],
)
def test_sequences(n: int, verdicts: list[str], actions: list[Action]) -> None:
    db = sqlite_utils.Database(memory=True)
    policy = AlertPolicy(failures_before_alert=n, errors_before_alert=n)
    got = [
        observe_result(db, "wf", v, f"r-{i}", NOON + i, policy).action
        for i, v in enumerate(verdicts)
    ]
    assert got == actions


def test_unknown_verdict_changes_nothing() -> None:
    db = sqlite_utils.Database(memory=True)
    with pytest.raises(ValueError, match="unknown verdict 'maybe'"):
        observe_result(db, "wf", "maybe", "r-1", NOON, AlertPolicy())
    assert load_state(db, "wf") == AlertState("wf")


def test_the_alert_thread_is_kept_for_repeats_and_recovery() -> None:
    db = sqlite_utils.Database(memory=True)
    policy = AlertPolicy()
    observe_result(db, "wf", "leak", "r-1", NOON, policy)
    alert = observe_result(db, "wf", "leak", "r-2", NOON + 1, policy)
    assert (alert.action, alert.old_status, alert.new_status) == (A, "ok", "leak")
    assert alert.consecutive == 2 and alert.reason == "2 leaks in a row: now leak"
    assert alert.flip_id is not None and alert.thread is None
    assert claim_flip(db, alert.flip_id, NOON + 2)
    assert not claim_flip(db, alert.flip_id, NOON + 2)  # never twice
    record_delivery(db, alert.flip_id, now=NOON + 2, thread={"channel": "C1", "ts": "1.5"})

    repeat = observe_result(db, "wf", "leak", "r-3", NOON + 3, policy)
    assert (repeat.action, repeat.thread) == (T, {"channel": "C1", "ts": "1.5"})
    cnc = observe_result(db, "wf", "error", "r-4", NOON + 4, policy)
    assert (cnc.action, cnc.new_status, cnc.reason) == (
        T,
        "leak",
        "still leak (1 could-not-check result in a row)",
    )
    recovered = observe_result(db, "wf", "ok", "r-5", NOON + 5, policy)
    assert (recovered.action, recovered.thread) == (R, {"channel": "C1", "ts": "1.5"})
    assert load_state(db, "wf").thread is None
    assert [(f.kind, f.old_status, f.new_status) for f in flips(db, "wf")] == [
        ("new_alert", "ok", "leak"),
        ("add_to_thread", "leak", "leak"),
        ("add_to_thread", "leak", "leak"),
        ("recovered", "leak", "ok"),
    ]
    assert flips(db)[0].outcome == "sent"


def test_a_failed_delivery_opens_no_thread() -> None:
    db = sqlite_utils.Database(memory=True)
    policy = AlertPolicy(failures_before_alert=1)
    alert = observe_result(db, "wf", "leak", "r-1", NOON, policy)
    assert alert.flip_id is not None and claim_flip(db, alert.flip_id, NOON)
    record_delivery(db, alert.flip_id, now=NOON, thread={"ts": "1"}, error="channel_not_found")
    assert load_state(db, "wf").thread is None
    assert flips(db)[0].outcome == "failed"


def test_same_run_observed_twice_is_nothing() -> None:
    db = sqlite_utils.Database(memory=True)
    policy = AlertPolicy(failures_before_alert=1)
    assert observe_result(db, "wf", "leak", "r-1", NOON, policy).action == A
    again = observe_result(db, "wf", "leak", "r-1", NOON + 1, policy)
    assert (again.action, again.reason) == (N, "this run was already observed")
    assert len(flips(db)) == 1


def test_workflows_are_independent() -> None:
    db = sqlite_utils.Database(memory=True)
    policy = AlertPolicy(failures_before_alert=2)
    observe_result(db, "a", "leak", "r-1", NOON, policy)
    assert observe_result(db, "b", "leak", "r-2", NOON, policy).action == N
    assert observe_result(db, "a", "leak", "r-3", NOON, policy).action == A


QUIET = AlertPolicy(failures_before_alert=1, quiet_hours="22:00-07:00", timezone="Europe/London")
NIGHT = dt.datetime(2026, 1, 6, 23, 0, tzinfo=UTC).timestamp()
MORNING = dt.datetime(2026, 1, 7, 7, 0, tzinfo=UTC).timestamp()


def test_quiet_hours_defer_the_alert_until_morning() -> None:
    db = sqlite_utils.Database(memory=True)
    night = observe_result(db, "wf", "leak", "r-1", NIGHT, QUIET)
    assert night.action == Q
    assert night.new_status == "leak"  # the state still changes
    assert night.deliver_after_ts == MORNING
    assert night.reason == (
        "1 leak in a row: now leak; deferred: quiet hours until Wed 07:00 Europe/London"
    )
    assert night.flip_id is not None
    assert not claim_flip(db, night.flip_id, NIGHT + 60)  # not due yet
    repeat = observe_result(db, "wf", "leak", "r-2", NIGHT + 600, QUIET)
    assert (repeat.action, repeat.flip_id) == (Q, None)
    assert flips(db)[1].outcome == "suppressed"
    assert due_flips(db, MORNING - 1) == []
    (due,) = due_flips(db, MORNING)
    assert (due.id, due.kind) == (night.flip_id, "new_alert")
    assert claim_flip(db, due.id, MORNING)


def test_broke_and_recovered_in_the_night_says_nothing() -> None:
    db = sqlite_utils.Database(memory=True)
    day = observe_result(db, "wf", "leak", "r-0", NOON, QUIET)
    assert day.action == A and day.flip_id is not None
    claim_flip(db, day.flip_id, NOON)
    record_delivery(db, day.flip_id, now=NOON, thread={"channel": "C1", "ts": "9.9"})
    assert observe_result(db, "wf", "ok", "r-1", NIGHT, QUIET).action == Q
    assert load_state(db, "wf").thread is None
    assert observe_result(db, "wf", "leak", "r-2", NIGHT + 60, QUIET).action == Q
    assert due_flips(db, MORNING) == []
    assert [f.outcome for f in flips(db)] == ["sent", "superseded", "superseded"]
    # still leaking: the next repeat goes to the thread that was open before the night
    assert load_state(db, "wf").thread == {"channel": "C1", "ts": "9.9"}


def test_only_the_newest_deferred_flip_is_sent() -> None:
    db = sqlite_utils.Database(memory=True)
    policy = AlertPolicy(failures_before_alert=1, errors_before_alert=1, quiet_hours="22:00-07:00")
    observe_result(db, "wf", "error", "r-1", NIGHT, policy)  # ok -> error
    observe_result(db, "wf", "ok", "r-2", NIGHT + 60, policy)  # error -> ok
    observe_result(db, "wf", "leak", "r-3", NIGHT + 120, policy)  # ok -> leak
    (due,) = due_flips(db, MORNING)
    assert (due.old_status, due.new_status, due.run_id) == ("ok", "leak", "r-3")


def test_maintenance_ignores_results() -> None:
    db = sqlite_utils.Database(memory=True)
    policy = AlertPolicy(failures_before_alert=1, maintenance=("Tue 11:00-13:00",))
    inside = observe_result(db, "wf", "leak", "r-1", NOON, policy)
    assert inside.action == Q
    assert inside.reason == "in the maintenance window 'Tue 11:00-13:00' until Tue 13:00 UTC"
    assert load_state(db, "wf") == AlertState("wf")
    assert flips(db) == []
    assert observe_result(db, "wf", "leak", "r-2", NOON + 3600, policy).action == A


def test_two_workers_on_one_file_never_both_send(tmp_path: Path) -> None:
    path = tmp_path / "baton.db"
    one = Store(sqlite_utils.Database(path)).db
    two = Store(sqlite_utils.Database(path)).db
    policy = AlertPolicy(failures_before_alert=1)
    first = observe_result(one, "wf", "leak", "r-1", NOON, policy)
    # the second worker sees the same run finish: already observed
    assert observe_result(two, "wf", "leak", "r-1", NOON, policy).action == N
    assert first.flip_id is not None
    claims = [claim_flip(db, first.flip_id, NOON) for db in (two, one, two)]
    assert claims == [True, False, False]


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        pytest.param({"failures_before_alert": 0}, ValueError, id="zero"),
        pytest.param({"quiet_hours": "late"}, WindowSyntaxError, id="quiet"),
        pytest.param({"maintenance": ("Sun 2am",)}, WindowSyntaxError, id="maintenance"),
        pytest.param({"timezone": "Europe/Londn"}, WindowSyntaxError, id="zone"),
    ],
)
def test_bad_policies(kwargs: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error):
        AlertPolicy(**kwargs)  # type: ignore[arg-type]


def test_policy_from_config() -> None:
    from types import SimpleNamespace

    assert policy_from_config(SimpleNamespace()) == AlertPolicy()
    policy = AlertPolicy(failures_before_alert=3)
    assert policy_from_config(SimpleNamespace(alerts=policy)) is policy
    raw = {
        "failures_before_alert": 1,
        "quiet_hours": "22:00-07:00",
        "maintenance": ["Sun 02:00-04:00"],
    }
    assert policy_from_config(SimpleNamespace(alerts=raw)) == AlertPolicy(
        failures_before_alert=1, quiet_hours="22:00-07:00", maintenance=("Sun 02:00-04:00",)
    )
    obj = SimpleNamespace(timezone="Europe/London", errors_before_alert=5)
    assert policy_from_config(SimpleNamespace(alerts=obj)) == AlertPolicy(
        timezone="Europe/London", errors_before_alert=5
    )


def test_a_flip_written_but_never_sent_is_swept_after_a_crash() -> None:
    db = sqlite_utils.Database(memory=True)
    alert = observe_result(db, "wf", "leak", "r-1", NOON + 60, QUIET)
    assert alert.action == A and alert.flip_id is not None
    # The process dies here: written down, never claimed. Any worker takes it at once (the
    # lease is a conditional UPDATE: if its own worker is alive, only one of them gets it).
    (orphan,) = due_flips(db, NOON + 61)
    assert orphan.id == alert.flip_id and orphan.state == "pending"
    assert claim_flip(db, orphan.id, NOON + 200)
    assert due_flips(db, NOON + 200 + LEASE_S - 1) == []  # leased: being sent
    # ... and its worker dies mid-send: once the lease runs out it is due again.
    (again,) = due_flips(db, NOON + 200 + LEASE_S)
    assert (again.id, again.state, again.attempts) == (alert.flip_id, "sending", 1)
    assert claim_flip(db, again.id, NOON + 200 + LEASE_S)


# -- the outbox ---------------------------------------------------------------------------------

#: alert_flips as Baton wrote it before the outbox (no lease, retry or dedupe columns).
OLD_FLIPS = """
CREATE TABLE alert_flips (
    id INTEGER PRIMARY KEY AUTOINCREMENT, workflow TEXT NOT NULL, old_status TEXT NOT NULL,
    new_status TEXT NOT NULL, kind TEXT NOT NULL, run_id TEXT NOT NULL,
    created_ts REAL NOT NULL, deliver_after_ts REAL NOT NULL, processed_ts REAL, thread TEXT,
    outcome TEXT, error TEXT
)"""


def test_an_old_store_is_upgraded_in_place(tmp_path: Path) -> None:
    db = sqlite_utils.Database(tmp_path / "baton.db")
    db.execute(OLD_FLIPS)
    rows = [  # sent; failed for good; claimed then never recorded (the process died), an
        # hour ago and two days ago
        ("a", "new_alert", NOON - 7200, NOON - 7200, "sent", None),
        ("b", "new_alert", NOON - 7200, NOON - 7200, "failed", "channel_not_found (E-1)"),
        ("c", "new_alert", NOON - 3600, NOON - 3600, None, None),
        ("d", "new_alert", NOON - 2 * 86400, NOON - 2 * 86400, None, None),
    ]
    for wf, kind, created, processed, outcome, error in rows:
        db.execute(
            "INSERT INTO alert_flips (workflow, old_status, new_status, kind, run_id, "
            "created_ts, deliver_after_ts, processed_ts, outcome, error) VALUES "
            "(?, 'ok', 'leak', ?, 'r-1', ?, ?, ?, ?, ?)",
            [wf, kind, created, created, processed, outcome, error],
        )
    db.conn.commit()
    (due,) = due_flips(db, NOON)  # the columns are added; c goes out now, d is too old
    assert (due.workflow, due.state, due.attempts) == ("c", "pending", 0)
    got = [(f.workflow, f.state, f.error) for f in flips(db)]
    assert got == [
        ("a", "delivered", None),
        ("b", "failed", "channel_not_found (E-1)"),
        ("c", "pending", None),
        ("d", "failed", "not delivered within 24 h of being due"),
    ]
    lease = lease_flip(db, due.id, NOON)
    assert lease is not None and lease.attempt == 1 and lease.posted is None
    # a second process opening the upgraded store adds nothing twice
    assert len(flips(Store(sqlite_utils.Database(tmp_path / "baton.db")).db)) == 4


def test_a_failed_attempt_is_retried_later_and_a_lost_lease_records_nothing() -> None:
    db = sqlite_utils.Database(memory=True)
    alert = observe_result(db, "wf", "leak", "r-1", NOON, AlertPolicy(failures_before_alert=1))
    assert alert.flip_id is not None
    first = lease_flip(db, alert.flip_id, NOON, lease_s=60)
    assert first is not None and first.attempt == 1 and first.dedupe_key
    assert renew_lease(db, first.flip_id, first.token, NOON + 1, sending=True)
    assert release_flip(
        db, first.flip_id, first.token, retry_at=NOON + 30, error="http_503", maybe_sent=True
    )
    assert lease_flip(db, alert.flip_id, NOON + 29) is None  # not before its retry
    second = lease_flip(db, alert.flip_id, NOON + 30, lease_s=60)
    assert second is not None
    assert (second.attempt, second.maybe_sent_ts, second.last_error) == (2, NOON + 1, "http_503")
    assert second.dedupe_key == first.dedupe_key  # the key in Slack stays the flip's
    # the first holder comes back late: nothing it does counts any more
    assert not renew_lease(db, first.flip_id, first.token, NOON + 31)
    assert not record_part(
        db, first.flip_id, first.token, part="main", channel="C1", ts="1.1", now=NOON + 31
    )
    assert not record_delivery(db, first.flip_id, now=NOON + 31, token=first.token)
    assert record_part(
        db, second.flip_id, second.token, part="main", channel="C1", ts="2.2", now=NOON + 31
    )
    assert load_state(db, "wf").thread == {"channel": "C1", "ts": "2.2"}
    assert record_delivery(db, second.flip_id, now=NOON + 32, token=second.token)
    (flip,) = flips(db)
    assert (flip.state, flip.posted_ts, flip.maybe_sent_ts) == ("delivered", "2.2", None)
