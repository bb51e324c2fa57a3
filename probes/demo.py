"""``baton demo``: the example workflows against the sandbox, healthy and with planted faults.

Every scenario gets its own sandbox (faults are per sandbox) and all run at once, so the
demo takes about as long as its slowest scenario (a missing record waits out its deadline).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import click
import httpx
import sqlite_utils

from .config import Config, WorkflowConfig, load_config_text
from .diagnosis.report import render_text
from .engine import Engine
from .model import RunResult, Verdict
from .store import Store


@dataclass(frozen=True)
class Scenario:
    title: str
    workflow: str
    variant: str | None
    faults: tuple[str, ...]
    verdict: Verdict
    kind: str | None = None  # the first break's finding kind we planted
    stage: str | None = None


SCENARIOS = [
    Scenario("Healthy chain", "lead-to-invoice", "card", (), Verdict.OK),
    Scenario(
        "Glue maps first name into the email field",
        "lead-to-invoice",
        "card",
        ("swap@crm=firstname,email",),
        Verdict.LEAK,
        "swapped",
        "crm",
    ),
    Scenario(
        "Invoice billed in cents",
        "lead-to-invoice",
        "card",
        ("cents@invoice",),
        Verdict.LEAK,
        "wrong_value",
        "invoice",
    ),
    Scenario(
        "Date read as mm/dd",
        "lead-to-invoice",
        "card",
        ("date_order@crm",),
        Verdict.LEAK,
        "reformatted",
        "crm",
    ),
    Scenario(
        "Welcome mail sent twice",
        "lead-to-invoice",
        "card",
        ("duplicate@email=2",),
        Verdict.LEAK,
        "duplicate",
        "welcome-email",
    ),
    Scenario(
        "Welcome mail to someone without consent",
        "lead-to-invoice",
        "no-consent",
        ("ignore_consent@email",),
        Verdict.LEAK,
        "unexpected",
        "welcome-email",
    ),
    Scenario(
        "PayPal order never triggers the invoice",
        "lead-to-invoice",
        "paypal",
        ("skip_paypal@invoice",),
        Verdict.LEAK,
        "missing",
        "invoice",
    ),
    Scenario(
        "Stripe is down: could not check (not a leak)",
        "lead-to-invoice",
        "card",
        ("outage@stripe",),
        Verdict.ERROR,
        "unreachable",
        "invoice",
    ),
]


def example_config_text() -> str:
    """config.example.yaml, from the installed package or the source checkout."""
    packaged = resources.files("baton.probes").joinpath("examples/config.example.yaml")
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    return (Path(__file__).resolve().parents[1] / "config.example.yaml").read_text(encoding="utf-8")


def sandbox_config(url: str, text: str | None = None) -> Config:
    """The example config pointed at a sandbox at ``url``, storing nothing on disk."""
    return load_config_text(
        text or example_config_text(),
        path="config.example.yaml",
        env={"BATON_SANDBOX_URL": url},
    )


def matches(s: Scenario, result: RunResult) -> bool:
    if result.verdict != s.verdict:
        return False
    if s.kind is None:
        return result.first_break is None
    fb = result.first_break
    return fb is not None and fb.kind == s.kind and (s.stage is None or fb.stage == s.stage)


async def _scenario(s: Scenario, store: Store, client: httpx.AsyncClient) -> RunResult:
    from .sandbox import Sandbox

    sb = Sandbox(faults=list(s.faults))
    await asyncio.to_thread(sb.start)
    try:
        engine = Engine(sandbox_config(sb.url), store=store, client=client)
        return await engine.run(s.workflow, s.variant, origin={"demo": s.title})
    finally:
        await asyncio.to_thread(sb.stop)


async def _run_all() -> list[RunResult]:
    store = Store(sqlite_utils.Database(memory=True))
    async with httpx.AsyncClient() as client:
        return list(await asyncio.gather(*(_scenario(s, store, client) for s in SCENARIOS)))


#: Renders one result for people: the text trail by default; ``baton demo --slack-preview``
#: passes the bot's renderer (this package never imports Slack).
Renderer = Callable[[RunResult, WorkflowConfig], str]


def _text(result: RunResult, wf: WorkflowConfig) -> str:
    return render_text(result, {st.name: wf.seam(st) for st in wf.stages})


def run_demo(*, as_json: bool = False, render: Renderer | None = None) -> int:
    """Run every scenario; print the diagnoses; 0 when each matched what was planted."""
    started = time.monotonic()
    if not as_json:
        click.echo(f"Starting {len(SCENARIOS)} sandboxes and probing them all at once…\n")
    results = asyncio.run(_run_all())
    ok = [matches(s, r) for s, r in zip(SCENARIOS, results, strict=True)]
    if as_json:
        click.echo(
            json.dumps(
                [
                    {"scenario": s.title, "faults": list(s.faults), "as_planted": m, **r.to_json()}
                    for s, r, m in zip(SCENARIOS, results, ok, strict=True)
                ],
                ensure_ascii=False,
                indent=2,
            )
        )
    else:
        config = sandbox_config("http://127.0.0.1:0")
        for s, r, m in zip(SCENARIOS, results, ok, strict=True):
            planted = ", ".join(s.faults) or "none"
            click.echo(f"━━ {s.title}  (planted: {planted})")
            click.echo((render or _text)(r, config.workflows[s.workflow]))
            click.echo(f"   diagnosis {'matches' if m else 'DOES NOT MATCH'} the planted fault\n")
        click.echo(f"{sum(ok)}/{len(ok)} diagnoses matched in {time.monotonic() - started:.1f}s")
    return 0 if all(ok) else 1
