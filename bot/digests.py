"""Health digests in Slack: on demand (``/baton digest [WORKFLOW] [7d]``) and on a schedule
(``slack.digests``, registered by ``baton.bot.scheduler``).

The numbers are ``baton.probes.health.digest.build_digest``'s; the bot adds the
links. A run's origin is
written when the run starts, before any Slack message about it exists, so where a run was
reported is kept in the bot's own tables (``bot_threads`` for ``/baton run``, the alert
message for a scheduled run) and joined here (:func:`with_links`), rather than rewriting
the engine's rows afterwards. The digest is one message in the channel, with a key to its
terms; the chart (PNG, drawn off the event loop: buckets that fit the period, 95% bands,
a legend for every latency line) is uploaded to its thread with ``files_upload_v2``.

``chat:write.public`` lets Baton post in a public channel it never joined, but not share a
file there (``not_in_channel``): before the first upload to a channel Baton joins it
(``conversations.join``, ``channels:join``). A private channel cannot be joined: the digest
says plainly, in its thread, that the app must be invited (``/invite @Baton``).

    digests = Digests(api=api, store=bot_store, workspace_url=lambda: "https://acme.slack.com/")
    digest = digests.build(period_s=7 * 86400, workflows=("lead-to-invoice",))
    ts = await digests.post("C0123", digest)
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import io
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence

import sqlite_utils

from baton.probes.config import DigestSchedule
from baton.probes.health.digest import Digest, RunRef, build_digest
from baton.probes.store.bot import BotStore, Posted
from baton.probes.store.rollup import sync_rollup

from .blocks import replies
from .blocks.digest import digest_message, period_words
from .blocks.format import permalink
from .blocks.run import Message, section
from .reporter import new_error_id
from .slack_api import SlackApi, SlackCallError

log = logging.getLogger("bot.digest")


def with_links(digest: Digest, where: Mapping[str, Posted], workspace_url: str | None) -> Digest:
    """The digest with each listed run's Slack message (channel, thread, permalink)."""

    def link(ref: RunRef) -> RunRef:
        posted = where.get(ref.run_id)
        if posted is None:
            return ref
        return dataclasses.replace(
            ref,
            channel=posted.channel,
            thread_ts=posted.thread_ts or posted.ts,
            permalink=permalink(workspace_url, posted.channel, posted.ts, posted.thread_ts),
        )

    workflows = [
        dataclasses.replace(
            wf,
            failed_runs=[link(r) for r in wf.failed_runs],
            unchecked_runs=[link(r) for r in wf.unchecked_runs],
        )
        for wf in digest.workflows
    ]
    return dataclasses.replace(digest, workflows=workflows)


def render_png(digest: Digest) -> bytes:
    """The digest's chart as PNG bytes (``baton.probes.health.chart``; safe in a worker thread)."""
    from baton.probes.health.chart import render_chart

    buffer = io.BytesIO()
    render_chart(digest, buffer)
    return buffer.getvalue()


class Digests:
    """Builds digests from the store and posts them, chart in the thread."""

    def __init__(
        self,
        *,
        api: SlackApi,
        store: BotStore,
        db: sqlite_utils.Database | None = None,
        command: str = "/baton",
        workspace_url: Callable[[], str | None] = lambda: None,
        clock: Callable[[], float] = time.time,
        chart: Callable[[Digest], bytes] = render_png,
        error_id: Callable[[], str] = new_error_id,
    ) -> None:
        self.api = api
        self.store = store
        self.db = db if db is not None else store.db
        self.command = command
        self.workspace_url = workspace_url
        self.clock = clock
        self.chart = chart
        self.error_id = error_id
        self._joined: set[str] = set()  # channels joined (or found joined) by this process
        #: The workflows this bot may show (one workspace's, with ``slack.oauth``); a digest
        #: of "every workflow" is then of these. ``None``: every workflow in the store.
        self.scope: frozenset[str] | None = None

    def build(self, *, period_s: float, workflows: Sequence[str] = ()) -> Digest:
        """The digest of ``workflows`` (all when empty) over ``period_s``, with links."""
        sync_rollup(self.db)  # runs finished by another process, or before the rollup
        only = workflows[0] if len(workflows) == 1 else None
        digest = build_digest(self.db, self.clock(), period_s=period_s, workflow=only)
        wanted = set(workflows) if len(workflows) > 1 else None
        if self.scope is not None:
            wanted = (wanted or set(self.scope)) & self.scope
        if wanted is not None:
            kept = [wf for wf in digest.workflows if wf.workflow in wanted]
            digest = dataclasses.replace(digest, workflows=kept)
        ids = [r.run_id for wf in digest.workflows for r in (*wf.failed_runs, *wf.unchecked_runs)]
        return with_links(digest, self.store.where_reported(ids), self.workspace_url())

    async def post(self, channel: str, digest: Digest, *, asked_by: str | None = None) -> str:
        """Post the digest in ``channel``, then its chart in the thread; the message ``ts``.

        A chart that cannot be uploaded (no ``files:write`` yet) is said in the thread.
        """
        message = digest_message(digest, command=self.command, asked_by=asked_by)
        try:
            ts = await self.api.post(channel, message)
        except SlackCallError as exc:
            if exc.side != "ours":
                raise
            log.error("%s: digest blocks refused (%s); sent as text", self.error_id(), exc)
            ts = await self.api.post(channel, message.text_only())
        if digest.workflows:
            await self._upload_chart(channel, digest, ts)
        return ts

    async def _join(self, channel: str) -> str | None:
        """Join ``channel`` before sharing a file there (files need membership, unlike
        messages); None when Baton is in, else Slack's reason (a private channel or a DM:
        ``method_not_supported_for_channel_type``; no ``channels:join``: ``missing_scope``)."""
        if channel in self._joined:
            return None
        try:
            await self.api.join(channel)
        except SlackCallError as exc:
            return exc.error
        self._joined.add(channel)
        return None

    async def _upload_chart(self, channel: str, digest: Digest, ts: str) -> None:
        png = await asyncio.to_thread(self.chart, digest)
        day = dt.datetime.fromtimestamp(digest.until_ts, dt.UTC).strftime("%Y-%m-%d")
        period = period_words(digest.period_s)
        not_joined = await self._join(channel)
        try:
            await self.api.upload(
                channel,
                png,
                filename=f"baton-health-{day}.png",
                title=f"Baton health, last {period}",
                thread_ts=ts,
                alt_text=(
                    "Pass rate with its 95% interval (shaded) and p50/p95 latency per seam, "
                    f"a point per {digest.buckets.words.removeprefix('1 ')}, "
                    f"over the last {period}"
                ),
            )
        except SlackCallError as exc:
            eid = self.error_id()
            self._joined.discard(channel)
            text = _chart_refused(exc.error, eid, not_joined)
            log.warning("%s: digest chart not uploaded in %s: %s; %s", eid, channel, exc, text)
            with contextlib.suppress(SlackCallError):  # logged; the digest itself is out
                await self.api.post(
                    channel, Message(text=text, blocks=(section(text),)), thread_ts=ts
                )

    async def on_demand(
        self,
        *,
        channel: str,
        user: str,
        period_s: float,
        workflow: str | None,
        tell: Callable[[Message], Awaitable[None]],
    ) -> str | None:
        """``/baton digest``: build and post; problems go to ``tell`` (the response URL)."""
        try:
            digest = self.build(period_s=period_s, workflows=(workflow,) if workflow else ())
            return await self.post(channel, digest, asked_by=user)
        except SlackCallError as exc:
            eid = self.error_id()
            log.warning("%s: digest not posted in %s: %s", eid, channel, exc)
            await tell(replies.slack_error(exc.error, eid))
        except Exception:
            eid = self.error_id()
            log.exception("%s: building the digest failed", eid)
            await tell(replies.internal_error(eid))
        return None

    async def scheduled(self, spec: DigestSchedule) -> str | None:
        """A digest from ``slack.digests``, posted in its channel."""
        try:
            digest = self.build(period_s=spec.period_s, workflows=spec.workflows)
            return await self.post(spec.channel, digest)
        except SlackCallError as exc:
            fix = ""
            if exc.channel_unreachable:
                fix = (
                    "; Baton cannot post there (a private channel or a DM it is not in): "
                    "`/invite @Baton` in that channel"
                )
            log.warning(
                "%s: scheduled digest not posted in %s: %s%s",
                self.error_id(),
                spec.channel,
                exc,
                fix,
            )
        return None


def _chart_refused(error: str, eid: str, not_joined: str | None) -> str:
    """What to do about a chart Slack would not take, in one plain sentence."""
    why = f"The chart could not be uploaded ({error}, error {eid})"
    if error == "not_in_channel":
        if not_joined in ("missing_scope", "no_permission"):
            return (
                f"{why}: Baton may post here but not share files, as it is not a member of "
                "this channel. `/invite @Baton` here, or give the app the channels:join scope "
                "(`baton manifest`, then reinstall the app) so it joins by itself."
            )
        return (
            f"{why}: Baton is not a member of this channel (an app cannot join a private "
            "channel by itself). `/invite @Baton` here to get the chart next time."
        )
    if error in ("missing_scope", "no_permission"):
        return f"{why} (the app needs the files:write scope: see `baton manifest`)."
    return why + "."


__all__ = ["Digests", "render_png", "with_links"]
