"""Several workspaces (``slack.oauth``): one ``Bot`` per installed workspace, and a router.

Each workspace that installed the app gets a ``Bot`` of its own, built on first use from its
installation: its bot token (from the encrypted installation store), and a config that holds
only the workflows whose ``workspace:`` is its team ID. Everything that bot says or reads
(slash commands, ``list``/``status``/``history``, digests) is therefore about that
workspace's workflows, and is sent with that workspace's token. A request is routed by the
``team_id`` Slack signed into it; a workspace with no installation (or one Baton can no
longer decrypt) is told how to install, and nothing else.

    workspaces = Workspaces(config=config, installations=store, make_bot=build, api_url=url)
    runner, port = await start_http(workspaces, signing_secret=secret)   # baton.bot.server

A workspace's life: a new installation lets the old bot go and builds the new one at once
(when the config names the workspace, so its schedule goes on); ``app_uninstalled`` and
``tokens_revoked`` let it go and delete its installation; a bot that cannot be set up (Slack
unreachable, the installation file unreadable) is answered with an error id, and tried again
on the next request.

The single-workspace setup (``SLACK_BOT_TOKEN``) does not use this module.

Size: one workspace's bot from request to retirement (route, build, reinstall, uninstall)
reads as one story, with ``serve_workspaces`` that runs it; the views each bot is built on
(its config, engine and store) are :mod:`.scope`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import aiohttp
import httpx
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.web.async_client import AsyncWebClient

from baton.probes.config import Config
from baton.probes.errors import ConfigError

from ..channels import resolve_channels
from ..reporter import new_error_id
from ..serve import DEFAULT_API_URL, janitor, stop_on_signals
from ..slack_api import SlackCallError
from .scope import ScopedEngine, for_workspace, workspaces_of

if TYPE_CHECKING:
    from aiohttp import web

    from ..app import Bot
    from .oauth import OAuthCredentials, OAuthRoutes

log = logging.getLogger("bot.workspaces")

#: Slack's answers to ``auth.test`` that mean the installation's token is dead (reinstall),
#: not that Slack is unreachable for now.
TOKEN_GONE = frozenset(
    {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired"}
)
#: Events after which a workspace's installation is of no more use: delete it.
GONE_EVENTS = frozenset({"app_uninstalled", "tokens_revoked"})

#: Builds the bot of one workspace from its config and a client holding its token.
BotFactory = Callable[[Config, AsyncWebClient], "Bot"]


def _team_of(request: AsyncBoltRequest) -> str | None:
    """The workspace a (verified) request comes from: bolt reads ``team_id`` from commands
    and events, ``team.id`` (or ``user.team_id``) from interactions."""
    team = request.context.team_id
    return team if isinstance(team, str) and team else None


def _plain(text: str, status: int = 200) -> BoltResponse:
    """An answer Slack shows the person who sent the command (only them)."""
    return BoltResponse(
        status=status,
        body=json.dumps({"response_type": "ephemeral", "text": text}),
        headers={"content-type": "application/json"},
    )


def _enterprise_of(request: AsyncBoltRequest) -> str | None:
    """The Enterprise Grid organisation a request comes from, if any (bolt reads it from
    ``enterprise_id``, ``enterprise.id`` or ``team.enterprise_id``)."""
    enterprise = request.context.enterprise_id
    return enterprise if isinstance(enterprise, str) and enterprise else None


def _event_type(request: AsyncBoltRequest) -> str | None:
    """The type of an Events API event (``app_uninstalled`` …); None for anything else."""
    body = request.body
    event = body.get("event") if body.get("type") == "event_callback" else None
    kind = event.get("type") if isinstance(event, dict) else None
    return kind if isinstance(kind, str) else None


def _follow_unfinished(bot: Bot, workflows: Collection[str]) -> None:
    """Follow the runs of ``workflows`` left behind by the last stop: open threads, and
    results reported outside their channel not delivered yet (as ``Bot.resume`` does for
    one workspace)."""
    for thread in bot.store.unfinished():
        if thread.workflow in workflows:
            bot.spawn(bot.reporter.follow(thread))
    for fallback in bot.store.unfinished_fallbacks():
        if fallback.workflow in workflows:
            bot.spawn(bot.reporter.follow_outside(fallback))


class WorkspaceUnreachable(Exception):
    """Setting up a workspace's bot failed (logged with ``error_id``); try again later."""

    def __init__(self, error_id: str) -> None:
        super().__init__(error_id)
        self.error_id = error_id


class Workspaces:
    """The router of ``slack.oauth``: a ``Bot`` per installed workspace; see the module
    docstring. ``make_bot`` gets that workspace's config and a client holding its token."""

    def __init__(
        self,
        *,
        config: Config,
        installations: AsyncInstallationStore,
        make_bot: BotFactory,
        api_url: str,
        client_options: Mapping[str, Any] | None = None,
        oauth: OAuthRoutes | None = None,
        on_bot: Callable[[str, Bot], Any] | None = None,
        on_forget: Callable[[str], Any] | None = None,
    ) -> None:
        self.config = config
        self.installations = installations
        self.make_bot = make_bot
        self.api_url = api_url
        self.client_options = dict(client_options or {})
        self.oauth = oauth
        #: Called with each new bot (``baton serve`` starts its scheduler there).
        self.on_bot = on_bot
        #: Called with the team of each bot let go (``baton serve`` stops its scheduler).
        self.on_forget = on_forget
        self.bots: dict[str, Bot] = {}
        #: Builds under way, one per workspace: an entry lives only while its build does
        #: (a request from a workspace with no installation leaves nothing behind).
        self._building: dict[str, asyncio.Task[Bot | None]] = {}
        self._rebuilds: set[asyncio.Task[None]] = set()
        #: Bots let go (reinstalled, uninstalled) whose runs in flight are still finishing.
        self.retiring: dict[Bot, asyncio.Task[None]] = {}

    @property
    def busy(self) -> int:
        return sum(bot.busy for bot in self.bots.values())

    @property
    def install_hint(self) -> str:
        where = self.oauth.install_path if self.oauth is not None else "/slack/install"
        return f"install it at {where} on the server that runs Baton"

    # -- bots -----------------------------------------------------------------------------

    async def bot_for(self, team: str, enterprise: str | None = None) -> Bot | None:
        """The bot of workspace ``team``; ``None`` when it has no (readable) installation.

        Raises ``WorkspaceUnreachable`` (logged, with an error id) when setting it up failed
        (Slack unreachable, the installation file unreadable): nothing is kept, and the
        next request tries again."""
        bot = self.bots.get(team)
        if bot is not None:
            return bot
        building = self._building.get(team)
        if building is None:
            building = asyncio.create_task(self._build_once(team, enterprise))
            self._building[team] = building

            def done(task: asyncio.Task[Bot | None]) -> None:
                if self._building.get(team) is task:
                    del self._building[team]
                if not task.cancelled():
                    task.exception()  # retrieved: each waiter has it, or none wanted it

            building.add_done_callback(done)
        # Shielded: a request that gives up (cancelled) leaves the build to the others.
        return await asyncio.shield(building)

    async def _build_once(self, team: str, enterprise: str | None) -> Bot | None:
        try:
            bot = await self._build(team, enterprise)
        except Exception as exc:
            eid = new_error_id()
            log.error("%s: could not set up workspace %s: %r", eid, team, exc)
            raise WorkspaceUnreachable(eid) from exc
        if bot is None:
            return None
        if self._building.get(team) is not asyncio.current_task():
            # Forgotten while it was built (a new installation, an uninstall): not this one.
            await bot.aclose(timeout_s=0)
            return None
        self.bots[team] = bot
        if self.on_bot is not None:
            self.on_bot(team, bot)
        return bot

    async def _build(self, team: str, enterprise: str | None) -> Bot | None:
        enterprise = enterprise or await self._enterprise_of(team)
        found = await self.installations.async_find_bot(enterprise_id=enterprise, team_id=team)
        if found is None or not found.bot_token:
            return None
        client = AsyncWebClient(
            token=found.bot_token,
            base_url=self.api_url,
            retry_handlers=[],  # one retry policy for Slack calls: baton.bot.slack_api's
            **self.client_options,
        )
        config = for_workspace(self.config, team)
        try:
            config = await resolve_channels(config, client)
        except ConfigError as exc:
            log.warning("workspace %s: %s", team, exc)
        bot = self.make_bot(config, client)
        bot.digests.scope = bot.alerts.scope = frozenset(config.workflows)
        try:
            await bot.prepare()
        except SlackCallError as exc:
            if exc.error not in TOKEN_GONE:
                raise  # Slack unreachable or busy: not the installation's fault
            log.warning(
                "the installation of workspace %s no longer works (%s); reinstall the app there",
                team,
                exc,
            )
            return None
        log.info(
            "serving workspace %s with %d workflow(s): %s",
            team,
            len(config.workflows),
            ", ".join(sorted(config.workflows)) or f"none yet (workspace: {team} names them)",
        )
        _follow_unfinished(bot, config.workflows)
        return bot

    async def _enterprise_of(self, team: str) -> str | None:
        """The Enterprise Grid organisation of ``team``'s installation, when the request
        did not say (a build at start-up, after an installation)."""
        find = getattr(self.installations, "async_enterprise_of", None)
        return await find(team) if find is not None else None

    def forget(self, team: str) -> Bot | None:
        """Drop the bot of ``team`` (a new installation: the next request builds it anew)."""
        self._building.pop(team, None)  # a build under way, with the old token, is let go
        return self.bots.pop(team, None)

    def _retire(self, team: str) -> None:
        """Let the bot of ``team`` go: its scheduler stops, its runs in flight finish."""
        old = self.forget(team)
        if self.on_forget is not None:
            self.on_forget(team)
        if old is not None:
            self.retiring[old] = asyncio.create_task(old.drain())
            self.retiring[old].add_done_callback(lambda _: self.retiring.pop(old, None))

    async def installed(self, team: str) -> None:
        """A new installation (a new token): the old bot is let go, and a workspace the
        config names is built again at once, so its scheduled probes, alerts and digests
        go on without waiting for someone there to send a request."""
        self._retire(team)
        if team in workspaces_of(self.config):
            self._rebuild(team)

    def _rebuild(self, team: str) -> None:
        async def rebuild() -> None:
            with contextlib.suppress(WorkspaceUnreachable):  # logged; its next request retries
                await self.bot_for(team)

        task = asyncio.create_task(rebuild())
        self._rebuilds.add(task)
        task.add_done_callback(self._rebuilds.discard)

    async def uninstalled(self, team: str, enterprise: str | None = None) -> None:
        """The app was removed from ``team`` (or its tokens revoked): its bot and scheduler
        stop, and its installation is deleted, so no token of it is kept."""
        enterprise = enterprise or await self._enterprise_of(team)
        self._retire(team)
        await self.installations.async_delete_bot(enterprise_id=enterprise, team_id=team)
        await self.installations.async_delete_installation(enterprise_id=enterprise, team_id=team)
        log.warning("uninstalled from workspace %s: its installation is deleted", team)

    async def start(self, teams: Iterable[str] | None = None) -> list[str]:
        """Build the bots of the workspaces the config names (so their runs left behind
        are followed again); the ones that have an installation. A workspace that cannot
        be set up now (logged) is skipped: its next request builds it."""
        wanted = teams if teams is not None else workspaces_of(self.config)
        served = []
        for team in wanted:
            try:
                if await self.bot_for(team) is not None:
                    served.append(team)
            except WorkspaceUnreachable:
                log.warning("workspace %s is not served yet: its next request sets it up", team)
        return served

    # -- requests --------------------------------------------------------------------------

    async def route(self, request: AsyncBoltRequest) -> Bot | BoltResponse:
        """The bot that answers ``request``, or the answer itself."""
        if request.body.get("type") == "url_verification":
            challenge = str(request.body.get("challenge") or "")
            return BoltResponse(status=200, body=json.dumps({"challenge": challenge}))
        team = _team_of(request)
        if team is None:
            log.warning("refused a request that names no workspace")
            return _plain("Baton could not tell which workspace this came from.", 400)
        enterprise = _enterprise_of(request)
        if _event_type(request) in GONE_EVENTS:
            await self.uninstalled(team, enterprise)
            return BoltResponse(status=200, body="")
        try:
            bot = await self.bot_for(team, enterprise)
        except WorkspaceUnreachable as exc:
            return _plain(
                f"Baton could not reach Slack to set up this workspace; try again in a "
                f"moment (error {exc.error_id})."
            )
        if bot is None:
            log.warning("refused a request from workspace %s: Baton is not installed there", team)
            return _plain(
                f"Baton is not installed in this workspace (or its installation can no longer "
                f"be read): {self.install_hint}."
            )
        return bot

    def add_routes(self, app: web.Application) -> None:
        """``GET`` install and redirect paths (see :mod:`.oauth`), when OAuth is on."""
        if self.oauth is not None:
            self.oauth.add_routes(app)

    async def drain(self) -> None:
        for bot in list(self.bots.values()):
            await bot.drain()

    async def aclose(self, timeout_s: float = 10.0) -> None:
        for task in list(self._rebuilds):
            task.cancel()
        await asyncio.gather(*self._rebuilds, return_exceptions=True)
        bots = [*self.bots.values(), *self.retiring]
        await asyncio.gather(*(bot.aclose(timeout_s) for bot in bots))


async def serve_workspaces(
    config: Config,
    creds: OAuthCredentials,
    *,
    host: str = "127.0.0.1",
    port: int = 3000,
    stop: asyncio.Event | None = None,
    ready: Callable[[str], None] | None = None,
) -> None:
    """``baton serve`` with ``slack.oauth``: HTTP mode, a bot (and a scheduler) per
    installed workspace, one tick for the process (:mod:`.ticking`), installation at
    ``/slack/install``; until ``stop``."""
    from baton.probes.engine import Engine
    from baton.probes.store import open_store

    from ..app import Bot
    from ..server import EVENTS_PATH, start_http
    from .oauth import OAuthClient, OAuthRoutes
    from .ticking import SharedTick, WorkspaceSchedulers

    stop = stop or stop_on_signals()
    api_url = config.slack.api_url or DEFAULT_API_URL
    store = open_store(config.store)
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
    async with aiohttp.ClientSession() as session, httpx.AsyncClient(limits=limits) as http:
        # Three engines (three lease owners) whatever the number of workspaces, as with one
        # bot token: the runs started from Slack, the one tick (and the slots' starts), the
        # janitor. Each bot sees its engine through its workspace's workflows.
        from_slack = Engine(config, store=store, client=http)
        schedulers = WorkspaceSchedulers(SharedTick(Engine(config, store=store, client=http)))

        def make_bot(team_config: Config, client: AsyncWebClient) -> Bot:
            return Bot(
                config=team_config,
                engine=ScopedEngine(from_slack, team_config.workflows),
                client=client,
                db=store.db,
                signing_secret=creds.signing_secret,
            )

        async def on_installed(team: str) -> None:
            await workspaces.installed(team)

        routes = OAuthRoutes.build(
            creds,
            api_url=api_url,
            client=OAuthClient(base_url=api_url, session=session, retry_handlers=[]),
            on_installed=on_installed,
        )
        workspaces = Workspaces(
            config=config,
            installations=routes.installations,
            make_bot=make_bot,
            api_url=api_url,
            client_options={"session": session},
            oauth=routes,
            on_bot=schedulers.add,
            on_forget=schedulers.remove,
        )
        served = await workspaces.start()
        ticker = asyncio.create_task(schedulers.shared.run(stop))
        sweeper = asyncio.create_task(janitor(Engine(config, store=store, client=http)))
        runner, bound = await start_http(
            workspaces, signing_secret=creds.signing_secret, host=host, port=port
        )
        try:
            if ready:
                origin = f"http://{host}:{bound}"
                ready(
                    f"listening for {config.slack.command} on {origin}{EVENTS_PATH} in "
                    f"{len(served)} installed workspace(s); install at {origin}"
                    f"{routes.install_path}"
                )
            await stop.wait()
        finally:
            await runner.cleanup()
            schedulers.shutdown()
            for task in (ticker, sweeper):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await workspaces.aclose()


__all__ = ["BotFactory", "WorkspaceUnreachable", "Workspaces", "serve_workspaces"]
