"""Alert buttons through the bot's real HTTP endpoint: signed ``block_actions`` form posts
(``payload=<json>``, as Slack sends them), the Slack calls recorded by the stand-in and
checked against the Web API spec. Acknowledge, Snooze, Re-run; the checks every press passes
(signature, workspace, allowlist, once, recorded); forged payloads; mentions on new alerts;
the alert updated in place when the workflow recovers.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import time
import urllib.parse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from bot_support import SECRET, sample_config
from slack_standin import signed_headers, spec_violations
from test_bot_http import Harness, Reply, harness

from baton.bot.app import BotSettings
from baton.probes.health.alerts import AlertPolicy, flips
from baton.probes.store.bot import ScheduledRunRow

pytestmark = pytest.mark.anyio

ALERTS = "C0ALERTS"
WF = "lead-to-invoice"
POLICY = AlertPolicy(failures_before_alert=1, mention=("U0ANA", "S0ONCALL"))


@dataclasses.dataclass
class Alert:
    h: Harness
    ts: str
    flip_id: int

    async def press(
        self,
        action_id: str,
        value: str | None = None,
        *,
        selected: str | None = None,
        user: str = "U0ALICE",
        team: str = "T0STANDIN",
        message_ts: str | None = None,
        action_ts: str | None = None,
        secret: str = SECRET,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        """Press a control on this alert, as Slack posts it; waits for what it set off."""
        body = action_body(
            action_id,
            value if value is not None or selected is not None else str(self.flip_id),
            selected=selected,
            user=user,
            team=team,
            message_ts=message_ts or self.ts,
            response_url=self.h.slack.response_url("press"),
            action_ts=action_ts,
        )
        reply = await self.h.send(body, signed_headers(secret, body, **(headers or {})))
        await self.h.bot.drain()
        return reply

    def thread(self) -> list[str]:
        return [m["text"] for m in self.h.slack.thread(ALERTS, self.ts)]

    def message(self) -> dict[str, Any]:
        return self.h.slack.messages[(ALERTS, self.ts)]

    def told(self) -> list[dict[str, Any]]:
        """What the presser was told, ephemerally, through the press's response_url."""
        return [c.params for c in self.h.slack.of("response_url")]

    def presses(self) -> list[tuple[str, str, str | None, str]]:
        return [
            tuple(r)
            for r in self.h.db.execute(
                "SELECT user, action_id, subject, outcome FROM action_presses ORDER BY id"
            ).fetchall()
        ]

    async def result(self, outcome: str) -> None:
        """One more scheduled run of the workflow, with ``outcome``, handed to alerting."""
        await scheduled(self.h, outcome)


def action_body(
    action_id: str,
    value: str | None,
    *,
    selected: str | None = None,
    user: str = "U0ALICE",
    team: str = "T0STANDIN",
    channel: str = ALERTS,
    message_ts: str,
    response_url: str,
    action_ts: str | None = None,
) -> bytes:
    """A ``block_actions`` form body as Slack posts it for a button or a static select."""
    action: dict[str, Any] = {
        "action_id": action_id,
        "block_id": "Zb1",
        "action_ts": action_ts or f"{time.time():.6f}",
    }
    if selected is not None:
        action["type"] = "static_select"
        action["selected_option"] = {
            "text": {"type": "plain_text", "text": "Snooze"},
            "value": selected,
        }
    else:
        action.update(type="button", text={"type": "plain_text", "text": "x"}, value=value)
    payload = {
        "type": "block_actions",
        "team": {"id": team, "domain": "standin"},
        "user": {"id": user, "username": "alice", "name": "alice", "team_id": team},
        "api_app_id": "A0BATON",
        "token": "deprecated-verification-token",
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel,
            "is_ephemeral": False,
        },
        "trigger_id": f"{time.monotonic_ns()}.trigger",
        "channel": {"id": channel, "name": "alerts"},
        "message": {"type": "message", "ts": message_ts, "text": "an alert"},
        "response_url": response_url,
        "actions": [action],
        "state": {"values": {}},
    }
    return urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()


async def scheduled(h: Harness, outcome: str) -> None:
    h.engine.outcome = outcome
    run_id = await h.engine.start(WF, "card", {"first_name": "Zoë"}, origin={"schedule": {}})
    result = await h.engine.finish(run_id)
    await h.bot.alerts.observe(ScheduledRunRow(run_id, WF, ALERTS, None), result)


@asynccontextmanager
async def alerted(
    *, settings: BotSettings | None = None, policy: AlertPolicy = POLICY
) -> AsyncIterator[Alert]:
    """The bot over HTTP, and one alert posted about a leak of lead-to-invoice (card)."""
    config = sample_config(default_channel=ALERTS)
    lead = dataclasses.replace(config.workflows[WF], alerts=policy)
    config = dataclasses.replace(config, workflows={**config.workflows, WF: lead})
    settings = settings or BotSettings(update_interval_s=0.05, resume_poll_s=0.01)
    async with harness(config=config, settings=settings) as h:
        h.bot.alerts.pacer.per_s = None  # no pacing: these tests post many messages at once
        await scheduled(h, "drop")
        (flip,) = flips(h.db)
        assert flip.posted_ts is not None
        yield Alert(h, flip.posted_ts, flip.id)
        h.assert_spec()


def md(text: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": text}


def controls(flip_id: int) -> dict[str, Any]:
    def plain(text: str) -> dict[str, Any]:
        return {"type": "plain_text", "text": text, "emoji": True}

    def option(words: str, key: str) -> dict[str, Any]:
        return {"text": plain(f"Snooze {words}"), "value": f"{flip_id}:{key}"}

    return {
        "type": "actions",
        "elements": [
            {
                "type": "button",
                "action_id": "alert_ack",
                "text": plain("👀 Acknowledge"),
                "value": str(flip_id),
            },
            {
                "type": "static_select",
                "action_id": "alert_snooze",
                "placeholder": plain("🔕 Snooze…"),
                "options": [
                    option("for 1 h", "1h"),
                    option("for 24 h", "24h"),
                    option("until it passes again", "ok"),
                ],
            },
            {
                "type": "button",
                "action_id": "alert_rerun",
                "text": plain("🔁 Re-run"),
                "value": str(flip_id),
            },
        ],
    }


def opened_blocks(flip_id: int, *notes: str) -> list[dict[str, Any]]:
    return [
        {
            "type": "section",
            "text": md(
                "❌ *lead-to-invoice* (card): *dropped at Form → CRM*\n"
                "> The record never arrived in CRM within 30s.\n"
                "cc <@U0ANA> <!subteam^S0ONCALL>"
            ),
        },
        {
            "type": "context",
            "elements": [
                md("1 scheduled probe in a row · run `r-000001`"),
                md("Diagnosis and evidence in the thread; repeats go there, not to the channel."),
            ],
        },
        *([{"type": "context", "elements": [md(n) for n in notes]}] if notes else []),
        controls(flip_id),
    ]


# -- the alert as posted ----------------------------------------------------------------------


async def test_a_new_alert_carries_its_buttons_and_mentions_and_a_repeat_does_not() -> None:
    async with alerted() as a:
        (post, diagnosis) = a.h.slack.of("chat.postMessage")
        assert post.params["text"] == (
            "❌ lead-to-invoice (card): dropped at Form → CRM · 1 scheduled probe in a row · "
            "run r-000001 · cc <@U0ANA> <!subteam^S0ONCALL>"
        )
        assert post.params["blocks"] == opened_blocks(a.flip_id)
        assert "thread_ts" not in post.params and diagnosis.params["thread_ts"] == a.ts
        await a.result("drop")
        repeat = a.h.slack.of("chat.postMessage")[-1].params
        assert repeat["thread_ts"] == a.ts
        assert "<@U0ANA>" not in json.dumps(repeat) and "subteam" not in json.dumps(repeat)


# -- Acknowledge ------------------------------------------------------------------------------


async def test_acknowledge_says_who_is_looking_once_per_person() -> None:
    async with alerted() as a:
        reply = await a.press("alert_ack")
        assert (reply.status, reply.body) == (200, "")
        assert a.thread()[-1] == "👀 <@U0ALICE> is looking."
        (update,) = a.h.slack.of("chat.update")
        assert (update.params["channel"], update.params["ts"]) == (ALERTS, a.ts)
        assert update.params["blocks"] == opened_blocks(a.flip_id, "👀 <@U0ALICE> is looking")
        # a double click (another action_ts, moments later) acts once
        await a.press("alert_ack")
        assert a.thread().count("👀 <@U0ALICE> is looking.") == 1
        assert len(a.h.slack.of("chat.update")) == 1
        # Slack's retry of a press (the same action_ts) acts once too
        await a.press("alert_ack", user="U0BOB", action_ts="1700000123.000100")
        await a.press(
            "alert_ack",
            user="U0BOB",
            action_ts="1700000123.000100",
            headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"},
        )
        assert a.thread()[-1] == "👀 <@U0BOB> is looking."
        assert a.thread().count("👀 <@U0BOB> is looking.") == 1
        notes = "👀 <@U0ALICE>, <@U0BOB> are looking"
        assert a.message()["blocks"] == opened_blocks(a.flip_id, notes)
        # pressed again long after the double-click window: said once already, so told only
        a.h.clock.now += 60
        await a.press("alert_ack")
        assert a.thread().count("👀 <@U0ALICE> is looking.") == 1
        (told,) = a.told()
        assert told["text"] == "You are already on it (said in the thread)."
        assert (told["response_type"], told["replace_original"]) == ("ephemeral", False)
        subject = f"flip:{a.flip_id}"
        assert a.presses() == [
            ("U0ALICE", "alert_ack", subject, "done"),
            ("U0ALICE", "alert_ack", subject, "duplicate"),
            ("U0BOB", "alert_ack", subject, "done"),
            ("U0BOB", "alert_ack", subject, "duplicate"),
            ("U0ALICE", "alert_ack", subject, "done"),
        ]


# -- who may press ----------------------------------------------------------------------------


async def test_a_badly_signed_press_is_refused_with_401_and_does_nothing() -> None:
    async with alerted() as a:
        before = len(a.h.slack.calls)
        reply = await a.press("alert_ack", secret="not-the-secret")
        assert reply.status == 401
        stale = action_body(
            "alert_ack", str(a.flip_id), message_ts=a.ts, response_url=a.h.slack.response_url()
        )
        old = int(time.time()) - 600
        reply = await a.h.send(stale, signed_headers(SECRET, stale, timestamp=old))
        assert reply.status == 401
        await a.h.bot.drain()
        assert len(a.h.slack.calls) == before and a.presses() == []


@pytest.mark.parametrize(
    ("press", "said"),
    [
        pytest.param(
            {"team": "T0OTHER"},
            "Sorry, /baton here serves another Slack workspace; this one needs its own Baton "
            "installation.",
            id="another-workspace",
        ),
        pytest.param(
            {"user": "U0MALLORY"},
            "Sorry <@U0MALLORY>, you are not on the list of people who can use /baton here. Ask "
            "whoever runs Baton to add your user id `U0MALLORY` to `slack.allowed_users`.",
            id="not-allowlisted",
        ),
    ],
)
async def test_presses_pass_the_same_checks_as_commands(press: dict[str, str], said: str) -> None:
    settings = BotSettings(update_interval_s=0.05, allowed_users=("U0ALICE",))
    async with alerted(settings=settings) as a:
        posts = len(a.h.slack.of("chat.postMessage"))
        for action_id in ("alert_ack", "alert_rerun"):
            reply = await a.press(action_id, **press)
            assert reply.status == 200
        await a.press("alert_snooze", selected=f"{a.flip_id}:24h", **press)
        assert len(a.h.slack.of("chat.postMessage")) == posts and a.h.engine.starts[1:] == []
        assert a.h.slack.of("chat.update") == []
        assert [t["text"] for t in a.told()] == [said] * 3
        assert [p[3] for p in a.presses()] == ["refused"] * 3
        # the allowlisted person may
        await a.press("alert_ack")
        assert a.thread()[-1] == "👀 <@U0ALICE> is looking."


async def test_a_press_naming_no_real_user_acts_on_nothing() -> None:
    async with alerted() as a:
        posts = len(a.h.slack.of("chat.postMessage"))
        await a.press("alert_ack", user="<!channel>")
        assert len(a.h.slack.of("chat.postMessage")) == posts
        assert a.h.slack.of("chat.update") == []
        assert [t["text"] for t in a.told()] == ["Slack did not say who you are."]
        assert [p[3] for p in a.presses()] == ["invalid"]


@pytest.mark.parametrize(
    ("action_id", "value", "selected"),
    [
        pytest.param("alert_ack", "999", None, id="no-such-alert"),
        pytest.param("alert_ack", "1; DROP TABLE runs", None, id="not-a-number"),
        pytest.param("alert_ack", "", None, id="empty"),
        pytest.param("alert_rerun", "-1", None, id="negative"),
        pytest.param("alert_snooze", None, "1:forever", id="unknown-snooze"),
        pytest.param("alert_snooze", None, "1:1h:1h", id="snooze-twice"),
        pytest.param("alert_ack", "1:1h", None, id="ack-with-a-snooze-value"),
        pytest.param("alert_ack", "1" * 300, None, id="too-long"),
    ],
)
async def test_a_forged_value_acts_on_nothing(
    action_id: str, value: str | None, selected: str | None
) -> None:
    async with alerted() as a:
        posts = len(a.h.slack.of("chat.postMessage"))
        reply = await a.press(action_id, value, selected=selected)
        assert reply.status == 200
        assert len(a.h.slack.of("chat.postMessage")) == posts and a.h.engine.starts[1:] == []
        assert a.h.slack.of("chat.update") == []
        (told,) = a.told()
        assert told["text"].startswith("⚠️ That button is not on an alert Baton knows")
        assert [p[3] for p in a.presses()] == ["unknown"]


async def test_a_real_flip_id_on_another_message_is_not_believed() -> None:
    async with alerted() as a:
        diagnosis_ts = a.h.slack.of("chat.postMessage")[1].answer["ts"]
        await a.press("alert_rerun", message_ts=diagnosis_ts)
        await a.press("alert_ack", message_ts="1700000000.999999")
        assert a.h.engine.starts[1:] == [] and a.h.slack.of("chat.update") == []
        assert len(a.told()) == 2


async def test_an_alert_of_another_workspaces_workflow_is_unknown_here() -> None:
    # One store, two workspaces, a Slack Connect channel with one ID in both: the alert at
    # this channel and ts was posted by the other workspace's bot, about its own workflow.
    async with alerted() as a:
        a.h.db.execute(
            "UPDATE alert_flips SET workflow = 'their-workflow' WHERE id = ?", [a.flip_id]
        )
        a.h.db.conn.commit()
        posts = len(a.h.slack.of("chat.postMessage"))
        await a.press("alert_ack")
        await a.press("alert_snooze", selected=f"{a.flip_id}:24h")
        await a.press("alert_rerun")
        assert len(a.h.slack.of("chat.postMessage")) == posts and a.h.engine.starts[1:] == []
        assert a.h.slack.of("chat.update") == []
        assert a.h.db.execute("SELECT count(*) FROM alert_snoozes").fetchone()[0] == 0
        told = a.told()
        assert len(told) == 3
        unknown = "⚠️ That button is not on an alert Baton knows"
        assert all(t["text"].startswith(unknown) for t in told)
        assert [p[2:] for p in a.presses()] == [(None, "unknown")] * 3


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param("not json", id="not-json"),
        pytest.param(json.dumps([1, 2]), id="a-list"),
        pytest.param(
            json.dumps({"type": "block_actions", "actions": [{"action_id": "alert_ack"}]}),
            id="no-user-no-message",
        ),
        pytest.param(
            json.dumps(
                {
                    "type": "block_actions",
                    "user": {"id": ["U0ALICE"]},
                    "team": "T0STANDIN",
                    "container": {"channel_id": 5, "message_ts": None},
                    "actions": [{"action_id": "alert_ack", "value": {"x": 1}}],
                    "response_url": "javascript:alert(1)",
                }
            ),
            id="wrong-types",
        ),
    ],
)
async def test_a_malformed_payload_never_tracebacks(
    payload: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with alerted() as a:
        before = len(a.h.slack.calls)
        body = urllib.parse.urlencode({"payload": payload}).encode()
        reply = await a.h.send(body, signed_headers(SECRET, body))
        await a.h.bot.drain()
        assert reply.status < 500
        assert len(a.h.slack.calls) == before  # no Slack call: not even to a forged URL
        assert "Traceback" not in caplog.text
        assert [p[3] for p in a.presses()] in ([], ["malformed"])


# -- Snooze -----------------------------------------------------------------------------------


async def test_snooze_for_an_hour_keeps_the_workflow_quiet_then_it_speaks_again() -> None:
    async with alerted() as a:
        reply = await a.press("alert_snooze", selected=f"{a.flip_id}:1h")
        assert reply.status == 200
        assert a.thread()[-1] == "🔕 <@U0ALICE> snoozed this workflow's alerts for 1 h."
        until = time.strftime("%a %H:%M UTC", time.gmtime(a.h.clock.now + 3600))
        note = f"🔕 Snoozed for 1 h by <@U0ALICE>, until {until}"
        assert a.message()["blocks"] == opened_blocks(a.flip_id, note)
        posts = len(a.h.slack.of("chat.postMessage"))
        await a.result("drop")  # a repeat while snoozed: written down, not posted
        assert len(a.h.slack.of("chat.postMessage")) == posts
        repeat = flips(a.h.db)[-1]
        assert repeat.outcome == "suppressed" and "snoozed for 1 h" in str(repeat.error)
        a.h.clock.now += 3601
        await a.result("drop")  # the hour is over: the thread hears it again
        last = a.h.slack.of("chat.postMessage")[-1].params
        assert last["thread_ts"] == a.ts and last["text"].startswith("Still failing: ❌")


async def test_snooze_until_it_passes_ends_with_the_pass_and_the_alert_shows_the_recovery() -> None:
    async with alerted() as a:
        await a.press("alert_ack")
        await a.press("alert_snooze", selected=f"{a.flip_id}:ok")
        a.h.clock.now += 7 * 86400
        await a.result("drop")
        assert flips(a.h.db)[-1].outcome == "suppressed"  # still snoozed a week on
        later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2, minutes=5)
        a.h.engine.now = lambda: later
        await a.result("ok")  # the pass: a recovery is sent, and the snooze ends
        closed = a.message()
        assert closed["text"].startswith(
            "✅ lead-to-invoice (card): healthy again; it was failing for 2 h 5 min · was: "
            "dropped at Form → CRM"
        )
        assert [b["type"] for b in closed["blocks"]] == ["section", "context"]  # no buttons
        assert closed["blocks"][1]["elements"][1] == md("👀 <@U0ALICE> looked")
        assert a.thread()[-1].startswith("✅ Recovered after 2 h 5 min: run r-")
        in_channel = [p["text"] for p in a.h.posts() if "thread_ts" not in p]
        assert [t.split(":")[0] for t in in_channel] == ["❌ lead-to-invoice (card)"]  # no news
        # a press on the closed alert acts on nothing
        await a.press("alert_rerun")
        assert a.told()[-1]["text"].startswith("This alert is closed: lead-to-invoice")
        # the next failure is a new alert, posted: the snooze ended with the pass
        await a.result("drop")
        new = a.h.slack.of("chat.postMessage")[-2].params
        assert "thread_ts" not in new and new["text"].startswith("❌ lead-to-invoice (card)")


async def test_the_app_home_shows_a_snooze_and_is_refreshed_after_each_press() -> None:
    from test_bot_run_ui import event, home_texts

    async with alerted() as a:
        home = a.h.bot.run_ui.home
        home.refresh_every_s = home.settle_s = 0.0  # each press its own publish, here
        opened = {"type": "app_home_opened", "user": "U0CAROL", "tab": "home", "event_ts": "1.0"}
        await event(a.h, opened)
        await a.h.bot.drain()
        assert home_texts(a.h.slack.homes["U0CAROL"])[0].startswith(
            "❌ *lead-to-invoice* · leaking\n"
        )
        await a.press("alert_ack")
        assert len(a.h.slack.of("views.publish")) == 2  # acknowledged: published again
        await a.press("alert_snooze", selected=f"{a.flip_id}:1h")
        assert len(a.h.slack.of("views.publish")) == 3
        until = time.strftime("%H:%M UTC", time.gmtime(a.h.clock.now + 3600))
        lead = home_texts(a.h.slack.homes["U0CAROL"])[0]
        assert re.match(
            "🔕 \\*lead-to-invoice\\* · snoozed · leaking\n"
            f"🔕 alerts snoozed by <@U0ALICE> until (\\w\\w\\w \\d\\d \\w\\w\\w )?{until} "
            "\\(in (60 min|1 h)\\)\nLast run: ❌ ",
            lead,
        ), lead
        await a.press("alert_snooze", selected=f"{a.flip_id}:ok", user="U0BOB")
        lead = home_texts(a.h.slack.homes["U0CAROL"])[0]
        assert "🔕 alerts snoozed by <@U0BOB> until it passes again\n" in lead
        await a.result("ok")  # the pass ends the snooze (and the alert)
        await a.h.bot.drain()
        assert home_texts(a.h.slack.homes["U0CAROL"])[0].startswith("✅ *lead-to-invoice* · ok")
        # a refused press changes nothing: no publish
        publishes = len(a.h.slack.of("views.publish"))
        await a.press("alert_ack", value="999")
        assert len(a.h.slack.of("views.publish")) == publishes


# -- Re-run -----------------------------------------------------------------------------------


async def test_rerun_runs_the_same_probe_again_and_reports_in_the_alert_thread() -> None:
    async with alerted() as a:
        a.h.engine.outcome = "ok"
        reply = await a.press("alert_rerun", user="U0BOB")
        assert reply.status == 200
        (first, again) = a.h.engine.starts
        assert (
            (again["workflow"], again["variant"], again["overrides"])
            == (
                first["workflow"],
                first["variant"],
                first["overrides"],
            )
            == (WF, "card", {"first_name": "Zoë"})
        )
        assert again["origin"] == {"slack_user": "U0BOB", "channel": ALERTS}
        started = [p for p in a.h.posts() if "started by <@U0BOB>" in p["text"]]
        assert [p["thread_ts"] for p in started] == [a.ts]
        in_thread = a.thread()
        assert in_thread[-1].startswith("✅ No leaks.")
        rerun_ts = a.h.slack.of("chat.postMessage")[2].answer["ts"]
        assert a.h.slack.messages[(ALERTS, rerun_ts)]["text"].startswith(
            "✅ lead-to-invoice (card): arrived intact at every stage · run r-000002"
        )
        assert all(p.get("thread_ts") == a.ts for p in a.h.posts()[2:])  # nothing in the channel
        # a double click started one run
        await a.press("alert_rerun", user="U0CAROL")
        await a.press("alert_rerun", user="U0CAROL")
        assert len(a.h.engine.starts) == 3


async def test_every_call_conforms_to_the_spec() -> None:
    async with alerted() as a:
        await a.press("alert_ack")
        await a.press("alert_snooze", selected=f"{a.flip_id}:24h")
        await a.press("alert_rerun")
        await a.press("alert_ack", value="999")
        assert [p for c in a.h.slack.calls for p in spec_violations(c)] == []
