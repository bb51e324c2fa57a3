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

Every press or submission goes through what a slash command goes through: the workspace
check, ``slack.allowed_users`` / ``slack.allowed_channels`` (a run reported in a DM is
refused while ``allowed_channels`` is set: a DM is not among them), and the request claim
(a ``trigger_id`` once, an identical run by the same person to the same place once within
the dedupe window), so a Slack retry or a double click starts one run. Every value in a
payload may be forged: run ids, workflow and variant names, field overrides and the
modal's metadata are checked as ``/baton run`` text is, and a bad one gets a clear answer,
never a traceback. Each press is written down (``action_presses``: who, when, what came of it).
Whoever opened the App Home (:mod:`baton.bot.home`) gets it published again when a run
started here ends.

Size: the Re-run button, the modal, the shortcut and the Home's Run button share one path
(who asks, the values checked as ``/baton run`` text is, the claim, the start, the answer),
and every forged value is refused on it; split, the checks would be read in four places.
"""

from __future__ import annotations

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

from .blocks import replies
from .blocks.run import Message
from .blocks.run_ui import Ids, notice, run_modal
from .commands import _ALIASES, _FIELD, Run, split_args
from .home import USER_ID, Home
from .reporter import RunRequest, new_error_id
from .slack_api import SlackCallError

if TYPE_CHECKING:
    from .app import Bot

log = logging.getLogger("bot.run_ui")

_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}\Z")
_CHANNEL = re.compile(r"[CGD][A-Z0-9]{2,30}\Z")
#: A test marker for checking override values (the record is built, never sent).
_CHECK_MARKER = "bt000000"
DM = "dm"


def wants_modal(text: str) -> bool:
    """``/baton run`` with nothing after it: the modal, rather than a usage problem."""
    words = split_args(text)
    return len(words) == 1 and _ALIASES.get(words[0].casefold()) == "run"


def _s(value: Any) -> str:
    """A payload field as a string; anything else (forged types) as empty."""
    return value if isinstance(value, str) else ""


def _d(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class Asker:
    """Who pressed or submitted, and how to answer them."""

    team: str
    user: str
    trigger_id: str | None = None
    response_url: str | None = None
    retry: bool = False

    @classmethod
    def of(cls, body: Mapping[str, Any], request: AsyncBoltRequest | None = None) -> Asker:
        user = _d(body.get("user"))
        team = _s(_d(body.get("team")).get("id")) or _s(user.get("team_id"))
        retry = bool(request and request.headers.get("x-slack-retry-num"))
        return cls(
            team=team,
            user=_s(user.get("id")),
            trigger_id=_s(body.get("trigger_id")) or None,
            response_url=_s(body.get("response_url")) or None,
            retry=retry,
        )


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

    # -- the Re-run button -----------------------------------------------------------------

    async def _on_rerun(
        self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], request: AsyncBoltRequest
    ) -> None:
        await ack()
        who = Asker.of(body, request)
        channel = _s(_d(body.get("channel")).get("id")) or _s(
            _d(body.get("container")).get("channel_id")
        )
        value = _s(action.get("value"))
        await self._guarded(
            Ids.RERUN, who, channel, value, lambda: self._rerun(who, channel, value)
        )

    async def _rerun(self, who: Asker, channel: str, run_id: str) -> str:
        self._check_asker(who, channel)
        if not _RUN_ID.match(run_id):
            raise Refused(self._problem("this button names no run Baton knows"), "invalid")
        row = self.bot.engine.store.run(run_id)
        if row is None:
            raise Refused(self._problem(f"run {run_id} is not in Baton's store"), "invalid")
        checked = self.check(
            _s(row.get("workflow")),
            row.get("variant") if isinstance(row.get("variant"), str) else None,
            {str(k): str(v) for k, v in _d(row.get("overrides")).items()},
        )
        return self._start(who, checked, channel)

    # -- the App Home's Run button ---------------------------------------------------------

    async def _on_home_run(
        self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], request: AsyncBoltRequest
    ) -> None:
        await ack()
        who = Asker.of(body, request)
        value = _s(action.get("value"))
        await self._guarded(Ids.HOME_RUN, who, DM, value, lambda: self._home_run(who, value))

    async def _home_run(self, who: Asker, workflow: str) -> str:
        self._check_asker(who, DM)
        return self._start(who, self.check(workflow, None, {}), DM)

    # -- the modal -------------------------------------------------------------------------

    async def open_modal(self, ack: AsyncAck, command: Mapping[str, Any]) -> None:
        """``/baton run`` with no arguments (the workspace and allowlist were checked)."""
        trigger = _s(command.get("trigger_id"))
        channel = _s(command.get("channel_id"))
        who = Asker(
            team=_s(command.get("team_id")),
            user=_s(command.get("user_id")),
            trigger_id=trigger or None,
            response_url=_s(command.get("response_url")) or None,
        )
        if not trigger or not _CHANNEL.match(channel):
            usage = "run needs a workflow: run WORKFLOW [variant] [field=value ...]"
            await ack(**replies.help_message(self.command, usage).payload())
            return
        if not self.bot.store.claim({f"trigger:{trigger}": None}):
            await ack()  # Slack's retry: the modal is open already
            return
        await ack()
        self.record(Ids.MODAL, who, channel, "", "opened")
        self.bot.start_soon(self._open(who, run_modal(self.bot.config.workflows, channel=channel)))

    async def _on_shortcut(
        self, ack: AsyncAck, body: dict[str, Any], request: AsyncBoltRequest
    ) -> None:
        await ack()
        who = Asker.of(body, request)
        try:
            self._check_asker(who, DM)
        except Refused as refused:
            self.record(Ids.SHORTCUT, who, DM, "", refused.outcome)
            self.bot.start_soon(self._answer(who, refused.message))
            return
        if who.trigger_id is None or not self.bot.store.claim({f"trigger:{who.trigger_id}": None}):
            return  # no trigger to open a modal with, or Slack's retry of one being opened
        self.record(Ids.SHORTCUT, who, DM, "", "opened")
        self.bot.start_soon(self._open(who, run_modal(self.bot.config.workflows, channel=None)))

    async def _open(self, who: Asker, view: Mapping[str, Any]) -> None:
        assert who.trigger_id is not None
        try:
            await self.bot.api.open_view(who.trigger_id, view)
        except SlackCallError as exc:
            eid = self.bot.reporter.log_slack_error(exc)
            if who.response_url:
                text = (
                    f"⚠️ Slack did not open the form ({shown(exc.error)}, error {eid}). Try "
                    f"again, or name the workflow: `{self.command} run WORKFLOW`."
                )
                await self._respond(who.response_url, Message(text=text))

    async def _on_submit(
        self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], request: AsyncBoltRequest
    ) -> None:
        who = Asker.of(body, request)
        to = _destination(_s(view.get("private_metadata")))
        values = _d(_d(view.get("state")).get("values"))
        workflow = _selected(values, Ids.WORKFLOW_BLOCK, Ids.WORKFLOW)
        variant = _selected(values, Ids.VARIANT_BLOCK, Ids.VARIANT) or None
        text = _s(_d(_d(values.get(Ids.OVERRIDES_BLOCK)).get(Ids.OVERRIDES)).get("value"))
        view_id = _s(view.get("id"))
        try:
            if to is None:
                raise Refused(
                    Message(text="This form is out of date: open it again."),
                    "invalid",
                    Ids.WORKFLOW_BLOCK,
                )
            self._check_asker(who, to)
            checked = self.check(workflow, variant, parse_overrides(text))
        except Refused as refused:
            self.record(Ids.MODAL, who, to, workflow, refused.outcome)
            block = refused.block or Ids.WORKFLOW_BLOCK
            await ack(response_action="errors", errors={block: _error_text(refused.message)})
            return
        await ack()  # closes the modal
        extra = {f"view:{view_id}": None} if view_id else {}
        outcome, _ = self._claim_and_start(who, checked, to, extra)
        self.record(Ids.MODAL, who, to, checked.workflow, outcome)

    # -- checks ------------------------------------------------------------------------------

    def _check_asker(self, who: Asker, channel: str) -> None:
        """The workspace and the allowlist, as for a slash command (``channel``: where the
        run would report; ``DM`` for the user's DM with Baton)."""
        ours = self.bot._identity.team_id if self.bot._identity is not None else None
        if ours and who.team != ours:
            log.warning("refused a run from team %s: the bot serves team %s", who.team, ours)
            raise Refused(replies.other_workspace(self.command))
        if not USER_ID.match(who.user):
            raise Refused(Message(text="Slack did not say who you are."), "invalid")
        s = self.bot.settings
        if s.allowed_users and who.user not in s.allowed_users:
            raise Refused(replies.refused_user(who.user, self.command))
        if channel == DM:
            if s.allowed_channels:
                where = ", ".join(f"<#{c}>" for c in s.allowed_channels[:10])
                text = (
                    "Sorry, runs started here report in your DM with Baton, and Baton runs "
                    f"probes only in {where}: use `{self.command} run` there."
                )
                raise Refused(Message(text=text))
            return
        if not _CHANNEL.match(channel):
            raise Refused(Message(text="Slack did not say which channel this is in."), "invalid")
        refusal = self.bot._refusal(who.user, channel, "")
        if refusal is not None:
            raise Refused(refusal)

    def check(self, workflow: str, variant: str | None, overrides: Mapping[str, str]) -> Checked:
        """A workflow, a variant and field overrides, checked as ``/baton run`` text is
        (and the values as the engine will: ``Refused`` names the field)."""
        canonical = self.bot._canonical(workflow) if workflow else None
        if canonical is None:
            if not workflow:
                raise Refused(Message(text="Pick a workflow."), "invalid", Ids.WORKFLOW_BLOCK)
            raise Refused(self._problem(self.bot._unknown(workflow)), "invalid", Ids.WORKFLOW_BLOCK)
        wf = self.bot.config.workflows[canonical]
        if variant is not None and variant not in wf.variants:
            names = sorted(wf.variants)
            has = f"; its variants: {', '.join(names)}" if names else "; it has no variants"
            problem = (
                f"{canonical} has no variant {shown(variant)}{did_you_mean(variant, names)}{has}"
            )
            raise Refused(self._problem(problem), "invalid", Ids.VARIANT_BLOCK)
        for key, value in overrides.items():
            if not _FIELD.match(key):
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
        action: Ids,
        who: Asker,
        channel: str,
        value: str,
        start: Callable[[], Awaitable[str]],
    ) -> None:
        """Run ``start`` (a press); a refusal is answered, and every press written down."""
        try:
            outcome = await start()
        except Refused as refused:
            outcome = refused.outcome
            self.bot.start_soon(self._answer(who, refused.message))
        except Exception:
            eid = new_error_id()
            log.exception("%s: handling %s failed", eid, action.value)
            outcome = "error"
            self.bot.start_soon(self._answer(who, replies.internal_error(eid)))
        self.record(action, who, channel, value, outcome)

    def _start(self, who: Asker, checked: Checked, to: str) -> str:
        outcome, run_id = self._claim_and_start(who, checked, to, {})
        if outcome == "duplicate" and not who.retry:
            self.bot.start_soon(self._answer(who, replies.duplicate(run_id)))
        return outcome

    def _claim_and_start(
        self, who: Asker, checked: Checked, to: str, extra: Mapping[str, float | None]
    ) -> tuple[str, str | None]:
        """Claim the request (a retry or double press starts nothing), then start the run:
        ``("started", None)``, or ``("duplicate", the run it already started, if known)``."""
        fields = {
            "trigger_id": who.trigger_id,
            "team_id": who.team,
            "user_id": who.user,
            "channel_id": to,
        }
        cmd = Run(workflow=checked.workflow, variant=checked.variant, overrides=checked.overrides)
        keys = {**extra, **self.bot._dedupe_keys(fields, checked.workflow, cmd)}
        if not self.bot.store.claim(keys):
            log.info("ignored a repeated run of %s from %s", checked.workflow, who.user)
            return "duplicate", self.bot.store.run_for(list(keys))
        req = RunRequest(
            workflow=checked.workflow,
            variant=checked.variant,
            overrides=checked.overrides,
            user=who.user,
            channel="" if to == DM else to,
            response_url=who.response_url if to != DM else None,
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
        try:
            await self.bot.reporter.run(req)
        finally:
            await self.home.refresh()

    async def _answer(self, who: Asker, message: Message) -> None:
        """An answer only the asker sees: their response URL, else a modal (trigger_id)."""
        if who.response_url:
            await self._respond(who.response_url, message)
        elif who.trigger_id:
            try:
                await self.bot.api.open_view(who.trigger_id, notice(message.text))
            except SlackCallError as exc:
                self.bot.reporter.log_slack_error(exc)
        else:
            log.info("no way to tell %s: %s", who.user, message.text)

    async def _respond(self, url: str, message: Message) -> None:
        try:
            await self.bot.api.respond(url, message)
        except SlackCallError as exc:
            self.bot.reporter.log_slack_error(exc)

    # -- the record of presses ---------------------------------------------------------------

    def record(
        self, action: Ids, who: Asker, channel: str | None, value: str, outcome: str
    ) -> None:
        """Write a press down: who, when, where, what it named and what came of it."""
        self.bot.store.record_press(
            at=self.bot.clock(),
            team=who.team,
            user=who.user,
            channel=channel,
            action=action.value,
            value=value,
            outcome=outcome,
        )


# -- reading the modal -------------------------------------------------------------------------


def _destination(metadata: str) -> str | None:
    """Where the modal's run reports: a channel id, ``DM``; ``None`` when unreadable."""
    try:
        data = json.loads(metadata) if len(metadata) <= 3000 else None
    except ValueError:
        return None
    to = _s(_d(data).get("to"))
    return to if to == DM or _CHANNEL.match(to) else None


def _selected(values: Mapping[str, Any], block: str, action: str) -> str:
    element = _d(_d(values.get(block)).get(action))
    return _s(_d(element.get("selected_option")).get("value"))


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
