"""The store's schema: every table from ``baton.probes.store.schema``, versioned by ``PRAGMA
user_version``; a store written before versions existed upgrades in place."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
import sqlite_utils
from click.testing import CliRunner

from baton.probes.cli import cli
from baton.probes.errors import StoreError
from baton.probes.health.alerts import load_state
from baton.probes.health.schedule import ScheduleSpec, pause_state
from baton.probes.store import Store, open_store
from baton.probes.store.bot import BotStore
from baton.probes.store.schema import MIGRATIONS, migrate, version

#: Written by Baton before schema versions (see make_store_before_migrations.py there).
OLD = Path(__file__).parent / "fixtures" / "store-before-migrations.db"

TABLES = {
    "runs",
    "stages",
    "cleanup",
    "stage_rollup",
    "rollup_stages",
    "rollup_runs",
    "schedule_slots",
    "schedule_state",
    "bot_requests",
    "bot_threads",
    "bot_scheduled_runs",
    "alert_state",
    "alert_flips",
}
#: Tables added later (no store before versions has them).
NEWER_TABLES = {"action_presses", "alert_snoozes", "alert_streaks"}


def tables(db: sqlite_utils.Database) -> set[str]:
    return set(db.table_names())


def test_a_new_store_has_every_table_at_the_latest_version(tmp_path: Path) -> None:
    store = open_store(tmp_path / "new.db")
    assert version(store.db) == len(MIGRATIONS)
    assert tables(store.db) >= TABLES | NEWER_TABLES
    assert migrate(store.db) == len(MIGRATIONS)  # nothing left to do


def test_the_alert_actions_step_upgrades_a_store_of_the_step_before(tmp_path: Path) -> None:
    db = sqlite_utils.Database(tmp_path / "before.db")
    before = next(i for i, m in enumerate(MIGRATIONS) if "action_presses" in str(m.apply))
    assert migrate(db, MIGRATIONS[:before]) == before
    db.execute(
        "INSERT INTO bot_threads (run_id, channel, ts, user, workflow, state) "
        "VALUES ('r-1', 'C1', '1.0', 'U1', 'lead', 'running')"
    )
    db.conn.commit()
    assert not tables(db) & NEWER_TABLES
    assert migrate(db) == len(MIGRATIONS)
    assert tables(db) >= NEWER_TABLES
    row = db.execute("SELECT run_id, thread_ts FROM bot_threads").fetchone()
    assert row == ("r-1", None)  # the old row kept, the new column empty


def test_a_store_from_before_versions_upgrades_in_place_and_keeps_every_row(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.db"
    shutil.copy(OLD, path)
    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA user_version").fetchone() == (0,)
    before = {t: raw.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in TABLES}
    raw.close()
    assert before["runs"] == 2 and before["stages"] == 8 and before["bot_threads"] == 1

    store = open_store(path)
    bot = BotStore(store.db)
    assert version(store.db) == len(MIGRATIONS)
    after = {t: store.db.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in TABLES}
    assert after == before
    # Everything reads as it did: results, stage rows (with the seam clock columns),
    # schedule state, alert state, the bot's threads.
    results = store.recent_runs("lead-to-invoice")
    assert len(results) == 2 and all(r.cleanup.status == "done" for r in results)
    for r in results:
        assert store.get_result(r.run_id) == r
        assert {row.name for row in store.stages(r.run_id)} == {
            "form",
            "crm",
            "welcome-email",
            "invoice",
        }
    assert pause_state(store.db, ScheduleSpec("lead-to-invoice", every_s=900))[0] is True
    assert load_state(store.db, "lead-to-invoice").status == "leak"
    # The flip the old store recorded reads as an outbox row now (columns added in place).
    flip = store.db.execute("SELECT kind, attempts, outcome FROM alert_flips").fetchone()
    assert flip[0] == "new_alert" and flip[1] == 0
    thread = bot.thread(results[0].run_id)
    assert thread is not None and thread.channel == "C0PROBES"
    assert store.pending_cleanup() == [] and store.active_runs() == []


def test_a_store_newer_than_this_baton_is_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    open_store(path).db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(StoreError, match="newer than this Baton knows"):
        open_store(path)
    config = tmp_path / "baton.yaml"
    example = (Path(__file__).parents[1] / "config.example.yaml").read_text(encoding="utf-8")
    config.write_text(example.replace("store: baton.db", f"store: {path}"), encoding="utf-8")
    result = CliRunner().invoke(cli, ["cleanup", "-c", str(config)])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: the run store has schema version")
    assert len(result.stderr.splitlines()) == 1


def test_a_failed_step_leaves_the_store_as_it_was() -> None:
    from baton.probes.store.schema import Migration

    db = sqlite_utils.Database(memory=True)
    broken = (*MIGRATIONS, Migration("a step that fails half-way", "CREATE TABLE t (x); BOGUS"))
    with pytest.raises(sqlite3.OperationalError):
        migrate(db, broken)
    assert version(db) == len(MIGRATIONS)
    assert "t" not in tables(db)


def test_stores_keep_working_through_store_objects(tmp_path: Path) -> None:
    # Store and BotStore over one file both bring it up to date, whichever opens first.
    path = tmp_path / "both.db"
    BotStore(sqlite_utils.Database(str(path)))
    store = Store(sqlite_utils.Database(str(path)))
    assert tables(store.db) >= TABLES


def test_a_store_one_version_back_gains_the_bot_fallbacks_table(tmp_path: Path) -> None:
    path = tmp_path / "previous.db"
    db = sqlite_utils.Database(str(path))
    step = next(
        i for i, m in enumerate(MIGRATIONS) if 'TABLE IF NOT EXISTS "bot_fallbacks"' in str(m.apply)
    )
    migrate(db, MIGRATIONS[:step])
    with db.conn:
        db.conn.execute(
            "INSERT INTO bot_threads (run_id, channel, ts, user, workflow, state) "
            "VALUES ('r-1', 'C1', '1.2', 'U1', 'w', 'running')"
        )
    assert "bot_fallbacks" not in tables(db)
    bot = BotStore(sqlite_utils.Database(str(path)))  # opening upgrades it in place
    assert version(bot.db) == len(MIGRATIONS)
    assert bot.thread("r-1") is not None
    row = bot.save_fallback(
        run_id="r-2", channel="G1", user="U1", workflow="w", response_url="u", url_issued_ts=1.0
    )
    assert (row.state, row.url_uses, row.response_url) == ("running", 0, "u")


def test_the_conclusion_claim_step_keeps_running_reports_claimable(tmp_path: Path) -> None:
    path = tmp_path / "before-claims.db"
    db = sqlite_utils.Database(str(path))
    step = next(i for i, m in enumerate(MIGRATIONS) if "conclude" in m.what)
    migrate(db, MIGRATIONS[:step])
    with db.conn:
        db.conn.execute(
            "INSERT INTO bot_threads (run_id, channel, ts, user, workflow, state) "
            "VALUES ('r-1', 'C1', '1.2', 'U1', 'w', 'running')"
        )
        db.conn.execute(
            "INSERT INTO bot_fallbacks (run_id, channel, state) VALUES ('r-2', 'G1', 'running')"
        )
    assert "concluded_by" not in db["bot_threads"].columns_dict
    bot = BotStore(sqlite_utils.Database(str(path)), clock=lambda: 1000.0)  # upgrades it
    assert version(bot.db) == len(MIGRATIONS)
    for table in ("bot_threads", "bot_fallbacks"):
        assert {"concluded_by", "concluded_ts"} <= set(bot.db[table].columns_dict)
    # The reports left running before the upgrade are concluded once, as new ones are.
    assert bot.claim_thread("r-1", "a") and not bot.claim_thread("r-1", "b")
    assert bot.claim_fallback("r-2", "a") and not bot.claim_fallback("r-2", "b")
    assert [t.state for t in bot.unfinished()] == ["concluding"]
    bot.finish_thread("r-1", "ok")
    assert bot.unfinished() == [] and not bot.claim_thread("r-1", "c")


def test_app_home_views_are_keyed_by_workspace_and_an_old_stores_rows_survive(
    tmp_path: Path,
) -> None:
    path = tmp_path / "previous.db"
    db = sqlite_utils.Database(str(path))
    before = next(i for i, m in enumerate(MIGRATIONS) if "bot_home_views_by_team" in str(m.apply))
    migrate(db, MIGRATIONS[:before])
    with db.conn:  # as the step before wrote them: keyed by user; a team, or none at all
        db.conn.executemany(
            "INSERT INTO bot_home_views (user, team, opened_ts) VALUES (?, ?, ?)",
            [("U0ALICE", "T0A", 100.0), ("U0BOB", "T0B", 200.0), ("U0OLD", None, 50.0)],
        )
    bot = BotStore(sqlite_utils.Database(str(path)))  # opening upgrades it in place
    assert version(bot.db) == len(MIGRATIONS)
    assert bot.home_viewers("T0A", 0.0, 10) == ["U0ALICE"]
    assert bot.home_viewers("T0B", 0.0, 10) == ["U0BOB"]
    assert bot.home_viewers("", 0.0, 10) == ["U0OLD"]
    # the same person in two workspaces: two rows, each workspace's own
    bot.home_opened("U0ALICE", "T0B", 300.0)
    bot.home_opened("U0ALICE", "T0A", 400.0)
    bot.home_opened("U0ALICE", "T0A", 500.0)  # again: the time moves, no second row
    assert bot.home_viewers("T0B", 0.0, 10) == ["U0ALICE", "U0BOB"]
    assert bot.home_viewers("T0A", 0.0, 10) == ["U0ALICE"]
    assert bot.home_viewers("T0A", 450.0, 10) == ["U0ALICE"]
    assert bot.home_viewers("T0B", 250.0, 10) == ["U0ALICE"]
    assert bot.home_viewers("T0B", 0.0, 1) == ["U0ALICE"]
    assert bot.db.execute("SELECT count(*) FROM bot_home_views").fetchone()[0] == 4


def test_a_workflow_has_one_open_failing_streak_and_old_duplicates_are_closed(
    tmp_path: Path,
) -> None:
    from baton.probes.store.snoozes import note_streak

    path = tmp_path / "streaks.db"
    db = sqlite_utils.Database(str(path))
    step = next(i for i, m in enumerate(MIGRATIONS) if "idx_alert_streaks_one_open" in str(m.apply))
    migrate(db, MIGRATIONS[:step])
    with db.conn:  # what two processes racing on the step before could leave: two open streaks
        db.conn.executemany(
            "INSERT INTO alert_streaks (workflow, since_ts, first_run_id) VALUES (?, ?, ?)",
            [("lead", 100.0, "r-1"), ("lead", 101.0, "r-2"), ("other", 50.0, "r-3")],
        )
    assert migrate(db) == len(MIGRATIONS)
    open_ = db.execute(
        "SELECT workflow, first_run_id FROM alert_streaks WHERE ended_ts IS NULL ORDER BY id"
    ).fetchall()
    assert open_ == [("lead", "r-1"), ("other", "r-3")]  # the first kept, the extra closed
    # Two connections (two processes) noting failures: still one open streak, the first.
    other = sqlite_utils.Database(str(path))
    note_streak(db, "lead", ok=False, run_id="r-4", at=200.0, now=200.0)
    note_streak(other, "lead", ok=False, run_id="r-5", at=201.0, now=201.0)
    # The index itself refuses a second one.
    with pytest.raises(sqlite3.IntegrityError), db.conn:
        db.conn.execute(
            "INSERT INTO alert_streaks (workflow, since_ts, first_run_id) "
            "VALUES ('lead', 300.0, 'r-6')"
        )
    note_streak(other, "lead", ok=True, run_id="r-7", at=400.0, now=400.0)
    assert db.execute("SELECT count(*) FROM alert_streaks WHERE ended_ts IS NULL").fetchone() == (
        1,
    )  # only "other" is still failing


def test_every_step_can_run_again_over_its_own_tables(tmp_path: Path) -> None:
    # A store written before schema versions has tables but user_version 0: every step then
    # runs over tables that may already be as it leaves them, so each must tolerate that.
    store = open_store(tmp_path / "again.db")
    store.db.execute("PRAGMA user_version = 0")
    assert migrate(store.db) == len(MIGRATIONS)
    assert tables(store.db) >= TABLES | NEWER_TABLES
