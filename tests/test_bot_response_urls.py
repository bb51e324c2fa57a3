"""Response URLs come in payload fields, and every payload field may be forged; Baton POSTs to
them. Only a URL Slack could have issued is ever fetched: ``https://hooks.slack.com/…``,
``https://hooks.slack-gov.com/…``, or the host of ``slack.api_url`` (here the stand-in's).
Through the real endpoint: slash commands and button presses with a forged URL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from test_bot_alert_actions import action_body, alerted
from test_bot_http import harness
from test_bot_run_ui import interact, press

from baton.bot import slack_api
from baton.bot.slack_api import trusted_response_url

pytestmark = pytest.mark.anyio

METADATA = "http://169.254.169.254/latest/meta-data/iam/security-credentials/"
FORGED = [
    METADATA,
    "https://hooks.slack.com.attacker.example/x",
    "https://hooks.slack.com@attacker.example/x",
    "http://hooks.slack.com/commands/T0/1/x",  # not https
    "https://hooks.slack.com:8443/x",
    "http://127.0.0.1:9/hooks/other-port",  # the stand-in's host, another port
    "file:///etc/passwd",
]


@pytest.fixture
def fetched(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every URL Baton POSTs an answer to (whatever its host), in order."""
    urls: list[str] = []

    class Spy(slack_api.AsyncWebhookClient):
        async def send_dict(self, *args: Any, **kwargs: Any) -> Any:
            urls.append(self.url)
            return await super().send_dict(*args, **kwargs)

    monkeypatch.setattr(slack_api, "AsyncWebhookClient", Spy)
    yield urls


@pytest.mark.parametrize("url", FORGED)
def test_only_slacks_hosts_and_the_api_urls_are_trusted(url: str) -> None:
    api = "http://127.0.0.1:5000/api/"
    assert trusted_response_url(url, api_url=api) is None
    assert trusted_response_url("https://hooks.slack.com/commands/T0/1/x") is not None
    assert trusted_response_url("https://hooks.slack-gov.com/actions/T0/1/x") is not None
    assert trusted_response_url("http://127.0.0.1:5000/hooks/a", api_url=api) is not None
    assert trusted_response_url("http://127.0.0.1:5000/hooks/a") is None  # no api_url: no


@pytest.mark.parametrize("url", [METADATA, "http://127.0.0.1:9/hooks/other-port"])
async def test_a_forged_response_url_in_a_slash_command_is_never_fetched(
    url: str, fetched: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    async with harness(outcome="drop") as h:
        # a run: "started" would go to the response URL; a digest Slack refuses: the error
        reply = await h.command("run lead-to-invoice", response_url=url)
        assert reply.status == 200
        h.slack.fail("chat.postMessage", "not_in_channel")
        reply = await h.command("digest", response_url=url)
        assert reply.status == 200
        await h.bot.drain()
        assert [s["workflow"] for s in h.engine.starts] == ["lead-to-invoice"]  # it ran
        assert url not in fetched and fetched == []
        assert h.slack.of("response_url") == []
        assert "ignored a response_url" in caplog.text and "Traceback" not in caplog.text
        # the same command with the URL Slack issued is answered there
        hook = h.slack.response_url("real")
        h.slack.fail("chat.postMessage", "not_in_channel")
        await h.command("digest", response_url=hook)
        await h.bot.drain()
        assert fetched == [hook]


@pytest.mark.parametrize("url", [METADATA, "http://127.0.0.1:9/hooks/other-port"])
async def test_a_forged_response_url_in_a_button_press_is_never_fetched(
    url: str, fetched: list[str]
) -> None:
    async with alerted() as a:
        # an alert button with a value naming no alert: the refusal would go to the URL
        body = action_body("alert_ack", "999", message_ts=a.ts, response_url=url)
        from bot_support import SECRET
        from slack_standin import signed_headers

        reply = await a.h.send(body, signed_headers(SECRET, body))
        assert reply.status == 200
        # a Re-run of no run Baton knows
        payload = press(a.h, "run_rerun", "r-999999")
        payload["response_url"] = url
        reply = await interact(a.h, payload)
        assert reply.status == 200
        await a.h.bot.drain()
        assert fetched == [] and a.h.slack.of("response_url") == []
        outcomes = [r[0] for r in a.h.db.execute("SELECT outcome FROM action_presses")]
        assert outcomes == ["unknown", "invalid"]  # refused and recorded, told nobody
