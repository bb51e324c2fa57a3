"""Operations commands of ``baton``: digest, schedule, burst.

Registered in :mod:`baton.probes.cli`, with the exit codes of every command: 0 ok, 1 leak,
2 usage or config error, 3 could not check.

    baton digest lead-to-invoice --period 7d --chart health.png
    baton schedule pause lead-to-invoice --config baton.yaml
    baton burst lead-to-invoice -n 200 --concurrency 50 --json
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys
import time
import uuid
from collections import Counter
from typing import Any

import click

from ..config import MAX_PERIOD_S, Config
from ..config import messages as msg
from ..config.values import parse_period
from ..engine import Engine
from ..errors import UsageError
from ..health.digest import build_digest, render_digest_text
from ..health.schedule import ScheduleSpec, last_slot, pause_state, set_paused, specs_from_config
from ..health.stats import Estimate, estimate, leak_words
from ..model import KIND_WORDS, STATUS_OK, FindingKind, RunResult, Verdict
from ..store.rollup import COULD_NOT_CHECK, NOT_CHECKED, stage_outcome, sync_rollup
from .common import (
    EXIT_ERROR,
    EXIT_LEAK,
    EXIT_OK,
    clean_errors,
    load,
    seams_of,
    store_for,
    with_engine,
)

#: The clock the commands read (tests replace it).
clock = time.time

_CONFIG = click.option("--config", "-c", "config_path", metavar="PATH", help="Config file.")


def period_option(text: str) -> float:
    """``--period``: seconds from ``7d``, ``24h``, ``2w``, ``90m`` (``parse_period``).

    >>> period_option("7d")
    604800.0
    """
    seconds = parse_period(text)
    if seconds is None:
        raise UsageError(f"--period {msg.shown(text)}: use a number and a unit, e.g. 7d, 24h or 2w")
    if seconds > MAX_PERIOD_S:
        raise UsageError(
            f"--period {msg.shown(text)}: at most {msg.span(MAX_PERIOD_S)} "
            "(a digest looks back a year at most)"
        )
    return seconds


def _known_workflow(config: Config, name: str) -> None:
    if name not in config.workflows:
        hint = msg.did_you_mean(name, config.workflows)
        known = ", ".join(sorted(config.workflows)) or "none"
        raise UsageError(f"unknown workflow {msg.shown(name)}{hint}; known: {known}")


# -- digest ------------------------------------------------------------------------------


@click.command()
@click.argument("workflow", required=False)
@click.option("--period", default="7d", show_default=True, help="How far back: 24h, 7d, 2w.")
@click.option("--print", "as_text", is_flag=True, help="Print the digest as text (default).")
@click.option(
    "--chart", metavar="FILE", help="Also write the chart to FILE (SVG for .svg, else PNG)."
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@_CONFIG
def digest(
    workflow: str | None,
    period: str,
    as_text: bool,
    chart: str | None,
    as_json: bool,
    config_path: str | None,
) -> None:
    """Health of every workflow (or WORKFLOW) over a period: pass rate per seam with its
    95% interval, the leak rate in words, p50/p95 latency, findings and failed runs.

    "Could not check" is counted apart and never as a leak.

    \b
    Example:
        baton digest lead-to-invoice --period 7d --print --chart health.png
    """
    with clean_errors():
        config = load(config_path)
        period_s = period_option(period)
        if workflow is not None:
            _known_workflow(config, workflow)
        store = store_for(config)
        sync_rollup(store.db)
        result = build_digest(store, clock(), period_s=period_s, workflow=workflow)
        if chart:
            from ..health.chart import render_chart
            from .common import check_writable

            check_writable(chart, "--chart")

            render_chart(result, chart)
        if as_json:
            click.echo(json.dumps(result.to_json(), ensure_ascii=False, indent=2))
        if as_text or not as_json:
            click.echo(render_digest_text(result))
        if chart and not as_json:
            click.echo(f"chart written to {chart}")


# -- schedule ----------------------------------------------------------------------------


def _when(ts: float | None) -> str:
    if ts is None:
        return "–"
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _schedule_rows(config: Config) -> list[dict[str, Any]]:
    store = store_for(config)
    now = clock()
    rows = []
    for spec in specs_from_config(config):
        paused, _ = pause_state(store.db, spec)
        rows.append(
            {
                "workflow": spec.workflow,
                "schedule": spec.describe(),
                "channel": spec.channel,
                "variants": [v or "default" for v in spec.variants],
                "paused": paused,
                "next_run": None if paused else spec.next_slot(now),
                "last_run": last_slot(store.db, spec.workflow),
            }
        )
    return rows


def _list(config_path: str | None, as_json: bool) -> None:
    with clean_errors():
        rows = _schedule_rows(load(config_path))
        if as_json:
            click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
            return
        if not rows:
            click.echo("no schedules: add `schedule:` to a workflow in the config")
            return
        for r in rows:
            state = "paused" if r["paused"] else f"next {_when(r['next_run'])}"
            extra = [f"to {r['channel']}"] if r["channel"] else []
            if r["variants"]:
                extra.append("variants " + ", ".join(r["variants"]))
            extra.append(f"last {_when(r['last_run'])}")
            click.echo(f"{r['workflow']}: {r['schedule']}, {state}; " + "; ".join(extra))


def _spec(config: Config, workflow: str) -> ScheduleSpec:
    _known_workflow(config, workflow)
    for spec in specs_from_config(config):
        if spec.workflow == workflow:
            return spec
    raise UsageError(f"workflow {workflow!r} has no schedule in {config.path or 'the config'}")


@click.group(invoke_without_command=True)
@_CONFIG
@click.option("--json", "as_json", is_flag=True, help="List as JSON.")
@click.pass_context
def schedule(ctx: click.Context, config_path: str | None, as_json: bool) -> None:
    """List scheduled probes with their next run; pause or resume one.

    Pausing is kept in the store: it survives restarts and wins over the config.

    \b
    Example:
        baton schedule --config baton.yaml
        baton schedule pause lead-to-invoice --config baton.yaml
    """
    ctx.ensure_object(dict)
    ctx.obj["config_path"] = config_path
    if ctx.invoked_subcommand is None:
        _list(config_path, as_json)


@schedule.command("list")
@_CONFIG
@click.option("--json", "as_json", is_flag=True, help="List as JSON.")
@click.pass_context
def schedule_list(ctx: click.Context, config_path: str | None, as_json: bool) -> None:
    """List scheduled probes, their state and next run.

    \b
    Example:
        baton schedule list --json
    """
    _list(config_path or ctx.obj.get("config_path"), as_json)


def _set_paused(ctx: click.Context, workflow: str, config_path: str | None, paused: bool) -> None:
    with clean_errors():
        config = load(config_path or ctx.obj.get("config_path"))
        spec = _spec(config, workflow)
        set_paused(store_for(config).db, workflow, paused, now=clock(), by="cli")
        if paused:
            click.echo(f"{workflow}: schedule paused ({spec.describe()})")
        else:
            click.echo(f"{workflow}: schedule resumed, next run {_when(spec.next_slot(clock()))}")


@schedule.command()
@click.argument("workflow")
@_CONFIG
@click.pass_context
def pause(ctx: click.Context, workflow: str, config_path: str | None) -> None:
    """Stop running WORKFLOW's schedule until it is resumed.

    \b
    Example:
        baton schedule pause lead-to-invoice
    """
    _set_paused(ctx, workflow, config_path, True)


@schedule.command()
@click.argument("workflow")
@_CONFIG
@click.pass_context
def resume(ctx: click.Context, workflow: str, config_path: str | None) -> None:
    """Run WORKFLOW's schedule again from its next slot (missed slots are not replayed).

    \b
    Example:
        baton schedule resume lead-to-invoice
    """
    _set_paused(ctx, workflow, config_path, False)


# -- burst -------------------------------------------------------------------------------


def summarize_burst(results: list[RunResult], seams: dict[str, str]) -> dict[str, Any]:
    """Counts, the leak rate with its interval, and the same per seam, as a JSON dict."""
    verdicts = Counter(str(r.verdict) for r in results)
    overall = estimate(verdicts[Verdict.OK], verdicts[Verdict.LEAK])
    per_seam: dict[str, Counter[str]] = {}
    #: seam -> finding kind -> runs with it; and the fields each kind named, most often
    kinds: dict[str, Counter[str]] = {}
    kind_fields: dict[tuple[str, str], Counter[tuple[str, ...]]] = {}
    for r in results:
        found = {s.name: s.found for s in r.stages}
        for s in r.stages:
            outcome = stage_outcome(s.status, found.get(s.after) if s.after else None)
            per_seam.setdefault(s.name, Counter())[outcome] += 1
            if s.consequence_of is not None:
                continue  # a consequence of an earlier break is no finding of this seam's
            for kind in dict.fromkeys(str(f.kind) for f in s.findings):
                if kind == str(FindingKind.UNREACHABLE):
                    continue
                kinds.setdefault(s.name, Counter())[kind] += 1
                fields = next((f.fields for f in s.findings if str(f.kind) == kind), ())
                kind_fields.setdefault((s.name, kind), Counter())[tuple(fields)] += 1
    seam_json = []
    for name, counts in per_seam.items():
        cnc = counts[COULD_NOT_CHECK]
        skipped = sum(counts[k] for k in NOT_CHECKED)
        fails = sum(counts.values()) - counts[STATUS_OK] - cnc - skipped
        verb = "drops" if counts["missing"] and counts["missing"] * 2 >= fails else "leaks"
        est = estimate(counts[STATUS_OK], fails, verb=verb)
        checked = counts[STATUS_OK] + fails
        by_kind = []
        for kind, n in kinds.get(name, Counter()).most_common():
            fields = kind_fields[(name, kind)].most_common(1)[0][0]
            words = leak_words(n, checked, verb=kind_verb(kind, fields))
            by_kind.append({"kind": kind, "fields": list(fields), "runs": n, "words": words})
        seam_json.append(
            {
                "stage": name,
                "seam": seams.get(name, name),
                **_est(est),
                "could_not_check": cnc,
                "by_kind": by_kind,
            }
        )
    return {
        "runs": len(results),
        "ok": verdicts[Verdict.OK],
        "leaks": verdicts[Verdict.LEAK],
        "could_not_check": verdicts[Verdict.ERROR],
        **_est(overall),
        "seams": seam_json,
        "leaked_runs": [r.run_id for r in results if r.verdict == Verdict.LEAK],
        "unchecked_runs": [r.run_id for r in results if r.verdict == Verdict.ERROR],
    }


def kind_verb(kind: str, fields: tuple[str, ...] = ()) -> str:
    """How a seam does a finding kind to records, for rate sentences.

    >>> kind_verb("swapped", ("firstname", "email"))
    'swaps firstname and email in'
    >>> kind_verb("missing")
    'drops'
    """
    words = KIND_WORDS.get(kind)
    return words.verb_for(fields) if words else f"{kind.replace('_', ' ')} in"


def _est(est: Estimate) -> dict[str, Any]:
    return {
        "checked": est.checked,
        "pass_rate": est.pass_rate,
        "interval": list(est.interval) if est.interval else None,
        "leak_rate": est.leak_rate,
        "leak_interval": list(est.leak_interval) if est.leak_interval else None,
        "words": est.words,
    }


@click.command()
@click.argument("workflow")
@click.option("-n", "count", default=200, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--variant", "-v", help="A variant of the workflow, e.g. paypal.")
@click.option("--concurrency", default=50, show_default=True, type=click.IntRange(1, 1_000))
@_CONFIG
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def burst(
    workflow: str,
    count: int,
    variant: str | None,
    concurrency: int,
    config_path: str | None,
    as_json: bool,
) -> None:
    """Probe WORKFLOW many times at once to estimate its leak rate quickly.

    Each tool's rate limit is respected (runs wait for their connector's limiter). Reports
    the leak rate with its 95% Wilson interval, overall and per seam; runs that could not
    be checked are left out of the rate. Exit code: 1 if any run leaked, else 3 if any
    could not be checked, else 0.

    \b
    Example:
        baton burst lead-to-invoice -n 200 --concurrency 50
    """
    with clean_errors():
        config = load(config_path)
        _known_workflow(config, workflow)
        burst_id = uuid.uuid4().hex[:8]

        async def body(engine: Engine) -> list[RunResult]:
            engine.prepare(workflow, variant)  # fail fast on names
            limit = asyncio.Semaphore(concurrency)

            async def one(i: int) -> RunResult:
                async with limit:
                    origin = {"burst": burst_id, "burst_index": i}
                    return await engine.run(workflow, variant, origin=origin)

            return list(await asyncio.gather(*(one(i) for i in range(count))))

        started = time.monotonic()
        results = asyncio.run(with_engine(config, body))
        summary = {
            "workflow": workflow,
            "variant": variant,
            "burst": burst_id,
            "seconds": round(time.monotonic() - started, 1),
            **summarize_burst(results, seams_of(config).get(workflow, {})),
        }
        if as_json:
            click.echo(json.dumps(summary, ensure_ascii=False, indent=2))
        else:
            click.echo(_burst_text(summary))
        if summary["leaks"]:
            sys.exit(EXIT_LEAK)
        sys.exit(EXIT_ERROR if summary["could_not_check"] else EXIT_OK)


def _burst_text(s: dict[str, Any]) -> str:
    head = f"{s['workflow']}" + (f" ({s['variant']})" if s["variant"] else "")
    lines = [
        f"burst {head}: {s['runs']} runs in {s['seconds']}s: {s['ok']} ok, {s['leaks']} leaked, "
        f"{s['could_not_check']} could not check",
        f"  {s['words']}",
    ]
    for seam in s["seams"]:
        extra = f"; {seam['could_not_check']} could not check" if seam["could_not_check"] else ""
        kinds = seam.get("by_kind") or []
        if len(kinds) == 1 and kinds[0]["kind"] != "missing":
            # One kind of finding: say what it is, not "leaks".
            lines.append(f"  {seam['seam']}: {kinds[0]['words']}{extra}")
            continue
        lines.append(f"  {seam['seam']}: {seam['words']}{extra}")
        if len(kinds) > 1:
            lines.extend(f"    {k['words']}" for k in kinds)
    if s["leaked_runs"]:
        lines.append("  leaked runs: " + ", ".join(s["leaked_runs"][:20]))
    return "\n".join(lines)


__all__ = ["burst", "digest", "period_option", "schedule", "summarize_burst"]
