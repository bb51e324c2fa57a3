"""Every table in Baton's store, and the migrations that build them, in one place.

A store's schema version is ``PRAGMA user_version``: the number of migrations applied.
Opening a store (``Store``) applies those it lacks, in order, each in one ``BEGIN
IMMEDIATE`` transaction with the version bump, so two processes opening a new store at once
apply each step exactly once, and a crash mid-step leaves the store as it was. Stores
written before versions existed (version 0, some tables present) upgrade the same way:
every step only creates what is missing. A store newer than this code is refused rather
than misread.

To change the schema, append a migration; never edit one that has shipped.

    >>> import sqlite_utils
    >>> db = sqlite_utils.Database(memory=True)
    >>> migrate(db) == len(MIGRATIONS)
    True
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

import sqlite_utils

from ..errors import StoreError


@dataclass(frozen=True)
class Migration:
    """One step: what it does, in words, and the SQL (or function) that does it."""

    what: str
    apply: str | Callable[[sqlite3.Connection], None]


def _add_columns(
    table: str, columns: list[tuple[str, str]]
) -> Callable[[sqlite3.Connection], None]:
    def apply(conn: sqlite3.Connection) -> None:
        have = {row[1] for row in conn.execute(f'PRAGMA table_info("{table}")')}
        for name, decl in columns:
            if name not in have:
                conn.execute(f'ALTER TABLE "{table}" ADD COLUMN "{name}" {decl}')

    return apply


def _add_conclusion_claims(conn: sqlite3.Connection) -> None:
    for table in ("bot_threads", "bot_fallbacks"):
        _add_columns(table, [("concluded_by", "TEXT"), ("concluded_ts", "REAL")])(conn)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        "runs, their stages and their cleanup tasks",
        """
        CREATE TABLE IF NOT EXISTS "runs" (
           "id" TEXT PRIMARY KEY,
           "marker" TEXT NOT NULL,
           "workflow" TEXT NOT NULL,
           "variant" TEXT,
           "overrides" TEXT,
           "origin" TEXT,
           "status" TEXT NOT NULL,
           "verdict" TEXT,
           "started_at" TEXT,
           "started_ts" REAL NOT NULL,
           "finished_at" TEXT,
           "finished_ts" REAL,
           "lease_owner" TEXT,
           "lease_until" REAL,
           "result" TEXT
        );
        CREATE INDEX IF NOT EXISTS "idx_runs_status" ON "runs" ("status");
        CREATE INDEX IF NOT EXISTS "idx_runs_workflow_started_ts"
            ON "runs" ("workflow", "started_ts");
        CREATE TABLE IF NOT EXISTS "stages" (
           "run_id" TEXT REFERENCES "runs"("id"),
           "name" TEXT,
           "position" INTEGER,
           "workflow" TEXT,
           "tool" TEXT,
           "after" TEXT,
           "seam" TEXT,
           "state" TEXT,
           "status" TEXT,
           "started_ts" REAL,
           "deadline_ts" REAL,
           "grace_ts" REAL,
           "next_check_ts" REAL,
           "attempts" INTEGER,
           "first_seen_ts" REAL,
           "found" INTEGER,
           "latency_s" REAL,
           "last_error" TEXT,
           "findings" TEXT,
           PRIMARY KEY ("run_id", "name")
        );
        CREATE INDEX IF NOT EXISTS "idx_stages_workflow_name_started_ts"
            ON "stages" ("workflow", "name", "started_ts");
        CREATE TABLE IF NOT EXISTS "cleanup" (
           "run_id" TEXT,
           "tool" TEXT,
           "marker" TEXT,
           "status" TEXT,
           "attempts" INTEGER,
           "removed" INTEGER,
           "last_error" TEXT,
           "updated_ts" REAL,
           PRIMARY KEY ("run_id", "tool")
        );
        CREATE INDEX IF NOT EXISTS "idx_cleanup_status" ON "cleanup" ("status");
        """,
    ),
    Migration(
        "seam clocks: when each stage's upstream handed on, when it arrived, queue time",
        _add_columns(
            "stages",
            [
                ("origin_ts", "REAL"),
                ("arrived_ts", "REAL"),
                ("queued_s", "REAL"),
                ("seen_ids", "TEXT NOT NULL DEFAULT '[]'"),
            ],
        ),
    ),
    Migration(
        "the hourly rollup digests read",
        """
        CREATE TABLE IF NOT EXISTS stage_rollup (
            day_ts INTEGER NOT NULL,
            workflow TEXT NOT NULL,
            stage TEXT NOT NULL,
            metric TEXT NOT NULL,
            key TEXT NOT NULL,
            hour_ts INTEGER NOT NULL,
            n INTEGER NOT NULL,
            PRIMARY KEY (day_ts, workflow, stage, metric, key, hour_ts)
        ) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS rollup_stages (
            workflow TEXT NOT NULL,
            stage TEXT NOT NULL,
            seam TEXT NOT NULL,
            position INTEGER NOT NULL,
            PRIMARY KEY (workflow, stage)
        );
        CREATE TABLE IF NOT EXISTS rollup_runs (
            run_id TEXT PRIMARY KEY,
            workflow TEXT NOT NULL,
            verdict TEXT NOT NULL,
            started_ts REAL NOT NULL
        );
        CREATE INDEX IF NOT EXISTS rollup_runs_verdicts
            ON rollup_runs (workflow, verdict, started_ts);
        CREATE INDEX IF NOT EXISTS rollup_runs_started ON rollup_runs (started_ts);
        """,
    ),
    Migration(
        "schedule slots (no slot runs twice) and paused schedules",
        """
        CREATE TABLE IF NOT EXISTS schedule_slots (
            workflow TEXT NOT NULL,
            slot_ts REAL NOT NULL,
            slot_index INTEGER NOT NULL,
            claimed_ts REAL NOT NULL,
            owner TEXT,
            PRIMARY KEY (workflow, slot_ts)
        );
        CREATE TABLE IF NOT EXISTS schedule_state (
            workflow TEXT PRIMARY KEY,
            paused INTEGER NOT NULL,
            updated_ts REAL NOT NULL,
            updated_by TEXT
        );
        """,
    ),
    Migration(
        "the bot's request dedupe, run threads and scheduled runs",
        """
        CREATE TABLE IF NOT EXISTS "bot_requests" (
           "key" TEXT PRIMARY KEY,
           "run_id" TEXT,
           "seen_ts" REAL
        );
        CREATE INDEX IF NOT EXISTS "idx_bot_requests_seen_ts" ON "bot_requests" ("seen_ts");
        CREATE TABLE IF NOT EXISTS "bot_threads" (
           "run_id" TEXT PRIMARY KEY,
           "channel" TEXT,
           "ts" TEXT,
           "user" TEXT,
           "workflow" TEXT,
           "state" TEXT,
           "verdict" TEXT,
           "created_ts" REAL,
           "updated_ts" REAL
        );
        CREATE INDEX IF NOT EXISTS "idx_bot_threads_state" ON "bot_threads" ("state");
        CREATE TABLE IF NOT EXISTS "bot_scheduled_runs" (
           "run_id" TEXT PRIMARY KEY,
           "workflow" TEXT,
           "channel" TEXT,
           "slot_ts" REAL,
           "started_ts" REAL,
           "observed_ts" REAL,
           "post_channel" TEXT,
           "post_ts" TEXT,
           "post_thread_ts" TEXT
        );
        CREATE INDEX IF NOT EXISTS "idx_bot_scheduled_runs_observed_ts_started_ts"
            ON "bot_scheduled_runs" ("observed_ts", "started_ts");
        """,
    ),
    Migration(
        "each workflow's alert state, and its flips (what to tell Slack)",
        """
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
        """,
    ),
    Migration(
        "alert flips become an outbox: leases, retries, what was posted where",
        _add_columns(
            "alert_flips",
            [
                # Nullable or defaulted, so existing rows stay valid: a flip claimed by an
                # older Baton that never recorded its outcome is pending again.
                ("channel", "TEXT"),
                ("consecutive", "INTEGER"),
                ("attempts", "INTEGER NOT NULL DEFAULT 0"),
                ("next_attempt_ts", "REAL"),
                ("lease_until", "REAL"),
                ("lease_token", "TEXT"),
                ("maybe_sent_ts", "REAL"),
                ("dedupe_key", "TEXT"),
                ("posted_channel", "TEXT"),
                ("posted_ts", "TEXT"),
                ("replied_ts", "TEXT"),
                ("delivered_ts", "REAL"),
            ],
        ),
    ),
    Migration(
        "an index for each workflow's open alert flips",
        "CREATE INDEX IF NOT EXISTS alert_flips_open ON alert_flips (workflow, outcome, id)",
    ),
    Migration(
        "what people do in Slack: every button press and modal submission (who, when, where, "
        "what came of it), alert snoozes, failing streaks, and who has the App Home open",
        """
        CREATE TABLE IF NOT EXISTS "action_presses" (
           "id" INTEGER PRIMARY KEY AUTOINCREMENT,
           "at_ts" REAL NOT NULL,
           "team" TEXT,
           "user" TEXT,
           "channel" TEXT,
           "message_ts" TEXT,
           "action_id" TEXT NOT NULL,
           "action_ts" TEXT,
           "value" TEXT,
           "subject" TEXT,
           "outcome" TEXT NOT NULL
        );
        CREATE INDEX IF NOT EXISTS "idx_action_presses_subject"
           ON "action_presses" ("subject", "action_id");
        CREATE INDEX IF NOT EXISTS "idx_action_presses_at_ts" ON "action_presses" ("at_ts");
        CREATE TABLE IF NOT EXISTS "alert_snoozes" (
           "id" INTEGER PRIMARY KEY AUTOINCREMENT,
           "workflow" TEXT NOT NULL,
           "flip_id" INTEGER,
           "user" TEXT,
           "at_ts" REAL NOT NULL,
           "until_ts" REAL,
           "until_ok" INTEGER NOT NULL DEFAULT 0,
           "words" TEXT,
           "ended_ts" REAL
        );
        CREATE INDEX IF NOT EXISTS "idx_alert_snoozes_workflow"
           ON "alert_snoozes" ("workflow", "ended_ts");
        CREATE TABLE IF NOT EXISTS "alert_streaks" (
           "id" INTEGER PRIMARY KEY AUTOINCREMENT,
           "workflow" TEXT NOT NULL,
           "since_ts" REAL NOT NULL,
           "first_run_id" TEXT,
           "ended_ts" REAL,
           "ended_run_id" TEXT
        );
        CREATE INDEX IF NOT EXISTS "idx_alert_streaks_workflow"
           ON "alert_streaks" ("workflow", "ended_ts");
        CREATE INDEX IF NOT EXISTS "idx_alert_streaks_ended_run"
           ON "alert_streaks" ("ended_run_id");
        CREATE TABLE IF NOT EXISTS "bot_home_views" (
           "user" TEXT PRIMARY KEY,
           "team" TEXT,
           "opened_ts" REAL NOT NULL
        );
        """,
    ),
    Migration(
        "the thread a run is reported in, when its parent is a reply there (a re-run)",
        _add_columns("bot_threads", [("thread_ts", "TEXT")]),
    ),
    Migration(
        "runs the bot reports outside the channel (it is not a member): the command's "
        "response URL, its uses, and who to DM once it has run out",
        """
        CREATE TABLE IF NOT EXISTS "bot_fallbacks" (
           "run_id" TEXT PRIMARY KEY,
           "channel" TEXT,
           "user" TEXT,
           "workflow" TEXT,
           "response_url" TEXT,
           "url_issued_ts" REAL,
           "url_uses" INTEGER NOT NULL DEFAULT 0,
           "state" TEXT,
           "verdict" TEXT,
           "delivered_via" TEXT,
           "created_ts" REAL,
           "updated_ts" REAL
        );
        CREATE INDEX IF NOT EXISTS "idx_bot_fallbacks_state" ON "bot_fallbacks" ("state")
        """,
    ),
    Migration(
        "who concludes a run's report and since when (a claim with a lease), so one "
        "reporter posts the result however many follow the run",
        _add_conclusion_claims,
    ),
    Migration(
        "App Home views keyed by workspace and user (one store may serve several "
        "workspaces: a Home is published again only in the workspace it was opened in)",
        """
        CREATE TABLE "bot_home_views_by_team" (
           "team" TEXT NOT NULL DEFAULT '',
           "user" TEXT NOT NULL,
           "opened_ts" REAL NOT NULL,
           PRIMARY KEY ("team", "user")
        );
        INSERT INTO "bot_home_views_by_team" ("team", "user", "opened_ts")
           SELECT COALESCE("team", ''), "user", "opened_ts" FROM "bot_home_views";
        DROP TABLE "bot_home_views";
        ALTER TABLE "bot_home_views_by_team" RENAME TO "bot_home_views";
        CREATE INDEX "idx_bot_home_views_team_opened" ON "bot_home_views" ("team", "opened_ts")
        """,
    ),
    Migration(
        "one open failing streak per workflow (two processes noting failures at once opened "
        "two): extra open streaks are closed where they began, then a unique index holds it",
        """
        UPDATE "alert_streaks" SET "ended_ts" = "since_ts"
           WHERE "ended_ts" IS NULL AND "id" NOT IN (
              SELECT MIN("id") FROM "alert_streaks" WHERE "ended_ts" IS NULL GROUP BY "workflow"
           );
        CREATE UNIQUE INDEX IF NOT EXISTS "idx_alert_streaks_one_open"
           ON "alert_streaks" ("workflow") WHERE "ended_ts" IS NULL
        """,
    ),
)


def version(db: sqlite_utils.Database) -> int:
    """The store's schema version: how many migrations it has."""
    return int(db.conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(db: sqlite_utils.Database, migrations: tuple[Migration, ...] = MIGRATIONS) -> int:
    """Apply the migrations ``db`` lacks; return its version after."""
    conn = db.conn
    target = len(migrations)
    current = version(db)
    if current > target:
        raise StoreError(
            f"the run store has schema version {current}, newer than this Baton knows "
            f"({target}): upgrade Baton, or point `store:` at another file"
        )
    while current < target:
        conn.execute("BEGIN IMMEDIATE")
        try:
            current = version(db)  # another process may have moved it meanwhile
            if current < target:
                step = migrations[current]
                if isinstance(step.apply, str):
                    for statement in step.apply.split(";"):
                        if statement.strip():
                            conn.execute(statement)
                else:
                    step.apply(conn)
                current += 1
                conn.execute(f"PRAGMA user_version = {current}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return current


__all__ = ["MIGRATIONS", "Migration", "migrate", "version"]
