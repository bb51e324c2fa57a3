"""Localisation: from the raw per-stage results to the first break, the way an integration
tester would find it (pure: no I/O)."""

from __future__ import annotations

import json

import pytest

from baton.probes.config import StageConfig, WorkflowConfig
from baton.probes.diagnosis import (
    first_break,
    is_handoff,
    localise,
    missing_finding,
    unreachable_finding,
)
from baton.probes.model import (
    CleanupResult,
    Finding,
    FindingKind,
    FirstBreak,
    RunResult,
    StageResult,
    Verdict,
    verdict_for,
)
from baton.probes.store.runs import _result_from_json, _result_json

#: Form → Welcome email, Form → CRM → Invoice (the form's webhook feeds two stages).
LEAD = WorkflowConfig(
    name="lead-to-invoice",
    stages=[
        StageConfig(name="form", tool="webhook", label="Form"),
        StageConfig(name="welcome", tool="sendgrid", after="form", label="Welcome email"),
        StageConfig(name="crm", tool="hubspot", after="form", label="CRM"),
        StageConfig(name="invoice", tool="stripe", after="crm", label="Invoice"),
    ],
)
#: A → B → C.
CHAIN = WorkflowConfig(
    name="chain",
    stages=[
        StageConfig(name="a", tool="webhook", label="A"),
        StageConfig(name="b", tool="hubspot", after="a", label="B"),
        StageConfig(name="c", tool="stripe", after="b", label="C"),
    ],
)


def _cfg(wf: WorkflowConfig, name: str) -> StageConfig:
    return wf.stage(name)


def ok(wf: WorkflowConfig, name: str) -> StageResult:
    cfg = _cfg(wf, name)
    return StageResult(name, cfg.tool, cfg.after, "ok", 1, 1.5, [], cfg.display)


def missing(wf: WorkflowConfig, name: str, *, upstream_missing: str | None = None) -> StageResult:
    """As the engine decides it today (with its "already missing" suffix when asked)."""
    cfg = _cfg(wf, name)
    finding = missing_finding(
        seam=wf.seam(cfg), where=cfg.display, deadline_s=30, upstream_missing=upstream_missing
    )
    return StageResult(name, cfg.tool, cfg.after, "missing", 0, None, [finding], cfg.display)


def unreachable(wf: WorkflowConfig, name: str) -> StageResult:
    cfg = _cfg(wf, name)
    finding = unreachable_finding(seam=wf.seam(cfg), where=cfg.display, error="HTTP 503")
    return StageResult(name, cfg.tool, cfg.after, "unreachable", 0, None, [finding], cfg.display)


def swapped(wf: WorkflowConfig, name: str) -> StageResult:
    cfg = _cfg(wf, name)
    finding = Finding(
        FindingKind.SWAPPED,
        f"{wf.seam(cfg)}: email and first name are swapped",
        ("email", "firstname"),
        {"email": "probe+x@example.com", "firstname": "Ada"},
        {"email": "Ada", "firstname": "probe+x@example.com"},
    )
    return StageResult(name, cfg.tool, cfg.after, "swapped", 1, 2.0, [finding], cfg.display)


def by_name(stages: list[StageResult]) -> dict[str, StageResult]:
    return {s.name: s for s in stages}


# ---------------------------------------------------------------------------- handoffs


def test_a_lost_entry_webhook_is_the_handoff_out_of_the_form() -> None:
    raw = [
        ok(LEAD, "form"),
        missing(LEAD, "welcome"),
        missing(LEAD, "crm"),
        missing(LEAD, "invoice", upstream_missing="CRM"),
    ]
    stages, fb = localise(LEAD, raw)
    assert fb == FirstBreak(
        seam="Form → Welcome email, CRM",
        stage="welcome",
        kind="missing",
        message=(
            "Form accepted the record, but none of Welcome email, CRM, Invoice received it: "
            "the handoff out of Form (its webhook or the glue's trigger) dropped it"
        ),
        after="form",
        stages=["welcome", "crm", "invoice"],
    )
    assert is_handoff(fb, stages)
    got = by_name(stages)
    # the two seams out of Form are the break itself; Invoice only follows from it
    assert [f.consequence_of for f in got["welcome"].findings] == [None]
    assert [f.consequence_of for f in got["crm"].findings] == [None]
    (invoice,) = got["invoice"].findings
    assert got["invoice"].status == "missing" and invoice.kind == FindingKind.MISSING
    assert invoice.consequence_of == "Form → CRM"
    assert invoice.message == (
        "CRM → Invoice: the record never reached Invoice, a consequence of the break at Form → CRM"
    )
    assert verdict_for(stages) == Verdict.LEAK
    assert first_break(LEAD, raw) == fb


def test_a_handoff_out_of_a_later_stage_says_received() -> None:
    wf = WorkflowConfig(
        name="fan-out",
        stages=[
            *LEAD.stages,
            StageConfig(name="slack", tool="slack", after="crm", label="Sales alert"),
        ],
    )
    raw = [
        ok(wf, "form"),
        ok(wf, "welcome"),
        ok(wf, "crm"),
        missing(wf, "invoice"),
        missing(wf, "slack"),
    ]
    fb = first_break(wf, raw)
    assert fb is not None
    assert (fb.seam, fb.stage, fb.after, fb.stages) == (
        "CRM → Invoice, Sales alert",
        "invoice",
        "crm",
        ["invoice", "slack"],
    )
    assert fb.message.startswith(
        "CRM received the record, but none of Invoice, Sales alert received it: "
        "the handoff out of CRM"
    )


def test_one_child_missing_of_two_is_that_seam_not_the_handoff() -> None:
    raw = [ok(LEAD, "form"), ok(LEAD, "welcome"), missing(LEAD, "crm"), missing(LEAD, "invoice")]
    stages, fb = localise(LEAD, raw)
    assert fb is not None
    assert (fb.seam, fb.stage, fb.kind, fb.after) == ("Form → CRM", "crm", "missing", "form")
    assert fb.stages == ["crm", "invoice"]
    assert fb.message == (
        "Form → CRM: the record never arrived in CRM within 30s; so it never reached Invoice either"
    )
    assert not is_handoff(fb, stages)
    assert by_name(stages)["invoice"].findings[0].consequence_of == "Form → CRM"


def test_a_single_child_missing_is_the_ordinary_seam() -> None:
    raw = [ok(CHAIN, "a"), ok(CHAIN, "b"), missing(CHAIN, "c")]
    stages, fb = localise(CHAIN, raw)
    assert fb == FirstBreak(
        seam="B → C",
        stage="c",
        kind="missing",
        message="B → C: the record never arrived in C within 30s",
        after="b",
        stages=["c"],
    )
    assert stages == raw  # nothing to rewrite


# ---------------------------------------------------------------------------- consequences


def test_a_stage_missing_below_a_missing_one_is_a_consequence() -> None:
    raw = [ok(CHAIN, "a"), missing(CHAIN, "b"), missing(CHAIN, "c", upstream_missing="B")]
    stages, fb = localise(CHAIN, raw)
    assert fb is not None
    assert (fb.seam, fb.stage, fb.after, fb.stages) == ("A → B", "b", "a", ["b", "c"])
    assert fb.message == (
        "A → B: the record never arrived in B within 30s; so it never reached C either"
    )
    b, c = by_name(stages)["b"], by_name(stages)["c"]
    assert b == raw[1]
    (finding,) = c.findings
    assert c.status == "missing" and finding.kind == FindingKind.MISSING
    assert finding.consequence_of == "A → B"
    assert finding.message == (
        "B → C: the record never reached C, a consequence of the break at A → B"
    )
    assert "already missing" not in json.dumps([s.to_json() for s in stages])
    assert verdict_for(stages) == Verdict.LEAK


def test_consequences_of_consequences_name_the_first_break() -> None:
    wf = WorkflowConfig(
        name="long",
        stages=[
            *CHAIN.stages,
            StageConfig(name="d", tool="t", after="c", label="D"),
        ],
    )
    raw = [ok(wf, "a"), missing(wf, "b"), missing(wf, "c"), missing(wf, "d")]
    stages, fb = localise(wf, raw)
    assert fb is not None and fb.stages == ["b", "c", "d"]
    assert fb.message.endswith("; so it never reached C or D either")
    assert by_name(stages)["d"].findings[0].message == (
        "C → D: the record never reached D, a consequence of the break at A → B"
    )


def test_a_swap_upstream_makes_a_missing_stage_below_a_break_of_its_own() -> None:
    raw = [ok(CHAIN, "a"), swapped(CHAIN, "b"), missing(CHAIN, "c")]
    stages, fb = localise(CHAIN, raw)
    assert fb is not None
    assert (fb.seam, fb.kind, fb.stages) == ("A → B", "swapped", ["b"])
    # B had the record (swapped or not): C never getting it is the B → C seam's fault
    assert stages == raw
    assert by_name(stages)["c"].findings[0].consequence_of is None


def test_fewer_copies_than_expected_still_had_the_record() -> None:
    b = StageResult(
        "b",
        "hubspot",
        "a",
        "missing",
        1,
        2.0,
        [
            Finding(
                FindingKind.MISSING,
                "A → B: the record arrived only 1 time (expected 2)",
                expected={"count": 2},
                observed={"count": 1},
            )
        ],
    )
    stages, fb = localise(CHAIN, [ok(CHAIN, "a"), b, missing(CHAIN, "c", upstream_missing="B")])
    assert fb is not None and fb.seam == "A → B"
    c = by_name(stages)["c"]
    assert c.findings[0].consequence_of is None
    assert c.findings[0].message == "B → C: the record never arrived in C within 30s"


# ---------------------------------------------------------------------------- upstream unknown


def test_missing_below_a_stage_that_could_not_be_checked_is_could_not_check() -> None:
    raw = [ok(CHAIN, "a"), unreachable(CHAIN, "b"), missing(CHAIN, "c")]
    assert verdict_for(raw) == Verdict.ERROR  # even before localising
    stages, fb = localise(CHAIN, raw)
    c = by_name(stages)["c"]
    (finding,) = c.findings
    assert c.status == "unreachable" and finding.kind == FindingKind.UNREACHABLE
    assert finding.message == "B → C: could not check C (upstream unknown: B could not be checked)"
    assert finding.consequence_of == "A → B"
    assert verdict_for(stages) == Verdict.ERROR
    assert fb is not None
    assert (fb.seam, fb.stage, fb.kind, fb.after, fb.stages) == (
        "A → B",
        "b",
        "unreachable",
        "a",
        ["b", "c"],
    )
    assert fb.message == "A → B: could not check B: HTTP 503"


def test_an_outage_at_the_crm_is_never_a_leak_at_crm_to_invoice() -> None:
    raw = [
        ok(LEAD, "form"),
        ok(LEAD, "welcome"),
        unreachable(LEAD, "crm"),
        missing(LEAD, "invoice"),
    ]
    stages, fb = localise(LEAD, raw)
    assert verdict_for(stages) == Verdict.ERROR
    assert fb is not None and (fb.seam, fb.kind) == ("Form → CRM", "unreachable")
    assert by_name(stages)["invoice"].findings[0].message == (
        "CRM → Invoice: could not check Invoice (upstream unknown: CRM could not be checked)"
    )


def test_a_real_leak_elsewhere_beats_could_not_check() -> None:
    raw = [
        ok(LEAD, "form"),
        swapped(LEAD, "welcome"),
        unreachable(LEAD, "crm"),
        missing(LEAD, "invoice"),
    ]
    stages, fb = localise(LEAD, raw)
    assert verdict_for(stages) == Verdict.LEAK
    assert fb is not None and (fb.seam, fb.kind) == ("Form → Welcome email", "swapped")
    assert by_name(stages)["invoice"].status == "unreachable"


def test_a_branch_that_lost_the_record_leaks_while_another_could_not_be_checked() -> None:
    """Not every stage out of Form lost it (CRM is unknown): the seam, not the handoff."""
    raw = [ok(LEAD, "form"), missing(LEAD, "welcome"), unreachable(LEAD, "crm")]
    raw.append(missing(LEAD, "invoice"))
    _, fb = localise(LEAD, raw)
    assert fb is not None and (fb.seam, fb.kind, fb.stages) == (
        "Form → Welcome email",
        "missing",
        ["welcome"],
    )


def test_an_entry_that_could_not_inject_accounts_for_the_skipped_stages() -> None:
    entry = StageResult(
        "form",
        "webhook",
        None,
        "unreachable",
        0,
        None,
        [unreachable_finding(seam="Form", where="Form", error="HTTP 404")],
        "Form",
    )
    skipped = [
        StageResult(n, "t", LEAD.stage(n).after, "skipped", 0, None, [], LEAD.stage(n).display)
        for n in ("welcome", "crm", "invoice")
    ]
    stages, fb = localise(LEAD, [entry, *skipped])
    assert stages == [entry, *skipped]
    assert fb is not None
    assert (fb.seam, fb.stage, fb.after) == ("Form", "form", None)
    assert fb.stages == ["form", "welcome", "crm", "invoice"]


# ---------------------------------------------------------------------------- properties


def test_nothing_wrong_is_no_break() -> None:
    raw = [ok(LEAD, n) for n in ("form", "welcome", "crm", "invoice")]
    assert localise(LEAD, raw) == (raw, None)


@pytest.mark.parametrize(
    "raw",
    [
        [
            ok(LEAD, "form"),
            missing(LEAD, "welcome"),
            missing(LEAD, "crm"),
            missing(LEAD, "invoice"),
        ],
        [ok(CHAIN, "a"), unreachable(CHAIN, "b"), missing(CHAIN, "c")],
        [ok(CHAIN, "a"), missing(CHAIN, "b"), missing(CHAIN, "c", upstream_missing="B")],
    ],
    ids=["handoff", "upstream-unknown", "consequence"],
)
def test_localising_twice_changes_nothing_and_keeps_the_order(raw: list[StageResult]) -> None:
    wf = LEAD if raw[0].name == "form" else CHAIN
    once = localise(wf, raw)
    assert localise(wf, once[0]) == once
    shuffled = list(reversed(raw))
    stages, fb = localise(wf, shuffled)
    assert [s.name for s in stages] == [s.name for s in shuffled]
    assert fb == once[1]


def test_stages_the_config_no_longer_has_use_their_own_labels() -> None:
    gone = StageResult("old", "t", "b", "missing", 0, None, [], "Old CRM")
    stages, fb = localise(CHAIN, [ok(CHAIN, "a"), missing(CHAIN, "b"), ok(CHAIN, "c"), gone])
    assert fb is not None and fb.seam == "A → B"
    assert by_name(stages)["old"].findings[0].message == (
        "B → Old CRM: the record never reached Old CRM, a consequence of the break at A → B"
    )


# ---------------------------------------------------------------------------- JSON


def _result(stages: list[StageResult], fb: FirstBreak | None) -> RunResult:
    return RunResult(
        run_id="r-1",
        workflow="lead-to-invoice",
        variant=None,
        started_at="2026-05-01T14:00:00+00:00",
        finished_at="2026-05-01T14:01:00+00:00",
        verdict=verdict_for(stages),
        stages=stages,
        first_break=fb,
        cleanup=CleanupResult("done", 1),
        marker="bt1",
    )


def test_new_fields_round_trip_through_json_and_the_store() -> None:
    raw = [
        ok(LEAD, "form"),
        missing(LEAD, "welcome"),
        missing(LEAD, "crm"),
        missing(LEAD, "invoice"),
    ]
    result = _result(*localise(LEAD, raw))
    data = json.loads(json.dumps(result.to_json()))
    assert data["first_break"]["after"] == "form"
    assert data["first_break"]["stages"] == ["welcome", "crm", "invoice"]
    invoice = data["stages"][3]["findings"][0]
    assert invoice["consequence_of"] == "Form → CRM"
    # only when set: a finding of its own keeps the documented five keys
    assert set(data["stages"][2]["findings"][0]) == {
        "kind",
        "fields",
        "expected",
        "observed",
        "message",
    }
    assert Finding.from_json(invoice) == result.stages[3].findings[0]
    back = _result_from_json(json.loads(json.dumps(_result_json(result))))
    assert back == result


def test_json_from_before_localisation_still_loads() -> None:
    old = {
        "run_id": "r-0",
        "workflow": "lead-to-invoice",
        "variant": None,
        "started_at": "2026-05-01T14:00:00+00:00",
        "finished_at": "2026-05-01T14:01:00+00:00",
        "verdict": "leak",
        "stages": [
            {
                "name": "crm",
                "tool": "hubspot",
                "after": "form",
                "status": "missing",
                "found": 0,
                "latency_s": None,
                "findings": [
                    {
                        "kind": "missing",
                        "fields": [],
                        "expected": {"within_s": 30},
                        "observed": {"count": 0},
                        "message": "Form → CRM: the record never arrived in CRM within 30s",
                    }
                ],
            }
        ],
        "first_break": {
            "seam": "Form → CRM",
            "stage": "crm",
            "kind": "missing",
            "message": "Form → CRM: the record never arrived in CRM within 30s",
        },
        "cleanup": {"status": "done", "removed": 1},
    }
    result = _result_from_json(old)
    assert result.first_break is not None
    assert (result.first_break.after, result.first_break.stages) == (None, [])
    assert result.stages[0].findings[0].consequence_of is None
