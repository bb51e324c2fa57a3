"""Run one probe for a Slack command and report it: parent message, thread, final update.

    reporter = Reporter(engine=engine, api=api, store=bot_store, workflows=config.workflows)
    await reporter.run(RunRequest(workflow="lead-to-invoice", user="U1", channel="C1", ...))

The engine's progress callback only queues the settled stage; a sender task posts it, so a
slow or rate-limited Slack never holds up the probe (whose deadlines are real).

When the bot cannot post in the channel (``not_in_channel``, ``channel_not_found``: a
private channel or a DM it is not in), the run is reported *outside* it: the runner alone is
told that it started (an ephemeral message through the command's ``response_url``), and the
whole result comes once, in the channel, through that URL (``in_channel``; Slack never
replaces a slash command's response, so nothing is left to replace). Slack takes five uses
of a response URL within 30 minutes: a run that outlives it is delivered to the runner's DM
with Baton (``conversations.open``, ``im:write``). The URL, its issue time and uses, and the
runner are stored (``bot_fallbacks``), so a restart still delivers the result.

Several reporters may follow one run: a workspace's bot rebuilt on a reinstall while the
old one drains, a second ``baton serve`` resuming while the first reports. Each claims the
conclusion in the store before posting it (``BotStore.claim_thread``, ``claim_fallback``),
so the diagnosis and the final update, or the result outside the channel, go out once; a
loser waits until the winner finishes, or takes over once its claim's lease runs out.

Size: one run's report from its start to its result and after a restart, in its thread or
outside the channel; both ways share the run's start, its progress queue and its conclusion.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from baton.probes.config import WorkflowConfig
from baton.probes.errors import UsageError
from baton.probes.model import RunResult, StageResult
from baton.probes.store.bot import BotStore, Fallback, Thread

from ._engine import EngineLike
from .blocks import fallback as fallback_messages
from .blocks import replies
from .blocks import run as messages
from .blocks.run import Message, RunInfo
from .blocks.run_ui import rerun_block
from .slack_api import SlackApi, SlackCallError
from .throttle import Coalescer

log = logging.getLogger("bot.reporter")

FALLBACK_NOTE = fallback_messages.NOTE_CHANNEL

#: What Slack allows a response URL: five uses within 30 minutes of the command.
RESPONSE_URL_USES = 5
RESPONSE_URL_TTL_S = 30 * 60.0
#: A use this close to the end of the 30 minutes could arrive after it: DM instead.
RESPONSE_URL_MARGIN_S = 60.0


def new_holder() -> str:
    """Who claims a run's conclusion in the store: this process and this reporter."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def new_error_id() -> str:
    """A short id to quote in Slack and find in the log: ``E-3f9a1c``."""
    return "E-" + secrets.token_hex(3)


@dataclass(frozen=True)
class RunRequest:
    """A ``run`` command that passed parsing, the allowlist and dedupe."""

    workflow: str
    user: str
    channel: str
    variant: str | None = None
    overrides: dict[str, str] = field(default_factory=dict)
    response_url: str | None = None
    keys: tuple[str, ...] = ()  # dedupe keys: released if the run never starts
    #: Report in this thread (an alert's Re-run) instead of a new message in the channel.
    thread_ts: str | None = None
    #: When Slack sent the command (wall clock): its response URL counts from then.
    received_ts: float | None = None


class _Out:
    """Where a run's messages go: a channel thread, or the command's response_url."""

    def __init__(
        self,
        reporter: Reporter,
        *,
        channel: str,
        ts: str | None,
        req: RunRequest,
        thread_ts: str | None = None,
        fallback: Fallback | None = None,
    ):
        self.r = reporter
        self.channel = channel
        self.ts = ts  # the run's own message (updated in place)
        self.thread_ts = thread_ts or ts  # where its replies go
        self.req = req
        self.fallback = fallback  # reported outside the channel (no thread)
        self.updates: Coalescer[Message] = Coalescer(
            send=self._update,
            interval_s=reporter.update_interval_s,
            clock=reporter.clock,
            sleep=reporter.sleep,
        )

    @property
    def in_thread(self) -> bool:
        return self.ts is not None

    async def reply(self, message: Message) -> bool:
        """Post in the thread; False when Slack did not take it (logged with an error id)."""
        if self.ts is None or self.thread_ts is None:
            return False
        return await self.r.post_safely(self.channel, message, thread_ts=self.thread_ts)

    def progress(self, message: Message) -> None:
        if self.ts is not None:
            self.updates.push(message)

    async def _update(self, message: Message) -> None:
        if self.ts is None:
            return
        try:
            await self.r.api.update(self.channel, self.ts, message)
        except SlackCallError as exc:
            if exc.side == "ours":
                try:
                    await self.r.api.update(self.channel, self.ts, message.text_only())
                    return
                except SlackCallError as again:
                    exc = again
            self.r.log_slack_error(exc)


class Reporter:
    """Starts probe runs through the engine and reports them into Slack."""

    def __init__(
        self,
        *,
        engine: EngineLike,
        api: SlackApi,
        store: BotStore,
        workflows: Mapping[str, WorkflowConfig],
        command: str = "/baton",
        update_interval_s: float = 1.0,
        resume_poll_s: float = 2.0,
        resume_give_up_s: float = 3 * 3600.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        error_id: Callable[[], str] = new_error_id,
        on_run_end: Callable[[], None] = lambda: None,
        holder: str | None = None,
    ) -> None:
        self.engine = engine
        self.api = api
        self.store = store
        self.workflows = workflows
        self.command = command
        self.update_interval_s = update_interval_s
        self.resume_poll_s = resume_poll_s
        self.resume_give_up_s = resume_give_up_s
        self.clock = clock
        self.sleep = sleep
        self.error_id = error_id
        #: Called when a run it reports has ended (the App Home refreshes; never raises).
        self.on_run_end = on_run_end
        #: Its name on the runs whose conclusion it claims (``bot_threads.concluded_by``).
        self.holder = holder or new_holder()

    # -- a new run -------------------------------------------------------------------------

    async def run(self, req: RunRequest) -> RunResult | None:
        """Start the probe, open its thread, report every stage, then the diagnosis."""
        try:
            run_id = await self.engine.start(
                req.workflow,
                req.variant,
                req.overrides,
                origin={"slack_user": req.user, "channel": req.channel},
            )
        except UsageError as exc:
            self.store.release(req.keys)
            await self.tell(req, replies.problem(str(exc), self.command))
            return None
        except Exception as exc:
            self.store.release(req.keys)
            eid = self.error_id()
            log.error("%s: could not start a probe of %s: %r", eid, req.workflow, exc)
            await self.tell(req, replies.internal_error(eid))
            return None
        self.store.attach_run(req.keys, run_id)
        info = RunInfo(
            workflow=req.workflow,
            run_id=run_id,
            user=req.user,
            variant=req.variant,
            overrides=req.overrides,
        )
        out = await self._open(req, info)
        try:
            return await self._watch(info, out)
        finally:
            self.on_run_end()

    async def _open(self, req: RunRequest, info: RunInfo) -> _Out:
        """Post the parent message (or fall back to the response_url); remember where."""
        try:
            ts = await self.api.post(req.channel, messages.started(info), thread_ts=req.thread_ts)
        except SlackCallError as exc:
            if not exc.channel_unreachable:
                self.log_slack_error(exc)
            log.info(
                "cannot post in %s (%s); run %s is reported outside it",
                req.channel,
                exc.error,
                info.run_id,
            )
            issued = req.received_ts if req.received_ts is not None else self.store.clock()
            fallback = self.store.save_fallback(
                run_id=info.run_id,
                channel=req.channel,
                user=req.user,
                workflow=req.workflow,
                response_url=req.response_url,
                url_issued_ts=issued,
            )
            await self._respond_outside(
                fallback, fallback_messages.started_elsewhere(info, req.channel)
            )
            return _Out(self, channel=req.channel, ts=None, req=req, fallback=fallback)
        self.store.save_thread(
            run_id=info.run_id,
            channel=req.channel,
            ts=ts,
            user=req.user,
            workflow=req.workflow,
            thread_ts=req.thread_ts,
        )
        return _Out(self, channel=req.channel, ts=ts, req=req, thread_ts=req.thread_ts)

    async def _watch(self, info: RunInfo, out: _Out) -> RunResult | None:
        wf = self.workflows.get(info.workflow)
        total = len(wf.stages) if wf else 0
        settled: list[StageResult] = []
        queue: asyncio.Queue[StageResult | None] = asyncio.Queue()

        async def on_progress(stage: StageResult) -> None:
            queue.put_nowait(stage)  # never wait on Slack here: the probe has deadlines

        # Thread replies go out in chain order (as `baton demo --slack-preview` shows them),
        # whatever order the stages are decided in; the parent's progress moves at once.
        order = [s.name for s in wf.stages] if wf else []
        held: dict[str, StageResult] = {}
        shown: set[str] = set()  # tools' raw answers the thread has quoted: once per run
        lost: list[StageResult] = []  # replies Slack never took: the closing reply has them

        async def reply(stage: StageResult) -> None:
            try:
                if not await out.reply(messages.stage_reply(stage, wf, shown=shown)):
                    lost.append(stage)
            except Exception:  # one bad reply must not cost the rest of the thread
                log.exception("%s: reporting stage %s failed", self.error_id(), stage.name)
                lost.append(stage)

        async def release(*, everything: bool = False) -> None:
            while order and (order[0] in held or everything):
                stage = held.pop(order.pop(0), None)
                if stage is not None:
                    await reply(stage)
            for name in list(held) if everything or not order else []:
                await reply(held.pop(name))

        async def sender() -> None:
            while (stage := await queue.get()) is not None:
                settled.append(stage)
                held[stage.name] = stage
                await release()
                try:
                    out.progress(messages.progress(info, settled, total, wf))
                except Exception:
                    log.exception("%s: progress of %s failed", self.error_id(), stage.name)
            await release(everything=True)

        task = asyncio.create_task(sender())
        try:
            result = await self.engine.finish(info.run_id, on_progress=on_progress)
        except asyncio.CancelledError:
            task.cancel()
            out.updates.cancel()
            raise  # shutting down: the run stays active in the store, resumed next start
        except Exception:
            eid = self.error_id()
            log.exception("%s: watching run %s failed", eid, info.run_id)
            queue.put_nowait(None)
            await task
            await out.updates.close(messages.crashed(info, eid))
            if out.fallback is not None:
                if await self._claim(info.run_id, outside=True):
                    await self._respond_outside(out.fallback, replies.internal_error(eid))
                    self.store.finish_fallback(info.run_id, verdict=None, via="none")
            else:
                await self.tell(out.req, replies.internal_error(eid))
            return None
        queue.put_nowait(None)
        await task
        await self._conclude(info, out, result, wf, shown, lost)
        return result

    async def _conclude(
        self,
        info: RunInfo,
        out: _Out,
        result: RunResult,
        wf: WorkflowConfig | None,
        shown: set[str],
        lost: list[StageResult] | None = None,
    ) -> None:
        # The Re-run button: same workflow, variant and overrides (read back from the run).
        actions = (rerun_block(info.run_id),)
        if not await self._claim(info.run_id, outside=not out.in_thread):
            out.updates.cancel()  # a progress update must not land on the other's verdict
            return
        if out.in_thread:
            await out.reply(
                messages.diagnosis(result, wf, shown=shown, lost=lost or [], actions=actions)
            )
            await out.updates.close(messages.final(info, result, wf))
            self.store.finish_thread(info.run_id, str(result.verdict))
        elif out.fallback is not None:
            await self._deliver_outside(out.fallback, info, result, wf)
        log.info("run %s of %s: %s", info.run_id, info.workflow, result.verdict)

    # -- after a restart -------------------------------------------------------------------

    async def follow(self, thread: Thread) -> RunResult | None:
        """Report a run whose thread was open when the bot stopped, once it has a result.

        The engine finishes such runs (``resume_interrupted``); this only waits for the
        result to land in the store, then posts the diagnosis and updates the parent.
        """
        result = await self._result_of(thread.run_id)
        if result is None:
            return None
        info = RunInfo(
            workflow=thread.workflow, run_id=thread.run_id, user=thread.user, variant=result.variant
        )
        req = RunRequest(workflow=thread.workflow, user=thread.user, channel=thread.channel)
        out = _Out(self, channel=thread.channel, ts=thread.ts, req=req, thread_ts=thread.thread_ts)
        await self._conclude(info, out, result, self.workflows.get(thread.workflow), set())
        self.on_run_end()
        return result

    async def follow_outside(self, fallback: Fallback) -> RunResult | None:
        """Deliver the result of a run reported outside its channel when the bot stopped:
        through its response URL while Slack still takes it, else to the runner's DM."""
        result = await self._result_of(fallback.run_id)
        if result is None:
            return None
        info = RunInfo(
            workflow=fallback.workflow,
            run_id=fallback.run_id,
            user=fallback.user,
            variant=result.variant,
        )
        if await self._claim(fallback.run_id, outside=True):
            wf = self.workflows.get(fallback.workflow)
            await self._deliver_outside(fallback, info, result, wf)
            log.info("run %s of %s: %s", info.run_id, info.workflow, result.verdict)
        self.on_run_end()
        return result

    async def _claim(self, run_id: str, *, outside: bool) -> bool:
        """Claim the conclusion of the run's report: True if this reporter is to post it.
        While another holds it, wait: False once it has finished, True if its lease ran
        out first (it died) and this one took over."""
        claim = self.store.claim_fallback if outside else self.store.claim_thread
        row_of = self.store.fallback if outside else self.store.thread
        waited = 0.0
        while not claim(run_id, self.holder):
            row = row_of(run_id)
            if row is None or row.state == "done" or waited >= self.resume_give_up_s:
                log.info("run %s is concluded by another reporter", run_id)
                return False
            await self.sleep(self.resume_poll_s)
            waited += self.resume_poll_s
        return True

    async def _result_of(self, run_id: str) -> RunResult | None:
        """The run's result once the engine has stored it; None after ``resume_give_up_s``."""
        waited = 0.0
        while (result := self.engine.store.get_result(run_id)) is None:
            if waited >= self.resume_give_up_s:
                log.warning("gave up waiting for run %s to finish", run_id)
                return None
            await self.sleep(self.resume_poll_s)
            waited += self.resume_poll_s
        return result

    # -- outside the channel ---------------------------------------------------------------

    async def _respond_outside(
        self, fallback: Fallback, message: Message, *, in_channel: bool = False
    ) -> bool:
        """One use of the run's response URL, if one is left; False if none was, or Slack
        refused it (logged)."""
        issued_after = self.store.clock() - (RESPONSE_URL_TTL_S - RESPONSE_URL_MARGIN_S)
        url = self.store.use_response_url(
            fallback.run_id, max_uses=RESPONSE_URL_USES, issued_after=issued_after
        )
        if url is None:
            return False
        try:
            await self.api.respond(url, message, in_channel=in_channel, replace_original=False)
            return True
        except SlackCallError as exc:
            self.log_slack_error(exc)
            return False

    async def _deliver_outside(
        self, fallback: Fallback, info: RunInfo, result: RunResult, wf: WorkflowConfig | None
    ) -> None:
        """The whole result in one message: in the channel through the response URL, else
        (run out, expired, refused) in the runner's DM with Baton."""
        verdict = str(result.verdict)
        note = fallback_messages.note_for(fallback.channel)
        actions = (rerun_block(info.run_id),)
        final = messages.fallback_final(info, result, wf, note=note, actions=actions)
        if await self._respond_outside(fallback, final, in_channel=True):
            self.store.finish_fallback(fallback.run_id, verdict=verdict, via="response_url")
            return
        dm_final = messages.fallback_final(
            info, result, wf, note=fallback_messages.dm_note(fallback.channel), actions=actions
        )
        try:
            if not fallback.user:
                raise SlackCallError("conversations.open", "user_not_found")
            dm = await self.api.open_dm(fallback.user)
            if not await self.post_safely(dm, dm_final):
                raise SlackCallError("chat.postMessage", "not_delivered")
        except SlackCallError as exc:
            eid = self.log_slack_error(exc)
            fix = (
                "; add the im:write scope (`baton manifest`, then reinstall the app)"
                if exc.error in ("missing_scope", "no_permission")
                else ""
            )
            log.warning(
                "%s: the result of run %s (%s) reached nobody: Baton is not in %s, the "
                "command's response URL had run out, and the DM to %s failed (%s)%s",
                eid,
                fallback.run_id,
                verdict,
                fallback.channel,
                fallback.user or "the runner",
                exc.error,
                fix,
            )
            self.store.finish_fallback(fallback.run_id, verdict=verdict, via="none")
            return
        log.info("run %s: result sent to %s's DM", fallback.run_id, fallback.user)
        self.store.finish_fallback(fallback.run_id, verdict=verdict, via="dm")

    # -- helpers ---------------------------------------------------------------------------

    async def post_safely(
        self, channel: str, message: Message, *, thread_ts: str | None = None
    ) -> bool:
        """Post (a thread reply); if Slack refuses our blocks, once more as plain text. False
        when it was not posted after all (the error is logged with its id)."""
        try:
            await self.api.post(channel, message, thread_ts=thread_ts)
            return True
        except SlackCallError as exc:
            if exc.side == "ours":
                try:
                    await self.api.post(channel, message.text_only(), thread_ts=thread_ts)
                    return True
                except SlackCallError as again:
                    exc = again
            self.log_slack_error(exc)
            return False

    async def tell(self, req: RunRequest, message: Message) -> None:
        """An ephemeral answer to whoever asked for the run: through the command's (or the
        button's) response URL; else (a modal, the App Home) in the run's channel."""
        if req.response_url:
            await self._respond(req, message)
            return
        if not req.channel or not req.user:
            log.info("no response_url to tell %s: %s", req.user, message.text)
            return
        try:
            await self.api.ephemeral(req.channel, req.user, message)
        except SlackCallError as exc:
            self.log_slack_error(exc)

    async def _respond(self, req: RunRequest, message: Message, **kwargs: bool) -> None:
        assert req.response_url is not None
        try:
            await self.api.respond(req.response_url, message, replace_original=False, **kwargs)
        except SlackCallError as exc:
            self.log_slack_error(exc)

    def log_slack_error(self, exc: SlackCallError) -> str:
        eid = self.error_id()
        level = logging.WARNING if exc.side == "theirs" else logging.ERROR
        log.log(level, "%s: Slack call failed: %s", eid, exc)
        return eid


__all__ = ["FALLBACK_NOTE", "Reporter", "RunRequest", "new_error_id"]
