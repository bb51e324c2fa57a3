"""Block Kit builders for a probe run: the parent message, the thread replies. Pure functions.

Every builder returns a ``Message``: blocks made with slack_sdk's block models plus a
plain-text fallback (what notifications and old clients show). Messages stay inside
Slack's limits (50 blocks, 3,000 characters per section); evidence that does not fit is
folded into a "… more not shown" line rather than cut mid-table.

    >>> msg = started(RunInfo(workflow="lead-to-invoice", run_id="r-7k2xq9", user="U0ALICE"))
    >>> msg.text
    'Probing lead-to-invoice … started by <@U0ALICE>, run r-7k2xq9'

Size: the probe run's message and thread builders: parent, stage replies, closing reply and
cleanup lines, which share Slack's limits and the evidence sentences.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from slack_sdk.models.blocks import Block, ContextBlock, MarkdownTextObject, SectionBlock

from baton.probes.config import WorkflowConfig
from baton.probes.diagnosis import localised
from baton.probes.diagnosis.report import AS_ABOVE, ok_sentence, said_once
from baton.probes.model import (
    STATUS_OK,
    STATUS_SKIPPED,
    CleanupResult,
    Finding,
    FindingKind,
    RunResult,
    StageResult,
    Verdict,
)

from .format import (
    SECTION_LIMIT,
    STATUS_WORDS,
    TEXT_LIMIT,
    clip,
    code,
    duration,
    esc,
    headline,
    mention,
    seam_of,
    seconds,
    sentence,
    stage_icon,
    value,
)

MAX_BLOCKS = 50
_MISSING = str(FindingKind.MISSING)
#: Evidence beyond this many characters in one message is folded (Slack rejects huge ones).
EVIDENCE_BUDGET = 12_000
EVIDENCE_LINES = 40


@dataclass(frozen=True)
class Message:
    """What one chat.postMessage / chat.update / response_url call sends."""

    text: str
    blocks: tuple[Block, ...] = ()

    def payload(self) -> dict[str, Any]:
        """``{"text": ..., "blocks": [...]}`` as Slack takes it."""
        out: dict[str, Any] = {"text": self.text}
        if self.blocks:
            out["blocks"] = [b.to_dict() for b in self.blocks]
        return out

    def text_only(self) -> Message:
        """The same message without blocks (a second try when Slack refuses the blocks)."""
        return replace(self, blocks=())


@dataclass(frozen=True)
class RunInfo:
    """Who started which probe run, for the parent message."""

    workflow: str
    run_id: str
    user: str | None = None
    variant: str | None = None
    overrides: Mapping[str, str] = field(default_factory=dict)


def section(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=clip(text, SECTION_LIMIT)))


def context(*texts: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=clip(t, SECTION_LIMIT)) for t in texts])


def _what(info: RunInfo) -> tuple[str, str]:
    """("*lead-to-invoice* (paypal)", "lead-to-invoice (paypal)")."""
    variant = f" ({esc(info.variant)})" if info.variant else ""
    return f"*{esc(info.workflow)}*{variant}", f"{esc(info.workflow)}{variant}"


def _overrides_line(info: RunInfo) -> list[str]:
    if not info.overrides:
        return []
    pairs = ", ".join(f"{esc(k)}={code(v)}" for k, v in info.overrides.items())
    return [clip(f"with {pairs}", 1000)]


# -- the parent message ------------------------------------------------------------------


def started(info: RunInfo) -> Message:
    """The parent message as soon as the record is injected."""
    bold, plain = _what(info)
    who = mention(info.user)
    return Message(
        text=f"Probing {plain} … started by {who}, run {info.run_id}",
        blocks=(
            section(f"⏳ Probing {bold} … started by {who}, run {code(info.run_id)}"),
            *([context(*_overrides_line(info))] if info.overrides else []),
        ),
    )


def progress(
    info: RunInfo, settled: Sequence[StageResult], total: int, wf: WorkflowConfig | None
) -> Message:
    """The parent while stages settle: how many are checked, and the latest."""
    base = started(info)
    last = settled[-1] if settled else None
    latest = (
        f" · latest: {stage_icon(last.status)} {esc(seam_of(last, wf))}" if last is not None else ""
    )
    return Message(
        text=base.text,
        blocks=(
            *base.blocks,
            context(f"Checked {len(settled)} of {total} stages{latest}"),
        ),
    )


def final(info: RunInfo, result: RunResult, wf: WorkflowConfig | None) -> Message:
    """The parent, updated in place once the run is decided: ✅ / ❌ dropped at … / ⚠️."""
    bold, plain = _what(info)
    icon, phrase = headline(result, wf)
    took = seconds(duration(result))
    who = mention(info.user)
    return Message(
        text=f"{icon} {plain}: {esc(phrase)} · run {info.run_id} · {took} · started by {who}",
        blocks=(
            section(f"{icon} {bold}: *{esc(phrase)}*"),
            context(
                f"run {code(info.run_id)} · {took} · started by {who}",
                *_overrides_line(info),
                "Stage-by-stage trail, evidence and cleanup in the thread.",
            ),
        ),
    )


def crashed(info: RunInfo, error_id: str) -> Message:
    """The parent when the bot itself failed part-way (the id is also in the log)."""
    bold, plain = _what(info)
    return Message(
        text=f"⚠️ {plain}: Baton failed while watching (error {error_id}) · run {info.run_id}",
        blocks=(
            section(f"⚠️ {bold}: *Baton failed while watching* (error {code(error_id)})"),
            context(
                f"run {code(info.run_id)} · the run stays in the store; `baton resume` finishes it"
            ),
        ),
    )


# -- the thread --------------------------------------------------------------------------


def stage_reply(
    stage: StageResult, wf: WorkflowConfig | None, *, shown: set[str] | None = None
) -> Message:
    """One line of the trail: ``✅ Form → CRM · arrived after 2.1 s``. ``shown``: the tools'
    raw answers the thread has quoted already (quoted once per run, then referred to)."""
    shown = set() if shown is None else shown
    seam = esc(seam_of(stage, wf))
    icon = stage_icon(stage.status)
    words = STATUS_WORDS.get(stage.status, esc(stage.status))
    if stage.consequence_of is not None and stage.status == _MISSING:
        # no break of its own: the record never got as far as this seam
        icon, words = stage_icon(STATUS_SKIPPED), "not reached"
    timing = f" after {seconds(stage.latency_s)}" if stage.latency_s is not None else ""
    if stage.after is None and stage.status == STATUS_OK:
        words, timing = "injected", timing.replace(" after ", " in ")
    if stage.expected_absent and stage.status == STATUS_OK:
        words, timing = "not sent, as expected", ""
    copies = f" ({stage.found} copies)" if stage.found > 1 else ""
    line = f"{icon} *{seam}* · {words}{timing}{copies}"
    plain_seam = seam_of(stage, wf)
    notes = [
        f"> {esc(clip(sentence(said_once(f.message, shown), plain_seam), 600))}"
        for f in stage.findings[:3]
    ]
    if len(stage.findings) > 3:
        notes.append(f"> … and {len(stage.findings) - 3} more in the evidence below")
    return Message(
        text=f"{icon} {seam} · {words}{timing}{copies}",
        blocks=(section("\n".join([line, *notes])),),
    )


def diagnosis(
    result: RunResult,
    wf: WorkflowConfig | None,
    *,
    shown: set[str] | None = None,
    lost: Sequence[StageResult] = (),
    actions: Sequence[Block] = (),
) -> Message:
    """The closing reply: the first broken seam in one sentence, the evidence, the cleanup.

    A tool's raw answer (an error body) is quoted once per run: ``shown`` holds those the
    thread has quoted already (the stage replies above); later mentions refer back. ``lost``:
    stage replies Slack did not take; their lines are carried here, so the trail is whole.
    ``actions``: blocks that end the reply (the Re-run button), kept within the limit."""
    result = localised(result, wf)
    shown = set() if shown is None else shown
    lead = _diagnosis_lead(result, wf, shown)
    blocks: list[Block] = [section(lead)]
    if lost:
        lines = [stage_reply(s, wf).text for s in lost]
        blocks.append(
            context(
                clip(
                    "Slack did not take these trail replies, so here they are: " + "; ".join(lines),
                    2900,
                )
            )
        )
    # the lead, the fold note, the cleanup line and the actions
    room = MAX_BLOCKS - 3 - bool(lost) - len(actions)
    evidence, folded = _evidence_blocks(result, wf, room, shown)
    blocks.extend(evidence)
    if folded:
        blocks.append(
            context(
                f"… {folded} more finding(s) not shown here; run {code(result.run_id)} "
                "in the Baton store has them all (`baton run --json` prints the same shape)."
            )
        )
    cleanup = said_once(cleanup_line(result.cleanup), shown, AS_ABOVE)
    blocks.append(context(cleanup, _marker_line(result)))
    blocks.extend(actions)
    text = f"{lead.replace('*', '')} {cleanup}"
    return Message(text=clip(text, TEXT_LIMIT), blocks=tuple(blocks))


def fallback_final(
    info: RunInfo,
    result: RunResult,
    wf: WorkflowConfig | None,
    *,
    note: str,
    actions: Sequence[Block] = (),
) -> Message:
    """Everything in one message, for channels Baton cannot post in (via response_url).
    ``actions``: blocks that end it (the Re-run button)."""
    result = localised(result, wf)
    head, diag = final(info, result, wf), diagnosis(result, wf)
    trail = "\n".join(stage_reply(s, wf).text for s in result.stages)
    blocks = [head.blocks[0], section(trail or "(no stages)"), *diag.blocks]
    blocks = blocks[: MAX_BLOCKS - 1 - len(actions)]
    blocks.append(context(note))
    blocks.extend(actions)
    return Message(text=head.text, blocks=tuple(blocks))


def _diagnosis_lead(result: RunResult, wf: WorkflowConfig | None, shown: set[str]) -> str:
    fb = result.first_break
    if result.verdict == Verdict.OK:
        if any(s.expected_absent for s in result.stages):
            return f"✅ *No leaks.* {esc(sentence(ok_sentence(result)))}"
        return f"✅ *No leaks.* The test record arrived intact at all {len(result.stages)} stages."
    said = sentence(said_once(fb.message, shown), fb.seam) if fb else ""
    if result.verdict == Verdict.ERROR:
        _, phrase = headline(result, wf)
        why = esc(said) if fb else esc(sentence(phrase))
        return f"⚠️ *Not a leak: Baton could not look.* {why}"
    if fb is not None:
        return f"❌ *First break: {esc(fb.seam)}.* {esc(said)}"
    _, phrase = headline(result, wf)
    return f"❌ *{esc(phrase[0].upper() + phrase[1:])}.*"


def _ordered_findings(result: RunResult) -> list[tuple[StageResult, Finding]]:
    """Every finding of a break of its own, the first break's stage first, then in stage
    order (consequences are in the trail, not listed as more breaks)."""
    first = result.first_break.stage if result.first_break else None
    stages = sorted(result.stages, key=lambda s: s.name != first)
    return [(s, f) for s in stages for f in s.findings if f.consequence_of is None]


def _evidence_blocks(
    result: RunResult, wf: WorkflowConfig | None, room: int, shown: set[str]
) -> tuple[list[Block], int]:
    """Sections of evidence that fit; and how many findings were folded away."""
    # The lead says the first break (with what follows from it); its evidence does not.
    lead = result.first_break.message if result.first_break else "\x00"
    texts = [
        text
        for stage, finding in _ordered_findings(result)
        if (
            text := _evidence_text(
                stage, finding, wf, repeat=not lead.startswith(finding.message), shown=shown
            )
        )
    ]
    blocks: list[Block] = []
    spent = 0
    for n, text in enumerate(texts):
        if len(blocks) >= room or spent + len(text) > EVIDENCE_BUDGET:
            return blocks, len(texts) - n
        blocks.append(section(text))
        spent += len(text)
    return blocks, 0


def _evidence_text(
    stage: StageResult,
    f: Finding,
    wf: WorkflowConfig | None,
    *,
    repeat: bool,
    shown: set[str],
) -> str | None:
    rows = evidence_lines(f)
    if not rows and not repeat:
        return None
    seam = seam_of(stage, wf)
    title = f"*Evidence at {esc(seam)}* · {esc(STATUS_WORDS.get(str(f.kind), f.kind))}"
    if repeat:
        title += f"\n{esc(clip(sentence(said_once(f.message, shown), seam), 500))}"
    if not rows:
        return title
    text = "\n".join(f"• {row}" for row in rows)
    room = SECTION_LIMIT - len(title) - 40
    if len(text) > room:
        text = _fold_lines(text, room)
    return f"{title}\n{text}"


def evidence_lines(f: Finding) -> list[str]:
    """Expected vs observed as sentences, one per field, values as inline code (JSON-style,
    so spaces and escapes show); the seam clock and copy counts in words.

    >>> evidence_lines(Finding("wrong_value", "", ("amount_due",), {"amount_due": 4900},
    ...                        {"amount_due": 49}))
    ['`amount_due`: expected `4900`, found `49`']
    >>> evidence_lines(Finding("missing", "", (), {"within_s": 30.0}, {"count": 0}))
    ['expected the record within 30 s, found none']
    """
    expected, observed = dict(f.expected), dict(f.observed)
    lines: list[str] = []
    if "within_s" in expected:
        within = f"within {_secs(expected.pop('within_s'))}"
        if "latency_s" in observed:
            lines.append(
                f"expected the record {within}, it arrived after {_secs(observed.pop('latency_s'))}"
            )
        elif "count" in observed:
            lines.append(f"expected the record {within}, found {_copies(observed.pop('count'))}")
        else:
            lines.append(f"expected the record {within}")
    if "count" in expected and "count" in observed:
        lines.append(
            f"expected {_copies(expected.pop('count'))}, found {_copies(observed.pop('count'))}"
        )
    if f.kind == FindingKind.UNREACHABLE:
        observed.pop("error", None)  # the error is the finding's own sentence: said once
    keys = list(dict.fromkeys([*f.fields, *expected, *observed]))
    for key in [k for k in keys if k in expected or k in observed][:EVIDENCE_LINES]:
        name = code(clip(key, 40))
        if key in expected and key in observed:
            lines.append(
                f"{name}: expected {code(value(expected[key]))}, found {code(value(observed[key]))}"
            )
        elif key in expected:
            lines.append(f"{name}: expected {code(value(expected[key]))}, found nothing")
        else:
            lines.append(f"{name}: found {code(value(observed[key]))}")
    return lines


def _secs(s: Any) -> str:
    """``30 s``, ``2.5 s``: a configured duration as written, not ``30.0 s``."""
    return f"{s:g} s" if isinstance(s, int | float) and not isinstance(s, bool) else code(value(s))


def _copies(n: Any) -> str:
    if not isinstance(n, int) or isinstance(n, bool):
        return code(value(n))
    return "none" if n == 0 else "1 copy" if n == 1 else f"{n} copies"


def _fold_lines(text: str, room: int) -> str:
    lines = text.split("\n")
    kept: list[str] = []
    used = 0
    for line in lines:
        if used + len(line) + 1 > room - 30:
            break
        kept.append(line)
        used += len(line) + 1
    kept.append(f"… {len(lines) - len(kept)} more line(s) folded")
    return "\n".join(kept)


def cleanup_line(c: CleanupResult) -> str:
    """🧹 what cleanup removed, or what it will retry."""
    errors = esc(clip("; ".join(c.errors), 500))
    if c.status == "done":
        if c.removed == 0:
            return "🧹 Cleanup: nothing was left to remove."
        return f"🧹 Cleanup: removed {c.removed} test object(s)."
    if c.status == "partial":
        return f"🧹 Cleanup partial: removed {c.removed}; the rest will be retried ({errors})."
    if c.status == "failed":
        return f"🧹 Cleanup failed ({errors}); it will be retried (`baton cleanup`)."
    if c.status == "skipped":
        return "🧹 Nothing to clean up."
    return "🧹 Cleanup pending; it will be retried."


def _marker_line(result: RunResult) -> str:
    marker = f" · test record marker {code(result.marker)}" if result.marker else ""
    return f"run {code(result.run_id)}{marker}"


__all__ = [
    "Message",
    "RunInfo",
    "cleanup_line",
    "context",
    "crashed",
    "diagnosis",
    "evidence_lines",
    "fallback_final",
    "final",
    "progress",
    "section",
    "stage_reply",
    "started",
]
