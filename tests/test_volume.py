"""Right at volume, over sockets against the sandbox: many probes share batched looks,
a rate-limited entry gives no false lateness, a wrong URL is named, cleanups are honest."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import sqlite_utils

from baton.probes.config import Config, load_config_text
from baton.probes.engine import Engine
from baton.probes.model import RunResult, Verdict
from baton.probes.sandbox import Sandbox
from baton.probes.store import Store

CONFIG = """
version: 1
tools:
  hubspot-forms:
    type: hubspot_forms
    base_url: {url}/hsforms
    portal_id: "12345678"
    form_guid: 0e8a7c2d-8d3e-4a5b-9f6a-1b2c3d4e5f60
    rate_limit: {entry_rate}/s
    fields:
      email: "{{email}}"
      firstname: "{{first_name}}"
      lastname: "{{last_name}}"
      amount: "{{amount}}"
      currency: "{{currency}}"
      payment_method: "{{payment_method}}"
  hubspot:
    type: hubspot
    base_url: {url}/hubspot
    credentials: {{token: "${{T:-sandbox-token}}"}}
    rate_limit: 10/s
  sendgrid:
    type: sendgrid
    base_url: {url}/sendgrid
    credentials: {{token: "${{T:-sandbox-token}}"}}
    rate_limit: 10/s
  stripe:
    type: stripe
    base_url: {stripe_url}
    credentials: {{token: "${{T:-sandbox-token}}"}}
    rate_limit: 20/s
workflows:
  signup:
    stages:
      - {{name: entry, tool: hubspot-forms, label: Form}}
      - name: welcome-email
        tool: sendgrid
        after: entry
        label: Welcome email
        expect: {{fields: {{to_email: "{{email}}"}}}}
        deadline: 4s
        grace: 4s
        settle: 1s
      - name: crm
        tool: hubspot
        after: entry
        label: CRM
        expect: {{fields: {{email: "{{email}}", firstname: "{{first_name}}"}}}}
        deadline: 4s
        grace: 4s
        settle: 1s
      - name: invoice
        tool: stripe
        after: crm
        label: Invoice
        expect: {{fields: {{customer_email: "{{email}}", amount_due: "{{amount_cents}}"}}}}
        deadline: 4s
        grace: 4s
        settle: 1s
"""

READ_ROUTES = (
    "GET ",
    "POST /crm/v3/objects/contacts/search",
    "POST /crm/v3/objects/contacts/batch/read",
)


def config(url: str, *, entry_rate: float = 5.0, stripe_url: str | None = None) -> Config:
    text = CONFIG.format(url=url, entry_rate=entry_rate, stripe_url=stripe_url or f"{url}/stripe")
    return load_config_text(text, path="volume.yaml", env={})


async def burst(sb: Sandbox, cfg: Config, n: int) -> tuple[list[RunResult], Engine]:
    async with httpx.AsyncClient() as client:
        engine = Engine(cfg, store=Store(sqlite_utils.Database(memory=True)), client=client)
        results = await asyncio.gather(*(engine.run("signup") for _ in range(n)))
    return list(results), engine


def reads(counts: dict[str, dict[str, int]], tool: str) -> int:
    return sum(n for route, n in counts.get(tool, {}).items() if route.startswith(READ_ROUTES))


@pytest.fixture
def sb() -> Any:
    with Sandbox(glue_delay_s=(0.3, 1.5), search_lag_s=1.0, seed=7) as sandbox:
        yield sandbox


def test_a_healthy_burst_behind_a_rate_limited_entry_gives_no_false_finding(sb: Sandbox) -> None:
    # 20 probes at once behind a 5/s entry: the last waits 4 s to be sent, as long as every
    # deadline. Counted from the start of the run it would be late; on its seam it is not.
    results, engine = asyncio.run(burst(sb, config(sb.url), 20))
    findings = [f.message for r in results for s in r.stages for f in s.findings]
    assert findings == []
    assert all(r.verdict == Verdict.OK and r.cleanup.status == "done" for r in results)
    queued = sorted(r.stages[0].queued_s or 0.0 for r in results)
    assert queued[-1] >= 2.5  # the entry's rate limit really held the last ones back
    # Batched looks: far fewer reads than stages looked at.
    counts = sb.counts()
    for tool in ("hubspot", "sendgrid", "stripe"):
        assert reads(counts, tool) <= 20, (tool, counts[tool])
    assert counts["hubspot"].get("POST /crm/v3/objects/contacts/batch/read", 0) >= 1
    assert counts["hubspot"].get("POST /crm/v3/objects/contacts/batch/archive", 0) >= 1
    assert engine.observer("hubspot").stats.largest_batch > 1
    # Nothing of the probes is left in any stand-in.
    state = sb.state()["counts"]
    assert state["hubspot"]["contacts"] == 0 and state["stripe"]["customers"] == 0


def test_a_wrong_base_url_is_could_not_check_naming_it_and_cleanup_is_not_done(
    sb: Sandbox,
) -> None:
    wrong = f"{sb.url}/stripe/oops"
    results, _ = asyncio.run(burst(sb, config(sb.url, stripe_url=wrong), 2))
    for result in results:
        assert result.verdict == Verdict.ERROR, result.first_break
        invoice = result.stages[3]
        assert invoice.status == "unreachable"
        assert f"{wrong}/v1/invoices answered 404" in invoice.findings[0].message
        assert result.cleanup.status != "done"
        assert any(f"{wrong}/v1/customers" in e for e in result.cleanup.errors)
