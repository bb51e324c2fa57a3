"""The Slack app manifest: paste it at https://api.slack.com/apps → Create New App.

Only what the bot uses: the slash command, the shortcut, the Home tab, interactivity, and
the scopes to answer them.

- ``commands``: the slash command itself.
- ``chat:write``: the parent message, its thread, and ``chat.update`` of the parent; alerts
  about scheduled probes and digests.
- ``chat:write.public``: post in public channels the app was never invited to, so
  ``/baton run`` works anywhere public without ``/invite`` first. (Private channels and
  DMs still need an invite; until then Baton answers through the command's response URL.)
- ``im:write``: the result of a run asked for in a private channel or DM Baton is not in,
  when the run outlives the command's response URL (30 minutes, five uses), goes to the
  runner's DM with Baton (``conversations.open``); runs started from the App Home or the
  ``baton_run`` shortcut report in that DM too.
- ``files:write``: the digest's chart (a PNG), uploaded to the digest's thread
  (``files_upload_v2``). Long evidence is folded into messages, never uploaded.
- ``channels:join``: sharing a file needs membership even where ``chat:write.public`` lets
  Baton post, so before the chart Baton joins the public channel (``conversations.join``).
- ``channels:history`` and ``groups:history``: before an alert is sent again after an
  attempt that may have reached Slack (a 5xx, a dropped connection, a stop mid-send), Baton
  looks in the channel (``conversations.history`` / ``conversations.replies``, from that
  attempt on) for the message carrying the alert's key in its metadata, so the channel never
  shows it twice. Only Baton's own recent messages are looked at; without these scopes (or
  with the bot not in the channel) Baton sends again and a duplicate is possible.

Interactivity (the buttons on alerts: Acknowledge, Snooze, Re-run; the Re-run button on a
run's result; the run modal; the App Home's Run buttons) posts to the same request URL as the
slash command (``/slack/events``), or arrives over Socket Mode. One global shortcut
(``baton_run``: "Run a probe"), the App Home's Home tab and one bot event,
``app_home_opened`` (the Home tab is published when someone opens it). No user scopes.
With ``slack.oauth`` (several workspaces, ``baton manifest --oauth``),
``oauth_config.redirect_urls`` names ``/slack/oauth_redirect`` beside the request URL, where
Slack sends each installer back, and two more bot events, ``app_uninstalled`` and
``tokens_revoked`` (no scope needed), tell Baton to delete a workspace's installation.

    >>> "chat:write" in manifest_yaml("/baton")
    True
"""

from __future__ import annotations

import urllib.parse
from typing import Any

import yaml

#: ``channels:read`` and ``groups:read`` let ``baton serve`` turn channel names in the
#: config into IDs (``conversations.list``); a config of IDs only never uses them.
BOT_SCOPES = (
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
)
#: The global shortcut that opens the run modal (``baton.bot.run_ui``).
SHORTCUT_CALLBACK_ID = "baton_run"
BOT_EVENTS = ("app_home_opened",)
#: With ``slack.oauth``: a workspace that removes the app (or revokes its tokens) has its
#: installation deleted, its bot and scheduler stopped (``baton.bot.workspaces.route``).
OAUTH_EVENTS = ("app_uninstalled", "tokens_revoked")
USAGE_HINT = (
    "run WORKFLOW [variant] [field=value …] | list | status | history WORKFLOW | schedule | "
    "pause WORKFLOW | resume WORKFLOW | digest [WORKFLOW] [7d] | help"
)


def build_manifest(
    command: str = "/baton",
    *,
    url: str | None = None,
    name: str = "Baton",
    redirect_url: str | None = None,
) -> dict[str, Any]:
    """The manifest as a dict. ``url``: HTTP mode's request URL; ``None``: Socket Mode.
    ``redirect_url``: where Slack sends installers back (``slack.oauth``)."""
    oauth: dict[str, Any] = {"scopes": {"bot": list(BOT_SCOPES)}}
    if redirect_url:
        oauth = {"redirect_urls": [redirect_url], **oauth}
    slash: dict[str, Any] = {
        "command": command,
        "description": "Probe a workflow end to end and see where a record leaks",
        "usage_hint": USAGE_HINT,
        "should_escape": False,
    }
    if url:
        slash["url"] = url
    events: dict[str, Any] = {
        "bot_events": list(BOT_EVENTS) + (list(OAUTH_EVENTS) if redirect_url else [])
    }
    interactivity: dict[str, Any] = {"is_enabled": True}
    if url:
        events = {"request_url": url, **events}
        interactivity["request_url"] = url
    return {
        "_metadata": {"major_version": 1, "minor_version": 1},
        "display_information": {
            "name": name,
            "description": "Finds where your automations drop the baton.",
        },
        "features": {
            "app_home": {
                "home_tab_enabled": True,
                "messages_tab_enabled": True,
                "messages_tab_read_only_enabled": True,
            },
            "bot_user": {"display_name": name, "always_online": False},
            "shortcuts": [
                {
                    "name": "Run a probe",
                    "type": "global",
                    "callback_id": SHORTCUT_CALLBACK_ID,
                    "description": "Pick a workflow to probe; the result comes to your DM",
                }
            ],
            "slash_commands": [slash],
        },
        "oauth_config": oauth,
        "settings": {
            "event_subscriptions": events,
            "interactivity": interactivity,
            "org_deploy_enabled": False,
            "socket_mode_enabled": url is None,
            "token_rotation_enabled": False,
        },
    }


def manifest_yaml(
    command: str = "/baton",
    *,
    url: str | None = None,
    name: str = "Baton",
    redirect_url: str | None = None,
) -> str:
    """The manifest as YAML, keys in a readable order."""
    return yaml.safe_dump(
        build_manifest(command, url=url, name=name, redirect_url=redirect_url),
        sort_keys=False,
        allow_unicode=True,
        width=100,
    )


def redirect_url_for(url: str) -> str:
    """``/slack/oauth_redirect`` on the host of the request URL ``url``."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, "/slack/oauth_redirect", "", ""))


__all__ = [
    "BOT_EVENTS",
    "BOT_SCOPES",
    "OAUTH_EVENTS",
    "SHORTCUT_CALLBACK_ID",
    "build_manifest",
    "manifest_yaml",
    "redirect_url_for",
]
