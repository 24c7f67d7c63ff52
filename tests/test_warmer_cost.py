"""The cost model: arithmetic over usage, $ per avoided cold start, container break-even."""

from __future__ import annotations

import math

import numpy as np
import pytest

from coldbench.warmer.cost import (
    MONTH_S,
    Pricing,
    Usage,
    build_cost_curve_frame,
    compute_break_even_requests,
    compute_container_monthly_usd,
    compute_cost,
    compute_cost_per_avoided_cold,
)

GB_S = 0.0000166667


def test_request_and_duration_cost() -> None:
    pricing = Pricing(memory_mb=1024)
    usage = Usage(span_s=3600.0, user_requests=1000, user_cold=10, user_on_demand_ms=100_000.0)
    cost = compute_cost(usage, pricing)
    assert cost.requests_usd == pytest.approx(1000 * 0.20e-6)
    assert cost.duration_usd == pytest.approx(100.0 * GB_S)
    assert cost.provisioned_usd == 0 and cost.fixed_monthly_usd == 0
    assert cost.monthly_usd == pytest.approx(cost.total_usd * 730)
    assert cost.per_million_usd == pytest.approx(cost.total_usd / 1000 * 1e6)
    assert cost.variable_per_request_usd == pytest.approx(cost.total_usd / 1000)


def test_provisioned_and_warming_are_fixed_costs() -> None:
    pricing = Pricing(memory_mb=512)
    usage = Usage(span_s=MONTH_S, user_requests=100, user_cold=0, warming_requests=50,
                  warming_on_demand_ms=5000.0, user_provisioned_ms=2000.0,
                  provisioned_instance_s=MONTH_S)
    cost = compute_cost(usage, pricing)
    provisioned = MONTH_S * 0.5 * 0.0000041667
    assert cost.provisioned_usd == pytest.approx(provisioned)
    fixed = 50 * 0.2e-6 + provisioned + 5.0 * 0.5 * GB_S
    assert cost.fixed_monthly_usd == pytest.approx(fixed)
    user = 100 * 0.2e-6 + 2.0 * 0.5 * 0.0000097222
    assert cost.variable_per_request_usd == pytest.approx(user / 100)


def test_cost_per_avoided_cold_start() -> None:
    pricing = Pricing()
    base = compute_cost(Usage(3600, 1000, 400, user_on_demand_ms=1000 * 5.0), pricing)
    warm = compute_cost(Usage(3600, 1000, 0, warming_requests=900, user_on_demand_ms=1000 * 5.0,
                              warming_on_demand_ms=900 * 2.0), pricing)
    per_avoided = compute_cost_per_avoided_cold(warm, 0.0, base, 0.4)
    extra_per_request = (warm.total_usd - base.total_usd) / 1000
    assert per_avoided == pytest.approx(extra_per_request / 0.4)
    assert math.isnan(compute_cost_per_avoided_cold(warm, 0.5, base, 0.4))  # avoids nothing


def test_break_even_against_the_container() -> None:
    pricing = Pricing(container_usd_per_hour=0.01)
    container = compute_container_monthly_usd(pricing)
    assert container == pytest.approx(7.30)
    cost = compute_cost(Usage(3600, 1000, 0, user_on_demand_ms=1000 * 100.0), pricing)
    requests = compute_break_even_requests(cost, pricing)
    assert requests == pytest.approx(container / cost.variable_per_request_usd)
    pricey = compute_cost(Usage(3600, 10, 0, provisioned_instance_s=3600 * 100), pricing)
    assert compute_break_even_requests(pricey, pricing) == 0.0  # idle already dearer


def test_cost_curve_frame_has_every_series() -> None:
    pricing = Pricing()
    cost = compute_cost(Usage(3600, 1000, 10, user_on_demand_ms=5000.0), pricing)
    frame = build_cost_curve_frame({"none": cost}, pricing, np.array([1e3, 1e6, 1e9]))
    assert set(frame["series"]) == {"none", "always-on container"}
    none = frame[frame["series"].eq("none")]["monthly_usd"].to_numpy()
    assert np.allclose(none, np.array([1e3, 1e6, 1e9]) * cost.variable_per_request_usd)
    flat = frame[frame["kind"].eq("container")]["monthly_usd"].unique()
    assert flat.tolist() == [pytest.approx(compute_container_monthly_usd(pricing))]


def test_billing_rounds_up_to_the_granularity() -> None:
    pricing = Pricing(billing_granularity_ms=100.0)
    assert pricing.billed_ms(np.array([1.0, 100.0, 100.5])).tolist() == [100.0, 100.0, 200.0]
