"""The simulator and its curves: exact answers on fixed keep-alives, seeded Monte-Carlo, data."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coldbench.errors import ConfigError
from coldbench.keepalive import compute_keep_alive_estimate
from coldbench.warmer.cost import Pricing
from coldbench.warmer.curves import (
    build_isotonic_curve,
    build_logistic_curve,
    build_step_curve,
    build_table_curve,
    fit_curve_from_samples,
    load_configured_curve,
    load_published_curve,
)
from coldbench.warmer.simulator import ServiceModel, simulate_strategies, simulate_strategy
from coldbench.warmer.strategies import (
    NoWarming,
    PingWarming,
    PredictiveWarming,
    ProvisionedWarming,
    ProvisionWindow,
)
from coldbench.warmer.traces import load_trace
from coldbench.warmer.workloads import Workload, build_poisson_workload, build_trace_workload

DATA = Path(__file__).parent / "data"
FAST = ServiceModel(warm_ms=1.0, init_ms=50.0, ping_ms=1.0)


def workload_of(arrivals: list[float], duration: float) -> Workload:
    return Workload("test", np.array(arrivals, dtype=np.float64), duration, "test")


def test_step_curve_none_is_cold_exactly_after_long_gaps() -> None:
    workload = build_poisson_workload(0.2, 600.0, seed=4)
    result = simulate_strategy(NoWarming(), workload, build_step_curve(5.0), FAST, Pricing(), 20, 1)
    gaps = np.diff(workload.arrivals_s)
    busy = np.where(np.r_[True, gaps - FAST.warm_ms / 1000 > 5.0][:-1], FAST.init_ms, 0.0)
    expected = 1 + np.sum(gaps - (FAST.warm_ms + busy) / 1000 > 5.0)
    assert result.outcome.user_cold == expected
    assert result.outcome.cold_low == result.outcome.cold_high  # a step curve has no randomness
    assert result.p_cold_per_arrival[0] == 1.0


def test_ping_below_keep_alive_and_provisioned_remove_cold_starts() -> None:
    workload = workload_of([10.0, 30.0, 50.0, 70.0], 80.0)
    curve = build_step_curve(5.0)
    ping = simulate_strategy(PingWarming("ping", 4.0), workload, curve, FAST, Pricing(), 5, 1).outcome
    provisioned = simulate_strategy(ProvisionedWarming.constant("p", 1), workload, curve, FAST,
                                    Pricing(), 5, 1).outcome
    none = simulate_strategy(NoWarming(), workload, curve, FAST, Pricing(), 5, 1).outcome
    assert none.user_cold == 4 and ping.user_cold == 0 and provisioned.user_cold == 0
    assert ping.warming_requests == 20 and ping.warming_cold == 1  # only the very first ping
    assert provisioned.spill_over == 0 and provisioned.usage.provisioned_instance_s == 80.0
    assert provisioned.provisioned_utilisation == pytest.approx(4 * 0.001 / 80.0)


def test_fan_out_pings_reach_distinct_instances_and_collide() -> None:
    # A user request 100 ms into a round of four 200 ms pings finds every instance busy.
    workload = workload_of([4.1, 9.0], 12.0)
    strategy = PingWarming("p4", 2.0, fan_out=4, hold_ms=200.0)
    outcome = simulate_strategy(strategy, workload, build_step_curve(5.0), FAST, Pricing(), 3, 1).outcome
    assert outcome.fan_out_efficiency == 1.0 and outcome.full_fan_out_share == 1.0
    assert outcome.collisions == 1 and outcome.collisions_cold == 1 and outcome.user_cold == 1
    assert outcome.warming_cold == 4  # the first round starts four instances


def test_a_deploy_recycles_warm_and_provisioned_instances() -> None:
    import dataclasses

    workload = dataclasses.replace(workload_of([10.0, 12.0, 14.02, 16.0], 20.0), deploys_s=(14.0,))
    curve = build_step_curve(5.0)
    none = simulate_strategy(NoWarming(), workload, curve, FAST, Pricing(), 3, 1).outcome
    assert none.user_cold == 2  # the first request, and the first after the deploy
    provisioned = simulate_strategy(ProvisionedWarming.constant("p", 1), workload, curve, FAST,
                                    Pricing(), 3, 1).outcome
    assert provisioned.user_cold == 1  # the new provisioned instance is still initialising
    assert provisioned.spill_over == 1


def test_windowed_provisioning_spills_outside_its_window() -> None:
    workload = workload_of([5.0, 15.0, 25.0, 35.0], 40.0)
    strategy = ProvisionedWarming("w", (ProvisionWindow(10.0, 30.0, 1),))
    outcome = simulate_strategy(strategy, workload, build_step_curve(5.0), FAST, Pricing(), 3, 1).outcome
    assert outcome.user_cold == 2  # at 5 s (before the window) and 35 s (after it)
    assert outcome.spill_over == 0 and outcome.usage.provisioned_instance_s == 20.0


def test_monte_carlo_is_seeded_and_gives_an_interval() -> None:
    workload = build_poisson_workload(0.2, 300.0, seed=2)
    curve = build_table_curve([0.0, 3.0, 7.0], [0.0, 0.0, 1.0], "ramp 3-7 s")
    one = simulate_strategy(NoWarming(), workload, curve, FAST, Pricing(), 100, 9)
    two = simulate_strategy(NoWarming(), workload, curve, FAST, Pricing(), 100, 9)
    assert one.outcome == two.outcome
    assert np.array_equal(one.p_cold_per_arrival, two.p_cold_per_arrival)
    assert one.outcome.cold_low < one.outcome.cold_rate < one.outcome.cold_high
    gaps = np.diff(workload.arrivals_s)
    expected = (1 + curve.p_cold_at(gaps).sum()) / len(workload.arrivals_s)
    assert one.outcome.cold_rate == pytest.approx(expected, abs=0.02)


@settings(max_examples=30, deadline=None)
@given(st.floats(0.05, 0.5), st.floats(1.0, 10.0), st.integers(0, 1000))
def test_cold_rate_never_rises_with_more_warming(rate: float, keep_alive: float, seed: int) -> None:
    workload = build_poisson_workload(rate, 200.0, seed)
    if len(workload.arrivals_s) == 0:
        return
    curve = build_step_curve(keep_alive)
    none, ping = (simulate_strategy(s, workload, curve, FAST, Pricing(), 1, seed).outcome
                  for s in (NoWarming(), PingWarming("ping", keep_alive * 0.8)))
    assert ping.user_cold <= none.user_cold


def test_table_and_logistic_curves_invert_their_cdf() -> None:
    table = build_table_curve([0, 60, 120, 180], [0.0, 0.0, 0.5, 1.0], "t")
    u = np.array([0.1, 0.25, 0.5, 0.75, 0.999])
    assert np.allclose(table.p_cold_at(table.draw_lifetimes_s(u)), u)
    assert table.median_lifetime_s == pytest.approx(120.0)
    gaps = np.r_[np.full(30, 2.0), np.full(30, 4.0), np.full(30, 6.0), np.full(30, 8.0)]
    cold = np.r_[np.zeros(30), np.arange(30) < 8, np.arange(30) < 22, np.ones(30)]
    logistic = build_logistic_curve(compute_keep_alive_estimate(gaps, cold), "fit")
    assert np.allclose(logistic.p_cold_at(logistic.draw_lifetimes_s(u)), u)
    assert 4.0 < logistic.median_lifetime_s < 6.0


def test_isotonic_curve_keeps_a_sharp_keep_alive() -> None:
    gaps = [1.0, 2.0, 3.0, 4.0, 4.9, 5.1, 6.0, 8.0]
    curve = build_isotonic_curve(gaps, [0, 0, 0, 0, 0, 1, 1, 1], "probes")
    lifetimes = curve.draw_lifetimes_s(np.linspace(0.01, 0.99, 50))
    assert lifetimes.min() >= 4.9 and lifetimes.max() <= 5.1
    with pytest.raises(ConfigError, match="straddle the keep-alive"):
        build_isotonic_curve([1.0, 2.0], [0, 0], "all warm")


def test_curve_from_samples_and_configured_curves() -> None:
    frame = pd.DataFrame({"gap_s": [1.0, 2.0, 6.0, 7.0, None], "label": ["warm", "warm", "cold", "cold", "cold"],
                          "error": [None] * 5})
    assert fit_curve_from_samples(frame, "f").kind == "isotonic"
    assert load_configured_curve("keep_alive", 5.0).keep_alive_s == 5.0
    with pytest.raises(ConfigError, match="measured during `coldbench warm`"):
        load_configured_curve("calibrate")


def test_published_aws_curve_loads_as_a_lifetime_distribution() -> None:
    curve = load_published_curve(DATA / "published" / "shilkov_aws_2021_interval.json")
    assert curve.kind == "table" and 5 * 60 < curve.median_lifetime_s < 7 * 60
    assert curve.p_cold_at([3 * 60.0])[0] == 0.0 and curve.p_cold_at([10 * 60.0])[0] == 1.0


def test_azure_trace_with_published_curve() -> None:
    trace = load_trace(DATA / "traces" / "azure2021_sample_200.csv", "azure2021")
    workload = build_trace_workload(trace)
    curve = load_published_curve(DATA / "published" / "shilkov_aws_2021_interval.json")
    strategies = (NoWarming(), PingWarming("ping", 300.0),
                  PredictiveWarming("predictive", keep_alive_s=360.0, refresh_s=300.0, min_samples=5))
    results = simulate_strategies(strategies, workload, curve, ServiceModel(warm_ms=100.0),
                                  Pricing(), replicates=50, seed=3)
    none, ping, predictive = (r.outcome for r in results)
    assert none.user_requests == 32 and 0 < none.cold_rate < 0.5
    assert ping.cold_rate <= none.cold_rate and predictive.cold_rate <= none.cold_rate
    assert ping.cost.monthly_usd > none.cost.monthly_usd > 0
    assert math.isfinite(ping.cost.per_million_usd)
