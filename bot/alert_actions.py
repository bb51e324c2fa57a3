"""Acting on an alert from Slack: Acknowledge, Snooze, Re-run; and what an alert's own
message shows as its state changes.

=================  ==========================================================================
Acknowledge        a thread line "👀 <@U…> is looking", and the alert message says who is
                   (once per person)
Snooze             1 h, 24 h, or until the workflow passes again (``alert_snoozes``): while
                   snoozed, the workflow's new alerts and repeats are not posted (suppressed
                   in the outbox, written down); a recovery still is. Said in the thread and
                   shown on the alert message; a new snooze replaces the one before
Re-run             the alert's run again (same workflow, variant and fields) through the run
                   machinery (``Reporter``), reported in the alert's thread
=================  ==========================================================================

A press names its alert by the flip id in the control's value; Baton believes it only if that
flip is an alert it posted as the very message pressed (channel and ``ts``), about one of this
bot's workflows (the store may be shared by several workspaces, and a Slack Connect channel
has the same ID in each). Every press first
passes the ``ActionGate`` (workspace, allowlist, once, recorded).

Snoozes and failing streaks (how long a workflow failed, for its recovery) are kept by
:mod:`baton.probes.store.snoozes`.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import sqlite_utils

from baton.probes.config import WorkflowConfig
from baton.probes.health.alerts import load_state
from baton.probes.model import RunResult, Verdict
from baton.probes.store.presses import done_presses
from baton.probes.store.snoozes import (
    AlertRow,
    Snooze,
    active_snooze,
    alert_at,
    failing_for,
    note_streak,
    save_snooze,
)

from ._engine import StoreLike
from .actions import ActionGate, Press
from .blocks.alert import (
    SNOOZES,
    AlertAction,
    AlertMarks,
    alert_opened,
    looking_reply,
    snoozed_reply,
)
from .blocks.format import esc, parse_time
from .blocks.run import Message, section
from .reporter import Reporter, RunRequest, new_error_id
from .slack_api import SlackApi, SlackCallError

if TYPE_CHECKING:
    from slack_bolt.app.async_app import AsyncApp
    from slack_bolt.context.ack.async_ack import AsyncAck

log = logging.getLogger("bot.alert_actions")


def snooze(
    db: sqlite_utils.Database,
    workflow: str,
    *,
    key: str,
    user: str,
    flip_id: int,
    now: float,
) -> Snooze:
    """Snooze ``workflow`` (``key``: one of ``SNOOZES``), replacing any snooze before."""
    words, seconds = SNOOZES[key]
    until = now + seconds if seconds is not None else None
    said = f"{words} by <@{user}>"
    if until is not None:
        said += ", until " + dt.datetime.fromtimestamp(until, dt.UTC).strftime("%a %H:%M UTC")
    return save_snooze(
        db, workflow, user=user, flip_id=flip_id, now=now, until_ts=until, words=said
    )


def note_result(db: sqlite_utils.Database, result: RunResult, now: float) -> None:
    """Track the workflow's failing streak (a pass ends it, and an until-it-passes snooze)."""
    started = parse_time(result.started_at)
    at = started.timestamp() if started else now
    ok = result.verdict == Verdict.OK
    note_streak(db, result.workflow, ok=ok, run_id=result.run_id, at=at, now=now)


# -- the alert's own message ------------------------------------------------------------------


def alert_message(
    alert: AlertRow,
    *,
    gate_db: sqlite_utils.Database,
    results: StoreLike,
    workflows: Mapping[str, WorkflowConfig],
    now: float,
    recovered: RunResult | None = None,
) -> Message | None:
    """The alert's message as it stands: who is looking, a snooze, or the recovery."""
    result = results.get_result(alert.run_id)
    if result is None:
        return None
    wf = workflows.get(alert.workflow)
    users = done_presses(gate_db, action_id=AlertAction.ACK.value, subject=f"flip:{alert.flip_id}")
    looking = tuple(dict.fromkeys(users))
    if recovered is not None:
        marks = AlertMarks(
            looking=looking,
            recovered_after_s=failing_for(gate_db, recovered.run_id) or _between(result, recovered),
            recovered_run=recovered.run_id,
        )
    else:
        current = active_snooze(gate_db, alert.workflow, now)
        marks = AlertMarks(
            flip_id=alert.flip_id,
            mention=wf.alerts.mention if wf else (),
            looking=looking,
            snoozed=current.words if current else None,
        )
    return alert_opened(result, wf, consecutive=alert.consecutive, marks=marks)


def _between(first: RunResult, last: RunResult) -> float:
    a, b = parse_time(first.started_at), parse_time(last.started_at)
    return max((b - a).total_seconds(), 0.0) if a and b else 0.0


# -- the handlers ---------------------------------------------------------------------------


def _note(text: str) -> Message:
    return Message(text=text, blocks=(section(text),))


class AlertActions:
    """The ``alert_*`` controls; ``register(app)`` wires them into the bolt app."""

    def __init__(
        self,
        *,
        gate: ActionGate,
        api: SlackApi,
        reporter: Reporter,
        results: StoreLike,
        workflows: Mapping[str, WorkflowConfig],
        start_soon: Callable[[Any], None],
        clock: Callable[[], float] = time.time,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self.gate = gate
        self.db = gate.db
        self.api = api
        self.reporter = reporter
        self.results = results
        self.workflows = workflows
        self.start_soon = start_soon
        self.clock = clock
        #: Called after an acknowledge or a snooze took effect (the App Home refreshes).
        self.on_change = on_change

    def register(self, app: AsyncApp) -> None:
        for action in AlertAction:
            app.action(action.value)(self.on_action)

    async def on_action(self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()  # at once: Slack wants it within 3 s; the work happens after
        try:
            self._handle(body, action)
        except Exception:
            eid = new_error_id()
            log.exception("%s: handling a button press failed", eid)
            self.start_soon(self._tell(self._response_url(body), _note(_oops(eid))))

    def _handle(self, body: dict[str, Any], action: dict[str, Any]) -> None:
        press = Press.read(body, action, api_url=self.api.api_url)
        if press is None:
            self.gate.record(None, subject=None, outcome="malformed")
            log.warning("refused a malformed button press (fields missing or not text)")
            self.start_soon(self._tell(self._response_url(body), _note(MALFORMED)))
            return
        alert, key, problem = self._subject(press)
        subject = f"flip:{alert.flip_id}" if alert else None
        if problem is not None:
            refused = self.gate.refusal(press)
            outcome = "refused" if refused else ("closed" if alert else "unknown")
            self.gate.record(press, subject=subject, outcome=outcome)
            self.start_soon(self._tell(press.response_url, refused[1] if refused else problem))
            return
        assert alert is not None
        admitted = self.gate.admit(press, subject=f"flip:{alert.flip_id}")
        if admitted.refusal is not None:
            self.start_soon(self._tell(press.response_url, admitted.refusal))
            return
        if not admitted.fresh:
            return  # a retry or a double click: the first press acts
        if press.action_id == AlertAction.ACK:
            self.start_soon(self._acknowledge(press, alert))
        elif press.action_id == AlertAction.SNOOZE:
            self.start_soon(self._snooze(press, alert, key))
        else:
            self.start_soon(self._rerun(press, alert))

    def _subject(self, press: Press) -> tuple[AlertRow | None, str, Message | None]:
        """The alert pressed, the snooze choice; or what to tell the presser instead."""
        flip, _, key = press.value.partition(":")
        valid_key = key in SNOOZES if press.action_id == AlertAction.SNOOZE else key == ""
        alert = alert_at(self.db, press.channel, press.message_ts)
        if not (flip.isdigit() and valid_key) or alert is None or str(alert.flip_id) != flip:
            log.warning(
                "refused %s from %s: no alert of Baton's matches (value %r)",
                press.action_id,
                press.user,
                press.value[:40],
            )
            return None, "", _note(UNKNOWN)
        if alert.workflow not in self.workflows:
            # The store may be shared by several workspaces, and a Slack Connect channel has
            # one ID in both: an alert about a workflow this bot does not serve is not ours.
            log.warning(
                "refused %s from %s: alert %s is about %r, not a workflow of this workspace",
                press.action_id,
                press.user,
                alert.flip_id,
                alert.workflow[:80],
            )
            return None, "", _note(UNKNOWN)
        thread = load_state(self.db, alert.workflow).thread or {}
        if (thread.get("channel"), thread.get("ts")) != (alert.channel, alert.ts):
            return alert, key, _note(CLOSED.format(workflow=esc(alert.workflow)))
        return alert, key, None

    async def _acknowledge(self, press: Press, alert: AlertRow) -> None:
        subject = f"flip:{alert.flip_id}"
        if self.gate.pressed_before(user=press.user, action_id=press.action_id, subject=subject):
            await self._tell(
                press.response_url, _note("You are already on it (said in the thread).")
            )
            return
        await self._reply(alert, looking_reply(press.user))
        await self._refresh(alert)
        self.on_change()

    async def _snooze(self, press: Press, alert: AlertRow, key: str) -> None:
        done = snooze(
            self.db, alert.workflow, key=key, user=press.user, flip_id=alert.flip_id,
            now=self.clock(),
        )  # fmt: skip
        log.info("%s snoozed %s's alerts %s", press.user, alert.workflow, done.words)
        await self._reply(alert, snoozed_reply(press.user, SNOOZES[key][0]))
        await self._refresh(alert)
        self.on_change()

    async def _rerun(self, press: Press, alert: AlertRow) -> None:
        run = self.results.run(alert.run_id)
        if run is None:
            await self._tell(press.response_url, _note(UNKNOWN))
            return
        overrides = {str(k): str(v) for k, v in (run.get("overrides") or {}).items()}
        await self.reporter.run(
            RunRequest(
                workflow=alert.workflow,
                user=press.user,
                channel=alert.channel,
                variant=run.get("variant"),
                overrides=overrides,
                response_url=press.response_url,
                thread_ts=alert.ts,
            )
        )

    async def _reply(self, alert: AlertRow, message: Message) -> None:
        await self.reporter.post_safely(alert.channel, message, thread_ts=alert.ts)

    async def _refresh(self, alert: AlertRow) -> None:
        message = alert_message(
            alert, gate_db=self.db, results=self.results, workflows=self.workflows,
            now=self.clock(),
        )  # fmt: skip
        if message is None:
            return
        try:
            await self.api.update(alert.channel, alert.ts, message)
        except SlackCallError as exc:
            self.reporter.log_slack_error(exc)

    def _response_url(self, body: Any) -> str | None:
        url = body.get("response_url") if isinstance(body, Mapping) else None
        return self.api.response_url(url)

    async def _tell(self, response_url: str | None, message: Message) -> None:
        """An ephemeral answer to whoever pressed (the alert itself stays as it is)."""
        if response_url is None:
            log.info("no response_url to answer a press with: %s", message.text)
            return
        try:
            await self.api.respond(response_url, message, replace_original=False)
        except SlackCallError as exc:
            self.reporter.log_slack_error(exc)


def _oops(eid: str) -> str:
    return (
        f"⚠️ Something went wrong on Baton's side (error `{eid}`); that press may not have "
        "taken effect."
    )


MALFORMED = "⚠️ Baton could not read that button press; nothing was changed."
UNKNOWN = (
    "⚠️ That button is not on an alert Baton knows (it may be from an older store); "
    "nothing was changed."
)
CLOSED = "This alert is closed: {workflow} has passed again or a newer alert replaced it."


__all__ = [
    "AlertActions",
    "AlertRow",
    "Snooze",
    "active_snooze",
    "alert_at",
    "alert_message",
    "failing_for",
    "note_result",
    "snooze",
]
