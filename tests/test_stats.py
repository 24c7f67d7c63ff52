"""Percentiles with order-statistic intervals, Wilson intervals, cold penalty (coldbench.stats)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from coldbench.stats import (
    compute_cold_penalty,
    compute_grouped_percentiles,
    compute_interval_coverage,
    compute_min_supported_n,
    compute_order_statistic_ranks,
    compute_percentile,
    compute_percentiles,
    compute_proportion,
    compute_quantile_contrast,
    compute_wilson_interval,
)


def test_percentile_is_an_observed_value_type_1() -> None:
    values = np.array([5.0, 1.0, 4.0, 2.0, 3.0, 10.0, 9.0, 8.0, 7.0, 6.0])
    assert compute_percentile(values, 0.5).value == 5.0  # ceil(0.5 * 10) = 5th smallest
    assert compute_percentile(values, 0.9).value == 9.0
    assert compute_percentile(values, 1.0).value == 10.0
    assert compute_percentile(values, 0.91).value == 10.0


def test_nan_dropped_and_empty_is_nan() -> None:
    est = compute_percentile([np.nan, 3.0, np.nan, 1.0, 2.0], 0.5)
    assert est.n == 3 and est.value == 2.0
    empty = compute_percentile([], 0.5)
    assert empty.n == 0 and math.isnan(empty.value) and not empty.supported


def test_p99_from_30_samples_is_flagged() -> None:
    values = np.random.default_rng(1).lognormal(3, 1, 30)
    p99 = compute_percentile(values, 0.99)
    assert not p99.supported and p99.high == math.inf and p99.n == 30
    assert compute_percentile(values, 0.5).supported


@pytest.mark.parametrize(("q", "expected"), [(0.5, 6), (0.9, 36), (0.95, 72), (0.99, 368),
                                             (0.999, 3688)])
def test_min_supported_n(q: float, expected: int) -> None:
    n = compute_min_supported_n(q)
    assert n == expected
    values = np.arange(n, dtype=float)
    assert compute_percentile(values, q).supported
    assert not compute_percentile(values[:-1], q).supported


def test_interval_ranks_bracket_point_and_meet_nominal_coverage() -> None:
    for n in (50, 200, 1000, 5000):
        for q in (0.5, 0.9, 0.99):
            point, low, high = (int(x[0]) for x in compute_order_statistic_ranks([n], q))
            if low >= 1 and high <= n:
                assert low <= point <= high
                assert 0.95 <= compute_interval_coverage(n, q) < 0.99


@pytest.mark.parametrize("q", [0.5, 0.9, 0.99])
def test_interval_coverage_by_simulation(q: float) -> None:
    """95% intervals cover the true percentile in 93-97% of repeated draws."""
    n, repeats = 1000, 2000
    rng = np.random.default_rng(20261203)
    draws = np.sort(rng.lognormal(mean=4.0, sigma=0.8, size=(repeats, n)), axis=1)
    true_quantile = math.exp(4.0 + 0.8 * sps.norm.ppf(q))
    _point, low, high = compute_order_statistic_ranks([n], q)
    covered = (draws[:, low[0] - 1] <= true_quantile) & (true_quantile <= draws[:, high[0] - 1])
    assert 0.93 <= covered.mean() <= 0.97


def test_grouped_matches_single_sample_path() -> None:
    rng = np.random.default_rng(3)
    values = rng.exponential(50.0, 5000)
    values[rng.random(5000) < 0.02] = np.nan
    codes = rng.integers(0, 4, 5000)
    qs = (0.5, 0.9, 0.99, 1.0)
    grouped = compute_grouped_percentiles(values, codes, 5, qs)
    assert grouped["n"][4] == 0  # an empty group stays empty
    for g in range(4):
        single = compute_percentiles(values[codes == g], qs)
        assert grouped["n"][g] == single[0].n
        for i, est in enumerate(single):
            assert grouped[f"value_{i}"][g] == est.value
            assert bool(grouped[f"supported_{i}"][g]) == est.supported
            if est.q < 1:
                assert grouped[f"low_{i}"][g] == est.low
                assert grouped[f"high_{i}"][g] == est.high


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0.01, 1e5), min_size=1, max_size=300),
       st.sampled_from([0.5, 0.9, 0.95, 0.99]))
def test_interval_contains_estimate(values: list[float], q: float) -> None:
    est = compute_percentile(values, q)
    assert min(values) <= est.value <= max(values)
    assert not est.low > est.value and not est.high < est.value


def test_wilson_known_values() -> None:
    p, low, high = compute_wilson_interval([0, 3, 10, 0], [10, 10, 10, 0])
    assert p[1] == pytest.approx(0.3)
    assert low[1] == pytest.approx(0.10779, abs=1e-4)
    assert high[1] == pytest.approx(0.60322, abs=1e-4)
    assert low[0] == 0.0 and high[2] == 1.0
    assert math.isnan(p[3])
    prop = compute_proportion(1, 2)
    assert prop.low < 0.5 < prop.high


def test_cold_penalty_is_seeded_and_sensible() -> None:
    rng = np.random.default_rng(11)
    cold = rng.lognormal(np.log(300), 0.3, 400)
    warm = rng.lognormal(np.log(50), 0.2, 800)
    first = compute_cold_penalty(cold, warm)
    assert first == compute_cold_penalty(cold, warm)  # deterministic with the default seed
    p50, p99 = first
    assert p50.low < 250 < p50.high
    assert p50.supported and p99.supported
    small = compute_cold_penalty(cold[:30], warm)
    assert not small[1].supported  # p99 of 30 cold samples


def test_contrast_ratio_and_bootstrap_coverage() -> None:
    rng = np.random.default_rng(7)
    true = 300.0 - 50.0
    hits = 0
    for seed in range(200):
        a = rng.lognormal(np.log(300), 0.5, 200)
        b = rng.lognormal(np.log(50), 0.3, 400)
        contrast = compute_quantile_contrast(a, b, 0.5, seed=seed)
        hits += contrast.low <= true <= contrast.high
    assert 0.90 <= hits / 200 <= 0.99
    ratio = compute_quantile_contrast([10.0] * 20, [5.0] * 20, 0.5, ratio=True)
    assert ratio.value == 2.0 and ratio.low == 2.0 and ratio.high == 2.0
