"""Runs started from Slack's UI, through the bot's real HTTP endpoint: the Re-run button on a
run's closing reply, the run modal (``/baton run`` alone, the ``baton_run`` shortcut) and the
App Home. Interactions are signed form bodies (``payload=<JSON>``), events signed JSON, as
Slack sends them; every outgoing call is checked against the Web API spec (views too).
"""

from __future__ import annotations

import json
import time
import urllib.parse
from typing import Any

import pytest
from bot_support import SECRET, FakeEngine
from slack_sdk.errors import SlackApiError
from slack_standin import block_violations, signed_headers
from test_bot_http import CHANNEL, Harness, Reply, harness

from baton.bot.app import BotSettings
from baton.bot.scheduler import BotScheduler
from baton.probes.model import RunResult

pytestmark = pytest.mark.anyio

TEAM = "T0STANDIN"


# -- what Slack sends -------------------------------------------------------------------------


async def interact(h: Harness, payload: dict[str, Any], **headers: str) -> Reply:
    body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
    return await h.send(body, signed_headers(SECRET, body, **headers))


async def event(h: Harness, inner: dict[str, Any], *, team: str = TEAM) -> Reply:
    body = json.dumps(
        {
            "token": "deprecated-verification-token",
            "team_id": team,
            "api_app_id": "A0BATON",
            "event": inner,
            "type": "event_callback",
            "event_id": f"Ev{time.monotonic_ns()}",
            "event_time": int(time.time()),
        }
    ).encode()
    headers = signed_headers(SECRET, body)
    headers["Content-Type"] = "application/json"
    return await h.send(body, headers)


def press(
    h: Harness,
    action_id: str,
    value: Any,
    *,
    user: str = "U0BOB",
    team: str = TEAM,
    channel: str | None = CHANNEL,
    trigger: str | None = None,
) -> dict[str, Any]:
    """A ``block_actions`` payload: a button in a message (``channel``) or on the Home tab."""
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower(), "team_id": team},
        "api_app_id": "A0BATON",
        "token": "deprecated-verification-token",
        "trigger_id": trigger or h.slack.trigger(),
        "team": {"id": team, "domain": "standin"},
        "is_enterprise_install": False,
        "enterprise": None,
        "state": {"values": {}},
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": "b1",
                "text": {"type": "plain_text", "text": "Run"},
                "value": value,
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }
    if channel is not None:
        payload["container"] = {
            "type": "message",
            "message_ts": "1700000000.000100",
            "channel_id": channel,
            "is_ephemeral": False,
        }
        payload["channel"] = {"id": channel, "name": "probes"}
        payload["message"] = {"type": "message", "ts": "1700000000.000100", "text": "…"}
        payload["response_url"] = h.slack.response_url("press")
    else:
        payload["container"] = {"type": "view", "view_id": "V0HOME"}
        payload["view"] = {"id": "V0HOME", "type": "home", "blocks": []}
    return payload


def submission(
    view: dict[str, Any],
    *,
    workflow: str | None,
    variant: str | None = None,
    overrides: str | None = None,
    user: str = "U0ALICE",
    team: str = TEAM,
    trigger: str = "99.submit",
) -> dict[str, Any]:
    """A ``view_submission`` of the modal Baton opened (``view`` as views.open sent it)."""

    def selected(value: str | None) -> dict[str, Any]:
        option = {"text": {"type": "plain_text", "text": value}, "value": value}
        return {"type": "static_select", "selected_option": option if value else None}

    values = {
        "run_workflow": {"run_workflow_select": selected(workflow)},
        "run_variant": {"run_variant_select": selected(variant)},
        "run_overrides": {"run_overrides_input": {"type": "plain_text_input", "value": overrides}},
    }
    return {
        "type": "view_submission",
        "team": {"id": team, "domain": "standin"},
        "user": {"id": user, "username": user.lower(), "team_id": team},
        "api_app_id": "A0BATON",
        "token": "deprecated-verification-token",
        "trigger_id": trigger,
        "view": {**view, "state": {"values": values}, "hash": "1.abc"},
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": None,
    }


def presses(h: Harness) -> list[tuple[str, str, str, str]]:
    rows = h.db.execute("SELECT user, channel, action_id, outcome FROM action_presses ORDER BY id")
    return [tuple(r) for r in rows.fetchall()]


def said(h: Harness, name: str = "press") -> list[str]:
    return [
        c.params["text"] for c in h.slack.of("response_url") if c.path.endswith(f"/hooks/{name}")
    ]


def parents(h: Harness) -> list[dict[str, Any]]:
    return [p for p in h.posts() if "thread_ts" not in p]


# -- the Re-run button ------------------------------------------------------------------------


async def test_the_closing_reply_has_a_rerun_button_that_runs_the_same_again() -> None:
    async with harness(outcome="drop") as h:
        await h.command("run lead-to-invoice paypal first_name=“Zoë Ann”")
        await h.bot.drain()
        closing = h.posts()[-1]
        assert closing["text"].startswith("❌ First break: Form → CRM.")
        assert closing["blocks"][-1] == {
            "type": "actions",
            "block_id": "run_rerun:r-000001",
            "elements": [
                {
                    "type": "button",
                    "action_id": "run_rerun",
                    "text": {"type": "plain_text", "text": "Re-run", "emoji": False},
                    "value": "r-000001",
                }
            ],
        }
        reply = await interact(h, press(h, "run_rerun", "r-000001"))
        assert (reply.status, reply.body) == (200, "")
        await h.bot.drain()
        again = h.engine.starts[1]
        assert {k: again[k] for k in ("workflow", "variant", "overrides", "origin")} == {
            "workflow": "lead-to-invoice",
            "variant": "paypal",
            "overrides": {"first_name": "Zoë Ann"},
            "origin": {"slack_user": "U0BOB", "channel": CHANNEL},
        }
        second = parents(h)[1]
        assert second["channel"] == CHANNEL
        assert second["text"] == (
            "Probing lead-to-invoice (paypal) … started by <@U0BOB>, run r-000002"
        )
        assert h.posts()[-1]["blocks"][-1]["elements"][0]["value"] == "r-000002"
        assert presses(h) == [("U0BOB", CHANNEL, "run_rerun", "started")]
        h.assert_spec()


async def test_double_presses_and_slack_retries_start_one_run() -> None:
    async with harness() as h:
        await h.command("run newsletter")
        await h.bot.drain()
        first = press(h, "run_rerun", "r-000001")
        await interact(h, first)
        retry = await interact(h, first, **{"X-Slack-Retry-Num": "1"})
        double = await interact(h, press(h, "run_rerun", "r-000001"))
        assert (retry.status, double.status) == (200, 200)
        await h.bot.drain()
        assert len(h.engine.starts) == 2
        assert len(parents(h)) == 2
        assert said(h) == [
            "That probe is already on its way (run `r-000002`); its thread has the results."
        ]
        assert [p[3] for p in presses(h)] == ["started", "duplicate", "duplicate"]
        h.assert_spec()


@pytest.mark.parametrize(
    ("changes", "settings", "answer", "outcome"),
    [
        pytest.param(
            {"user": "U0MALLORY"},
            BotSettings(allowed_users=("U0ALICE", "U0BOB")),
            "Sorry <@U0MALLORY>, you are not on the list",
            "refused",
            id="user-not-allowed",
        ),
        pytest.param(
            {"channel": "C0OPS"},
            BotSettings(allowed_channels=(CHANNEL,)),
            "Sorry, /baton does not run in this channel. Try <#C0PROBES>.",
            "refused",
            id="channel-not-allowed",
        ),
        pytest.param(
            {"team": "T0ELSEWHERE"},
            None,
            "Sorry, /baton here serves another Slack workspace",
            "refused",
            id="other-workspace",
        ),
        pytest.param(
            {"value": "r-999999"},
            None,
            "⚠️ run r-999999 is not in Baton's store",
            "invalid",
            id="unknown-run",
        ),
        pytest.param(
            {"value": "../../etc/passwd"},
            None,
            "⚠️ this button names no run Baton knows",
            "invalid",
            id="forged-value",
        ),
        pytest.param(
            {"value": {"workflow": "lead-to-invoice"}},
            None,
            "⚠️ this button names no run Baton knows",
            "invalid",
            id="value-not-a-string",
        ),
        pytest.param(
            {"value": None},
            None,
            "⚠️ this button names no run Baton knows",
            "invalid",
            id="no-value",
        ),
    ],
)
async def test_a_press_is_checked_like_a_command_and_refused_politely(
    changes: dict[str, Any], settings: BotSettings | None, answer: str, outcome: str
) -> None:
    async with harness(settings=settings) as h:
        await h.command("run newsletter", user_id="U0ALICE")
        await h.bot.drain()
        assert len(h.engine.starts) == 1
        value = changes.pop("value", "r-000001")
        reply = await interact(h, press(h, "run_rerun", value, **changes))
        assert (reply.status, reply.body) == (200, "")
        await h.bot.drain()
        assert len(h.engine.starts) == 1
        (text,) = said(h)
        assert text.startswith(answer)
        told = h.slack.of("response_url")[-1].params
        assert told.get("response_type") != "in_channel"
        # a button's response URL replaces the message pressed unless told not to: the
        # diagnosis stays for everyone, the refusal is the presser's alone
        assert told["replace_original"] is False
        assert [p[3] for p in presses(h)] == [outcome]
        h.assert_spec()


async def test_presses_are_recorded_for_90_days_then_pruned() -> None:
    async with harness() as h:
        await h.command("run newsletter")
        await h.bot.drain()
        await interact(h, press(h, "run_rerun", "r-000001"))
        await h.bot.drain()
        first = h.db.execute("SELECT at_ts, subject FROM action_presses").fetchall()
        assert [tuple(r) for r in first] == [(h.clock.now, "run:r-000001")]
        h.clock.now += 91 * 86_400
        await interact(h, press(h, "run_rerun", "r-000001"))
        await h.bot.drain()
        assert len(h.engine.starts) == 3
        rows = h.db.execute("SELECT at_ts, outcome FROM action_presses").fetchall()
        assert [tuple(r) for r in rows] == [(h.clock.now, "started")]


async def test_a_rerun_checks_the_stored_overrides_again() -> None:
    async with harness() as h:
        await h.command("run newsletter currency=eur")
        await h.bot.drain()
        h.db.execute("UPDATE runs SET overrides = ? WHERE id = 'r-000001'", ['{"currency": "€€"}'])
        await interact(h, press(h, "run_rerun", "r-000001"))
        await h.bot.drain()
        assert len(h.engine.starts) == 1
        (text,) = said(h)
        assert text.startswith("⚠️ currency must be a three-letter ISO 4217 code")
        assert h.slack.of("response_url")[-1].params["replace_original"] is False


async def test_a_rerun_of_a_workflow_no_longer_configured_says_so() -> None:
    async with harness() as h:
        await h.command("run newsletter")
        await h.bot.drain()
        h.db.execute("UPDATE runs SET workflow = 'gone' WHERE id = 'r-000001'")
        await interact(h, press(h, "run_rerun", "r-000001"))
        await h.bot.drain()
        assert len(h.engine.starts) == 1
        (text,) = said(h)
        assert text.startswith("⚠️ unknown workflow 'gone'")


# -- the run modal ----------------------------------------------------------------------------


async def test_run_alone_opens_the_modal_and_its_submission_runs_in_the_channel() -> None:
    async with harness() as h:
        trigger = h.slack.trigger()
        reply = await h.command("run", trigger_id=trigger)
        assert (reply.status, reply.body) == (200, "")
        await h.bot.drain()
        (opened,) = h.slack.of("views.open")
        assert opened.params["trigger_id"] == trigger
        (view,) = h.slack.views
        assert (view["type"], view["callback_id"]) == ("modal", "run_modal")
        assert json.loads(view["private_metadata"]) == {"to": CHANNEL}
        workflow, variant, overrides, _ = view["blocks"]
        assert [o["value"] for o in workflow["element"]["options"]] == [
            "lead-to-invoice",
            "newsletter",
        ]
        assert [o["value"] for o in variant["element"]["options"]] == ["card", "paypal"]
        assert overrides["element"]["multiline"] is True
        sent = {k: v for k, v in view.items() if k not in ("id", "team_id")}
        reply = await interact(
            h,
            submission(
                sent,
                workflow="lead-to-invoice",
                variant="card",
                overrides="first_name=Zoë Ann\n\nCurrency=eur\n",
            ),
        )
        assert (reply.status, reply.body) == (200, "")
        await h.bot.drain()
        (start,) = h.engine.starts
        assert (start["workflow"], start["variant"], start["overrides"]) == (
            "lead-to-invoice",
            "card",
            {"first_name": "Zoë Ann", "currency": "eur"},
        )
        assert parents(h)[0]["channel"] == CHANNEL
        assert [p[2:] for p in presses(h)] == [("run_modal", "opened"), ("run_modal", "started")]
        h.assert_spec()


def _modal_view() -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": "run_modal",
        "title": {"type": "plain_text", "text": "Run a probe"},
        "private_metadata": json.dumps({"to": CHANNEL}),
        "blocks": [],
        "id": "V0MODAL",
    }


@pytest.mark.parametrize(
    ("fields", "view", "block", "words"),
    [
        pytest.param(
            {"workflow": "newsletter", "overrides": "currency=dollars"},
            {},
            "run_overrides",
            "currency must be a three-letter ISO 4217 code",
            id="bad-value",
        ),
        pytest.param(
            {"workflow": "newsletter", "overrides": "first_name=Zoë\nnonsense"},
            {},
            "run_overrides",
            "line 2, 'nonsense': use field=value",
            id="line-without-equals",
        ),
        pytest.param(
            {"workflow": "newsletter", "overrides": "shoe_size=42"},
            {},
            "run_overrides",
            "unknown record field 'shoe_size'",
            id="unknown-field",
        ),
        pytest.param(
            {"workflow": "newsletter", "overrides": "phone=+44\u202e7700"},
            {},
            "run_overrides",
            "record field 'phone' has a text-direction override",
            id="bidi-override",
        ),
        pytest.param(
            {"workflow": "newsletter", "variant": "paypal"},
            {},
            "run_variant",
            "newsletter has no variant 'paypal'; it has no variants",
            id="variant-of-another-workflow",
        ),
        pytest.param(
            {"workflow": "lead-to-invoice; rm -rf /"},
            {},
            "run_workflow",
            "unknown workflow 'lead-to-invoice; rm -rf /'",
            id="forged-workflow",
        ),
        pytest.param({"workflow": None}, {}, "run_workflow", "Pick a workflow.", id="no-workflow"),
        pytest.param(
            {"workflow": "newsletter"},
            {"private_metadata": '{"to": "#general"}'},
            "run_workflow",
            "This form is out of date",
            id="forged-metadata",
        ),
        pytest.param(
            {"workflow": "newsletter", "team": "T0ELSEWHERE"},
            {},
            "run_workflow",
            "Sorry, /baton here serves another Slack workspace",
            id="other-workspace",
        ),
    ],
)
async def test_a_bad_submission_is_answered_with_errors_naming_the_field(
    fields: dict[str, Any], view: dict[str, Any], block: str, words: str
) -> None:
    async with harness() as h:
        reply = await interact(h, submission({**_modal_view(), **view}, **fields))
        assert reply.status == 200
        assert reply.json["response_action"] == "errors"
        assert list(reply.json["errors"]) == [block]
        assert words in reply.json["errors"][block]
        await h.bot.drain()
        assert h.engine.starts == [] and h.posts() == []
        assert [p[3] for p in presses(h)] in (["invalid"], ["refused"])


async def test_a_submission_retried_by_slack_runs_once() -> None:
    async with harness() as h:
        payload = submission(_modal_view(), workflow="newsletter")
        await interact(h, payload)
        retry = await interact(h, payload, **{"X-Slack-Retry-Num": "1"})
        assert (retry.status, retry.body) == (200, "")
        await h.bot.drain()
        assert len(h.engine.starts) == 1


async def test_the_shortcut_opens_the_modal_and_its_run_reports_in_the_users_dm() -> None:
    async with harness() as h:
        trigger = h.slack.trigger()
        shortcut = {
            "type": "shortcut",
            "token": "deprecated-verification-token",
            "action_ts": f"{time.time():.6f}",
            "team": {"id": TEAM, "domain": "standin"},
            "user": {"id": "U0ALICE", "username": "alice", "team_id": TEAM},
            "is_enterprise_install": False,
            "enterprise": None,
            "callback_id": "baton_run",
            "trigger_id": trigger,
        }
        reply = await interact(h, shortcut)
        retry = await interact(h, shortcut, **{"X-Slack-Retry-Num": "1"})
        assert (reply.status, retry.status) == (200, 200)
        await h.bot.drain()
        (view,) = h.slack.views
        assert json.loads(view["private_metadata"]) == {"to": "dm"}
        sent = {k: v for k, v in view.items() if k not in ("id", "team_id")}
        await interact(h, submission({**sent, "id": view["id"]}, workflow="newsletter"))
        await h.bot.drain()
        assert h.slack.of("conversations.open")[0].params == {"users": "U0ALICE"}
        parent = parents(h)[0]
        assert parent["channel"] == "D0ALICEBT"
        assert all(p["channel"] == "D0ALICEBT" for p in h.posts())
        assert h.engine.starts[0]["origin"] == {"slack_user": "U0ALICE", "channel": "D0ALICEBT"}
        h.assert_spec()


async def test_a_late_trigger_is_said_and_a_replayed_command_opens_nothing() -> None:
    async with harness() as h:
        h.slack.trigger_ttl_s = 0.0
        trigger = h.slack.trigger()
        body = h.body("run", trigger_id=trigger)
        await h.send(body, signed_headers(SECRET, body))
        await h.send(body, signed_headers(SECRET, body))
        await h.bot.drain()
        (opened,) = h.slack.of("views.open")
        assert opened.answer == {"ok": False, "error": "expired_trigger_id"}
        (text,) = said(h, "cmd")
        assert text.startswith("⚠️ Slack did not open the form ('expired_trigger_id'")
        assert h.slack.views == []
        h.assert_spec()


async def test_a_trigger_is_good_once_in_the_stand_in() -> None:
    async with harness() as h:
        trigger = h.slack.trigger()
        view = {"type": "modal", "title": {"type": "plain_text", "text": "x"}, "blocks": []}
        ok = await h.bot.api.client.api_call(
            "views.open", json={"trigger_id": trigger, "view": view}
        )
        assert ok["ok"] is True
        with pytest.raises(SlackApiError) as caught:
            await h.bot.api.client.api_call(
                "views.open", json={"trigger_id": trigger, "view": view}
            )
        assert caught.value.response["error"] == "expired_trigger_id"
        with pytest.raises(SlackApiError) as caught:
            await h.bot.api.client.api_call(
                "views.open", json={"trigger_id": "made.up", "view": view}
            )
        assert caught.value.response["error"] == "invalid_trigger_id"


# -- the App Home -----------------------------------------------------------------------------


def home_texts(view: dict[str, Any]) -> list[str]:
    return [b["text"]["text"] for b in view["blocks"] if b["type"] == "section"]


async def test_the_app_home_shows_every_workflow_and_its_run_button_runs_it() -> None:
    async with harness(outcome="drop") as h:
        await h.command("run lead-to-invoice")
        await h.bot.drain()
        # The fake engine leaves its stage rows as started; a real one times them.
        h.db.execute("UPDATE stages SET started_ts = ?", [h.clock.now - 60])
        reply = await event(
            h,
            {
                "type": "app_home_opened",
                "user": "U0ALICE",
                "channel": "D0ALICEBT",
                "tab": "home",
                "event_ts": f"{time.time():.6f}",
            },
        )
        assert reply.status == 200
        await h.bot.drain()
        (published,) = h.slack.of("views.publish")
        assert published.params["user_id"] == "U0ALICE"
        home = h.slack.homes["U0ALICE"]
        assert home["type"] == "home"
        lead, news = home_texts(home)
        assert lead == (
            "❌ *lead-to-invoice* · leaking\n"
            "Last run: ❌ just now (`r-000001`)\n"
            "Next scheduled run: not scheduled\n"
            "Last 7 days: 1 run(s), leaks every record in 1 run (at least 20% at 95%)"
        )
        assert news == (
            "⚪ *newsletter* · no runs yet\nLast run: none yet\n"
            "Next scheduled run: not scheduled\nLast 7 days: 0 run(s), nothing checked"
        )
        buttons = [b["accessory"] for b in home["blocks"] if "accessory" in b]
        assert [(b["action_id"], b["value"]) for b in buttons] == [
            ("home_run", "lead-to-invoice"),
            ("home_run", "newsletter"),
        ]
        assert all(block_violations(b) == [] for b in home["blocks"])

        h.engine.outcome = "ok"
        reply = await interact(h, press(h, "home_run", "newsletter", user="U0ALICE", channel=None))
        assert (reply.status, reply.body) == (200, "")
        await h.bot.drain()
        assert h.engine.starts[1]["workflow"] == "newsletter"
        assert parents(h)[1]["channel"] == "D0ALICEBT"
        # the run ended: the Home of whoever opened it is published again
        assert len(h.slack.of("views.publish")) == 2
        assert home_texts(h.slack.homes["U0ALICE"])[1].startswith("✅ *newsletter* · ok")
        assert presses(h) == [("U0ALICE", "dm", "home_run", "started")]
        h.assert_spec()


class Ticking(FakeEngine):
    """Its tick finishes every run started since the last one, as the scheduler's engine
    does for scheduled runs."""

    async def tick(self) -> list[RunResult]:
        done = {r.run_id for r in self.store.recent_runs(limit=1000)}
        due = [s["run_id"] for s in self.starts if s["run_id"] not in done]
        return [await self.finish(run_id) for run_id in due]


async def test_the_home_is_refreshed_when_scheduled_runs_end_at_most_once_a_while() -> None:
    async with harness(engine_type=Ticking, outcome="drop") as h:
        home = h.bot.run_ui.home
        home.refresh_every_s, home.settle_s = 0.5, 0.1
        scheduling = BotScheduler(bot=h.bot, engine=h.engine)
        origin = {"schedule": {"slot_ts": h.clock.now}, "channel": CHANNEL}
        await h.engine.start("newsletter", origin=origin)
        await scheduling.tick()  # nobody has opened the Home: nothing to publish
        await h.bot.drain()
        assert h.slack.of("views.publish") == []

        opened = {"type": "app_home_opened", "user": "U0ALICE", "tab": "home", "event_ts": "1.0"}
        await event(h, opened)
        await h.bot.drain()
        for _ in range(3):  # three scheduled runs end in one tick: one publish
            await h.engine.start("lead-to-invoice", origin=origin)
        await scheduling.tick()
        await h.bot.drain()
        _, refreshed = h.slack.of("views.publish")  # opened, then one refresh
        assert home_texts(h.slack.homes["U0ALICE"])[0].startswith(
            "❌ *lead-to-invoice* · leaking\nLast run: ❌ just now (`r-000004`)"
        )
        # more runs end, in two ticks, before half a second has passed: one publish, after it
        h.engine.outcome = "ok"
        await h.engine.start("newsletter", origin=origin)
        await scheduling.tick()
        await h.engine.start("lead-to-invoice", origin=origin)
        await scheduling.tick()
        await h.bot.drain()
        *_, last = h.slack.of("views.publish")
        assert len(h.slack.of("views.publish")) == 3
        assert last.at - refreshed.at >= 0.45
        news = home_texts(h.slack.homes["U0ALICE"])[1]
        assert news.startswith("✅ *newsletter* · ok\nLast run: ✅ just now (`r-000005`)")
        assert home_texts(h.slack.homes["U0ALICE"])[0].startswith("✅ *lead-to-invoice* · ok")
        h.assert_spec()


@pytest.mark.parametrize(
    ("value", "settings", "words"),
    [
        pytest.param("nope", None, "unknown workflow 'nope'", id="unknown-workflow"),
        pytest.param(
            "newsletter",
            BotSettings(allowed_channels=(CHANNEL,)),
            "runs started here report in your DM with Baton",
            id="dm-not-an-allowed-channel",
        ),
        pytest.param(
            "newsletter",
            BotSettings(allowed_users=("U0BOB",)),
            "you are not on the list",
            id="user-not-allowed",
        ),
    ],
)
async def test_a_refused_home_run_is_said_in_a_modal(
    value: str, settings: BotSettings | None, words: str
) -> None:
    async with harness(settings=settings) as h:
        await interact(h, press(h, "home_run", value, user="U0ALICE", channel=None))
        await h.bot.drain()
        assert h.engine.starts == []
        (view,) = h.slack.views
        assert view["callback_id"] == "run_notice" and "submit" not in view
        assert words in view["blocks"][0]["text"]["text"]
        h.assert_spec()


@pytest.mark.parametrize(
    ("inner", "team"),
    [
        pytest.param({"tab": "messages"}, TEAM, id="messages-tab"),
        pytest.param({}, "T0ELSEWHERE", id="other-workspace"),
        pytest.param({"user": "<!channel>"}, TEAM, id="forged-user"),
    ],
)
async def test_the_home_is_published_only_for_our_home_tab(
    inner: dict[str, Any], team: str
) -> None:
    async with harness() as h:
        payload = {"type": "app_home_opened", "user": "U0ALICE", "tab": "home", **inner}
        reply = await event(h, {**payload, "event_ts": "1.0"}, team=team)
        assert reply.status == 200
        await h.bot.drain()
        assert h.slack.of("views.publish") == []
