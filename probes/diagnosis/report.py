"""Plain-text and JUnit renderings of a run result (for the CLI and CI systems)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

from ..model import (
    KIND_WORDS,
    STATUS_OK,
    STATUS_SKIPPED,
    FindingKind,
    RunResult,
    StageResult,
    Verdict,
)
from . import localised

_UNREACHABLE = str(FindingKind.UNREACHABLE)
_ICONS = {STATUS_OK: "✓", STATUS_SKIPPED: "·", _UNREACHABLE: "?"}
#: Finding kinds as words in the text trail.
_STATUS_WORDS = {kind: words.trail for kind, words in KIND_WORDS.items()}
_UPSTREAM_UNKNOWN = re.compile(r"\((upstream unknown: [^)]*)\)$")


def stage_line(stage: StageResult, seam: str) -> str:
    """``  ✗ Form → CRM  missing  –``. A consequence reads ``– CRM → Invoice  not reached
    (consequence of Form → CRM)``; a stage below one that could not be checked reads
    ``? CRM → Invoice  could not check (upstream unknown: CRM could not be checked)``."""
    cause = stage.consequence_of
    if cause is not None and stage.status == _UNREACHABLE:
        said = _UPSTREAM_UNKNOWN.search(stage.findings[0].message)
        why = said.group(1) if said else f"upstream unknown: {cause} could not be checked"
        return f"  ? {seam:<32} could not check ({why})"
    if cause is not None:
        return f"  – {seam:<32} not reached (consequence of {cause})"
    icon = _ICONS.get(stage.status, "✗")
    status = "injected" if stage.after is None and stage.status == STATUS_OK else stage.status
    if stage.expected_absent and stage.status == STATUS_OK:
        status = "rightly absent"  # it must not get the record, and did not
    status = _STATUS_WORDS.get(status, status)  # --json keeps the kind names
    timing = f"{stage.latency_s:7.2f}s" if stage.latency_s is not None else "       –"
    found = f"  found {stage.found}" if stage.found > 1 else ""
    if stage.queued_s is not None and stage.queued_s >= 0.5:
        found += f"  (after {stage.queued_s:.1f}s queued in Baton)"
    return f"  {icon} {seam:<32} {status:<15} {timing}{found}"


def _after_seam(message: str, seam: str) -> str:
    """Finding messages start with their seam; don't say it twice."""
    return message.removeprefix(seam + ": ")


def _fmt(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in values.items()) or "–"


def render_text(result: RunResult, seams: dict[str, str]) -> str:
    """The stage-by-stage trail, the verdict with the first break, and the cleanup."""
    result = localised(result)
    variant = f" (variant {result.variant})" if result.variant else ""
    lines = [f"Probe run {result.run_id}  {result.workflow}{variant}  marker {result.marker}"]
    bodies: set[str] = set()
    for stage in result.stages:
        lines.append(stage_line(stage, seams.get(stage.name, stage.name)))
        if stage.consequence_of is not None:
            continue  # the line says it; the break it follows from has the evidence
        for f in stage.findings:
            lines.append(f"      {said_once(f.message, bodies)}")
            if f.kind == _UNREACHABLE:
                continue  # its evidence is the error the line just gave
            if f.expected or f.observed:
                lines.append(f"        expected: {_fmt(f.expected)}")
                lines.append(f"        observed: {_fmt(f.observed)}")
    if result.verdict == Verdict.OK:
        lines.append(f"Verdict: OK — {ok_sentence(result)}")
    elif result.verdict == Verdict.LEAK:
        fb = result.first_break
        where = f" — first break at {fb.seam}: {_after_seam(fb.message, fb.seam)}" if fb else ""
        lines.append(f"Verdict: LEAK{where}")
    else:
        fb = result.first_break
        why = f" — {_after_seam(fb.message, fb.seam)}" if fb else ""
        lines.append(f"Verdict: ERROR (could not check){why}")
    c = result.cleanup
    extra = f" ({'; '.join(c.errors)})" if c.errors else ""
    lines.append(f"Cleanup: {c.status}, {c.removed} object(s) removed{extra}")
    # The verdict and cleanup lines say where; the body was shown on its stage.
    for i in (-2, -1):
        lines[i] = said_once(lines[i], bodies, AS_ABOVE)
    return "\n".join(lines)


def ok_sentence(result: RunResult) -> str:
    """What an ``ok`` run showed, as a sentence. With a stage the record must not reach
    (no welcome mail without consent), it says so rather than "everywhere":

    ``the record reached every tool it should and, as expected, not Welcome email.``
    """
    absent = [s.label or s.name for s in result.stages if s.expected_absent]
    if not absent:
        return "the record arrived everywhere, intact."
    names = absent[0] if len(absent) == 1 else ", ".join(absent[:-1]) + " or " + absent[-1]
    return f"the record reached every tool it should and, as expected, not {names}."


#: What stands for a tool's raw answer quoted earlier in the same report.
SAME_AS_ABOVE = "(the same answer as above)"
AS_ABOVE = "(see above)"


def said_once(message: str, shown: set[str], instead: str = SAME_AS_ABOVE) -> str:
    """``message`` with each raw tool answer already in ``shown`` replaced by ``instead``;
    its own raw answers join ``shown``. A vendor's error body is quoted once per run.

    >>> shown: set[str] = set()
    >>> said_once('crm: 503: {"error": "maintenance window"}', shown)
    'crm: 503: {"error": "maintenance window"}'
    >>> said_once('mail: 503: {"error": "maintenance window"}', shown)
    'mail: 503: (the same answer as above)'
    """
    out = message
    for body in shown:
        out = out.replace(body, instead)
    shown.update(vendor_bodies(message))
    return out


def vendor_bodies(message: str) -> list[str]:
    """The raw answer a tool gave, as an error message quotes it (``…503: {"error": …}``)."""
    found = re.search(r"\d{3}: ([{<\[].{20,})$", message)
    return [found.group(1)] if found else []


def render_junit(results: list[RunResult], seams: dict[str, dict[str, str]]) -> bytes:
    """One <testsuite> per run, one <testcase> per stage: leaks fail, could-not-check errors;
    a stage missing only because of an earlier break (or unknown because an earlier stage
    could not be checked) is skipped, so one break is one failure."""
    suites = ET.Element("testsuites")
    for result in map(localised, results):
        suite_name = result.workflow + (f"[{result.variant}]" if result.variant else "")
        checked = [s for s in result.stages if s.consequence_of is None]
        failures = sum(
            1 for s in checked if s.status not in (STATUS_OK, STATUS_SKIPPED, _UNREACHABLE)
        )
        errors = sum(1 for s in checked if s.status == _UNREACHABLE)
        suite = ET.SubElement(
            suites,
            "testsuite",
            name=suite_name,
            tests=str(len(result.stages)),
            failures=str(failures),
            errors=str(errors),
            timestamp=result.started_at,
        )
        props = ET.SubElement(suite, "properties")
        ET.SubElement(props, "property", name="run_id", value=result.run_id)
        ET.SubElement(props, "property", name="marker", value=result.marker)
        for stage in result.stages:
            seam = seams.get(result.workflow, {}).get(stage.name, stage.name)
            case = ET.SubElement(
                suite,
                "testcase",
                classname=suite_name,
                name=seam,
                time=f"{stage.latency_s or 0:.3f}",
            )
            cause = stage.consequence_of
            if stage.status == STATUS_SKIPPED:
                ET.SubElement(case, "skipped", message="upstream stage could not be checked")
            elif cause is not None:
                # not a break of its own: the seam was never exercised (or nobody knows)
                ET.SubElement(case, "skipped", message=stage.findings[0].message)
            elif stage.status == _UNREACHABLE:
                msg = stage.findings[0].message if stage.findings else "could not check"
                ET.SubElement(case, "error", message=msg, type="unreachable")
            elif stage.status != STATUS_OK:
                el = ET.SubElement(
                    case, "failure", message=stage.findings[0].message, type=stage.status
                )
                el.text = "\n".join(
                    f"{f.kind}: {f.message}\nexpected: {_fmt(f.expected)}\n"
                    f"observed: {_fmt(f.observed)}"
                    for f in stage.findings
                )
    ET.indent(suites)
    return bytes(ET.tostring(suites, encoding="utf-8", xml_declaration=True))
