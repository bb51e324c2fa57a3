"""``baton manifest`` and ``baton serve``: exact output, start-up errors, both modes for real."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import click
import httpx
import pytest
import yaml
from bot_support import BOT_TOKEN, SECRET, sample_config
from click.testing import CliRunner
from slack_standin import SlackStandIn, signed_headers, slash_body, spec_violations
from test_bot_sandbox import fast

import baton.bot.serve
from baton.bot.cli import manifest, serve
from baton.bot.redact import RedactingFilter, Redactor
from baton.bot.serve import Tokens, configure_logging
from baton.bot.serve import serve as run_serve
from baton.probes.demo import sandbox_config
from baton.probes.sandbox import Sandbox

EXAMPLE = str(Path(__file__).resolve().parents[1] / "config.example.yaml")
APP_TOKEN = "xapp-1-A0BATON-1-abcdef"

SOCKET_MANIFEST = """\
_metadata:
  major_version: 1
  minor_version: 1
display_information:
  name: Baton
  description: Finds where your automations drop the baton.
features:
  app_home:
    home_tab_enabled: true
    messages_tab_enabled: true
    messages_tab_read_only_enabled: true
  bot_user:
    display_name: Baton
    always_online: false
  shortcuts:
  - name: Run a probe
    type: global
    callback_id: baton_run
    description: Pick a workflow to probe; the result comes to your DM
  slash_commands:
  - command: /baton
    description: Probe a workflow end to end and see where a record leaks
    usage_hint: run WORKFLOW [variant] [field=value …] | list | status | history WORKFLOW | \
schedule |
      pause WORKFLOW | resume WORKFLOW | digest [WORKFLOW] [7d] | help
    should_escape: false
oauth_config:
  scopes:
    bot:
    - commands
    - chat:write
    - chat:write.public
    - files:write
    - channels:read
    - groups:read
    - channels:history
    - groups:history
    - im:write
    - channels:join
settings:
  event_subscriptions:
    bot_events:
    - app_home_opened
  interactivity:
    is_enabled: true
  org_deploy_enabled: false
  socket_mode_enabled: true
  token_rotation_enabled: false
"""


def test_manifest_for_socket_mode() -> None:
    result = CliRunner().invoke(manifest, [])
    assert (result.exit_code, result.output) == (0, SOCKET_MANIFEST)


def test_manifest_for_http_mode_with_the_configured_command(tmp_path: Path) -> None:
    config = tmp_path / "baton.yaml"
    text = Path(EXAMPLE).read_text(encoding="utf-8").replace("command: /baton", "command: /probe")
    config.write_text(text, encoding="utf-8")
    url = "https://baton.example.com/slack/events"
    result = CliRunner().invoke(manifest, ["--url", url, "-c", str(config)])
    assert result.exit_code == 0, result.output
    data = yaml.safe_load(result.output)
    assert data["features"]["slash_commands"] == [
        {
            "command": "/probe",
            "description": "Probe a workflow end to end and see where a record leaks",
            "usage_hint": "run WORKFLOW [variant] [field=value …] | list | status | history "
            "WORKFLOW | schedule | pause WORKFLOW | resume WORKFLOW | digest [WORKFLOW] [7d] | "
            "help",
            "should_escape": False,
            "url": url,
        }
    ]
    assert data["settings"]["socket_mode_enabled"] is False
    # Interactions (buttons, the modal, the shortcut) and events come to the same URL.
    assert data["settings"]["interactivity"] == {"is_enabled": True, "request_url": url}
    assert data["settings"]["event_subscriptions"] == {
        "request_url": url,
        "bot_events": ["app_home_opened"],
    }
    assert data["oauth_config"] == {
        "scopes": {
            "bot": [
                "commands",
                "chat:write",
                "chat:write.public",
                "files:write",
                "channels:read",
                "groups:read",
                "channels:history",
                "groups:history",
                "im:write",
                "channels:join",
            ]
        }
    }


def test_manifest_refuses_a_command_without_a_slash() -> None:
    result = CliRunner().invoke(manifest, ["--command", "baton"])
    assert result.exit_code == 2
    assert "a slash command starts with '/'" in result.output


def test_every_command_in_the_table_is_the_command_it_names() -> None:
    from baton.probes.cli import COMMANDS, cli, command

    assert {"demo", "manifest", "serve"} <= set(COMMANDS)
    for name in COMMANDS:
        assert command(name).name == name
    assert any(p.name == "slack_preview" for p in command("demo").params)
    with click.Context(cli) as ctx:
        assert cli.list_commands(ctx) == sorted(COMMANDS)
        assert cli.get_command(ctx, "no-such-command") is None


# -- start-up errors: one line naming the variable, exit 2 -------------------------------------


@pytest.fixture
def no_logging_setup(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """serve configures the root logger: keep pytest's capture intact. And run where a
    store file may be created without littering the checkout."""
    monkeypatch.setattr(baton.bot.serve, "configure_logging", lambda redactor, level=0: None)
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize(
    ("env", "line"),
    [
        pytest.param(
            {},
            "error: SLACK_BOT_TOKEN is not set: set it to the app's Bot User OAuth Token "
            "(xoxb-…, under OAuth & Permissions)",
            id="no-bot-token",
        ),
        pytest.param(
            {"SLACK_BOT_TOKEN": "xoxp-user-token-1234"},
            "error: SLACK_BOT_TOKEN is not a bot token (it starts with xoxb-): use the app's "
            "Bot User OAuth Token, not a user or app-level token",
            id="user-token",
        ),
        pytest.param(
            {"SLACK_BOT_TOKEN": BOT_TOKEN},
            "error: SLACK_SIGNING_SECRET is not set: HTTP mode needs the app's Signing Secret "
            "(Basic Information → App Credentials); or set SLACK_APP_TOKEN for Socket Mode",
            id="http-without-secret",
        ),
        pytest.param(
            {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": "xoxb-oops-wrong-kind"},
            "error: SLACK_APP_TOKEN is not an app-level token (it starts with xapp-): create "
            "one with the connections:write scope under Basic Information, or unset it for "
            "HTTP mode",
            id="wrong-app-token",
        ),
        pytest.param(
            {"SLACK_BOT_TOKEN": "xoxe.xoxb-1-rotating", "SLACK_SIGNING_SECRET": SECRET},
            "error: SLACK_BOT_TOKEN is a rotating token (xoxe.xoxb-…), which expires after 12 "
            "hours and Baton does not refresh: use the bot token of an app without token "
            "rotation",
            id="rotating-token",
        ),
    ],
)
def test_serve_names_the_missing_variable(
    no_logging_setup: None, env: dict[str, str], line: str
) -> None:
    result = CliRunner().invoke(serve, ["-c", EXAMPLE], env=env)
    assert result.exit_code == 2
    assert result.stderr == line + "\n"
    for value in env.values():
        assert value not in result.output


@pytest.fixture
def standin() -> Iterator[SlackStandIn]:
    slack = SlackStandIn(token=BOT_TOKEN, app_token=APP_TOKEN).start_in_thread()
    try:
        yield slack
    finally:
        slack.stop_thread()


def test_serve_says_when_slack_refuses_the_bot_token(
    no_logging_setup: None, standin: SlackStandIn
) -> None:
    env = {
        "SLACK_BOT_TOKEN": "xoxb-revoked-9999",
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": standin.api_url,
    }
    result = CliRunner().invoke(serve, ["-c", EXAMPLE], env=env)
    assert result.exit_code == 2
    assert result.stderr == (
        "error: SLACK_BOT_TOKEN was refused by Slack (invalid_auth): set it to the Bot User "
        "OAuth Token of an app installed in your workspace\n"
    )


def test_serve_says_when_slack_refuses_the_app_token(
    no_logging_setup: None, standin: SlackStandIn, tmp_path: Path
) -> None:
    env = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_APP_TOKEN": "xapp-1-revoked",
        "SLACK_API_URL": standin.api_url,
    }
    result = CliRunner().invoke(serve, ["-c", EXAMPLE], env=env)
    assert result.exit_code == 2
    assert result.stderr == (
        "error: SLACK_APP_TOKEN was refused by Slack (invalid_auth): set it to an app-level "
        "token (xapp-…) with the connections:write scope\n"
    )


def test_serve_says_when_slack_cannot_be_reached(no_logging_setup: None) -> None:
    env = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": "http://127.0.0.1:9/api/",
    }
    result = CliRunner().invoke(serve, ["-c", EXAMPLE], env=env)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: cannot reach the Slack API at http://127.0.0.1:9/api/")
    assert result.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("verbosity", "level", "httpx_level"),
    [(0, logging.WARNING, logging.WARNING), (1, logging.INFO, logging.WARNING), (2, 10, 10)],
)
def test_serve_logs_warnings_by_default_and_more_with_v(
    verbosity: int, level: int, httpx_level: int
) -> None:
    from baton.bot.serve import level_for

    root = logging.getLogger()
    saved = root.handlers[:], root.level
    chatty = [logging.getLogger(n) for n in ("httpx", "apscheduler")]
    before = [c.level for c in chatty]
    try:
        configure_logging(Redactor([]), level_for(verbosity))
        assert root.level == level
        # A line per HTTP request or per scheduler job only at -vv.
        assert [c.level for c in chatty] == [httpx_level, httpx_level]
    finally:
        root.handlers[:], root.level = saved[0], saved[1]
        for c, lvl in zip(chatty, before, strict=True):
            c.setLevel(lvl)


def test_logging_goes_through_the_redactor() -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure_logging(Redactor(["hunter2-secret"]))
        (handler,) = root.handlers
        assert any(isinstance(f, RedactingFilter) for f in handler.filters)
    finally:
        root.handlers[:], root.level = saved[0], saved[1]


# -- both modes, for real ------------------------------------------------------------------------


async def _until(predicate: object, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


@pytest.mark.anyio
async def test_serve_in_http_mode_answers_signed_commands(tmp_path: Path) -> None:
    async with SlackStandIn(token=BOT_TOKEN) as slack:
        config = dataclasses.replace(
            sample_config(api_url=slack.api_url), store=str(tmp_path / "baton.db")
        )
        tokens = Tokens(bot_token=BOT_TOKEN, signing_secret=SECRET, app_token=None)
        stop, ready = asyncio.Event(), []
        task = asyncio.create_task(
            run_serve(config, tokens, host="127.0.0.1", port=0, stop=stop, ready=ready.append)
        )
        await _until(lambda: ready or task.done())
        assert ready[0].startswith("listening for /baton on http://127.0.0.1:")
        url = ready[0].split(" on ")[1]
        body = slash_body("list")
        async with httpx.AsyncClient() as http:
            response = await http.post(url, content=body, headers=signed_headers(SECRET, body))
            forged = await http.post(url, content=body, headers=signed_headers("x", body))
        assert response.status_code == 200
        assert response.json()["text"].startswith("2 workflows: lead-to-invoice (never run)")
        assert forged.status_code == 401
        stop.set()
        await task
        assert [c.method for c in slack.calls] == ["auth.test"]


@pytest.mark.anyio
async def test_serve_runs_the_scheduler_on_its_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from test_bot_schedule import with_schedule

    from baton.bot.scheduler import TICK_JOB, BotScheduler
    from baton.probes.config import DigestSchedule

    made: list[BotScheduler] = []

    class Recorded(BotScheduler):
        def start(self) -> None:
            made.append(self)
            super().start()

    monkeypatch.setattr(baton.bot.serve, "BotScheduler", Recorded)
    async with SlackStandIn(token=BOT_TOKEN) as slack:
        digest = DigestSchedule("C0DIGEST", "0 9 * * 1")
        config = dataclasses.replace(
            with_schedule(sample_config(), api_url=slack.api_url, digests=[digest]),
            store=str(tmp_path / "baton.db"),
        )
        tokens = Tokens(bot_token=BOT_TOKEN, signing_secret=SECRET, app_token=None)
        stop, ready = asyncio.Event(), []
        task = asyncio.create_task(
            run_serve(config, tokens, host="127.0.0.1", port=0, stop=stop, ready=ready.append)
        )
        await _until(lambda: ready or task.done())
        (scheduling,) = made
        assert scheduling.scheduler.running
        jobs = {job.id: job for job in scheduling.scheduler.get_jobs()}
        assert set(jobs) == {
            "baton-probe:lead-to-invoice",
            "baton-" + _digest_key(digest),
            TICK_JOB,
        }
        assert all(job.next_run_time is not None for job in jobs.values())
        assert scheduling.engine is not scheduling.bot.engine  # its own lease owner
        stop.set()
        await task
        await asyncio.sleep(0)  # the scheduler stops on its loop
        assert not scheduling.scheduler.running


def _digest_key(spec: object) -> str:
    from baton.bot.scheduler import digest_key

    return digest_key(spec)  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_serve_in_socket_mode_runs_a_real_probe(tmp_path: Path) -> None:
    sandbox = Sandbox(seed=1, search_lag_s=0.05, glue_delay_s=(0.0, 0.05))
    await asyncio.to_thread(sandbox.start)
    try:
        async with SlackStandIn(token=BOT_TOKEN, app_token=APP_TOKEN) as slack:
            base = fast(sandbox_config(sandbox.url))
            config = dataclasses.replace(
                base,
                store=str(tmp_path / "baton.db"),
                slack=dataclasses.replace(base.slack, api_url=slack.api_url),
            )
            tokens = Tokens(bot_token=BOT_TOKEN, signing_secret=None, app_token=APP_TOKEN)
            stop, ready = asyncio.Event(), []
            task = asyncio.create_task(run_serve(config, tokens, stop=stop, ready=ready.append))
            await _until(lambda: ready or task.done())
            assert ready == ["connected to Slack in Socket Mode, listening for /baton in Stand-in"]
            await slack.connected()
            ack = await slack.socket_command("help")
            assert ack["payload"]["text"].startswith("Baton traces a marked test record")
            ack = await slack.socket_command("run lead-to-invoice card")
            assert "payload" not in ack or not ack["payload"]

            def finished() -> bool:
                updates = slack.of("chat.update")
                return bool(updates) and updates[-1].params["text"].startswith("✅")

            await _until(finished)
            stop.set()
            await task
            assert [p for c in slack.calls for p in spec_violations(c)] == []
    finally:
        await asyncio.to_thread(sandbox.stop)
