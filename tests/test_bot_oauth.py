"""Several workspaces (``slack.oauth``): the install flow against the Slack stand-in, the
encrypted installation store, and signed commands routed to each workspace's own bot.

Everything goes through the real HTTP endpoint: ``GET /slack/install`` (page and state
cookie), ``GET /slack/oauth_redirect`` (state checks, ``oauth.v2.access``), then slash
commands signed as Slack signs them, from team A and team B. Every Web API call is checked
against ``tests/specs/slack.web.v2.json``, and the token it carried is compared with the one
issued to that workspace.
"""

from __future__ import annotations

import asyncio
import dataclasses
import html
import logging
import re
import time
import urllib.parse
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlite_utils
import yaml
from bot_support import SECRET, FakeEngine, sample_config
from click.testing import CliRunner
from cryptography.fernet import Fernet, MultiFernet
from slack_sdk.oauth.installation_store import Bot as InstalledBot
from slack_sdk.oauth.installation_store import Installation
from slack_sdk.web.async_client import AsyncWebClient
from slack_standin import (
    SlackStandIn,
    response_url_violations,
    signed_headers,
    slash_body,
    spec_violations,
)

from baton.bot.app import Bot, BotSettings
from baton.bot.cli import manifest, serve
from baton.bot.scheduler import BotScheduler
from baton.bot.serve import _this_workspace
from baton.bot.server import start_http
from baton.bot.workspaces import ScopedEngine, Workspaces, for_workspace, serve_workspaces
from baton.bot.workspaces.installations import EncryptedInstallationStore, token_key
from baton.bot.workspaces.oauth import OAuthClient, OAuthCredentials, OAuthRoutes, resolve_oauth
from baton.probes.config import Config, SlackConfig, SlackOAuthConfig, load_config_text
from baton.probes.config.windows import AlertPolicy
from baton.probes.errors import ConfigError
from baton.probes.health.alerts import flips
from baton.probes.store import Store

pytestmark = pytest.mark.anyio

TEAM_A, TEAM_B = "T0AGENCYA", "T0AGENCYB"
CLIENT_ID, CLIENT_SECRET = "1234567890.0987654321", "c1e2n3t4s5e6c7r8e9t0"
KEY = Fernet.generate_key().decode()
#: The single-workspace token: no request of a workspace installed over OAuth may use it.
SINGLE_TOKEN = "xoxb-single-workspace-token"


def agencies_config(installations: str) -> Config:
    """sample_config's two workflows, one per agency."""
    config = sample_config()
    one = AlertPolicy(failures_before_alert=1)
    workflows = {
        "lead-to-invoice": dataclasses.replace(
            config.workflows["lead-to-invoice"], workspace=TEAM_A, alerts=one
        ),
        "newsletter": dataclasses.replace(
            config.workflows["newsletter"], workspace=TEAM_B, alerts=one
        ),
    }
    slack = SlackConfig(oauth=SlackOAuthConfig(installations=installations))
    return dataclasses.replace(config, workflows=workflows, slack=slack)


@dataclass
class World:
    slack: SlackStandIn
    http: httpx.AsyncClient
    workspaces: Workspaces
    routes: OAuthRoutes
    engine: FakeEngine
    db_file: Path

    async def install(self, team: str, *, code: str | None = None) -> str:
        """The whole flow, as a browser does it; the token Slack issued."""
        code = code or f"code-{team}"
        token = self.slack.install(code, team_id=team, team_name=f"Agency {team[-1]}")
        state, cookie = await self.begin()
        reply = await self.http.get(
            "/slack/oauth_redirect",
            params={"code": code, "state": state},
            headers={"Cookie": cookie},
        )
        assert reply.status_code == 200, reply.text
        return token

    async def begin(self) -> tuple[str, str]:
        """``GET /slack/install``: the state in the "Add to Slack" link, and the cookie."""
        page = await self.http.get("/slack/install")
        assert page.status_code == 200
        found = re.search(r'<a href="([^"]+)"', page.text)
        assert found is not None, page.text
        link = html.unescape(found.group(1))
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(link).query)
        assert link.startswith(f"{self.slack.url}/oauth/v2/authorize?")
        assert query["client_id"] == [CLIENT_ID]
        assert "commands" in query["scope"][0].split(",")
        cookie = page.headers["set-cookie"].split(";")[0]
        assert cookie == f"slack-app-oauth-state={query['state'][0]}"
        return query["state"][0], cookie

    async def command(self, text: str, team: str, **fields: str) -> dict[str, Any]:
        body = slash_body(text, team_id=team, **fields)
        reply = await self.http.post(
            "/slack/events", content=body, headers=signed_headers(SECRET, body)
        )
        assert reply.status_code == 200, reply.text
        return reply.json() if reply.text else {}

    async def installed(self, team: str) -> InstalledBot | None:
        return await self.routes.installations.async_find_bot(enterprise_id=None, team_id=team)

    def sent(self) -> set[tuple[str, str]]:
        """Each channel posted to, with the Authorization header of the post."""
        return {
            (c.params["channel"], c.headers["Authorization"])
            for c in self.slack.of("chat.postMessage")
        }

    def tokens_used(self, method: str) -> list[str]:
        return [c.headers["Authorization"].removeprefix("Bearer ") for c in self.slack.of(method)]

    def assert_spec(self) -> None:
        assert [p for c in self.slack.calls for p in spec_violations(c)] == []


def oauth_creds(db_file: Path) -> OAuthCredentials:
    """The app's OAuth credentials in these tests, its installations in ``db_file``."""
    return OAuthCredentials(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        signing_secret=SECRET,
        key=token_key({"BATON_TOKEN_KEY": KEY}),
        installations=str(db_file),
    )


def bot_factory(engine: Any, db: sqlite_utils.Database) -> Callable[[Config, AsyncWebClient], Bot]:
    """Builds each workspace's bot as ``serve_workspaces`` does, over ``engine``'s runs."""

    def make_bot(team_config: Config, client: AsyncWebClient) -> Bot:
        return Bot(
            config=team_config,
            engine=ScopedEngine(engine, team_config.workflows),
            client=client,
            db=db,
            signing_secret=SECRET,
            settings=BotSettings(update_interval_s=0.05, resume_poll_s=0.01),
        )

    return make_bot


@asynccontextmanager
async def world(tmp_path: Path) -> AsyncIterator[World]:
    db_file = tmp_path / "installations.db"
    config = agencies_config(str(db_file))
    db = sqlite_utils.Database(memory=True)
    engine = FakeEngine(config, store=Store(db))
    creds = oauth_creds(db_file)
    async with SlackStandIn(token=SINGLE_TOKEN) as slack:
        slack.oauth_clients[CLIENT_ID] = CLIENT_SECRET

        make_bot = bot_factory(engine, db)

        routes = OAuthRoutes.build(
            creds,
            api_url=slack.api_url,
            client=OAuthClient(base_url=slack.api_url, retry_handlers=[]),
            on_installed=lambda team: workspaces.forget(team),
        )
        workspaces = Workspaces(
            config=config,
            installations=routes.installations,
            make_bot=make_bot,
            api_url=slack.api_url,
            oauth=routes,
        )
        runner, port = await start_http(workspaces, signing_secret=SECRET, port=0)
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
                yield World(slack, http, workspaces, routes, engine, db_file)
        finally:
            await workspaces.aclose(timeout_s=5)
            await runner.cleanup()


# -- the install flow --------------------------------------------------------------------------


async def test_an_installation_is_stored_with_its_tokens_encrypted(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        token = await w.install(TEAM_A)

        (access,) = w.slack.of("oauth.v2.access")
        assert access.params["code"] == f"code-{TEAM_A}"
        assert access.headers["Authorization"].startswith("Basic ")  # client id and secret
        assert w.tokens_used("auth.test") == [token]  # bolt learns the bot's id
        w.assert_spec()

        found = await w.routes.installations.async_find_bot(enterprise_id=None, team_id=TEAM_A)
        assert found is not None
        assert (found.bot_token, found.team_id, found.bot_user_id) == (
            token,
            TEAM_A,
            "U0BOT0AGEN",
        )
        raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
        assert token.encode() not in raw and b"xoxb-" not in raw
        assert TEAM_A.encode() in raw  # the file is the one written: only the tokens hidden


async def test_every_secret_of_an_installation_is_encrypted_at_rest(tmp_path: Path) -> None:
    db_file = tmp_path / "i.db"
    store = EncryptedInstallationStore(
        database=str(db_file), client_id=CLIENT_ID, key=token_key({"BATON_TOKEN_KEY": KEY})
    )
    secrets = {
        "bot_token": "xoxb-bot-secret-1",
        "bot_refresh_token": "xoxe-1-bot-refresh-secret",
        "user_token": "xoxp-user-secret-2",
        "user_refresh_token": "xoxe-1-user-refresh-secret",
        "incoming_webhook_url": "https://hooks.slack.com/services/T0/B0/hook-secret",
    }
    await store.async_save(
        Installation(
            app_id="A0BATON",
            team_id=TEAM_A,
            user_id="U0INSTALLER",
            bot_id="B0BOT",
            bot_user_id="U0BOT",
            **secrets,  # type: ignore[arg-type]
        )
    )
    raw = db_file.read_bytes()
    assert [s for s in secrets.values() if s.encode() in raw] == []

    found = await store.async_find_installation(enterprise_id=None, team_id=TEAM_A)
    assert found is not None
    assert {k: getattr(found, k) for k in secrets} == secrets
    bot = await store.async_find_bot(enterprise_id=None, team_id=TEAM_A)
    assert bot is not None and bot.bot_refresh_token == secrets["bot_refresh_token"]

    # A rotated key list (new first, old after) still reads it; a wrong key reads nothing.
    rotated = token_key({"BATON_TOKEN_KEY": f"{Fernet.generate_key().decode()},{KEY}"})
    store.key = rotated
    assert (await store.async_find_bot(enterprise_id=None, team_id=TEAM_A)) is not None
    store.key = MultiFernet([Fernet(Fernet.generate_key())])
    assert (await store.async_find_bot(enterprise_id=None, team_id=TEAM_A)) is None


@pytest.mark.parametrize(
    ("state", "cookie", "status"),
    [
        pytest.param(None, None, 400, id="no-state"),
        pytest.param("forged", "slack-app-oauth-state=forged", 401, id="forged-state"),
        pytest.param("issued", None, 400, id="state-without-its-cookie"),
        pytest.param("issued", "slack-app-oauth-state=other", 400, id="cookie-of-another"),
    ],
)
async def test_a_missing_or_forged_state_is_refused(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    state: str | None,
    cookie: str | None,
    status: int,
) -> None:
    async with world(tmp_path) as w:
        w.slack.install("code-x", team_id=TEAM_A)
        issued, _ = await w.begin()
        params = {"code": "code-x"}
        if state is not None:
            params["state"] = issued if state == "issued" else state
        headers = {"Cookie": cookie} if cookie else {}
        with caplog.at_level(logging.WARNING, "bot.oauth"):
            reply = await w.http.get("/slack/oauth_redirect", params=params, headers=headers)
        assert reply.status_code == status
        assert w.slack.of("oauth.v2.access") == []  # the code is never exchanged
        assert (
            await w.routes.installations.async_find_bot(enterprise_id=None, team_id=TEAM_A) is None
        )
        assert "refused an installation: invalid_" in caplog.text
        assert "code-x" not in caplog.text


async def test_a_state_is_used_once(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        w.slack.install("code-1", team_id=TEAM_A)
        w.slack.install("code-2", team_id=TEAM_A)
        state, cookie = await w.begin()
        first = await w.http.get(
            "/slack/oauth_redirect",
            params={"code": "code-1", "state": state},
            headers={"Cookie": cookie},
        )
        again = await w.http.get(
            "/slack/oauth_redirect",
            params={"code": "code-2", "state": state},
            headers={"Cookie": cookie},
        )
        assert (first.status_code, again.status_code) == (200, 401)
        assert len(w.slack.of("oauth.v2.access")) == 1


async def test_a_code_slack_refuses_stores_nothing(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        state, cookie = await w.begin()
        reply = await w.http.get(
            "/slack/oauth_redirect",
            params={"code": "never-issued", "state": state},
            headers={"Cookie": cookie},
        )
        assert reply.status_code == 401
        assert [c.answer["error"] for c in w.slack.of("oauth.v2.access")] == ["invalid_code"]
        assert (
            await w.routes.installations.async_find_bot(enterprise_id=None, team_id=TEAM_A) is None
        )


# -- each workspace, its own token and workflows -------------------------------------------------


async def test_each_workspace_is_answered_with_its_token_and_sees_its_workflows(
    tmp_path: Path,
) -> None:
    async with world(tmp_path) as w:
        token_a = await w.install(TEAM_A)
        token_b = await w.install(TEAM_B)
        w.slack.calls.clear()

        listed_a = await w.command("list", TEAM_A)
        listed_b = await w.command("list", TEAM_B)
        assert "lead-to-invoice" in listed_a["text"] and "newsletter" not in listed_a["text"]
        assert "newsletter" in listed_b["text"] and "lead-to-invoice" not in listed_b["text"]
        # Each bot learnt who it is with its own token, once.
        assert sorted(w.tokens_used("auth.test")) == sorted([token_a, token_b])

        # Another workspace's workflow is unknown, by name and in the suggestions.
        status = await w.command("status newsletter", TEAM_A)
        assert status["text"] == "⚠️ unknown workflow 'newsletter'; known: lead-to-invoice"

        w.engine.gate = asyncio.Event()  # A's run stays in flight until released
        assert await w.command("run lead-to-invoice", TEAM_A, channel_id="C0PROBES") == {}
        await asyncio.sleep(0.05)
        in_flight_a = (await w.command("status", TEAM_A))["text"]
        in_flight_b = (await w.command("status", TEAM_B))["text"]
        assert in_flight_a.startswith("⏳ 1 probe run(s) in flight: lead-to-invoice")
        assert in_flight_b == "Nothing is running right now."  # A's run is not B's business
        w.engine.gate.set()
        assert await w.command("run newsletter", TEAM_B, channel_id="C0OPS") == {}
        await w.workspaces.drain()
        posted = {
            (c.params["channel"], c.headers["Authorization"])
            for c in w.slack.of("chat.postMessage")
        }
        assert posted == {("C0PROBES", f"Bearer {token_a}"), ("C0OPS", f"Bearer {token_b}")}
        assert {c.headers["Authorization"] for c in w.slack.of("chat.update")} == {
            f"Bearer {token_a}",
            f"Bearer {token_b}",
        }
        assert [s["workflow"] for s in w.engine.starts] == ["lead-to-invoice", "newsletter"]

        # B's history and status show its own runs only, never A's.
        status_b = await w.command("status", TEAM_B)
        assert "newsletter" in str(status_b) and "lead-to-invoice" not in str(status_b)
        status_a = await w.command("status", TEAM_A)
        assert "lead-to-invoice" in str(status_a) and "newsletter" not in str(status_a)
        w.assert_spec()


async def test_a_workspace_cannot_run_another_workspaces_workflow(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        await w.install(TEAM_A)
        await w.install(TEAM_B)
        hook = w.slack.response_url("cmd")
        assert await w.command("run newsletter", TEAM_A, response_url=hook) == {}
        await w.workspaces.drain()
        assert w.engine.starts == []
        (said,) = w.slack.of("response_url")
        assert said.params["text"] == "⚠️ unknown workflow 'newsletter'"  # no hint of B's
        assert response_url_violations(said) == []


async def test_a_workspace_without_an_installation_is_told_how_to_install(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with world(tmp_path) as w:
        await w.install(TEAM_A)
        w.slack.calls.clear()
        with caplog.at_level(logging.WARNING, "bot.workspaces"):
            answer = await w.command("run newsletter", TEAM_B)
        assert answer["response_type"] == "ephemeral"
        assert "not installed in this workspace" in answer["text"]
        assert "/slack/install" in answer["text"]
        assert w.slack.calls == [] and w.engine.starts == []
        assert "Baton is not installed there" in caplog.text


async def test_a_forged_team_signature_is_still_refused_at_the_edge(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        await w.install(TEAM_A)
        body = slash_body("run lead-to-invoice", team_id=TEAM_A)
        reply = await w.http.post(
            "/slack/events", content=body, headers=signed_headers("not-the-secret", body)
        )
        assert reply.status_code == 401
        assert w.engine.starts == []


async def test_a_revoked_installation_is_told_to_reinstall(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with world(tmp_path) as w:
        token = await w.install(TEAM_A)
        del w.slack.teams[token]  # the app was removed from the workspace: token revoked
        with caplog.at_level(logging.WARNING, "bot.workspaces"):
            answer = await w.command("list", TEAM_A)
        assert answer["text"].startswith("Baton is not installed in this workspace (or its")
        assert f"the installation of workspace {TEAM_A} no longer works" in caplog.text
        assert token not in caplog.text
        assert w.engine.starts == []


async def test_an_installation_the_key_cannot_open_reads_as_not_installed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with world(tmp_path) as w:
        await w.install(TEAM_A)
        w.routes.installations.key = MultiFernet([Fernet(Fernet.generate_key())])
        with caplog.at_level(logging.WARNING):
            answer = await w.command("list", TEAM_A)
        assert "not installed in this workspace" in answer["text"]
        assert (
            f"the installation of workspace {TEAM_A} cannot be decrypted with BATON_TOKEN_KEY"
            in caplog.text
        )


async def test_a_reinstallation_is_answered_with_the_new_token(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        old = await w.install(TEAM_A)
        await w.command("list", TEAM_A)
        new = await w.install(TEAM_A, code="code-again")
        assert new != old
        w.slack.calls.clear()
        await w.command("list", TEAM_A)
        assert w.tokens_used("auth.test") == [new]


async def test_scheduled_results_alert_each_workspace_with_its_own_token(
    tmp_path: Path,
) -> None:
    async with world(tmp_path) as w:
        tokens = {TEAM_A: await w.install(TEAM_A), TEAM_B: await w.install(TEAM_B)}
        w.engine.outcome = "drop"
        channels = {TEAM_A: "C0ALERTA", TEAM_B: "C0ALERTB"}
        scheduling = {}
        for team, workflow in ((TEAM_A, "lead-to-invoice"), (TEAM_B, "newsletter")):
            bot = await w.workspaces.bot_for(team)
            assert bot is not None
            engine = ScopedEngine(w.engine, bot.config.workflows)
            scheduling[team] = BotScheduler(bot=bot, engine=engine)
            origin = {"schedule": {"slot_ts": 1.0}, "channel": channels[team]}
            run_id = await w.engine.start(workflow, origin=origin)
            await w.engine.finish(run_id)
            bot.store.remember_scheduled(
                run_id=run_id, workflow=workflow, channel=channels[team], slot_ts=1.0
            )
        w.slack.calls.clear()

        # A's scheduler alerts on A's run alone, with A's token; B's alert waits for B's.
        assert await scheduling[TEAM_A].observe_finished() == 1
        sent = {
            (c.params["channel"], c.headers["Authorization"])
            for c in w.slack.of("chat.postMessage")
        }
        assert sent == {(channels[TEAM_A], f"Bearer {tokens[TEAM_A]}")}
        states = {f.workflow: f.state for f in flips(w.engine.store.db)}
        assert states == {"lead-to-invoice": "delivered"}

        assert await scheduling[TEAM_B].observe_finished() == 1
        sent = {
            (c.params["channel"], c.headers["Authorization"])
            for c in w.slack.of("chat.postMessage")
        }
        assert sent == {
            (channels[TEAM_A], f"Bearer {tokens[TEAM_A]}"),
            (channels[TEAM_B], f"Bearer {tokens[TEAM_B]}"),
        }
        assert {f.workflow: f.state for f in flips(w.engine.store.db)} == {
            "lead-to-invoice": "delivered",
            "newsletter": "delivered",
        }
        w.assert_spec()


def test_with_oauth_a_digest_names_the_workflows_of_one_workspace() -> None:
    text = CONFIG.replace("  other:\n", "  other:\n    workspace: T0B\n") % (
        TEAM_A,
        "  oauth: {}\n  digests:\n"
        "    - {channel: C0D, cron: '0 9 * * 1'}\n"
        "    - {channel: C0D, cron: '0 9 * * 1', workflows: [welcome, other]}\n"
        "    - {channel: C0D, cron: '0 9 * * 1', workflows: [welcome]}\n"
        "    - {channel: '', cron: '0 9 * * 1'}",
    )
    with pytest.raises(ConfigError) as caught:
        load_config_text(text, path="b.yaml", env=ENV)
    assert str(caught.value).splitlines() == [
        "b.yaml:18: slack.digests[0]: with slack.oauth a digest names its workflows, all of one "
        "workspace: each workspace sees only its own",
        "b.yaml:19: slack.digests[1].workflows: with slack.oauth a digest names its workflows, "
        f"all of one workspace (these are of {TEAM_A}, T0B): each workspace sees only its own",
    ]


# -- config and start-up -----------------------------------------------------------------------


def test_for_workspace_keeps_that_workspaces_workflows_only(tmp_path: Path) -> None:
    config = agencies_config(str(tmp_path / "i.db"))
    assert list(for_workspace(config, TEAM_A).workflows) == ["lead-to-invoice"]
    assert list(for_workspace(config, TEAM_B).workflows) == ["newsletter"]
    assert list(for_workspace(config, "T0OTHER").workflows) == []


CONFIG = """\
tools:
  form: {type: webhook, url: "http://127.0.0.1:9/hook"}
  mail: {type: sendgrid, credentials: {token: "${SG_KEY}"}}
workflows:
  welcome:
    workspace: %s
    stages:
      - {name: form, tool: form}
      - {name: mail, tool: mail, after: form}
  other:
    stages:
      - {name: form, tool: form}
      - {name: mail, tool: mail, after: form}
slack:
%s
"""
ENV = {"SG_KEY": "SG.test"}


def test_a_workspace_is_a_team_id_named_with_file_and_line() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config_text(CONFIG % ("agency-a", "  command: /baton"), path="b.yaml", env=ENV)
    assert str(caught.value).splitlines() == [
        "b.yaml:6: workflows.welcome.workspace: a workspace is its Slack team ID (T followed by "
        "capitals and digits, e.g. T0123ABCD; Baton names it when the app is installed there), "
        "not 'agency-a'"
    ]


def test_with_oauth_every_workflow_names_its_workspace() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config_text(CONFIG % (TEAM_A, "  oauth: {}"), path="b.yaml", env=ENV)
    (line,) = str(caught.value).splitlines()
    assert line.startswith("b.yaml:10: workflows.other: needs workspace: (the team ID")


def test_oauth_settings_and_workspaces_load(tmp_path: Path) -> None:
    text = CONFIG.replace("  other:\n    stages", "  other:\n    workspace: T0B\n    stages") % (
        TEAM_A,
        "  oauth:\n    client_id: ${SLACK_CLIENT_ID}\n    client_secret: ${SLACK_CLIENT_SECRET}\n"
        "    installations: agencies.db",
    )
    path = tmp_path / "b.yaml"
    path.write_text(text)
    env = {**ENV, "SLACK_CLIENT_ID": CLIENT_ID, "SLACK_CLIENT_SECRET": CLIENT_SECRET}
    config = load_config_text(text, path=str(path), env=env)
    assert config.slack.oauth == SlackOAuthConfig(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        installations=str(tmp_path / "agencies.db"),
    )
    assert CLIENT_SECRET not in repr(config.slack.oauth)
    assert {n: wf.workspace for n, wf in config.workflows.items()} == {
        "welcome": TEAM_A,
        "other": "T0B",
    }


def test_a_literal_client_secret_is_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config_text(
            CONFIG % (TEAM_A, "  oauth: {client_secret: abc123}"), path="b.yaml", env=ENV
        )
    assert "b.yaml:15: slack.oauth.client_secret: put secrets in an environment variable" in str(
        caught.value
    )
    assert "abc123" not in str(caught.value)


@pytest.mark.parametrize(
    ("env", "says"),
    [
        pytest.param({}, "BATON_TOKEN_KEY is not set", id="no-key"),
        pytest.param(
            {"BATON_TOKEN_KEY": "not-a-key"}, "BATON_TOKEN_KEY is not a Fernet key", id="bad-key"
        ),
        pytest.param(
            {"BATON_TOKEN_KEY": f"{KEY},short"}, "key 2 of BATON_TOKEN_KEY is not", id="bad-2nd"
        ),
    ],
)
def test_serve_refuses_a_missing_or_bad_key_in_one_line(
    tmp_path: Path, env: dict[str, str], says: str
) -> None:
    path = tmp_path / "b.yaml"
    path.write_text(
        CONFIG.replace("  other:\n", "  other:\n    workspace: T0B\n") % (TEAM_A, "  oauth: {}")
    )
    full = {
        **ENV,
        **env,
        "SLACK_CLIENT_ID": CLIENT_ID,
        "SLACK_CLIENT_SECRET": CLIENT_SECRET,
        "SLACK_SIGNING_SECRET": SECRET,
    }
    result = CliRunner().invoke(serve, ["-c", str(path)], env=full)
    assert result.exit_code == 2, result.output
    (line,) = result.output.strip().splitlines()
    assert says in line and "Traceback" not in result.output
    assert "not-a-key" not in line


@pytest.mark.parametrize(
    ("env", "says"),
    [
        pytest.param({}, "SLACK_CLIENT_ID is not set", id="no-client-id"),
        pytest.param({"SLACK_CLIENT_ID": CLIENT_ID}, "SLACK_CLIENT_SECRET is not set", id="secret"),
        pytest.param(
            {"SLACK_CLIENT_ID": CLIENT_ID, "SLACK_CLIENT_SECRET": CLIENT_SECRET},
            "SLACK_SIGNING_SECRET is not set",
            id="signing",
        ),
        pytest.param(
            {
                "SLACK_CLIENT_ID": CLIENT_ID,
                "SLACK_CLIENT_SECRET": CLIENT_SECRET,
                "SLACK_SIGNING_SECRET": SECRET,
                "SLACK_APP_TOKEN": "xapp-1",
            },
            "needs HTTP mode",
            id="socket-mode",
        ),
    ],
)
def test_resolve_oauth_names_what_is_missing(env: dict[str, str], says: str) -> None:
    slack = SlackConfig(oauth=SlackOAuthConfig())
    with pytest.raises(ConfigError, match=says):
        resolve_oauth(slack, {"BATON_TOKEN_KEY": KEY, **env})


# -- baton serve, end to end -------------------------------------------------------------------


async def _until(predicate: Callable[[], object], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_serve_with_oauth_installs_then_answers_each_workspace(tmp_path: Path) -> None:
    async with SlackStandIn(token=SINGLE_TOKEN) as slack:
        slack.oauth_clients[CLIENT_ID] = CLIENT_SECRET
        config = dataclasses.replace(
            agencies_config(str(tmp_path / "installations.db")),
            store=str(tmp_path / "baton.db"),
        )
        config = dataclasses.replace(
            config, slack=dataclasses.replace(config.slack, api_url=slack.api_url)
        )
        creds = resolve_oauth(
            config.slack,
            {
                "SLACK_CLIENT_ID": CLIENT_ID,
                "SLACK_CLIENT_SECRET": CLIENT_SECRET,
                "SLACK_SIGNING_SECRET": SECRET,
                "BATON_TOKEN_KEY": KEY,
            },
        )
        stop, ready = asyncio.Event(), []
        task = asyncio.create_task(
            serve_workspaces(config, creds, port=0, stop=stop, ready=ready.append)
        )
        await _until(lambda: ready or task.done())
        assert ready[0].startswith("listening for /baton on http://127.0.0.1:")
        assert "in 0 installed workspace(s)" in ready[0]
        origin = ready[0].split(" on ")[1].split("/slack/events")[0]
        token = slack.install("code-1", team_id=TEAM_B)
        async with httpx.AsyncClient(base_url=origin) as http:
            page = await http.get("/slack/install")
            state = page.headers["set-cookie"].split(";")[0].split("=", 1)[1]
            done = await http.get(
                "/slack/oauth_redirect",
                params={"code": "code-1", "state": state},
                headers={"Cookie": f"slack-app-oauth-state={state}"},
            )
            assert done.status_code == 200
            body = slash_body("list", team_id=TEAM_B)
            listed = await http.post(
                "/slack/events", content=body, headers=signed_headers(SECRET, body)
            )
        assert listed.json()["text"].startswith("1 workflows: newsletter (never run)")
        stop.set()
        await task
        assert [c.method for c in slack.calls] == ["oauth.v2.access", "auth.test", "auth.test"]
        assert {c.headers.get("Authorization") for c in slack.calls[1:]} == {f"Bearer {token}"}
        assert [p for c in slack.calls for p in spec_violations(c)] == []


def test_with_one_bot_token_another_workspaces_workflows_are_left_out(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    config = agencies_config(str(tmp_path / "i.db"))
    unassigned = dataclasses.replace(config.workflows["newsletter"], name="shared", workspace=None)
    config = dataclasses.replace(config, workflows={**config.workflows, "shared": unassigned})
    with caplog.at_level(logging.WARNING, "bot.serve"):
        mine = _this_workspace(config, TEAM_A)
    assert sorted(mine.workflows) == ["lead-to-invoice", "shared"]
    assert (
        f"not serving newsletter here: their workspace: is not this bot token's workspace {TEAM_A}"
    ) in caplog.text
    assert _this_workspace(sample_config(), TEAM_A) == sample_config()


def test_the_manifest_for_oauth_names_the_redirect_url(tmp_path: Path) -> None:
    url = "https://baton.example.com/slack/events"
    result = CliRunner().invoke(manifest, ["--oauth", "--url", url])
    assert result.exit_code == 0, result.output
    data = yaml.safe_load(result.output)
    assert data["oauth_config"]["redirect_urls"] == [
        "https://baton.example.com/slack/oauth_redirect"
    ]
    assert data["oauth_config"]["scopes"]["bot"][0] == "commands"
    assert data["settings"]["socket_mode_enabled"] is False

    # A config with slack.oauth is enough; without --url it is one clear line.
    path = tmp_path / "b.yaml"
    text = CONFIG.replace("  other:\n", "  other:\n    workspace: T0B\n")
    path.write_text(text % (TEAM_A, "  oauth: {}"))
    from_config = CliRunner().invoke(manifest, ["--url", url, "-c", str(path)], env=ENV)
    assert yaml.safe_load(from_config.output)["oauth_config"] == data["oauth_config"]
    no_url = CliRunner().invoke(manifest, ["-c", str(path)], env=ENV)
    assert no_url.exit_code == 2
    assert "OAuth installation needs HTTP mode: give --url" in no_url.output
    # Without OAuth: as before, no redirect URL.
    plain = yaml.safe_load(CliRunner().invoke(manifest, ["--url", url]).output)
    assert "redirect_urls" not in plain["oauth_config"]
