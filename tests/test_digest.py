"""Digest numbers from a store seeded with known outcomes.

The store holds 100 runs of ``lead`` (Form → CRM → Mail), all in one day:

- 90 runs ok everywhere;
- 5 runs lost at CRM (missing there, so Mail is "not reached", not a second leak);
- 3 runs reformatted at Mail;
- 2 runs where CRM could not be checked (unreachable) and Mail was ok.
"""

from __future__ import annotations

import io
import json
from dataclasses import replace
from typing import Any

import pytest
import sqlite_utils

from baton.probes.config import StageConfig, WorkflowConfig
from baton.probes.diagnosis import localise
from baton.probes.health.chart import render_chart
from baton.probes.health.digest import build_digest, render_digest_text
from baton.probes.model import (
    CleanupResult,
    Finding,
    FirstBreak,
    RunResult,
    StageResult,
    Verdict,
    verdict_for,
)
from baton.probes.store import DONE, StageRow, Store
from baton.probes.store.rollup import record_stage_rollup, sync_rollup

DAY = 86_400.0
NOW = 1_780_000_000.0  # 2026-05-28 20:26:40 UTC
T0 = NOW - 2 * DAY  # every seeded run starts within the day after T0
LABELS = {"form": "Form", "welcome": "Welcome", "crm": "CRM", "mail": "Mail"}
AFTER = {"form": None, "welcome": "form", "crm": "form", "mail": "crm"}
#: The same workflow as a config, for runs localised the way the engine does it.
LEAD = WorkflowConfig(
    name="lead",
    stages=[
        StageConfig(name=n, tool=n, after=AFTER[n], label=LABELS[n])
        for n in ("form", "welcome", "crm", "mail")
    ],
)


def seed_run(
    store: Store,
    run_id: str,
    started: float,
    outcomes: dict[str, tuple[str, float | None]],
    *,
    workflow: str = "lead",
    origin: dict[str, Any] | None = None,
    rollup: bool = True,
    localised: bool = False,
) -> RunResult:
    """One finished run: ``outcomes`` maps stage -> (status, latency); ``localised``: the
    stages, verdict and first break as ``diagnosis.localise`` makes them."""
    rows, stages = [], []
    for pos, (name, (status, latency)) in enumerate(outcomes.items()):
        after = AFTER[name]
        seam = f"{LABELS[after]} → {LABELS[name]}" if after else LABELS[name]
        findings = [] if status in ("ok", "skipped") else [Finding(status, f"{seam}: {status}")]  # type: ignore[arg-type]
        found = 0 if status in ("missing", "unreachable", "skipped") else 1
        rows.append(
            StageRow(
                run_id=run_id,
                name=name,
                tool=name,
                after=after,
                seam=seam,
                state=DONE,
                status=status,
                deadline_ts=started + 60,
                grace_ts=started + 90,
                next_check_ts=started,
                found=found,
                latency_s=latency,
                findings=json.dumps([f.to_json() for f in findings]),
                workflow=workflow,
                started_ts=started,
                position=pos,
            )
        )
        stages.append(StageResult(name, name, after, status, found, latency, findings, seam))
    kinds = {s.status for s in stages} - {"ok", "skipped"}
    verdict = Verdict.LEAK if kinds - {"unreachable"} else Verdict.ERROR if kinds else Verdict.OK
    broken = next((s for s in stages if s.status not in ("ok", "skipped", "unreachable")), None)
    first_break = FirstBreak(broken.label, broken.name, broken.status, "broke") if broken else None
    if localised:
        stages, first_break = localise(LEAD, stages)
        verdict = verdict_for(stages)
        rows = [
            replace(row, status=s.status, findings=json.dumps([f.to_json() for f in s.findings]))
            for row, s in zip(rows, stages, strict=True)
        ]
    store.create_run(
        run_id=run_id,
        marker="bt" + run_id[2:],
        workflow=workflow,
        variant=None,
        overrides={},
        origin=origin or {},
        started_at="",
        started_ts=started,
        stages=rows,
        cleanup_tools=[],
    )
    result = RunResult(
        run_id=run_id,
        workflow=workflow,
        variant=None,
        started_at="",
        finished_at="",
        verdict=verdict,
        stages=stages,
        first_break=first_break,
        cleanup=CleanupResult("done", 0),
    )
    store.finish_run(result, status="finished", finished_ts=started + 30)
    if rollup:
        record_stage_rollup(store.db, store.stages(run_id), verdict=str(verdict))
    return result


def seed(store: Store, *, rollup: bool = True) -> None:
    ok_crm = 0
    for i in range(100):
        started = T0 + i * 600
        if i < 90:
            ok_crm += 1
            crm: tuple[str, float | None] = ("ok", 2.0 if ok_crm <= 60 else 20.0)
            outcomes: dict[str, tuple[str, float | None]] = {
                "form": ("ok", 0.3),
                "crm": crm,
                "mail": ("ok", 5.0),
            }
        elif i < 95:
            outcomes = {"form": ("ok", 0.3), "crm": ("missing", None), "mail": ("missing", None)}
        elif i < 98:
            outcomes = {"form": ("ok", 0.3), "crm": ("ok", 20.0), "mail": ("reformatted", 5.0)}
        else:
            outcomes = {"form": ("ok", 0.3), "crm": ("unreachable", None), "mail": ("ok", 5.0)}
        origin = {"slack_permalink": f"https://acme.slack.com/archives/C1/p{i}"} if i < 92 else {}
        seed_run(store, f"r-{i:06d}", started, outcomes, origin=origin, rollup=rollup)


@pytest.fixture
def store() -> Store:
    s = Store(sqlite_utils.Database(memory=True))
    seed(s)
    return s


def test_workflow_numbers(store: Store) -> None:
    digest = build_digest(store, NOW)
    (wf,) = digest.workflows
    assert (wf.workflow, wf.runs, wf.passes, wf.leaks, wf.could_not_check) == (
        "lead",
        100,
        90,
        8,
        2,
    )
    # could-not-check is out of the denominator: 90 of 98
    assert wf.estimate.pass_rate == pytest.approx(90 / 98)
    assert wf.estimate.interval == pytest.approx((0.847117, 0.958056), abs=1e-6)
    assert wf.estimate.words == "leaks about 1 in 12, between 1 in 24 and 1 in 6.5"
    assert wf.top_kinds == [("missing", 5), ("reformatted", 3)]


def test_seam_numbers(store: Store) -> None:
    (wf,) = build_digest(store, NOW).workflows
    form, crm, mail = wf.seams
    assert [s.seam for s in wf.seams] == ["Form", "Form → CRM", "CRM → Mail"]

    assert (form.runs, form.passes, form.failures, form.could_not_check) == (100, 100, 0, 0)
    assert form.estimate.interval == pytest.approx((0.963007, 1.0), abs=1e-6)
    assert form.estimate.words == "no leaks in 100 runs (fewer than 1 in 27 at 95%)"

    assert (crm.runs, crm.passes, crm.failures, crm.could_not_check) == (100, 93, 5, 2)
    assert crm.estimate.interval == pytest.approx((0.886075, 0.978013), abs=1e-6)
    assert crm.estimate.words == "drops about 1 in 20, between 1 in 45 and 1 in 8.8"
    assert crm.top_kinds == [("missing", 5)]
    # 93 latencies: 60 × 2 s, 33 × 20 s; read back as bucket middles (±6%)
    assert crm.p50_s == pytest.approx(10 ** (6.5 / 20))
    assert crm.p95_s == pytest.approx(10 ** (26.5 / 20))

    assert (mail.runs, mail.passes, mail.failures, mail.not_checked) == (100, 92, 3, 5)
    assert mail.estimate.interval == pytest.approx((0.911229, 0.989203), abs=1e-6)
    assert mail.estimate.words == "leaks about 1 in 32, between 1 in 93 and 1 in 11"
    assert mail.top_kinds == [("reformatted", 3)]


def test_failed_runs_with_their_threads(store: Store) -> None:
    (wf,) = build_digest(store, NOW).workflows
    assert [r.run_id for r in wf.failed_runs] == [f"r-{i:06d}" for i in range(97, 89, -1)]
    newest_linked = wf.failed_runs[-2]
    assert newest_linked.run_id == "r-000091"
    assert newest_linked.permalink == "https://acme.slack.com/archives/C1/p91"
    assert (newest_linked.seam, newest_linked.kind) == ("Form → CRM", "missing")
    assert wf.failed_runs[0].permalink is None
    assert [r.run_id for r in wf.unchecked_runs] == ["r-000099", "r-000098"]
    assert build_digest(store, NOW, failed_limit=3).workflows[0].failed_runs[-1].run_id == (
        "r-000095"
    )


def test_daily_points_and_period(store: Store) -> None:
    digest = build_digest(store, NOW, period_s=3 * DAY)
    crm = digest.workflows[0].seams[1]
    assert len(digest.days) == 4
    with_data = [p for p in crm.daily if p.passes + p.failures + p.could_not_check]
    assert sum(p.passes for p in with_data) == 93
    assert sum(p.failures for p in with_data) == 5
    assert sum(p.could_not_check for p in with_data) == 2
    # outside the period: nothing
    assert build_digest(store, T0 - DAY, period_s=DAY).workflows == []
    assert build_digest(store, NOW, workflow="other").workflows == []


def test_rollup_is_idempotent_and_sync_fills_gaps() -> None:
    by_engine = Store(sqlite_utils.Database(memory=True))
    seed(by_engine)
    backfilled = Store(sqlite_utils.Database(memory=True))
    seed(backfilled, rollup=False)
    assert build_digest(backfilled, NOW).workflows == []
    assert sync_rollup(backfilled.db) == 100
    assert sync_rollup(backfilled.db) == 0
    # offering a run again never counts it twice
    rows = backfilled.stages("r-000000")
    assert record_stage_rollup(backfilled.db, rows, verdict="ok") is False
    assert build_digest(backfilled, NOW) == build_digest(by_engine, NOW)


def test_render_text(store: Store) -> None:
    text = render_digest_text(build_digest(store, NOW))
    assert text.splitlines()[:4] == [
        "Baton digest: 2026-05-21 20:00 to 2026-05-28 20:26 UTC",
        "",
        "lead: 100 runs: 90 ok, 8 leaks, 2 could not check",
        "  pass rate 91.8% (84.7–95.8%); leaks about 1 in 12, between 1 in 24 and 1 in 6.5",
    ]
    assert "  Form → CRM: 98 checked, 94.9% (88.6–97.8%) pass, p50 2.1s, p95 21s" in text
    assert (
        "    drops about 1 in 20, between 1 in 45 and 1 in 8.8; missing 5; 2 could not check"
        in text
    )
    assert (
        "    r-000091 2026-05-27 11:36 Form → CRM: missing https://acme.slack.com/archives/C1/p91"
        in text
    )
    assert "  could not check (2, newest first):" in text
    # "not reached" says what it counts, where it is counted
    assert (
        "    leaks about 1 in 32, between 1 in 93 and 1 in 11; reformatted 3; 5 not reached (an "
        "earlier stage lost the record or could not be checked, so this seam was not tested)"
    ) in text


def test_render_text_has_a_key_to_its_terms(store: Store) -> None:
    text = render_digest_text(build_digest(store, NOW))
    key = text.split("\n\nKey:\n", 1)[1].splitlines()
    assert [line.split(": ", 1)[0] for line in key] == [
        "  leak",
        "  checked",
        "  pass rate x% (a–b%)",
        "  1 in N",
        "  p50 / p95",
        "  could not check",
    ]
    assert key[2] == (
        "  pass rate x% (a–b%): share of checked runs whose record arrived intact and in time; "
        "(a–b%) is its 95% interval: the true rate is in it, 95% sure, given this many runs"
    )
    assert key[5] == (
        "  could not check: Baton could not read a tool (an error, no answer): neither a pass nor "
        "a leak, left out of the rates"
    )
    # a term the digest does not use is not explained; nothing to explain, no key
    clean = Store(sqlite_utils.Database(memory=True))
    seed_run(clean, "r-000001", T0, {"form": ("ok", 0.3), "crm": ("ok", 1.0)})
    assert "could not check" not in render_digest_text(build_digest(clean, NOW))
    empty = build_digest(Store(sqlite_utils.Database(memory=True)), NOW)
    assert "Key:" not in render_digest_text(empty)


def test_consequences_and_upstream_unknown_are_not_reached_raw_or_localised() -> None:
    """Mail missing after CRM lost the record, or after CRM could not be checked, is never a
    leak of CRM → Mail: the same count whether the stored stages are raw or localised."""
    store = Store(sqlite_utils.Database(memory=True))
    lost = {"form": ("ok", 0.3), "crm": ("missing", None), "mail": ("missing", None)}
    down = {"form": ("ok", 0.3), "crm": ("unreachable", None), "mail": ("missing", None)}
    for i, (outcomes, localised) in enumerate(
        [(lost, False), (down, False), (lost, True), (down, True)]
    ):
        seed_run(store, f"r-{i:06d}", T0 + 600 * i, outcomes, localised=localised)
    (wf,) = build_digest(store, NOW).workflows
    _, crm, mail = wf.seams
    assert (crm.passes, crm.failures, crm.could_not_check) == (0, 2, 2)
    assert (mail.runs, mail.failures, mail.could_not_check, mail.not_checked) == (4, 0, 0, 4)
    assert mail.top_kinds == []
    # localised, the outage is "could not check", not a leak
    assert [r.run_id for r in wf.unchecked_runs] == ["r-000003"]
    assert (wf.unchecked_runs[0].seam, wf.unchecked_runs[0].kind) == ("Form → CRM", "unreachable")


def test_a_lost_handoff_is_one_break_in_the_digest() -> None:
    store = Store(sqlite_utils.Database(memory=True))
    outcomes: dict[str, tuple[str, float | None]] = {
        "form": ("ok", 0.3),
        "welcome": ("missing", None),
        "crm": ("missing", None),
        "mail": ("missing", None),
    }
    seed_run(store, "r-000001", T0, outcomes, localised=True)
    (wf,) = build_digest(store, NOW).workflows
    (run,) = wf.failed_runs
    assert (run.seam, run.kind) == ("Form → Welcome, CRM", "missing")
    assert run.message is not None and run.message.startswith(
        "Form accepted the record, but none of Welcome, CRM, Mail received it"
    )
    by_seam = {s.seam: s for s in wf.seams}
    assert by_seam["CRM → Mail"].not_checked == 1 and by_seam["CRM → Mail"].failures == 0
    assert "    r-000001 2026-05-26 20:26 Form → Welcome, CRM: missing" in render_digest_text(
        build_digest(store, NOW)
    )


def test_empty_store() -> None:
    digest = build_digest(Store(sqlite_utils.Database(memory=True)), NOW)
    assert digest.workflows == []
    assert "no finished probe runs in this period" in render_digest_text(digest)


def test_json_shape(store: Store) -> None:
    data = json.loads(json.dumps(build_digest(store, NOW).to_json()))
    wf = data["workflows"][0]
    assert wf["estimate"]["passes"] == 90
    assert wf["seams"][1]["estimate"]["interval"] == pytest.approx([0.886075, 0.978013], abs=1e-6)
    assert wf["failed_runs"][0]["run_id"] == "r-000097"
    # the chart's buckets (a day each over 7 days), with a point per bucket and seam
    assert data["buckets"]["unit"] == "day" and data["buckets"]["words"] == "1 day"
    assert len(data["buckets"]["edges"]) == 9
    crm_points = [p for p in wf["seams"][1]["points"] if p["interval"]]
    assert [(p["passes"], p["failures"]) for p in crm_points] == [(22, 0), (71, 5)]
    assert crm_points[1]["interval"] == pytest.approx([0.855, 0.972], abs=1e-3)


def test_chart_is_a_png(store: Store) -> None:
    out = io.BytesIO()
    render_chart(build_digest(store, NOW), out)
    assert out.getvalue().startswith(b"\x89PNG\r\n\x1a\n")
    empty = io.BytesIO()
    render_chart(build_digest(store, T0 - DAY, period_s=DAY), empty)
    assert empty.getvalue().startswith(b"\x89PNG")


def test_rollup_of_real_engine_runs() -> None:
    """The engine's rollup, written when each run finishes, read by build_digest."""
    from test_engine import Clock, World, engine_for, healthy, run

    clock = Clock()
    World.clock = clock
    for bucket in (World.items, World.plan):
        bucket.clear()
    World.down.clear()
    store = Store(sqlite_utils.Database(memory=True))
    engine = engine_for(clock, store)
    results = []
    for plan, down in [({}, ""), ({"crm": (0, 0, None)}, ""), ({}, "billing"), ({}, "form")]:
        World.plan.clear()
        World.down.clear()
        World.down.update({down} - {""})
        healthy(**plan)
        result = run(engine, "lead")
        # The engine recorded the rollup when the run finished; a second call is a no-op.
        assert not record_stage_rollup(
            store.db, store.stages(result.run_id), verdict=result.verdict
        )
        results.append(result)
    assert [str(r.verdict) for r in results] == ["ok", "leak", "error", "error"]
    (wf,) = build_digest(store, clock.now + 1).workflows
    assert (wf.runs, wf.passes, wf.leaks, wf.could_not_check) == (4, 1, 1, 2)
    by_seam = {s.seam: s for s in wf.seams}
    assert list(by_seam) == ["Form", "Form → CRM", "Form → Email", "CRM → Invoice"]
    crm, invoice = by_seam["Form → CRM"], by_seam["CRM → Invoice"]
    assert (crm.passes, crm.failures, crm.not_checked) == (2, 1, 1)  # entry down: skipped
    assert crm.top_kinds == [("missing", 1)]
    # the fake billing tool gets every record, CRM or not: the seam passed in that run
    assert (invoice.passes, invoice.failures, invoice.could_not_check, invoice.not_checked) == (
        2,
        0,
        1,
        1,
    )
    assert crm.p50_s is not None and 0.9 <= crm.p50_s <= 1.7
