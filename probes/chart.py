"""The digest chart: pass rate and p50/p95 latency per seam, one point per UTC day (PNG).

Drawn with matplotlib's object API on the Agg canvas: no pyplot, no global state, no
display, so it is safe in a server process and in threads. matplotlib is imported only when
a chart is drawn.

    digest = build_digest(store, now=time.time())
    render_chart(digest, "health.png")          # or a BytesIO for files_upload_v2
"""

from __future__ import annotations

import datetime as dt
import math
from typing import IO, Any

from .digest import Digest, SeamDigest
from .stats import format_seconds

#: Width and height (inches) of one workflow's row of two panels; 100 dpi.
_ROW_W, _ROW_H, _DPI = 13.0, 3.6, 100


def render_chart(digest: Digest, path_or_buffer: str | IO[bytes]) -> None:
    """Write the digest's chart as PNG to a path or a binary file object.

    One row per workflow: on the left the daily pass rate of each seam (checks that could
    not be made are left out, as in the digest; a day without checks is a gap), on the
    right the daily p50 (solid) and p95 (dashed) latency of each seam on a log scale.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    rows = max(1, len(digest.workflows))
    fig = Figure(figsize=(_ROW_W, _ROW_H * rows + 0.6), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    since = dt.datetime.fromtimestamp(digest.since_ts, dt.UTC).strftime("%Y-%m-%d")
    until = dt.datetime.fromtimestamp(digest.until_ts, dt.UTC).strftime("%Y-%m-%d %H:%M")
    fig.suptitle(f"Baton health, {since} to {until} UTC", fontsize=13, fontweight="bold")
    axes = fig.subplots(rows, 2, squeeze=False)
    days = [dt.datetime.fromtimestamp(d, dt.UTC) for d in digest.days]
    if not digest.workflows:
        for ax in axes[0]:
            ax.text(0.5, 0.5, "no finished probe runs in this period", ha="center", va="center")
            ax.set_axis_off()
    for (rate_ax, lat_ax), wf in zip(axes, digest.workflows, strict=False):
        colors = _colors(len(wf.seams))
        title = f"{wf.workflow}: {wf.estimate.words}" if wf.estimate.checked else wf.workflow
        rate_ax.set_title(f"{title}\npass rate per seam (ok / checked)", fontsize=10, loc="left")
        lat_ax.set_title("seam latency: p50 solid, p95 dashed", fontsize=10, loc="left")
        has_latency = False
        for seam, color in zip(wf.seams, colors, strict=True):
            rates = [_nan(p.pass_rate) for p in seam.daily]
            label = _label(seam)
            rate_ax.plot(days, rates, marker="o", ms=4, lw=1.6, color=color, label=label)
            p50 = [_nan(p.p50_s) for p in seam.daily]
            p95 = [_nan(p.p95_s) for p in seam.daily]
            if any(not math.isnan(v) for v in p50):
                has_latency = True
                lat_ax.plot(days, p50, marker="o", ms=3, lw=1.6, color=color, label=seam.seam)
                lat_ax.plot(days, p95, ls="--", lw=1.2, color=color)
        low = min(
            (p.pass_rate for s in wf.seams for p in s.daily if p.pass_rate is not None), default=1.0
        )
        rate_ax.set_ylim(_floor_rate(low), 1.0 + (1.0 - _floor_rate(low)) * 0.03)
        rate_ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{100 * v:.4g}%"))
        rate_ax.legend(fontsize=8, loc="lower left", framealpha=0.85)
        if has_latency:
            _latency_axis(lat_ax, _latencies(wf.seams))
        else:
            lat_ax.text(
                0.5, 0.5, "no latencies", ha="center", va="center", transform=lat_ax.transAxes
            )
        for ax in (rate_ax, lat_ax):
            _day_axis(ax, days)
            ax.grid(True, alpha=0.3)
    fig.savefig(path_or_buffer, format="png")


def _latencies(seams: list[SeamDigest]) -> list[float | None]:
    return [v for s in seams for p in s.daily for v in (p.p50_s, p.p95_s)]


def _floor_rate(low: float) -> float:
    """The pass-rate axis starts a little below the worst day, on a whole percent."""
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


def _day_axis(ax: Any, days: list[dt.datetime]) -> None:
    from matplotlib.dates import DateFormatter, DayLocator

    if days:
        pad = dt.timedelta(hours=12)
        ax.set_xlim(days[0] - pad, days[-1] + pad)
    step = max(1, math.ceil(len(days) / 10))
    ax.xaxis.set_major_locator(DayLocator(interval=step))  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_formatter(DateFormatter("%a %d %b"))  # type: ignore[no-untyped-call]
    ax.tick_params(axis="x", labelsize=8)


def _colors(n: int) -> list[Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    return [cmap(i % 10) for i in range(n)]


def _nan(value: float | None) -> float:
    return math.nan if value is None else value


__all__ = ["render_chart"]
