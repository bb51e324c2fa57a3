"""Benchmark: how fast ``/baton`` is acknowledged while hundreds of probes are in flight.

Target: p99 ack time <= 50 ms over 1,000 signed slash commands on 127.0.0.1 while 200
probes run against the sandbox (Slack's limit is 3 s).

Everything is real except Slack itself: the bot's HTTP endpoint (signature check, bolt,
the listener), the engine probing the sandbox with the example config (default timings,
default polling and retry policies), the SQLite store on disk (WAL), and a local Slack Web
API stand-in that the bot posts its threads to (in its own thread, as Slack is remote).
Only the tools' rate limits are raised (``--tool-rate``, 200/s): the example's 10/s models
the real vendors, and would make 200 probes queue for minutes at the sandbox.

1. 200 signed ``run lead-to-invoice card`` commands start 200 probes (their acks are timed
   too). The sandbox delays the CRM step by 8-12 s (``delay@crm=8-12``), so all 200 stay
   in flight while step 2 runs.
2. 1,000 signed read commands (``status``, ``list``, ``history ...``, ``help``), one after
   another from a client thread, each timed from send to response.
3. Waits for every probe to be reported in its Slack thread, and checks it was.

    python bench/ack_latency.py
    python bench/ack_latency.py --probes 50 --commands 200      # a quick one
    python bench/ack_latency.py --json                           # one JSON object
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from slack_sdk.web.async_client import AsyncWebClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the Slack stand-in lives with the tests

from slack_standin import SlackStandIn, signed_headers, slash_body  # noqa: E402

from bot.app import Bot, BotSettings  # noqa: E402
from bot.server import start_http  # noqa: E402
from probes.demo import sandbox_config  # noqa: E402
from probes.engine import Engine  # noqa: E402
from probes.sandbox import Sandbox  # noqa: E402
from probes.store import open_store  # noqa: E402

SECRET = "bench-signing-secret-0123456789"
TOKEN = "xoxb-bench-token"
READS = ["status", "list", "history lead-to-invoice 5", "help", "status lead-to-invoice"]


def percentiles(ms: list[float]) -> dict[str, float]:
    ordered = sorted(ms)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    return {
        "n": len(ordered),
        "p50_ms": round(statistics.median(ordered), 2),
        "p90_ms": round(pick(0.90), 2),
        "p99_ms": round(pick(0.99), 2),
        "max_ms": round(ordered[-1], 2),
        "mean_ms": round(statistics.fmean(ordered), 2),
    }


class Client(threading.Thread):
    """Sends signed commands one after another from its own thread, timing each."""

    def __init__(self, url: str, bodies: list[bytes]) -> None:
        super().__init__(name="bench-client", daemon=True)
        self.url, self.bodies = url, bodies
        self.ms: list[float] = []
        self.errors: list[str] = []

    def run(self) -> None:
        with httpx.Client(timeout=10) as http:
            for body in self.bodies:
                headers = signed_headers(SECRET, body)
                started = time.perf_counter()
                response = http.post(self.url, content=body, headers=headers)
                self.ms.append((time.perf_counter() - started) * 1000)
                if response.status_code != 200:
                    self.errors.append(f"{response.status_code} {response.text[:80]}")


async def send_all(url: str, bodies: list[bytes]) -> Client:
    client = Client(url, bodies)
    client.start()
    await asyncio.to_thread(client.join)
    return client


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    sandbox = Sandbox(faults=args.fault, seed=1)
    await asyncio.to_thread(sandbox.start)
    slack = SlackStandIn(token=TOKEN, latency_s=args.slack_latency).start_in_thread()
    tmp = tempfile.TemporaryDirectory()
    try:
        config = sandbox_config(sandbox.url)
        if args.tool_rate:
            tools_fast = {
                name: dataclasses.replace(tool, rate_limit=args.tool_rate)
                for name, tool in config.tools.items()
            }
            config = dataclasses.replace(config, tools=tools_fast)
        store = open_store(Path(tmp.name) / "baton.db")
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
        async with httpx.AsyncClient(limits=limits) as tools:
            bot = Bot(
                config=config,
                engine=Engine(config, store=store, client=tools),
                client=AsyncWebClient(token=TOKEN, base_url=slack.api_url),
                db=store.db,
                signing_secret=SECRET,
                settings=BotSettings(),
            )
            await bot.prepare()
            runner, port = await start_http(bot, signing_secret=SECRET, port=0)
            url = f"http://127.0.0.1:{port}/slack/events"
            try:
                return await _phases(args, bot, slack, url)
            finally:
                await bot.aclose(timeout_s=5)
                await runner.cleanup()
    finally:
        slack.stop_thread()
        await asyncio.to_thread(sandbox.stop)
        tmp.cleanup()


async def _phases(
    args: argparse.Namespace, bot: Bot, slack: SlackStandIn, url: str
) -> dict[str, Any]:
    runs = [
        slash_body("run lead-to-invoice card", user_id=f"U{i:05d}", trigger_id=f"run-{i}")
        for i in range(args.probes)
    ]
    started = time.perf_counter()
    run_client = await send_all(url, runs)
    await asyncio.sleep(0.5)  # let the injections land
    in_flight_before = bot.busy
    reads = [
        slash_body(READS[i % len(READS)], trigger_id=f"read-{i}") for i in range(args.commands)
    ]
    read_client = await send_all(url, reads)
    in_flight_after = bot.busy
    measured_s = time.perf_counter() - started
    await asyncio.wait_for(bot.drain(), timeout=args.wait)
    parents = [c for c in slack.of("chat.postMessage") if "thread_ts" not in c.params]
    finals = {
        c.params["ts"]
        for c in slack.of("chat.update")
        if c.params["text"][:1] in ("✅", "❌", "⚠")
    }
    return {
        "probes": args.probes,
        "faults": args.fault,
        "tool_rate_limit": args.tool_rate,
        "run_acks": percentiles(run_client.ms),
        "acks_while_probes_run": percentiles(read_client.ms),
        "errors": run_client.errors + read_client.errors,
        "in_flight_when_reads_started": in_flight_before,
        "in_flight_when_reads_ended": in_flight_after,
        "seconds_to_send_everything": round(measured_s, 1),
        "threads_posted": len(parents),
        "threads_finished": len(finals),
        "slack_calls": len(slack.calls),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--probes", type=int, default=200)
    parser.add_argument("--commands", type=int, default=1000)
    parser.add_argument("--fault", action="append", default=None, help="sandbox fault spec")
    parser.add_argument("--slack-latency", type=float, default=0.02, help="stand-in RTT, s")
    parser.add_argument("--tool-rate", type=float, default=200.0, help="requests/s per tool")
    parser.add_argument("--wait", type=float, default=300.0, help="cap on waiting for runs, s")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    args.fault = args.fault or ["delay@crm=8-12"]
    result = asyncio.run(bench(args))
    if args.json:
        print(json.dumps(result, indent=2))
        return
    reads, run_acks = result["acks_while_probes_run"], result["run_acks"]
    print(f"ack latency, {reads['n']} signed commands while {result['probes']} probes run")
    print(f"  (probes in flight: {result['in_flight_when_reads_started']} at start, "
          f"{result['in_flight_when_reads_ended']} at end; sandbox faults {result['faults']})")
    for name, p in (("read commands", reads), (f"{run_acks['n']} run commands", run_acks)):
        print(
            f"  {name:<18} p50 {p['p50_ms']:6.2f} ms  p90 {p['p90_ms']:6.2f} ms  "
            f"p99 {p['p99_ms']:6.2f} ms  max {p['max_ms']:6.2f} ms"
        )
    verdict = "PASS" if reads["p99_ms"] <= 50 and not result["errors"] else "FAIL"
    print(f"  target p99 <= 50 ms: {verdict}")
    print(
        f"  threads: {result['threads_posted']} posted, {result['threads_finished']} finished; "
        f"{result['slack_calls']} Slack calls; errors: {len(result['errors'])}"
    )


if __name__ == "__main__":
    main()
