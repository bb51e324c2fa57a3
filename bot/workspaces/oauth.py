"""Installing the app over OAuth (``slack.oauth``): ``/slack/install`` and
``/slack/oauth_redirect``, with slack_bolt's ``AsyncOAuthFlow``.

    creds = resolve_oauth(config.slack, os.environ)      # ConfigError naming the variable
    routes = OAuthRoutes.build(creds, api_url=url, on_installed=workspaces.forget)
    routes.add_routes(web_app)                           # GET /slack/install, /slack/oauth_redirect

``GET /slack/install`` answers a page with the "Add to Slack" link, and sets a cookie with
a fresh ``state`` (kept 10 minutes in the installation file, used once; expired ones are
deleted when the next is issued, and at most ``MAX_STATES`` wait at once: beyond, the page
answers 429 "try again in a few minutes"). Slack sends the
installer back to ``/slack/oauth_redirect?code=…&state=…``: a state that is missing,
forged, expired, already used, or not the one in this browser's cookie is refused (bolt's
checks) before the code is exchanged (``oauth.v2.access``). The installation is then saved
with every token encrypted (``baton.bot.workspaces.installations``), and the next request from that
workspace is answered with its own token.

OAuth needs HTTP mode (Slack sends the installer's browser to a URL), and the signing
secret to check every request; Socket Mode is refused with ``slack.oauth``.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlite_utils
from aiohttp import web
from cryptography.fernet import MultiFernet
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.oauth.async_callback_options import (
    AsyncCallbackOptions,
    AsyncFailureArgs,
    AsyncSuccessArgs,
)
from slack_bolt.oauth.async_oauth_flow import AsyncOAuthFlow
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.oauth.installation_store import Installation
from slack_sdk.oauth.state_store.sqlite3 import SQLite3OAuthStateStore
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from baton.probes.config import SlackConfig
from baton.probes.errors import ConfigError
from baton.probes.store.installs import prune_oauth_states

from ..manifest import BOT_SCOPES
from .installations import EncryptedInstallationStore, token_key

log = logging.getLogger("bot.oauth")

INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"
#: How long an installer has between opening the install page and coming back.
STATE_TTL_S = 600
#: Unused states kept at most: anyone may open the install page, and each visit stores one.
MAX_STATES = 1000


class TooManyStates(Exception):
    """``MAX_STATES`` installations are under way: no new state is issued."""


class BoundedStateStore(SQLite3OAuthStateStore):
    """slack_sdk's SQLite state store, bounded: issuing a state first deletes the expired
    ones (slack_sdk deletes a state only when it is used), and refuses (``TooManyStates``)
    while ``limit`` unexpired ones are waiting."""

    def __init__(
        self,
        *,
        database: str,
        expiration_seconds: int,
        limit: int = MAX_STATES,
        clock: Callable[[], float] = time.time,
        logger: logging.Logger = log,
    ) -> None:
        super().__init__(database=database, expiration_seconds=expiration_seconds, logger=logger)
        self.limit = limit
        self.clock = clock

    def issue(self, *args: Any, **kwargs: Any) -> str:
        with contextlib.closing(self.connect()) as conn:
            waiting = prune_oauth_states(sqlite_utils.Database(conn), now=self.clock())
        if waiting >= self.limit:
            raise TooManyStates(f"{waiting} installations are under way")
        return super().issue(*args, **kwargs)


@dataclass(frozen=True)
class OAuthCredentials:
    """What ``slack.oauth`` runs with (never printed, logged or stored in the clear)."""

    client_id: str
    client_secret: str = field(repr=False)
    signing_secret: str = field(repr=False)
    key: MultiFernet = field(repr=False)
    installations: str = "baton-installations.db"
    redirect_uri: str | None = None

    def __repr__(self) -> str:
        return f"OAuthCredentials(client_id={self.client_id!r}, at {self.installations!r})"


def resolve_oauth(slack: SlackConfig, env: Mapping[str, str]) -> OAuthCredentials:
    """``slack.oauth``'s credentials, else the environment's; one ConfigError line each."""
    oauth = slack.oauth
    if oauth is None:
        raise ConfigError("slack.oauth is not set: the bot serves one workspace (SLACK_BOT_TOKEN)")
    client_id = oauth.client_id or env.get("SLACK_CLIENT_ID") or ""
    if not client_id:
        raise ConfigError(
            "SLACK_CLIENT_ID is not set: slack.oauth needs the app's Client ID "
            "(Basic Information → App Credentials)"
        )
    client_secret = oauth.client_secret or env.get("SLACK_CLIENT_SECRET") or ""
    if not client_secret:
        raise ConfigError(
            "SLACK_CLIENT_SECRET is not set: slack.oauth needs the app's Client Secret "
            "(Basic Information → App Credentials)"
        )
    secret = slack.signing_secret or env.get("SLACK_SIGNING_SECRET") or ""
    if not secret:
        raise ConfigError(
            "SLACK_SIGNING_SECRET is not set: slack.oauth runs in HTTP mode, which needs the "
            "app's Signing Secret (Basic Information → App Credentials)"
        )
    if slack.app_token or env.get("SLACK_APP_TOKEN"):
        raise ConfigError(
            "SLACK_APP_TOKEN is set, but slack.oauth needs HTTP mode (Slack sends installers "
            "to /slack/oauth_redirect): unset SLACK_APP_TOKEN and give the app a Request URL"
        )
    return OAuthCredentials(
        client_id=client_id,
        client_secret=client_secret,
        signing_secret=secret,
        key=token_key(env),
        installations=oauth.installations,
        redirect_uri=oauth.redirect_uri,
    )


def authorization_url(api_url: str) -> str:
    """Slack's consent page beside its Web API (GovSlack: slack-gov.com)."""
    parts = urllib.parse.urlsplit(api_url)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, "/oauth/v2/authorize", "", ""))


class OAuthClient(AsyncWebClient):
    """The Web API client of the install flow: ``oauth.v2.access`` sends the app's
    credentials in an HTTP Basic header built here, as Slack asks. (slack_sdk builds it with
    ``aiohttp.BasicAuth``, deprecated since aiohttp 3.14: a warning at each installation.)"""

    async def oauth_v2_access(
        self,
        *,
        client_id: str,
        client_secret: str,
        code: str | None = None,
        redirect_uri: str | None = None,
        grant_type: str | None = None,
        refresh_token: str | None = None,
        **kwargs: Any,
    ) -> AsyncSlackResponse:
        given = {
            "code": code,
            "redirect_uri": redirect_uri,
            "grant_type": grant_type,
            "refresh_token": refresh_token,
        }
        kwargs.update({k: v for k, v in given.items() if v is not None})
        basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode("ascii")
        return await self.api_call(
            "oauth.v2.access", data=kwargs, headers={"Authorization": f"Basic {basic}"}
        )


def _bolt_request(request: web.Request) -> AsyncBoltRequest:
    headers: dict[str, str | Sequence[str]] = {
        k.lower(): request.headers.getall(k) for k in request.headers
    }
    return AsyncBoltRequest(body="", query=request.query_string, headers=headers)


class OAuthRoutes:
    """The install page and the redirect, as aiohttp handlers over one ``AsyncOAuthFlow``."""

    def __init__(
        self,
        flow: AsyncOAuthFlow,
        installations: EncryptedInstallationStore,
        *,
        on_installed: Callable[[str], Any] | None = None,
    ) -> None:
        self.flow = flow
        self.installations = installations
        self.on_installed = on_installed
        self.install_path = flow.install_path
        self.redirect_path = flow.redirect_uri_path

    @classmethod
    def build(
        cls,
        creds: OAuthCredentials,
        *,
        api_url: str,
        client: AsyncWebClient | None = None,
        on_installed: Callable[[str], Any] | None = None,
        state_ttl_s: int = STATE_TTL_S,
        max_states: int = MAX_STATES,
    ) -> OAuthRoutes:
        installations = EncryptedInstallationStore(
            database=creds.installations, client_id=creds.client_id, key=creds.key
        )
        routes: OAuthRoutes

        async def success(args: AsyncSuccessArgs) -> BoltResponse:
            return await routes._installed(args)

        async def failure(args: AsyncFailureArgs) -> BoltResponse:
            # The reason is bolt's word (invalid_state, invalid_browser, access_denied …);
            # never the code or the query string.
            log.warning("refused an installation: %s", args.reason)
            return await args.default.failure(args)

        settings = AsyncOAuthSettings(
            client_id=creds.client_id,
            client_secret=creds.client_secret,
            scopes=list(BOT_SCOPES),
            user_scopes=[],
            redirect_uri=creds.redirect_uri,
            install_path=INSTALL_PATH,
            redirect_uri_path=REDIRECT_PATH,
            authorization_url=authorization_url(api_url),
            installation_store=installations,
            installation_store_bot_only=True,
            state_store=BoundedStateStore(
                database=creds.installations,
                expiration_seconds=state_ttl_s,
                limit=max_states,
                logger=log,
            ),
            state_expiration_seconds=state_ttl_s,
            callback_options=AsyncCallbackOptions(success=success, failure=failure),
            logger=log,
        )
        flow = AsyncOAuthFlow(
            client=client or OAuthClient(base_url=api_url, retry_handlers=[]),
            settings=settings,
            logger=log,
        )
        routes = cls(flow, installations, on_installed=on_installed)
        return routes

    async def _installed(self, args: AsyncSuccessArgs) -> BoltResponse:
        installation: Installation = args.installation
        team = installation.team_id or "?"
        log.warning(
            "installed in workspace %s (%s); its workflows are those with workspace: %s",
            team,
            installation.team_name or "unnamed",
            team,
        )
        if self.on_installed is not None and installation.team_id:
            outcome = self.on_installed(installation.team_id)
            if isinstance(outcome, Awaitable):
                await outcome
        return await args.default.success(args)

    async def install(self, request: web.Request) -> web.StreamResponse:
        try:
            answer = await self.flow.handle_installation(_bolt_request(request))
        except TooManyStates as exc:
            log.warning("refused to open the install page: %s (unused ones expire)", exc)
            return web.Response(
                status=429,
                text="Too many installations of Baton are under way; try again in a few minutes.",
                headers={"Retry-After": "60"},
            )
        return await to_aiohttp_response(answer)

    async def redirect(self, request: web.Request) -> web.StreamResponse:
        answer = await self.flow.handle_callback(_bolt_request(request))
        return await to_aiohttp_response(answer)

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get(self.install_path, self.install)
        app.router.add_get(self.redirect_path, self.redirect)


__all__ = [
    "INSTALL_PATH",
    "MAX_STATES",
    "REDIRECT_PATH",
    "BoundedStateStore",
    "OAuthClient",
    "OAuthCredentials",
    "OAuthRoutes",
    "TooManyStates",
    "authorization_url",
    "resolve_oauth",
]
