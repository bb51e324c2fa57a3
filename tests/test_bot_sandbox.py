"""The whole thing, nothing faked: the real engine probing the sandbox (real sockets), driven
by signed slash commands to the bot's HTTP endpoint, reporting to the Slack stand-in.

The example config is used as shipped, with its timings shrunk so a missing record is
declared in seconds, not half a minute; the sandbox's search lag and glue delay shrink
to match.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import pytest
import sqlite_utils
from bot_support import BOT_TOKEN, SECRET
from slack_sdk.web.async_client import AsyncWebClient
from slack_standin import SlackStandIn, signed_headers, slash_body, spec_violations
from tenacity import wait_fixed

from baton.bot.app import Bot, BotSettings
from baton.bot.server import start_http
from baton.probes.config import Config
from baton.probes.connectors import RetryPolicy
from baton.probes.demo import sandbox_config
from baton.probes.engine import Engine
from baton.probes.sandbox import Sandbox
from baton.probes.store import Store

pytestmark = pytest.mark.anyio
CHANNEL = "C0PROBES"


def fast(config: Config) -> Config:
    """The example config with sandbox-speed timings."""
    workflows = {
        name: dataclasses.replace(
            wf,
            stages=[
                dataclasses.replace(s, deadline_s=2.5, grace_s=0.5, settle_s=0.3) for s in wf.stages
            ],
        )
        for name, wf in config.workflows.items()
    }
    return dataclasses.replace(config, workflows=workflows)


@dataclass
class World:
    slack: SlackStandIn
    bot: Bot
    http: httpx.AsyncClient
    sandbox: Sandbox

    async def command(self, text: str, trigger: str) -> httpx.Response:
        body = slash_body(text, trigger_id=trigger, response_url=self.slack.response_url())
        return await self.http.post(
            "/slack/events", content=body, headers=signed_headers(SECRET, body)
        )


@asynccontextmanager
async def world(*faults: str) -> AsyncIterator[World]:
    sandbox = Sandbox(faults=list(faults), seed=1, search_lag_s=0.05, glue_delay_s=(0.0, 0.05))
    await asyncio.to_thread(sandbox.start)
    db = sqlite_utils.Database(memory=True)
    try:
        config = fast(sandbox_config(sandbox.url))
        async with httpx.AsyncClient() as tools, SlackStandIn(token=BOT_TOKEN) as slack:
            engine = Engine(
                config,
                store=Store(db),
                client=tools,
                poll_wait=wait_fixed(0.05),
                retry=RetryPolicy(attempts=2, wait=wait_fixed(0.05)),
            )
            bot = Bot(
                config=config,
                engine=engine,
                client=AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url),
                db=db,
                signing_secret=SECRET,
                settings=BotSettings(update_interval_s=0.1),
            )
            await bot.prepare()
            runner, port = await start_http(bot, signing_secret=SECRET, port=0)
            try:
                async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
                    yield World(slack, bot, http, sandbox)
            finally:
                await bot.aclose(timeout_s=10)
                await runner.cleanup()
    finally:
        await asyncio.to_thread(sandbox.stop)


@pytest.mark.parametrize(
    ("faults", "text", "parent", "lead"),
    [
        pytest.param(
            (),
            "run lead-to-invoice card",
            "✅ lead-to-invoice (card): arrived intact at every stage",
            "✅ No leaks.",
            id="healthy",
        ),
        pytest.param(
            ("swap@crm=firstname,email",),
            "run lead-to-invoice card",
            "❌ lead-to-invoice (card): fields swapped at Form → CRM",
            "❌ First break: Form → CRM.",
            id="swapped-at-crm",
        ),
        pytest.param(
            ("drop@crm",),
            "run lead-to-invoice card",
            "❌ lead-to-invoice (card): dropped at Form → CRM",
            "❌ First break: Form → CRM.",
            id="dropped-at-crm",
        ),
        pytest.param(
            ("outage@stripe",),
            "run lead-to-invoice card",
            "⚠️ lead-to-invoice (card): could not check Invoice",
            "⚠️ Not a leak: Baton could not look.",
            id="stripe-down",
        ),
    ],
)
async def test_real_engine_run_reported_in_a_thread(
    faults: tuple[str, ...], text: str, parent: str, lead: str
) -> None:
    async with world(*faults) as w:
        reply = await w.command(text, trigger="t-1")
        assert (reply.status_code, reply.text) == (200, "")
        assert reply.elapsed.total_seconds() < 0.5
        await asyncio.wait_for(w.bot.drain(), timeout=20)

        first = w.slack.of("chat.postMessage")[0]
        parent_ts = first.answer["ts"]
        assert first.params["text"].startswith("Probing lead-to-invoice (card) … started by")
        thread = w.slack.thread(CHANNEL, parent_ts)
        stages = thread[:-1]
        assert len(stages) == 4  # one reply per stage of the example workflow
        assert thread[-1]["text"].startswith(lead), thread[-1]["text"]
        assert "Cleanup" in thread[-1]["text"]
        final = w.slack.messages[(CHANNEL, parent_ts)]["text"]
        assert final.startswith(parent), final
        problems = [p for c in w.slack.calls for p in spec_violations(c)]
        assert problems == []


async def test_swap_evidence_shows_expected_and_observed() -> None:
    async with world("swap@crm=firstname,email") as w:
        await w.command("run lead-to-invoice card first_name=Zoë", trigger="t-1")
        await asyncio.wait_for(w.bot.drain(), timeout=20)
        diagnosis = w.slack.of("chat.postMessage")[-1].params
        evidence = json.dumps(diagnosis["blocks"], ensure_ascii=False)
        assert "Evidence at Form → CRM" in evidence
        # Evidence reads as a sentence per field: expected this, found that.
        assert '`firstname`: expected `\\"Zoë\\"`, found `\\"probe+bt' in evidence


async def test_unknown_variant_is_refused_by_the_engine_with_a_suggestion() -> None:
    async with world() as w:
        await w.command("run lead-to-invoice paypall", trigger="t-1")
        await w.bot.drain()
        (told,) = w.slack.of("response_url")
        assert "did you mean 'paypal'" in told.params["text"]
        assert w.slack.of("chat.postMessage") == []


@pytest.mark.parametrize(
    "email",
    [
        "{marker:>3000000}@example.com",
        "{0}@example.com",
        "victim@gmail.com,probe@example.com",
        '"Victim <victim@gmail.com>"',
    ],
    ids=["huge-format", "index", "list", "display-name"],
)
async def test_a_hostile_value_is_refused_and_the_bot_stays_healthy(email: str) -> None:
    async with world() as w:
        await w.command(f"run lead-to-invoice card email={email}", trigger="t-1")
        await w.bot.drain()
        (told,) = w.slack.of("response_url")
        assert "Traceback" not in told.params["text"]
        assert w.slack.of("chat.postMessage") == []
        assert w.bot.engine.store.active_runs() == []  # nothing stored, nothing stranded
        # The next run goes through as usual.
        reply = await w.command("run lead-to-invoice card", trigger="t-2")
        assert reply.status_code == 200
        await asyncio.wait_for(w.bot.drain(), timeout=20)
        thread_final = w.slack.of("chat.postMessage")[-1].params["text"]
        assert thread_final.startswith("✅ No leaks."), thread_final
