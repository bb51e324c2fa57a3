"""Block Kit builders for alerts about scheduled probes. Pure functions.

A scheduled run is never posted on its own: alerting (``baton.bot.alerter``) decides, and these
build what it posts. A new alert opens a thread (its diagnosis is the first reply, built by
``baton.bot.blocks.run.diagnosis``); repeats are replies in that thread; a recovery is a message in
the channel and a reply in the thread. "Could not check" is never worded as a leak.

    alert_opened(result, wf, consecutive=2).text
    # '❌ lead-to-invoice: dropped at Form → CRM · 2 scheduled probes in a row · run r-7k2xq9'
"""

from __future__ import annotations

from baton.probes.config import WorkflowConfig
from baton.probes.model import RunResult, Verdict

from .format import clip, code, esc, headline, sentence
from .run import Message, context, section

LEAK, ERROR = str(Verdict.LEAK), str(Verdict.ERROR)


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
    result: RunResult, wf: WorkflowConfig | None, *, consecutive: int | None
) -> Message:
    """The message that opens an alert: ❌ a leak at a seam, or ⚠️ could not check."""
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
    return Message(
        text=text,
        blocks=(
            section("\n".join([head, *_cause(result)])),
            context(f"{row}run {code(result.run_id)}", after),
        ),
    )


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


def recovered_reply(result: RunResult) -> Message:
    """The reply that closes an alert's thread."""
    _, phrase = headline(result, None)
    text = f"✅ Recovered: run {code(result.run_id)} {esc(phrase)}."
    return Message(text=text.replace("`", ""), blocks=(section(text),))


__all__ = ["alert_opened", "alert_recovered", "alert_repeat", "recovered_reply"]
