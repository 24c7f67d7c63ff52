"""P(cold | idle gap), the keep-alive estimate, and idle-instance survival."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy.special import expit

from coldbench.external import load_published_cold_curve, load_published_scatter
from coldbench.keepalive import compute_binned_cold_probability, compute_keep_alive_estimate
from coldbench.survival import compute_idle_survival, compute_isotonic_fit, compute_kaplan_meier

PUBLISHED = Path(__file__).parent / "data" / "published"


@pytest.fixture(scope="module")
def shilkov() -> tuple[np.ndarray, np.ndarray]:
    run = load_published_scatter(PUBLISHED / "shilkov_aws_2021_scatter.json")
    return run.frame["gap_s"].to_numpy(float), run.frame["label"].eq("cold").to_numpy()


def test_shilkov_keep_alive_between_5_and_7_minutes(shilkov) -> None:
    estimate = compute_keep_alive_estimate(*shilkov)
    assert 5 * 60 <= estimate.keep_alive_s <= 7 * 60
    assert 5 * 60 <= estimate.low_s < estimate.keep_alive_s < estimate.high_s <= 7 * 60
    assert estimate.n == 300 and estimate.n_cold == 242 and not estimate.note
    p05, p95 = estimate.crossing(0.05), estimate.crossing(0.95)
    assert p05.gap_s < estimate.keep_alive_s < p95.gap_s
    assert not estimate.crossing(0.5).extrapolated


def test_shilkov_fit_consistent_with_published_interval_data(shilkov) -> None:
    estimate = compute_keep_alive_estimate(*shilkov)
    curve = load_published_cold_curve(PUBLISHED / "shilkov_aws_2021_interval.json")
    fitted = estimate.predict_p_cold(curve["gap_s"])
    difference = np.abs(fitted - curve["p_cold"].to_numpy())
    assert difference.mean() < 0.03 and difference.max() < 0.25
    # The published curve crosses 50% between its 6- and 7-minute points, inside our 5%-95% band.
    published = np.interp(0.5, curve["p_cold"], curve["gap_s"])
    assert estimate.crossing(0.05).gap_s <= published <= estimate.crossing(0.95).gap_s


@pytest.mark.parametrize("keep_alive_s", [10.0, 45.0, 300.0, 900.0])
@pytest.mark.parametrize("probes", [16, 60])
def test_fixed_keep_alive_is_inside_interval(keep_alive_s: float, probes: int) -> None:
    """A sandbox with an exact keep-alive K separates cold from warm perfectly."""
    rng = np.random.default_rng(int(keep_alive_s) + probes)
    gaps = np.exp(rng.uniform(np.log(keep_alive_s / 6), np.log(keep_alive_s * 3), probes))
    gaps += rng.uniform(0.001, 0.05, probes)  # measured gaps carry a little scheduling jitter
    estimate = compute_keep_alive_estimate(gaps, gaps > keep_alive_s)
    assert estimate.low_s <= keep_alive_s <= estimate.high_s
    if probes >= 60:
        assert estimate.high_s / estimate.low_s < 1.5


def test_interval_coverage_on_a_known_logistic_curve() -> None:
    rng = np.random.default_rng(99)
    true_keep_alive, slope, hits, repeats = 300.0, 6.0, 0, 60
    for _ in range(repeats):
        gaps = np.exp(rng.uniform(np.log(30), np.log(3000), 150))
        cold = rng.random(150) < expit(slope * (np.log(gaps) - np.log(true_keep_alive)))
        estimate = compute_keep_alive_estimate(gaps, cold)
        hits += estimate.low_s <= true_keep_alive <= estimate.high_s
    assert hits / repeats >= 0.88


def test_degenerate_inputs_explain_themselves() -> None:
    gaps = np.array([10.0, 20.0, 40.0, 80.0])
    all_warm = compute_keep_alive_estimate(gaps, np.zeros(4, bool))
    assert math.isnan(all_warm.keep_alive_s) and "no cold starts" in all_warm.note
    all_cold = compute_keep_alive_estimate(gaps, np.ones(4, bool))
    assert "every probe was cold" in all_cold.note
    empty = compute_keep_alive_estimate([], [])
    assert empty.n == 0 and empty.note
    falling = compute_keep_alive_estimate(gaps, np.array([1, 1, 0, 0], bool))
    assert math.isnan(falling.keep_alive_s) and "does not rise" in falling.note


def test_binned_probability_by_planned_gap() -> None:
    gaps = np.array([30.1, 30.2, 30.3, 600.1, 600.2, np.nan])
    cold = np.array([0, 0, 1, 1, 1, 0], bool)
    binned = compute_binned_cold_probability(gaps, cold, bin_keys=[30, 30, 30, 600, 600, 600])
    assert list(binned.n) == [3, 2] and list(binned.n_cold) == [1, 2]
    assert binned.p[0] == pytest.approx(1 / 3) and binned.high[1] == 1.0


def test_isotonic_fit_pools_violators() -> None:
    means, ends = compute_isotonic_fit(np.array([0.0, 1.0, 0.0, 1.0]), np.ones(4))
    assert list(means) == [0.0, 0.5, 1.0] and ends == [1, 3, 4]


def test_idle_survival_steps_down_at_keep_alive() -> None:
    gaps = np.array([10.0, 20.0, 30.0, 61.0, 70.0, 90.0])
    curve = compute_idle_survival(gaps, gaps > 60)
    assert list(curve.survival) == [1.0, 0.0]
    assert curve.time_s[1] == 61.0 and curve.median_s() == 61.0
    assert (curve.low <= curve.survival).all() and (curve.survival <= curve.high).all()


def test_kaplan_meier_textbook_example() -> None:
    # Times 1, 2+, 3, 3, 4+ (+ = censored): S(1)=4/5, S(3)=4/5 * 1/3.
    curve = compute_kaplan_meier([1, 2, 3, 3, 4], [True, False, True, True, False])
    assert list(curve.time_s) == [1.0, 3.0]
    assert curve.survival == pytest.approx([0.8, 0.8 / 3])
    assert list(curve.n) == [5, 3]
    assert (curve.low <= curve.survival).all() and (curve.survival <= curve.high).all()
