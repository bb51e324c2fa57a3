"""Health digests: how often each workflow and each seam passed over a period, in words.

``build_digest(store, now)`` is a plain function over the store's rollup
(:mod:`baton.probes.store.rollup`); scheduling only calls it, Slack only formats its result. Per
workflow and per seam it gives runs, passes, the pass rate with its 95% Wilson interval, the
leak rate in words, p50/p95 seam latency, the most frequent finding kinds, a point per UTC
day, a point per chart bucket (``time_buckets``: 10 minutes for a 2 h period, days for a
week), and the runs that failed with their Slack thread when one is known. Buckets of an
hour or more come from the rollup; finer ones from the runs' own rows, counted the same way.

"Could not check" is not a leak: runs with verdict ``error`` (and seams whose status is
``unreachable``) are counted apart, in ``could_not_check``, and left out of the pass rate's
denominator, as are seams never exercised (``skipped``, or missing because the record was
already missing upstream, or below a stage that could not be checked: ``not_checked``, as
``diagnosis.localise`` reports them). The failed runs are listed with their localised
first break (``"Form → Welcome email, CRM"`` when the handoff out of Form was lost).

Periods are whole UTC hours: the first hour holding ``now - period_s`` is counted in full.

    >>> digest = build_digest(store, now=time.time(), period_s=7 * 86400)  # doctest: +SKIP
    >>> print(render_digest_text(digest))  # doctest: +SKIP
    lead-to-invoice: 1,204 runs: 1,180 ok, 20 leaks, 4 could not check
      pass rate 98.3% (97.4–98.9%); leaks about 1 in 60, between 1 in 95 and 1 in 38
    …
    Key:
      leak: a run in which a seam did not hand the record on intact and in time; the kinds …

Every term the text uses is explained, in a key at its end (:func:`digest_key`, shared with
the Slack digest) or, for "N not reached", where it is counted.

Size: the digest's data model, its build from the rollup and its text rendering, which share
the per-seam accumulator and the key of terms (the Slack builders use the same key).
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
import json
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

import sqlite_utils

from ..model import STATUS_OK, FindingKind, Verdict
from ..store import Store, rollup
from ..store.rollup import COULD_NOT_CHECK, NOT_CHECKED, RUN_STAGE
from .stats import Estimate, PassCounts, estimate, format_seconds, percentile

HOUR_S = 3_600
DAY_S = 86_400
WEEK_S = 7 * DAY_S
#: Bucket widths for periods under 7 days, finest first: a period takes the finest that
#: gives it at most ``_MAX_BUCKETS`` buckets (2 h: 10 minutes; 24 h: 2 hours).
_SUB_WEEK_WIDTHS = (300, 600, 900, 1_800, 3_600, 7_200, 10_800, 21_600, 43_200)
_MAX_BUCKETS = 16
#: Periods up to 31 days get a bucket a day, up to 24 weeks a bucket a week, longer ones a
#: bucket a calendar month.
_DAYS_UP_TO = 31 * DAY_S
_WEEKS_UP_TO = 24 * WEEK_S
#: Weeks start on Monday 00:00 UTC (1970-01-05 was the epoch's first Monday).
_MONDAY = 4 * DAY_S
#: Buckets finer than an hour are counted from the runs' own rows (the rollup is hourly), for
#: up to this many runs; a period holding more falls back to hourly buckets.
FINE_RUNS_LIMIT = 5_000
#: How many failed (and could-not-check) runs a digest lists per workflow.
FAILED_RUNS_LIMIT = 20
_ORIGIN_KEYS = {
    "permalink": ("slack_permalink", "permalink"),
    "channel": ("slack_channel", "channel"),
    "thread_ts": ("slack_thread_ts", "thread_ts", "slack_ts"),
}


@dataclass(frozen=True)
class Buckets:
    """The chart's time buckets over a digest's period, aligned to round UTC times.

    Bucket ``i`` holds the runs started in ``[edges[i], edges[i + 1])``; the first starts at
    or before the period, the last ends after it, so every run of the period falls in
    exactly one. ``unit`` is ``minute``, ``hour``, ``day``, ``week`` (from Monday) or
    ``month`` (calendar months); a bucket is ``size`` of them.

    >>> b = time_buckets(2 * 3600, since=1_780_000_000 - 2 * 3600 - 1600, until=1_780_000_000)
    >>> b.words, len(b.edges) - 1
    ('10 minutes', 15)
    """

    unit: str
    size: int
    edges: list[int]

    @property
    def words(self) -> str:
        """``10 minutes``, ``1 hour``, ``1 day``."""
        return f"{self.size} {self.unit}{'' if self.size == 1 else 's'}"

    @property
    def sub_day(self) -> bool:
        return self.unit in ("minute", "hour")

    def index(self, ts: float) -> int:
        """The bucket holding ``ts`` (the first or last for a time outside them)."""
        i = bisect.bisect_right(self.edges, ts) - 1
        return min(max(i, 0), len(self.edges) - 2)

    def start_of(self, ts: float) -> int:
        """The start of the bucket holding ``ts``."""
        return self.edges[self.index(ts)]


def time_buckets(period_s: float, since: float, until: float) -> Buckets:
    """Buckets for a period from ``since`` to ``until``: roughly 6 to 24 of them.

    Under 7 days: minutes or hours (``_SUB_WEEK_WIDTHS``: 10 minutes for 2 h, 2 hours for
    24 h), aligned to multiples of the width since midnight UTC; up to 31 days: days (so a
    30-day period has 31); up to 24 weeks: weeks from Monday; beyond: calendar months.
    """
    if period_s < WEEK_S:
        fits = (w for w in _SUB_WEEK_WIDTHS if period_s / w <= _MAX_BUCKETS)
        width = next(fits, _SUB_WEEK_WIDTHS[-1])
        unit, size = ("minute", width // 60) if width < HOUR_S else ("hour", width // HOUR_S)
        return Buckets(unit, size, _edges(since, until, width, 0))
    if period_s <= _DAYS_UP_TO:
        return Buckets("day", 1, _edges(since, until, DAY_S, 0))
    if period_s <= _WEEKS_UP_TO:
        return Buckets("week", 1, _edges(since, until, WEEK_S, _MONDAY))
    first = dt.datetime.fromtimestamp(since, dt.UTC).replace(
        day=1, hour=0, minute=0, second=0, microsecond=0
    )
    edges = [int(first.timestamp())]
    while edges[-1] <= until:
        month = dt.datetime.fromtimestamp(edges[-1], dt.UTC)
        after = month.replace(year=month.year + month.month // 12, month=month.month % 12 + 1)
        edges.append(int(after.timestamp()))
    return Buckets("month", 1, edges)


def _edges(since: float, until: float, width: int, offset: int) -> list[int]:
    first = int((since - offset) // width) * width + offset
    last = int((until - offset) // width) * width + offset + width
    return list(range(first, last + 1, width))


@dataclass(frozen=True)
class BucketPoint(PassCounts):
    """One seam in one time bucket (a point of the chart): runs started in
    ``[start_ts, end_ts)``."""

    start_ts: int
    end_ts: int
    passes: int
    failures: int
    could_not_check: int
    p50_s: float | None
    p95_s: float | None


@dataclass(frozen=True)
class DayPoint(PassCounts):
    """One seam on one UTC day (a point of the chart)."""

    day_ts: int
    passes: int
    failures: int
    could_not_check: int
    p50_s: float | None
    p95_s: float | None


@dataclass(frozen=True)
class SeamDigest:
    """One stage of a workflow: the handoff ``seam`` into it (``"Form → CRM"``)."""

    stage: str
    seam: str
    position: int
    runs: int  # decided stage results: passes + failures + could_not_check + not_checked
    could_not_check: int
    not_checked: int
    estimate: Estimate
    p50_s: float | None
    p95_s: float | None
    top_kinds: list[tuple[str, int]]
    daily: list[DayPoint]
    points: list[BucketPoint]  # one per bucket of ``Digest.buckets``

    @property
    def passes(self) -> int:
        return self.estimate.passes

    @property
    def failures(self) -> int:
        return self.estimate.failures


@dataclass(frozen=True)
class RunRef:
    """A run that leaked or could not be checked, and where it was reported in Slack."""

    run_id: str
    started_ts: float
    verdict: str
    variant: str | None = None
    seam: str | None = None
    kind: str | None = None
    message: str | None = None
    permalink: str | None = None
    channel: str | None = None
    thread_ts: str | None = None


@dataclass(frozen=True)
class WorkflowDigest:
    workflow: str
    runs: int  # finished runs: passes + leaks + could_not_check
    could_not_check: int
    estimate: Estimate  # over runs that were checked (verdict ok or leak)
    top_kinds: list[tuple[str, int]]
    seams: list[SeamDigest]
    failed_runs: list[RunRef] = field(default_factory=list)  # verdict leak, newest first
    unchecked_runs: list[RunRef] = field(default_factory=list)  # verdict error, newest first

    @property
    def passes(self) -> int:
        return self.estimate.passes

    @property
    def leaks(self) -> int:
        return self.estimate.failures


@dataclass(frozen=True)
class Digest:
    since_ts: float
    until_ts: float
    period_s: float
    days: list[int]  # the UTC days of the period, day start timestamps (``SeamDigest.daily``)
    workflows: list[WorkflowDigest]
    buckets: Buckets  # the chart's time buckets (``SeamDigest.points``)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (``baton digest --json``)."""

        def est(e: Estimate) -> dict[str, Any]:
            return {
                "passes": e.passes,
                "failures": e.failures,
                "pass_rate": e.pass_rate,
                "interval": list(e.interval) if e.interval else None,
                "words": e.words,
            }

        out = asdict(self)
        for wf_json, wf in zip(out["workflows"], self.workflows, strict=True):
            wf_json["estimate"] = est(wf.estimate)
            for seam_json, seam in zip(wf_json["seams"], wf.seams, strict=True):
                seam_json["estimate"] = est(seam.estimate)
                for point_json, point in zip(seam_json["points"], seam.points, strict=True):
                    point_json["pass_rate"] = point.pass_rate
                    point_json["interval"] = list(point.interval) if point.interval else None
        out["buckets"]["words"] = self.buckets.words
        return out


def build_digest(
    store: Store | sqlite_utils.Database,
    now: float,
    *,
    period_s: float = 7 * DAY_S,
    workflow: str | None = None,
    failed_limit: int = FAILED_RUNS_LIMIT,
) -> Digest:
    """The health of every workflow (or just ``workflow``) over ``period_s`` before ``now``.

    Reads only the rollup (run :func:`baton.probes.store.rollup.sync_rollup` first when runs
    may have finished without being rolled up) and, for the runs that failed, their ``runs``
    rows.
    """
    db = store.db if isinstance(store, Store) else store
    rollup.ensure_rollup(db)
    since = rollup.hour_of(now - period_s)
    until = rollup.hour_of(now) + HOUR_S  # the rollup's last hour is counted in full
    buckets = time_buckets(period_s, since, now)
    fine = None
    if buckets.unit == "minute":
        fine = rollup.recount(
            db,
            since=since,
            until=until,
            slot=buckets.start_of,
            workflow=workflow,
            limit=FINE_RUNS_LIMIT,
        )
        if fine is None:  # too many runs to count one by one: hourly buckets
            buckets = Buckets("hour", 1, _edges(since, now, HOUR_S, 0))
    # The rollup's days for buckets of a day or more; else its hours, summed per bucket (the
    # buckets of an hour or more start on multiples of their width), or per hour when the
    # minutes come from the runs themselves.
    slot_s = HOUR_S * (1 if fine is not None else buckets.size) if buckets.sub_day else None
    labels = rollup.stage_labels(db)
    tree: dict[str, dict[str, _Acc]] = defaultdict(dict)
    bucket_of: dict[int, int | None] = {}
    counts = rollup.counts(db, since=since, until=now, slot_s=slot_s, workflow=workflow)
    for ts, wf, stage, metric, key, n in counts:
        acc = tree[wf].get(stage)
        if acc is None:
            acc = tree[wf][stage] = _Acc(*labels.get((wf, stage), (stage, -1)))
        if ts not in bucket_of:
            bucket_of[ts] = None if fine is not None else buckets.index(ts)
        acc.add(ts, metric, key, int(n), bucket_of[ts])
    for (start, wf, stage, metric, key), n in (fine or {}).items():
        acc = tree.get(wf, {}).get(stage)
        if acc is not None:
            acc.add_to_bucket(buckets.index(start), metric, key, n)
    days = list(range(int(since // DAY_S) * DAY_S, int(now // DAY_S) * DAY_S + 1, DAY_S))
    workflows = [
        _workflow_digest(db, name, tree[name], days, buckets, since, now, failed_limit)
        for name in sorted(tree)
    ]
    return Digest(
        since_ts=since,
        until_ts=now,
        period_s=period_s,
        days=days,
        workflows=workflows,
        buckets=buckets,
    )


class _Acc:
    """Counts of one (workflow, stage) over the period: in total, per day, per bucket."""

    def __init__(self, seam: str, position: int) -> None:
        self.seam, self.position = seam, position
        self.status: Counter[str] = Counter()
        self.kinds: Counter[str] = Counter()
        self.latency: Counter[int] = Counter()
        self.day_status: dict[int, Counter[str]] = defaultdict(Counter)
        self.day_latency: dict[int, Counter[int]] = defaultdict(Counter)
        self.bucket_status: dict[int, Counter[str]] = defaultdict(Counter)
        self.bucket_latency: dict[int, Counter[int]] = defaultdict(Counter)

    def add(self, ts: int, metric: str, key: str, n: int, bucket: int | None) -> None:
        """``n`` counts of the hours or day starting at ``ts``, in ``bucket`` if given."""
        day = ts - ts % DAY_S
        if metric in (rollup.STATUS, rollup.VERDICT):
            self.status[key] += n
            self.day_status[day][key] += n
        elif metric == rollup.KIND:
            self.kinds[key] += n
        elif metric == rollup.LATENCY:
            self.latency[int(key)] += n
            self.day_latency[day][int(key)] += n
        if bucket is not None:
            self.add_to_bucket(bucket, metric, key, n)

    def add_to_bucket(self, bucket: int, metric: str, key: str, n: int) -> None:
        if metric in (rollup.STATUS, rollup.VERDICT):
            self.bucket_status[bucket][key] += n
        elif metric == rollup.LATENCY:
            self.bucket_latency[bucket][int(key)] += n


def _split(status: Counter[str]) -> tuple[int, int, int, int]:
    """(passes, failures, could_not_check, not_checked) from outcome counts."""
    passes = status[STATUS_OK]
    cnc = status[COULD_NOT_CHECK] + status[str(Verdict.ERROR)]
    not_checked = sum(status[k] for k in NOT_CHECKED)
    failures = sum(status.values()) - passes - cnc - not_checked
    return passes, failures, cnc, not_checked


def _leak_kinds(kinds: Counter[str]) -> list[tuple[str, int]]:
    """Finding kinds, most frequent first; "could not check" is counted apart."""
    return [(k, n) for k, n in kinds.most_common() if k != COULD_NOT_CHECK]


def _seam_digest(stage: str, acc: _Acc, days: list[int], buckets: Buckets) -> SeamDigest:
    passes, failures, cnc, not_checked = _split(acc.status)
    top = _leak_kinds(acc.kinds)
    verb = "drops" if top and top[0][0] == str(FindingKind.MISSING) else "leaks"
    daily = []
    for day in days:
        d_pass, d_fail, d_cnc, _ = _split(acc.day_status.get(day, Counter()))
        hist = acc.day_latency.get(day, Counter())
        daily.append(
            DayPoint(day, d_pass, d_fail, d_cnc, percentile(hist, 0.5), percentile(hist, 0.95))
        )
    points = []
    for i, (start, end) in enumerate(itertools.pairwise(buckets.edges)):
        b_pass, b_fail, b_cnc, _ = _split(acc.bucket_status.get(i, Counter()))
        hist = acc.bucket_latency.get(i, Counter())
        p50, p95 = percentile(hist, 0.5), percentile(hist, 0.95)
        points.append(BucketPoint(start, end, b_pass, b_fail, b_cnc, p50, p95))
    return SeamDigest(
        stage=stage,
        seam=acc.seam,
        position=acc.position,
        runs=passes + failures + cnc + not_checked,
        could_not_check=cnc,
        not_checked=not_checked,
        estimate=estimate(passes, failures, verb=verb),
        p50_s=percentile(acc.latency, 0.5),
        p95_s=percentile(acc.latency, 0.95),
        top_kinds=top[:3],
        daily=daily,
        points=points,
    )


def _workflow_digest(
    db: sqlite_utils.Database,
    name: str,
    stages: dict[str, _Acc],
    days: list[int],
    buckets: Buckets,
    since: float,
    until: float,
    limit: int,
) -> WorkflowDigest:
    run_acc = stages.pop(RUN_STAGE, None) or _Acc(RUN_STAGE, -1)
    passes, failures, cnc, _ = _split(run_acc.status)
    seams = sorted(
        (_seam_digest(stage, acc, days, buckets) for stage, acc in stages.items()),
        key=lambda s: (s.position, s.stage),
    )
    kinds: Counter[str] = Counter()
    for acc in stages.values():
        kinds.update(acc.kinds)
    return WorkflowDigest(
        workflow=name,
        runs=passes + failures + cnc,
        could_not_check=cnc,
        estimate=estimate(passes, failures),
        top_kinds=_leak_kinds(kinds)[:3],
        seams=seams,
        failed_runs=_runs(db, name, Verdict.LEAK, since, until, limit) if failures else [],
        unchecked_runs=_runs(db, name, Verdict.ERROR, since, until, limit) if cnc else [],
    )


def _runs(
    db: sqlite_utils.Database, workflow: str, verdict: Verdict, since: float, until: float, n: int
) -> list[RunRef]:
    refs = []
    rows = rollup.runs_with(db, workflow, str(verdict), since, rollup.hour_of(until) + 3600, n)
    for run_id, started, variant, origin_text, result_text in rows:
        origin = json.loads(origin_text or "{}")
        first_break = (json.loads(result_text or "{}") or {}).get("first_break") or {}
        found = {
            name: next((str(origin[k]) for k in keys if origin.get(k)), None)
            for name, keys in _ORIGIN_KEYS.items()
        }
        refs.append(
            RunRef(
                run_id=run_id,
                started_ts=started,
                verdict=str(verdict),
                variant=variant,
                seam=first_break.get("seam"),
                kind=first_break.get("kind"),
                message=first_break.get("message"),
                **found,
            )
        )
    return refs


#: What "N not reached" on a seam means, said where the count is.
NOT_REACHED_WORDS = (
    "not reached: an earlier stage lost the record or could not be checked, "
    "so this seam was not tested"
)

#: Every term of a digest and what it means; :func:`digest_key` picks those a digest uses.
TERMS: dict[str, str] = {
    "leak": (
        "a run in which a seam did not hand the record on intact and in time; the kinds "
        "(missing, reformatted …) say how"
    ),
    "checked": "runs that tested the seam: the record passed it, or leaked there",
    "pass rate x% (a–b%)": (
        "share of checked runs whose record arrived intact and in time; (a–b%) is its 95% "
        "interval: the true rate is in it, 95% sure, given this many runs"
    ),
    "1 in N": (
        "how often a record leaks (drops: goes missing); its range, like any bound "
        '"at 95%", is 95% sure'
    ),
    "p50 / p95": "half / 95 in 100 of the records crossed the seam within this time",
    "could not check": (
        "Baton could not read a tool (an error, no answer): neither a pass nor a leak, "
        "left out of the rates"
    ),
}


def digest_key(digest: Digest) -> list[tuple[str, str]]:
    """The (term, meaning) pairs for the terms ``digest`` uses, in :data:`TERMS` order."""
    if not digest.workflows:
        return []
    used = set(TERMS) - {"could not check"}
    if any(
        wf.could_not_check or any(s.could_not_check for s in wf.seams) for wf in digest.workflows
    ):
        used.add("could not check")
    return [(term, words) for term, words in TERMS.items() if term in used]


def render_digest_text(digest: Digest) -> str:
    """The digest as plain text (``baton digest --print``), with a key to its terms."""
    since = _when(digest.since_ts)
    lines = [f"Baton digest: {since} to {_when(digest.until_ts)} UTC"]
    if not digest.workflows:
        lines.append("no finished probe runs in this period")
    for wf in digest.workflows:
        lines += ["", _workflow_line(wf)]
        if wf.estimate.checked:
            lines.append(f"  pass rate {_rate(wf.estimate)}; {wf.estimate.words}")
        for seam in wf.seams:
            lines += _seam_lines(seam)
        for title, refs, total in (
            ("leaked", wf.failed_runs, wf.leaks),
            ("could not check", wf.unchecked_runs, wf.could_not_check),
        ):
            if refs:
                lines.append(f"  {title} ({total}, newest first):")
                lines += [f"    {_run_line(r)}" for r in refs[:10]]
                if total > 10:
                    lines.append(f"    … and {total - 10} more")
    key = digest_key(digest)
    if key:
        lines += ["", "Key:"] + [f"  {term}: {words}" for term, words in key]
    return "\n".join(lines)


def _workflow_line(wf: WorkflowDigest) -> str:
    parts = [f"{wf.passes:,} ok", f"{wf.leaks:,} leak" + ("" if wf.leaks == 1 else "s")]
    if wf.could_not_check:
        parts.append(f"{wf.could_not_check:,} could not check")
    return f"{wf.workflow}: {wf.runs:,} run{'' if wf.runs == 1 else 's'}: " + ", ".join(parts)


def _seam_lines(seam: SeamDigest) -> list[str]:
    est = seam.estimate
    head = f"  {seam.seam}: {est.checked:,} checked"
    if est.checked:
        head += f", {_rate(est)} pass"
    head += f", p50 {format_seconds(seam.p50_s)}, p95 {format_seconds(seam.p95_s)}"
    extra = [est.words]
    kinds = [f"{k.replace('_', ' ')} {n}" for k, n in seam.top_kinds]
    if kinds:
        extra.append(", ".join(kinds))
    if seam.could_not_check:
        extra.append(f"{seam.could_not_check} could not check")
    if seam.not_checked:
        extra.append(f"{seam.not_checked} {_not_reached()}")
    return [head, "    " + "; ".join(extra)]


def _not_reached() -> str:
    """``not reached (an earlier stage lost the record …)``."""
    head, _, why = NOT_REACHED_WORDS.partition(": ")
    return f"{head} ({why})"


def _rate(est: Estimate) -> str:
    low, high = est.interval or (0.0, 1.0)
    return f"{100 * (est.pass_rate or 0):.1f}% ({100 * low:.1f}–{100 * high:.1f}%)"


def _run_line(ref: RunRef) -> str:
    where = f" {ref.seam}: {ref.kind}" if ref.seam else ""
    link = f" {ref.permalink}" if ref.permalink else ""
    if not link and ref.channel and ref.thread_ts:
        link = f" (Slack {ref.channel} thread {ref.thread_ts})"
    return f"{ref.run_id} {_when(ref.started_ts)}{where}{link}"


def _when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M")


__all__ = [
    "FINE_RUNS_LIMIT",
    "NOT_REACHED_WORDS",
    "TERMS",
    "BucketPoint",
    "Buckets",
    "DayPoint",
    "Digest",
    "RunRef",
    "SeamDigest",
    "WorkflowDigest",
    "build_digest",
    "digest_key",
    "render_digest_text",
    "time_buckets",
]
