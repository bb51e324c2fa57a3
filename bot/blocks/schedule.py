"""Block Kit builders for ``schedule``, ``pause`` and ``resume``. Pure functions: the
schedules, their state and ``now`` are passed in.

    schedule_list([ScheduleRow(spec, paused=False, next_ts=..., last_ts=None)], now, "/baton")

A workflow's alert snooze in force (``baton.probes.store.snoozes``) is said on its line:
who snoozed it, and until when.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from slack_sdk.models.blocks import Block

from baton.probes.config.slots import ScheduleSpec
from baton.probes.store.snoozes import Snooze

from .format import TEXT_LIMIT, channel_link, chunks, clip, esc, mention
from .run import MAX_BLOCKS, Message, context, section

_STATUS = {"leak": "❌ in alert: leaking", "error": "⚠️ in alert: could not check"}


@dataclass(frozen=True)
class ScheduleRow:
    """One workflow's schedule as ``schedule`` shows it."""

    spec: ScheduleSpec
    paused: bool
    next_ts: float | None
    last_ts: float | None
    alert_status: str = "ok"  # the workflow's alert state: ok, leak or error
    snooze: Snooze | None = None  # the workflow's alert snooze in force, if any


def clock_time(ts: float, now: float) -> str:
    """``14:15 UTC`` today, ``Fri 01 May 14:15 UTC`` on another day."""
    when, today = dt.datetime.fromtimestamp(ts, dt.UTC), dt.datetime.fromtimestamp(now, dt.UTC)
    return when.strftime("%H:%M UTC" if when.date() == today.date() else "%a %d %b %H:%M UTC")


def until(ts: float, now: float) -> str:
    """``in 12 min``, ``in 3 h``, ``in 2 d``; ``now`` within half a minute."""
    delta = ts - now
    if delta < 30:
        return "now"
    if delta < 3600:
        return f"in {round(delta / 60)} min"
    if delta < 86400:
        return f"in {round(delta / 3600)} h"
    return f"in {round(delta / 86400)} d"


def snooze_words(snooze: Snooze, now: float) -> str:
    """``🔕 alerts snoozed by <@U…> until 15:00 UTC (in 1 h)``, or ``… until it passes
    again``: who snoozed the workflow's alerts, and until when."""
    if snooze.until_ts is None:
        when = "until it passes again"
    else:
        when = f"until {clock_time(snooze.until_ts, now)} ({until(snooze.until_ts, now)})"
    return f"🔕 alerts snoozed by {mention(snooze.user)} {when}"


def _line(row: ScheduleRow, now: float, command: str) -> str:
    spec = row.spec
    where = f" · to {channel_link(spec.channel)}" if spec.channel else " · no channel for alerts"
    variants = [esc(v or "default") for v in spec.variants]
    rotate = f" · variants {', '.join(variants)}" if variants else ""
    head = f"*{esc(spec.workflow)}* · {esc(spec.describe())}{where}{rotate}"
    last = f" · last run {clock_time(row.last_ts, now)}" if row.last_ts is not None else ""
    snoozed = f"\n{snooze_words(row.snooze, now)}" if row.snooze is not None else ""
    if row.paused:
        resume = f"`{esc(command)} resume {esc(spec.workflow)}` to start it again"
        return f"⏸️ {head}\n*paused*{last} · {resume}{snoozed}"
    if row.next_ts is None:
        return f"▶️ {head}\nno further runs{last}{snoozed}"
    state = f" · {_STATUS[row.alert_status]}" if row.alert_status in _STATUS else ""
    nxt = f"next run {clock_time(row.next_ts, now)} ({until(row.next_ts, now)})"
    return f"▶️ {head}\n{nxt}{last}{state}{snoozed}"


def schedule_list(rows: Sequence[ScheduleRow], now: float, command: str) -> Message:
    """``schedule``: every scheduled workflow, its next run, paused or not."""
    if not rows:
        text = "No scheduled probes: add `schedule:` to a workflow in the config."
        return Message(text=text.replace("`", ""), blocks=(section(text),))
    lines = [_line(r, now, command) for r in rows]
    blocks: list[Block] = [section(f"*Scheduled probes* ({len(rows)})")]
    blocks.extend(section(chunk) for chunk in chunks(lines)[: MAX_BLOCKS - 2])
    blocks.append(
        context(f"`{esc(command)} pause WORKFLOW` stops one; `{esc(command)} resume WORKFLOW`")
    )
    plain = "; ".join(
        f"{r.spec.workflow} "
        + ("paused" if r.paused else f"next {clock_time(r.next_ts, now)}" if r.next_ts else "done")
        for r in rows
    )
    return Message(
        text=clip(f"{len(rows)} scheduled probes: {plain}", TEXT_LIMIT), blocks=tuple(blocks)
    )


def paused(spec: ScheduleSpec, user: str, command: str) -> Message:
    """Said in the channel: someone paused a schedule."""
    text = (
        f"⏸️ {mention(user)} paused the schedule of *{esc(spec.workflow)}* "
        f"({esc(spec.describe())}). `{esc(command)} resume {esc(spec.workflow)}` starts it again."
    )
    return Message(text=text.replace("*", "").replace("`", ""), blocks=(section(text),))


def resumed(spec: ScheduleSpec, user: str, next_ts: float | None, now: float) -> Message:
    """Said in the channel: someone resumed a schedule (missed slots are not replayed)."""
    nxt = f" Next run {clock_time(next_ts, now)} ({until(next_ts, now)})." if next_ts else ""
    text = (
        f"▶️ {mention(user)} resumed the schedule of *{esc(spec.workflow)}* "
        f"({esc(spec.describe())}).{nxt}"
    )
    return Message(text=text.replace("*", ""), blocks=(section(text),))


__all__ = [
    "ScheduleRow",
    "clock_time",
    "paused",
    "resumed",
    "schedule_list",
    "snooze_words",
    "until",
]
