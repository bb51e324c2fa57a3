"""The digest chart: pass rate with its 95% band and p50/p95 latency per seam, a point per
time bucket (PNG, or SVG for a path ending in ``.svg``).

The buckets are the digest's (:func:`baton.probes.health.digest.time_buckets`): minutes or
hours for a period of hours (``--period 2h``: 10 minutes, labelled ``HH:MM``), days for a week or a
month, weeks or months for longer ones. Each point sits in the middle of its bucket; the
x ticks are the buckets' edges, at round UTC times.

Drawn with matplotlib's object API on the Agg canvas: no pyplot, no display, so it is safe
in a server process and in threads (an SVG sets ``svg.fonttype`` for the length of its
save, so its text stays text). matplotlib is imported only when a chart is drawn. The
artists carry ids (SVG ``<g id=…>``): per workflow ``i`` and seam ``j``, the panels
``rate-i`` and ``latency-i``, ``rate-line-i-j``, the band pieces ``rate-band-i-j-k``,
``latency-p50-i-j``, ``latency-p95-i-j`` and the legends ``rate-legend-i`` and
``latency-legend-i``.

    digest = build_digest(store, now=time.time())
    render_chart(digest, "health.png")          # or a BytesIO for files_upload_v2
    render_chart(digest, "health.svg")          # SVG, chosen by the name
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import os
from collections.abc import Sequence
from typing import IO, Any

from .digest import BucketPoint, Buckets, Digest, SeamDigest
from .stats import format_seconds

#: Width and height (inches) of one workflow's row of two panels and their legends; 100 dpi.
_ROW_W, _ROW_H, _DPI = 16.0, 3.8, 100
#: At most about this many labelled ticks on a time axis (every bucket edge has a tick).
_MAX_LABELS = 10
#: How each bucket unit labels its ticks.
_TICK_FORMAT = {
    "minute": "%H:%M",
    "hour": "%H:%M",
    "day": "%a %d %b",
    "week": "%d %b",
    "month": "%b %Y",
}
#: The opacity of a band (its outline is a little stronger, to tell overlapping bands apart).
_BAND_ALPHA = 0.15

#: A band piece: the (time, pass rate) corners of one run of buckets with checks.
Polygon = list[tuple[float, float]]


def render_chart(
    digest: Digest, path_or_buffer: str | os.PathLike[str] | IO[bytes], *, fmt: str | None = None
) -> None:
    """Write the digest's chart to a path or a binary file object.

    ``fmt`` is ``"png"`` or ``"svg"``; by default SVG for a path ending in ``.svg``, else
    PNG. One row per workflow: on the left the pass rate of each seam per bucket with its 95%
    interval as a shaded band (checks that could not be made are left out, as in the
    digest; a bucket without checks is a gap in the line and in the band), on the right the
    p50 (solid) and p95 (dashed) latency of each seam, each line named in the legend.
    """
    if fmt is None:
        name = os.fspath(path_or_buffer) if isinstance(path_or_buffer, str | os.PathLike) else ""
        fmt = "svg" if name.lower().endswith(".svg") else "png"
    if fmt not in ("png", "svg"):
        raise ValueError(f"chart format {fmt!r}: png or svg")
    fig = chart_figure(digest)
    if fmt == "svg":
        import matplotlib

        with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "baton"}):
            fig.savefig(path_or_buffer, format="svg", metadata={"Date": None})
    else:
        fig.savefig(path_or_buffer, format="png")


def chart_figure(digest: Digest) -> Any:
    """The chart as a matplotlib ``Figure`` (Agg canvas), not yet saved."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = max(1, len(digest.workflows))
    fig = Figure(figsize=(_ROW_W, _ROW_H * rows + 0.6), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    since = dt.datetime.fromtimestamp(digest.since_ts, dt.UTC).strftime("%Y-%m-%d %H:%M")
    until = dt.datetime.fromtimestamp(digest.until_ts, dt.UTC).strftime("%Y-%m-%d %H:%M")
    fig.suptitle(f"Baton health, {since} to {until} UTC", fontsize=13, fontweight="bold")
    axes = fig.subplots(rows, 2, squeeze=False)
    if not digest.workflows:
        for ax in axes[0]:
            ax.text(0.5, 0.5, "no finished probe runs in this period", ha="center", va="center")
            ax.set_axis_off()
    for i, ((rate_ax, lat_ax), wf) in enumerate(zip(axes, digest.workflows, strict=False)):
        rate_ax.set_gid(f"rate-{i}")
        lat_ax.set_gid(f"latency-{i}")
        per = digest.buckets.words.removeprefix("1 ")
        title = f"{wf.workflow}: {wf.estimate.words}" if wf.estimate.checked else wf.workflow
        rate_ax.set_title(
            f"{title}\npass rate per seam per {per} (ok / checked), shaded: 95% interval",
            fontsize=10,
            loc="left",
        )
        lat_ax.set_title(f"seam latency per {per}: p50 solid, p95 dashed", fontsize=10, loc="left")
        _rate_panel(rate_ax, wf.seams, digest.buckets, i)
        _latency_panel(lat_ax, wf.seams, digest.buckets, i)
        for ax in (rate_ax, lat_ax):
            _time_axis(ax, digest)
            ax.grid(True, alpha=0.3)
    return fig


def band_polygons(points: Sequence[BucketPoint]) -> list[Polygon]:
    """The 95% band of a seam's pass rate: one polygon per run of buckets with checks.

    Each bucket's interval spans the bucket's width (a step), so neighbouring buckets join
    into one polygon and a bucket without checks leaves a gap, never a zero. Corners are
    ``(timestamp, rate)``: along the upper bounds left to right, back along the lower ones.

    >>> from baton.probes.health.digest import BucketPoint
    >>> band_polygons([BucketPoint(0, 10, 1, 0, 0, None, None),
    ...                BucketPoint(10, 20, 0, 0, 0, None, None)])  # doctest: +ELLIPSIS
    [[(0.0, 1.0), (10.0, 1.0), (10.0, 0.206...), (0.0, 0.206...)]]
    """
    polygons: list[Polygon] = []
    for _, run in itertools.groupby(points, key=lambda p: p.interval is not None):
        corners = [
            (float(x), iv) for p in run if (iv := p.interval) for x in (p.start_ts, p.end_ts)
        ]
        if corners:  # a run of buckets with checks (else a gap)
            upper = [(x, high) for x, (_, high) in corners]
            lower = [(x, low) for x, (low, _) in reversed(corners)]
            polygons.append(upper + lower)
    return polygons


def _rate_panel(ax: Any, seams: list[SeamDigest], buckets: Buckets, i: int) -> None:
    from matplotlib.patches import Patch
    from matplotlib.patches import Polygon as PolygonPatch
    from matplotlib.ticker import FuncFormatter

    mids = _middles(buckets)
    lows: list[float] = []
    for j, (seam, color) in enumerate(zip(seams, _colors(len(seams)), strict=True)):
        rates = [_nan(p.pass_rate) for p in seam.points]
        ax.plot(mids, rates, marker="o", ms=4, lw=1.6, color=color, label=_label(seam))
        ax.lines[-1].set_gid(f"rate-line-{i}-{j}")
        for k, corners in enumerate(band_polygons(seam.points)):
            patch = PolygonPatch(
                [(_num(x), y) for x, y in corners],
                closed=True,
                facecolor=(*color[:3], _BAND_ALPHA),
                edgecolor=(*color[:3], 0.5),
                linewidth=0.6,
                zorder=1,
            )
            patch.set_gid(f"rate-band-{i}-{j}-{k}")
            ax.add_patch(patch)
            lows.extend(y for _, y in corners)
        lows.extend(r for r in rates if not math.isnan(r))
    floor = _floor_rate(min(lows, default=1.0))
    ax.set_ylim(floor, 1.0 + (1.0 - floor) * 0.03)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{100 * v:.4g}%"))
    handles, _ = ax.get_legend_handles_labels()
    band = Patch(facecolor="grey", alpha=0.35, edgecolor="none", label="shaded: 95% interval")
    legend = ax.legend(
        handles=[*handles, band],
        fontsize=8,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        borderaxespad=0.0,
        framealpha=0.85,
    )
    legend.set_gid(f"rate-legend-{i}")


def _latency_panel(ax: Any, seams: list[SeamDigest], buckets: Buckets, i: int) -> None:
    mids = _middles(buckets)
    values: list[float | None] = []
    for j, (seam, color) in enumerate(zip(seams, _colors(len(seams)), strict=True)):
        p50 = [_nan(p.p50_s) for p in seam.points]
        p95 = [_nan(p.p95_s) for p in seam.points]
        if all(math.isnan(v) for v in p50 + p95):
            continue
        ax.plot(mids, p50, marker="o", ms=3, lw=1.6, color=color, label=f"{seam.seam} p50")
        ax.lines[-1].set_gid(f"latency-p50-{i}-{j}")
        ax.plot(mids, p95, marker="v", ms=3, ls="--", lw=1.2, color=color, label=f"{seam.seam} p95")
        ax.lines[-1].set_gid(f"latency-p95-{i}-{j}")
        values += [v for p in seam.points for v in (p.p50_s, p.p95_s)]
    if not ax.lines:
        ax.text(0.5, 0.5, "no latencies", ha="center", va="center", transform=ax.transAxes)
        return
    _latency_axis(ax, values)
    legend = ax.legend(
        fontsize=8,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        borderaxespad=0.0,
        framealpha=0.85,
        ncols=1 if len(ax.lines) <= 12 else 2,
    )
    legend.set_gid(f"latency-legend-{i}")


def _floor_rate(low: float) -> float:
    """The pass-rate axis starts a little below the lowest point or band, on a whole percent."""
    return max(0.0, math.floor((low - max(0.01, (1.0 - low) * 0.3)) * 100) / 100)


def _latency_axis(ax: Any, values: list[float | None]) -> None:
    """Linear from 0 for a narrow range, log (major ticks only) over a wide one."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    seen = [v for v in values if v is not None and v > 0]
    if seen and max(seen) / min(seen) > 30:
        ax.set_yscale("log")
        ax.yaxis.set_minor_formatter(NullFormatter())
    else:
        ax.set_ylim(0, max(seen, default=1.0) * 1.15)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: format_seconds(v) if v else "0"))


def _label(seam: SeamDigest) -> str:
    est = seam.estimate
    if not est.checked:
        return f"{seam.seam} (not checked)"
    return f"{seam.seam}: {100 * (est.pass_rate or 0):.1f}% of {est.checked:,}"


def _time_axis(ax: Any, digest: Digest) -> None:
    """A tick at every bucket edge, a label (round UTC time) on every few."""
    from matplotlib.ticker import FixedFormatter, FixedLocator, NullFormatter

    buckets = digest.buckets
    edges = [_num(e) for e in buckets.edges]
    step = max(1, math.ceil(len(edges) / _MAX_LABELS))
    labelled = list(range(0, len(edges), step))
    fmt = _TICK_FORMAT[buckets.unit]
    ax.set_xlim(edges[0], edges[-1])
    ax.xaxis.set_major_locator(FixedLocator([edges[k] for k in labelled]))
    ax.xaxis.set_major_formatter(FixedFormatter([_utc(buckets.edges[k], fmt) for k in labelled]))
    ax.xaxis.set_minor_locator(FixedLocator(edges))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.tick_params(axis="x", labelsize=8)
    ax.set_xlabel(_axis_words(digest), fontsize=8)


def _axis_words(digest: Digest) -> str:
    """``UTC, Thu 28 May · a point per 10 minutes``."""
    buckets = digest.buckets
    per = buckets.words.removeprefix("1 ")
    if buckets.sub_day:
        first = _utc(buckets.edges[0], "%a %d %b")
        last = _utc(max(buckets.edges[0], buckets.edges[-1] - 1), "%a %d %b")
        days = first if first == last else f"{first} to {last}"
        return f"UTC, {days} · a point per {per}"
    if buckets.unit == "week":
        return "UTC · a point per week (Monday to Sunday)"
    return f"UTC · a point per {per}"


def _middles(buckets: Buckets) -> list[dt.datetime]:
    edges = buckets.edges
    return [dt.datetime.fromtimestamp((a + b) / 2, dt.UTC) for a, b in itertools.pairwise(edges)]


def _num(ts: float) -> float:
    """A timestamp on matplotlib's date axis."""
    from matplotlib.dates import date2num

    return float(date2num(dt.datetime.fromtimestamp(ts, dt.UTC)))  # type: ignore[no-untyped-call]


def _utc(ts: float, fmt: str) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime(fmt)


def _colors(n: int) -> list[Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    return [cmap(i % 10) for i in range(n)]


def _nan(value: float | None) -> float:
    return math.nan if value is None else value


__all__ = ["band_polygons", "chart_figure", "render_chart"]
