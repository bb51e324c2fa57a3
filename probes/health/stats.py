"""Rates people can read: Wilson score intervals, leak rates in words, histogram percentiles.

A leak that drops one record in fifty shows up only over many runs, and a rate from few
runs is a guess. So every rate comes with its 95% Wilson score interval (good at rates near
0 and 1, unlike the normal approximation) and is said in words:

    >>> leak_words(failures=2, checked=100, verb="drops")
    'drops about 1 in 50, between 1 in 180 and 1 in 14'
    >>> leak_words(failures=0, checked=120, verb="drops")
    'no drops in 120 runs (fewer than 1 in 32 at 95%)'
    >>> [round(x, 4) for x in estimate(passes=98, failures=2).interval]
    [0.93, 0.9945]
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from ..store.rollup import bucket_value

#: The two-sided 95% normal quantile.
Z95 = 1.959963984540054

#: From this failure rate up, words use percentages instead of "1 in N".
_PERCENT_FROM = 0.1


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of ``successes`` out of ``n`` (``(0, 1)`` when ``n`` is 0).

    >>> [round(x, 4) for x in wilson_interval(0, 120)]
    [0.0, 0.031]
    """
    if n <= 0:
        return (0.0, 1.0)
    p = successes / n
    z2 = z * z
    denom = 1 + z2 / n
    center = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    low = 0.0 if successes == 0 else max(0.0, center - half)
    high = 1.0 if successes == n else min(1.0, center + half)
    return (low, high)


class PassCounts:
    """``checked``, ``pass_rate`` and its 95% interval, for any record of ``passes`` and
    ``failures`` (checks that could not be made are not among them)."""

    passes: int
    failures: int

    @property
    def checked(self) -> int:
        return self.passes + self.failures

    @property
    def pass_rate(self) -> float | None:
        return self.passes / self.checked if self.checked else None

    @property
    def interval(self) -> tuple[float, float] | None:
        """The 95% Wilson interval of the pass rate; ``None`` when nothing was checked."""
        return wilson_interval(self.passes, self.checked) if self.checked else None


@dataclass(frozen=True)
class Estimate(PassCounts):
    """A pass rate over ``passes + failures`` checks, with its interval and its words.

    Checks that could not be made are not in here: they say nothing about the chain.
    """

    passes: int
    failures: int
    words: str

    @property
    def leak_rate(self) -> float | None:
        return self.failures / self.checked if self.checked else None

    @property
    def leak_interval(self) -> tuple[float, float] | None:
        """The 95% interval of the leak rate (one minus the pass-rate interval)."""
        iv = self.interval
        return None if iv is None else (1.0 - iv[1], 1.0 - iv[0])


def estimate(passes: int, failures: int, *, verb: str = "leaks") -> Estimate:
    """An :class:`Estimate` whose words use ``verb`` ("leaks", "drops")."""
    return Estimate(passes, failures, leak_words(failures, passes + failures, verb=verb))


def leak_words(failures: int, checked: int, *, verb: str = "leaks") -> str:
    """A failure rate and its 95% interval in plain words.

    "1 in N" below 10%, percentages from there; N has two significant figures. Bounds
    stated as "fewer than" / "at least" are rounded the safe way (never overstated).

    >>> leak_words(3, 10)
    'leaks about 30% (between 11% and 60%)'
    >>> leak_words(30, 30, verb="drops")
    'drops every record in 30 runs (at least 88% at 95%)'
    >>> leak_words(0, 0)
    'nothing checked'
    """
    if checked <= 0:
        return "nothing checked"
    low, high = (1.0 - b for b in reversed(wilson_interval(checked - failures, checked)))
    runs = f"{checked} run" + ("" if checked == 1 else "s")
    if failures == 0:
        bound = (
            f"under {_pct(high, up=True)}%"
            if high >= _PERCENT_FROM
            else f"fewer than 1 in {_one_in(high, down=True)}"
        )
        return f"no {verb} in {runs} ({bound} at 95%)"
    if failures == checked:
        return f"{verb} every record in {runs} (at least {_pct(low, up=False)}% at 95%)"
    rate = failures / checked
    if rate >= _PERCENT_FROM:
        return f"{verb} about {_pct(rate)}% (between {_pct(low)}% and {_pct(high)}%)"
    return (
        f"{verb} about 1 in {_one_in(rate)}, between 1 in {_one_in(low)} and 1 in {_one_in(high)}"
    )


def percentile(histogram: Mapping[int, int], q: float) -> float | None:
    """The ``q`` quantile (0 < q ≤ 1, nearest rank) of a latency histogram, in seconds.

    ``histogram`` maps a bucket of :func:`baton.probes.store.rollup.latency_bucket` to its
    count; the answer is the bucket's middle, within ±6% of the exact sample quantile.

    >>> round(percentile({0: 50, 20: 50}, 0.5), 3), round(percentile({0: 50, 20: 50}, 0.95), 2)
    (1.059, 10.59)
    """
    total = sum(histogram.values())
    if total <= 0:
        return None
    rank = max(1, math.ceil(q * total))
    seen = 0
    for bucket in sorted(histogram):
        seen += histogram[bucket]
        if seen >= rank:
            return bucket_value(bucket)
    return bucket_value(max(histogram))  # pragma: no cover - rank <= total


def format_seconds(value: float | None) -> str:
    """``0.25s``, ``3.2s``, ``45s``, ``2m05s``, ``1h12m``; ``–`` for no value."""
    if value is None:
        return "–"
    if value < 1:
        return f"{value:.2f}s"
    if value < 10:
        return f"{value:.1f}s"
    if value < 60:
        return f"{value:.0f}s"
    minutes = round(value) // 60
    if minutes < 60:
        return f"{minutes}m{round(value) % 60:02d}s"
    return f"{minutes // 60}h{minutes % 60:02d}m"


def _one_in(rate: float, *, down: bool = False) -> str:
    """``N`` of "1 in N" for ``rate``, two significant figures (rounded down if asked)."""
    x = 1.0 / rate
    if x < 10:
        value = math.floor(x * 10) / 10 if down else round(x, 1)
        return f"{value:g}"
    step = 10 ** (math.floor(math.log10(x)) - 1)
    n = math.floor(x / step) if down else round(x / step)
    return f"{n * step:,}"


def _pct(rate: float, *, up: bool | None = None) -> str:
    """A percentage; ``up``/``down`` rounding keeps stated bounds on the safe side."""
    value = rate * 100
    digits = 1 if value < 1 else 0
    scale = 10**digits
    if up is True:
        value = math.ceil(value * scale - 1e-9) / scale
    elif up is False:
        value = math.floor(value * scale + 1e-9) / scale
    return f"{value:.{digits}f}"


__all__ = [
    "Z95",
    "Estimate",
    "estimate",
    "format_seconds",
    "leak_words",
    "percentile",
    "wilson_interval",
]
