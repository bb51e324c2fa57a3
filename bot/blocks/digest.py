"""Block Kit builder for a health digest (``baton.probes.health.digest.Digest``). A pure function.

Per workflow: runs, pass rate with its 95% Wilson interval, the leak rate in words; per
seam: checks, pass rate, p50/p95 latency, the most frequent finding kinds; then the runs
that leaked and, apart, those that could not be checked, linked to their Slack messages
when the digest carries links (``baton.bot.digests.with_links``). A key says what each term used
means (``baton.probes.health.digest.digest_key``, the same as ``baton digest``'s). Within
Slack's limits (50 blocks, 3,000 characters a section): workflows that do not fit are named in
a last line.

    digest_message(build_digest(store, now), command="/baton").payload()
"""

from __future__ import annotations

import datetime as dt

from slack_sdk.models.blocks import Block, DividerBlock, HeaderBlock

from baton.probes.health.digest import (
    NOT_REACHED_WORDS,
    Digest,
    RunRef,
    SeamDigest,
    WorkflowDigest,
    digest_key,
)
from baton.probes.health.stats import Estimate, format_seconds

from .format import SECTION_LIMIT, TEXT_LIMIT, chunks, clip, code, esc, mention
from .run import MAX_BLOCKS, Message, context, section

#: Failed (and, apart, could-not-check) runs listed per workflow.
RUNS_SHOWN = 10


def period_words(seconds: float) -> str:
    """``7 days``, ``24 hours``, ``1 day``, ``90 minutes``.

    >>> period_words(7 * 86400), period_words(86400), period_words(36 * 3600)
    ('7 days', '1 day', '36 hours')
    """
    for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            n = int(seconds // size)
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{seconds / 3600:g} hours"


def _when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%a %d %b %H:%M")


def rate(est: Estimate) -> str:
    """``95.7% (85.5–98.8%)``: the pass rate and its 95% interval."""
    low, high = est.interval or (0.0, 1.0)
    return f"{100 * (est.pass_rate or 0):.1f}% ({100 * low:.1f}–{100 * high:.1f}%)"


def _icon(wf: WorkflowDigest) -> str:
    if wf.leaks:
        return "❌"
    if wf.could_not_check:
        return "⚠️"
    return "✅" if wf.estimate.checked else "▫️"


def _kinds(kinds: list[tuple[str, int]]) -> str:
    return ", ".join(f"{esc(k.replace('_', ' '))} {n}" for k, n in kinds)


def _counts(wf: WorkflowDigest) -> str:
    parts = [f"{wf.passes:,} ok", f"{wf.leaks:,} leak" + ("" if wf.leaks == 1 else "s")]
    if wf.could_not_check:
        parts.append(f"{wf.could_not_check:,} could not check")
    return f"{wf.runs:,} run{'' if wf.runs == 1 else 's'}: " + ", ".join(parts)


def _head(wf: WorkflowDigest) -> str:
    lines = [f"{_icon(wf)} *{esc(wf.workflow)}* · {_counts(wf)}"]
    if wf.estimate.checked:
        lines.append(f"Pass rate *{rate(wf.estimate)}*: {esc(wf.estimate.words)}")
    else:
        lines.append("Nothing checked: every run in this period could not be checked.")
    if wf.top_kinds:
        lines.append(f"Most frequent: {_kinds(wf.top_kinds)}")
    return "\n".join(lines)


def _seam_line(seam: SeamDigest) -> str:
    est = seam.estimate
    head = f"• *{esc(seam.seam)}* · {est.checked:,} checked"
    if est.checked:
        head += f" · {rate(est)}"
    head += f" · p50 {format_seconds(seam.p50_s)} · p95 {format_seconds(seam.p95_s)}"
    notes = [esc(est.words)]
    if seam.top_kinds:
        notes.append(_kinds(seam.top_kinds))
    if seam.could_not_check:
        notes.append(f"{seam.could_not_check:,} could not check")
    if seam.not_checked:
        head_words, _, why = NOT_REACHED_WORDS.partition(": ")
        notes.append(f"{seam.not_checked:,} {head_words} ({why})")
    return f"{head}\n      {'; '.join(notes)}"


def _run_line(ref: RunRef) -> str:
    run = f"<{ref.permalink}|{esc(ref.run_id)}>" if ref.permalink else code(ref.run_id)
    variant = f" ({esc(ref.variant)})" if ref.variant else ""
    where = f" · {esc(ref.seam)}: {esc((ref.kind or '').replace('_', ' '))}" if ref.seam else ""
    return f"• {run} {_when(ref.started_ts)}{variant}{where}"


def _runs_text(title: str, refs: list[RunRef], total: int) -> str | None:
    if not refs:
        return None
    lines = [f"*{title}* ({total:,}, newest first)", *(_run_line(r) for r in refs[:RUNS_SHOWN])]
    if total > min(len(refs), RUNS_SHOWN):
        lines.append(f"… and {total - min(len(refs), RUNS_SHOWN):,} more")
    return clip("\n".join(lines), SECTION_LIMIT)


def _workflow_blocks(wf: WorkflowDigest) -> list[Block]:
    blocks: list[Block] = [DividerBlock(), section(_head(wf))]
    seams = [_seam_line(s) for s in wf.seams]
    blocks.extend(section(c) for c in chunks(["*Per seam*", *seams]))
    for text in (
        _runs_text("Leaked", wf.failed_runs, wf.leaks),
        _runs_text("Could not check, not leaks", wf.unchecked_runs, wf.could_not_check),
    ):
        if text is not None:
            blocks.append(section(text))
    return blocks


def _plain(digest: Digest, period: str) -> str:
    if not digest.workflows:
        return f"Baton health, last {period}: no finished probe runs."
    parts = []
    for wf in digest.workflows:
        rate_words = (
            f"{100 * (wf.estimate.pass_rate or 0):.1f}% pass"
            if wf.estimate.checked
            else "not checked"
        )
        extra = [f"{wf.leaks} leak{'s' if wf.leaks != 1 else ''}"] if wf.leaks else []
        if wf.could_not_check:
            extra.append(f"{wf.could_not_check} could not check")
        more = f" ({', '.join(extra)})" if extra else ""
        parts.append(f"{wf.workflow} {rate_words}{more}")
    return clip(f"Baton health, last {period}: " + "; ".join(parts), TEXT_LIMIT)


def key_text(digest: Digest) -> str | None:
    """``*Key* · *leak*: … · *checked*: …``: the digest's terms, for a context block."""
    key = digest_key(digest)
    if not key:
        return None
    return clip("*Key* · " + " · ".join(f"*{esc(t)}*: {esc(w)}" for t, w in key), SECTION_LIMIT)


def digest_message(
    digest: Digest, *, command: str = "/baton", asked_by: str | None = None
) -> Message:
    """The digest as one message: header, a section or more per workflow, a footer."""
    period = period_words(digest.period_s)
    asked = f" · asked for by {mention(asked_by)}" if asked_by else ""
    blocks: list[Block] = [
        HeaderBlock(text=clip(f"📊 Baton health · last {period}", 150)),
        context(
            f"{_when(digest.since_ts)} → {_when(digest.until_ts)} UTC{asked} · pass rates "
            "with their 95% interval · “could not check” is counted apart, never as a leak"
        ),
    ]
    if not digest.workflows:
        blocks.append(section("No finished probe runs in this period."))
    key = key_text(digest)
    room = MAX_BLOCKS - 1 - (key is not None)  # the key and the footer
    left_out: list[str] = []
    for wf in digest.workflows:
        more = _workflow_blocks(wf)
        if left_out or len(blocks) + len(more) > room:
            left_out.append(wf.workflow)
            continue
        blocks.extend(more)
    footer = f"`{esc(command)} digest WORKFLOW 30d` for one workflow or another period"
    if left_out:
        names = esc(clip(", ".join(left_out), 1500))
        footer = f"… and {len(left_out)} more workflow(s) not shown: {names}. " + footer
    if key is not None:
        blocks.append(context(key))
    blocks.append(context(footer))
    return Message(text=_plain(digest, period), blocks=tuple(blocks))


__all__ = ["digest_message", "key_text", "period_words", "rate"]
