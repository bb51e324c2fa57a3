"""Block Kit builders for starting probe runs from Slack's UI. Pure functions.

The Re-run button on a run's closing reply, the modal that starts a run (``/baton run``
with no arguments, and the ``baton_run`` global shortcut), a notice modal (a refusal where
there is no response URL to answer with), and the App Home tab: every workflow, its state
(ok, leaking, could not check; snoozed, by whom and until when; schedule paused), last run,
next scheduled run and leak rate over 7 days, with a Run button.

Every id Slack sends back is in ``Ids``: action ids start ``run_`` or ``home_``.

    >>> rerun_block("r-7k2xq9").to_dict()["elements"][0]["action_id"]
    'run_rerun'
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
    StaticSelectElement,
)

from baton.probes.config import WorkflowConfig
from baton.probes.model import RunResult, Verdict
from baton.probes.store.snoozes import Snooze

from .format import SECTION_LIMIT, ago, clip, code, esc
from .schedule import snooze_words, until

#: Slack's limits: options in a static select, blocks in a view, a button's value, an
#: option's text and value, a view's title.
MAX_OPTIONS = 100
MAX_VIEW_BLOCKS = 100
MAX_VALUE = 2000
MAX_OPTION_TEXT = 75
MAX_OPTION_VALUE = 150
MAX_TITLE = 24


class Ids(StrEnum):
    """Action ids, block ids and callback ids Slack sends back to Baton."""

    RERUN = "run_rerun"  # the button on a run's closing reply; value: the run id
    HOME_RUN = "home_run"  # the button per workflow on the App Home; value: the workflow
    SHORTCUT = "baton_run"  # the global shortcut's callback id
    MODAL = "run_modal"  # the run modal's callback id
    NOTICE = "run_notice"  # a modal that only says something
    WORKFLOW_BLOCK = "run_workflow"
    WORKFLOW = "run_workflow_select"
    VARIANT_BLOCK = "run_variant"
    VARIANT = "run_variant_select"
    OVERRIDES_BLOCK = "run_overrides"
    OVERRIDES = "run_overrides_input"


def _plain(text: str, limit: int = MAX_OPTION_TEXT) -> PlainTextObject:
    return PlainTextObject(text=clip(text, limit), emoji=False)


# -- the Re-run button ---------------------------------------------------------------------


def rerun_block(run_id: str) -> ActionsBlock:
    """The Re-run button: same workflow, variant and overrides as run ``run_id``."""
    return ActionsBlock(
        block_id=f"run_rerun:{run_id}"[:255],
        elements=[
            ButtonElement(
                text=_plain("Re-run"),
                action_id=Ids.RERUN.value,
                value=run_id[:MAX_VALUE],
            )
        ],
    )


# -- the run modal ---------------------------------------------------------------------------


def metadata_for(channel: str | None) -> str:
    """``private_metadata`` of the run modal: where its run reports (``None``: the DM)."""
    return json.dumps({"to": channel or "dm"})


def run_modal(workflows: Mapping[str, WorkflowConfig], *, channel: str | None) -> dict[str, Any]:
    """The modal that starts a run: a workflow, a variant, field overrides.

    ``channel``: where the run will report (the command's channel); ``None`` for the user's
    DM with Baton (the shortcut).
    """
    names = sorted(workflows)[:MAX_OPTIONS]
    variants = sorted({v for name in names for v in workflows[name].variants})[:MAX_OPTIONS]
    where = "this channel" if channel else "your DM with Baton"
    blocks: list[Block] = [
        InputBlock(
            block_id=Ids.WORKFLOW_BLOCK.value,
            label=_plain("Workflow"),
            element=StaticSelectElement(
                action_id=Ids.WORKFLOW.value,
                placeholder=_plain("Pick a workflow"),
                options=[Option(text=_plain(n), value=n[:MAX_OPTION_VALUE]) for n in names],
            ),
        ),
    ]
    if variants:
        blocks.append(
            InputBlock(
                block_id=Ids.VARIANT_BLOCK.value,
                label=_plain("Variant"),
                optional=True,
                hint=_plain("Leave empty for the workflow's plain record", 150),
                element=StaticSelectElement(
                    action_id=Ids.VARIANT.value,
                    placeholder=_plain("No variant"),
                    options=[Option(text=_plain(v), value=v[:MAX_OPTION_VALUE]) for v in variants],
                ),
            )
        )
    blocks.append(
        InputBlock(
            block_id=Ids.OVERRIDES_BLOCK.value,
            label=_plain("Field overrides"),
            optional=True,
            hint=_plain("One field=value per line, e.g. first_name=Zoë (like --set)", 150),
            element=PlainTextInputElement(
                action_id=Ids.OVERRIDES.value,
                multiline=True,
                max_length=3000,
                placeholder=_plain("first_name=Zoë", 150),
            ),
        )
    )
    blocks.append(
        ContextBlock(
            elements=[MarkdownTextObject(text=f"The run's trail and result go to {where}.")]
        )
    )
    return {
        "type": "modal",
        "callback_id": Ids.MODAL.value,
        "title": _plain("Run a probe", MAX_TITLE).to_dict(),
        "submit": _plain("Run", MAX_TITLE).to_dict(),
        "close": _plain("Cancel", MAX_TITLE).to_dict(),
        "private_metadata": metadata_for(channel),
        "blocks": [b.to_dict() for b in blocks],
    }


def notice(text: str, *, title: str = "Baton") -> dict[str, Any]:
    """A modal that only says ``text`` (mrkdwn), with a Close button."""
    return {
        "type": "modal",
        "callback_id": Ids.NOTICE.value,
        "title": _plain(title, MAX_TITLE).to_dict(),
        "close": _plain("Close", MAX_TITLE).to_dict(),
        "blocks": [SectionBlock(text=MarkdownTextObject(text=clip(text, SECTION_LIMIT))).to_dict()],
    }


# -- the App Home --------------------------------------------------------------------------

_STATE = {
    Verdict.OK: ("✅", "ok"),
    Verdict.LEAK: ("❌", "leaking"),
    Verdict.ERROR: ("⚠️", "could not check"),
}


@dataclass(frozen=True)
class HomeRow:
    """One workflow as the App Home shows it."""

    workflow: str
    last: RunResult | None = None
    scheduled: bool = False
    paused: bool = False
    next_ts: float | None = None
    #: The 7-day leak rate in words (``leaks about 1 in 50 (…)``), ``None`` when no run in
    #: the period was checked.
    leak_words: str | None = None
    runs_7d: int = 0
    #: The workflow's alert snooze in force (who, until when), if any.
    snooze: Snooze | None = None


def state_of(row: HomeRow) -> tuple[str, str]:
    """(icon, words): ok, leaking, could not check, or no runs yet; paused is said apart."""
    if row.last is None:
        return "⚪", "no runs yet"
    return _STATE.get(Verdict(row.last.verdict), ("⚪", str(row.last.verdict)))


def home_row_text(row: HomeRow, now: dt.datetime) -> str:
    icon, words = state_of(row)
    if row.snooze is not None:
        icon, words = "🔕", f"snoozed · {words}"
    paused = " · ⏸️ schedule paused" if row.paused else ""
    lines = [f"{icon} *{esc(row.workflow)}* · {words}{paused}"]
    if row.snooze is not None:
        lines.append(snooze_words(row.snooze, now.timestamp()))
    if row.last is not None:
        last_icon, _ = state_of(row)
        lines.append(
            f"Last run: {last_icon} {ago(row.last.finished_at or row.last.started_at, now)} "
            f"({code(row.last.run_id)})"
        )
    else:
        lines.append("Last run: none yet")
    if row.scheduled:
        nxt = (
            "paused"
            if row.paused
            else until(row.next_ts, now.timestamp())
            if row.next_ts is not None
            else "none due"
        )
        lines.append(f"Next scheduled run: {nxt}")
    else:
        lines.append("Next scheduled run: not scheduled")
    rate = esc(row.leak_words) if row.leak_words else "nothing checked"
    lines.append(f"Last 7 days: {row.runs_7d} run(s), {rate}")
    return "\n".join(lines)


def home_view(rows: Sequence[HomeRow], now: dt.datetime, *, command: str) -> dict[str, Any]:
    """The App Home tab: every workflow with its state and a Run button."""
    blocks: list[Block] = [
        HeaderBlock(text=_plain("Baton: your workflows", 150)),
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text=(
                        "State is the last probe run's verdict (🔕 snoozed: its alerts are held "
                        "back); the leak rate counts the runs "
                        "Baton could check over 7 days. *Run* probes a workflow now; its trail "
                        f"and result come to your DM with Baton. `{esc(command)} help` lists "
                        "the commands."
                    )
                )
            ]
        ),
        DividerBlock(),
    ]
    room = MAX_VIEW_BLOCKS - len(blocks) - 1
    for row in rows[:room]:
        button = (
            ButtonElement(
                text=_plain("Run"), action_id=Ids.HOME_RUN.value, value=row.workflow[:MAX_VALUE]
            )
            if len(row.workflow) <= MAX_VALUE
            else None
        )
        blocks.append(
            SectionBlock(
                block_id=f"home_wf:{row.workflow}"[:255],
                text=MarkdownTextObject(text=clip(home_row_text(row, now), SECTION_LIMIT)),
                accessory=button,
            )
        )
    if not rows:
        blocks.append(
            SectionBlock(text=MarkdownTextObject(text="The config has no workflows yet."))
        )
    elif len(rows) > room:
        more = len(rows) - room
        blocks.append(
            ContextBlock(
                elements=[
                    MarkdownTextObject(text=f"… {more} more: `{esc(command)} list` shows them all.")
                ]
            )
        )
    return {"type": "home", "blocks": [b.to_dict() for b in blocks]}


__all__ = [
    "HomeRow",
    "Ids",
    "home_view",
    "metadata_for",
    "notice",
    "rerun_block",
    "run_modal",
    "state_of",
]
