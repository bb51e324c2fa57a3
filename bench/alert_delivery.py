"""Benchmark: 50 alerts delivered exactly once while Slack answers 429 and 5xx and the bot
is killed twice mid-send.

Two kinds of process, as in production where Slack is elsewhere:

- *this one*: the Slack Web API stand-in (``tests/slack_standin.py``, in a thread of its
  own) and the store (a SQLite file, WAL) the bot reads. It writes the results of 50
  scheduled probes of 50 workflows, each a leak (``failures_before_alert: 1``, so each is a
  new alert: a message in one of 5 channels and its diagnosis in the thread), in 5 waves 2 s
  apart, as finished scheduled runs the bot has not seen yet;
- *the bot*: ``baton serve``'s alerting pieces (``Bot``, its ``Alerter``, ``BotScheduler``
  ticking every 0.5 s) over that store, talking to the stand-in. It is started three
  times: the first two are killed with SIGKILL while Slack holds the answer to a
  ``chat.postMessage`` it already posted (``stall``: the process dies between Slack taking
  the message and Baton writing it down, the case that duplicates without a look); the
  third runs until every alert is delivered and is then stopped with SIGTERM (graceful).

Slack misbehaves on a seeded schedule of its ``chat.postMessage`` answers: 15% 429 with
``Retry-After: 1``, 8% 500 with nothing posted, 6% 503 *after* posting (the answer is lost,
the message is there), and 10% of the history reads answer 500.

At the end the stand-in's channels are counted: every alert's message (by the flip id in
its metadata, and independently by the run id in its text) and its diagnosis reply must be
there exactly once. ``--no-lookup`` makes the bot skip the look in the channel before a
resend (the pre-fix behaviour for this case), to show the count catches duplicates.

    python bench/alert_delivery.py
    python bench/alert_delivery.py --no-lookup     # expect duplicates
    python bench/alert_delivery.py --seed 2 --json
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the Slack stand-in and the fake engine

TOKEN = "xoxb-bench-token"
CHANNELS = [f"C0ALERTS{i}" for i in range(1, 6)]
WORKFLOWS = 50
WAVES = 5


def config_for(n: int) -> Any:
    """``n`` workflows like the sample lead-to-invoice, each alerting on its first leak."""
    from bot_support import sample_config

    from baton.probes.health.alerts import AlertPolicy

    base = sample_config()
    lead = base.workflows["lead-to-invoice"]
    policy = AlertPolicy(failures_before_alert=1)
    workflows = {
        f"wf-{i:02d}": dataclasses.replace(lead, name=f"wf-{i:02d}", alerts=policy)
        for i in range(1, n + 1)
    }
    return dataclasses.replace(base, workflows=workflows)


# -- the bot process ---------------------------------------------------------------------------


async def bot_main(args: argparse.Namespace) -> None:
    import logging

    import sqlite_utils
    from bot_support import FakeEngine
    from slack_sdk.web.async_client import AsyncWebClient

    from baton.bot.alerter import Alerter
    from baton.bot.app import Bot
    from baton.bot.scheduler import BotScheduler
    from baton.probes.store import Store

    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    logging.getLogger("bot.alerts").setLevel(logging.INFO)
    if args.no_lookup:

        async def never(self: Alerter, *a: Any, **k: Any) -> None:
            return None

        Alerter.find_posted = never  # type: ignore[method-assign]
    config = config_for(WORKFLOWS)
    db = sqlite_utils.Database(args.bot)
    engine = FakeEngine(config, store=Store(db))
    client = AsyncWebClient(token=TOKEN, base_url=args.api_url, retry_handlers=[])
    bot = Bot(config=config, engine=engine, client=client, db=db)
    bot.alerts.lease_s = args.lease
    bot.alerts.backoff_s = (1.0, args.backoff_cap)
    scheduling = BotScheduler(bot=bot, engine=engine, tick_every_s=0.5)
    scheduling.register()
    scheduling.start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print("ready", flush=True)
    await stop.wait()
    scheduling.shutdown()
    await bot.aclose()


# -- this process --------------------------------------------------------------------------------


def plan_failures(slack: Any, rng: random.Random, calls: int) -> Counter[str]:
    """Program the stand-in's answers for the first ``calls`` posts and history reads."""
    planned: Counter[str] = Counter()
    gap = 0
    for _ in range(calls):
        roll = rng.random()
        if roll < 0.15:
            slack.fail("chat.postMessage", "ratelimited", status=429, retry_after=1, skip=gap)
        elif roll < 0.23:
            slack.fail("chat.postMessage", "internal_error", status=500, skip=gap)
        elif roll < 0.29:
            slack.fail("chat.postMessage", "service_unavailable", status=503, skip=gap,
                       posted=True)  # fmt: skip
        else:
            gap += 1
            continue
        planned[["429", "500", "503 after posting"][(roll >= 0.15) + (roll >= 0.23)]] += 1
        gap = 0
    gap = 0
    for _ in range(calls // 2):
        if rng.random() < 0.10:
            slack.fail("conversations.history", "internal_error", status=500, skip=gap)
            slack.fail("conversations.replies", "internal_error", status=500, skip=gap)
            gap = 0
        else:
            gap += 1
    return planned


class Seeder:
    """Writes finished scheduled runs (leaks) the bot has not observed yet, as the tick of
    another process would."""

    def __init__(self, path: Path) -> None:
        import sqlite_utils
        from bot_support import FakeEngine

        from baton.probes.store import Store
        from baton.probes.store.bot import BotStore

        db = sqlite_utils.Database(path)
        self.engine = FakeEngine(config_for(WORKFLOWS), store=Store(db), outcome="drop")
        self.bot_store = BotStore(db)

    async def wave(self, wave: int) -> None:
        per = WORKFLOWS // WAVES
        for i in range(wave * per, (wave + 1) * per):
            wf, channel = f"wf-{i + 1:02d}", CHANNELS[i % len(CHANNELS)]
            origin = {"schedule": {"slot_ts": time.time()}, "channel": channel}
            run_id = await self.engine.start(wf, origin=origin)
            await self.engine.finish(run_id)
            self.bot_store.remember_scheduled(
                run_id=run_id, workflow=wf, channel=channel, slot_ts=None
            )


def start_bot(args: argparse.Namespace, path: Path, api_url: str, log: Path) -> Any:
    cmd = [sys.executable, __file__, "--bot", str(path), "--api-url", api_url]
    cmd += ["--lease", str(args.lease), "--backoff-cap", str(args.backoff_cap)]
    if args.no_lookup:
        cmd.append("--no-lookup")
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=log.open("a"), env=env, text=True, cwd=ROOT
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def delivered(path: Path) -> dict[str, int]:
    import sqlite_utils

    db = sqlite_utils.Database(path)
    try:
        if "alert_flips" not in db.table_names():
            return {}
        rows = db.execute("SELECT outcome, COUNT(*) FROM alert_flips GROUP BY outcome")
        return {str(k): int(v) for k, v in rows.fetchall()}
    finally:
        db.conn.close()


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    from slack_standin import SlackStandIn

    slack = SlackStandIn(token=TOKEN, clock=time.time)
    planned = plan_failures(slack, random.Random(args.seed), 400)
    # The kills: Slack posts these two messages and holds their answers back.
    slack.stall("chat.postMessage", 4.0, skip=args.first_kill_after)
    slack.stall("chat.postMessage", 4.0, skip=args.second_kill_after)
    slack.start_in_thread()
    tmp = tempfile.TemporaryDirectory()
    path, log = Path(tmp.name) / "baton.db", Path(tmp.name) / "bot.log"
    seeder = Seeder(path)  # creates the store (WAL)
    started = time.monotonic()
    kills: list[dict[str, Any]] = []
    seeded = 0
    proc = start_bot(args, path, slack.api_url, log)
    try:
        deadline = started + args.timeout
        while time.monotonic() < deadline:
            if seeded < WAVES and time.monotonic() - started >= 2.0 * seeded:
                await seeder.wave(seeded)
                seeded += 1
            if len(kills) < 2 and slack.stalling and slack.stalled > len(kills):
                proc.send_signal(signal.SIGKILL)  # mid-send: posted, not yet written down
                proc.wait()
                kills.append({"after_s": round(time.monotonic() - started, 1), **delivered(path)})
                proc = start_bot(args, path, slack.api_url, log)
            if seeded == WAVES and len(kills) == 2 and delivered(path).get("sent") == WORKFLOWS:
                break
            await asyncio.sleep(0.05)
        wall = time.monotonic() - started
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    await asyncio.sleep(0.2)
    result = count(slack, path)
    slack.stop_thread()
    bot_log = log.read_text(encoding="utf-8")
    result.update(
        {
            "alerts": WORKFLOWS,
            "wall_s": round(wall, 1),
            "kills": kills,
            "planned_failures": dict(planned),
            "found_in_slack_not_resent": bot_log.count("is in Slack already"),
            "bot_warnings": bot_log.count(" WARNING "),
            "bot_errors": bot_log.count(" ERROR "),
            "lookup": not args.no_lookup,
        }
    )
    if args.keep_log:
        Path(args.keep_log).write_text(bot_log, encoding="utf-8")
    tmp.cleanup()
    return result


def count(slack: Any, path: Path) -> dict[str, Any]:
    """What the channels show, and what the store says."""
    import sqlite_utils

    db = sqlite_utils.Database(path)
    flips = {
        row[0]: {"run_id": row[1], "channel": row[2], "outcome": row[3], "attempts": row[4],
                 "latency_s": (row[6] - row[5]) if row[6] else None}
        for row in db.execute(
            "SELECT id, run_id, channel, outcome, attempts, created_ts, delivered_ts "
            "FROM alert_flips"
        ).fetchall()
    }  # fmt: skip
    db.conn.close()
    main_by_flip: Counter[int] = Counter()
    reply_by_flip: Counter[int] = Counter()
    main_by_run: Counter[str] = Counter()
    for (channel, _ts), m in list(slack.messages.items()):
        payload = (m.get("metadata") or {}).get("event_payload") or {}
        if payload.get("part") == "main":
            main_by_flip[payload["flip"]] += 1
        elif payload.get("part") == "reply":
            reply_by_flip[payload["flip"]] += 1
        if channel in CHANNELS and "thread_ts" not in m:
            found = re.search(r"run (r-\d+)$", m.get("text", ""))
            if found:
                main_by_run[found.group(1)] += 1
    runs = {f["run_id"] for f in flips.values()}
    answers: Counter[str] = Counter()
    for c in slack.of("chat.postMessage"):
        error = c.answer.get("error")
        answers["ok" if c.answer.get("ok") else str(error or "no answer (killed)")] += 1
    latencies = sorted(f["latency_s"] for f in flips.values() if f["latency_s"] is not None)
    return {
        "flips": len(flips),
        "outcomes": dict(Counter(str(f["outcome"]) for f in flips.values())),
        "exactly_once": sum(1 for i in flips if main_by_flip[i] == 1 and reply_by_flip[i] == 1),
        "missing": sum(1 for i in flips if main_by_flip[i] == 0),
        "duplicate_alerts": sum(max(n - 1, 0) for n in main_by_flip.values()),
        "duplicate_replies": sum(max(n - 1, 0) for n in reply_by_flip.values()),
        "by_text_exactly_once": sum(1 for r in runs if main_by_run[r] == 1),
        "by_text_duplicates": sum(max(n - 1, 0) for n in main_by_run.values()),
        "attempts": dict(sorted(Counter(f["attempts"] for f in flips.values()).items())),
        "post_answers": dict(answers),
        "history_reads": len(slack.of("conversations.history"))
        + len(slack.of("conversations.replies")),
        "latency_s": {
            "p50": round(statistics.median(latencies), 1) if latencies else None,
            "p95": round(latencies[int(0.95 * (len(latencies) - 1))], 1) if latencies else None,
            "max": round(latencies[-1], 1) if latencies else None,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--lease", type=float, default=5.0, help="the alert lease, s")
    parser.add_argument("--backoff-cap", type=float, default=8.0, help="retry backoff cap, s")
    parser.add_argument("--first-kill-after", type=int, default=24, help="successful posts")
    parser.add_argument("--second-kill-after", type=int, default=30, help="more posts")
    parser.add_argument("--timeout", type=float, default=110.0)
    parser.add_argument("--no-lookup", action="store_true", help="resend without looking")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--keep-log", help="write the bot's log here")
    parser.add_argument("--bot", help=argparse.SUPPRESS)  # run as the bot, over this store
    parser.add_argument("--api-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bot:
        asyncio.run(bot_main(args))
        return
    result = asyncio.run(bench(args))
    if args.json:
        print(json.dumps(result, indent=2))
        return
    ok = (
        result["exactly_once"] == result["alerts"] == result["flips"]
        and result["by_text_exactly_once"] == result["alerts"]
    )
    print(
        f"alert delivery: {result['alerts']} alerts in {len(CHANNELS)} channels; the bot killed "
        f"{len(result['kills'])}x mid-send (at {[k['after_s'] for k in result['kills']]} s); "
        f"look before a resend: {result['lookup']}"
    )
    print(
        f"  delivered exactly once: {result['exactly_once']}/{result['alerts']} "
        f"(by run id in the text: {result['by_text_exactly_once']}); missing "
        f"{result['missing']}; duplicate alerts {result['duplicate_alerts']}, duplicate "
        f"replies {result['duplicate_replies']}"
    )
    print(
        f"  chat.postMessage answers {result['post_answers']}; history reads "
        f"{result['history_reads']}; found in Slack, not resent: "
        f"{result['found_in_slack_not_resent']}; attempts per alert {result['attempts']}"
    )
    lat = result["latency_s"]
    print(
        f"  wall {result['wall_s']} s; alert latency (written → delivered) p50 {lat['p50']} s, "
        f"p95 {lat['p95']} s, max {lat['max']} s; outcomes {result['outcomes']}"
    )
    print(f"  exactly once, no duplicates: {'PASS' if ok else 'FAIL'}")


if __name__ == "__main__":
    main()
