"""The bot's own tables, in the engine's SQLite database.

``bot_threads``: where each probe run is reported (channel and parent message ``ts``), so
every follow-up goes to the same thread, also after a restart. ``bot_requests``: the
requests already acted on, so a Slack retry, a replayed request or a double submission
never starts a second run. ``bot_scheduled_runs``: the runs the scheduler started, whether
their result was handed to alerting yet (claimed once, so two processes never both do), and
the message that reported it, if any (for the digest's links). ``bot_fallbacks``: runs
reported outside their channel (the bot is not a member of it: a private channel or a DM):
the command's response URL, when Slack issued it and how often it was used (Slack takes
five uses within 30 minutes), and the runner, to DM when it has run out; so a restart can
still deliver the result. However many reporters follow a run (a rebuilt workspace bot, a
second ``baton serve``), one concludes it: ``claim_thread`` / ``claim_fallback`` move it from
``running`` to ``concluding`` once; a claim older than ``CONCLUDE_LEASE_S`` is taken over
(its holder died). ``action_presses`` (:mod:`.presses`) are pruned with the claims, after
90 days. No tokens are stored; a response URL is kept only until its run
is delivered (it lets anyone holding it post to that conversation for 30 minutes).

    >>> store = BotStore(sqlite_utils.Database(memory=True), clock=lambda: 100.0)
    >>> store.claim({"trigger:123": None})
    True
    >>> store.claim({"trigger:123": None})
    False
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from .presses import KEEP_PRESSES_S, prune_presses
from .schema import migrate

#: How long processed request ids are kept (Slack retries within minutes).
KEEP_REQUESTS_S = 86_400.0
_PRUNE_EVERY_S = 3_600.0
_NEVER = -1e18
#: A reporter concluding a run's report holds it this long: posting a diagnosis and an
#: update takes seconds, even behind Slack's rate limits; past it, its holder died.
CONCLUDE_LEASE_S = 120.0
#: A report still to conclude: not claimed yet, or claimed by a reporter that may have died.
_UNFINISHED = "state IN ('running', 'concluding')"


@dataclass(frozen=True)
class Posted:
    """Where a run was reported in Slack: a message ``ts``, in a thread or not."""

    channel: str
    ts: str
    thread_ts: str | None = None


@dataclass(frozen=True)
class ScheduledRunRow:
    """A run the scheduler started (a row of ``bot_scheduled_runs``)."""

    run_id: str
    workflow: str
    channel: str | None
    slot_ts: float | None


@dataclass(frozen=True)
class Fallback:
    """A run reported outside its channel (a row of ``bot_fallbacks``)."""

    run_id: str
    channel: str
    user: str
    workflow: str
    response_url: str | None
    url_issued_ts: float | None
    url_uses: int
    state: str  # running | concluding (claimed by one reporter) | done


@dataclass(frozen=True)
class Thread:
    """Where one run is reported."""

    run_id: str
    channel: str
    ts: str
    user: str
    workflow: str
    state: str  # running | concluding (claimed by one reporter) | done
    thread_ts: str | None = None  # the thread it is reported in, when ``ts`` is a reply there


class BotStore:
    """Bot state next to the engine's tables (same ``sqlite_utils.Database``)."""

    def __init__(
        self, db: sqlite_utils.Database, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.db = db
        self.clock = clock
        self._pruned_at = 0.0
        self._migrate()

    def _migrate(self) -> None:
        migrate(self.db)  # the bot's tables live with the engine's (baton.probes.store.schema)

    # -- dedupe ----------------------------------------------------------------------------

    def claim(self, keys: Mapping[str, float | None]) -> bool:
        """Claim every key at once; False if any of them was claimed before.

        Each key maps to its window: ``None`` for once (a ``trigger_id``; kept a day, far
        beyond Slack's retries and the five-minute signature window), or seconds after
        which it may be claimed again (a user's identical command). One conditional
        upsert per key inside a savepoint, so two workers never both win, and a lost claim
        undoes only its own writes.
        """
        now = self.clock()
        self._prune(now)
        conn = self.db.conn
        conn.execute("SAVEPOINT bot_claim")
        try:
            for key, window_s in keys.items():
                cutoff = now - window_s if window_s is not None else _NEVER
                cur = conn.execute(
                    "INSERT INTO bot_requests (key, run_id, seen_ts) VALUES (?, NULL, ?) "
                    "ON CONFLICT(key) DO UPDATE SET seen_ts = excluded.seen_ts, run_id = NULL "
                    "WHERE bot_requests.seen_ts < ?",
                    [key, now, cutoff],
                )
                if cur.rowcount != 1:
                    conn.execute("ROLLBACK TO bot_claim")
                    return False
            return True
        finally:
            conn.execute("RELEASE bot_claim")

    def release(self, keys: Sequence[str]) -> None:
        """Forget a claim (the run never started, so trying again is fine)."""
        with self.db.conn:
            self.db.conn.executemany("DELETE FROM bot_requests WHERE key = ?", [[k] for k in keys])

    def attach_run(self, keys: Sequence[str], run_id: str) -> None:
        with self.db.conn:
            self.db.conn.executemany(
                "UPDATE bot_requests SET run_id = ? WHERE key = ?", [[run_id, k] for k in keys]
            )

    def run_for(self, keys: Sequence[str]) -> str | None:
        """The run a claimed request started, if it got that far."""
        for key in keys:
            row = self.db.conn.execute(
                "SELECT run_id FROM bot_requests WHERE key = ?", [key]
            ).fetchone()
            if row and row[0]:
                return str(row[0])
        return None

    def _prune(self, now: float) -> None:
        if now - self._pruned_at < _PRUNE_EVERY_S:
            return
        self._pruned_at = now
        with self.db.conn:
            self.db.conn.execute(
                "DELETE FROM bot_requests WHERE seen_ts < ?", [now - KEEP_REQUESTS_S]
            )
        prune_presses(self.db, before=now - KEEP_PRESSES_S)

    # -- threads ---------------------------------------------------------------------------

    def save_thread(
        self,
        *,
        run_id: str,
        channel: str,
        ts: str,
        user: str,
        workflow: str,
        thread_ts: str | None = None,
    ) -> None:
        now = self.clock()
        with self.db.conn:
            self.db.table("bot_threads").upsert(
                {
                    "run_id": run_id,
                    "channel": channel,
                    "ts": ts,
                    "user": user,
                    "workflow": workflow,
                    "state": "running",
                    "thread_ts": thread_ts,
                    "created_ts": now,
                    "updated_ts": now,
                },
                pk="run_id",
            )

    def finish_thread(self, run_id: str, verdict: str) -> None:
        with self.db.conn:
            self.db.conn.execute(
                "UPDATE bot_threads SET state = 'done', verdict = ?, updated_ts = ? "
                "WHERE run_id = ?",
                [verdict, self.clock(), run_id],
            )

    def thread(self, run_id: str) -> Thread | None:
        rows = list(self.db.table("bot_threads").rows_where("run_id = ?", [run_id]))
        return _thread(rows[0]) if rows else None

    def unfinished(self) -> list[Thread]:
        """Threads whose run was still being watched when the bot stopped (or whose
        conclusion another reporter claimed and has not finished)."""
        rows = self.db.table("bot_threads").rows_where(_UNFINISHED, order_by="created_ts")
        return [_thread(r) for r in rows]

    def claim_thread(self, run_id: str, holder: str, *, lease_s: float = CONCLUDE_LEASE_S) -> bool:
        """Take the conclusion of the run's thread (its diagnosis and final update) for
        ``holder``: True for exactly one caller, until the claim is ``lease_s`` old."""
        return self._claim("bot_threads", run_id, holder, lease_s)

    def _claim(self, table: str, run_id: str, holder: str, lease_s: float) -> bool:
        now = self.clock()
        with self.db.conn:
            cur = self.db.conn.execute(
                f"UPDATE {table} SET state = 'concluding', concluded_by = ?, concluded_ts = ?, "
                "updated_ts = ? WHERE run_id = ? AND (state = 'running' OR "
                "(state = 'concluding' AND (concluded_ts IS NULL OR concluded_ts < ?)))",
                [holder, now, now, run_id, now - lease_s],
            )
        return cur.rowcount == 1

    # -- runs reported outside their channel -------------------------------------------

    def save_fallback(
        self,
        *,
        run_id: str,
        channel: str,
        user: str,
        workflow: str,
        response_url: str | None,
        url_issued_ts: float | None,
    ) -> Fallback:
        now = self.clock()
        with self.db.conn:
            self.db.table("bot_fallbacks").upsert(
                {
                    "run_id": run_id,
                    "channel": channel,
                    "user": user,
                    "workflow": workflow,
                    "response_url": response_url,
                    "url_issued_ts": url_issued_ts,
                    "url_uses": 0,
                    "state": "running",
                    "created_ts": now,
                    "updated_ts": now,
                },
                pk="run_id",
            )
        fallback = self.fallback(run_id)
        assert fallback is not None
        return fallback

    def use_response_url(self, run_id: str, *, max_uses: int, issued_after: float) -> str | None:
        """Take one use of the run's response URL: the URL, or None when it has none left
        (``max_uses`` taken, or issued before ``issued_after``). A conditional update, so
        uses are counted across restarts and never exceed the limit."""
        with self.db.conn:
            cur = self.db.conn.execute(
                "UPDATE bot_fallbacks SET url_uses = url_uses + 1, updated_ts = ? "
                "WHERE run_id = ? AND response_url IS NOT NULL AND url_uses < ? "
                "AND url_issued_ts >= ?",
                [self.clock(), run_id, max_uses, issued_after],
            )
            if cur.rowcount != 1:
                return None
            row = self.db.conn.execute(
                "SELECT response_url FROM bot_fallbacks WHERE run_id = ?", [run_id]
            ).fetchone()
        return str(row[0]) if row and row[0] else None

    def finish_fallback(self, run_id: str, *, verdict: str | None, via: str) -> None:
        """The run's result went out (``via``: response_url, dm, or none); the response URL
        is forgotten."""
        with self.db.conn:
            self.db.conn.execute(
                "UPDATE bot_fallbacks SET state = 'done', verdict = ?, delivered_via = ?, "
                "response_url = NULL, updated_ts = ? WHERE run_id = ?",
                [verdict, via, self.clock(), run_id],
            )

    def fallback(self, run_id: str) -> Fallback | None:
        rows = list(self.db.table("bot_fallbacks").rows_where("run_id = ?", [run_id]))
        return _fallback(rows[0]) if rows else None

    def unfinished_fallbacks(self) -> list[Fallback]:
        """Runs reported outside their channel whose result was not delivered yet."""
        rows = self.db.table("bot_fallbacks").rows_where(_UNFINISHED, order_by="created_ts")
        return [_fallback(r) for r in rows]

    def claim_fallback(
        self, run_id: str, holder: str, *, lease_s: float = CONCLUDE_LEASE_S
    ) -> bool:
        """Take the delivery of the run's result (outside its channel) for ``holder``:
        True for exactly one caller, until the claim is ``lease_s`` old."""
        return self._claim("bot_fallbacks", run_id, holder, lease_s)

    # -- scheduled runs ------------------------------------------------------------------

    def remember_scheduled(
        self, *, run_id: str, workflow: str, channel: str | None, slot_ts: float | None
    ) -> None:
        """Note a run the scheduler started (again: no-op), so its result gets observed."""
        with self.db.conn:
            self.db.conn.execute(
                "INSERT OR IGNORE INTO bot_scheduled_runs (run_id, workflow, channel, slot_ts, "
                "started_ts) VALUES (?, ?, ?, ?, ?)",
                [run_id, workflow, channel, slot_ts, self.clock()],
            )

    def unobserved(self) -> list[ScheduledRunRow]:
        """Scheduled runs whose result has not been handed to alerting, oldest first."""
        rows = self.db.conn.execute(
            "SELECT run_id, workflow, channel, slot_ts FROM bot_scheduled_runs "
            "WHERE observed_ts IS NULL ORDER BY started_ts, run_id"
        ).fetchall()
        return [ScheduledRunRow(str(r[0]), str(r[1]), r[2], r[3]) for r in rows]

    def claim_observation(self, run_id: str) -> bool:
        """Take a finished scheduled run for alerting; False if a worker took it before."""
        with self.db.conn:
            cur = self.db.conn.execute(
                "UPDATE bot_scheduled_runs SET observed_ts = ? "
                "WHERE run_id = ? AND observed_ts IS NULL",
                [self.clock(), run_id],
            )
        return cur.rowcount == 1

    def save_post(self, run_id: str, posted: Posted) -> None:
        """Where the message about a scheduled run went (alert, thread reply, recovery)."""
        with self.db.conn:
            self.db.conn.execute(
                "UPDATE bot_scheduled_runs SET post_channel = ?, post_ts = ?, post_thread_ts = ? "
                "WHERE run_id = ?",
                [posted.channel, posted.ts, posted.thread_ts, run_id],
            )

    def where_reported(self, run_ids: Sequence[str]) -> dict[str, Posted]:
        """The Slack message of each run that has one: its own thread (``/baton run``) or
        the alert message or thread reply about it (scheduled runs)."""
        out: dict[str, Posted] = {}
        ids = list(dict.fromkeys(run_ids))
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for run_id, channel, ts, thread_ts in self.db.conn.execute(
                f"SELECT run_id, channel, ts, NULL FROM bot_threads WHERE run_id IN ({marks}) "
                "UNION ALL SELECT run_id, post_channel, post_ts, post_thread_ts "
                f"FROM bot_scheduled_runs WHERE post_ts IS NOT NULL AND run_id IN ({marks})",
                chunk + chunk,
            ).fetchall():
                out[str(run_id)] = Posted(str(channel), str(ts), thread_ts)
        return out

    # -- the App Home ----------------------------------------------------------------------

    def home_opened(self, user: str, team: str, now: float) -> None:
        """``user`` of workspace ``team`` opened the App Home (it is published again for them,
        by that workspace's bot, after runs)."""
        with self.db.conn:
            self.db.conn.execute(
                "INSERT INTO bot_home_views (team, user, opened_ts) VALUES (?, ?, ?) "
                "ON CONFLICT(team, user) DO UPDATE SET opened_ts = excluded.opened_ts",
                [team, user, now],
            )

    def home_viewers(self, team: str, since: float, limit: int) -> list[str]:
        """Who in workspace ``team`` opened the App Home since ``since``, newest first, at
        most ``limit`` (never another workspace's people: the store may be shared)."""
        rows = self.db.conn.execute(
            "SELECT user FROM bot_home_views WHERE team = ? AND opened_ts >= ? "
            "ORDER BY opened_ts DESC LIMIT ?",
            [team, since, limit],
        ).fetchall()
        return [str(r[0]) for r in rows]


def _fallback(row: dict[str, Any]) -> Fallback:
    issued = row["url_issued_ts"]
    return Fallback(
        run_id=str(row["run_id"]),
        channel=str(row["channel"] or ""),
        user=str(row["user"] or ""),
        workflow=str(row["workflow"] or ""),
        response_url=str(row["response_url"]) if row["response_url"] else None,
        url_issued_ts=float(issued) if issued is not None else None,
        url_uses=int(row["url_uses"] or 0),
        state=str(row["state"]),
    )


def _thread(row: dict[str, object]) -> Thread:
    return Thread(
        run_id=str(row["run_id"]),
        channel=str(row["channel"]),
        ts=str(row["ts"]),
        user=str(row["user"] or ""),
        workflow=str(row["workflow"] or ""),
        state=str(row["state"]),
        thread_ts=str(row["thread_ts"]) if row.get("thread_ts") else None,
    )


__all__ = ["CONCLUDE_LEASE_S", "BotStore", "Fallback", "Posted", "ScheduledRunRow", "Thread"]
