"""Many probe runs at once on one machine: wall time, peak memory, verdicts.

    python bench/concurrent_runs.py -n 200
    python bench/concurrent_runs.py -n 500

One sandbox serves every run (no faults), in its own process (`baton sandbox`) as the real
tools would be; the example config's rate limits are lifted (the sandbox has none) and
deadlines widened, so what is measured is the engine: hundreds of concurrent runs, each
watching three stages.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import resource
import statistics
import subprocess
import sys
import time

import httpx
import sqlite_utils

from baton.probes.demo import example_config_text, sandbox_config
from baton.probes.engine import Engine
from baton.probes.store import Store


async def main(n: int, path: str | None) -> None:
    text = re.sub(r"rate_limit: .*", "rate_limit: 10000/s", example_config_text())
    text = text.replace("deadline: 20s", "deadline: 120s")
    cmd = [
        sys.executable,
        "-c",
        "from baton.probes.cli import main; main()",
        "sandbox",
        "--port",
        "0",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().split()[-1]  # "Baton sandbox listening on URL"
        config = sandbox_config(url, text)
        db = sqlite_utils.Database(path) if path else sqlite_utils.Database(memory=True)
        limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
        async with httpx.AsyncClient(limits=limits, timeout=30) as client:
            engine = Engine(config, store=Store(db), client=client, max_concurrent_checks=32)
            started = time.perf_counter()
            results = await asyncio.gather(
                *(engine.run("lead-to-invoice", "card") for _ in range(n))
            )
            wall = time.perf_counter() - started
    finally:
        proc.terminate()
        proc.wait()
    verdicts: dict[str, int] = {}
    for r in results:
        verdicts[str(r.verdict)] = verdicts.get(str(r.verdict), 0) + 1
    latencies = sorted(
        s.latency_s for r in results for s in r.stages if s.after and s.latency_s is not None
    )
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"runs: {n} concurrent, store: {'file ' + path if path else 'memory'}")
    print(f"wall: {wall:.1f}s  verdicts: {verdicts}")
    print(
        f"stage latency p50 {statistics.median(latencies):.2f}s "
        f"p95 {latencies[int(len(latencies) * 0.95)]:.2f}s"
    )
    print(f"peak RSS of the engine process: {rss_mb:.0f} MB")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=200)
    parser.add_argument("--db", help="SQLite file for the store (default: in memory)")
    args = parser.parse_args()
    asyncio.run(main(args.n, args.db))
