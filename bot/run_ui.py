"""Start probe runs from Slack's UI: the Re-run button, the run modal, the App Home.

    ui = RunUi(bot)          # Bot does this, and registers the listeners on its bolt app
    ui.register(bot.app)

================================  ===========================================================
what Slack sends                  what Baton does
================================  ===========================================================
``block_actions`` ``run_rerun``   the run's workflow, variant and overrides, read back from
                                  the store by the button's run id, probed again in the
                                  channel the button was pressed in
``/baton run`` (no arguments)     ``views.open``: the run modal; its run reports in the
                                  command's channel (carried in ``private_metadata``)
``shortcut`` ``baton_run``        the same modal; its run reports in the user's DM
``view_submission`` ``run_modal`` checks the form (``response_action: errors`` naming the
                                  field), then starts the run
``app_home_opened`` (tab home)    ``views.publish``: every workflow, its state, last run,
                                  next scheduled run, 7-day leak rate, a Run button
``block_actions`` ``home_run``    that workflow's run, reported in the user's DM
================================  ===========================================================

Every press, submission and shortcut goes through the ``ActionGate``
(:mod:`baton.bot.actions`), the one path every interaction takes: the workspace check,
``slack.allowed_users`` / ``slack.allowed_channels`` (a run reported in a DM is refused while
``allowed_channels`` is set: a DM is not among them), the claim (the press itself once, a
``trigger_id`` once, an identical run by the same person to the same place once within the
dedupe window), so a Slack retry or a double click starts one run; and the record
(``action_presses``: who, when, where, what came of it). Every value in a payload may be
forged: run ids, workflow and variant names, field overrides and the modal's metadata are
checked as ``/baton run`` text is, and a bad one gets a clear answer, never a traceback.
Whoever opened the App Home (:mod:`baton.bot.home`) gets it published again when a run
started here ends.

Size: the Re-run button, the modal, the shortcut and the Home's Run button share one path
(the gate, the values checked as ``/baton run`` text is, the start, the answer), and every
forged value is refused on it; split, the checks would be read in four places.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from slack_bolt.app.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.request.async_request import AsyncBoltRequest

from baton.probes.config.messages import did_you_mean, shown
from baton.probes.errors import UsageError
from baton.probes.record import make_record

from .actions import CHANNEL_ID, DM, ActionGate, Press, dig, is_retry, text_at
from .blocks import replies
from .blocks.run import Message
from .blocks.run_ui import Ids, notice, run_modal
from .commands import FIELD_NAME, Run, split_args, subcommand
from .home import Home
from .reporter import RunRequest, new_error_id
from .slack_api import SlackCallError

if TYPE_CHECKING:
    from .app import Bot

log = logging.getLogger("bot.run_ui")

_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}\Z")
#: A test marker for checking override values (the record is built, never sent).
_CHECK_MARKER = "bt000000"


def wants_modal(text: str) -> bool:
    """``/baton run`` with nothing after it: the modal, rather than a usage problem."""
    words = split_args(text)
    return len(words) == 1 and subcommand(words[0]) == "run"


@dataclass(frozen=True)
class Checked:
    """A run request that passed every check: the workflow as configured."""

    workflow: str
    variant: str | None
    overrides: dict[str, str]


class Refused(Exception):
    """A press or submission that is answered with ``message``, not a run."""

    def __init__(self, message: Message, outcome: str = "refused", block: str | None = None):
        super().__init__(message.text)
        self.message = message
        self.outcome = outcome
        self.block = block  # the modal's input block the problem is about


class RunUi:
    """The listeners for runs started from Slack's UI; see the module docstring."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot
        self.home = Home(bot)

    def register(self, app: AsyncApp) -> None:
        app.action(Ids.RERUN.value)(self._on_rerun)
        app.action(Ids.HOME_RUN.value)(self._on_home_run)
        app.shortcut(Ids.SHORTCUT.value)(self._on_shortcut)
        app.view(Ids.MODAL.value)(self._on_submit)
        self.home.register(app)

    @property
    def command(self) -> str:
        return self.bot.settings.command

    @property
    def gate(self) -> ActionGate:
        return self.bot.gate

    # -- the Re-run button -----------------------------------------------------------------

    async def _on_rerun(
        self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], request: AsyncBoltRequest
    ) -> None:
        await ack()
        press = Press.of(
            body, action, retry=is_retry(request.headers), api_url=self.bot.api.api_url
        )
        subject = f"run:{press.value}" if _RUN_ID.match(press.value) else None
        await self._guarded(press, press.channel, subject, lambda: self._rerun(press))

    async def _rerun(self, press: Press) -> str:
        self._check(press, press.channel)
        run_id = press.value
        if not _RUN_ID.match(run_id):
            raise Refused(self._problem("this button names no run Baton knows"), "invalid")
        row = self.bot.engine.store.run(run_id)
        if row is None:
            raise Refused(self._problem(f"run {run_id} is not in Baton's store"), "invalid")
        overrides = dig(row, "overrides")
        checked = self.check(
            text_at(row, "workflow"),
            text_at(row, "variant") or None,
            {str(k): str(v) for k, v in overrides.items()} if isinstance(overrides, dict) else {},
        )
        return self._start(press, checked, press.channel)

    # -- the App Home's Run button ---------------------------------------------------------

    async def _on_home_run(
        self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], request: AsyncBoltRequest
    ) -> None:
        await ack()
        press = Press.of(
            body, action, retry=is_retry(request.headers), api_url=self.bot.api.api_url
        )
        await self._guarded(press, DM, None, lambda: self._home_run(press))

    async def _home_run(self, press: Press) -> str:
        self._check(press, DM)
        return self._start(press, self.check(press.value, None, {}), DM)

    # -- the modal -------------------------------------------------------------------------

    async def open_modal(self, ack: AsyncAck, command: Mapping[str, Any]) -> None:
        """``/baton run`` with no arguments (the workspace and allowlist were checked)."""
        trigger = text_at(command, "trigger_id")
        channel = text_at(command, "channel_id")
        url = self.bot.api.response_url(command.get("response_url"))
        asked = Press(
            action_id=Ids.MODAL.value,
            value="",
            user=text_at(command, "user_id"),
            team=text_at(command, "team_id"),
            channel=channel,
            message_ts="",
            action_ts="",
            response_url=url,
            kind="command",
            trigger_id=trigger,
        )
        if not trigger or not CHANNEL_ID.match(channel):
            usage = "run needs a workflow: run WORKFLOW [variant] [field=value ...]"
            await ack(**replies.help_message(self.command, usage).payload())
            return
        if not self.gate.claim({f"trigger:{trigger}": None}):
            await ack()  # Slack's retry: the modal is open already
            return
        await ack()
        self.gate.record(asked, subject=None, outcome="opened")
        self.bot.start_soon(
            self._open(asked, run_modal(self.bot.config.workflows, channel=channel))
        )

    async def _on_shortcut(
        self, ack: AsyncAck, body: dict[str, Any], request: AsyncBoltRequest
    ) -> None:
        await ack()
        press = Press.of(body, retry=is_retry(request.headers), api_url=self.bot.api.api_url)
        refused = self.gate.refusal(press, to=DM)
        if refused is not None:
            self.gate.record(press, subject=None, outcome=refused[0], channel=DM)
            self.bot.start_soon(self._answer(press, refused[1]))
            return
        if not press.trigger_id:
            self.gate.record(press, subject=None, outcome="invalid", channel=DM)
            return  # no trigger to open a modal with
        if not self.gate.claim(self.gate.keys(press, {f"trigger:{press.trigger_id}": None})):
            self.gate.record(press, subject=None, outcome="duplicate", channel=DM)
            return  # Slack's retry of one being opened
        self.gate.record(press, subject=None, outcome="opened", channel=DM)
        self.bot.start_soon(self._open(press, run_modal(self.bot.config.workflows, channel=None)))

    async def _open(self, press: Press, view: Mapping[str, Any]) -> None:
        try:
            await self.bot.api.open_view(press.trigger_id, view)
        except SlackCallError as exc:
            eid = self.bot.reporter.log_slack_error(exc)
            if press.response_url:
                text = (
                    f"⚠️ Slack did not open the form ({shown(exc.error)}, error {eid}). Try "
                    f"again, or name the workflow: `{self.command} run WORKFLOW`."
                )
                await self._respond(press.response_url, Message(text=text))

    async def _on_submit(
        self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], request: AsyncBoltRequest
    ) -> None:
        to = _destination(text_at(view, "private_metadata"))
        values = dig(view, "state", "values")
        workflow = _selected(values, Ids.WORKFLOW_BLOCK, Ids.WORKFLOW)
        variant = _selected(values, Ids.VARIANT_BLOCK, Ids.VARIANT) or None
        text = text_at(values, Ids.OVERRIDES_BLOCK, Ids.OVERRIDES, "value")
        press = dataclasses.replace(
            Press.of(body, retry=is_retry(request.headers), api_url=self.bot.api.api_url),
            value=workflow[:200],
        )
        try:
            if to is None:
                raise Refused(
                    Message(text="This form is out of date: open it again."),
                    "invalid",
                    Ids.WORKFLOW_BLOCK,
                )
            self._check(press, to)
            checked = self.check(workflow, variant, parse_overrides(text))
        except Refused as refused:
            self.gate.record(press, subject=None, outcome=refused.outcome, channel=to)
            block = refused.block or Ids.WORKFLOW_BLOCK
            await ack(response_action="errors", errors={block: _error_text(refused.message)})
            return
        await ack()  # closes the modal
        extra = {f"view:{press.view_id}": None} if press.view_id else {}
        outcome, _ = self._claim_and_start(press, checked, to, extra)
        self.gate.record(press, subject=f"workflow:{checked.workflow}", outcome=outcome, channel=to)

    # -- checks ------------------------------------------------------------------------------

    def _check(self, press: Press, to: str) -> None:
        """The gate's checks (workspace, who, allowlist) for a run reporting in ``to`` (a
        channel ID, or ``DM`` for the user's DM with Baton)."""
        refused = self.gate.refusal(press, to=to)
        if refused is not None:
            outcome, message = refused
            raise Refused(message, outcome)

    def check(self, workflow: str, variant: str | None, overrides: Mapping[str, str]) -> Checked:
        """A workflow, a variant and field overrides, checked as ``/baton run`` text is
        (and the values as the engine will: ``Refused`` names the field)."""
        canonical = self.bot.canonical(workflow) if workflow else None
        if canonical is None:
            if not workflow:
                raise Refused(Message(text="Pick a workflow."), "invalid", Ids.WORKFLOW_BLOCK)
            raise Refused(
                self._problem(self.bot.unknown_workflow(workflow)), "invalid", Ids.WORKFLOW_BLOCK
            )
        wf = self.bot.config.workflows[canonical]
        if variant is not None and variant not in wf.variants:
            names = sorted(wf.variants)
            has = f"; its variants: {', '.join(names)}" if names else "; it has no variants"
            problem = (
                f"{canonical} has no variant {shown(variant)}{did_you_mean(variant, names)}{has}"
            )
            raise Refused(self._problem(problem), "invalid", Ids.VARIANT_BLOCK)
        for key, value in overrides.items():
            if not FIELD_NAME.match(key):
                raise Refused(
                    self._problem(f"{shown(key)}: a field name is letters, digits and _"),
                    "invalid",
                    Ids.OVERRIDES_BLOCK,
                )
            try:
                make_record(_CHECK_MARKER, {key: value})
            except UsageError as exc:
                raise Refused(self._problem(str(exc)), "invalid", Ids.OVERRIDES_BLOCK) from None
        return Checked(canonical, variant, dict(overrides))

    def _problem(self, text: str) -> Message:
        return replies.problem(text, self.command)

    # -- starting ----------------------------------------------------------------------------

    async def _guarded(
        self,
        press: Press,
        to: str,
        subject: str | None,
        start: Callable[[], Awaitable[str]],
    ) -> None:
        """Run ``start`` (a press); a refusal is answered, and every press written down."""
        try:
            outcome = await start()
        except Refused as refused:
            outcome = refused.outcome
            self.bot.start_soon(self._answer(press, refused.message))
        except Exception:
            eid = new_error_id()
            log.exception("%s: handling %s failed", eid, press.action_id)
            outcome = "error"
            self.bot.start_soon(self._answer(press, replies.internal_error(eid)))
        self.gate.record(press, subject=subject, outcome=outcome, channel=to or None)

    def _start(self, press: Press, checked: Checked, to: str) -> str:
        outcome, run_id = self._claim_and_start(press, checked, to, {})
        if outcome == "duplicate" and not press.retry:
            self.bot.start_soon(self._answer(press, replies.duplicate(run_id)))
        return outcome

    def _claim_and_start(
        self, press: Press, checked: Checked, to: str, extra: Mapping[str, float | None]
    ) -> tuple[str, str | None]:
        """Claim the press and the run (a retry or double press starts nothing), then start
        the run: ``("started", None)``, or ``("duplicate", the run it already started, if
        known)``."""
        cmd = Run(workflow=checked.workflow, variant=checked.variant, overrides=checked.overrides)
        run_keys = self.gate.run_keys(
            team=press.team, user=press.user, channel=to, trigger=press.trigger_id, run=cmd
        )
        keys = self.gate.keys(press, {**extra, **run_keys})
        if not self.gate.claim(keys):
            log.info("ignored a repeated run of %s from %s", checked.workflow, press.user)
            return "duplicate", self.gate.run_for(list(keys))
        req = RunRequest(
            workflow=checked.workflow,
            variant=checked.variant,
            overrides=checked.overrides,
            user=press.user,
            channel="" if to == DM else to,
            response_url=press.response_url if to != DM else None,
            keys=tuple(keys),
        )
        self.bot.start_soon(self.run(req))
        return "started", None

    async def run(self, req: RunRequest) -> None:
        """Report the run (in the user's DM when it has no channel), then refresh the Homes."""
        if not req.channel:
            try:
                channel = await self.bot.api.open_dm(req.user)
            except SlackCallError as exc:
                self.bot.store.release(req.keys)
                self.bot.reporter.log_slack_error(exc)
                return
            req = RunRequest(**{**req.__dict__, "channel": channel})
        await self.bot.reporter.run(req)  # its end refreshes the App Home (on_run_end)

    async def _answer(self, press: Press, message: Message) -> None:
        """An answer only the presser sees: their response URL, else a modal (trigger_id)."""
        if press.response_url:
            await self._respond(press.response_url, message)
        elif press.trigger_id:
            try:
                await self.bot.api.open_view(press.trigger_id, notice(message.text))
            except SlackCallError as exc:
                self.bot.reporter.log_slack_error(exc)
        else:
            log.info("no way to tell %s: %s", press.user or "?", message.text)

    async def _respond(self, url: str, message: Message) -> None:
        """An ephemeral answer through a press's response URL; never in place of the message
        pressed (a button's response URL replaces it unless told not to)."""
        try:
            await self.bot.api.respond(url, message, replace_original=False)
        except SlackCallError as exc:
            self.bot.reporter.log_slack_error(exc)


# -- reading the modal -------------------------------------------------------------------------


def _destination(metadata: str) -> str | None:
    """Where the modal's run reports: a channel id, ``DM``; ``None`` when unreadable."""
    try:
        data = json.loads(metadata) if len(metadata) <= 3000 else None
    except ValueError:
        return None
    to = text_at(data, "to")
    return to if to == DM or CHANNEL_ID.match(to) else None


def _selected(values: Any, block: str, action: str) -> str:
    return text_at(values, block, action, "selected_option", "value")


def parse_overrides(text: str) -> dict[str, str]:
    """``field=value`` per line (blank lines skipped), as ``--set`` reads each; a line
    without ``=`` is ``Refused`` naming it.

    >>> parse_overrides("first_name=Zoë Ann\\n\\ncurrency=eur")
    {'first_name': 'Zoë Ann', 'currency': 'eur'}
    """
    out: dict[str, str] = {}
    for n, line in enumerate(text[:4000].splitlines(), start=1):
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            problem = f"line {n}, {shown(line[:60])}: use field=value, e.g. first_name=Zoë"
            raise Refused(replies.problem(problem, "/baton"), "invalid", Ids.OVERRIDES_BLOCK)
        out[key.strip().casefold()] = value
    return out


def _error_text(message: Message) -> str:
    return message.text.removeprefix("⚠️ ")[:300]


__all__ = ["RunUi", "parse_overrides", "wants_modal"]
