"""Interactivity over Socket Mode: ``baton serve`` with an app-level token, connected to the
stand-in's socket, the real engine probing the sandbox. A button press and a modal
submission arrive in ``interactive`` envelopes, as Slack sends them, and pass the same gate
as over HTTP (workspace, allowlist, once per press, recorded); the ack goes back on the
socket, with the modal's ``response_action`` in its payload when a field is wrong.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from bot_support import BOT_TOKEN
from slack_standin import SlackStandIn, spec_violations
from test_bot_cli import APP_TOKEN, _until
from test_bot_run_ui import press, submission
from test_bot_sandbox import fast

from baton.bot.serve import Tokens
from baton.bot.serve import serve as run_serve
from baton.probes.demo import sandbox_config
from baton.probes.sandbox import Sandbox

pytestmark = pytest.mark.anyio

CHANNEL = "C0PROBES"


@asynccontextmanager
async def serving(tmp_path: Path, **slack: Any) -> AsyncIterator[tuple[SlackStandIn, Path]]:
    """``baton serve`` in Socket Mode against the stand-in and the sandbox; yields the
    stand-in (connected) and the store's path. Stops serve, then checks every call."""
    sandbox = Sandbox(seed=1, search_lag_s=0.05, glue_delay_s=(0.0, 0.05))
    await asyncio.to_thread(sandbox.start)
    try:
        async with SlackStandIn(token=BOT_TOKEN, app_token=APP_TOKEN) as stand_in:
            base = fast(sandbox_config(sandbox.url))
            db = tmp_path / "baton.db"
            config = dataclasses.replace(
                base,
                store=str(db),
                slack=dataclasses.replace(base.slack, api_url=stand_in.api_url, **slack),
            )
            tokens = Tokens(bot_token=BOT_TOKEN, signing_secret=None, app_token=APP_TOKEN)
            stop, ready = asyncio.Event(), []
            task = asyncio.create_task(run_serve(config, tokens, stop=stop, ready=ready.append))
            await _until(lambda: ready or task.done())
            assert not task.done(), task
            await stand_in.connected()
            try:
                yield stand_in, db
            finally:
                stop.set()
                await task
            assert [p for c in stand_in.calls for p in spec_violations(c)] == []
    finally:
        await asyncio.to_thread(sandbox.stop)


def verdicts(slack: SlackStandIn) -> list[str]:
    """The run ids of the closing replies posted so far (each carries a Re-run button)."""
    out = []
    for call in slack.of("chat.postMessage"):
        blocks = call.params.get("blocks") or []
        last = blocks[-1] if blocks and isinstance(blocks[-1], dict) else {}
        if str(last.get("block_id", "")).startswith("run_rerun:"):
            out.append(last["elements"][0]["value"])
    return out


def presses(db: Path) -> list[tuple[str, str, str, str]]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT user, channel, action_id, outcome FROM action_presses ORDER BY id"
        ).fetchall()
    return [tuple(r) for r in rows]


async def test_a_rerun_pressed_over_socket_mode_runs_once(tmp_path: Path) -> None:
    async with serving(tmp_path) as (slack, db):
        await slack.socket_command("run lead-to-invoice card")
        await _until(lambda: len(verdicts(slack)) == 1)
        (run_id,) = verdicts(slack)
        payload = press(SimpleNamespace(slack=slack), "run_rerun", run_id)  # type: ignore[arg-type]
        ack = await slack.socket_interactive(payload)
        assert ack["envelope_id"] and not ack.get("payload")
        # the same press delivered again (a reconnect mid-press): it acts once
        await slack.socket_interactive(payload)
        await _until(lambda: len(verdicts(slack)) == 2)
        await asyncio.sleep(0.2)
        again = verdicts(slack)[1]
        assert again != run_id and len(verdicts(slack)) == 2
        parents = [c.params for c in slack.of("chat.postMessage") if "thread_ts" not in c.params]
        assert parents[1]["channel"] == CHANNEL
        assert parents[1]["text"].endswith(f"started by <@U0BOB>, run {again}")
        assert [p[2:] for p in presses(db)] == [
            ("run_rerun", "started"),
            ("run_rerun", "duplicate"),
        ]


async def test_a_refused_press_over_socket_mode_is_answered_and_recorded(
    tmp_path: Path,
) -> None:
    async with serving(tmp_path, allowed_users=["U0ALICE"]) as (slack, db):
        await slack.socket_command("run lead-to-invoice card")
        await _until(lambda: len(verdicts(slack)) == 1)
        (run_id,) = verdicts(slack)
        h = SimpleNamespace(slack=slack)
        await slack.socket_interactive(press(h, "run_rerun", run_id, user="U0MALLORY"))  # type: ignore[arg-type]
        await slack.socket_interactive(press(h, "run_rerun", run_id, team="T0ELSEWHERE"))  # type: ignore[arg-type]
        await _until(lambda: len(slack.of("response_url")) == 2)
        said = [c.params["text"] for c in slack.of("response_url")]
        assert said[0].startswith("Sorry <@U0MALLORY>, you are not on the list")
        assert said[1].startswith("Sorry, /baton here serves another Slack workspace")
        assert verdicts(slack) == [run_id]
        assert [p[3] for p in presses(db)] == ["refused", "refused"]


async def test_the_run_modal_over_socket_mode(tmp_path: Path) -> None:
    async with serving(tmp_path) as (slack, db):
        ack = await slack.socket_command("run", trigger_id=slack.trigger())
        assert not ack.get("payload")
        await _until(lambda: bool(slack.views))
        (view,) = slack.views
        sent = {k: v for k, v in view.items() if k not in ("team_id",)}
        bad = await slack.socket_interactive(
            submission(sent, workflow="lead-to-invoice", overrides="currency=dollars")
        )
        assert bad["payload"]["response_action"] == "errors"
        (problem,) = bad["payload"]["errors"].values()
        assert "currency must be a three-letter ISO 4217 code" in problem
        good = submission(sent, workflow="lead-to-invoice", variant="card", trigger="7.submit")
        ok = await slack.socket_interactive(good)
        assert not ok.get("payload")  # an empty ack closes the modal
        await slack.socket_interactive(good)  # delivered twice: one run
        await _until(lambda: len(verdicts(slack)) == 1)
        await asyncio.sleep(0.2)
        assert len(verdicts(slack)) == 1
        parent = next(c.params for c in slack.of("chat.postMessage") if "thread_ts" not in c.params)
        assert parent["channel"] == CHANNEL
        assert [p[2:] for p in presses(db)] == [
            ("run_modal", "opened"),
            ("run_modal", "invalid"),
            ("run_modal", "started"),
            ("run_modal", "duplicate"),
        ]
