"""Cost model of warming strategies: a pricing table and pure arithmetic over measured usage.

Default prices (`Pricing()`), AWS list prices for us-east-1, x86, as published on
aws.amazon.com/lambda/pricing and aws.amazon.com/fargate/pricing (2024-2025; re-check them
before quoting a figure, and override any of them in the suite's `[pricing]` table):

* Lambda requests: $0.20 per million.
* Lambda on-demand duration: $0.0000166667 per GB-second (first pricing tier).
* Provisioned concurrency: $0.0000041667 per GB-second while configured, and invocations on
  provisioned instances at $0.0000097222 per GB-second.
* Lambda bills the init phase of on-demand cold starts since 1 August 2025 (`bill_init`).
* Always-on container: AWS Fargate, 0.25 vCPU + 0.5 GB ($0.04048 per vCPU-hour and $0.004445
  per GB-hour) = $0.0123425 per hour.

A month is 730 hours (AWS's convention). Costs measured over an experiment are extrapolated to
a month of the workload's own time (trace time for a compressed replay).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

MONTH_S = 730 * 3600.0
PRICING_SOURCE = ("AWS list prices, us-east-1, x86: aws.amazon.com/lambda/pricing and "
                  "aws.amazon.com/fargate/pricing (2024-2025)")


@dataclass(frozen=True, slots=True)
class Pricing:
    """Prices in US dollars; every field is a `[pricing]` key."""

    request_usd_per_million: float = 0.20
    gb_second_usd: float = 0.0000166667
    provisioned_gb_second_usd: float = 0.0000041667
    provisioned_duration_gb_second_usd: float = 0.0000097222
    container_usd_per_hour: float = 0.0123425
    memory_mb: float = 128.0
    bill_init: bool = True
    billing_granularity_ms: float = 1.0
    source: str = PRICING_SOURCE

    @property
    def memory_gb(self) -> float:
        """Function memory in GB (Lambda's GB-second uses 1024 MB)."""
        return self.memory_mb / 1024.0

    @property
    def request_usd(self) -> float:
        """Price of one request."""
        return self.request_usd_per_million / 1e6

    def billed_ms(self, duration_ms: NDArray[np.float64] | float) -> NDArray[np.float64]:
        """Durations rounded up to the billing granularity."""
        step = self.billing_granularity_ms
        return np.ceil(np.asarray(duration_ms, dtype=np.float64) / step - 1e-9) * step


@dataclass(frozen=True, slots=True)
class Usage:
    """What one strategy consumed over `span_s` seconds of the workload's own time."""

    span_s: float
    user_requests: int
    user_cold: int
    warming_requests: int = 0
    user_on_demand_ms: float = 0.0  # billed ms of user invocations on on-demand instances
    user_provisioned_ms: float = 0.0  # ... on provisioned instances
    warming_on_demand_ms: float = 0.0
    warming_provisioned_ms: float = 0.0
    provisioned_instance_s: float = 0.0  # provisioned instances × seconds configured


@dataclass(frozen=True, slots=True)
class CostBreakdown:
    """A strategy's cost over the experiment, split by kind, and scaled to a month."""

    requests_usd: float
    duration_usd: float
    provisioned_usd: float
    total_usd: float
    monthly_usd: float
    per_million_usd: float  # per million user requests
    fixed_monthly_usd: float  # warming and provisioning: paid whatever the traffic
    variable_per_request_usd: float  # per user request


def compute_cost(usage: Usage, pricing: Pricing) -> CostBreakdown:
    """The cost of `usage` at `pricing`."""
    gb = pricing.memory_gb
    requests = (usage.user_requests + usage.warming_requests) * pricing.request_usd
    on_demand_ms = usage.user_on_demand_ms + usage.warming_on_demand_ms
    provisioned_ms = usage.user_provisioned_ms + usage.warming_provisioned_ms
    duration = (on_demand_ms * pricing.gb_second_usd
                + provisioned_ms * pricing.provisioned_duration_gb_second_usd) * gb / 1000.0
    provisioned = usage.provisioned_instance_s * gb * pricing.provisioned_gb_second_usd
    total = requests + duration + provisioned
    scale = MONTH_S / usage.span_s if usage.span_s > 0 else math.nan
    fixed = (usage.warming_requests * pricing.request_usd + provisioned
             + (usage.warming_on_demand_ms * pricing.gb_second_usd
                + usage.warming_provisioned_ms * pricing.provisioned_duration_gb_second_usd) * gb / 1000.0)
    variable = total - fixed
    per_request = variable / usage.user_requests if usage.user_requests else math.nan
    per_million = total / usage.user_requests * 1e6 if usage.user_requests else math.nan
    return CostBreakdown(requests, duration, provisioned, total, total * scale, per_million,
                         fixed * scale, per_request)


def compute_cost_per_avoided_cold(cost: CostBreakdown, cold_rate: float, baseline: CostBreakdown,
                                  baseline_cold_rate: float) -> float:
    """Extra dollars per cold start avoided, against the baseline, per user request.

    NaN when the strategy avoids no cold starts (it buys nothing) or either side has no data.
    """
    avoided = baseline_cold_rate - cold_rate
    extra = cost.per_million_usd / 1e6 - baseline.per_million_usd / 1e6
    if not (avoided > 0) or math.isnan(extra):
        return math.nan
    return extra / avoided


def compute_container_monthly_usd(pricing: Pricing) -> float:
    """An always-on container for a month."""
    return pricing.container_usd_per_hour * MONTH_S / 3600.0


def compute_break_even_requests(cost: CostBreakdown, pricing: Pricing) -> float:
    """User requests per month at which the strategy costs as much as an always-on container.

    Above it the container is cheaper. 0 when even idle the strategy costs more (its fixed part
    exceeds the container); inf when requests cost nothing.
    """
    room = compute_container_monthly_usd(pricing) - cost.fixed_monthly_usd
    if room <= 0:
        return 0.0
    if not cost.variable_per_request_usd > 0:
        return math.inf
    return room / cost.variable_per_request_usd


def build_cost_curve_frame(costs: dict[str, CostBreakdown], pricing: Pricing,
                           requests_per_month: NDArray[np.float64] | None = None) -> pd.DataFrame:
    """Monthly cost against monthly user requests for each strategy and the container.

    Columns: series, requests_per_month, monthly_usd, kind (serverless | container). The
    fixed part (pings, provisioned concurrency) is taken as independent of traffic; for the
    predictive strategy, whose pings follow the traffic, this is an approximation.
    """
    if requests_per_month is None:
        requests_per_month = np.logspace(3, 10, 57)
    rows = []
    for name, cost in costs.items():
        variable = cost.variable_per_request_usd if not math.isnan(cost.variable_per_request_usd) else 0.0
        monthly = cost.fixed_monthly_usd + requests_per_month * variable
        rows += [{"series": name, "requests_per_month": r, "monthly_usd": m, "kind": "serverless"}
                 for r, m in zip(requests_per_month.tolist(), monthly.tolist(), strict=True)]
    container = compute_container_monthly_usd(pricing)
    rows += [{"series": "always-on container", "requests_per_month": r, "monthly_usd": container,
              "kind": "container"} for r in requests_per_month.tolist()]
    return pd.DataFrame(rows, columns=["series", "requests_per_month", "monthly_usd", "kind"])


def describe_pricing(pricing: Pricing) -> list[tuple[str, str]]:
    """(item, price) rows for the report."""
    return [
        ("requests", f"${pricing.request_usd_per_million:g} per million"),
        ("on-demand duration", f"${pricing.gb_second_usd:.10g} per GB-s"),
        ("provisioned concurrency", f"${pricing.provisioned_gb_second_usd:.10g} per GB-s configured"),
        ("duration on provisioned", f"${pricing.provisioned_duration_gb_second_usd:.10g} per GB-s"),
        ("always-on container", f"${pricing.container_usd_per_hour:g} per hour"),
        ("function memory", f"{pricing.memory_mb:g} MB"),
        ("init phase billed", "yes" if pricing.bill_init else "no"),
        ("source", pricing.source),
    ]
