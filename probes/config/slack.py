"""The ``slack:`` section: the command, tokens (only from the environment), allowlists,
digests, and ``slack.oauth`` for several workspaces; and the secret check every credential
goes through (``tools.<name>.credentials`` too).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import messages as msg
from .check import Checker
from .document import KeyPath, beside_config
from .model import SlackConfig, SlackOAuthConfig, WorkflowConfig
from .schedules import check_digests
from .values import env_var_hint, secret_default, single_ref

SLACK_KEYS = (
    "command",
    "api_url",
    "bot_token",
    "signing_secret",
    "app_token",
    "allowed_users",
    "allowed_channels",
    "default_channel",
    "digests",
    "oauth",
)
OAUTH_KEYS = ("client_id", "client_secret", "installations", "redirect_uri")
SLACK_SECRETS = ("bot_token", "signing_secret", "app_token")


def check_secret(ck: Checker, path: KeyPath, key: str, value: Any, var_hint: str) -> str | None:
    """A secret from an env reference: the value, ``""`` when set empty, ``None`` on error.

    The value itself never appears in a message, whatever it is.
    """
    if not isinstance(value, str) or single_ref(value) is None:
        ck.add(path, msg.literal_secret(key, var_hint))
        return None
    if secret_default(value):
        ck.add(path, msg.literal_secret_default(key, single_ref(value) or var_hint))
        return None
    before = ck.problem_count
    resolved = ck.expand(path, value.strip())
    return resolved if ck.problem_count == before else None


def check_slack(ck: Checker, value: Any, workflows: list[str], path: str) -> SlackConfig:
    if value is None:
        return SlackConfig()
    m = ck.mapping(("slack",), value, SLACK_KEYS)
    if m is None:
        return SlackConfig()
    command = ck.text(("slack", "command"), m.get("command")) or "/baton"
    if not command.startswith("/") or " " in command:
        ck.add(("slack", "command"), msg.slack_command(command))
    api_url = ck.url(("slack", "api_url"), m.get("api_url")) or None
    secrets: dict[str, str | None] = {}
    for key in SLACK_SECRETS:
        raw = m.get(key)
        # Empty means "not configured": the example ships ${SLACK_BOT_TOKEN:-}.
        if raw is None or raw == "":
            secrets[key] = None
            continue
        secrets[key] = (
            check_secret(ck, ("slack", key), key, raw, env_var_hint("slack", key)) or None
        )
    default_channel = ck.text(("slack", "default_channel"), m.get("default_channel")) or None
    if default_channel and "oauth" in m:
        ck.add(("slack", "default_channel"), msg.oauth_default_channel())
    return SlackConfig(
        command=command,
        api_url=api_url,
        bot_token=secrets["bot_token"],
        signing_secret=secrets["signing_secret"],
        app_token=secrets["app_token"],
        allowed_users=ck.text_list(("slack", "allowed_users"), m.get("allowed_users")),
        allowed_channels=ck.text_list(("slack", "allowed_channels"), m.get("allowed_channels")),
        default_channel=default_channel,
        digests=check_digests(ck, ("slack", "digests"), m.get("digests"), workflows),
        oauth=_oauth(ck, m["oauth"], path) if "oauth" in m else None,
    )


def _oauth(ck: Checker, value: Any, path: str) -> SlackOAuthConfig | None:
    """``slack.oauth`` (``{}`` is enough: the client ID and secret then come from
    ``$SLACK_CLIENT_ID`` / ``$SLACK_CLIENT_SECRET``)."""
    where = ("slack", "oauth")
    m = {} if value is None else ck.mapping(where, value, OAUTH_KEYS)
    if m is None:
        return None
    secret = m.get("client_secret")
    if secret is not None and secret != "":
        secret = check_secret(
            ck, (*where, "client_secret"), "client_secret", secret, "SLACK_CLIENT_SECRET"
        )
    installations = ck.text((*where, "installations"), m.get("installations"))
    if installations == ":memory:":
        ck.add((*where, "installations"), msg.oauth_installations_memory())
    default = SlackOAuthConfig.installations
    return SlackOAuthConfig(
        client_id=ck.text((*where, "client_id"), m.get("client_id")) or None,
        client_secret=secret or None,
        installations=beside_config(installations or default, path),
        redirect_uri=ck.url((*where, "redirect_uri"), m.get("redirect_uri")) or None,
    )


def check_digest_workspaces(
    ck: Checker, slack: Any, workflows: Mapping[str, WorkflowConfig]
) -> None:
    """With ``slack.oauth``, each digest is about the workflows of one workspace."""
    raw = slack.get("digests") if isinstance(slack, dict) else None
    for index, item in enumerate(raw if isinstance(raw, list) else []):
        if not isinstance(item, dict) or not item.get("channel"):
            continue  # malformed (reported already) or off
        names = item.get("workflows") or []
        named = [n for n in names if isinstance(n, str)] if isinstance(names, list) else []
        spaces = {workflows[n].workspace or "" for n in named if n in workflows}
        if not named or len(spaces) > 1:
            at: KeyPath = ("slack", "digests", index)
            ck.add((*at, "workflows") if named else at, msg.digest_workspace(spaces))


__all__ = ["SLACK_KEYS", "check_digest_workspaces", "check_secret", "check_slack"]
