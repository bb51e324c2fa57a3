"""Every finding kind diagnosed from a real probe run: the example config, the real
connectors, the engine and the sandbox stand-ins, over sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import pytest
import sqlite_utils

from baton.probes.config import Config
from baton.probes.demo import example_config_text, sandbox_config
from baton.probes.engine import Engine
from baton.probes.model import RunResult, Verdict
from baton.probes.sandbox import Sandbox
from baton.probes.store import Store

# Short sandbox timings: deadline 4 s, grace 4 s, settle 1 s.
FAST = re.sub(r"deadline: 20s", "deadline: 4s", example_config_text())
FAST = re.sub(r"grace: 10s", "grace: 4s", FAST)
FAST = re.sub(r"settle: 1.5s", "settle: 1s", FAST)


def fast_config(url: str) -> Config:
    return sandbox_config(url, FAST)


async def probe(
    faults: list[str],
    workflow: str = "lead-to-invoice",
    variant: str | None = "card",
    *,
    store: Store | None = None,
    glue_delay_s: tuple[float, float] = (0.05, 0.3),
    seed: int | None = None,
) -> tuple[RunResult, dict[str, Any]]:
    sb = Sandbox(faults=faults, glue_delay_s=glue_delay_s, search_lag_s=0.5, seed=seed)
    await asyncio.to_thread(sb.start)
    try:
        async with httpx.AsyncClient() as client:
            engine = Engine(
                fast_config(sb.url),
                store=store or Store(sqlite_utils.Database(memory=True)),
                client=client,
            )
            result = await engine.run(workflow, variant)
        return result, sb.state()
    finally:
        await asyncio.to_thread(sb.stop)


# (id, faults, variant, stage, kind, fields)
CASES = [
    ("missing", ["drop@crm"], "card", "crm", "missing", ()),
    ("late", ["delay@invoice=5.5"], "card", "invoice", "late", ()),
    ("duplicate", ["duplicate@email=2"], "card", "welcome-email", "duplicate", ()),
    ("swapped", ["swap@crm=firstname,email"], "card", "crm", "swapped", ("firstname", "email")),
    ("date-order", ["date_order@crm"], "card", "crm", "reformatted", ("signup_date",)),
    ("country-code", ["strip_country@crm"], "card", "crm", "reformatted", ("phone",)),
    ("case", ["case@crm=company:upper"], "card", "crm", "reformatted", ("company",)),
    ("truncated", ["truncate@crm=lastname:8"], "card", "crm", "truncated", ("lastname",)),
    ("encoding", ["mojibake@crm=firstname"], "unicode", "crm", "encoding", ("firstname",)),
    ("cents", ["cents@invoice"], "card", "invoice", "wrong_value", ("amount_due",)),
    ("currency", ["currency@invoice=eur"], "card", "invoice", "wrong_value", ("currency",)),
    ("no-consent", ["ignore_consent@email"], "no-consent", "welcome-email", "unexpected", ()),
    ("paypal", ["skip_paypal@invoice"], "paypal", "invoice", "missing", ()),
    ("outage", ["outage@stripe"], "card", "invoice", "unreachable", ()),
]


@pytest.fixture(scope="module")
def case_results() -> dict[str, RunResult]:
    async def all_cases() -> list[tuple[RunResult, dict[str, Any]]]:
        return await asyncio.gather(*(probe(f, variant=v) for _, f, v, *_ in CASES))

    results = asyncio.run(all_cases())
    return {case[0]: result for case, (result, _) in zip(CASES, results, strict=True)}


@pytest.mark.parametrize(
    ("case", "stage", "kind", "fields"),
    [pytest.param(c[0], c[3], c[4], c[5], id=c[0]) for c in CASES],
)
def test_planted_fault_is_diagnosed_at_its_seam(
    case_results: dict[str, RunResult], case: str, stage: str, kind: str, fields: tuple[str, ...]
) -> None:
    result = case_results[case]
    assert result.first_break is not None, result.to_json()
    assert (result.first_break.stage, result.first_break.kind) == (stage, kind)
    expected_verdict = Verdict.ERROR if kind == "unreachable" else Verdict.LEAK
    assert result.verdict == expected_verdict
    broken = next(s for s in result.stages if s.name == stage)
    finding = next(f for f in broken.findings if f.kind == kind)
    assert set(fields) <= set(finding.fields)
    # Every other stage is healthy: one fault, one finding.
    others = [s.status for s in result.stages if s.name != stage]
    assert set(others) == {"ok"}, result.to_json()


def test_swapped_sentence_names_both_fields_with_evidence(
    case_results: dict[str, RunResult],
) -> None:
    fb = case_results["swapped"].first_break
    assert fb is not None
    marker = case_results["swapped"].marker
    assert fb.message == (
        f"Form → CRM: email and first name are swapped "
        f"(CRM has email='Ada', firstname='probe+{marker}@example.com')"
    )


def test_cleanup_removes_what_the_probe_left(case_results: dict[str, RunResult]) -> None:
    for case, result in case_results.items():
        if case == "outage":
            assert result.cleanup.status == "partial"
        else:
            assert result.cleanup.status == "done", (case, result.cleanup)


def test_healthy_runs_with_jittered_delays_raise_no_false_alarm() -> None:
    async def many() -> list[tuple[RunResult, dict[str, Any]]]:
        return await asyncio.gather(
            *(
                probe([], variant=v, glue_delay_s=(0.05, 1.5), seed=i)
                for i, v in enumerate(["card", "paypal", "unicode", "no-consent"] * 3)
            )
        )

    results = asyncio.run(many())
    verdicts = [(r.variant, r.verdict, r.first_break) for r, _ in results]
    assert all(v == Verdict.OK for _, v, _ in verdicts), verdicts
    for _, state in results:
        # Everything the probes created was removed again.
        assert state["counts"]["hubspot"]["contacts"] == 0, state
        assert state["counts"]["stripe"]["customers"] == 0, state


def test_hubspot_signup_workflow_is_healthy() -> None:
    result, _ = asyncio.run(probe([], workflow="hubspot-signup", variant=None))
    assert result.verdict == Verdict.OK, result.to_json()
    assert [s.status for s in result.stages] == ["ok", "ok", "ok"]


def test_rate_limited_tools_are_waited_out_not_reported() -> None:
    faults = ["ratelimit@hubspot=2", "ratelimit@stripe=3", "ratelimit@sendgrid=2"]
    result, _ = asyncio.run(probe(faults))
    assert result.verdict == Verdict.OK, result.to_json()


GENERIC = """
version: 1
store: ":memory:"
tools:
  form:
    type: webhook
    url: ${BATON_SANDBOX_URL}/glue/hooks/catch/2002/forms
    format: form
  contacts:
    type: http
    url: "${BATON_SANDBOX_URL}/hubspot/crm/v3/objects/contacts/{email}?idProperty=email\\
      &properties=email,firstname,lastname"
    records_path: ""
    id_field: id
    credentials:
      token: ${HUBSPOT_TOKEN:-sandbox-token}
    cleanup_url: "${BATON_SANDBOX_URL}/hubspot/crm/v3/objects/contacts/{id}"
workflows:
  generic:
    stages:
      - name: form
        tool: form
        label: Form
      - name: crm
        tool: contacts
        after: form
        label: CRM
        expect:
          fields:
            properties.email: "{email}"
            properties.lastname: "{last_name}"
        deadline: 4s
        grace: 2s
        settle: 0.5s
"""


@pytest.mark.parametrize(
    ("faults", "status"),
    [
        pytest.param([], "ok", id="healthy"),
        pytest.param(["truncate@crm=lastname:6"], "truncated", id="truncated"),
    ],
)
def test_form_encoded_webhook_and_generic_http_observer(faults: list[str], status: str) -> None:
    from baton.probes.config import load_config_text

    async def go() -> tuple[RunResult, dict[str, Any]]:
        sb = Sandbox(faults=faults, search_lag_s=0.2)
        await asyncio.to_thread(sb.start)
        try:
            config = load_config_text(GENERIC, env={"BATON_SANDBOX_URL": sb.url})
            async with httpx.AsyncClient() as client:
                engine = Engine(
                    config, store=Store(sqlite_utils.Database(memory=True)), client=client
                )
                result = await engine.run("generic")
            glue_requests = [r for r in sb.requests() if r["path"].startswith("/glue")]
            return result, {"glue": glue_requests, "state": sb.state()}
        finally:
            await asyncio.to_thread(sb.stop)

    result, seen = asyncio.run(go())
    assert [s.status for s in result.stages] == ["ok", status], result.to_json()
    [hook] = seen["glue"]
    assert "x-www-form-urlencoded" in hook["headers"].get(
        "Content-Type", hook["headers"].get("content-type", "")
    )
    assert result.cleanup.status == "done" and result.cleanup.removed == 1
    assert seen["state"]["counts"]["hubspot"]["contacts"] == 0
