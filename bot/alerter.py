"""Alerting without noise: what the bot posts about scheduled runs, and when; delivered at
least once, never twice.

A scheduled result never goes straight to Slack. ``Alerter.observe`` hands it to
``baton.probes.health.alerts.observe_result``, which records the workflow's new state and, when
there is something to say, a *flip* (written down before anything is sent). Then, per decision:

=================  ==========================================================================
NEW_ALERT          a new message in the schedule's channel (❌ leak at a seam, or ⚠️ could not
                   check), its diagnosis as the first reply; its ``ts`` becomes the
                   workflow's open thread (kept in ``alert_state``)
ADD_TO_THREAD      one reply in the open thread ("Still failing: …"), nothing in the channel
RECOVERED          the alert's own message updated in place to ✅ with how long it failed,
                   and a reply closing its thread; nothing in the channel, unless there is
                   no alert message to update (deleted: ``message_not_found``; or never
                   known): then a "healthy again" message in the channel
QUIET              nothing now; ``deliver_due`` sends it when the quiet hours end
NOTHING            nothing
=================  ==========================================================================

Delivery (``alert_flips`` is an outbox, see ``baton.probes.store.alerts``):

- A flip is **leased** before it is sent (a conditional UPDATE), so two workers never both
  send it; flips of one workflow go out in order.
- A failed attempt is sorted: *transient* (429, whose ``Retry-After`` is honoured; 5xx; a
  dropped connection) gives the flip back with its next attempt after an exponential,
  jittered, capped backoff; *slow* (``not_in_channel``, an archived channel, a revoked
  token: fixed by a person) is retried hourly; *permanent* (``channel_not_found``, blocks
  Slack refuses even as text …) is failed at once with the reason, logged at WARNING with
  what to fix. A flip not delivered a day after it was due is failed.
- **No duplicates**: Slack has no idempotency key for ``chat.postMessage``, so every
  message carries the flip's key in its metadata (``event_type`` ``baton_alert``), and an
  attempt that may have reached Slack (a 5xx, a dropped connection, a send cut off by a
  stop or a crash) is followed, before anything is sent again, by a look at the channel
  (``conversations.history``, or ``conversations.replies`` in a thread, from when that
  attempt began): a message found there is taken as delivered. That look needs the
  ``channels:history`` / ``groups:history`` scopes and the bot in the channel; without them
  Baton warns once and sends again (at least once wins over at most once).
- A process that died mid-send leaves its lease to run out (``lease_s``); the next worker
  takes the flip again, looking first. ``close()`` stops taking new flips; a send already
  under way finishes, and one cut off is given back for the next start.
- Posts to one channel are paced (``ChannelPacer``: about one a second, a short burst).
- A new alert carries its controls (Acknowledge, Snooze, Re-run: ``baton.bot.alert_actions``)
  and mentions whom ``alerts.mention`` names; repeats mention nobody. While the workflow is
  snoozed, its new alerts and repeats are *suppressed* (written down, never sent); a
  recovery is sent. A recovery's in-place update is its main part, delivered like a post
  (retried, recorded before the reply goes out); being idempotent, it is done again rather
  than looked for.

    alerter = Alerter(api=api, store=bot_store, results=engine.store, workflows=...)
    decision = await alerter.observe(row, result)     # one finished scheduled run
    await alerter.deliver_due()                       # retries, quiet hours over, left-overs

Size: one delivery loop (observe, lease, send, record, retry, give up) with its Slack calls;
the state machine is probes.health.alerts, the queries probes.store.alerts, the messages
bot.blocks.alert.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from baton.probes.config import WorkflowConfig
from baton.probes.health.alerts import (
    GIVE_UP_AFTER_S,
    LEASE_S,
    Action,
    Decision,
    Flip,
    Lease,
    claim_flip,
    due_flips,
    lease_flip,
    observe_result,
    opened_thread,
    policy_from_config,
    record_delivery,
    record_part,
    release_flip,
    renew_lease,
)
from baton.probes.model import RunResult
from baton.probes.store.alerts import suppress_leased
from baton.probes.store.bot import BotStore, Posted, ScheduledRunRow

from ._engine import StoreLike
from .alert_actions import (
    AlertRow,
    active_snooze,
    alert_at,
    alert_message,
    failing_for,
    note_result,
)
from .blocks import run as messages
from .blocks.alert import AlertMarks, alert_opened, alert_recovered, alert_repeat, recovered_reply
from .blocks.format import permalink
from .blocks.run import Message
from .reporter import new_error_id
from .slack_api import NEEDS_A_PERSON, SlackApi, SlackCallError
from .throttle import ChannelPacer

log = logging.getLogger("bot.alerts")

#: The ``event_type`` of the metadata on every alert message (its payload: the flip's
#: ``key``, the ``part``, main or reply, and the flip id).
EVENT_TYPE = "baton_alert"
#: How far before an uncertain attempt began the look for its message starts (clock skew).
LOOKBACK_S = 300.0
#: Pages (200 messages each) read at most when looking for a message.
LOOKUP_PAGES = 5
BACKOFF_BASE_S = 2.0
BACKOFF_CAP_S = 300.0
#: The retry interval of errors a person must fix (not_in_channel, an archived channel …).
SLOW_RETRY_S = 3600.0
#: Transient failures in a row after which a flip's trouble is logged at WARNING.
WARN_AFTER_ATTEMPTS = 5

#: Slack's answers that may have come after the message was posted.
_MAYBE_POSTED = frozenset(
    {"connection_error", "request_timeout", "fatal_error", "internal_error", "service_unavailable"}
)
#: Refusals a person can fix (invite the bot, unarchive, a new token): retried slowly.
_SLOW = NEEDS_A_PERSON
#: chat.update's answers when the message to update is not there (deleted, or not Baton's).
_NO_MESSAGE = frozenset({"message_not_found", "cant_update_message"})
_TOKEN_TROUBLE = frozenset(
    {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired"}
)


def _rate_limited(exc: SlackCallError) -> bool:
    return exc.status == 429 or exc.error in ("ratelimited", "rate_limited")


def _maybe_posted(exc: SlackCallError) -> bool:
    """Whether Slack may have posted the message despite the error."""
    if _rate_limited(exc):
        return False
    return (exc.status or 0) >= 500 or exc.error in _MAYBE_POSTED or exc.error.startswith("http_5")


def failure_kind(exc: SlackCallError) -> str:
    """``transient`` (retry soon), ``slow`` (a person must act: retry hourly) or
    ``permanent`` (fail the alert now)."""
    if _rate_limited(exc) or _maybe_posted(exc):
        return "transient"
    return "slow" if exc.error in _SLOW else "permanent"


def what_to_fix(exc: SlackCallError, channel: str | None, workflow: str) -> str:
    """One sentence on how a person ends a refusal."""
    error, where = exc.error, channel or "the channel"
    if error == "not_in_channel":
        return f"invite the bot to {where} (/invite @Baton there); Baton tries again hourly"
    if error == "channel_not_found":
        return (
            f"check workflows.{workflow}.schedule.channel and slack.default_channel (a private "
            "channel needs /invite @Baton first)"
        )
    if error in ("is_archived", "channel_is_archived"):
        return f"unarchive {where}, or send {workflow}'s alerts to another channel"
    if error in _TOKEN_TROUBLE or error in ("missing_scope", "no_permission"):
        return (
            "check SLACK_BOT_TOKEN and the app's scopes (`baton manifest`), then reinstall the "
            "app; Baton tries again hourly"
        )
    if exc.side == "ours":
        return "Slack refused the message Baton built: please report it with the error id"
    return ""


@dataclass(frozen=True)
class Notice:
    """One recorded flip to deliver (from a fresh ``Decision`` or a stored ``Flip``)."""

    flip_id: int
    kind: Action
    workflow: str
    run_id: str
    old_status: str
    new_status: str
    thread: dict[str, Any] | None
    consecutive: int | None = None  # unknown for a flip held back by quiet hours

    @classmethod
    def of_decision(cls, d: Decision) -> Notice:
        assert d.flip_id is not None
        return cls(
            d.flip_id, d.action, d.workflow, d.run_id, d.old_status, d.new_status, d.thread,
            d.consecutive,
        )  # fmt: skip

    @classmethod
    def of_flip(cls, f: Flip) -> Notice:
        return cls(
            f.id, Action(f.kind), f.workflow, f.run_id, f.old_status, f.new_status, f.thread,
            f.consecutive,
        )  # fmt: skip


class LeaseLost(Exception):
    """The flip's lease ran out mid-attempt and another worker took it."""


@dataclass
class _Attempt:
    """One leased attempt at a flip, as it goes."""

    lease: Lease
    maybe_sent_ts: float | None  # a part may be in Slack since (look before sending it)
    channel: str | None = None  # the channel of the call under way
    sending: bool = False  # a chat.postMessage is under way (vs. a look)


class Alerter:
    """Turns finished scheduled runs into (few) Slack messages; see the module docstring."""

    def __init__(
        self,
        *,
        api: SlackApi,
        store: BotStore,
        results: StoreLike,
        workflows: Mapping[str, WorkflowConfig],
        db: sqlite_utils.Database | None = None,
        channel_for: Callable[[str], str | None] = lambda workflow: None,
        workspace_url: Callable[[], str | None] = lambda: None,
        clock: Callable[[], float] = time.time,
        error_id: Callable[[], str] = new_error_id,
        lease_s: float = LEASE_S,
        pacer: ChannelPacer | None = None,
        backoff_s: tuple[float, float] = (BACKOFF_BASE_S, BACKOFF_CAP_S),
        rng: random.Random | None = None,
        on_result: Callable[[], None] = lambda: None,
    ) -> None:
        self.api = api
        #: One attempt per call: a failure goes back to the outbox, which retries.
        self.sender = SlackApi(
            client=api.client, redactor=api.redactor, sleep=api.sleep, max_attempts=1
        )
        self.store = store
        self.db = db if db is not None else store.db
        self.results = results
        self.workflows = workflows
        self.channel_for = channel_for
        self.workspace_url = workspace_url
        self.clock = clock
        self.error_id = error_id
        self.lease_s = lease_s
        self.pacer = pacer or ChannelPacer()
        self.backoff_s = backoff_s
        self.rng = rng or random.Random()
        #: Called after a scheduled result is recorded (the App Home refreshes; never raises).
        self.on_result = on_result
        self.closing = False
        self._warned: set[tuple[str, str]] = set()
        #: The workflows whose alerts this alerter sends (one workspace's, with
        #: ``slack.oauth``: another workspace's go with its own token). ``None``: all.
        self.scope: frozenset[str] | None = None

    def close(self) -> None:
        """Take no new flips; an attempt under way finishes."""
        self.closing = True

    # -- results --------------------------------------------------------------------------

    def record(self, row: ScheduledRunRow, result: RunResult) -> Decision:
        """Record one finished scheduled run's verdict (and its flip, to deliver)."""
        wf = self.workflows.get(result.workflow)
        decision = observe_result(
            self.db,
            result.workflow,
            result.verdict,
            result.run_id,
            self.clock(),
            policy_from_config(wf),
            channel=row.channel or self.channel_for(result.workflow),
        )
        note_result(self.db, result, self.clock())
        self.on_result()
        log.info(
            "scheduled run %s of %s: %s → %s (%s)",
            result.run_id,
            result.workflow,
            result.verdict,
            decision.action,
            decision.reason,
        )
        return decision

    async def observe(self, row: ScheduledRunRow, result: RunResult) -> Decision:
        """Record one finished scheduled run's verdict, and send what it calls for."""
        decision = self.record(row, result)
        if decision.flip_id is not None and decision.action not in (Action.QUIET, Action.NOTHING):
            channel = row.channel or self.channel_for(result.workflow)
            await self.deliver(Notice.of_decision(decision), result, channel)
        return decision

    async def deliver_due(self) -> int:
        """Send every flip that is due: new, retried, held back by quiet hours, or left by a
        process that stopped. Channels in parallel, each paced; how many were delivered."""
        sent = 0
        while not self.closing:
            queues: dict[str, list[Flip]] = {}
            for flip in due_flips(self.db, self.clock()):
                if self.scope is not None and flip.workflow not in self.scope:
                    continue
                queues.setdefault(self._target(flip) or "", []).append(flip)
            if not queues:
                break
            done = sum(await asyncio.gather(*(self._deliver_all(q) for q in queues.values())))
            if done == 0:
                break  # what is left failed or is someone else's: the next pass
            sent += done
        return sent

    def _target(self, flip: Flip) -> str | None:
        return flip.channel or (flip.thread or {}).get("channel") or self.channel_for(flip.workflow)

    async def _deliver_all(self, queue: list[Flip]) -> int:
        sent = 0
        for flip in queue:
            if self.closing:
                break
            result = self.results.get_result(flip.run_id)
            if result is None:
                log.warning("alert %d: run %s has no result; dropped", flip.id, flip.run_id)
                if claim_flip(self.db, flip.id, self.clock()):
                    record_delivery(self.db, flip.id, now=self.clock(), error="no result")
                continue
            channel = flip.channel or self.channel_for(flip.workflow)
            sent += await self.deliver(Notice.of_flip(flip), result, channel)
        return sent

    # -- one attempt ----------------------------------------------------------------------

    async def deliver(self, notice: Notice, result: RunResult, channel: str | None) -> bool:
        """Lease the flip, send it, record how it went; False if not delivered (by us, now)."""
        if self.closing:
            return False
        lease = lease_flip(self.db, notice.flip_id, self.clock(), lease_s=self.lease_s)
        if lease is None:
            return False  # another worker has it, it is not due, or an older one goes first
        attempt = _Attempt(lease, lease.maybe_sent_ts)
        try:
            return await self._attempt(notice, result, channel, attempt)
        except asyncio.CancelledError:
            release_flip(
                self.db,
                lease.flip_id,
                lease.token,
                retry_at=self.clock(),
                error="interrupted: Baton stopped mid-send",
                maybe_sent=True,  # as noted before the send: looked for before a resend
            )
            log.info("alert %d: cut off mid-send; it goes out on the next start", lease.flip_id)
            raise

    async def _attempt(
        self, notice: Notice, result: RunResult, channel: str | None, attempt: _Attempt
    ) -> bool:
        lease = attempt.lease
        thread = notice.thread
        if thread is None and notice.kind != Action.NEW_ALERT:
            thread = opened_thread(self.db, notice.flip_id)  # the alert went out late
        if channel is None and thread is None:
            why = (
                f"no channel for {notice.workflow}'s alerts: set workflows.{notice.workflow}"
                ".schedule.channel or slack.default_channel"
            )
            log.warning("alert %d not sent: %s", notice.flip_id, why)
            record_delivery(self.db, notice.flip_id, now=self.clock(), error=why, token=lease.token)
            return False
        snoozed = active_snooze(self.db, notice.workflow, self.clock())
        if snoozed is not None and notice.kind in (Action.NEW_ALERT, Action.ADD_TO_THREAD):
            self._suppress(notice, lease, f"snoozed {snoozed.words}")
            return False
        try:
            posted = await self._send(notice, result, channel, thread, attempt)
        except SlackCallError as exc:
            self._failed(notice, attempt, exc)
            return False
        except LeaseLost:
            log.warning(
                "alert %d: its lease ran out mid-send; another worker has it", lease.flip_id
            )
            return False
        except Exception:
            eid = self.error_id()
            log.exception("%s: alert %d about %s not sent", eid, notice.flip_id, notice.run_id)
            self._retry(attempt, f"internal error ({eid})", None, maybe_sent=True)
            return False
        if not record_delivery(self.db, notice.flip_id, now=self.clock(), token=lease.token):
            log.warning("alert %d: sent, but its lease ran out first", notice.flip_id)
            return False
        self.store.save_post(notice.run_id, posted)
        return True

    def _suppress(self, notice: Notice, lease: Lease, why: str) -> None:
        """Never send this flip (the workflow is snoozed); written down with why."""
        suppress_leased(self.db, notice.flip_id, token=lease.token, why=why, now=self.clock())
        log.info("alert %d about %s not sent: %s", notice.flip_id, notice.workflow, why)

    async def _reply_part(self, attempt: _Attempt, reply: tuple[str, Message, str]) -> str:
        """The flip's thread reply (after its main part is recorded); its ts, or "" if Slack
        refused it for good (logged; the flip still counts as delivered)."""
        try:
            reply_ts = await self._post_part(attempt, "reply", *reply)
        except SlackCallError as exc:
            if failure_kind(exc) != "permanent":
                raise  # the main part is recorded: only the reply is tried again
            log.warning("%s: thread reply not sent: %s", self.error_id(), exc)
            reply_ts = ""
        self._record(attempt, "reply", reply[0], reply_ts)
        return reply_ts

    async def _send_recovery(
        self,
        notice: Notice,
        result: RunResult,
        channel: str | None,
        thread: dict[str, Any] | None,
        attempt: _Attempt,
    ) -> Posted:
        """A recovery: the alert's own message updated in place to ✅ (how long it failed)
        and a closing line in its thread; nothing in the channel. Only when there is no
        alert message to update (it was deleted, or Baton does not know it) does a
        "healthy again" message go to the channel.

        The update is the flip's *main* part (recorded with the alert's channel and ts, so
        a retry after a failed reply does not update again); a chat.update is idempotent,
        so an uncertain one is simply done again, never looked for."""
        lease = attempt.lease
        parent = self._parent(thread, result)
        if lease.posted is not None:
            where, ts = lease.posted
        else:
            where, ts = "", ""
            if parent is not None and await self._update_in_place(attempt, *parent):
                where, ts = parent[0].channel, parent[0].ts
            else:
                gone = parent is not None  # it was there to update, and Slack has it no more
                link = None
                if thread is not None and not gone:
                    link = permalink(self.workspace_url(), thread["channel"], thread["ts"])
                message = alert_recovered(result, old_status=notice.old_status, alert_link=link)
                where = channel or (thread or {})["channel"]
                ts = await self._post_part(attempt, "main", where, message, None)
            self._record(attempt, "main", where, ts)
        in_place = parent is not None and (where, ts) == (parent[0].channel, parent[0].ts)
        if thread is not None and not lease.replied and (in_place or parent is None):
            failing_s = failing_for(self.db, result.run_id)
            reply = (thread["channel"], recovered_reply(result, failing_s=failing_s), thread["ts"])
            reply_ts = await self._reply_part(attempt, reply)
            if reply_ts:
                return Posted(thread["channel"], reply_ts, thread["ts"])
        return Posted(where, ts)

    def _parent(
        self, thread: dict[str, Any] | None, result: RunResult
    ) -> tuple[AlertRow, Message] | None:
        """The alert's own message (as Baton posted it) and what it says once recovered."""
        if thread is None:
            return None
        alert = alert_at(self.db, str(thread.get("channel")), str(thread.get("ts")))
        if alert is None:
            return None
        message = alert_message(
            alert, gate_db=self.db, results=self.results, workflows=self.workflows,
            now=self.clock(), recovered=result,
        )  # fmt: skip
        return (alert, message) if message is not None else None

    async def _update_in_place(self, attempt: _Attempt, alert: AlertRow, message: Message) -> bool:
        """chat.update of the alert's message; False if there is none to update (Slack
        answers ``message_not_found``, or refuses the update for good). A transient or
        slow failure is raised: the flip is tried again like any other part."""
        lease = attempt.lease
        attempt.channel, attempt.sending = alert.channel, False
        await self.pacer.wait(alert.channel)
        # Not ``sending``: an update done twice is harmless, so nothing is looked for.
        if not renew_lease(self.db, lease.flip_id, lease.token, self.clock(), lease_s=self.lease_s):
            raise LeaseLost
        try:
            await self._update(alert.channel, alert.ts, message)
        except SlackCallError as exc:
            if exc.error not in _NO_MESSAGE and failure_kind(exc) != "permanent":
                raise
            log.warning(
                "%s: alert %d could not be marked recovered in place (%s); the recovery goes "
                "to the channel instead",
                self.error_id(),
                alert.flip_id,
                exc.error,
            )
            return False
        return True

    async def _send(
        self,
        notice: Notice,
        result: RunResult,
        channel: str | None,
        thread: dict[str, Any] | None,
        attempt: _Attempt,
    ) -> Posted:
        """The flip's main message, then its reply (each skipped if already in Slack)."""
        wf = self.workflows.get(result.workflow)
        reply: tuple[str, Message, str] | None = None
        if notice.kind == Action.NEW_ALERT:
            assert channel is not None
            marks = AlertMarks(
                flip_id=notice.flip_id, mention=wf.alerts.mention if wf is not None else ()
            )
            message = alert_opened(result, wf, consecutive=notice.consecutive, marks=marks)
            main = (channel, message, None)
        elif notice.kind == Action.ADD_TO_THREAD:
            message = alert_repeat(
                result, wf, status=notice.new_status, consecutive=notice.consecutive
            )
            if thread is not None:
                main = (thread["channel"], message, thread["ts"])
            else:  # the alert never went out: say it in the channel
                assert channel is not None
                main = (channel, message, None)
        else:
            return await self._send_recovery(notice, result, channel, thread, attempt)
        lease = attempt.lease
        if lease.posted is not None:
            where, ts = lease.posted
        else:
            where, message, thread_ts = main
            ts = await self._post_part(attempt, "main", where, message, thread_ts)
            self._record(attempt, "main", where, ts)
        if notice.kind == Action.NEW_ALERT:
            reply = (where, messages.diagnosis(result, wf), ts)
        if reply is not None and not lease.replied:
            await self._reply_part(attempt, reply)
        if notice.kind == Action.ADD_TO_THREAD and main[2] is not None:
            return Posted(where, ts, main[2])
        return Posted(where, ts)

    def _record(self, attempt: _Attempt, part: str, channel: str, ts: str) -> None:
        lease = attempt.lease
        ok = record_part(
            self.db, lease.flip_id, lease.token, part=part, channel=channel, ts=ts,
            now=self.clock(),
        )  # fmt: skip
        if not ok:
            raise LeaseLost
        attempt.maybe_sent_ts = None

    async def _post_part(
        self,
        attempt: _Attempt,
        part: str,
        channel: str,
        message: Message,
        thread_ts: str | None,
    ) -> str:
        """Post one part, unless an earlier attempt already did (then its ts)."""
        lease = attempt.lease
        attempt.channel, attempt.sending = channel, False
        if attempt.maybe_sent_ts is not None:
            found = await self._look_for(attempt, part, channel, thread_ts)
            if found is not None:
                log.info(
                    "alert %d: its %s message is in Slack already (%s); not sent again",
                    lease.flip_id,
                    part,
                    found,
                )
                return found
        await self.pacer.wait(channel)
        now = self.clock()
        if not renew_lease(
            self.db, lease.flip_id, lease.token, now, lease_s=self.lease_s, sending=True
        ):
            raise LeaseLost
        attempt.maybe_sent_ts, attempt.sending = now, True
        metadata = {
            "event_type": EVENT_TYPE,
            "event_payload": {"key": lease.dedupe_key, "part": part, "flip": lease.flip_id},
        }
        ts = await self._post(channel, message, thread_ts=thread_ts, metadata=metadata)
        attempt.sending = False
        return ts

    async def _look_for(
        self, attempt: _Attempt, part: str, channel: str, thread_ts: str | None
    ) -> str | None:
        """The ts of the part if an earlier attempt posted it; None if it is not there, or
        if Baton cannot look (then it warns once and the part is sent again)."""
        assert attempt.maybe_sent_ts is not None
        try:
            return await self.find_posted(
                attempt.lease.dedupe_key, part, channel, thread_ts, attempt.maybe_sent_ts
            )
        except SlackCallError as exc:
            if failure_kind(exc) == "transient":
                raise  # look again on the next attempt
            if ("lookup", exc.error) not in self._warned:
                self._warned.add(("lookup", exc.error))
                log.warning(
                    "alert %d may already be in %s, but Baton cannot check (%s: %s), so it "
                    "sends it again: the channel may show it twice. Add the channels:history "
                    "and groups:history scopes (`baton manifest`), reinstall the app and "
                    "invite the bot to the channel",
                    attempt.lease.flip_id,
                    channel,
                    exc.method,
                    exc.error,
                )
            return None

    async def find_posted(
        self, key: str, part: str, channel: str, thread_ts: str | None, since: float
    ) -> str | None:
        """Look in the channel (or the thread) for the message with ``key`` and ``part`` in
        its metadata, posted since ``since`` (less ``LOOKBACK_S``); its ts, or None."""
        method = "conversations.replies" if thread_ts else "conversations.history"
        params: dict[str, Any] = {
            "channel": channel,
            "oldest": f"{max(since - LOOKBACK_S, 0.0):.6f}",
            "include_all_metadata": "true",
            "limit": "200",
        }
        if thread_ts:
            params["ts"] = thread_ts
        for _ in range(LOOKUP_PAGES):
            data = await self.sender.read(method, params)
            for m in data.get("messages") or []:
                meta = m.get("metadata") or {}
                payload = meta.get("event_payload") or {}
                if (
                    meta.get("event_type") == EVENT_TYPE
                    and payload.get("key") == key
                    and payload.get("part") == part
                ):
                    return str(m.get("ts", ""))
            cursor = (data.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return None
            params["cursor"] = cursor
        log.warning("alert %s: more messages in %s than Baton reads to look for it", key, channel)
        return None

    async def _post(
        self,
        channel: str,
        message: Message,
        *,
        thread_ts: str | None,
        metadata: dict[str, Any],
    ) -> str:
        """Post; if Slack refuses our blocks, once more as plain text."""
        try:
            return await self.sender.post(channel, message, thread_ts=thread_ts, metadata=metadata)
        except SlackCallError as exc:
            if exc.side != "ours":
                raise
            log.error("%s: blocks refused (%s); sent as text", self.error_id(), exc)
            kept = None if "metadata" in exc.error else metadata
            return await self.sender.post(
                channel, message.text_only(), thread_ts=thread_ts, metadata=kept
            )

    async def _update(self, channel: str, ts: str, message: Message) -> None:
        """Update; if Slack refuses our blocks, once more as plain text."""
        try:
            await self.sender.update(channel, ts, message)
        except SlackCallError as exc:
            if exc.side != "ours" or exc.error in _NO_MESSAGE:
                raise
            log.error("%s: blocks refused (%s); updated as text", self.error_id(), exc)
            await self.sender.update(channel, ts, message.text_only())

    # -- after a failed attempt -----------------------------------------------------------

    def _failed(self, notice: Notice, attempt: _Attempt, exc: SlackCallError) -> None:
        """Fail the flip for good, or give it back for a later attempt."""
        lease, eid = attempt.lease, self.error_id()
        kind = failure_kind(exc)
        if exc.retry_after and attempt.channel:
            self.pacer.hold(attempt.channel, exc.retry_after)
        fix = what_to_fix(exc, attempt.channel, notice.workflow)
        if kind == "permanent":
            level = logging.ERROR if exc.side == "ours" else logging.WARNING
            log.log(
                level,
                "%s: alert %d about %s not sent: %s%s",
                eid,
                notice.flip_id,
                notice.run_id,
                exc,
                f"; {fix}" if fix else "",
            )
            error = f"{exc.error} ({eid})"
            record_delivery(
                self.db, lease.flip_id, now=self.clock(), error=error, token=lease.token
            )
            return
        # A lookup that failed leaves what an earlier attempt may have posted as it was.
        maybe_sent = not attempt.sending or _maybe_posted(exc)
        first = not (lease.last_error or "").startswith(exc.error + " ")
        if kind == "slow" and first:
            log.warning(
                "%s: alert %d about %s not sent: %s; %s", eid, notice.flip_id, notice.run_id,
                exc, fix,
            )  # fmt: skip
        elif kind == "transient" and lease.attempt == WARN_AFTER_ATTEMPTS:
            log.warning(
                "%s: alert %d about %s still not sent after %d attempts: %s; retrying",
                eid, notice.flip_id, notice.run_id, lease.attempt, exc,
            )  # fmt: skip
        else:
            log.info("%s: alert %d not sent (%s); retrying", eid, notice.flip_id, exc)
        delay = SLOW_RETRY_S if kind == "slow" else None
        self._retry(attempt, f"{exc.error} ({eid})", exc.retry_after, maybe_sent, delay=delay)

    def _retry(
        self,
        attempt: _Attempt,
        error: str,
        retry_after: float | None,
        maybe_sent: bool,
        *,
        delay: float | None = None,
    ) -> None:
        lease, now = attempt.lease, self.clock()
        wait = delay if delay is not None else self.backoff(lease.attempt, retry_after)
        if now + wait > lease.due_ts + GIVE_UP_AFTER_S:
            why = f"{error}; still failing {GIVE_UP_AFTER_S / 3600:g} h after it was due"
            log.warning("alert %d dropped after %d attempts: %s", lease.flip_id, lease.attempt, why)
            record_delivery(self.db, lease.flip_id, now=now, error=why, token=lease.token)
            return
        release_flip(
            self.db,
            lease.flip_id,
            lease.token,
            retry_at=now + wait,
            error=error,
            maybe_sent=maybe_sent,
        )

    def backoff(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds before attempt ``attempt + 1``: exponential from the base, capped, with
        jitter (50-100 %); never sooner than Slack's ``Retry-After``."""
        base, cap = self.backoff_s
        wait = min(cap, base * 2.0 ** max(attempt - 1, 0)) * (0.5 + self.rng.random() / 2)
        return max(wait, retry_after or 0.0)


__all__ = ["EVENT_TYPE", "Alerter", "ChannelPacer", "LeaseLost", "Notice", "failure_kind"]
