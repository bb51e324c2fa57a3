"""Small text helpers shared by the message builders: escaping, clipping, times, seams."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

from baton.probes.config import WorkflowConfig
from baton.probes.diagnosis import is_handoff
from baton.probes.diagnosis.report import ok_sentence
from baton.probes.model import (
    KIND_WORDS,
    STATUS_OK,
    STATUS_PENDING,
    STATUS_SKIPPED,
    RunResult,
    StageResult,
    Verdict,
)

#: Slack's limit on a section's text; we keep a margin for the code fences.
SECTION_LIMIT = 3000
#: The fallback ``text`` is what notifications show; keep it short.
TEXT_LIMIT = 3000

_USER_ID = re.compile(r"[UW][A-Z0-9]{2,}\Z")
_CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]{2,}\Z")

VERDICT_ICON = {Verdict.OK: "✅", Verdict.LEAK: "❌", Verdict.ERROR: "⚠️"}
STATUS_ICON = {STATUS_OK: "✅", STATUS_SKIPPED: "⏭️", STATUS_PENDING: "⏳", "unreachable": "⚠️"}

#: How a stage status reads in a sentence ("❌ Form → CRM · dropped").
STATUS_WORDS = {
    STATUS_OK: "arrived",
    STATUS_SKIPPED: "skipped: nothing arrived upstream to check",
    STATUS_PENDING: "still waiting",
    **{kind: words.status for kind, words in KIND_WORDS.items()},
}

#: The headline of a leak: "dropped at Form → CRM".
BREAK_WORDS = {kind: w.headline for kind, w in KIND_WORDS.items() if kind != "unreachable"}


def esc(text: object) -> str:
    """Escape what Slack's mrkdwn treats as markup: ``&``, ``<``, ``>``; and break up
    triple backticks, so a value cannot open or close a code block.

    Without this a test value such as ``<!channel>`` would notify a whole channel.
    """
    text = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("```", "`\u200b`\u200b`")


def code(text: object) -> str:
    """Inline code that cannot be broken out of."""
    return "`" + esc(text).replace("`", "ˋ") + "`"


def fence(text: str) -> str:
    """A code block; a literal ``` inside is broken up so it cannot end the block early."""
    return "```" + esc(text) + "```"


def clip(text: str, limit: int) -> str:
    """``text``, cut to ``limit`` characters with an ellipsis."""
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"


def mention(user: str | None) -> str:
    """``<@U123>`` for a real user id, else the escaped text (never a broadcast)."""
    if not user:
        return "someone"
    return f"<@{user}>" if _USER_ID.match(user) else esc(user)


def channel_link(channel: str) -> str:
    return f"<#{channel}>" if _CHANNEL_ID.match(channel) else esc(channel)


def seconds(value: float | None) -> str:
    """``0.4 s``, ``12.3 s``, ``2 min 5 s``, ``1 h 4 min``."""
    if value is None:
        return "–"
    if value < 60:
        return f"{value:.1f} s"
    total = round(value)
    if total < 3600:
        return f"{total // 60} min {total % 60} s"
    return f"{total // 3600} h {total % 3600 // 60} min"


def parse_time(iso: str | None) -> dt.datetime | None:
    if not iso:
        return None
    try:
        when = dt.datetime.fromisoformat(iso)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def duration(result: RunResult) -> float | None:
    start, end = parse_time(result.started_at), parse_time(result.finished_at)
    return (end - start).total_seconds() if start and end else None


def ago(iso: str | None, now: dt.datetime) -> str:
    """``3 min ago``; ``just now``; the date for anything older than a week."""
    when = parse_time(iso)
    if when is None:
        return "at an unknown time"
    delta = (now - when).total_seconds()
    if delta < 45:
        return "just now"
    if delta < 3600:
        return f"{round(delta / 60)} min ago"
    if delta < 86400:
        return f"{round(delta / 3600)} h ago"
    if delta < 7 * 86400:
        return f"{round(delta / 86400)} d ago"
    return when.strftime("on %Y-%m-%d")


def stamp(iso: str | None) -> str:
    when = parse_time(iso)
    return when.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC") if when else "–"


def value(v: Any, limit: int = 300) -> str:
    """One observed or expected value, quoted the JSON way so spaces and escapes show."""
    return clip(json.dumps(v, ensure_ascii=False, default=str), limit)


def seam_of(stage: StageResult, workflow: WorkflowConfig | None) -> str:
    """``"Form → CRM"`` with the labels people know, also for stages the config lost."""
    if workflow is not None:
        try:
            return workflow.seam(workflow.stage(stage.name))
        except KeyError:
            pass
    label = stage.label or stage.name
    return f"{stage.after} → {label}" if stage.after else label


def label_of(stage_name: str, workflow: WorkflowConfig | None) -> str:
    if workflow is not None:
        try:
            return workflow.stage(stage_name).display
        except KeyError:
            pass
    return stage_name


def stage_icon(status: str) -> str:
    return STATUS_ICON.get(status, "❌")


def headline(result: RunResult, workflow: WorkflowConfig | None) -> tuple[str, str]:
    """The verdict in a few words: (icon, phrase), e.g. ("❌", "dropped at Form → CRM"), or
    ("❌", "dropped at the handoff out of Form") when none of the stages after Form got it."""
    icon = VERDICT_ICON[result.verdict]
    if result.verdict == Verdict.OK:
        if any(s.expected_absent for s in result.stages):
            return icon, ok_sentence(result).removeprefix("the record ").rstrip(".")
        return icon, "arrived intact at every stage"
    fb = result.first_break
    if result.verdict == Verdict.ERROR:
        stage = fb.stage if fb else _first_status(result, "unreachable")
        where = label_of(stage, workflow) if stage else "every stage"
        return icon, f"could not check {where}"
    if fb is not None and fb.after is not None and is_handoff(fb, result.stages):
        return icon, f"dropped at the handoff out of {_label(fb.after, result, workflow)}"
    if fb is not None:
        return icon, f"{BREAK_WORDS.get(fb.kind, fb.kind + ' at')} {fb.seam}"
    for s in result.stages:
        if s.consequence_of is not None:
            continue  # no break of its own
        if s.status not in (STATUS_OK, STATUS_SKIPPED, STATUS_PENDING, "unreachable"):
            return icon, f"{BREAK_WORDS.get(s.status, 'broken at')} {seam_of(s, workflow)}"
    return icon, "leaked"


def _label(name: str, result: RunResult, workflow: WorkflowConfig | None) -> str:
    """A stage's label from the config, else from the result, else its name."""
    if workflow is not None:
        return label_of(name, workflow)
    stage = next((s for s in result.stages if s.name == name), None)
    return (stage.label or name) if stage is not None else name


def _first_status(result: RunResult, status: str) -> str | None:
    return next((s.name for s in result.stages if s.status == status), None)


def sentence(message: str, seam: str | None = None) -> str:
    """A finding's message as a sentence, without the ``"Form → CRM: "`` it starts with
    when the seam is already shown next to it."""
    text = message.strip()
    if seam and text.startswith(seam + ":"):
        text = text[len(seam) + 1 :].strip()
    if not text:
        return ""
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?", "…")) else text + "."


def plain(text: str) -> str:
    """Mrkdwn made readable as plain text (for fallbacks and previews)."""
    text = re.sub(r"<@([A-Z0-9]+)>", r"@\1", text)
    text = re.sub(r"<#([A-Z0-9]+)(?:\|([^>]*))?>", lambda m: "#" + (m.group(2) or m.group(1)), text)
    text = re.sub(r"<(https?://[^|>]+)\|([^>]+)>", r"\2 (\1)", text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def chunks(lines: list[str] | tuple[str, ...], limit: int = SECTION_LIMIT - 100) -> list[str]:
    """Lines packed into section-sized texts (a line longer than ``limit`` is clipped)."""
    out: list[str] = []
    current = ""
    for line in lines:
        line = clip(line, limit)
        if current and len(current) + 1 + len(line) > limit:
            out.append(current)
            current = line
        else:
            current = f"{current}\n{line}" if current else line
    if current:
        out.append(current)
    return out


def permalink(
    workspace_url: str | None, channel: str, ts: str, thread_ts: str | None = None
) -> str | None:
    """A message's link, as Slack forms them: ``https://team.slack.com/archives/C1/p17…``.

    Built from ``auth.test``'s workspace URL rather than one chat.getPermalink call per run;
    Slack redirects these for every client. A reply links to its thread.

    >>> permalink("https://acme.slack.com/", "C0PROBES", "1700000000.000123")
    'https://acme.slack.com/archives/C0PROBES/p1700000000000123'
    """
    if not workspace_url or not channel or not ts:
        return None
    link = f"{workspace_url.rstrip('/')}/archives/{channel}/p{ts.replace('.', '')}"
    return f"{link}?thread_ts={thread_ts}&cid={channel}" if thread_ts else link
