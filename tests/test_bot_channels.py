"""Channel names in the config become IDs when ``baton serve`` starts (``conversations.list``
against the Slack stand-in, checked against Slack's spec)."""

from __future__ import annotations

import dataclasses

import pytest
from bot_support import BOT_TOKEN, sample_config
from slack_sdk.web.async_client import AsyncWebClient
from slack_standin import SlackStandIn, spec_violations

from baton.bot.channels import resolve_channels
from baton.probes.config import Config, DigestSchedule
from baton.probes.config.slots import ScheduleSpec
from baton.probes.errors import ConfigError

pytestmark = pytest.mark.anyio


def named(default: str, scheduled: str, digest: str) -> Config:
    config = sample_config(
        default_channel=default, digests=[DigestSchedule(channel=digest, cron="0 9 * * 1")]
    )
    lead = config.workflows["lead-to-invoice"]
    spec = ScheduleSpec("lead-to-invoice", every_s=900, channel=scheduled)
    workflows = {**config.workflows, lead.name: dataclasses.replace(lead, schedule=spec)}
    return dataclasses.replace(config, workflows=workflows)


async def test_names_become_ids_across_every_page() -> None:
    async with SlackStandIn(token=BOT_TOKEN) as slack:
        slack.channels["C0ZED1234"] = "zed"  # on the second page (two channels a page)
        client = AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url)
        config = await resolve_channels(named("#probes", "Zed", "C0OPS"), client)
        assert config.slack.default_channel == "C0PROBES"
        schedule = config.workflows["lead-to-invoice"].schedule
        assert schedule is not None and schedule.channel == "C0ZED1234"
        assert config.slack.digests[0].channel == "C0OPS"
        calls = slack.of("conversations.list")
        assert len(calls) == 2 and calls[1].params["cursor"] == "2"
        assert [p for c in calls for p in spec_violations(c)] == []


async def test_a_config_of_ids_makes_no_call() -> None:
    async with SlackStandIn(token=BOT_TOKEN) as slack:
        client = AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url)
        config = named("C0PROBES", "C0OPS", "C0OPS")
        assert await resolve_channels(config, client) == config
        assert slack.calls == []


async def test_a_name_baton_cannot_see_is_named_with_its_key() -> None:
    async with SlackStandIn(token=BOT_TOKEN) as slack:
        slack.archived.add("C0OPS")
        client = AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url)
        with pytest.raises(ConfigError) as caught:
            await resolve_channels(named("probes", "ops-alerts", "secret-room"), client)
    assert caught.value.problems == [
        f"{key}: no channel named '#{name}' that Baton can see; use its ID (C…, at the "
        "bottom of the channel's details) or, for a private channel, /invite @Baton there first"
        for key, name in [
            ("workflows.lead-to-invoice.schedule.channel", "ops-alerts"),
            ("slack.digests[0].channel", "secret-room"),
        ]
    ]


async def test_without_the_scope_it_says_which_to_add() -> None:
    async with SlackStandIn(token=BOT_TOKEN) as slack:
        slack.scopes.clear()
        client = AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url, retry_handlers=[])
        with pytest.raises(ConfigError, match="add the channels:read and groups:read scopes"):
            await resolve_channels(named("#probes", "C0OPS", "C0OPS"), client)
