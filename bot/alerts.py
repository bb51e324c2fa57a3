"""Alerting without noise: what the bot posts about scheduled runs, and when.

A scheduled result never goes straight to Slack. ``Alerter.observe`` hands it to
``probes.alerts.observe_result``, which records the workflow's new state and, when there is
something to say, a *flip* (written down before anything is sent). Then, per decision:

=================  ==========================================================================
NEW_ALERT          a new message in the schedule's channel (❌ leak at a seam, or ⚠️ could not
                   check), its diagnosis as the first reply; its ``ts`` becomes the
                   workflow's open thread (``record_delivery`` keeps it in ``alert_state``)
ADD_TO_THREAD      one reply in the open thread ("Still failing: …"), nothing in the channel
RECOVERED          a message in the channel, and a reply closing the open thread
QUIET              nothing now; ``deliver_due`` sends it when the quiet hours end
NOTHING            nothing
=================  ==========================================================================

Every flip is claimed (``claim_flip``, a conditional UPDATE) before it is sent, so two
workers never both send it, and its outcome recorded after (``record_delivery``).

    alerter = Alerter(api=api, store=bot_store, results=engine.store, workflows=...)
    decision = await alerter.observe(row, result)     # one finished scheduled run
    await alerter.deliver_due()                       # flips held back by quiet hours
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from probes.alerts import (
    Action,
    Decision,
    Flip,
    claim_flip,
    due_flips,
    observe_result,
    policy_from_config,
    record_delivery,
)
from probes.config import WorkflowConfig
from probes.model import RunResult

from . import messages
from ._engine import StoreLike
from ._format import permalink
from .alert_messages import alert_opened, alert_recovered, alert_repeat, recovered_reply
from .messages import Message
from .reporter import new_error_id
from .slack_api import SlackApi, SlackCallError
from .store import BotStore, Posted, ScheduledRunRow

log = logging.getLogger("bot.alerts")


@dataclass(frozen=True)
class Notice:
    """One recorded flip to deliver (from a fresh ``Decision`` or a deferred ``Flip``)."""

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
        return cls(f.id, Action(f.kind), f.workflow, f.run_id, f.old_status, f.new_status, f.thread)


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
    ) -> None:
        self.api = api
        self.store = store
        self.db = db if db is not None else store.db
        self.results = results
        self.workflows = workflows
        self.channel_for = channel_for
        self.workspace_url = workspace_url
        self.clock = clock
        self.error_id = error_id

    async def observe(self, row: ScheduledRunRow, result: RunResult) -> Decision:
        """Record one finished scheduled run's verdict and say what it calls for."""
        wf = self.workflows.get(result.workflow)
        policy = policy_from_config(wf)
        decision = observe_result(
            self.db, result.workflow, result.verdict, result.run_id, self.clock(), policy
        )
        log.info(
            "scheduled run %s of %s: %s → %s (%s)",
            result.run_id,
            result.workflow,
            result.verdict,
            decision.action,
            decision.reason,
        )
        if decision.flip_id is not None and decision.action not in (Action.QUIET, Action.NOTHING):
            channel = row.channel or self.channel_for(result.workflow)
            await self.deliver(Notice.of_decision(decision), result, channel)
        return decision

    async def deliver_due(self) -> int:
        """Send the flips held back by quiet hours that are due now; how many were sent."""
        sent = 0
        for flip in due_flips(self.db, self.clock()):
            result = self.results.get_result(flip.run_id)
            if result is None:
                log.warning("alert %d: run %s has no result; dropped", flip.id, flip.run_id)
                if claim_flip(self.db, flip.id, self.clock()):
                    record_delivery(self.db, flip.id, now=self.clock(), error="no result")
                continue
            notice = Notice.of_flip(flip)
            sent += await self.deliver(notice, result, self.channel_for(flip.workflow))
        return sent

    async def deliver(self, notice: Notice, result: RunResult, channel: str | None) -> bool:
        """Claim the flip, send it, record how it went; False if not sent (by us)."""
        if not claim_flip(self.db, notice.flip_id, self.clock()):
            return False  # another worker has it, or it is not due yet
        if channel is None and notice.thread is None:
            why = (
                f"no channel for {notice.workflow}'s alerts: set workflows.{notice.workflow}"
                ".schedule.channel or slack.default_channel"
            )
            log.warning("alert %d not sent: %s", notice.flip_id, why)
            record_delivery(self.db, notice.flip_id, now=self.clock(), error=why)
            return False
        try:
            posted = await self._send(notice, result, channel)
        except SlackCallError as exc:
            eid = self.error_id()
            level = logging.WARNING if exc.side == "theirs" else logging.ERROR
            log.log(
                level, "%s: alert %d about %s not sent: %s", eid, notice.flip_id, notice.run_id, exc
            )
            error = f"{exc.error} ({eid})"
            record_delivery(self.db, notice.flip_id, now=self.clock(), error=error)
            return False
        opened = notice.kind == Action.NEW_ALERT
        thread = {"channel": posted.channel, "ts": posted.ts} if opened else None
        record_delivery(self.db, notice.flip_id, now=self.clock(), thread=thread)
        self.store.save_post(notice.run_id, posted)
        return True

    async def _send(self, notice: Notice, result: RunResult, channel: str | None) -> Posted:
        wf = self.workflows.get(result.workflow)
        thread = notice.thread
        if notice.kind == Action.NEW_ALERT:
            assert channel is not None
            ts = await self._post(channel, alert_opened(result, wf, consecutive=notice.consecutive))
            await self._reply_safely(channel, messages.diagnosis(result, wf), ts)
            return Posted(channel, ts)
        if notice.kind == Action.ADD_TO_THREAD:
            reply = alert_repeat(
                result, wf, status=notice.new_status, consecutive=notice.consecutive
            )
            if thread is not None:
                ts = await self._post(thread["channel"], reply, thread_ts=thread["ts"])
                return Posted(thread["channel"], ts, thread["ts"])
            assert channel is not None  # the alert never went out: say it in the channel
            return Posted(channel, await self._post(channel, reply))
        where = channel or (thread or {})["channel"]
        link = permalink(self.workspace_url(), thread["channel"], thread["ts"]) if thread else None
        message = alert_recovered(result, old_status=notice.old_status, alert_link=link)
        ts = await self._post(where, message)
        if thread is not None:
            await self._reply_safely(thread["channel"], recovered_reply(result), thread["ts"])
        return Posted(where, ts)

    async def _post(self, channel: str, message: Message, *, thread_ts: str | None = None) -> str:
        """Post; if Slack refuses our blocks, once more as plain text."""
        try:
            return await self.api.post(channel, message, thread_ts=thread_ts)
        except SlackCallError as exc:
            if exc.side != "ours":
                raise
            log.error("%s: blocks refused (%s); sent as text", self.error_id(), exc)
            return await self.api.post(channel, message.text_only(), thread_ts=thread_ts)

    async def _reply_safely(self, channel: str, message: Message, thread_ts: str) -> None:
        """A follow-up in a thread whose parent is out: a failure is logged, not raised."""
        try:
            await self._post(channel, message, thread_ts=thread_ts)
        except SlackCallError as exc:
            log.warning("%s: thread reply not sent: %s", self.error_id(), exc)


__all__ = ["Alerter", "Notice"]
