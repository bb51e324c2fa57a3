"""Block Kit builders for the answers to ``list``, ``status``, ``history``, ``help`` and the
polite refusals (``schedule``, ``pause`` and ``resume``: ``blocks.schedule``; ``digest``:
``blocks.digest``). Pure functions: everything they show is passed in, ``now`` included.

    >>> help_message("/baton").text.splitlines()[0]
    'Baton traces a marked test record through your automations. Commands:'
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from slack_sdk.models.blocks import Block

from baton.probes.config import WorkflowConfig
from baton.probes.model import RunResult

from .format import (
    TEXT_LIMIT,
    ago,
    channel_link,
    chunks,
    clip,
    code,
    duration,
    esc,
    headline,
    mention,
    seconds,
    stamp,
)
from .run import MAX_BLOCKS, Message, cleanup_line, context, section


def help_message(command: str, problem: str | None = None) -> Message:
    """Usage, with what went wrong on top when the text could not be read."""
    c = esc(command)
    lines = [
        "Baton traces a marked test record through your automations. Commands:",
        f"• `{c} run WORKFLOW [variant] [field=value …]` — inject a test record and trace it",
        f"• `{c} list` — workflows and their last verdicts",
        f"• `{c} status [WORKFLOW]` — what is running, and the last result",
        f"• `{c} history WORKFLOW [N]` — the last N runs (10 unless you say)",
        f"• `{c} schedule` — scheduled probes, their next run, paused or not",
        f"• `{c} pause WORKFLOW` / `{c} resume WORKFLOW` — stop or restart its schedule",
        f"• `{c} digest [WORKFLOW] [7d]` — health over a period, with a chart in its thread",
        f"• `{c} help` — this message",
        'Values with spaces go in quotes: `first_name="Zoë Ann"`',
    ]
    blocks: list[Block] = []
    text = "\n".join(lines)
    if problem:
        blocks.append(section(f"⚠️ {esc(problem)}"))
        text = f"⚠️ {esc(problem)}\n{text}"
    blocks.append(section("\n".join(lines)))
    return Message(text=clip(text, TEXT_LIMIT), blocks=tuple(blocks))


def problem(message: str, command: str) -> Message:
    """A usage problem (unknown workflow, variant or field), with where to look."""
    return Message(
        text=f"⚠️ {esc(message)}",
        blocks=(
            section(f"⚠️ {esc(message)}"),
            context(
                f"`{esc(command)} list` shows the workflows; `{esc(command)} help` the commands."
            ),
        ),
    )


def refused_user(user: str, command: str) -> Message:
    text = (
        f"Sorry {mention(user)}, you are not on the list of people who can use "
        f"{esc(command)} here. Ask whoever runs Baton to add your user id "
        f"{code(user)} to `slack.allowed_users`."
    )
    return Message(text=text, blocks=(section(text),))


def refused_channel(channels: Sequence[str], command: str) -> Message:
    where = ", ".join(channel_link(c) for c in channels[:10])
    text = f"Sorry, {esc(command)} does not run in this channel." + (
        f" Try {where}." if where else ""
    )
    return Message(text=text, blocks=(section(text),))


def refused_dm(channels: Sequence[str], command: str) -> Message:
    """A run that would report in the user's DM while ``slack.allowed_channels`` is set."""
    where = ", ".join(channel_link(c) for c in channels[:10])
    text = (
        "Sorry, runs started here report in your DM with Baton, and Baton runs probes only "
        f"in {where}: use `{esc(command)} run` there."
    )
    return Message(text=text, blocks=(section(text),))


def other_workspace(command: str) -> Message:
    text = (
        f"Sorry, {esc(command)} here serves another Slack workspace; this one needs its own "
        "Baton installation."
    )
    return Message(text=text, blocks=(section(text),))


def duplicate(run_id: str | None) -> Message:
    if run_id:
        text = f"That probe is already on its way (run {code(run_id)}); its thread has the results."
    else:
        text = "That probe is already starting; its thread will have the results."
    return Message(text=text, blocks=(section(text),))


def internal_error(error_id: str) -> Message:
    text = (
        f"⚠️ Something went wrong on Baton's side (error {code(error_id)}). "
        "Whoever runs Baton can find that id in its log."
    )
    return Message(text=text, blocks=(section(text),))


def slack_error(error: str, error_id: str) -> Message:
    text = (
        f"⚠️ Slack refused a message from Baton ({code(error)}, error {code(error_id)}). "
        "If this is a private channel or a DM, invite the app first (`/invite @Baton`)."
    )
    return Message(text=text, blocks=(section(text),))


def _last_run(
    result: RunResult | None, workflow: WorkflowConfig | None, now: dt.datetime
) -> tuple[str, str]:
    """(icon, "dropped at Form → CRM · `r-7k2` 3 min ago") for a workflow's last run."""
    if result is None:
        return "▫️", "never run"
    icon, phrase = headline(result, workflow)
    return icon, f"{esc(phrase)} · {code(result.run_id)} {ago(result.started_at, now)}"


def workflow_list(
    workflows: Mapping[str, WorkflowConfig], last: Mapping[str, RunResult], now: dt.datetime
) -> Message:
    """``list``: each workflow, its stages and variants, and its last verdict."""
    if not workflows:
        return Message(
            text="No workflows in the config yet.",
            blocks=(section("No workflows in the config yet."),),
        )
    blocks: list[Block] = [section(f"*Workflows* ({len(workflows)})")]
    plain = [f"{len(workflows)} workflows:"]
    names = sorted(workflows)
    for i, name in enumerate(names):
        if len(blocks) >= MAX_BLOCKS - 1:
            blocks.append(context(f"… and {len(names) - i} more"))
            break
        wf = workflows[name]
        about = f" — {esc(clip(wf.description, 300))}" if wf.description else ""
        # A workflow is a tree: list its seams, not one chain.
        stages = ", ".join(esc(wf.seam(s)) for s in wf.stages[1:]) or esc(wf.entry.display)
        variants = f" · variants: {esc(', '.join(wf.variants))}" if wf.variants else ""
        icon, words = _last_run(last.get(name), wf, now)
        blocks.append(section(f"*{esc(name)}*{about}\n{stages}{variants}\n{icon} {words}"))
        result = last.get(name)
        plain.append(f"{esc(name)} ({result.verdict if result else 'never run'})")
    return Message(text=clip(" ".join(plain), TEXT_LIMIT), blocks=tuple(blocks))


def status_all(
    workflows: Mapping[str, WorkflowConfig],
    last: Mapping[str, RunResult],
    active: Sequence[Mapping[str, Any]],
    now: dt.datetime,
) -> Message:
    """``status``: what is in flight, and each workflow's last verdict."""
    flying = _in_flight(active, now)
    lines = []
    for name in sorted(workflows):
        icon, words = _last_run(last.get(name), workflows[name], now)
        lines.append(f"{icon} *{esc(name)}* · {words}")
    blocks: list[Block] = [section(flying)]
    blocks.extend(section(chunk) for chunk in chunks(lines)[: MAX_BLOCKS - 1])
    return Message(text=clip(flying.replace("*", ""), TEXT_LIMIT), blocks=tuple(blocks))


def status_one(
    name: str,
    workflow: WorkflowConfig | None,
    result: RunResult | None,
    active: Sequence[Mapping[str, Any]],
    now: dt.datetime,
) -> Message:
    """``status WORKFLOW``: its last result in a few lines, and whether one is running."""
    mine = [a for a in active if a.get("workflow") == name]
    flying = _in_flight(mine, now)
    if result is None:
        text = f"*{esc(name)}* has not finished a probe run yet."
        return Message(text=text.replace("*", ""), blocks=(section(text), context(flying)))
    icon, phrase = headline(result, workflow)
    variant = f" ({esc(result.variant)})" if result.variant else ""
    lines = [f"{icon} *{esc(name)}*{variant}: *{esc(phrase)}*"]
    if result.first_break:
        lines.append(esc(clip(result.first_break.message, 1000)))
    lines.append(cleanup_line(result.cleanup))
    meta = (
        f"last run {code(result.run_id)} {ago(result.started_at, now)} · "
        f"took {seconds(duration(result))}"
    )
    return Message(
        text=f"{icon} {esc(name)}{variant}: {esc(phrase)}",
        blocks=(section("\n".join(lines)), context(meta, flying)),
    )


def history(
    name: str, workflow: WorkflowConfig | None, results: Sequence[RunResult], now: dt.datetime
) -> Message:
    """``history WORKFLOW [N]``: one line per run, newest first."""
    if not results:
        text = f"*{esc(name)}* has no finished probe runs yet."
        return Message(text=text.replace("*", ""), blocks=(section(text),))
    lines = []
    for r in results:
        icon, phrase = headline(r, workflow)
        variant = f" · {esc(r.variant)}" if r.variant else ""
        lines.append(
            f"{icon} {code(r.run_id)} · {stamp(r.started_at)}{variant} · {esc(phrase)} · "
            f"{seconds(duration(r))}"
        )
    head = f"*History of {esc(name)}* (last {len(results)})"
    blocks: list[Block] = [section(head)]
    blocks.extend(section(chunk) for chunk in chunks(lines)[: MAX_BLOCKS - 1])
    return Message(text=f"History of {esc(name)}: {len(results)} runs", blocks=tuple(blocks))


def _in_flight(active: Sequence[Mapping[str, Any]], now: dt.datetime) -> str:
    if not active:
        return "Nothing is running right now."
    shown = ", ".join(
        f"{esc(a.get('workflow', '?'))} {code(a.get('id', '?'))} {ago(a.get('started_at'), now)}"
        for a in active[:10]
    )
    more = f" and {len(active) - 10} more" if len(active) > 10 else ""
    return f"⏳ *{len(active)} probe run(s) in flight:* {shown}{more}"


__all__ = [
    "duplicate",
    "help_message",
    "history",
    "internal_error",
    "problem",
    "refused_channel",
    "refused_dm",
    "refused_user",
    "slack_error",
    "status_all",
    "status_one",
    "workflow_list",
]
