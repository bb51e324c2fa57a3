"""Channel names in the config, turned into channel IDs once, when ``baton serve`` starts.

Slack addresses a channel by its ID (``C0123ABCDEF``): file uploads need it, permalinks are
built from it, and a name can be changed by anyone in the channel. People write names
(``#probes``), so every name the config uses (``slack.default_channel``, a schedule's
``channel``, a digest's ``channel``) is looked up with ``conversations.list`` at start-up and
replaced by its ID; a name Baton cannot see is one clear error naming the key, before
anything runs. A config that only uses IDs makes no call at all.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from baton.probes.config import Config
from baton.probes.config.messages import shown
from baton.probes.errors import ConfigError

#: A public (C), private (G) channel or a DM (D) ID, as Slack writes them (names are
#: lowercase, so capitals and digits only is an ID).
_CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]{2,}")
#: Pages of ``conversations.list`` read at most (1,000 channels each).
MAX_PAGES = 50


def is_channel_id(text: str) -> bool:
    """``C0123ABCDEF`` is an ID; ``probes`` and ``#probes`` are names.

    >>> is_channel_id("C0PROBES"), is_channel_id("#probes")
    (True, False)
    """
    return _CHANNEL_ID.fullmatch(text) is not None


def channel_uses(config: Config) -> list[tuple[str, str]]:
    """Every channel the config names, with the key that names it: ``(key, channel)``."""
    uses: list[tuple[str, str]] = []
    if config.slack.default_channel:
        uses.append(("slack.default_channel", config.slack.default_channel))
    for name, wf in config.workflows.items():
        if wf.schedule is not None and wf.schedule.channel:
            uses.append((f"workflows.{name}.schedule.channel", wf.schedule.channel))
    for i, digest in enumerate(config.slack.digests):
        uses.append((f"slack.digests[{i}].channel", digest.channel))
    return uses


async def resolve_channels(config: Config, client: AsyncWebClient) -> Config:
    """``config`` with every channel name replaced by its ID (``conversations.list``).

    Raises ``ConfigError`` naming each key whose channel Baton cannot see, or saying which
    scope to add when the app may not list channels."""
    names = {_name(ch) for _, ch in channel_uses(config) if not is_channel_id(ch)}
    if not names:
        return config
    ids = await _channel_ids(client)
    problems = [
        f"{key}: no channel named {shown('#' + _name(ch))} that Baton can see; use its ID "
        "(C…, at the bottom of the channel's details) or, for a private channel, "
        "/invite @Baton there first"
        for key, ch in channel_uses(config)
        if not is_channel_id(ch) and _name(ch) not in ids
    ]
    if problems:
        raise ConfigError(problems, path=config.path)

    def as_id(channel: str) -> str:
        return channel if is_channel_id(channel) else ids[_name(channel)]

    slack = config.slack
    if slack.default_channel:
        slack = dataclasses.replace(slack, default_channel=as_id(slack.default_channel))
    digests = [dataclasses.replace(d, channel=as_id(d.channel)) for d in slack.digests]
    slack = dataclasses.replace(slack, digests=digests)
    workflows = {
        name: wf
        if wf.schedule is None or not wf.schedule.channel
        else dataclasses.replace(
            wf, schedule=dataclasses.replace(wf.schedule, channel=as_id(wf.schedule.channel))
        )
        for name, wf in config.workflows.items()
    }
    return dataclasses.replace(config, slack=slack, workflows=workflows)


def _name(channel: str) -> str:
    return channel.strip().removeprefix("#").lower()


async def _channel_ids(client: AsyncWebClient) -> dict[str, str]:
    """Channel name → ID for every channel the bot can see (public, and private ones it
    is in), archived ones left out."""
    ids: dict[str, str] = {}
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        try:
            page = await client.conversations_list(
                types="public_channel,private_channel",
                exclude_archived=True,
                limit=1000,
                **({"cursor": cursor} if cursor else {}),
            )
        except SlackApiError as exc:
            error = str(exc.response.get("error") or exc.response.status_code)
            if error == "missing_scope":
                raise ConfigError(
                    "the config names Slack channels by name: add the channels:read and "
                    "groups:read scopes to the app (`baton manifest` has them) and reinstall "
                    "it, or use channel IDs (C…)"
                ) from None
            raise ConfigError(
                f"Slack answered conversations.list with {error!r} while looking up channel "
                "names; use channel IDs (C…) instead"
            ) from None
        data: Any = page.data if isinstance(page.data, dict) else {}
        for channel in data.get("channels") or []:
            if isinstance(channel, dict) and channel.get("name") and channel.get("id"):
                ids.setdefault(str(channel["name"]).lower(), str(channel["id"]))
        cursor = (data.get("response_metadata") or {}).get("next_cursor") or None
        if not cursor:
            break
    return ids


__all__ = ["channel_uses", "is_channel_id", "resolve_channels"]
