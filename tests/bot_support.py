"""Shared fakes for the bot tests (no tests here; ``conftest.py`` belongs to the engine).

``FakeEngine`` has the engine's shape (``start``, ``finish``, ``store``, ``tick``,
``resume_interrupted``, ``cleanup_pending``) and writes its results to the real
``baton.probes.store.Store``, so the bot reads ``list`` / ``status`` / ``history`` from the same
tables it will in production. ``make_result`` builds the run results a real engine
produces for a few outcomes: ok, a drop at the CRM, swapped fields, an outage.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any

from baton.probes import diagnosis
from baton.probes.config import (
    Config,
    SlackConfig,
    StageConfig,
    ToolConfig,
    VariantConfig,
    WorkflowConfig,
)
from baton.probes.config.messages import did_you_mean
from baton.probes.errors import UsageError
from baton.probes.model import (
    CleanupResult,
    Finding,
    FindingKind,
    FirstBreak,
    RunResult,
    StageResult,
    Verdict,
)
from baton.probes.record import FIELD_NAMES
from baton.probes.store import StageRow, Store

SECRET = "8f14e45fceea167a5a36dedd4bea2543"
BOT_TOKEN = "xoxb-1-test-token"
STRIPE_KEY = "sk_test_4eC39HqLyjWDarjtT1zdp7dc"
T0 = dt.datetime(2026, 5, 1, 14, 0, 0, tzinfo=dt.UTC)

Progress = Callable[[StageResult], Awaitable[None]]


def sample_config(**slack: Any) -> Config:
    """Two workflows; lead-to-invoice has four stages and two variants."""
    tools = {
        "form": ToolConfig(name="form", type="webhook"),
        "hubspot": ToolConfig(name="hubspot", type="hubspot"),
        "sendgrid": ToolConfig(name="sendgrid", type="sendgrid"),
        "stripe": ToolConfig(name="stripe", type="stripe", credentials={"api_key": STRIPE_KEY}),
    }
    form = StageConfig(name="form", tool="form", label="Form")
    lead = WorkflowConfig(
        name="lead-to-invoice",
        description="Web form to CRM, welcome mail and invoice",
        stages=[
            form,
            StageConfig(name="crm", tool="hubspot", after="form", label="CRM"),
            StageConfig(name="welcome-email", tool="sendgrid", after="crm", label="Email"),
            StageConfig(name="invoice", tool="stripe", after="crm", label="Invoice"),
        ],
        variants={"card": VariantConfig(name="card"), "paypal": VariantConfig(name="paypal")},
    )
    news = WorkflowConfig(
        name="newsletter",
        stages=[form, StageConfig(name="mail", tool="sendgrid", after="form", label="Email")],
    )
    return Config(
        tools=tools,
        workflows={"lead-to-invoice": lead, "newsletter": news},
        slack=SlackConfig(**slack),
    )


def _stage(name: str, after: str | None, label: str, status: str = "ok", **kw: Any) -> StageResult:
    tool = {"form": "form", "crm": "hubspot", "welcome-email": "sendgrid", "invoice": "stripe"}
    return StageResult(
        name=name,
        tool=tool.get(name, "sendgrid"),
        after=after,
        status=status,
        found=kw.pop("found", 0 if status in ("missing", "skipped", "unreachable") else 1),
        latency_s=kw.pop("latency_s", None),
        label=label,
        **kw,
    )


def make_result(
    run_id: str = "r-7k2xq9",
    *,
    outcome: str = "ok",
    workflow: str = "lead-to-invoice",
    variant: str | None = None,
    started: dt.datetime = T0,
    took_s: float = 12.5,
    marker: str = "bt7k2xq9",
) -> RunResult:
    """The result of one run of lead-to-invoice: ``ok``, ``drop``, ``swap`` or ``outage``."""
    email = f"probe+{marker}@example.com"
    form = _stage("form", None, "Form", latency_s=0.21)
    crm = _stage("crm", "form", "CRM", latency_s=2.1)
    mail = _stage("welcome-email", "crm", "Email", latency_s=3.4)
    invoice = _stage("invoice", "crm", "Invoice", latency_s=4.0)
    first_break = None
    cleanup = CleanupResult(status="done", removed=3)
    if outcome == "drop":
        finding = diagnosis.missing_finding(seam="Form → CRM", where="CRM", deadline_s=30)
        message = finding.message
        crm = replace(crm, status="missing", found=0, latency_s=None, findings=[finding])
        mail = replace(mail, status="skipped", found=0, latency_s=None)
        invoice = replace(invoice, status="skipped", found=0, latency_s=None)
        first_break = FirstBreak(seam="Form → CRM", stage="crm", kind="missing", message=message)
        cleanup = CleanupResult(status="done", removed=1)
    elif outcome == "swap":
        message = (
            f"Form → CRM: email and first name are swapped (CRM has email='Ada', "
            f"firstname='{email}')"
        )
        finding = Finding(
            FindingKind.SWAPPED,
            message,
            ("firstname", "email"),
            {"firstname": "Ada", "email": email},
            {"firstname": email, "email": "Ada"},
        )
        crm = replace(crm, status="swapped", findings=[finding])
        first_break = FirstBreak(seam="Form → CRM", stage="crm", kind="swapped", message=message)
    elif outcome == "outage":
        finding = diagnosis.unreachable_finding(
            seam="CRM → Invoice", where="Invoice", error="stripe: HTTP 503 Service Unavailable"
        )
        message = finding.message
        invoice = replace(
            invoice, status="unreachable", found=0, latency_s=None, findings=[finding]
        )
        first_break = FirstBreak(
            seam="CRM → Invoice", stage="invoice", kind="unreachable", message=message
        )
        cleanup = CleanupResult(status="partial", removed=2, errors=["stripe: HTTP 503"])
    elif outcome != "ok":
        raise ValueError(outcome)
    stages = [form, crm, mail, invoice]
    verdict = {"ok": Verdict.OK, "outage": Verdict.ERROR}.get(outcome, Verdict.LEAK)
    if workflow != "lead-to-invoice":
        stages = [form, replace(mail, name="mail", after="form")]
    return RunResult(
        run_id=run_id,
        workflow=workflow,
        variant=variant,
        started_at=started.isoformat(timespec="milliseconds"),
        finished_at=(started + dt.timedelta(seconds=took_s)).isoformat(timespec="milliseconds"),
        verdict=verdict,
        stages=stages,
        first_break=first_break,
        cleanup=cleanup,
        marker=marker,
    )


class FakeEngine:
    """The engine's shape; ``outcome`` (or ``outcomes[workflow]``) decides each result."""

    def __init__(
        self,
        config: Config,
        *,
        store: Store,
        outcome: str = "ok",
        stage_delay_s: float = 0.0,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.config = config
        self.store = store
        self.outcome = outcome
        self.stage_delay_s = stage_delay_s
        #: Report stages last first (as when the later tools answer sooner).
        self.reverse_progress = False
        self.now = now
        self.starts: list[dict[str, Any]] = []
        self.gate: asyncio.Event | None = None  # set it to hold every finish() until released

    async def start(
        self,
        workflow: str,
        variant: str | None = None,
        overrides: Mapping[str, Any] | None = None,
        *,
        origin: Mapping[str, Any] | None = None,
    ) -> str:
        wf = self.config.workflows.get(workflow)
        if wf is None:
            hint = did_you_mean(workflow, self.config.workflows)
            raise UsageError(f"unknown workflow {workflow!r}{hint}")
        if variant is not None and variant not in wf.variants:
            raise UsageError(f"unknown variant {variant!r} of {workflow}")
        for key in overrides or {}:
            if key not in FIELD_NAMES and not key.startswith("x_"):
                raise UsageError(f"unknown record field {key!r}")
        n = len(self.starts) + 1
        run_id = f"r-{n:06d}"
        started = self.now()
        self.starts.append(
            {
                "run_id": run_id,
                "workflow": workflow,
                "variant": variant,
                "overrides": dict(overrides or {}),
                "origin": dict(origin or {}),
            }
        )
        self.store.create_run(
            run_id=run_id,
            marker=f"bt{n:06d}",
            workflow=workflow,
            variant=variant,
            overrides=dict(overrides or {}),
            origin=dict(origin or {}),
            started_at=started.isoformat(),
            started_ts=started.timestamp(),
            stages=[
                StageRow(
                    run_id=run_id,
                    name=s.name,
                    tool=s.tool,
                    after=s.after,
                    seam=wf.seam(s),
                    state="waiting",
                    status="pending",
                    deadline_ts=0,
                    grace_ts=0,
                    next_check_ts=0,
                    workflow=workflow,
                    position=i,
                )
                for i, s in enumerate(wf.stages)
            ],
            cleanup_tools=[],
        )
        return run_id

    async def finish(self, run_id: str, *, on_progress: Progress | None = None) -> RunResult:
        run = self.store.run(run_id)
        assert run is not None, run_id
        if self.gate is not None:
            await self.gate.wait()
        started = dt.datetime.fromisoformat(run["started_at"])
        outcome = self.outcome
        result = make_result(
            run_id,
            outcome=outcome,
            workflow=run["workflow"],
            variant=run["variant"],
            started=started,
            marker=run["marker"],
        )
        stages = list(reversed(result.stages)) if self.reverse_progress else result.stages
        for stage in stages:
            if self.stage_delay_s:
                await asyncio.sleep(self.stage_delay_s)
            if on_progress is not None:
                await on_progress(stage)
        self.store.finish_run(result, status="finished", finished_ts=started.timestamp() + 12.5)
        return result

    async def tick(self) -> list[RunResult]:
        return []

    async def resume_interrupted(self) -> list[RunResult]:
        return []

    async def cleanup_pending(self) -> int:
        return 0
