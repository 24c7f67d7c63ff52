"""Budgets and guards: a suite may not send more, faster or longer than it says (pure).

Defaults are safe for a shared endpoint; raising them is an explicit `[budget]` table:

    [budget]
    max_requests = 100000     # probes in the whole run
    max_concurrency = 256     # in flight at once, all targets together
    max_rate = 2000           # requests per second, per rate scenario
    max_duration = "24h"      # planned idle time of the longest lane / load duration

A 429 answer makes its lane back off: at least `Retry-After`, and exponentially longer while
429s continue (capped), rather than hammering a throttled target.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from coldbench.errors import ConfigError
from coldbench.plan import Plan
from coldbench.suite import Suite
from coldbench.units import format_duration_s, parse_duration_s

DEFAULT_MAX_REQUESTS = 100_000
DEFAULT_MAX_CONCURRENCY = 256
DEFAULT_MAX_RATE_PER_S = 2_000.0
DEFAULT_MAX_DURATION_S = 24 * 3600.0
BACKOFF_START_S = 1.0
BACKOFF_CAP_S = 60.0
_KEYS = ("max_requests", "max_concurrency", "max_rate", "max_duration")


@dataclass(frozen=True, slots=True)
class Budget:
    """The limits a run must stay within."""

    max_requests: int = DEFAULT_MAX_REQUESTS
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY
    max_rate_per_s: float = DEFAULT_MAX_RATE_PER_S
    max_duration_s: float = DEFAULT_MAX_DURATION_S


def build_budget(table: dict[str, Any], source: str) -> Budget:
    """Read a suite's `[budget]` table (missing keys keep their safe defaults)."""
    for key in table:
        if key not in _KEYS:
            raise ConfigError(f"{source}: budget.{key}: unknown key; valid keys: {', '.join(_KEYS)}")
    values: dict[str, Any] = {}
    for key in ("max_requests", "max_concurrency"):
        if key in table:
            value = table[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{source}: budget.{key}: expected a positive integer, got {value!r}")
            values[key] = value
    if "max_rate" in table:
        rate = table["max_rate"]
        if isinstance(rate, bool) or not isinstance(rate, int | float) or rate <= 0:
            raise ConfigError(f"{source}: budget.max_rate: expected a positive number, got {rate!r}")
        values["max_rate_per_s"] = float(rate)
    if "max_duration" in table:
        try:
            values["max_duration_s"] = parse_duration_s(table["max_duration"], "budget.max_duration")
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from None
    return Budget(**values)


def estimate_load_requests(suite: Suite) -> int:
    """Requests that load scenarios will send (closed loops by duration are not bounded here)."""
    total = 0
    for scenario in suite.scenarios:
        if scenario.type == "rate":
            total += int(scenario.rate_per_s * scenario.duration_s) * len(scenario.targets)
        elif scenario.type == "closed" and scenario.count:
            total += scenario.count * len(scenario.targets)
    return total


def check_budget(suite: Suite, plan: Plan, budget: Budget) -> None:
    """Raise ConfigError naming the budget key to raise when the plan would exceed it."""
    src = suite.path
    requests = plan.probe_count + estimate_load_requests(suite)
    if requests > budget.max_requests:
        raise ConfigError(
            f"{src}: budget.max_requests: the suite plans {requests} requests, over the budget of "
            f"{budget.max_requests}; raise [budget] max_requests or shrink the suite"
        )
    for scenario in suite.scenarios:
        if scenario.type in ("burst", "closed") and scenario.concurrency > budget.max_concurrency:
            raise ConfigError(
                f"{src}: budget.max_concurrency: scenario {scenario.name!r} asks for concurrency "
                f"{scenario.concurrency}, over {budget.max_concurrency}; raise [budget] max_concurrency"
            )
        if scenario.type == "rate" and scenario.rate_per_s > budget.max_rate_per_s:
            raise ConfigError(
                f"{src}: budget.max_rate: scenario {scenario.name!r} asks for {scenario.rate_per_s:g}/s, "
                f"over {budget.max_rate_per_s:g}/s; raise [budget] max_rate"
            )
    duration = max([plan.estimated_duration_s] + [s.duration_s for s in suite.scenarios])
    if duration > budget.max_duration_s:
        raise ConfigError(
            f"{src}: budget.max_duration: the suite runs at least {format_duration_s(duration)}, over "
            f"{format_duration_s(budget.max_duration_s)}; raise [budget] max_duration"
        )


def next_backoff_s(retry_after_s: float | None, consecutive_429: int) -> float:
    """Seconds a lane waits after its `consecutive_429`-th 429 in a row (>= Retry-After)."""
    exponential = min(BACKOFF_CAP_S, BACKOFF_START_S * 2 ** max(0, consecutive_429 - 1))
    return max(retry_after_s or 0.0, exponential)


def parse_retry_after_s(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds form; an HTTP date counts as unknown)."""
    if not value:
        return None
    try:
        return max(0.0, float(value.strip()))
    except ValueError:
        return None
