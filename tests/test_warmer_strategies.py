"""Warming strategies as schedules of actions (pure): ping, provisioned windows, predictive."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from coldbench.warmer.strategies import (
    IdleHistogram,
    NoWarming,
    PingWarming,
    PredictiveWarming,
    ProvisionedWarming,
    ProvisionWindow,
)


def test_none_does_nothing() -> None:
    assert NoWarming().build_actions(np.arange(10.0), 10.0) == ()


def test_ping_rounds_every_interval_until_the_end() -> None:
    actions = PingWarming("ping", 4.0, fan_out=3, hold_ms=200).build_actions(np.zeros(0), 20.0)
    assert [a.at_s for a in actions] == [0.0, 4.0, 8.0, 12.0, 16.0]
    assert {(a.kind, a.count, a.hold_ms) for a in actions} == {("ping", 3, 200.0)}
    assert [a.round for a in actions] == [0, 1, 2, 3, 4]


def test_ping_start_offsets_the_schedule() -> None:
    actions = PingWarming("ping", 5.0, start_s=2.0).build_actions(np.zeros(0), 13.0)
    assert [a.at_s for a in actions] == [2.0, 7.0, 12.0]


def test_constant_provisioned_sets_once_before_the_workload() -> None:
    strategy = ProvisionedWarming.constant("p", 2)
    actions = strategy.build_actions(np.arange(5.0), 60.0)
    assert [(a.at_s, a.kind, a.count) for a in actions] == [(0.0, "provision", 2)]
    assert strategy.describe() == "provisioned concurrency 2"


def test_windowed_provisioned_changes_at_window_edges_inside_the_run() -> None:
    strategy = ProvisionedWarming("w", (ProvisionWindow(10, 20, 1), ProvisionWindow(20, 30, 3),
                                        ProvisionWindow(50, math.inf, 1)))
    actions = strategy.build_actions(np.zeros(0), 40.0)
    assert [(a.at_s, a.count) for a in actions] == [(10, 1), (20, 3), (30, 0)]
    assert strategy.count_at(25) == 3 and strategy.count_at(35) == 0


def test_histogram_percentiles_are_observed_values() -> None:
    histogram = IdleHistogram(window=5)
    for value in [5.0, 1.0, 3.0, 2.0, 4.0, 100.0]:  # 5.0 falls out of the window
        histogram.add(value)
    assert len(histogram) == 5
    assert histogram.percentile(0) == 1.0 and histogram.percentile(100) == 100.0
    assert histogram.percentile(50) == 3.0


def test_predictive_waits_for_enough_history() -> None:
    strategy = PredictiveWarming("p", keep_alive_s=5.0, min_samples=10)
    arrivals = np.arange(0.0, 100.0, 10.0)  # 9 idle times: not enough
    assert strategy.build_actions(arrivals, 100.0) == ()


def test_predictive_prewarms_before_a_regular_arrival() -> None:
    # Arrivals every 60 s with a 5 s keep-alive: each gap ends cold unless pre-warmed at
    # p5·(1 - margin) = 54 s after the last request.
    arrivals = np.arange(0.0, 1200.0, 60.0)
    strategy = PredictiveWarming("p", keep_alive_s=5.0, refresh_s=4.0, min_samples=5, margin=0.1)
    actions = strategy.build_actions(arrivals, 1200.0)
    offsets = sorted({round(a.at_s % 60.0, 6) for a in actions})
    assert offsets == [54.0, 58.0]  # the pre-warm, then one refresh before the arrival
    assert all(a.at_s > arrivals[5] for a in actions)  # nothing before five idle times were seen


def test_predictive_refreshes_when_the_window_opens_early() -> None:
    # Idle times of 1..20 s: the window opens before the keep-alive runs out, so pings refresh
    # every 4 s from the request until the high percentile (or the next arrival).
    arrivals = np.cumsum(np.tile(np.arange(1.0, 21.0), 3))
    strategy = PredictiveWarming("p", keep_alive_s=5.0, refresh_s=4.0, min_samples=20)
    actions = strategy.build_actions(arrivals, float(arrivals[-1]) + 60)
    last = float(arrivals[-1])
    tail = [round(a.at_s - last, 6) for a in actions if a.at_s > last]
    assert tail == [4.0, 8.0, 12.0, 16.0, 20.0]  # p99 of 1..20 is 20 s, × 1.1 = 22 s


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0.01, 30.0), min_size=12, max_size=60), st.integers(0, 59))
def test_predictive_is_causal(gaps: list[float], cut: int) -> None:
    """Actions planned before arrival k do not depend on arrivals after k."""
    arrivals = np.cumsum(gaps)
    cut = min(cut, len(arrivals) - 2)
    strategy = PredictiveWarming("p", keep_alive_s=5.0, min_samples=5)
    full = strategy.build_actions(arrivals, float(arrivals[-1]) + 10)
    changed = arrivals.copy()
    changed[cut + 1:] += 1000.0  # the future is different
    other = strategy.build_actions(changed, float(changed[-1]) + 10)
    before = arrivals[cut]
    assert [a.at_s for a in full if a.at_s < before] == [a.at_s for a in other if a.at_s < before]


@settings(max_examples=40, deadline=None)
@given(st.floats(0.5, 20.0), st.integers(1, 5), st.floats(1.0, 300.0))
def test_ping_actions_stay_inside_the_run(interval: float, fan_out: int, duration: float) -> None:
    actions = PingWarming("p", interval, fan_out).build_actions(np.zeros(0), duration)
    times = [a.at_s for a in actions]
    assert times == sorted(times) and all(0 <= t < duration for t in times)
    assert len(actions) == math.ceil(duration / interval - 1e-9)
