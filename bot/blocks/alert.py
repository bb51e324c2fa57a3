"""Block Kit builders for alerts about scheduled probes. Pure functions.

A scheduled run is never posted on its own: alerting (``baton.bot.alerter``) decides, and these
build what it posts. A new alert opens a thread (its diagnosis is the first reply, built by
``baton.bot.blocks.run.diagnosis``); repeats are replies in that thread; a recovery is a message in
the channel and a reply in the thread. "Could not check" is never worded as a leak.

An alert as delivered carries its buttons (``AlertMarks.flip_id``: Acknowledge, Snooze,
Re-run; action ids in ``AlertAction``) and mentions whom the workflow's ``alerts.mention``
names; the same builder, given what happened since (who is looking, a snooze, the recovery),
is what ``chat.update`` puts in its place.

    alert_opened(result, wf, consecutive=2).text
    # '❌ lead-to-invoice: dropped at Form → CRM · 2 scheduled probes in a row · run r-7k2xq9'
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    Option,
    PlainTextObject,
    StaticSelectElement,
)

from baton.probes.config import WorkflowConfig
from baton.probes.model import RunResult, Verdict

from .format import clip, code, esc, headline, mention, seconds, sentence
from .run import Message, context, section

LEAK, ERROR = str(Verdict.LEAK), str(Verdict.ERROR)


class AlertAction(enum.StrEnum):
    """The ``action_id`` of each control on an alert (all start ``alert_``)."""

    ACK = "alert_ack"
    SNOOZE = "alert_snooze"
    RERUN = "alert_rerun"


#: Snooze choices: the option value's suffix, its words, and seconds (None: until it passes).
SNOOZES: dict[str, tuple[str, float | None]] = {
    "1h": ("for 1 h", 3600.0),
    "24h": ("for 24 h", 86400.0),
    "ok": ("until it passes again", None),
}


@dataclass(frozen=True)
class AlertMarks:
    """What an alert message shows beyond its result: its controls and what people did."""

    flip_id: int | None = None  # the alert's flip: its buttons carry it; None: no buttons
    mention: tuple[str, ...] = ()  # user (U…, W…) and user-group (S…) IDs, on a new alert
    looking: tuple[str, ...] = ()  # user IDs who pressed Acknowledge, in order
    snoozed: str | None = None  # "for 1 h by <@U…>, until 15:00 UTC", while snoozed
    recovered_after_s: float | None = None  # failing this long, then ok (no buttons then)
    recovered_run: str | None = None


def mentions(ids: tuple[str, ...]) -> str:
    """``<@U…>`` for users, ``<!subteam^S…>`` for user groups (IDs checked by the config)."""
    return " ".join(f"<!subteam^{i}>" if i.startswith("S") else mention(i) for i in ids)


def alert_controls(flip_id: int) -> ActionsBlock:
    """Acknowledge, Snooze (a menu), Re-run; each value names the alert's flip."""
    return ActionsBlock(
        elements=[
            ButtonElement(
                text="👀 Acknowledge", action_id=AlertAction.ACK.value, value=str(flip_id)
            ),
            StaticSelectElement(
                placeholder=PlainTextObject(text="🔕 Snooze…", emoji=True),
                action_id=AlertAction.SNOOZE.value,
                options=[
                    Option(text=f"Snooze {words}", value=f"{flip_id}:{key}")
                    for key, (words, _) in SNOOZES.items()
                ],
            ),
            ButtonElement(text="🔁 Re-run", action_id=AlertAction.RERUN.value, value=str(flip_id)),
        ]
    )


def _name(result: RunResult) -> tuple[str, str]:
    """("*lead-to-invoice* (paypal)", "lead-to-invoice (paypal)")."""
    variant = f" ({esc(result.variant)})" if result.variant else ""
    return f"*{esc(result.workflow)}*{variant}", f"{esc(result.workflow)}{variant}"


def _in_a_row(consecutive: int | None) -> str:
    if not consecutive:
        return ""
    return f"{consecutive} scheduled probe{'s' if consecutive != 1 else ''} in a row · "


def _cause(result: RunResult) -> list[str]:
    """The first break in one sentence, quoted (nothing for a run without one)."""
    fb = result.first_break
    return [f"> {esc(clip(sentence(fb.message, fb.seam), 600))}"] if fb else []


def alert_opened(
    result: RunResult,
    wf: WorkflowConfig | None,
    *,
    consecutive: int | None,
    marks: AlertMarks | None = None,
) -> Message:
    """The message that opens an alert: ❌ a leak at a seam, or ⚠️ could not check; with
    ``marks``, its controls and what people did since (see ``AlertMarks``)."""
    marks = marks or AlertMarks()
    if marks.recovered_after_s is not None:
        return _alert_closed(result, wf, marks)
    bold, plain = _name(result)
    icon, phrase = headline(result, wf)
    row = _in_a_row(consecutive)
    if result.verdict == Verdict.ERROR:
        head = f"{icon} {bold}: *{esc(phrase)}* (not a leak: Baton could not look)"
        text = f"{icon} {plain}: {esc(phrase)} · not a leak · {row}run {result.run_id}"
        after = "Why in the thread; later results go there too until it checks again."
    else:
        head = f"{icon} {bold}: *{esc(phrase)}*"
        text = f"{icon} {plain}: {esc(phrase)} · {row}run {result.run_id}"
        after = "Diagnosis and evidence in the thread; repeats go there, not to the channel."
    cc = [f"cc {mentions(marks.mention)}"] if marks.mention else []
    if cc:
        text += f" · {cc[0]}"
    notes = []
    if marks.looking:
        who = ", ".join(mention(u) for u in marks.looking)
        notes.append(f"👀 {who} {'is' if len(marks.looking) == 1 else 'are'} looking")
    if marks.snoozed:
        notes.append(f"🔕 Snoozed {marks.snoozed}")
    blocks: list[Block] = [
        section("\n".join([head, *_cause(result), *cc])),
        context(f"{row}run {code(result.run_id)}", after),
    ]
    if notes:
        blocks.append(context(*notes))
    if marks.flip_id is not None:
        blocks.append(alert_controls(marks.flip_id))
    return Message(text=text, blocks=tuple(blocks))


def _alert_closed(result: RunResult, wf: WorkflowConfig | None, marks: AlertMarks) -> Message:
    """The alert's own message once the workflow passes again: ✅, and how long it failed."""
    bold, plain = _name(result)
    _, phrase = headline(result, wf)
    was = "could not be checked" if result.verdict == Verdict.ERROR else "was failing"
    after = seconds(marks.recovered_after_s)
    by = f" (run {code(marks.recovered_run)})" if marks.recovered_run else ""
    head = f"✅ {bold}: healthy again{by}; it {was} for {after}"
    text = f"✅ {plain}: healthy again; it {was} for {after} · was: {esc(phrase)}"
    notes = [f"Was: {esc(phrase)} · alert run {code(result.run_id)}"]
    if marks.looking:
        notes.append("👀 " + ", ".join(mention(u) for u in marks.looking) + " looked")
    return Message(text=text, blocks=(section(head), context(*notes)))


def looking_reply(user: str) -> Message:
    """The thread line when someone presses Acknowledge."""
    text = f"👀 {mention(user)} is looking."
    return Message(text=text, blocks=(section(text),))


def snoozed_reply(user: str, words: str) -> Message:
    """The thread line when someone snoozes the alert."""
    text = f"🔕 {mention(user)} snoozed this workflow's alerts {words}."
    return Message(text=text, blocks=(section(text),))


def alert_repeat(
    result: RunResult, wf: WorkflowConfig | None, *, status: str, consecutive: int | None
) -> Message:
    """A reply in the open alert's thread: the same trouble again, or could not check."""
    icon, phrase = headline(result, wf)
    run = f"run {code(result.run_id)}"
    count = f" · {consecutive} in a row" if consecutive else ""
    if result.verdict == Verdict.ERROR and status == LEAK:
        line = (
            f"{icon} Could not check this time: {esc(phrase)} ({run}). "
            "The leak is neither confirmed nor cleared."
        )
    elif result.verdict == Verdict.ERROR:
        line = f"Still could not check: {icon} {esc(phrase)} · {run}{count}"
    else:
        line = f"Still failing: {icon} {esc(phrase)} · {run}{count}"
    cause = _cause(result) if result.verdict == Verdict.LEAK else []
    return Message(text=line.replace("`", ""), blocks=(section("\n".join([line, *cause])),))


def alert_recovered(
    result: RunResult, *, old_status: str, alert_link: str | None = None
) -> Message:
    """The channel message when a workflow in alert checks ok again."""
    bold, plain = _name(result)
    which = "the leak alert" if old_status == LEAK else "the could-not-check alert"
    alert = f"<{alert_link}|{which}>" if alert_link else which
    _, phrase = headline(result, None)
    return Message(
        text=f"✅ {plain} is healthy again: {phrase} · run {result.run_id}",
        blocks=(
            section(f"✅ {bold} is healthy again: *{esc(phrase)}*"),
            context(f"run {code(result.run_id)} · closes {alert}"),
        ),
    )


def recovered_reply(result: RunResult, *, failing_s: float | None = None) -> Message:
    """The reply that closes an alert's thread (``failing_s``: how long it failed)."""
    _, phrase = headline(result, None)
    after = f" after {seconds(failing_s)}" if failing_s is not None else ""
    text = f"✅ Recovered{after}: run {code(result.run_id)} {esc(phrase)}."
    return Message(text=text.replace("`", ""), blocks=(section(text),))


__all__ = [
    "SNOOZES",
    "AlertAction",
    "AlertMarks",
    "alert_controls",
    "alert_opened",
    "alert_recovered",
    "alert_repeat",
    "looking_reply",
    "mentions",
    "recovered_reply",
    "snoozed_reply",
]
