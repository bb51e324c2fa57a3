"""Checks for what Baton does on its own: ``workflows.<name>.schedule``,
``workflows.<name>.alerts`` and ``slack.digests``.

Each getter reports every problem under its key path and returns a usable value::

    spec = check_schedule(ck, ("workflows", "lead", "schedule"), {"every": "15m"},
                          workflow="lead", variants=["card"], default_channel="C0123")
    # ScheduleSpec(workflow='lead', every_s=900.0, channel='C0123', ...)

Cron expressions are crontab's (0 or 7 is Sunday), rewritten so APScheduler reads them the
same way (``config.cron``). Time zones are ``zoneinfo`` names; windows are those of
``baton.probes.config.windows``.
"""

from __future__ import annotations

import functools
from collections.abc import Collection
from typing import Any
from zoneinfo import available_timezones

from . import messages as msg
from .check import Checker
from .cron import check_crontab, standard_crontab
from .document import KeyPath
from .model import DEFAULT_DIGEST_PERIOD_S, MAX_EVERY_S, DigestSchedule
from .slots import ScheduleSpec
from .windows import MENTION_ID, AlertPolicy, WindowSyntaxError, parse_window, parse_zone

SCHEDULE_KEYS = ("cron", "every", "channel", "variants", "paused", "timezone")
ALERT_KEYS = (
    "failures_before_alert",
    "errors_before_alert",
    "timezone",
    "quiet_hours",
    "maintenance",
    "mention",
)
DIGEST_KEYS = ("channel", "cron", "period", "workflows", "timezone")
#: In ``schedule.variants``: the workflow's own record (unless it has a variant of that name).
DEFAULT_VARIANT = "default"
#: ``every`` below this is refused: cron cannot go faster, and ``every: 15`` is seconds.
MIN_EVERY_S = 60.0


def check_schedule(
    ck: Checker,
    path: KeyPath,
    value: Any,
    *,
    workflow: str,
    variants: Collection[str],
    default_channel: str | None,
) -> ScheduleSpec | None:
    """``workflows.<name>.schedule``; ``None`` when absent or wrong."""
    if value is None:
        return None
    m = ck.mapping(path, value, SCHEDULE_KEYS)
    if m is None:
        return None
    before = ck.problem_count
    timezone = _timezone(ck, (*path, "timezone"), m.get("timezone"))
    has_cron, has_every = m.get("cron") is not None, m.get("every") is not None
    if has_cron and has_every:
        ck.add(path, msg.cron_and_every())
    elif not (has_cron or has_every):
        ck.add(path, msg.cron_or_every())
    cron = _cron(ck, (*path, "cron"), m.get("cron"), timezone) if has_cron else None
    every = _every(ck, (*path, "every"), m.get("every")) if has_every else None
    channel = ck.text((*path, "channel"), m.get("channel")) or default_channel
    chosen = _variants(ck, (*path, "variants"), m.get("variants"), variants)
    paused = ck.boolean((*path, "paused"), m.get("paused"))
    if ck.problem_count != before:
        return None
    try:
        return ScheduleSpec(
            workflow=workflow,
            cron=cron,
            every_s=every,
            channel=channel,
            variants=chosen,
            paused=paused,
            timezone=timezone,
        )
    except ValueError as exc:  # pragma: no cover - every field was checked above
        ck.add(path, str(exc))
        return None


def check_alerts(ck: Checker, path: KeyPath, value: Any, *, default_timezone: str) -> AlertPolicy:
    """``workflows.<name>.alerts``; its time zone defaults to the schedule's."""
    if value is None:
        return AlertPolicy(timezone=default_timezone)
    m = ck.mapping(path, value, ALERT_KEYS)
    if m is None:
        return AlertPolicy()
    before = ck.problem_count
    values: dict[str, Any] = {}
    for key in ("failures_before_alert", "errors_before_alert"):
        if m.get(key) is not None:
            values[key] = ck.count((*path, key), m[key])
    values["timezone"] = _timezone(
        ck, (*path, "timezone"), m.get("timezone"), default=default_timezone
    )
    quiet = ck.text((*path, "quiet_hours"), m.get("quiet_hours")) or None
    if quiet is not None:
        _window(ck, (*path, "quiet_hours"), quiet)
    values["quiet_hours"] = quiet
    values["maintenance"] = _maintenance(ck, (*path, "maintenance"), m.get("maintenance"))
    values["mention"] = _mention(ck, (*path, "mention"), m.get("mention"))
    if ck.problem_count != before:
        return AlertPolicy()
    try:
        return AlertPolicy(**values)
    except ValueError as exc:  # pragma: no cover - every field was checked above
        ck.add(path, str(exc))
        return AlertPolicy()


def check_digests(
    ck: Checker, path: KeyPath, value: Any, workflows: Collection[str]
) -> list[DigestSchedule]:
    """``slack.digests``: a list; an item whose channel is empty is off (left out)."""
    if value is None:
        return []
    if not isinstance(value, list):
        ck.add(path, msg.wrong_type("a list of digests (each with channel and cron)", value))
        return []
    out = []
    for index, raw in enumerate(value):
        digest = _digest(ck, (*path, index), raw, workflows)
        if digest is not None:
            out.append(digest)
    return out


def _digest(
    ck: Checker, path: KeyPath, raw: Any, workflows: Collection[str]
) -> DigestSchedule | None:
    m = ck.mapping(path, raw, DIGEST_KEYS)
    if m is None:
        return None
    before = ck.problem_count
    if "channel" not in m:
        ck.add((*path, "channel"), msg.digest_channel_missing())
    if "cron" not in m:
        ck.add((*path, "cron"), msg.digest_cron_missing())
    channel = ck.text((*path, "channel"), m.get("channel"), required="channel" in m)
    timezone = _timezone(ck, (*path, "timezone"), m.get("timezone"))
    cron = _cron(ck, (*path, "cron"), m["cron"], timezone) if "cron" in m else None
    period = ck.duration(
        (*path, "period"), m.get("period"), default=DEFAULT_DIGEST_PERIOD_S, maximum=MAX_EVERY_S
    )
    names = _workflow_names(ck, (*path, "workflows"), m.get("workflows"), workflows)
    # Empty (``${SLACK_DIGEST_CHANNEL:-}`` unset) turns the digest off, as with the tokens.
    if ck.problem_count != before or not channel or cron is None:
        return None
    try:
        return DigestSchedule(
            channel=channel, cron=cron, period_s=period, workflows=names, timezone=timezone
        )
    except ValueError as exc:  # pragma: no cover - every field was checked above
        ck.add(path, str(exc))
        return None


# -- fields ------------------------------------------------------------------------------


def _mention(ck: Checker, path: KeyPath, value: Any) -> tuple[str, ...]:
    """Slack user IDs (``U…``, ``W…``) and user-group IDs (``S…``), each once, in order."""
    out: list[str] = []
    items = ck.text_list(path, value)
    for index, item in enumerate(items):
        where = path if isinstance(value, str) else (*path, index)
        if not MENTION_ID.match(item):
            ck.add(where, msg.bad_mention(item))
        elif item not in out:
            out.append(item)
    return tuple(out)


def _timezone(ck: Checker, path: KeyPath, value: Any, *, default: str = "UTC") -> str:
    """A ``zoneinfo`` name; ``default`` when absent or empty, ``"UTC"`` after a problem."""
    name = ck.text(path, value)
    if not name:
        return default
    try:
        parse_zone(name)
    except WindowSyntaxError:
        ck.add(path, msg.bad_timezone(name, _zones()))
        return "UTC"
    return name


@functools.cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def _cron(ck: Checker, path: KeyPath, value: Any, timezone: str) -> str | None:
    """A crontab expression, with numeric weekdays written as names (see ``config.cron``)."""
    expr = ck.text(path, value, required=True)
    if not expr:
        if expr == "":
            ck.add(path, msg.needs_value())
        return None
    expr = " ".join(expr.split())
    try:
        check_crontab(expr, timezone)
        return standard_crontab(expr)
    except ValueError as exc:
        ck.add(path, msg.bad_cron(expr, str(exc)))
        return None


def _every(ck: Checker, path: KeyPath, value: Any) -> float | None:
    before = ck.problem_count
    seconds = ck.duration(path, value, default=0.0, maximum=MAX_EVERY_S)
    if ck.problem_count != before:
        return None
    if seconds < MIN_EVERY_S:
        ck.add(path, msg.every_too_short(value))
        return None
    return seconds


def _variants(
    ck: Checker, path: KeyPath, value: Any, known: Collection[str]
) -> tuple[str | None, ...]:
    """Variant names; ``default`` or ``~`` is the workflow's own record (``None``)."""
    if value is None:
        return ()
    if isinstance(value, str):
        items: list[tuple[KeyPath, Any]] = [
            (path, item.strip()) for item in ck.expand(path, value).split(",") if item.strip()
        ]
    elif isinstance(value, list):
        items = [((*path, i), item) for i, item in enumerate(value)]
    else:
        ck.add(path, msg.wrong_type("a list of variant names", value))
        return ()
    out: list[str | None] = []
    for item_path, item in items:
        if item is None:
            out.append(None)
            continue
        name = ck.text(item_path, item)
        if name is None:
            continue
        if name in known:
            out.append(name)
        elif name == DEFAULT_VARIANT:
            out.append(None)
        else:
            ck.add(item_path, msg.unknown_variant(name, known))
    return tuple(out)


def _window(ck: Checker, path: KeyPath, spec: str) -> None:
    try:
        parse_window(spec)
    except WindowSyntaxError as exc:
        ck.add(path, str(exc))


def _maintenance(ck: Checker, path: KeyPath, value: Any) -> tuple[str, ...]:
    """A list of windows, or one window as text (not split: ``Mon,Thu 23:30-00:30``)."""
    if value is None:
        return ()
    if isinstance(value, str):
        items: list[tuple[KeyPath, Any]] = [(path, value)]
    elif isinstance(value, list):
        items = [((*path, i), item) for i, item in enumerate(value)]
    else:
        ck.add(path, msg.wrong_type("a list of time windows", value))
        return ()
    out = []
    for item_path, item in items:
        spec = ck.text(item_path, item, required=True)
        if spec:
            _window(ck, item_path, spec)
            out.append(spec)
        elif spec == "":
            ck.add(item_path, msg.needs_value())
    return tuple(out)


def _workflow_names(
    ck: Checker, path: KeyPath, value: Any, known: Collection[str]
) -> tuple[str, ...]:
    """Workflow names that must exist; a list, or text separated by commas."""
    if isinstance(value, list):
        items: list[tuple[KeyPath, Any]] = [((*path, i), item) for i, item in enumerate(value)]
    elif value is None:
        items = []
    else:
        text = ck.text(path, value) or ""
        items = [(path, item.strip()) for item in text.split(",") if item.strip()]
    out: list[str] = []
    for item_path, item in items:
        name = ck.text(item_path, item, required=True)
        if not name:
            continue
        if name not in known:
            ck.add(item_path, msg.unknown_workflow(name, known))
        elif name not in out:
            out.append(name)
    return tuple(out)
