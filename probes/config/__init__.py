"""The config: the typed model (``model``), and the loader that checks a file against it
(``loader``, with ``check``, ``values``, ``options``, ``records``, ``workflows``,
``schedules``, ``slack``, ``cron``, ``document``, ``connector_specs``); every message it can
say is in ``messages``. ``slots`` (``ScheduleSpec``) and ``windows`` (``AlertPolicy``) are
the config's own pure value types. ``load_config(path)`` is the one entry point.
"""

from __future__ import annotations

from .model import (
    DEFAULT_DEADLINE_S,
    DEFAULT_DIGEST_PERIOD_S,
    DEFAULT_GRACE_S,
    DEFAULT_SETTLE_S,
    DEFAULT_TIMEOUT_S,
    MAX_CONFIG_BYTES,
    MAX_COUNT,
    MAX_DURATION_S,
    MAX_EVERY_S,
    MAX_NAME_CHARS,
    MAX_PERIOD_S,
    MAX_RATE_PER_S,
    MAX_URL_CHARS,
    MIN_RATE_PER_S,
    Config,
    DigestSchedule,
    Expectation,
    SlackConfig,
    SlackOAuthConfig,
    StageConfig,
    ToolConfig,
    VariantConfig,
    WorkflowConfig,
    load_config,
    load_config_text,
)

__all__ = [
    "DEFAULT_DEADLINE_S",
    "DEFAULT_DIGEST_PERIOD_S",
    "DEFAULT_GRACE_S",
    "DEFAULT_SETTLE_S",
    "DEFAULT_TIMEOUT_S",
    "MAX_CONFIG_BYTES",
    "MAX_COUNT",
    "MAX_DURATION_S",
    "MAX_EVERY_S",
    "MAX_NAME_CHARS",
    "MAX_PERIOD_S",
    "MAX_RATE_PER_S",
    "MAX_URL_CHARS",
    "MIN_RATE_PER_S",
    "Config",
    "DigestSchedule",
    "Expectation",
    "SlackConfig",
    "SlackOAuthConfig",
    "StageConfig",
    "ToolConfig",
    "VariantConfig",
    "WorkflowConfig",
    "load_config",
    "load_config_text",
]
