"""Benchmark: how fast ``/baton`` is acknowledged while hundreds of probes are in flight.

Target: p99 ack time <= 50 ms over 1,000 signed slash commands on 127.0.0.1 while 200
probes run against the sandbox (Slack's own limit is 3 s).

Three processes, as in production where Slack and the tools are elsewhere:

- *world*: the sandbox (HubSpot, SendGrid, Stripe stand-ins and the glue) and the local
  Slack Web API stand-in, each on 127.0.0.1, port 0;
- *bot*: this process. ``baton serve``'s pieces: the HTTP endpoint (signature check,
  bolt, the listener), the engine probing the sandbox with the example config (its
  timings, polling and retry policies), the SQLite store on disk (WAL);
- *client*: sends the signed slash commands one after another and times each, from send
  to response.

1. 200 signed ``run lead-to-invoice card`` commands start 200 probes (their acks are timed
   too). The sandbox delays the CRM step by 8-12 s (``delay@crm=8-12``), so the probes
   stay in flight while step 2 runs.
2. 1,000 signed read commands (``status``, ``list``, ``history ...``, ``help``).
3. Waits for every probe to be reported in its Slack thread, and counts them.

The tools' rate limits are raised to 200/s each (``--tool-rate``; 0 keeps the example's
10-20/s, which model the real vendors and make 200 probes queue for minutes): the engine
then polls as hard as it can, which is the worst case for the acks.

    python bench/ack_latency.py
    python bench/ack_latency.py --tool-rate 0            # the example config's rate limits
    python bench/ack_latency.py --probes 50 --commands 200 --json
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import multiprocessing as mp
import statistics
import sys
import tempfile
import time
from collections import Counter
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the Slack stand-in lives with the tests

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


# -- the world process: sandbox + Slack stand-in ------------------------------------------------


def world_main(conn: Connection, faults: list[str]) -> None:
    from slack_standin import SlackStandIn

    from baton.probes.sandbox import Sandbox

    sandbox = Sandbox(faults=faults, seed=1).start()
    slack = SlackStandIn(token=TOKEN, latency_s=0.02).start_in_thread()
    conn.send({"sandbox": sandbox.url, "slack": slack.api_url})
    conn.recv()  # "summary": the bot is done
    parents = [c for c in slack.of("chat.postMessage") if "thread_ts" not in c.params]
    finals = {
        c.params["ts"] for c in slack.of("chat.update") if c.params["text"][:1] in ("✅", "❌", "⚠")
    }
    conn.send(
        {"threads_posted": len(parents), "threads_finished": len(finals), "calls": len(slack.calls)}
    )
    slack.stop_thread()
    sandbox.stop()


# -- the client process --------------------------------------------------------------------------


def client_main(conn: Connection, url: str, texts: list[tuple[str, str, str]]) -> None:
    import httpx
    from slack_standin import signed_headers, slash_body

    ms: list[float] = []
    errors: list[str] = []
    with httpx.Client(timeout=10) as http:
        for text, user, trigger in texts:
            body = slash_body(text, user_id=user, trigger_id=trigger)
            headers = signed_headers(SECRET, body)
            started = time.perf_counter()
            response = http.post(url, content=body, headers=headers)
            ms.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                errors.append(f"{response.status_code} {response.text[:80]}")
    conn.send({"ms": ms, "errors": errors})


async def in_process(target: Any, *args: Any) -> Any:
    """Run ``target(conn, *args)`` in a fresh process; the first thing it sends back."""
    ctx = mp.get_context("spawn")
    ours, theirs = ctx.Pipe()
    proc = ctx.Process(target=target, args=(theirs, *args), daemon=True)
    proc.start()
    result = await asyncio.to_thread(ours.recv)
    await asyncio.to_thread(proc.join, 60)
    return result


# -- the bot process -------------------------------------------------------------------------------


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    import aiohttp
    import httpx
    from slack_sdk.web.async_client import AsyncWebClient

    from baton.bot.app import Bot, BotSettings
    from baton.bot.server import start_http
    from baton.probes.demo import sandbox_config
    from baton.probes.engine import Engine
    from baton.probes.store import open_store

    ctx = mp.get_context("spawn")
    world, world_end = ctx.Pipe()
    world_proc = ctx.Process(target=world_main, args=(world_end, args.fault), daemon=True)
    world_proc.start()
    urls = await asyncio.to_thread(world.recv)
    tmp = tempfile.TemporaryDirectory()
    try:
        config = sandbox_config(urls["sandbox"])
        if args.tool_rate:
            tools = {
                name: dataclasses.replace(tool, rate_limit=args.tool_rate)
                for name, tool in config.tools.items()
            }
            config = dataclasses.replace(config, tools=tools)
        path = Path(tmp.name) / "baton.db"
        store = open_store(path)
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
        async with httpx.AsyncClient(limits=limits) as tool_client:
            engine = Engine(config, store=store, client=tool_client)
            session = aiohttp.ClientSession()  # keep-alive to "Slack", as `baton serve` does
            bot = Bot(
                config=config,
                engine=engine,
                client=AsyncWebClient(token=TOKEN, base_url=urls["slack"], session=session),
                db=store.db,
                signing_secret=SECRET,
                settings=BotSettings(),
            )
            await bot.prepare()
            runner, port = await start_http(bot, signing_secret=SECRET, port=0)
            url = f"http://127.0.0.1:{port}/slack/events"
            try:
                result = await _phases(args, bot, url)
            finally:
                await bot.aclose(timeout_s=5)
                await runner.cleanup()
                await session.close()
            verdicts = Counter(str(r.verdict) for r in store.recent_runs(limit=args.probes))
        world.send("summary")
        slack = await asyncio.to_thread(world.recv)
        return {**result, "verdicts": dict(verdicts), **slack}
    finally:
        await asyncio.to_thread(world_proc.join, 30)
        tmp.cleanup()


async def _phases(args: argparse.Namespace, bot: Any, url: str) -> dict[str, Any]:
    runs = [("run lead-to-invoice card", f"U{i:05d}", f"run-{i}") for i in range(args.probes)]
    reads = [(READS[i % len(READS)], "U0READER", f"read-{i}") for i in range(args.commands)]
    started = time.perf_counter()
    run_acks = await in_process(client_main, url, runs)
    await asyncio.sleep(0.5)  # let the injections land
    in_flight_before = bot.busy
    read_acks = await in_process(client_main, url, reads)
    in_flight_after = bot.busy
    sent_s = time.perf_counter() - started
    await asyncio.wait_for(bot.drain(), timeout=args.wait)
    return {
        "probes": args.probes,
        "faults": args.fault,
        "tool_rate_limit": args.tool_rate,
        "run_acks": percentiles(run_acks["ms"]),
        "acks_while_probes_run": percentiles(read_acks["ms"]),
        "errors": run_acks["errors"] + read_acks["errors"],
        "in_flight_when_reads_started": in_flight_before,
        "in_flight_when_reads_ended": in_flight_after,
        "seconds_to_send_everything": round(sent_s, 1),
        "all_reported_after_s": round(time.perf_counter() - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--probes", type=int, default=200)
    parser.add_argument("--commands", type=int, default=1000)
    parser.add_argument("--fault", action="append", default=None, help="sandbox fault spec")
    parser.add_argument("--tool-rate", type=float, default=200.0, help="requests/s per tool")
    parser.add_argument("--wait", type=float, default=600.0, help="cap on waiting for runs, s")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    args.fault = args.fault or ["delay@crm=8-12"]
    result = asyncio.run(bench(args))
    if args.json:
        print(json.dumps(result, indent=2))
        return
    reads, run_acks = result["acks_while_probes_run"], result["run_acks"]
    print(f"ack latency, {reads['n']} signed commands while {result['probes']} probes run")
    print(
        f"  (tools at {result['tool_rate_limit'] or 'the example config'} req/s; "
        f"probes in flight: {result['in_flight_when_reads_started']} at start, "
        f"{result['in_flight_when_reads_ended']} at end; faults {result['faults']})"
    )
    for name, p in (("read commands", reads), (f"{run_acks['n']} run commands", run_acks)):
        print(
            f"  {name:<18} p50 {p['p50_ms']:6.2f} ms  p90 {p['p90_ms']:6.2f} ms  "
            f"p99 {p['p99_ms']:6.2f} ms  max {p['max_ms']:6.2f} ms"
        )
    verdict = "PASS" if reads["p99_ms"] <= 50 and not result["errors"] else "FAIL"
    print(f"  target p99 <= 50 ms: {verdict}")
    print(
        f"  threads: {result['threads_posted']} posted, {result['threads_finished']} finished "
        f"(all reported {result['all_reported_after_s']} s after the first command); "
        f"{result['calls']} Slack calls; errors: {len(result['errors'])}; "
        f"verdicts {result['verdicts']}"
    )


if __name__ == "__main__":
    main()
