"""The App Home with several workspaces on one store (``slack.oauth``): each workspace's bot
publishes the Home again only to the people who opened it in that workspace, with its own
token; through the real endpoint, as Slack posts ``app_home_opened`` events."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from bot_support import SECRET
from slack_standin import signed_headers
from test_bot_oauth import TEAM_A, TEAM_B, World, world

pytestmark = pytest.mark.anyio


async def home_opened(w: World, team: str, user: str) -> None:
    body = json.dumps(
        {
            "token": "deprecated-verification-token",
            "team_id": team,
            "api_app_id": "A0BATON",
            "event": {"type": "app_home_opened", "user": user, "tab": "home", "event_ts": "1.0"},
            "type": "event_callback",
            "event_id": f"Ev{time.monotonic_ns()}",
            "event_time": int(time.time()),
        }
    ).encode()
    headers = {**signed_headers(SECRET, body), "Content-Type": "application/json"}
    reply = await w.http.post("/slack/events", content=body, headers=headers)
    assert reply.status_code == 200, reply.text


def published(w: World) -> list[tuple[str, str]]:
    """Each views.publish: for whom, with which token."""
    return [
        (c.params["user_id"], c.headers["Authorization"].removeprefix("Bearer "))
        for c in w.slack.of("views.publish")
    ]


def home_of(w: World, user: str) -> list[Any]:
    return [b["text"]["text"] for b in w.slack.homes[user]["blocks"] if b["type"] == "section"]


async def test_a_workspaces_home_refresh_never_publishes_to_another_workspaces_people(
    tmp_path: Path,
) -> None:
    async with world(tmp_path) as w:
        token_a = await w.install(TEAM_A)
        token_b = await w.install(TEAM_B)
        for team in (TEAM_A, TEAM_B):
            bot = await w.workspaces.bot_for(team)
            assert bot is not None
            bot.run_ui.home.refresh_every_s = bot.run_ui.home.settle_s = 0.0
        await home_opened(w, TEAM_A, "U0ALICE")
        await home_opened(w, TEAM_B, "U0BOB")
        await w.workspaces.drain()
        assert sorted(published(w)) == [("U0ALICE", token_a), ("U0BOB", token_b)]
        assert home_of(w, "U0ALICE")[0].startswith("⚪ *lead-to-invoice*")
        assert len(home_of(w, "U0ALICE")) == 1  # A's workflows only

        w.slack.calls.clear()
        assert await w.command("run newsletter", TEAM_B, channel_id="C0OPS") == {}
        await w.workspaces.drain()
        # B's run ended: B's Home is published again to B's viewer alone, never to A's
        assert published(w) == [("U0BOB", token_b)]
        assert len(home_of(w, "U0ALICE")) == 1 and "newsletter" not in str(home_of(w, "U0ALICE"))

        w.slack.calls.clear()
        assert await w.command("run lead-to-invoice", TEAM_A, channel_id="C0PROBES") == {}
        await w.workspaces.drain()
        assert published(w) == [("U0ALICE", token_a)]

        # Alice opens B's Home too (she is in both): each workspace now knows her, apart
        w.slack.calls.clear()
        await home_opened(w, TEAM_B, "U0ALICE")
        await w.workspaces.drain()
        assert published(w) == [("U0ALICE", token_b)]
        w.slack.calls.clear()
        again = await w.command("run lead-to-invoice", TEAM_A, channel_id="C0PROBES", user_id="U0C")
        assert again == {}
        await w.workspaces.drain()
        assert published(w) == [("U0ALICE", token_a)]
        w.assert_spec()
