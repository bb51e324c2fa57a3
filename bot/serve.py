"""``baton serve`` at run time: tokens, clients, the bot, the server, and a clean stop.

    tokens = resolve_tokens(config.slack, os.environ)      # ConfigError names the variable
    asyncio.run(serve(config, tokens, host="127.0.0.1", port=3000))

Socket Mode when an app-level token is set (no public URL needed), else HTTP mode. Beside
the bot run the scheduler (``baton.bot.scheduler``: scheduled probes, digests, and a tick that
advances every active run) and a janitor that finishes runs a previous process left behind
and retries cleanups. Each has its own engine, so its own lease owner: none of them steps a
run another is watching.

The janitor is a plain task, not a scheduler job: finishing a run left behind can take
until that run's deadline, and a job still running at its next fire time is skipped with a
warning each time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import httpx
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from baton.probes.config import Config, SlackConfig
from baton.probes.errors import ConfigError

from ._engine import EngineLike
from .app import Bot
from .channels import resolve_channels
from .redact import RedactingFilter, Redactor
from .scheduler import BotScheduler

log = logging.getLogger("bot.serve")

DEFAULT_API_URL = "https://slack.com/api/"
BOT_TOKEN_PREFIXES = ("xoxb-",)
_REFUSED = {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired"}


@dataclass(frozen=True)
class Tokens:
    """The Slack credentials ``serve`` runs with (never printed, logged or stored)."""

    bot_token: str
    signing_secret: str | None
    app_token: str | None

    @property
    def socket_mode(self) -> bool:
        return self.app_token is not None

    def __repr__(self) -> str:
        return f"Tokens(mode={'socket' if self.socket_mode else 'http'})"


def resolve_tokens(
    slack: SlackConfig, env: Mapping[str, str], *, force_http: bool = False
) -> Tokens:
    """Tokens from the config's ``slack:`` section, else the environment; one clear error."""
    bot = slack.bot_token or env.get("SLACK_BOT_TOKEN") or ""
    if not bot:
        raise ConfigError(
            "SLACK_BOT_TOKEN is not set: set it to the app's Bot User OAuth Token "
            "(xoxb-…, under OAuth & Permissions)"
        )
    if bot.startswith("xoxe."):
        raise ConfigError(
            "SLACK_BOT_TOKEN is a rotating token (xoxe.xoxb-…), which expires after 12 hours "
            "and Baton does not refresh: use the bot token of an app without token rotation"
        )
    if not bot.startswith(BOT_TOKEN_PREFIXES):
        raise ConfigError(
            "SLACK_BOT_TOKEN is not a bot token (it starts with xoxb-): use the app's "
            "Bot User OAuth Token, not a user or app-level token"
        )
    app = None if force_http else (slack.app_token or env.get("SLACK_APP_TOKEN") or None)
    secret = slack.signing_secret or env.get("SLACK_SIGNING_SECRET") or None
    if app is not None and not app.startswith("xapp-"):
        raise ConfigError(
            "SLACK_APP_TOKEN is not an app-level token (it starts with xapp-): create one "
            "with the connections:write scope under Basic Information, or unset it for HTTP mode"
        )
    if app is None and not secret:
        raise ConfigError(
            "SLACK_SIGNING_SECRET is not set: HTTP mode needs the app's Signing Secret "
            "(Basic Information → App Credentials); or set SLACK_APP_TOKEN for Socket Mode"
        )
    return Tokens(bot_token=bot, signing_secret=secret, app_token=app)


async def check_bot_token(client: AsyncWebClient) -> dict[str, Any]:
    """``auth.test``'s answer; a ConfigError naming SLACK_BOT_TOKEN if Slack refuses it."""
    try:
        response = await client.auth_test()
    except SlackApiError as exc:
        error = str(exc.response.get("error") or exc.response.status_code)
        if error in _REFUSED:
            raise ConfigError(
                f"SLACK_BOT_TOKEN was refused by Slack ({error}): set it to the Bot User "
                "OAuth Token of an app installed in your workspace"
            ) from None
        raise ConfigError(f"Slack answered auth.test with {error!r}") from None
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise ConfigError(
            f"cannot reach the Slack API at {client.base_url} ({type(exc).__name__}); "
            "check slack.api_url and the network"
        ) from None
    return dict(response.data) if isinstance(response.data, dict) else {}


#: Libraries that log a line per request or per job run: quiet unless -vv.
_CHATTY = ("httpx", "httpcore", "apscheduler", "aiohttp.access", "slack_bolt", "slack_sdk")


def level_for(verbosity: int) -> int:
    """``baton serve`` logs warnings by default; ``-v`` adds info, ``-vv`` debug."""
    return {0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG)


def configure_logging(redactor: Redactor, level: int = logging.WARNING) -> None:
    """Log lines on stderr, every one passed through the redactor. Chatty libraries (a line
    per HTTP request, per scheduler job) stay at WARNING unless the level is DEBUG."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter(redactor))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in _CHATTY:
        logging.getLogger(name).setLevel(level if level <= logging.DEBUG else logging.WARNING)


async def janitor(
    engine: EngineLike,
    *,
    every_s: float = 60.0,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
) -> None:
    """Forever: finish runs left behind by a stopped process, retry pending cleanups."""
    while True:
        try:
            await engine.resume_interrupted()
            await engine.cleanup_pending()
        except Exception:
            log.exception("janitor pass failed; trying again in %.0f s", every_s)
        await sleep(every_s)


async def serve(
    config: Config,
    tokens: Tokens,
    *,
    host: str = "127.0.0.1",
    port: int = 3000,
    stop: asyncio.Event | None = None,
    ready: Callable[[str], None] | None = None,
) -> None:
    """Run the bot until ``stop`` is set (or SIGINT / SIGTERM)."""
    from baton.probes.engine import Engine
    from baton.probes.store import open_store

    stop = stop or stop_on_signals()
    # One keep-alive session for every Slack call (not a new TLS connection per message).
    async with aiohttp.ClientSession() as session:
        client = AsyncWebClient(
            token=tokens.bot_token,
            base_url=config.slack.api_url or DEFAULT_API_URL,
            session=session,
            retry_handlers=[],  # one retry policy for Slack calls: baton.bot.slack_api's
        )
        identity = await check_bot_token(client)
        config = _this_workspace(config, str(identity.get("team_id") or ""))
        config = await resolve_channels(config, client)  # names become IDs, once
        wss_url = None
        if tokens.app_token is not None:
            wss_url = await open_socket_url(client.base_url, tokens.app_token)
        store = open_store(config.store)  # only now, once every token is known to work
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
        async with httpx.AsyncClient(limits=limits) as http:
            bot = Bot(
                config=config,
                engine=Engine(config, store=store, client=http),
                client=client,
                db=store.db,
                signing_secret=tokens.signing_secret,
            )
            await bot.prepare(identity)
            bot.resume()
            scheduling = BotScheduler(bot=bot, engine=Engine(config, store=store, client=http))
            scheduling.register()
            scheduling.start()
            sweeper = asyncio.create_task(janitor(Engine(config, store=store, client=http)))
            try:
                await _listen(
                    bot,
                    tokens,
                    wss_url,
                    stop,
                    ready,
                    host=host,
                    port=port,
                    team=str(identity.get("team") or "your workspace"),
                )
            finally:
                scheduling.shutdown()
                sweeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sweeper
                await bot.aclose()


def _this_workspace(config: Config, team: str) -> Config:
    """With one bot token: the workflows naming no workspace, or this one; those naming
    another are left out (and said so), as another workspace's."""
    from .workspaces import for_workspace

    if not team or all(wf.workspace in (None, team) for wf in config.workflows.values()):
        return config
    mine = for_workspace(config, team, shared=True)
    others = sorted(set(config.workflows) - set(mine.workflows))
    log.warning(
        "not serving %s here: their workspace: is not this bot token's workspace %s",
        ", ".join(others),
        team,
    )
    return mine


async def _listen(
    bot: Bot,
    tokens: Tokens,
    wss_url: str | None,
    stop: asyncio.Event,
    ready: Callable[[str], None] | None,
    *,
    host: str,
    port: int,
    team: str,
) -> None:
    from .server import EVENTS_PATH, start_http

    command = bot.settings.command
    if tokens.app_token is not None and wss_url is not None:
        await _socket_mode(bot, tokens.app_token, wss_url, stop, ready, f"{command} in {team}")
        return
    runner, bound = await start_http(
        bot, signing_secret=tokens.signing_secret or "", host=host, port=port
    )
    try:
        if ready:
            ready(f"listening for {command} on http://{host}:{bound}{EVENTS_PATH}")
        await stop.wait()
    finally:
        await runner.cleanup()


async def open_socket_url(base_url: str, app_token: str) -> str:
    """``apps.connections.open``: a WebSocket URL, or a ConfigError naming SLACK_APP_TOKEN.

    slack_sdk's Socket Mode client retries a refused token forever, quietly; asking first
    makes a wrong token one clear line at start-up (and the URL is then used, not wasted).
    """
    opener = AsyncWebClient(base_url=base_url, retry_handlers=[])
    try:
        opened = await opener.apps_connections_open(app_token=app_token)
    except SlackApiError as exc:
        error = str(exc.response.get("error"))
        raise ConfigError(
            f"SLACK_APP_TOKEN was refused by Slack ({error}): set it to an app-level token "
            "(xapp-…) with the connections:write scope"
        ) from None
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise ConfigError(
            f"cannot reach the Slack API at {base_url} ({type(exc).__name__}); "
            "check slack.api_url and the network"
        ) from None
    return str(opened["url"])


async def _socket_mode(
    bot: Bot,
    app_token: str,
    wss_url: str,
    stop: asyncio.Event,
    ready: Callable[[str], None] | None,
    what: str,
) -> None:
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

    handler = AsyncSocketModeHandler(bot.app, app_token)
    handler.client.wss_uri = wss_url
    try:
        await handler.connect_async()  # type: ignore[no-untyped-call]
        if ready:
            ready(f"connected to Slack in Socket Mode, listening for {what}")
        await stop.wait()
    finally:
        await handler.close_async()  # type: ignore[no-untyped-call]


def stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    return stop


__all__ = [
    "Tokens",
    "check_bot_token",
    "configure_logging",
    "janitor",
    "level_for",
    "resolve_tokens",
    "serve",
]
