"""What the bot would post for a run, as readable text (no Slack, no screenshots).

``baton demo --slack-preview`` prints this for each scenario. It renders the very
messages the bot sends (the same builders), so what you read is what Slack shows.

    print(render_preview(result, config.workflows[result.workflow], user="U0123"))
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from baton.probes.config import WorkflowConfig
from baton.probes.model import RunResult

from . import run as messages
from .format import plain
from .run import Message, RunInfo


def render_preview(
    result: RunResult,
    workflow: WorkflowConfig | None,
    *,
    user: str | None = None,
    channel: str = "#probes",
) -> str:
    """The parent message (as finally updated) and its thread, as plain text."""
    info = RunInfo(
        workflow=result.workflow, run_id=result.run_id, user=user, variant=result.variant
    )
    shown: set[str] = set()  # a tool's raw answer is quoted once per thread
    replies = [messages.stage_reply(s, workflow, shown=shown) for s in result.stages]
    replies.append(messages.diagnosis(result, workflow, shown=shown))
    out = [f"┌─ {channel} · parent message, updated in place when the run ends"]
    out.extend(_indent(message_text(messages.final(info, result, workflow)), "│  "))
    out.append(f"└─ thread · {len(replies)} replies")
    for reply in replies:
        lines = message_text(reply).split("\n")
        out.append("   ↳ " + lines[0])
        out.extend(_indent("\n".join(lines[1:]), "     ") if len(lines) > 1 else [])
    return "\n".join(out)


def message_text(message: Message) -> str:
    """One message's blocks as text (its fallback text when it has no blocks)."""
    if not message.blocks:
        return readable(message.text)
    return blocks_text(b.to_dict() for b in message.blocks)


def blocks_text(blocks: Iterable[dict[str, Any]]) -> str:
    """Section, context, header and divider blocks as lines of text."""
    lines: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind in ("section", "header"):
            if "text" in block:
                lines.append(readable(block["text"]["text"]))
            lines.extend(readable(f["text"]) for f in block.get("fields", []))
        elif kind == "context":
            lines.append(" · ".join(_texts(block.get("elements", []))))
        elif kind == "divider":
            lines.append("─" * 40)
    return "\n".join(lines)


def readable(text: str) -> str:
    """Mrkdwn as plain text: no bold stars; code blocks indented; mentions as @U123."""
    parts = plain(text).split("```")
    out = []
    for i, part in enumerate(parts):
        if i % 2:  # inside a code block
            out.append("\n" + "\n".join("    " + line for line in part.split("\n")) + "\n")
        else:
            out.append(re.sub(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])", r"\1", part))
    return "".join(out).replace("\n\n", "\n").strip("\n")


def _texts(elements: Sequence[dict[str, Any]]) -> list[str]:
    return [readable(e["text"]) for e in elements if "text" in e]


def _indent(text: str, prefix: str) -> list[str]:
    return [prefix + line for line in text.split("\n")]


__all__ = ["blocks_text", "message_text", "render_preview"]
