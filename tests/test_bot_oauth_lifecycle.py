"""Several workspaces (``slack.oauth``) over their lifetime: reinstalled, restarted, out of
reach, uninstalled, in an Enterprise Grid organisation; and the install page, opened by
anyone any number of times.

As in ``test_bot_oauth.py``: the real HTTP endpoint, the real install flow, commands and
events signed as Slack signs them, every Web API call checked against
``tests/specs/slack.web.v2.json``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest
from bot_support import SECRET
from slack_sdk.oauth.installation_store import Installation
from slack_sdk.web.async_client import AsyncWebClient
from slack_standin import SlackStandIn, signed_headers, spec_violations
from test_bot_oauth import (
    CLIENT_ID,
    CLIENT_SECRET,
    KEY,
    SINGLE_TOKEN,
    TEAM_A,
    TEAM_B,
    World,
    agencies_config,
    world,
)
from test_bot_oauth_volume import ALERTS, TEAMS, WORKFLOW, volume

from baton.bot.manifest import build_manifest, redirect_url_for
from baton.bot.workspaces import serve_workspaces
from baton.bot.workspaces.oauth import STATE_TTL_S, BoundedStateStore, resolve_oauth
from baton.probes.config import DigestSchedule
from baton.probes.health.alerts import flips
from baton.probes.health.schedule import ScheduledRun
from baton.probes.store.bot import BotStore

pytestmark = pytest.mark.anyio


async def _until(predicate: Callable[[], object], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def event(w: World, kind: str, team: str, **outer: Any) -> httpx.Response:
    """An Events API callback of type ``kind`` from ``team``, signed."""
    body = json.dumps(
        {
            "token": "deprecated-verification-token",
            "team_id": team,
            "api_app_id": "A0BATON",
            "event": {"type": kind, **({"tokens": {"bot": ["U0BOT"]}} if "tokens" in kind else {})},
            "type": "event_callback",
            "event_id": f"Ev{time.monotonic_ns()}",
            "event_time": int(time.time()),
            **outer,
        }
    )
    headers = {**signed_headers(SECRET, body), "Content-Type": "application/json"}
    return await w.http.post("/slack/events", content=body, headers=headers)


# -- A: a reinstalled workspace keeps being monitored ---------------------------------------------


async def test_a_reinstalled_workspace_is_monitored_again_without_a_request(
    tmp_path: Path,
) -> None:
    async with volume(tmp_path) as v:
        w = v.world
        # serve_workspaces' wiring: a new installation goes to Workspaces.installed, and a
        # bot let go takes its scheduler with it.
        w.routes.on_installed = w.workspaces.installed
        w.workspaces.on_forget = v.schedulers.remove
        team = TEAMS[0]
        await w.install(team)
        await _until(lambda: team in v.schedulers.by_team)  # built at once: no request
        old, _ = v.schedulers.by_team[team]

        new_token = await w.install(team, code="code-again")
        await _until(lambda: team in v.schedulers.by_team and v.schedulers.by_team[team][0] != old)
        assert not old.scheduler.running and v.shared.shares == 1
        scheduling, _ = v.schedulers.by_team[team]
        assert scheduling.bot.api.client.token == new_token

        # Its scheduled probe runs and alerts, with the new token, though nobody asked.
        w.slack.calls.clear()
        slot = ScheduledRun(WORKFLOW[team], time.time(), 0, None, ALERTS[team])
        assert await scheduling.start_run(slot) is not None
        await _until(lambda: [f.state for f in flips(v.engine.store.db)] == ["delivered"])
        assert v.posted(ALERTS[team]) == {f"Bearer {new_token}"}
        w.assert_spec()


async def test_serve_rebuilds_a_reinstalled_workspace_at_once(tmp_path: Path) -> None:
    async with SlackStandIn(token=SINGLE_TOKEN) as slack:
        slack.oauth_clients[CLIENT_ID] = CLIENT_SECRET
        config = dataclasses.replace(
            agencies_config(str(tmp_path / "installations.db")), store=str(tmp_path / "b.db")
        )
        config = dataclasses.replace(
            config, slack=dataclasses.replace(config.slack, api_url=slack.api_url)
        )
        env = {
            "SLACK_CLIENT_ID": CLIENT_ID,
            "SLACK_CLIENT_SECRET": CLIENT_SECRET,
            "SLACK_SIGNING_SECRET": SECRET,
            "BATON_TOKEN_KEY": KEY,
        }
        stop, ready = asyncio.Event(), []
        task = asyncio.create_task(
            serve_workspaces(
                config, resolve_oauth(config.slack, env), port=0, stop=stop, ready=ready.append
            )
        )
        await _until(lambda: ready or task.done())
        origin = ready[0].split(" on ")[1].split("/slack/events")[0]
        async with httpx.AsyncClient(base_url=origin) as http:
            for n in (1, 2):
                token = slack.install(f"code-{n}", team_id=TEAM_B)
                page = await http.get("/slack/install")
                state = page.headers["set-cookie"].split(";")[0].split("=", 1)[1]
                done = await http.get(
                    "/slack/oauth_redirect",
                    params={"code": f"code-{n}", "state": state},
                    headers={"Cookie": f"slack-app-oauth-state={state}"},
                )
                assert done.status_code == 200
                # The install flow's auth.test, then the bot's: built with no request sent.
                await _until(
                    lambda t=token: (
                        [  # type: ignore[misc]
                            c.headers["Authorization"] for c in slack.of("auth.test")
                        ].count(f"Bearer {t}")
                        == 2
                    )
                )
        stop.set()
        await task
        assert [p for c in slack.calls for p in spec_violations(c)] == []


# -- C: results reported outside their channel, after a restart -----------------------------------


async def test_a_restart_delivers_each_workspaces_results_reported_outside_their_channel(
    tmp_path: Path,
) -> None:
    async with world(tmp_path) as w:
        store = BotStore(w.engine.store.db)
        runs = {}
        for workflow in ("lead-to-invoice", "newsletter"):
            runs[workflow] = await w.engine.start(workflow)
            await w.engine.finish(runs[workflow])
            store.save_fallback(  # reported outside a private channel when Baton stopped
                run_id=runs[workflow],
                channel="G0SECRET",
                user="U0ALICE",
                workflow=workflow,
                response_url=None,
                url_issued_ts=None,
            )
        token_a = await w.install(TEAM_A)
        w.slack.calls.clear()
        await w.command("list", TEAM_A)  # A's bot is built: it follows A's runs left behind
        await w.workspaces.drain()

        (opened,) = w.slack.of("conversations.open")
        assert opened.params == {"users": "U0ALICE"}
        (sent,) = w.slack.of("chat.postMessage")
        assert sent.params["channel"].startswith("D") and sent.params["text"].startswith("✅")
        assert "lead-to-invoice" in sent.params["text"]
        assert w.tokens_used("chat.postMessage") == [token_a]
        delivered = store.fallback(runs["lead-to-invoice"])
        assert delivered is not None and delivered.state == "done"
        waiting = store.fallback(runs["newsletter"])  # B's: never with A's token
        assert waiting is not None and waiting.state == "running"
        w.assert_spec()


# -- D: Slack out of reach while a workspace is set up ------------------------------------------


async def test_slack_out_of_reach_while_setting_up_is_a_plain_answer_then_a_retry(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with world(tmp_path) as w:
        # A digest naming its channel by name: setting up A's bot asks conversations.list.
        digest = DigestSchedule("#probes", "0 9 * * 1", workflows=("lead-to-invoice",))
        w.workspaces.config = dataclasses.replace(
            w.workspaces.config,
            slack=dataclasses.replace(w.workspaces.config.slack, digests=[digest]),
        )
        await w.install(TEAM_A)
        real = AsyncWebClient.conversations_list

        async def unreachable(self: AsyncWebClient, **kwargs: Any) -> Any:
            raise aiohttp.ServerDisconnectedError()

        monkeypatch.setattr(AsyncWebClient, "conversations_list", unreachable)
        with caplog.at_level(logging.ERROR, "bot.workspaces"):
            answer = await w.command("list", TEAM_A)
        assert answer["response_type"] == "ephemeral"
        assert answer["text"].startswith(
            "Baton could not reach Slack to set up this workspace; try again in a moment (error E-"
        )
        eid = answer["text"].rsplit("error ", 1)[1].rstrip(").")
        assert f"{eid}: could not set up workspace {TEAM_A}" in caplog.text
        assert "Traceback" not in answer["text"]
        assert w.workspaces.bots == {} and w.workspaces._building == {}

        monkeypatch.setattr(AsyncWebClient, "conversations_list", real)
        listed = await w.command("list", TEAM_A)  # the next request sets it up
        assert "lead-to-invoice" in listed["text"]
        assert w.workspaces.bots[TEAM_A].config.slack.digests[0].channel == "C0PROBES"


async def test_an_unreadable_installation_file_is_a_plain_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with world(tmp_path) as w:
        await w.install(TEAM_A)

        async def broken(**kwargs: Any) -> Any:
            raise sqlite3.OperationalError("database is locked")

        monkeypatch.setattr(w.routes.installations, "async_find_bot", broken)
        answer = await w.command("list", TEAM_A)
        assert "could not reach Slack to set up this workspace" in answer["text"]


async def test_start_skips_a_workspace_it_cannot_set_up_and_serves_the_others(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with world(tmp_path) as w:
        await w.install(TEAM_A)
        await w.install(TEAM_B)
        w.workspaces.bots.clear()  # as at boot
        real = w.routes.installations.async_find_bot

        async def flaky(*, enterprise_id: str | None, team_id: str | None, **kw: Any) -> Any:
            if team_id == TEAM_A:
                raise aiohttp.ClientConnectionError("network is unreachable")
            return await real(enterprise_id=enterprise_id, team_id=team_id, **kw)

        monkeypatch.setattr(w.routes.installations, "async_find_bot", flaky)
        with caplog.at_level(logging.WARNING, "bot.workspaces"):
            served = await w.workspaces.start()
        assert served == [TEAM_B]
        assert f"workspace {TEAM_A} is not served yet: its next request sets it up" in caplog.text
        monkeypatch.setattr(w.routes.installations, "async_find_bot", real)
        assert "lead-to-invoice" in (await w.command("list", TEAM_A))["text"]


# -- B: the install page, opened by anyone ---------------------------------------------------------


def _states(db_file: Path) -> list[float]:
    with sqlite3.connect(db_file) as conn:
        return [r[0] for r in conn.execute("SELECT expire_at FROM oauth_states")]


async def test_install_page_visits_leave_a_bounded_number_of_states(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        store = w.routes.flow.settings.state_store
        assert isinstance(store, BoundedStateStore)
        store.limit = 50
        answers = [(await w.http.get("/slack/install")).status_code for _ in range(200)]
        assert answers.count(200) == 50 and answers.count(429) == 150
        assert len(_states(w.db_file)) == 50
        refused = await w.http.get("/slack/install")
        assert refused.status_code == 429 and "try again in a few minutes" in refused.text
        assert "set-cookie" not in refused.headers

        # Once they expire, the next visit deletes them all and is served.
        store.clock = lambda: time.time() + STATE_TTL_S + 1
        assert (await w.http.get("/slack/install")).status_code == 200
        (left,) = _states(w.db_file)
        assert left > time.time()  # the new one alone


async def test_expired_states_are_deleted_and_a_fresh_one_still_installs(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        for _ in range(5):
            await w.begin()
        store = w.routes.flow.settings.state_store
        assert isinstance(store, BoundedStateStore)
        store.clock = lambda: time.time() + STATE_TTL_S + 1
        await w.install(TEAM_A)  # issuing its state purged the 5; using it deleted it
        assert _states(w.db_file) == []
        assert await w.installed(TEAM_A) is not None


# -- E: uninstalled; Enterprise Grid ----------------------------------------------------------


@pytest.mark.parametrize("kind", ["app_uninstalled", "tokens_revoked"])
async def test_an_uninstall_stops_the_workspace_and_deletes_its_installation(
    tmp_path: Path, kind: str
) -> None:
    async with world(tmp_path) as w:
        stopped: list[str] = []
        w.workspaces.on_forget = stopped.append
        await w.install(TEAM_A)
        await w.install(TEAM_B)
        await w.command("list", TEAM_A)
        assert TEAM_A in w.workspaces.bots

        reply = await event(w, kind, TEAM_A)
        assert reply.status_code == 200
        assert TEAM_A not in w.workspaces.bots and stopped == [TEAM_A]
        assert await w.installed(TEAM_A) is None
        assert (
            await w.routes.installations.async_find_installation(enterprise_id=None, team_id=TEAM_A)
            is None
        )
        assert await w.installed(TEAM_B) is not None  # the other workspace is untouched
        answer = await w.command("list", TEAM_A)
        assert "not installed in this workspace" in answer["text"]
        # Said twice (both events come): still a 200, nothing else happens.
        assert (await event(w, "app_uninstalled", TEAM_A)).status_code == 200


async def test_an_enterprise_grid_installation_is_found_by_its_organisation(
    tmp_path: Path,
) -> None:
    async with world(tmp_path) as w:
        token = w.slack.install("code-grid", team_id=TEAM_A)
        w.slack.oauth_codes.pop("code-grid")
        w.slack.teams[token] = {
            "url": "https://grid.slack.com/",
            "team": "Agency A",
            "user": "baton",
            "team_id": TEAM_A,
            "user_id": "U0BOTGRID",
            "bot_id": "B0BOTGRID",
            "enterprise_id": "E0GRID",
        }
        await w.routes.installations.async_save(
            Installation(
                app_id="A0BATON",
                enterprise_id="E0GRID",
                team_id=TEAM_A,
                user_id="U0INSTALLER",
                bot_token=token,
                bot_id="B0BOTGRID",
                bot_user_id="U0BOTGRID",
            )
        )
        listed = await w.command("list", TEAM_A, enterprise_id="E0GRID")
        assert "lead-to-invoice" in listed["text"]
        assert w.tokens_used("auth.test") == [token]

        # At start-up no request says the organisation: the installation still names it.
        await w.workspaces.aclose(timeout_s=1)
        w.workspaces.bots.clear()
        assert await w.workspaces.start() == [TEAM_A]

        # Uninstalled from the organisation's workspace: that installation is deleted.
        assert (
            await event(w, "app_uninstalled", TEAM_A, enterprise_id="E0GRID")
        ).status_code == 200
        assert (
            await w.routes.installations.async_find_bot(enterprise_id="E0GRID", team_id=TEAM_A)
            is None
        )
        w.assert_spec()


def test_the_manifest_subscribes_to_uninstalls_with_oauth() -> None:
    url = "https://baton.example.com/slack/events"
    oauth = build_manifest(url=url, redirect_url=redirect_url_for(url))
    events = oauth["settings"]["event_subscriptions"]["bot_events"]
    assert {"app_home_opened", "app_uninstalled", "tokens_revoked"} <= set(events)
    plain = build_manifest(url=url)  # one bot token: nothing to delete on uninstall
    assert plain["settings"]["event_subscriptions"]["bot_events"] == ["app_home_opened"]
