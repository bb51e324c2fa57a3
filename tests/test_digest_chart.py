"""The digest's time buckets and its chart, read back from the SVG it writes.

Buckets fit the period (10 minutes for ``--period 2h``, days for ``7d``), every run of the
period falls in exactly one bucket, the pass rate's 95% interval is a shaded band with a
gap where a bucket has no checks, and the latency panel's legend names each line in its
colour. The chart is written through the real CLI (``baton digest --chart FILE.svg``).
"""

from __future__ import annotations

import datetime as dt
import io
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils
from click.testing import CliRunner
from test_cli_ops import CONFIG
from test_digest import NOW, seed, seed_run

from baton.probes.cli import cli
from baton.probes.cli import ops as cli_ops
from baton.probes.health.chart import band_polygons, render_chart
from baton.probes.health.digest import BucketPoint, build_digest, time_buckets
from baton.probes.health.stats import wilson_interval
from baton.probes.store import Store

SVG = "{http://www.w3.org/2000/svg}"
XLINK = "{http://www.w3.org/1999/xlink}"
HOUR = 3600
DAY = 86_400
#: 18:00 UTC on NOW's day: where a 2 h digest at NOW (20:26:40) starts.
SINCE_2H = NOW - 2 * HOUR - 1600

OK = {"form": ("ok", 0.3), "crm": ("ok", 2.0), "mail": ("ok", 5.0)}
LOST = {"form": ("ok", 0.3), "crm": ("missing", None), "mail": ("missing", None)}
#: A 2 h period in 10-minute buckets: (minutes after 18:00, outcomes) of each run. CRM:
#: 18:00 bucket 4 of 4, 18:10 bucket 3 of 4, 18:20 none (a gap), 18:30 2 of 2.
RUNS_2H = [
    *((m, OK) for m in (0, 2, 5, 9)),
    *((m, OK) for m in (10, 12, 15)),
    (19, LOST),
    *((m, OK) for m in (31, 38)),
]


def seed_2h(store: Store) -> None:
    for i, (minute, outcomes) in enumerate(RUNS_2H):
        seed_run(store, f"q-{i:06d}", SINCE_2H + 60 * minute, outcomes)


# -- buckets -----------------------------------------------------------------------------------


def utc(ts: float, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime(fmt)


@pytest.mark.parametrize(
    ("period_s", "words", "count", "first", "last"),
    [
        (HOUR, "5 minutes", 18, "2026-05-28 19:00", "2026-05-28 20:30"),
        (2 * HOUR, "10 minutes", 15, "2026-05-28 18:00", "2026-05-28 20:30"),
        (6 * HOUR, "30 minutes", 13, "2026-05-28 14:00", "2026-05-28 20:30"),
        (DAY, "2 hours", 13, "2026-05-27 20:00", "2026-05-28 22:00"),
        (7 * DAY, "1 day", 8, "2026-05-21 00:00", "2026-05-29 00:00"),
        (30 * DAY, "1 day", 31, "2026-04-28 00:00", "2026-05-29 00:00"),
        (90 * DAY, "1 week", 14, "2026-02-23 00:00", "2026-06-01 00:00"),  # Mondays
        (366 * DAY, "1 month", 13, "2025-05-01 00:00", "2026-06-01 00:00"),
    ],
)
def test_buckets_fit_the_period(
    period_s: float, words: str, count: int, first: str, last: str
) -> None:
    digest = build_digest(sqlite_utils.Database(memory=True), NOW, period_s=period_s)
    buckets = digest.buckets
    assert (buckets.words, len(buckets.edges) - 1) == (words, count)
    assert (utc(buckets.edges[0]), utc(buckets.edges[-1])) == (first, last)
    # the buckets cover the whole period, edge to edge
    assert buckets.edges[0] <= digest.since_ts and buckets.edges[-1] > digest.until_ts
    assert buckets.edges == sorted(set(buckets.edges))


def test_runs_at_the_edges_fall_in_exactly_one_bucket() -> None:
    """Runs at the period's first second, on bucket edges and at ``now`` itself are each
    counted once, in the bucket they started in, for buckets from the runs (10 minutes)
    and from the hourly rollup (2 hours, days) alike."""
    store = Store(sqlite_utils.Database(memory=True))
    starts = [SINCE_2H, SINCE_2H + 600, SINCE_2H + 599.999, NOW - 1, NOW]
    for i, started in enumerate(starts):
        seed_run(store, f"e-{i:06d}", started, LOST if i == 1 else OK)
    for period_s in (2 * HOUR, DAY, 7 * DAY):
        digest = build_digest(store, NOW, period_s=period_s)
        (wf,) = digest.workflows
        crm = wf.seams[1]
        assert (wf.runs, crm.passes, crm.failures) == (5, 4, 1)
        assert sum(p.passes for p in crm.points) == 4
        assert sum(p.failures for p in crm.points) == 1
        for started in starts:
            point = crm.points[digest.buckets.index(started)]
            assert point.start_ts <= started < point.end_ts
    ten = build_digest(store, NOW, period_s=2 * HOUR).workflows[0].seams[1].points
    assert [(p.passes, p.failures) for p in ten if p.checked] == [(2, 0), (0, 1), (2, 0)]
    assert [utc(p.start_ts, "%H:%M") for p in ten if p.checked] == ["18:00", "18:10", "20:20"]


def test_bucket_points_add_up_to_the_totals() -> None:
    store = Store(sqlite_utils.Database(memory=True))
    seed(store)
    seed_2h(store)
    for period_s in (HOUR, 2 * HOUR, 6 * HOUR, DAY, 3 * DAY, 7 * DAY, 90 * DAY):
        digest = build_digest(store, NOW, period_s=period_s)
        for wf in digest.workflows:
            for seam in wf.seams:
                points = seam.points
                assert len(points) == len(digest.buckets.edges) - 1
                assert sum(p.passes for p in points) == seam.passes, (period_s, seam.seam)
                assert sum(p.failures for p in points) == seam.failures
                assert sum(p.could_not_check for p in points) == seam.could_not_check


def test_too_many_runs_for_minutes_falls_back_to_hours(monkeypatch: pytest.MonkeyPatch) -> None:
    from baton.probes.health import digest as digest_module

    store = Store(sqlite_utils.Database(memory=True))
    seed_2h(store)
    monkeypatch.setattr(digest_module, "FINE_RUNS_LIMIT", 5)
    digest = build_digest(store, NOW, period_s=2 * HOUR)
    assert digest.buckets.words == "1 hour"
    crm = digest.workflows[0].seams[1]
    assert [(p.passes, p.failures) for p in crm.points] == [(9, 1), (0, 0), (0, 0)]


def test_time_buckets_for_a_short_period_are_round_minutes() -> None:
    buckets = time_buckets(2 * HOUR, since=SINCE_2H, until=NOW)
    assert {e % 600 for e in buckets.edges} == {0}
    assert buckets.index(SINCE_2H + 600) == 1 and buckets.index(SINCE_2H + 599) == 0


# -- bands -------------------------------------------------------------------------------------


def test_band_polygons_leave_gaps_where_nothing_was_checked() -> None:
    points = [
        BucketPoint(0, 10, 4, 0, 0, None, None),
        BucketPoint(10, 20, 3, 1, 0, None, None),
        BucketPoint(20, 30, 0, 0, 2, None, None),  # could not check only: no rate
        BucketPoint(30, 40, 2, 0, 0, None, None),
    ]
    first, second = band_polygons(points)
    (lo0, hi0), (lo1, hi1), (lo3, hi3) = (wilson_interval(*n) for n in [(4, 4), (3, 4), (2, 2)])
    assert first == [
        (0, hi0),
        (10, hi0),
        (10, hi1),
        (20, hi1),
        (20, lo1),
        (10, lo1),
        (10, lo0),
        (0, lo0),
    ]
    assert second == [(30, hi3), (40, hi3), (40, lo3), (30, lo3)]
    assert band_polygons([BucketPoint(0, 10, 0, 0, 0, None, None)]) == []


# -- the SVG, through the CLI ------------------------------------------------------------------


@pytest.fixture
def config_2h(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "baton.yaml"
    path.write_text(CONFIG)
    store = Store(sqlite_utils.Database(tmp_path / "baton.db"))
    seed(store, rollup=False)  # 100 runs a day or two before NOW
    seed_2h(store)
    monkeypatch.setattr(cli_ops, "clock", lambda: NOW)
    return path


def digest_svg(config: Path, period: str) -> tuple[ET.Element, str]:
    chart = config.parent / f"health-{period}.svg"
    result = CliRunner().invoke(
        cli,
        ["digest", "lead", "--period", period, "--chart", str(chart), "-c", str(config)],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert f"chart written to {chart}" in result.output
    return ET.parse(chart).getroot(), result.output


def group(root: ET.Element, gid: str) -> ET.Element:
    found = [g for g in root.iter(f"{SVG}g") if g.get("id") == gid]
    assert len(found) == 1, f"{gid}: {len(found)} groups"
    return found[0]


def groups(root: ET.Element, prefix: str) -> list[ET.Element]:
    return [g for g in root.iter(f"{SVG}g") if (g.get("id") or "").startswith(prefix)]


def ticks(axes: ET.Element, axis: str) -> list[tuple[float, str | None]]:
    """(position, label) of each tick of an axes' x or y axis; label None for a minor one."""
    out = []
    for tick in axes.iter(f"{SVG}g"):
        if not (tick.get("id") or "").startswith(f"{axis}tick_"):
            continue
        (mark,) = tick.iter(f"{SVG}use")
        text = next(tick.iter(f"{SVG}text"), None)
        position = float(mark.get("x" if axis == "x" else "y") or "nan")
        out.append((position, None if text is None else text.text))
    return out


def vertices(path: ET.Element) -> list[tuple[float, float]]:
    numbers = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", path.get("d") or "")]
    return list(zip(numbers[::2], numbers[1::2], strict=True))


def style(element: ET.Element, key: str) -> str:
    return dict(
        item.strip().split(": ", 1) for item in (element.get("style") or "").split(";") if item
    )[key]


def rate_scale(axes: ET.Element) -> Any:
    """SVG y -> pass rate, from the labelled y ticks (``90%`` at y=...)."""
    (y0, t0), *_, (y1, t1) = [(y, float(t.rstrip("%")) / 100) for y, t in ticks(axes, "y") if t]
    return lambda y: t0 + (y - y0) * (t1 - t0) / (y1 - y0)


def test_a_2h_digest_chart_has_10_minute_buckets_bands_and_a_latency_legend(
    config_2h: Path,
) -> None:
    root, output = digest_svg(config_2h, "2h")
    rate = group(root, "rate-0")
    xs = ticks(rate, "x")
    edges = sorted({round(x, 3) for x, _ in xs})
    assert len(edges) - 1 == 15  # 18:00 to 20:30 in 10-minute buckets
    labels = [t for _, t in xs if t is not None]
    assert labels[:3] == ["18:00", "18:20", "18:40"]
    assert all(re.fullmatch(r"\d\d:\d\d", t) for t in labels)
    assert "Thu 28 May" in "".join(t.text or "" for t in rate.iter(f"{SVG}text"))

    # CRM (seam 1): 4/4, 3/4, a bucket without runs, then 2/2: two band pieces, a gap
    pieces = groups(rate, "rate-band-0-1-")
    assert [g.get("id") for g in pieces] == ["rate-band-0-1-0", "rate-band-0-1-1"]
    to_rate = rate_scale(rate)
    first, second = (vertices(next(g.iter(f"{SVG}path"))) for g in pieces)
    (lo0, hi0), (lo1, hi1), (lo3, hi3) = (wilson_interval(*n) for n in [(4, 4), (3, 4), (2, 2)])
    assert [round(to_rate(y), 3) for _, y in first] == [
        round(v, 3) for v in (hi0, hi0, hi1, hi1, lo1, lo1, lo0, lo0)
    ]
    assert [round(to_rate(y), 3) for _, y in second] == [round(v, 3) for v in (hi3, hi3, lo3, lo3)]
    # across the buckets' full width: 18:00-18:20, then 18:30-18:40 (18:20 has no runs)
    assert (round(first[0][0], 3), round(first[3][0], 3)) == (edges[0], edges[2])
    assert (round(second[0][0], 3), round(second[1][0], 3)) == (edges[3], edges[4])
    # the band is in the seam's colour, and the legend says what the shading is
    line = next(group(rate, "rate-line-0-1").iter(f"{SVG}path"))
    assert style(next(pieces[0].iter(f"{SVG}path")), "fill") == style(line, "stroke")
    rate_legend = [t.text for t in group(rate, "rate-legend-0").iter(f"{SVG}text")]
    assert rate_legend[-1] == "shaded: 95% interval"

    # the latency legend names each line, in the line's colour and dash
    legend = group(root, "latency-legend-0")
    entries = legend_entries(legend)
    names = ["Form", "Form → CRM", "CRM → Mail"]
    assert [label for label, _ in entries] == [f"{n} {q}" for n in names for q in ("p50", "p95")]
    for j in range(3):
        for q in ("p50", "p95"):
            drawn = next(group(root, f"latency-{q}-0-{j}").iter(f"{SVG}path"))
            handle = dict(entries)[f"{names[j]} {q}"]
            assert style(handle, "stroke") == style(drawn, "stroke")
            assert ("stroke-dasharray" in (handle.get("style") or "")) == (q == "p95")

    # and the text says what "not reached" and the other terms mean
    assert "1 not reached (an earlier stage lost the record or could not be checked, " in output
    assert "\nKey:\n  leak: " in output


def legend_entries(legend: ET.Element) -> list[tuple[str, ET.Element]]:
    """(label, handle line path) of each legend entry, in order."""
    entries: list[tuple[str, ET.Element]] = []
    handle: ET.Element | None = None
    for child in legend:
        gid = child.get("id") or ""
        if gid.startswith("line2d_"):
            handle = next(child.iter(f"{SVG}path"))
        elif gid.startswith("text_") and handle is not None:
            entries.append((next(child.iter(f"{SVG}text")).text or "", handle))
            handle = None
    return entries


def test_a_7d_digest_chart_has_a_bucket_a_day(config_2h: Path) -> None:
    root, _ = digest_svg(config_2h, "7d")
    for panel in ("rate-0", "latency-0"):
        xs = ticks(group(root, panel), "x")
        assert len({round(x, 3) for x, _ in xs}) - 1 == 8  # Thu 21 to Thu 28 May
        labels = [t for _, t in xs if t is not None]
        assert labels == [
            "Thu 21 May", "Fri 22 May", "Sat 23 May", "Sun 24 May", "Mon 25 May",
            "Tue 26 May", "Wed 27 May", "Thu 28 May", "Fri 29 May",
        ]  # fmt: skip
    # runs on three days (26, 27 and 28 May), each a bucket next to the other: one band
    assert [g.get("id") for g in groups(group(root, "rate-0"), "rate-band-0-1-")] == [
        "rate-band-0-1-0"
    ]


def test_chart_formats() -> None:
    store = Store(sqlite_utils.Database(memory=True))
    seed_2h(store)
    digest = build_digest(store, NOW, period_s=2 * HOUR)
    png, svg = io.BytesIO(), io.BytesIO()
    render_chart(digest, png)
    render_chart(digest, svg, fmt="svg")
    assert png.getvalue().startswith(b"\x89PNG")
    assert ET.fromstring(svg.getvalue()).tag == f"{SVG}svg"
    with pytest.raises(ValueError, match="png or svg"):
        render_chart(digest, io.BytesIO(), fmt="gif")
