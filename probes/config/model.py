"""Configuration: the typed model of a Baton config file, and ``load_config``.

The config format is a public interface (users keep it in their repos). See
``config.example.yaml`` for every key, documented.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .cron import check_crontab, cron_trigger
from .slots import ScheduleSpec
from .windows import AlertPolicy, parse_zone

DEFAULT_DEADLINE_S = 60.0
DEFAULT_GRACE_S = 30.0
DEFAULT_SETTLE_S = 3.0
DEFAULT_TIMEOUT_S = 10.0
DEFAULT_DIGEST_PERIOD_S = 7 * 86_400.0

# Caps: a config past one of these is a typo or an attack, refused with the cap named.
#: ``deadline``, ``grace``, ``settle`` and a tool's ``timeout``: a week at most.
MAX_DURATION_S = 7 * 86_400.0
#: A schedule's ``every`` and a digest's ``period`` (config, ``--period``, ``/baton digest``):
#: a (leap) year at most. The one place this cap is written.
MAX_PERIOD_S = 366 * 86_400.0
MAX_EVERY_S = MAX_PERIOD_S
#: ``expect.count``, ``failures_before_alert``, ``errors_before_alert``.
MAX_COUNT = 1_000
#: ``rate_limit``: from one request an hour to 10,000 a second.
MIN_RATE_PER_S = 1 / 3_600
MAX_RATE_PER_S = 10_000.0
#: Every URL (``url``, ``base_url``, ``cleanup_url``, ``slack.api_url``...), in characters.
MAX_URL_CHARS = 2_000
#: A tool, workflow, stage or variant name (they show in reports and in Slack).
MAX_NAME_CHARS = 64
#: The config file itself: a config is a few kilobytes; 1 MiB is far past any real one.
MAX_CONFIG_BYTES = 1 << 20


@dataclass(frozen=True)
class ToolConfig:
    """One tool Baton talks to (``tools.<name>``)."""

    name: str
    type: str  # registered connector type: webhook, hubspot_forms, hubspot, sendgrid, stripe, http
    base_url: str | None = None  # None: the vendor's real base URL
    # resolved from ${ENV_VARS}; never in a repr, so never in a log line or traceback
    credentials: dict[str, str] = field(default_factory=dict, repr=False)
    rate_limit: float | None = None  # requests per second; None: the connector's default
    timeout_s: float = DEFAULT_TIMEOUT_S
    options: dict[str, Any] = field(default_factory=dict)  # connector-specific keys


@dataclass(frozen=True)
class Expectation:
    """What a stage should show for the test record (``stages[i].expect``).

    ``fields`` maps a field name *as the tool shows it* to a template over the record,
    e.g. ``{"firstname": "{first_name}", "amount_due": "{amount_cents}"}``.
    ``absent: true`` means the record must NOT show up there (e.g. no welcome mail
    without marketing consent): finding it is ``unexpected``.
    """

    fields: dict[str, str] = field(default_factory=dict)
    count: int = 1
    absent: bool = False


@dataclass(frozen=True)
class StageConfig:
    name: str
    tool: str
    after: str | None = None  # None only for the entry stage (the first)
    label: str = ""  # how people read it: "Form", "CRM"; defaults to name
    expect: Expectation = field(default_factory=Expectation)
    deadline_s: float = DEFAULT_DEADLINE_S
    grace_s: float = DEFAULT_GRACE_S
    settle_s: float = DEFAULT_SETTLE_S
    options: dict[str, Any] = field(default_factory=dict)  # e.g. entry field mapping

    @property
    def display(self) -> str:
        return self.label or self.name


@dataclass(frozen=True)
class VariantConfig:
    name: str
    record: dict[str, Any] = field(default_factory=dict)  # record field overrides
    expect: dict[str, Expectation] = field(default_factory=dict)  # per-stage replacements


@dataclass(frozen=True)
class WorkflowConfig:
    name: str
    stages: list[StageConfig]
    description: str = ""
    record: dict[str, Any] = field(default_factory=dict)
    variants: dict[str, VariantConfig] = field(default_factory=dict)
    #: When ``baton serve`` probes it on its own (``workflows.<name>.schedule``); its
    #: ``channel`` is already ``slack.default_channel`` when the schedule names none.
    schedule: ScheduleSpec | None = None
    #: When a scheduled result is worth a message (``workflows.<name>.alerts``).
    alerts: AlertPolicy = field(default_factory=AlertPolicy)
    #: The Slack workspace (team ID ``T…``) it belongs to (``workflows.<name>.workspace``):
    #: only that workspace sees it in Slack. ``None``: every workspace the bot serves with a
    #: bot token; required when the bot serves several (``slack.oauth``).
    workspace: str | None = None

    @property
    def entry(self) -> StageConfig:
        return self.stages[0]

    def stage(self, name: str) -> StageConfig:
        for s in self.stages:
            if s.name == name:
                return s
        raise KeyError(name)

    def seam(self, stage: StageConfig) -> str:
        """``"Form → CRM"``, with display labels."""
        if stage.after is None:
            return stage.display
        return f"{self.stage(stage.after).display} → {stage.display}"


@dataclass(frozen=True)
class DigestSchedule:
    """One health digest posted on a schedule (an item of ``slack.digests``).

    ``cron`` is a crontab expression in ``timezone`` (weekdays as crontab numbers them:
    0 or 7 is Sunday); the digest covers the ``period_s`` before it fires, for
    ``workflows`` (empty: every workflow). Invalid values raise ``ValueError``.

    >>> DigestSchedule("C0123", "0 9 * * 1").trigger()  # Mondays at 09:00 UTC
    <CronTrigger (month='*', day='*', day_of_week='mon', hour='9', minute='0', timezone='UTC')>
    """

    channel: str
    cron: str
    period_s: float = DEFAULT_DIGEST_PERIOD_S
    workflows: tuple[str, ...] = ()
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        if not self.channel:
            raise ValueError("a digest needs the channel to post to")
        if not self.period_s > 0:
            raise ValueError(f"a digest period must be more than 0s, not {self.period_s!r}")
        parse_zone(self.timezone)
        check_crontab(self.cron, self.timezone)

    def trigger(self) -> Any:
        """The APScheduler 3 trigger that fires this digest."""
        return cron_trigger(self.cron, self.timezone)


@dataclass(frozen=True)
class SlackOAuthConfig:
    """``slack.oauth``: installation over OAuth, so one ``baton serve`` serves several
    workspaces, each with its own bot token (kept encrypted in ``installations``)."""

    #: ``None``: ``$SLACK_CLIENT_ID`` / ``$SLACK_CLIENT_SECRET`` when ``baton serve`` starts.
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    #: The SQLite file of installations and OAuth states (tokens encrypted at rest).
    installations: str = "baton-installations.db"
    #: Where Slack sends the installer back; ``None``: the app's only Redirect URL.
    redirect_uri: str | None = None


@dataclass(frozen=True)
class SlackConfig:
    """``slack:``, used by ``baton serve`` (the bot)."""

    command: str = "/baton"
    api_url: str | None = (
        None  # None: https://slack.com/api/ ; GovSlack: https://slack-gov.com/api/
    )
    bot_token: str | None = field(default=None, repr=False)  # from ${SLACK_BOT_TOKEN}
    signing_secret: str | None = field(default=None, repr=False)  # from ${SLACK_SIGNING_SECRET}
    app_token: str | None = field(default=None, repr=False)  # ${SLACK_APP_TOKEN}, Socket Mode
    allowed_users: list[str] = field(default_factory=list)  # empty: everyone
    allowed_channels: list[str] = field(default_factory=list)  # empty: everywhere
    default_channel: str | None = None
    digests: list[DigestSchedule] = field(default_factory=list)  # scheduled health digests
    oauth: SlackOAuthConfig | None = None  # None: one workspace, with slack.bot_token


@dataclass(frozen=True)
class Config:
    tools: dict[str, ToolConfig]
    workflows: dict[str, WorkflowConfig]
    record: dict[str, Any] = field(default_factory=dict)  # record defaults for every workflow
    store: str = "baton.db"
    slack: SlackConfig = field(default_factory=SlackConfig)
    path: str | None = None
    #: Every value the file took from the environment (``${VAR}``), but Slack channel and
    #: user IDs and bare origins (``http://127.0.0.1:8765``): masked wherever Baton writes.
    env_values: tuple[str, ...] = field(default=(), repr=False, compare=False)


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read, check and return the config at ``path``.

    Every problem is reported at once as a ``ConfigError`` whose lines name the file,
    line and key to fix::

        >>> load_config("baton.yaml")  # doctest: +SKIP
        ConfigError: baton.yaml:14: workflows.lead.stages[2].tool: unknown tool 'hubspt'
        (did you mean 'hubspot'?)
    """
    from .loader import load_config as _load

    return _load(path)


def load_config_text(
    text: str, *, path: str = "<string>", env: Mapping[str, str] | None = None
) -> Config:
    """Check and return config ``text``; ``path`` names it in messages, ``env`` replaces
    ``os.environ`` for ``${VAR}`` references."""
    from .loader import load_config_text as _load_text

    return _load_text(text, path=path, env=env)
