"""Wilson intervals, leak rates in words, histogram percentiles: checked against values
worked out independently (the roots of the Wilson quadratic, and published tables)."""

from __future__ import annotations

import math

import pytest

from baton.probes.health.stats import (
    estimate,
    format_seconds,
    leak_words,
    percentile,
    wilson_interval,
)
from baton.probes.store.rollup import BUCKET_PRECISION, bucket_value, latency_bucket

Z = 1.959963984540054


def wilson_by_quadratic(k: int, n: int) -> tuple[float, float]:
    """The Wilson bounds as the roots of (p̂ - p)² = z² p (1 - p) / n."""
    ph = k / n
    a, b, c = 1 + Z * Z / n, -(2 * ph + Z * Z / n), ph * ph
    d = math.sqrt(b * b - 4 * a * c)
    return (-b - d) / (2 * a), (-b + d) / (2 * a)


@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    [
        pytest.param(98, 100, 0.929988, 0.994498, id="98-of-100"),
        pytest.param(90, 98, 0.847117, 0.958056, id="90-of-98"),
        pytest.param(0, 120, 0.0, 0.031019, id="none-of-120"),
        pytest.param(100, 100, 0.963007, 1.0, id="all-of-100"),
        pytest.param(3, 10, 0.107791, 0.603222, id="3-of-10"),
    ],
)
def test_wilson_interval_matches_hand_computed(k: int, n: int, low: float, high: float) -> None:
    got = wilson_interval(k, n)
    assert got == pytest.approx((low, high), abs=1e-6)
    assert got == pytest.approx(wilson_by_quadratic(k, n), abs=1e-9)


def test_wilson_interval_without_data_is_everything() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)


@pytest.mark.parametrize(
    ("failures", "checked", "verb", "words"),
    [
        pytest.param(
            2, 100, "drops", "drops about 1 in 50, between 1 in 180 and 1 in 14", id="1-in-50"
        ),
        pytest.param(
            8, 98, "leaks", "leaks about 1 in 12, between 1 in 24 and 1 in 6.5", id="1-in-12"
        ),
        pytest.param(
            0, 120, "drops", "no drops in 120 runs (fewer than 1 in 32 at 95%)", id="none"
        ),
        pytest.param(0, 3, "leaks", "no leaks in 3 runs (under 57% at 95%)", id="none-few-runs"),
        pytest.param(
            30, 30, "drops", "drops every record in 30 runs (at least 88% at 95%)", id="all"
        ),
        pytest.param(1, 1, "leaks", "leaks every record in 1 run (at least 20% at 95%)", id="one"),
        pytest.param(3, 10, "leaks", "leaks about 30% (between 11% and 60%)", id="percent"),
        pytest.param(0, 0, "leaks", "nothing checked", id="nothing"),
    ],
)
def test_leak_words(failures: int, checked: int, verb: str, words: str) -> None:
    assert leak_words(failures, checked, verb=verb) == words


def test_bounds_in_words_are_never_overstated() -> None:
    # 0 of 120: the upper bound is 1 in 32.24; "fewer than 1 in 33" would claim too much.
    assert 1 / wilson_interval(0, 120)[1] == pytest.approx(32.238, abs=1e-3)
    assert "1 in 32 " in leak_words(0, 120)


def test_estimate_leaves_out_nothing_and_flips_the_interval() -> None:
    est = estimate(passes=98, failures=2)
    assert est.checked == 100
    assert est.pass_rate == 0.98
    assert est.leak_rate == 0.02
    assert est.leak_interval == pytest.approx((0.005502, 0.070012), abs=1e-6)
    assert estimate(0, 0).interval is None


def test_latency_buckets_are_log_spaced_and_clamped() -> None:
    assert latency_bucket(1.0) == 0
    assert latency_bucket(10.0) == 20
    assert latency_bucket(0.0) == latency_bucket(0.001) == -40
    assert latency_bucket(10**9) == 100
    for value in (0.013, 0.7, 3.3, 47.0, 1234.5):
        read_back = bucket_value(latency_bucket(value))
        assert abs(read_back / value - 1) <= BUCKET_PRECISION + 1e-12
    assert round(BUCKET_PRECISION, 4) == 0.0593


def test_percentile_nearest_rank() -> None:
    hist = {latency_bucket(2.0): 60, latency_bucket(20.0): 33}
    assert percentile(hist, 0.5) == pytest.approx(10 ** (6.5 / 20))  # rank 47: 2 s bucket
    assert percentile(hist, 0.64) == pytest.approx(10 ** (6.5 / 20))  # rank 60
    assert percentile(hist, 0.65) == pytest.approx(10 ** (26.5 / 20))  # rank 61: 20 s bucket
    assert percentile({}, 0.5) is None


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "–"), (0.25, "0.25s"), (3.21, "3.2s"), (45.4, "45s"), (125, "2m05s"), (4320, "1h12m")],
)
def test_format_seconds(seconds: float | None, text: str) -> None:
    assert format_seconds(seconds) == text
