"""Pure parts of the regression gate: verdict rule, ratios, flags, warnings, determinism."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_compare_sim import Platform, simulate_pair

from coldbench.compare import (
    CompareConfig,
    build_environment_warnings,
    compare_rate,
    compare_runs,
    decide_verdict,
    estimate_drift_variance,
    metric_keys,
    parse_min_effects,
    safe_ratio,
)
from coldbench.compare_format import format_terminal
from coldbench.errors import ConfigError

RULE = {"min_effect": 1.1, "alpha": 0.001}


@pytest.mark.parametrize(("ratio", "low", "high", "p_value", "expected"), [
    (1.5, 1.3, 1.7, 1e-6, "regressed"),
    (1.5, 1.3, 1.7, 0.01, "unchanged"),     # not significant by the test
    (1.5, 0.9, 2.1, 1e-6, "unchanged"),     # its own interval includes 1
    (1.05, 1.02, 1.08, 1e-9, "unchanged"),  # significant but below the minimum effect
    (0.6, 0.5, 0.7, 1e-6, "improved"),
    (None, None, None, None, "insufficient"),
])
def test_verdict_rule(ratio: float | None, low: float | None, high: float | None,
                      p_value: float | None, expected: str) -> None:
    assert decide_verdict(ratio, low, high, p_value, **RULE) == expected


def test_verdict_direction_for_lower_is_worse_and_the_absolute_floor() -> None:
    assert decide_verdict(0.4, 0.35, 0.45, 1e-9, higher_is_worse=False, **RULE) == "regressed"
    assert decide_verdict(1.5, 1.3, 1.7, 1e-9, big_enough=False, **RULE) == "unchanged"


@given(st.floats(0.05, 20), st.floats(0.01, 0.5), st.floats(0.01, 0.5), st.floats(0, 0.01),
       st.booleans())
def test_verdict_is_symmetric_under_swapping_runs(ratio: float, below: float, above: float,
                                                  p_value: float, higher_is_worse: bool) -> None:
    low, high = ratio * (1 - below), ratio * (1 + above)
    forward = decide_verdict(ratio, low, high, p_value, higher_is_worse=higher_is_worse, **RULE)
    backward = decide_verdict(1 / ratio, 1 / high, 1 / low, p_value,
                              higher_is_worse=higher_is_worse, **RULE)
    flip = {"regressed": "improved", "improved": "regressed", "unchanged": "unchanged"}
    assert backward == flip[forward]


def test_safe_ratio_treats_zero_over_zero_as_no_change() -> None:
    ratios = safe_ratio(np.array([0.0, 1.0, 2.0]), np.array([0.0, 0.0, 1.0]))
    assert ratios.tolist() == [1.0, float("inf"), 2.0]


def test_rates_from_zero() -> None:
    config = CompareConfig()
    assert compare_rate("t", "error_rate", (0, 200), (0, 200), config).verdict == "unchanged"
    rose = compare_rate("t", "error_rate", (0, 200), (40, 200), config)
    assert rose.verdict == "regressed" and rose.ratio == float("inf")
    assert compare_rate("t", "error_rate", (0, 200), (2, 200), config).verdict == "unchanged"
    assert compare_rate("t", "cold_rate", (0, 0), (1, 5), config).verdict == "insufficient"


def test_parse_min_effects() -> None:
    assert parse_min_effects(["cold.p99=1.2", "p50=20%", "keep_alive = 1.5"]) == {
        "cold.p99": 1.2, "p50": pytest.approx(1.2), "keep_alive": 1.5}
    config = CompareConfig(min_effect={"cold.p99": 1.3, "p99": 1.2})
    assert config.effect_for("cold.p99") == 1.3 and config.effect_for("warm.p99") == 1.2
    assert config.effect_for("warm.p50") == 1.10
    for bad in ("cold.p99", "cold.p99=1", "cold.p99=x", "nope=1.2"):
        with pytest.raises(ConfigError, match="--min-effect"):
            parse_min_effects([bad])


def test_environment_warnings_name_what_differs() -> None:
    base = {"environment": {"host": "a", "python": "3.11.9", "coldbench": "0.1.0"},
            "suite": {"targets": [{"name": "api"}]}, "status": "complete"}
    new = {"environment": {"host": "a", "python": "3.12.1", "coldbench": "0.2.0"},
           "suite": {"targets": [{"name": "api"}, {"name": "b"}]}, "status": "interrupted"}
    warnings = build_environment_warnings(base, new)
    assert any("Python differs" in w for w in warnings)
    assert any("coldbench version differs" in w for w in warnings)
    assert any("suite differs" in w for w in warnings)
    assert any("new run status is 'interrupted'" in w for w in warnings)
    assert not any("host" in w for w in warnings)
    assert build_environment_warnings(base, base) == []


def test_targets_in_one_run_only_are_warned() -> None:
    base, new = simulate_pair(Platform(), Platform(), 0)
    renamed = new.assign(target="other")
    result = compare_runs(base, pd.concat([new, renamed]))
    assert result.warnings == ("target 'other' is only in the new run; not compared",)
    assert {c.target for c in result.comparisons} == {"api"}


def test_same_seed_same_report_and_every_metric_reported() -> None:
    base, new = simulate_pair(Platform(), Platform(extra_init_ms=150.0), 3)
    first = compare_runs(base, new, CompareConfig(seed=7))
    second = compare_runs(base, new, CompareConfig(seed=7))
    assert first == second
    assert [c.key for c in first.comparisons] == metric_keys()
    assert format_terminal(first, width=120) == format_terminal(second, width=120)


def test_too_few_samples_is_insufficient_not_unchanged() -> None:
    base, new = simulate_pair(Platform(), Platform(), 4)
    few_cold = new[(new["label"] != "cold") | (new["seq"] < 3)]
    found = {c.key: c for c in compare_runs(base, few_cold).comparisons}
    assert found["cold.p50"].verdict == "insufficient"
    assert "fewer than 5 cold samples" in found["cold.p50"].note


def test_cold_rate_is_tested_within_gap_strata() -> None:
    """A keep-alive cut from 10 s to 4 s flips only the 6 s gap from warm to cold: pooled over
    all gaps Fisher's test misses it; stratified by gap (Cochran–Mantel–Haenszel) it does not."""
    import pandas as pd
    from scipy import stats as sps

    from coldbench.compare import CompareConfig, cmh_p_value, compare_cold_rate

    def frame(cold_at_6s: bool) -> pd.DataFrame:
        rows = []
        for gap in (2.0, 6.0, 14.0):
            cold = gap == 14.0 or (gap == 6.0 and cold_at_6s)
            rows += [{"error": None, "label": "cold" if cold else "warm", "planned_gap_s": gap}] * 16
        rows += [{"error": None, "label": "warm", "planned_gap_s": float("nan")}] * 40
        return pd.DataFrame(rows)

    base, new = frame(False), frame(True)
    pooled = sps.fisher_exact([[32, 56], [16, 72]])[1]
    assert pooled > 0.0005  # pooled evidence alone would not clear the gate
    result = compare_cold_rate("t", base, new, CompareConfig())
    assert result.test == "cmh-by-gap" and result.p_value < 1e-5 and result.verdict == "regressed"
    assert compare_cold_rate("t", base, frame(False), CompareConfig()).verdict == "unchanged"
    assert cmh_p_value([((3, 3), (3, 3))]) == 1.0  # no information, no evidence


def test_drift_variance_is_near_zero_for_independent_samples() -> None:
    rng = np.random.default_rng(1)
    values = 4.0 * rng.lognormal(0.0, 0.3, 240)
    assert estimate_drift_variance(np.log(values), np.random.default_rng(2)) < 0.004


def test_drift_variance_recovers_a_stepwise_drift() -> None:
    """8 stretches each shifted by e^N(0, 0.3²): the estimate is of the order of 0.09."""
    rng = np.random.default_rng(3)
    shifts = np.repeat(rng.normal(0.0, 0.3, 8), 30)
    values = 4.0 * rng.lognormal(0.0, 0.2, 240) * np.exp(shifts)
    truth = float(np.var(shifts[::30], ddof=1))
    assert 0.5 * truth < estimate_drift_variance(np.log(values), np.random.default_rng(4)) < 1.5 * truth


def test_drift_variance_needs_two_blocks() -> None:
    assert estimate_drift_variance(np.log([1.0, 2.0, 3.0, 4.0, 5.0]), np.random.default_rng(0)) == 0.0


def test_jittered_gaps_share_a_stratum() -> None:
    """`jitter = "10%"` makes every planned gap unique; the cold-rate strata still hold 2 s and
    6 s apart and keep ±10% of each together (half-octave bins)."""
    from coldbench.compare import count_cold_by_gap

    gaps = [1.8, 2.0, 2.2, 5.5, 6.0, 6.5, 0.0]
    frame = pd.DataFrame({"planned_gap_s": gaps, "error": None,
                          "label": ["warm", "warm", "warm", "cold", "cold", "warm", "cold"]})
    strata = count_cold_by_gap(frame)
    assert sorted(n for _cold, n in strata.values()) == [1, 3, 3]
    assert strata[0.0] == (1, 1)


def test_drift_of_a_long_load_run_is_estimated_on_a_thinned_series() -> None:
    """A million-sample load run: bounded memory (thinned to ~4k values), and a step in the
    middle of the run is still seen."""
    rng = np.random.default_rng(5)
    values = rng.lognormal(0.0, 0.2, 1_000_000)
    values[500_000:] *= 1.5
    drift = estimate_drift_variance(np.log(values), np.random.default_rng(6))
    assert 0.02 < drift < 0.1  # blocks at ±log(1.5)/2: variance ≈ 0.047
