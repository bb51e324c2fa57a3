"""The bot's store (dedupe claims, threads), the update coalescer, and the redactor."""

from __future__ import annotations

import asyncio
import itertools
import logging
import sqlite3

import pytest
import sqlite_utils
from bot_support import STRIPE_KEY, sample_config

from baton.bot.redact import MASK, RedactingFilter, Redactor
from baton.bot.throttle import Coalescer
from baton.probes.store import Store
from baton.probes.store.bot import CONCLUDE_LEASE_S, BotStore, Posted
from baton.probes.store.presses import KEEP_PRESSES_S, record_press


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


@pytest.fixture
def store() -> BotStore:
    return BotStore(sqlite_utils.Database(memory=True), clock=Clock())


def test_a_trigger_is_claimed_once(store: BotStore) -> None:
    assert store.claim({"trigger:1": None})
    assert not store.claim({"trigger:1": None})
    # Kept for a day: far beyond Slack's retries and the 5-minute signature window.
    store.clock.now += 20 * 3600  # type: ignore[attr-defined]
    assert not store.claim({"trigger:1": None})


def test_a_windowed_key_may_be_claimed_again_after_the_window(store: BotStore) -> None:
    assert store.claim({"submit:x": 10.0})
    store.clock.now += 9  # type: ignore[attr-defined]
    assert not store.claim({"submit:x": 10.0})
    store.clock.now += 2  # type: ignore[attr-defined]
    assert store.claim({"submit:x": 10.0})


def test_claims_are_all_or_nothing(store: BotStore) -> None:
    assert store.claim({"submit:x": 10.0})
    assert not store.claim({"trigger:new": None, "submit:x": 10.0})
    # The losing claim left no trace: the new trigger is still free.
    assert store.claim({"trigger:new": None})


def test_released_claims_can_be_taken_again(store: BotStore) -> None:
    keys = {"trigger:1": None, "submit:x": 10.0}
    assert store.claim(keys)
    store.release(list(keys))
    assert store.claim(keys)


def test_attached_run_ids(store: BotStore) -> None:
    store.claim({"trigger:1": None, "submit:x": 10.0})
    assert store.run_for(["trigger:1"]) is None
    store.attach_run(["trigger:1", "submit:x"], "r-1")
    assert store.run_for(["trigger:2", "submit:x"]) == "r-1"


def test_a_lost_claim_does_not_roll_back_the_engines_uncommitted_writes() -> None:
    db = sqlite_utils.Database(memory=True)
    bot = BotStore(db, clock=Clock())
    bot.claim({"k": None})
    db.execute("CREATE TABLE other (x)")
    db.conn.execute("BEGIN")
    db.conn.execute("INSERT INTO other VALUES (1)")
    assert not bot.claim({"k": None})
    db.conn.commit()
    assert db.execute("SELECT count(*) FROM other").fetchone()[0] == 1


def test_two_workers_never_both_win(tmp_path: object) -> None:
    path = str(tmp_path) + "/baton.db"  # type: ignore[operator]
    a = BotStore(sqlite_utils.Database(path), clock=Clock())
    b = BotStore(sqlite_utils.Database(path), clock=Clock())
    wins = [a.claim({"trigger:9": None}), b.claim({"trigger:9": None})]
    assert wins == [True, False]


def test_threads_live_beside_the_engine_tables() -> None:
    db = sqlite_utils.Database(memory=True)
    Store(db)
    bot = BotStore(db, clock=Clock())
    bot.save_thread(run_id="r-1", channel="C1", ts="1.2", user="U1", workflow="w")
    bot.save_thread(run_id="r-2", channel="C1", ts="1.3", user="U1", workflow="w")
    bot.finish_thread("r-1", "ok")
    assert [t.run_id for t in bot.unfinished()] == ["r-2"]
    thread = bot.thread("r-1")
    assert thread is not None and (thread.channel, thread.ts, thread.state) == ("C1", "1.2", "done")
    assert {"runs", "stages", "bot_threads", "bot_requests"} <= set(db.table_names())


def test_old_requests_are_pruned() -> None:
    clock = Clock()
    bot = BotStore(sqlite_utils.Database(memory=True), clock=clock)
    bot.claim({"trigger:old": None})
    clock.now += 2 * 86_400
    bot.claim({"trigger:new": None})
    keys = [r[0] for r in bot.db.execute("SELECT key FROM bot_requests").fetchall()]
    assert keys == ["trigger:new"]


def test_presses_are_kept_90_days_then_pruned_with_the_claims() -> None:
    clock = Clock()
    bot = BotStore(sqlite_utils.Database(memory=True), clock=clock)
    record_press(bot.db, at=clock.now, action_id="alert_ack", outcome="done", user="U0OLD")
    clock.now += 60 * 86_400
    record_press(bot.db, at=clock.now, action_id="alert_ack", outcome="done", user="U0MID")
    bot.claim({"trigger:a": None})  # the first prune: nothing is 90 days old yet
    assert len(bot.db.execute("SELECT id FROM action_presses").fetchall()) == 2
    clock.now += 31 * 86_400  # the first press is 91 days old, the second 31
    bot.claim({"trigger:b": None})
    users = [r[0] for r in bot.db.execute("SELECT user FROM action_presses").fetchall()]
    assert users == ["U0MID"]
    assert KEEP_PRESSES_S == 90 * 86_400


# -- scheduled runs ----------------------------------------------------------------------------


def test_a_reports_conclusion_is_claimed_once_across_processes(tmp_path: object) -> None:
    path = str(tmp_path) + "/baton.db"  # type: ignore[operator]
    clock = Clock()
    a = BotStore(sqlite_utils.Database(path), clock=clock)
    b = BotStore(sqlite_utils.Database(path), clock=clock)
    a.save_thread(run_id="r-1", channel="C1", ts="1.2", user="U1", workflow="w")
    a.save_fallback(
        run_id="r-2", channel="G1", user="U1", workflow="w", response_url="u", url_issued_ts=1.0
    )
    assert [a.claim_thread("r-1", "a"), b.claim_thread("r-1", "b")] == [True, False]
    assert [b.claim_fallback("r-2", "b"), a.claim_fallback("r-2", "a")] == [True, False]
    # Claimed, not finished: still to follow after a restart (the holder may die).
    assert [t.state for t in b.unfinished()] == ["concluding"]
    assert [f.state for f in b.unfinished_fallbacks()] == ["concluding"]
    row = a.db.execute("SELECT concluded_by, concluded_ts FROM bot_threads").fetchone()
    assert row == ("a", 1000.0)


def test_a_conclusion_claim_left_by_a_dead_holder_is_taken_over_after_its_lease() -> None:
    clock = Clock()
    store = BotStore(sqlite_utils.Database(memory=True), clock=clock)
    store.save_thread(run_id="r-1", channel="C1", ts="1.2", user="U1", workflow="w")
    assert store.claim_thread("r-1", "dead")
    clock.now += CONCLUDE_LEASE_S - 1
    assert not store.claim_thread("r-1", "alive")
    clock.now += 2
    assert store.claim_thread("r-1", "alive")
    assert not store.claim_thread("r-1", "third")  # the new claim has a lease of its own
    store.finish_thread("r-1", "ok")
    clock.now += 10 * CONCLUDE_LEASE_S
    assert not store.claim_thread("r-1", "late") and store.unfinished() == []


def test_scheduled_runs_are_observed_once_across_processes(tmp_path: object) -> None:
    path = str(tmp_path) + "/baton.db"  # type: ignore[operator]
    clock = Clock()
    a = BotStore(sqlite_utils.Database(path), clock=clock)
    b = BotStore(sqlite_utils.Database(path), clock=clock)
    a.remember_scheduled(run_id="r-1", workflow="w", channel="C1", slot_ts=900.0)
    clock.now += 1
    b.remember_scheduled(run_id="r-2", workflow="w", channel=None, slot_ts=1800.0)
    a.remember_scheduled(run_id="r-1", workflow="other", channel="C9", slot_ts=0.0)  # no-op
    assert [(r.run_id, r.workflow, r.channel) for r in b.unobserved()] == [
        ("r-1", "w", "C1"),
        ("r-2", "w", None),
    ]
    assert [a.claim_observation("r-1"), b.claim_observation("r-1")] == [True, False]
    assert [r.run_id for r in a.unobserved()] == ["r-2"]


def test_where_runs_were_reported() -> None:
    bot = BotStore(sqlite_utils.Database(memory=True), clock=Clock())
    bot.save_thread(run_id="r-1", channel="C1", ts="1.1", user="U1", workflow="w")
    bot.remember_scheduled(run_id="r-2", workflow="w", channel="C2", slot_ts=None)
    bot.remember_scheduled(run_id="r-3", workflow="w", channel="C2", slot_ts=None)  # not posted
    bot.save_post("r-2", Posted("C2", "2.2", "2.0"))
    assert bot.where_reported(["r-1", "r-2", "r-3", "r-4", "r-1"]) == {
        "r-1": Posted("C1", "1.1"),
        "r-2": Posted("C2", "2.2", "2.0"),
    }


def test_a_store_from_before_schedules_gets_the_new_table() -> None:
    db = sqlite_utils.Database(memory=True)
    BotStore(db, clock=Clock())
    db.table("bot_scheduled_runs").drop()
    db.execute("PRAGMA user_version = 0")  # as stores were before schema versions
    BotStore(db, clock=Clock()).remember_scheduled(
        run_id="r-1", workflow="w", channel=None, slot_ts=None
    )
    assert db.table("bot_scheduled_runs").count == 1


# -- the coalescer ---------------------------------------------------------------------------


@pytest.mark.anyio
async def test_coalescer_sends_first_at_once_then_only_the_newest_per_interval() -> None:
    clock = Clock(0.0)
    sent: list[tuple[float, str]] = []

    async def send(item: str) -> None:
        sent.append((clock.now, item))

    c: Coalescer[str] = Coalescer(send=send, interval_s=1.0, clock=clock, sleep=clock.sleep)
    c.push("a")
    await asyncio.sleep(0)
    for item in "bcde":
        c.push(item)
    await c.close("final")
    assert sent == [(0.0, "a"), (1.0, "final")]
    assert (c.sent, c.dropped) == (2, 4)


@pytest.mark.anyio
async def test_coalescer_spaces_every_send() -> None:
    clock = Clock(0.0)
    sent: list[float] = []

    async def send(item: int) -> None:
        sent.append(clock.now)

    c: Coalescer[int] = Coalescer(send=send, interval_s=1.0, clock=clock, sleep=clock.sleep)
    for i in range(5):
        c.push(i)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        clock.now += 0.3
    await c.close()
    assert all(b - a >= 1.0 for a, b in itertools.pairwise(sent))
    assert sent[-1] <= clock.now


# -- the redactor ----------------------------------------------------------------------------


def test_redactor_masks_configured_values_and_token_shapes() -> None:
    r = Redactor.from_config(sample_config(), "xapp-1-A0-123-abcdef", "short")
    text = (
        f"key {STRIPE_KEY} app xapp-1-A0-123-abcdef bot xoxb-12-34-abcd "
        "sg SG.abcdefghijkl.mnopqrstuvwx hub pat-na1-12345678-1234-1234-1234-123456789012 "
        "Authorization: Bearer abcdefgh12345 short"
    )
    assert r.text(text) == (
        f"key {MASK} app {MASK} bot {MASK} sg {MASK} hub {MASK} Authorization: {MASK} short"
    )
    assert r.scrub({"a": [f"x{STRIPE_KEY}"], "b": 3}) == {"a": [f"x{MASK}"], "b": 3}


def test_redacting_filter_masks_messages_args_and_tracebacks() -> None:
    record_holder: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            record_holder.append(record)

    handler = Keep()
    handler.addFilter(RedactingFilter(Redactor([STRIPE_KEY])))
    logger = logging.getLogger("test.redact")
    logger.addHandler(handler)
    try:
        try:
            raise sqlite3.Error(f"bad {STRIPE_KEY}")
        except sqlite3.Error:
            logger.exception("failed with %s", STRIPE_KEY)
    finally:
        logger.removeHandler(handler)
    (record,) = record_holder
    assert record.getMessage() == f"failed with {MASK}"
    assert record.exc_text and STRIPE_KEY not in record.exc_text and MASK in record.exc_text
