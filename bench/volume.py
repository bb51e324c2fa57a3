"""Right at volume: findings, reads, wall and timing accuracy of many probes at once.

    python bench/volume.py -n 100 --concurrency 50             # HubSpot Forms entry, 5/s
    python bench/volume.py -n 1000 --concurrency 1000 --entry webhook
    python bench/volume.py -n 1 --concurrency 1                 # one probe alone
    python bench/volume.py -n 100 --concurrency 100 --sendgrid-rate 0.1   # SendGrid's 6/min

The world: the sandbox in its own process (as the real tools would be), its glue writing a
SendGrid mail, a HubSpot contact and then a Stripe invoice 0.3-1.5 s after each
submission. The entry is HubSpot Forms at the connector's default rate limit (5/s), or the
glue's catch hook (``--entry webhook``, unlimited, to put 1,000 probes in flight at once).
Every observed stage has a 4 s deadline, so a false ``late`` shows at once. Nothing is
faulty: every finding is a false alarm.

Reported:

- findings, by kind (a healthy world should give none);
- reads per observed stage per probe: the stand-ins' own count of read requests (GET,
  search, batch read) on each observed tool, over probes x that tool's stages; and the
  engine's count of requests made for observation alone (cleanup reads are counted apart);
- wall time against the floor the entry's rate limit sets (n / rate);
- timing error: Baton's arrival time for a stage minus the moment the stand-in stored the
  record (its own clock, to the microsecond), p50/p95 per tool; and notice lag: when
  Baton first saw it minus that moment;
- engine CPU per probe run and peak RSS of the engine process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import httpx
import sqlite_utils

from baton.probes import observer as observer_module
from baton.probes.config import load_config_text
from baton.probes.engine import Engine
from baton.probes.store import Store

SANDBOX = """
import sys, time
from baton.probes.sandbox import Sandbox
sb = Sandbox(glue_delay_s=({lo}, {hi}), search_lag_s={lag}, request_log_size=0)
sb.start()
print("listening", sb.url, flush=True)
sys.stdin.read()
"""

CONFIG = """
version: 1
record:
  domain: example.com
tools:
  hubspot-forms:
    type: hubspot_forms
    base_url: {url}/hsforms
    portal_id: "12345678"
    form_guid: 0e8a7c2d-8d3e-4a5b-9f6a-1b2c3d4e5f60
    fields:
      email: "{{email}}"
      firstname: "{{first_name}}"
      lastname: "{{last_name}}"
      phone: "{{phone}}"
      company: "{{company}}"
      signup_date: "{{date:%d/%m/%Y}}"
      amount: "{{amount}}"
      currency: "{{currency}}"
      payment_method: "{{payment_method}}"
      marketing_consent: "{{marketing_consent}}"
  form:
    type: webhook
    url: {url}/glue/hooks/catch/1001/leads
    rate_limit: 10000/s
  hubspot:
    type: hubspot
    base_url: {url}/hubspot
    credentials: {{token: "${{HUBSPOT_TOKEN:-sandbox-token}}"}}
    rate_limit: {hubspot_rate}/s
  sendgrid:
    type: sendgrid
    base_url: {url}/sendgrid
    credentials: {{token: "${{SENDGRID_TOKEN:-sandbox-token}}"}}
    rate_limit: {sendgrid_rate}/s
  stripe:
    type: stripe
    base_url: {url}/stripe
    credentials: {{token: "${{STRIPE_TOKEN:-sandbox-token}}"}}
    rate_limit: {stripe_rate}/s
workflows:
  signup:
    stages:
      - {{name: entry, tool: {entry}, label: Form}}
      - name: welcome-email
        tool: sendgrid
        after: entry
        label: Welcome email
        expect: {{fields: {{to_email: "{{email}}"}}, count: 1}}
        deadline: {deadline}s
        grace: {grace}s
        settle: 1.5s
      - name: crm
        tool: hubspot
        after: entry
        label: CRM
        expect: {{fields: {{email: "{{email}}", firstname: "{{first_name}}"}}, count: 1}}
        deadline: {deadline}s
        grace: {grace}s
        settle: 1.5s
      - name: invoice
        tool: stripe
        after: crm
        label: Invoice
        expect:
          fields: {{customer_email: "{{email}}", amount_due: "{{amount_cents}}"}}
          count: 1
        deadline: {deadline}s
        grace: {grace}s
        settle: 1.5s
"""

OBSERVED = {"welcome-email": "sendgrid", "crm": "hubspot", "invoice": "stripe"}
ROUTE_TOOL = {"/hubspot/": "hubspot", "/sendgrid/": "sendgrid", "/stripe/": "stripe"}

#: Set by the bench inside cleanup, so its requests are counted apart.
PURPOSE: contextvars.ContextVar[str] = contextvars.ContextVar("purpose", default="run")


def _is_read(method: str, path: str) -> bool:
    if method == "GET":
        return True
    return method == "POST" and path.endswith(("/search", "/batch/read"))


async def main(args: argparse.Namespace) -> dict[str, Any]:
    proc = subprocess.Popen(
        [sys.executable, "-c", SANDBOX.format(lo=0.3, hi=1.5, lag=args.search_lag)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().split()[-1]
        return await measure(args, url)
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        proc.terminate()
        proc.wait()


async def measure(args: argparse.Namespace, url: str) -> dict[str, Any]:
    text = CONFIG.format(
        url=url,
        entry="hubspot-forms" if args.entry == "hubspot_forms" else "form",
        deadline=args.deadline,
        grace=args.grace,
        hubspot_rate=args.hubspot_rate,
        sendgrid_rate=args.sendgrid_rate,
        stripe_rate=args.stripe_rate,
    )
    config = load_config_text(text, path="bench.yaml", env={})
    entry_rate = 5.0 if args.entry == "hubspot_forms" else None
    engine_reads: Counter[str] = Counter()
    cleanup_reads: Counter[str] = Counter()

    async def count(request: httpx.Request) -> None:
        tool = next((t for p, t in ROUTE_TOOL.items() if p in request.url.path), None)
        if tool is None or not _is_read(request.method, request.url.path):
            return
        if observer_module.OBSERVING.get():
            engine_reads[tool] += 1
        else:
            cleanup_reads[tool] += 1

    db_path = os.path.join(tempfile.mkdtemp(), "volume.db")
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(limits=limits, event_hooks={"request": [count]}) as client:
        await client.post(f"{url}/_sandbox/reset")
        engine = Engine(config, store=Store(sqlite_utils.Database(db_path)), client=client)
        gate = asyncio.Semaphore(args.concurrency)

        async def one() -> Any:
            async with gate:
                return await engine.run("signup")

        cpu0 = time.process_time()
        started = time.monotonic()
        results = await asyncio.gather(*(one() for _ in range(args.n)))
        wall = time.monotonic() - started
        cpu = time.process_time() - cpu0
        counts = (await client.get(f"{url}/_sandbox/counts")).json()
        truth = await _truth(client, url, engine, results)
    store = engine.store
    findings: Counter[str] = Counter()
    for r in results:
        for s in r.stages:
            for f in s.findings:
                findings[str(f.kind)] += 1
    server_reads = {
        tool: sum(n for route, n in routes.items() if _is_read(*route.split(" ", 1)))
        for tool, routes in counts.items()
        if tool in ("hubspot", "sendgrid", "stripe")
    }
    stages_per_tool = Counter(OBSERVED.values())
    per_stage = {
        tool: round(server_reads.get(tool, 0) / (args.n * stages_per_tool[tool]), 3)
        for tool in stages_per_tool
    }
    observing = {
        tool: round(engine_reads[tool] / (args.n * stages_per_tool[tool]), 3)
        for tool in stages_per_tool
    }
    timing: dict[str, list[float]] = defaultdict(list)
    notice: dict[str, list[float]] = defaultdict(list)
    for r in results:
        rows = {row.name: row for row in store.stages(r.run_id)}
        for stage, tool in OBSERVED.items():
            row, true_ts = rows[stage], truth.get((r.marker, tool))
            if true_ts is None or row.arrived_ts is None or row.first_seen_ts is None:
                continue
            timing[tool].append(row.arrived_ts - true_ts)
            notice[tool].append(row.first_seen_ts - true_ts)
    floor = args.n / entry_rate if entry_rate else None
    return {
        "probes": args.n,
        "concurrency": args.concurrency,
        "entry": args.entry,
        "verdicts": dict(Counter(str(r.verdict) for r in results)),
        "findings": dict(findings),
        "reads_per_stage_per_probe": per_stage,
        "observation_reads_per_stage_per_probe": observing,
        "cleanup_reads_per_probe": round(sum(cleanup_reads.values()) / args.n, 2),
        "wall_s": round(wall, 1),
        "floor_s": floor,
        "wall_over_floor": round(wall / floor, 2) if floor else None,
        "timing_error_s": {t: _pcts(v) for t, v in timing.items()},
        "notice_lag_s": {t: _pcts(v) for t, v in notice.items()},
        "cpu_ms_per_run": round(cpu * 1000 / args.n, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "batches": {
            tool: {"looks": o.stats.looks, "batches": o.stats.batches}
            for tool, o in engine._observers.items()
        },
    }


async def _truth(
    client: httpx.AsyncClient, url: str, engine: Engine, results: list[Any]
) -> dict[tuple[str, str], float]:
    """When the stand-ins stored each probe's record, by their own clock."""
    resp = await client.get(f"{url}/_sandbox/created")
    if resp.status_code != 200:
        return {}
    out: dict[tuple[str, str], float] = {}
    markers = {r.marker for r in results}
    for item in resp.json():
        email = str(item.get("email", ""))
        marker = email.partition("+")[2].partition("@")[0]
        if marker in markers:
            key = (marker, item["tool"])
            out[key] = min(out.get(key, float("inf")), float(item["at"]))
    return out


def _pcts(values: list[float]) -> dict[str, float]:
    values = sorted(values)
    if not values:
        return {}
    return {
        "p50": round(statistics.median(values), 3),
        "p95": round(values[int(0.95 * (len(values) - 1))], 3),
        "n": len(values),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--entry", choices=["hubspot_forms", "webhook"], default="hubspot_forms")
    parser.add_argument("--deadline", type=float, default=4.0)
    parser.add_argument("--grace", type=float, default=10.0)
    parser.add_argument("--hubspot-rate", type=float, default=10.0)
    parser.add_argument("--sendgrid-rate", type=float, default=10.0)
    parser.add_argument("--stripe-rate", type=float, default=20.0)
    parser.add_argument("--search-lag", type=float, default=1.0)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args)), indent=2))
