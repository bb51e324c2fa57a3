"""The Slack app: one slash command, acknowledged at once, the probe run in the background.

    bot = Bot(config=config, engine=engine, client=AsyncWebClient(token=..., base_url=...),
              db=db, signing_secret=secret)
    web_app = make_web_app(bot, signing_secret=secret)   # HTTP mode, see baton.bot.server

The listener is thin on purpose: parse the text, check the allowlist, claim the request
(so retries, replays and double submissions never start a second run), ``ack()``, and hand
the run to a background task. Read-only answers (``list``, ``status``, ``history``,
``schedule``, ``help``) come back in the ack itself, as an ephemeral message; ``pause`` and
``resume`` in the ack too, but in the channel, as everyone's schedule changed. ``digest``
acks at once and posts the digest, with its chart, in the channel from a background task.

Every interaction (a button's ``block_actions``, a modal's ``view_submission``, the
``shortcut``), over HTTP or Socket Mode, goes through ``ActionGate`` (``baton.bot.actions``):
the same workspace check and allowlist as commands (``gate.allowed`` is the commands' own
allowlist check), once per press, every press recorded; the alert
controls are answered by ``baton.bot.alert_actions``, runs started from Slack's UI (Re-run,
the run modal, the App Home) by ``baton.bot.run_ui``.

Scheduled runs are not started here: ``baton.bot.scheduler`` does that, and reports them through
``alerts`` (``baton.bot.alerter``) rather than a thread per run.

Size: the Bolt app's listeners and the few steps each command takes before its background
task (parse, allowlist, claim, ack); the answers themselves are bot.blocks and the runs
bot.reporter.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import datetime as dt
import json
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import sqlite_utils
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient

from baton.probes.config import Config, SlackConfig, WorkflowConfig
from baton.probes.config.messages import did_you_mean, shown
from baton.probes.store.bot import BotStore

from ._engine import EngineLike
from .actions import ActionGate
from .alert_actions import AlertActions
from .alerter import Alerter
from .blocks import replies
from .blocks.run import Message
from .commands import (
    Command,
    Help,
    History,
    ListWorkflows,
    Pause,
    PostDigest,
    Run,
    Schedules,
    Status,
    parse_command,
)
from .digests import Digests
from .redact import Redactor
from .reporter import Reporter, RunRequest, new_error_id
from .run_ui import RunUi, wants_modal
from .scheduler import alert_channel, list_schedules, pause_or_resume
from .slack_api import SlackApi, SlackCallError
from .throttle import ChannelPacer

log = logging.getLogger("bot.app")

#: Work a listener asked to start, held until the HTTP response is on the wire (see
#: ``baton.bot.server``): a new run's first steps would otherwise delay its own ack.
_deferred: contextvars.ContextVar[list[Coroutine[Any, Any, Any]] | None] = contextvars.ContextVar(
    "baton_deferred_work", default=None
)


@contextlib.contextmanager
def deferring_work() -> Iterator[list[Coroutine[Any, Any, Any]]]:
    """Within this block ``Bot.start_soon`` collects work instead of starting it."""
    held: list[Coroutine[Any, Any, Any]] = []
    token = _deferred.set(held)
    try:
        yield held
    finally:
        _deferred.reset(token)


@dataclass(frozen=True, kw_only=True)
class BotSettings:
    """The bot's knobs; ``from_slack_config`` reads them from the ``slack:`` section."""

    command: str = "/baton"
    allowed_users: tuple[str, ...] = ()
    allowed_channels: tuple[str, ...] = ()
    #: An identical ``run`` from the same person in the same channel within this many
    #: seconds is a double submission, not a second probe.
    dedupe_window_s: float = 10.0
    #: At most one chat.update of a parent message per this many seconds.
    update_interval_s: float = 1.0
    #: After a restart: how often to look whether a run left behind has its result.
    resume_poll_s: float = 2.0
    #: Posts, updates and file shares per channel: about this many a second after a burst
    #: of ``pace_burst`` (Slack allows about one a second, with short bursts); None: not
    #: paced. The burst fits one run's thread (parent, replies, updates) without a wait;
    #: many runs, alerts or digests in one channel at once queue.
    pace_per_s: float | None = 1.0
    pace_burst: int = 10

    @classmethod
    def from_slack_config(cls, slack: SlackConfig, **overrides: Any) -> BotSettings:
        return cls(
            command=slack.command,
            allowed_users=tuple(slack.allowed_users),
            allowed_channels=tuple(slack.allowed_channels),
            **overrides,
        )


def _not_about_the_token_in_the_environment(record: logging.LogRecord) -> bool:
    """bolt warns that SLACK_BOT_TOKEN goes unused when given a client; here that is meant
    (the token reaches bolt through ``authorize``), so the warning would only confuse."""
    return record.getMessage() != warning_client_prioritized_and_token_skipped()


class Bot:
    """The bolt ``AsyncApp`` with Baton's command on it, and the background runs it starts."""

    def __init__(
        self,
        *,
        config: Config,
        engine: EngineLike,
        client: AsyncWebClient,
        db: sqlite_utils.Database,
        signing_secret: str | None = None,
        settings: BotSettings | None = None,
        redactor: Redactor | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Coroutine[Any, Any, Any]] = asyncio.sleep,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.config = config
        self.engine = engine
        self.settings = settings or BotSettings.from_slack_config(config.slack)
        self.store = BotStore(db, clock=clock)
        self.clock = clock
        self.now = now
        #: The workspace's URL from auth.test, for links to messages (digests, alerts).
        self.workspace_url: str | None = None
        self.api = SlackApi(
            client=client,
            redactor=redactor or Redactor.from_config(config, signing_secret, client.token),
            sleep=sleep,
            pacer=ChannelPacer(
                per_s=self.settings.pace_per_s, burst=self.settings.pace_burst, sleep=sleep
            ),
        )
        self.reporter = Reporter(
            engine=engine,
            api=self.api,
            store=self.store,
            workflows=config.workflows,
            command=self.settings.command,
            update_interval_s=self.settings.update_interval_s,
            resume_poll_s=self.settings.resume_poll_s,
            sleep=sleep,
            on_run_end=lambda: self.refresh_home(),
        )
        self.alerts = Alerter(
            api=self.api,
            store=self.store,
            results=engine.store,
            workflows=config.workflows,
            channel_for=lambda workflow: alert_channel(config, workflow),
            workspace_url=lambda: self.workspace_url,
            clock=clock,
            pacer=self.api.pacer,  # one pace per channel for alerts, runs and digests
            on_result=lambda: self.refresh_home(),
        )
        self.digests = Digests(
            api=self.api,
            store=self.store,
            command=self.settings.command,
            workspace_url=lambda: self.workspace_url,
            clock=clock,
        )
        self._tasks: set[asyncio.Task[Any]] = set()
        self._identity: AuthorizeResult | None = None
        # bolt's own client carries no token: ``_authorize`` hands it one per request from
        # one auth.test done up front, so no request waits for an auth.test of its own.
        bolt_client = AsyncWebClient(
            base_url=client.base_url, timeout=client.timeout, ssl=client.ssl, proxy=client.proxy
        )

        async def authorize() -> AuthorizeResult:  # bolt reads the argument names: no self
            return await self._authorize()

        bolt_log = logging.getLogger("bot.bolt")
        bolt_log.addFilter(_not_about_the_token_in_the_environment)
        self.app = AsyncApp(
            client=bolt_client,
            authorize=authorize,
            signing_secret=signing_secret or "",
            process_before_response=True,  # our listener acks itself, fast; runs go to tasks
            name="baton",
            logger=bolt_log,
        )
        self.app.command(self.settings.command)(self._on_command)
        self.gate = ActionGate(
            store=self.store,
            allowed_users=self.settings.allowed_users,
            allowed_channels=self.settings.allowed_channels,
            command=self.settings.command,
            team=lambda: self.team_id,
            clock=clock,
            dedupe_window_s=self.settings.dedupe_window_s,
        )
        self.alert_actions = AlertActions(
            gate=self.gate,
            api=self.api,
            reporter=self.reporter,
            results=engine.store,
            workflows=config.workflows,
            start_soon=self.start_soon,
            clock=clock,
            on_change=lambda: self.refresh_home(),
        )
        self.alert_actions.register(self.app)
        #: Runs started from Slack's UI: Re-run, the run modal, the App Home.
        self.run_ui = RunUi(self)
        self.run_ui.register(self.app)
        self.app.error(self._on_error)

    # -- identity --------------------------------------------------------------------------

    async def prepare(self, auth_test: Mapping[str, Any] | None = None) -> None:
        """Learn who the bot is (``auth.test``, or its answer if the caller has it)."""
        data = auth_test if auth_test is not None else await self.api.call("auth.test", {})
        self.workspace_url = str(data.get("url") or "") or None
        self._identity = AuthorizeResult(
            enterprise_id=data.get("enterprise_id"),
            team_id=data.get("team_id"),
            bot_token=self.api.client.token,
            bot_id=data.get("bot_id"),
            bot_user_id=data.get("user_id"),
        )

    @property
    def team_id(self) -> str | None:
        """The workspace this bot serves (from ``auth.test``; None until ``prepare``)."""
        return self._identity.team_id if self._identity is not None else None

    async def _authorize(self) -> AuthorizeResult:
        if self._identity is None:
            await self.prepare()
        assert self._identity is not None
        return self._identity

    # -- the listener ----------------------------------------------------------------------

    async def _on_command(
        self, ack: AsyncAck, command: dict[str, Any], request: AsyncBoltRequest
    ) -> None:
        try:
            await self._handle(ack, command, request)
        except Exception:
            eid = new_error_id()
            log.exception("%s: handling %s failed", eid, self.settings.command)
            if ack.response is None:
                await ack(**replies.internal_error(eid).payload())

    async def _handle(
        self, ack: AsyncAck, command: dict[str, Any], request: AsyncBoltRequest
    ) -> None:
        user = str(command.get("user_id") or "")
        channel = str(command.get("channel_id") or "")
        team = str(command.get("team_id") or "")
        ours = self.team_id
        if ours and team != ours:
            # Signed with our secret but from another workspace (an org-wide or shared
            # app, a replayed request): this token's workflows are not theirs to run.
            log.warning(
                "refused %s from team %s: the bot serves team %s",
                self.settings.command,
                team or "?",
                ours,
            )
            await ack(**replies.other_workspace(self.settings.command).payload())
            return
        text = str(command.get("text") or "")
        modal = wants_modal(text)
        cmd = parse_command(text)
        if modal or not isinstance(cmd, Help):
            refusal = self.gate.allowed(user, channel)
            if refusal is not None:
                log.info(
                    "refused %s from %s in %s: not allowed", self.settings.command, user, channel
                )
                await ack(**refusal.payload())
                return
        if modal:
            await self.run_ui.open_modal(ack, command)
        elif isinstance(cmd, Run):
            await self._run(ack, cmd, command, request)
        elif isinstance(cmd, PostDigest):
            await self._digest(ack, cmd, command)
        elif isinstance(cmd, Pause):
            await self._pause(ack, cmd, user)
        else:
            await ack(**self._answer(cmd).payload())

    async def _run(
        self, ack: AsyncAck, cmd: Run, command: dict[str, Any], request: AsyncBoltRequest
    ) -> None:
        user, channel = str(command.get("user_id") or ""), str(command.get("channel_id") or "")
        workflow = self.canonical(cmd.workflow) or cmd.workflow
        keys = self.gate.run_keys(
            team=str(command.get("team_id") or ""),
            user=user,
            channel=channel,
            trigger=str(command.get("trigger_id") or "") or None,
            run=dataclasses.replace(cmd, workflow=workflow),
        )
        if not self.store.claim(keys):
            retry = request.headers.get("x-slack-retry-num", [None])[0]
            run_id = self.store.run_for(list(keys))
            if retry is not None:
                log.info("ignored Slack retry %s of a command (run %s)", retry, run_id)
                await ack()
                return
            log.info("ignored a repeated run of %s from %s (run %s)", workflow, user, run_id)
            await ack(**replies.duplicate(run_id).payload())
            return
        await ack()
        self.start_soon(
            self.run_ui.run(
                RunRequest(
                    workflow=workflow,
                    variant=cmd.variant,
                    overrides=dict(cmd.overrides),
                    user=user,
                    channel=channel,
                    response_url=self.api.response_url(command.get("response_url")),
                    keys=tuple(keys),
                    received_ts=self.clock(),
                )
            )
        )

    async def _digest(self, ack: AsyncAck, cmd: PostDigest, command: dict[str, Any]) -> None:
        workflow = None
        if cmd.workflow is not None:
            workflow = self.canonical(cmd.workflow)
            if workflow is None:
                await ack(
                    **replies.problem(
                        self.unknown_workflow(cmd.workflow), self.settings.command
                    ).payload()
                )
                return
        trigger = command.get("trigger_id")
        if trigger and not self.store.claim({f"trigger:{trigger}": None}):
            await ack()  # Slack's retry of a digest already on its way
            return
        await ack()
        self.start_soon(
            self.digests.on_demand(
                channel=str(command.get("channel_id") or ""),
                user=str(command.get("user_id") or ""),
                period_s=cmd.period_s,
                workflow=workflow,
                tell=self._teller(self.api.response_url(command.get("response_url"))),
            )
        )

    def _teller(self, response_url: str | None) -> Callable[[Message], Awaitable[None]]:
        """An ephemeral answer to whoever sent the command, later (through its response URL)."""

        async def tell(message: Message) -> None:
            if response_url is None:
                log.info("no response_url to answer with: %s", message.text)
                return
            try:
                await self.api.respond(response_url, message, replace_original=False)
            except SlackCallError as exc:
                self.reporter.log_slack_error(exc)

        return tell

    async def _pause(self, ack: AsyncAck, cmd: Pause, user: str) -> None:
        wf = self._workflow(cmd.workflow)
        if wf is None:
            await ack(
                **replies.problem(
                    self.unknown_workflow(cmd.workflow), self.settings.command
                ).payload()
            )
            return
        said, changed = pause_or_resume(
            self.config,
            self.store.db,
            wf.name,
            paused=cmd.paused,
            user=user,
            at=self.clock(),
            now=self.now().timestamp(),
            command=self.settings.command,
        )
        # A change to everyone's schedule is said in the channel; a problem only to the user.
        await ack(response_type="in_channel" if changed else None, **said.payload())

    # -- read-only answers -----------------------------------------------------------------

    def _answer(self, cmd: Command) -> Message:
        store, now, workflows = self.engine.store, self.now(), self.config.workflows
        if isinstance(cmd, Help):
            return replies.help_message(self.settings.command, cmd.problem)
        if isinstance(cmd, ListWorkflows):
            return replies.workflow_list(workflows, store.last_verdicts(), now)
        if isinstance(cmd, Schedules):
            return list_schedules(
                self.config, self.store.db, now.timestamp(), self.settings.command
            )
        if isinstance(cmd, Status) and cmd.workflow is None:
            return replies.status_all(workflows, store.last_verdicts(), store.active_runs(), now)
        name = (cmd.workflow if isinstance(cmd, Status | History) else None) or ""
        wf = self._workflow(name)
        if wf is None:
            return replies.problem(self.unknown_workflow(name), self.settings.command)
        if isinstance(cmd, History):
            return replies.history(wf.name, wf, store.recent_runs(wf.name, cmd.limit), now)
        last = store.recent_runs(wf.name, 1)
        return replies.status_one(wf.name, wf, last[0] if last else None, store.active_runs(), now)

    def canonical(self, name: str) -> str | None:
        """The workflow's name as configured, matching case-insensitively."""
        if name in self.config.workflows:
            return name
        folded = name.casefold()
        return next((n for n in self.config.workflows if n.casefold() == folded), None)

    def _workflow(self, name: str) -> WorkflowConfig | None:
        canonical = self.canonical(name)
        return self.config.workflows[canonical] if canonical else None

    def unknown_workflow(self, name: str) -> str:
        """What to say about a workflow name the config does not have (did-you-mean)."""
        names = sorted(self.config.workflows)
        known = f"; known: {', '.join(names)}" if names else "; the config has none"
        return f"unknown workflow {shown(name)}{did_you_mean(name, names)}{known}"

    async def _on_error(self, error: Exception, body: dict[str, Any]) -> BoltResponse:
        eid = new_error_id()
        log.error("%s: unhandled error in the Slack app: %r", eid, error)
        return BoltResponse(status=200, body=json.dumps(replies.internal_error(eid).payload()))

    def refresh_home(self) -> None:
        """The App Home may have changed (a run ended, an alert was acknowledged or
        snoozed): publish it again soon, debounced (``baton.bot.home``). Never raises."""
        try:
            self.run_ui.home.refresh_soon()
        except Exception:
            log.exception("%s: asking for an App Home refresh failed", new_error_id())

    # -- background work -------------------------------------------------------------------

    def start_soon(self, coro: Coroutine[Any, Any, Any]) -> None:
        """``spawn`` now, or right after the HTTP response is sent (``deferring_work``)."""
        held = _deferred.get()
        if held is None:
            self.spawn(coro)
        else:
            held.append(coro)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run ``coro`` in the background, tracked so shutdown and tests can wait for it."""
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            eid = new_error_id()
            log.error("%s: background task failed", eid, exc_info=task.exception())

    @property
    def busy(self) -> int:
        """How many background runs are in flight."""
        return len(self._tasks)

    def resume(self) -> None:
        """Follow every run whose thread was open when the bot last stopped, and deliver
        the result of every run reported outside its channel that was still out."""
        for thread in self.store.unfinished():
            self.spawn(self.reporter.follow(thread))
        for fallback in self.store.unfinished_fallbacks():
            self.spawn(self.reporter.follow_outside(fallback))

    async def drain(self) -> None:
        """Wait until every background run has reported."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    async def aclose(self, timeout_s: float = 10.0) -> None:
        """Give background runs ``timeout_s`` to finish, then cancel the rest.

        Cancelled runs stay active in the store; the next start resumes them.
        """
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=timeout_s)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)


__all__ = ["Bot", "BotSettings", "deferring_work"]
