"""The real pipeline: signed slash commands to the bot's HTTP endpoint (port 0), its Slack
calls recorded by the local stand-in (port 0), the engine a fake with the engine's shape.

Every test checks what a person would see: the ack, the parent message, the thread
replies (``thread_ts``), the update in place, and that each outgoing call conforms to the
Slack Web API spec. Verification is never switched off: requests are signed the way Slack
signs them, and the forged ones are signed wrong on purpose.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

import httpx
import pytest
import sqlite_utils
from bot_support import BOT_TOKEN, SECRET, STRIPE_KEY, FakeEngine, sample_config
from slack_sdk.web.async_client import AsyncWebClient
from slack_standin import SlackStandIn, signed_headers, slash_body, spec_violations
from test_bot_commands import fuzz_texts

from baton.bot.app import Bot, BotSettings
from baton.bot.server import start_http
from baton.probes.config import Config
from baton.probes.model import Finding, FindingKind, RunResult
from baton.probes.store import Store

pytestmark = pytest.mark.anyio

CHANNEL = "C0PROBES"


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@dataclass
class Reply:
    status: int
    body: str
    elapsed: float

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body) if self.body else {}

    @property
    def text(self) -> str:
        return str(self.json.get("text", ""))


@dataclass
class Harness:
    slack: SlackStandIn
    bot: Bot
    engine: FakeEngine
    http: httpx.AsyncClient
    db: sqlite_utils.Database
    clock: Clock

    async def send(self, body: bytes, headers: dict[str, str]) -> Reply:
        started = time.perf_counter()
        response = await self.http.post("/slack/events", content=body, headers=headers)
        return Reply(response.status_code, response.text, time.perf_counter() - started)

    def body(self, text: str, **fields: str) -> bytes:
        fields.setdefault("response_url", self.slack.response_url("cmd"))
        return slash_body(text, **fields)

    async def command(
        self,
        text: str,
        *,
        secret: str = SECRET,
        timestamp: int | None = None,
        headers: dict[str, str] | None = None,
        **fields: str,
    ) -> Reply:
        body = self.body(text, **fields)
        return await self.send(
            body, signed_headers(secret, body, timestamp=timestamp, **(headers or {}))
        )

    def posts(self) -> list[dict[str, Any]]:
        return [c.params for c in self.slack.of("chat.postMessage")]

    def assert_spec(self) -> None:
        problems = [p for c in self.slack.calls for p in spec_violations(c)]
        assert problems == []


@asynccontextmanager
async def harness(
    *,
    outcome: str = "ok",
    settings: BotSettings | None = None,
    sleep: Callable[[float], Any] = asyncio.sleep,
    engine_type: type[FakeEngine] = FakeEngine,
    db: sqlite_utils.Database | None = None,
    stage_delay_s: float = 0.0,
    config: Config | None = None,
    now: Callable[[], dt.datetime] | None = None,
) -> AsyncIterator[Harness]:
    config = config or sample_config()
    db = db if db is not None else sqlite_utils.Database(memory=True)
    engine = engine_type(config, store=Store(db), outcome=outcome, stage_delay_s=stage_delay_s)
    clock = Clock()
    async with SlackStandIn(token=BOT_TOKEN) as slack:
        bot = Bot(
            config=config,
            engine=engine,
            client=AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url),
            db=db,
            signing_secret=SECRET,
            # Paced as in production, only faster: tests run many runs in one channel.
            settings=settings
            or BotSettings(update_interval_s=0.05, resume_poll_s=0.01, pace_per_s=50.0),
            clock=clock,
            sleep=sleep,
            **({"now": now} if now is not None else {}),
        )
        await bot.prepare()  # auth.test once, up front, as `baton serve` does
        (auth_test,) = slack.calls
        assert spec_violations(auth_test) == []
        slack.calls.clear()
        runner, port = await start_http(bot, signing_secret=SECRET, host="127.0.0.1", port=0)
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
                yield Harness(slack, bot, engine, http, db, clock)
        finally:
            await bot.aclose(timeout_s=5)
            await runner.cleanup()


# -- a probe run, end to end ------------------------------------------------------------------


async def test_run_acks_at_once_then_parent_thread_and_final_update() -> None:
    async with harness(outcome="ok") as h:
        reply = await h.command("run lead-to-invoice paypal first_name=“Zoë Ann”")
        assert (reply.status, reply.body) == (200, "")
        assert reply.elapsed < 0.5  # Slack gives 3 s; the bench measures p99
        await h.bot.drain()

        parent, *thread = h.posts()
        parent_ts = h.slack.of("chat.postMessage")[0].answer["ts"]
        assert parent["channel"] == CHANNEL and "thread_ts" not in parent
        assert parent["text"] == (
            "Probing lead-to-invoice (paypal) … started by <@U0ALICE>, run r-000001"
        )
        assert all(t["thread_ts"] == parent_ts for t in thread)
        assert [t["text"] for t in thread] == [
            "✅ Form · injected in 0.2 s",
            "✅ Form → CRM · arrived after 2.1 s",
            "✅ CRM → Email · arrived after 3.4 s",
            "✅ CRM → Invoice · arrived after 4.0 s",
            "✅ No leaks. The test record arrived intact at all 4 stages. 🧹 Cleanup: removed "
            "3 test object(s).",
        ]
        final = h.slack.messages[(CHANNEL, parent_ts)]
        assert final["text"].startswith(
            "✅ lead-to-invoice (paypal): arrived intact at every stage"
        )
        assert h.slack.of("chat.update")[-1].params["ts"] == parent_ts
        assert h.engine.starts == [
            {
                "run_id": "r-000001",
                "workflow": "lead-to-invoice",
                "variant": "paypal",
                "overrides": {"first_name": "Zoë Ann"},
                "origin": {"slack_user": "U0ALICE", "channel": CHANNEL},
            }
        ]
        thread_row = h.bot.store.thread("r-000001")
        assert thread_row is not None and (thread_row.ts, thread_row.state) == (parent_ts, "done")
        h.assert_spec()


async def test_a_leak_updates_the_parent_to_the_first_broken_seam() -> None:
    async with harness(outcome="drop") as h:
        await h.command("run lead-to-invoice")
        await h.bot.drain()
        parent_ts = h.slack.of("chat.update")[-1].params["ts"]
        final = h.slack.messages[(CHANNEL, parent_ts)]
        assert final["text"].startswith("❌ lead-to-invoice: dropped at Form → CRM · run r-000001")
        diagnosis = h.posts()[-1]
        assert diagnosis["thread_ts"] == parent_ts
        assert diagnosis["text"].startswith(
            "❌ First break: Form → CRM. The record never arrived in CRM within 30s."
        )
        h.assert_spec()


async def test_parent_updates_are_throttled_and_coalesced() -> None:
    settings = BotSettings(update_interval_s=0.3)
    async with harness(outcome="ok", settings=settings, stage_delay_s=0.02) as h:
        await h.command("run lead-to-invoice")
        await h.bot.drain()
        updates = h.slack.of("chat.update")
        # Four stages settled within 0.1 s: one progress update, then the final one.
        assert len(updates) == 2
        assert updates[1].at - updates[0].at >= 0.29
        assert updates[-1].params["text"].startswith("✅")


# -- verification at the edge -----------------------------------------------------------------

MARKER = "run lead-to-invoice x_secret_body=do-not-log-me"


async def _refused(h: Harness, caplog: pytest.LogCaptureFixture, reply: Reply, why: str) -> None:
    assert reply.status == 401
    assert h.engine.starts == [] and h.slack.calls == []
    assert any(why in r.getMessage() for r in caplog.records)
    assert not any("do-not-log-me" in r.getMessage() for r in caplog.records)


async def test_a_forged_signature_is_refused_and_logged_without_its_body(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    async with harness() as h:
        reply = await h.command(MARKER, secret="not-the-secret")
        await _refused(h, caplog, reply, "bad signature")


async def test_a_tampered_body_is_refused(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with harness() as h:
        body = h.body(MARKER)
        headers = signed_headers(SECRET, body)
        reply = await h.send(body.replace(b"U0ALICE", b"U0ADMIN"), headers)
        await _refused(h, caplog, reply, "bad signature")


@pytest.mark.parametrize(
    ("age", "why"),
    [
        pytest.param(301, "stale timestamp", id="stale"),
        pytest.param(3600, "stale timestamp", id="an-hour-old-replay"),
        pytest.param(-301, "in the future", id="future"),
    ],
)
async def test_stale_or_future_timestamps_are_refused(
    caplog: pytest.LogCaptureFixture, age: int, why: str
) -> None:
    caplog.set_level(logging.DEBUG)
    async with harness() as h:
        reply = await h.command(MARKER, timestamp=int(time.time()) - age)
        await _refused(h, caplog, reply, why)


async def test_unsigned_requests_are_refused(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with harness() as h:
        reply = await h.send(h.body(MARKER), {"Content-Type": "application/x-www-form-urlencoded"})
        await _refused(h, caplog, reply, "no signature headers")


async def test_slacks_ssl_check_gets_200_and_changes_nothing() -> None:
    async with harness() as h:
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        reply = await h.send(b"ssl_check=1&token=deprecated-verification-token", form)
        assert (reply.status, reply.body) == (200, "")
        # Only the bare check: a command that carries ssl_check=1 is still checked.
        reply = await h.send(h.body("run lead-to-invoice", ssl_check="1"), form)
        assert reply.status == 401
        assert h.slack.calls == [] and h.engine.starts == []


async def test_a_command_from_another_workspace_is_refused() -> None:
    async with harness() as h:
        reply = await h.command("run lead-to-invoice", team_id="T0ELSEWHERE")
        assert reply.status == 200
        assert "serves another Slack workspace" in reply.text
        assert reply.json.get("response_type") != "in_channel"
        await h.bot.drain()
        assert h.engine.starts == [] and h.posts() == []


async def test_bolts_own_verification_is_on_behind_the_edge() -> None:
    async with harness() as h:
        from slack_bolt.middleware.request_verification.async_request_verification import (
            AsyncRequestVerification,
        )

        assert any(
            isinstance(m, AsyncRequestVerification)
            for m in h.bot.app._async_middleware_list  # bolt's setup, asserted
        )


# -- never a second run ---------------------------------------------------------------------


async def test_an_exact_replay_runs_once() -> None:
    async with harness() as h:
        body = h.body("run lead-to-invoice")
        headers = signed_headers(SECRET, body)
        first = await h.send(body, headers)
        second = await h.send(body, headers)
        await h.bot.drain()
        assert (first.status, second.status) == (200, 200)
        assert second.text.startswith("That probe is already on its way (run `r-000001`)")
        assert len(h.engine.starts) == 1
        assert len([p for p in h.posts() if "thread_ts" not in p]) == 1


async def test_a_slack_retry_runs_once_and_is_acked_quietly() -> None:
    async with harness() as h:
        body = h.body("run lead-to-invoice")
        await h.send(body, signed_headers(SECRET, body))
        await h.bot.drain()
        retry = await h.send(body, signed_headers(SECRET, body, **{"X-Slack-Retry-Num": "1"}))
        assert (retry.status, retry.body) == (200, "")
        await h.bot.drain()
        assert len(h.engine.starts) == 1


async def test_a_double_submission_runs_once_until_the_window_passes() -> None:
    async with harness() as h:
        a = await h.command("run lead-to-invoice", trigger_id="t-1")
        b = await h.command("run  Lead-To-Invoice", trigger_id="t-2")  # same, typed again
        assert a.body == "" and "already" in b.text
        await h.bot.drain()
        assert len(h.engine.starts) == 1
        other = await h.command("run lead-to-invoice paypal", trigger_id="t-3")
        assert other.body == ""  # a different request is not a duplicate
        h.clock.now += 11  # past the 10 s window
        again = await h.command("run lead-to-invoice", trigger_id="t-4")
        assert again.body == ""
        await h.bot.drain()
        assert len(h.engine.starts) == 3


# -- who may run probes -----------------------------------------------------------------------


async def test_others_get_a_polite_refusal_and_nothing_runs() -> None:
    settings = BotSettings(
        allowed_users=("U0BOSS",), allowed_channels=("C0PROBES",), update_interval_s=0.05
    )
    async with harness(settings=settings) as h:
        refused = await h.command("run lead-to-invoice")
        assert refused.status == 200
        assert refused.text.startswith("Sorry <@U0ALICE>, you are not on the list")
        listed = await h.command("list")
        assert listed.text.startswith("Sorry <@U0ALICE>")
        wrong_channel = await h.command("run lead-to-invoice", user_id="U0BOSS", channel_id="C0X")
        assert wrong_channel.text == "Sorry, /baton does not run in this channel. Try <#C0PROBES>."
        helped = await h.command("help")
        assert helped.text.startswith("Baton traces a marked test record")
        await h.bot.drain()
        assert h.engine.starts == [] and h.slack.calls == []
        allowed = await h.command("run lead-to-invoice", user_id="U0BOSS")
        assert allowed.body == ""
        await h.bot.drain()
        assert len(h.engine.starts) == 1


# -- answers --------------------------------------------------------------------------------


async def test_unknown_workflow_gets_did_you_mean_through_the_response_url() -> None:
    async with harness() as h:
        reply = await h.command("run lead-to-invoic")
        assert (reply.status, reply.body) == (200, "")
        await h.bot.drain()
        (call,) = h.slack.of("response_url")
        assert call.params["response_type"] == "ephemeral"
        assert call.params["text"] == (
            "⚠️ unknown workflow 'lead-to-invoic' (did you mean 'lead-to-invoice'?)"
        )
        assert h.posts() == []
        # The failed attempt does not block trying again at once.
        fixed = await h.command("run lead-to-invoice")
        assert fixed.body == ""
        h.assert_spec()


@pytest.mark.parametrize(
    ("text", "starts"),
    [
        pytest.param("", "Baton traces a marked test record", id="empty"),
        pytest.param("help", "Baton traces a marked test record", id="help"),
        pytest.param("frobnicate", "⚠️ unknown command 'frobnicate'", id="unknown"),
        pytest.param("list", "2 workflows: lead-to-invoice (ok) newsletter", id="list"),
        pytest.param("status", "Nothing is running right now.", id="status"),
        pytest.param("status lead-to-invoice", "✅ lead-to-invoice: arrived intact", id="one"),
        pytest.param("history LEAD-TO-INVOICE 5", "History of lead-to-invoice: 1 runs", id="hist"),
        pytest.param(
            "status lead-to-invoce",
            "⚠️ unknown workflow 'lead-to-invoce' (did you mean 'lead-to-invoice'?); known: "
            "lead-to-invoice, newsletter",
            id="did-you-mean",
        ),
    ],
)
async def test_read_only_commands_answer_in_the_ack(text: str, starts: str) -> None:
    async with harness() as h:
        await h.command("run lead-to-invoice", trigger_id="seed")
        await h.bot.drain()
        reply = await h.command(text)
        assert reply.status == 200
        assert reply.text.startswith(starts), reply.text
        assert reply.json["blocks"]


# -- when Slack says no -----------------------------------------------------------------------


async def test_not_in_channel_falls_back_to_the_response_url() -> None:
    async with harness(outcome="drop") as h:
        # A DM between two people: Baton is not in it (Slack: channel_not_found).
        await h.command("run lead-to-invoice", channel_id="D0DM", channel_name="directmessage")
        await h.bot.drain()
        started, final = h.slack.of("response_url")
        assert started.params["response_type"] == "ephemeral"  # to the runner alone
        assert started.params["text"].startswith("Probing lead-to-invoice")
        assert final.params["response_type"] == "in_channel"
        assert final.params["replace_original"] is False  # never in place of a message
        assert final.params["text"].startswith("❌ lead-to-invoice: dropped at Form → CRM")
        assert "Run it in a channel Baton is in" in json.dumps(final.params["blocks"])
        shown = [m for m in h.slack.hook_messages("cmd") if m["response_type"] == "in_channel"]
        assert [m["text"] for m in shown] == [final.params["text"]]  # one, and no stray ⏳
        assert h.slack.of("chat.update") == []
        h.assert_spec()


async def test_rate_limited_updates_wait_for_retry_after() -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        await asyncio.sleep(0)

    async with harness(sleep=sleep) as h:
        h.slack.rate_limit("chat.update", retry_after=3, times=1)
        h.slack.rate_limit("chat.postMessage", retry_after=2, times=1)
        await h.command("run lead-to-invoice")
        await h.bot.drain()
        assert 2.0 in waits and 3.0 in waits
        parent_ts = h.slack.of("chat.update")[-1].params["ts"]
        assert h.slack.messages[(CHANNEL, parent_ts)]["text"].startswith("✅")
        assert h.bot.store.thread("r-000001") is not None


async def test_a_reply_with_refused_blocks_is_sent_again_as_plain_text() -> None:
    async with harness() as h:
        h.slack.fail("chat.postMessage", "invalid_blocks", skip=1)  # the first thread reply
        await h.command("run lead-to-invoice")
        await h.bot.drain()
        posts = h.slack.of("chat.postMessage")
        assert posts[1].answer == {"ok": False, "error": "invalid_blocks"}
        assert posts[2].params["text"] == posts[1].params["text"]
        assert "blocks" in posts[1].params and "blocks" not in posts[2].params
        assert len(h.slack.thread(CHANNEL, posts[0].answer["ts"])) == 5


async def test_a_trail_reply_slack_never_takes_is_carried_by_the_closing_reply() -> None:
    async with harness(outcome="swap") as h:
        # The second thread reply (Form → CRM) is refused, in blocks and as plain text.
        h.slack.fail("chat.postMessage", "channel_is_archived", skip=2, times=2)
        await h.command("run lead-to-invoice")
        await h.bot.drain()
        thread = h.slack.thread(CHANNEL, h.slack.of("chat.postMessage")[0].answer["ts"])
        texts = [m.get("text", "") for m in thread]
        assert not any(t.startswith("❌ Form → CRM") for t in texts[:-1])
        closing = str(thread[-1].get("blocks"))
        assert "Slack did not take these trail replies" in closing
        assert "❌ Form → CRM · fields swapped" in closing
        h.assert_spec()


async def test_a_refused_parent_falls_back_to_the_response_url() -> None:
    async with harness() as h:
        h.slack.fail("chat.postMessage", "invalid_blocks")
        await h.command("run lead-to-invoice")
        await h.bot.drain()
        assert [c.params["response_type"] for c in h.slack.of("response_url")] == [
            "ephemeral",
            "in_channel",
        ]


class BrokenEngine(FakeEngine):
    async def finish(self, run_id: str, *, on_progress: Any = None) -> RunResult:
        raise RuntimeError("the engine fell over")


async def test_an_engine_crash_is_reported_with_an_error_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with harness(engine_type=BrokenEngine) as h:
        await h.command("run lead-to-invoice")
        await h.bot.drain()
        parent_ts = h.slack.of("chat.update")[-1].params["ts"]
        parent = h.slack.messages[(CHANNEL, parent_ts)]["text"]
        assert "Baton failed while watching (error E-" in parent
        error_id = parent.split("(error ")[1][:8]
        (told,) = h.slack.of("response_url")
        assert error_id in told.params["text"]
        assert any(error_id in r.getMessage() for r in caplog.records)


# -- secrets ----------------------------------------------------------------------------------


class LeakyEngine(FakeEngine):
    """A tool that echoes credentials back in its error message."""

    async def finish(self, run_id: str, *, on_progress: Any = None) -> RunResult:
        result = await super().finish(run_id, on_progress=on_progress)
        leak = Finding(
            FindingKind.UNREACHABLE,
            f"CRM → Invoice: could not check Invoice: 401 for key {STRIPE_KEY} "
            f"(Authorization: Bearer {BOT_TOKEN})",
        )
        stages = [
            *result.stages[:3],
            replace(result.stages[3], status="unreachable", findings=[leak]),
        ]
        return replace(result, stages=stages)


async def test_no_secret_in_any_slack_message_log_line_or_bot_row(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    async with harness(engine_type=LeakyEngine) as h:
        await h.command("run lead-to-invoice")
        await h.bot.drain()
        sent = json.dumps([c.params for c in h.slack.calls], ensure_ascii=False)
        assert "[redacted]" in sent
        bot_rows = json.dumps([list(h.db.table(t).rows) for t in ("bot_threads", "bot_requests")])
        logs = "\n".join(r.getMessage() for r in caplog.records)
        for secret in (STRIPE_KEY, BOT_TOKEN, SECRET):
            assert secret not in sent
            assert secret not in bot_rows
            assert secret not in logs
        assert "hooks/cmd" not in bot_rows  # response URLs are capabilities: not stored


# -- fuzzed text over the wire ------------------------------------------------------------------


async def test_fuzzed_command_text_never_breaks_the_endpoint() -> None:
    async with harness() as h:
        for i, text in enumerate(fuzz_texts(seed=7, n=150, max_len=30)):
            reply = await h.command(text[:3000], trigger_id=f"fuzz-{i}")
            assert reply.status == 200, (text, reply.body)
            assert reply.body == "" or isinstance(reply.json.get("text"), str)
            assert "Traceback" not in reply.body
        await h.bot.drain()
        h.assert_spec()


# -- after a restart ----------------------------------------------------------------------------


async def test_a_run_cut_off_by_a_restart_is_reported_in_its_thread() -> None:
    db = sqlite_utils.Database(memory=True)
    async with harness(db=db) as first:
        first.engine.gate = asyncio.Event()  # finish() hangs: the process "dies" mid-run
        await first.command("run lead-to-invoice")
        for _ in range(100):
            if first.bot.store.unfinished():
                break
            await asyncio.sleep(0.01)
        await first.bot.aclose(timeout_s=0)  # cancelled, as on SIGTERM
        parent_ts = first.bot.store.unfinished()[0].ts
    async with harness(db=db) as second:
        second.bot.resume()
        await asyncio.sleep(0.05)
        # Meanwhile the janitor's engine finishes the run in the store.
        await second.engine.finish("r-000001")
        await second.bot.drain()
        (diagnosis,) = second.posts()
        assert diagnosis["thread_ts"] == parent_ts
        (update,) = second.slack.of("chat.update")
        assert update.params["ts"] == parent_ts
        assert update.params["text"].startswith("✅ lead-to-invoice")
        assert second.bot.store.unfinished() == []


async def test_healthz() -> None:
    async with harness() as h:
        response = await h.http.get("/healthz")
        assert response.json() == {"ok": True, "runs_in_flight": 0}


async def test_no_warnings_at_start_up_with_the_tokens_in_the_environment(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SECRET)
    async with harness() as h:
        reply = await h.command("help")
        assert reply.status == 200
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


# -- malformed but validly signed bodies -----------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", json.dumps({"command": "/baton", "text": "run lead-to-invoice"})),
        ("application/json", json.dumps(["run", "lead-to-invoice"])),
        ("text/plain", "command=/baton&text=run+lead-to-invoice"),
        (
            "multipart/form-data; boundary=x",
            '--x\r\nContent-Disposition: form-data; name="text"\r\n\r\n'
            "run lead-to-invoice\r\n--x--",
        ),
        ("", "command=/baton&text=run+lead-to-invoice"),
    ],
    ids=["json-command", "json-list", "text-plain", "multipart", "no-type"],
)
async def test_a_signed_body_slack_never_sends_is_refused_and_nothing_runs(
    content_type: str, body: str
) -> None:
    async with harness() as h:
        headers = signed_headers(SECRET, body, **{"Content-Type": content_type})
        reply = await h.send(body.encode(), headers)
        assert reply.status == 400
        assert "run lead-to-invoice" not in reply.body
        await h.bot.drain()
        assert h.engine.starts == [] and h.slack.calls == []
        ok = await h.command("run lead-to-invoice")  # and the bot is still healthy
        assert ok.status == 200


async def test_the_channel_allowlist_matches_ids_never_names() -> None:
    settings = BotSettings(allowed_channels=("probes", "#probes"), update_interval_s=0.05)
    async with harness(settings=settings) as h:
        # The command comes from #probes (C0PROBES); a name is not an ID, so no match.
        refused = await h.command("run lead-to-invoice", channel_name="probes")
        assert refused.text.startswith("Sorry, /baton does not run in this channel")
        await h.bot.drain()
        assert h.engine.starts == []


async def test_thread_replies_come_in_chain_order_whatever_order_stages_finish() -> None:
    async with harness(outcome="ok") as h:
        h.engine.reverse_progress = True  # the last stage is decided first
        reply = await h.command("run lead-to-invoice")
        assert reply.status == 200
        await h.bot.drain()
        _, *thread = h.posts()
        assert [t["text"].split(" · ")[0] for t in thread[:4]] == [
            "✅ Form",
            "✅ Form → CRM",
            "✅ CRM → Email",
            "✅ CRM → Invoice",
        ]
        assert thread[4]["text"].startswith("✅ No leaks.")
