"""What a strategy bought and cost: one record per strategy, measured or simulated.

The experiment and the simulator both produce `StrategyOutcome`s, so a report can put a
prediction beside a measurement, and the charts read one flat frame of them.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from coldbench.warmer.cost import (
    CostBreakdown,
    Pricing,
    Usage,
    compute_break_even_requests,
    compute_cost_per_avoided_cold,
)

NAN = math.nan
BASELINE = "none"


@dataclass(frozen=True, slots=True)
class StrategyOutcome:
    """A strategy's effect on user requests, its own warming traffic, and its cost."""

    strategy: str
    kind: str  # none | ping | provisioned | predictive
    source: str  # measured | simulated
    description: str
    user_requests: int
    user_labelled: int
    user_cold: float  # simulated: mean over replicates
    cold_rate: float
    cold_low: float  # measured: Wilson interval; simulated: Monte-Carlo percentile interval
    cold_high: float
    usage: Usage
    cost: CostBreakdown
    p50_ms: float = NAN
    p50_low_ms: float = NAN
    p50_high_ms: float = NAN
    p99_ms: float = NAN
    p99_low_ms: float = NAN
    p99_high_ms: float = NAN
    p99_supported: bool = False
    user_errors: int = 0
    warming_requests: float = 0.0
    warming_cold: float = 0.0
    warming_errors: int = 0
    fan_out: int = 0
    fan_out_rounds: int = 0
    fan_out_efficiency: float = NAN  # mean over ping rounds of distinct instances / fan_out
    full_fan_out_share: float = NAN  # share of rounds that reached fan_out distinct instances
    collisions: float = 0.0  # user requests sent while a warming invocation was in flight
    collisions_cold: float = 0.0
    provisioned_utilisation: float = NAN  # busy share of provisioned instance-time (user work)
    spill_over: float = NAN  # user requests in a provisioned window served elsewhere
    spill_over_share: float = NAN
    seconds_to_ready: tuple[float, ...] = ()
    cost_per_avoided_cold_usd: float = NAN
    break_even_requests_per_month: float = NAN
    replicates: int = 0


def complete_outcomes(outcomes: Sequence[StrategyOutcome], pricing: Pricing) -> list[StrategyOutcome]:
    """Fill in the figures that need the baseline or the pricing: $ per avoided cold start
    (against the `none` strategy of the same source) and the container break-even traffic."""
    baselines = {o.source: o for o in outcomes if o.kind == BASELINE}
    done = []
    for outcome in outcomes:
        base = baselines.get(outcome.source)
        per_avoided = NAN
        if base is not None and outcome is not base:
            per_avoided = compute_cost_per_avoided_cold(outcome.cost, outcome.cold_rate,
                                                        base.cost, base.cold_rate)
        done.append(dataclasses.replace(
            outcome, cost_per_avoided_cold_usd=per_avoided,
            break_even_requests_per_month=compute_break_even_requests(outcome.cost, pricing)))
    return done


def build_outcome_frame(outcomes: Sequence[StrategyOutcome]) -> pd.DataFrame:
    """One row per outcome: every scalar field, plus usage_* and cost_* columns."""
    rows = []
    for outcome in outcomes:
        row = {f.name: getattr(outcome, f.name) for f in dataclasses.fields(outcome)
               if f.name not in ("usage", "cost", "seconds_to_ready")}
        row["seconds_to_ready"] = list(outcome.seconds_to_ready)
        row.update({f"usage_{k}": v for k, v in dataclasses.asdict(outcome.usage).items()})
        row.update({f"cost_{k}": v for k, v in dataclasses.asdict(outcome.cost).items()})
        rows.append(row)
    return pd.DataFrame(rows)


def outcome_to_record(outcome: StrategyOutcome) -> dict[str, object]:
    """A JSON-ready dict (NaN and inf become None)."""
    record = dataclasses.asdict(outcome)
    return _clean(record)  # type: ignore[return-value]


def outcome_from_record(record: dict[str, object]) -> StrategyOutcome:
    """Rebuild a StrategyOutcome from `outcome_to_record` output."""
    fields = {f.name: f for f in dataclasses.fields(StrategyOutcome)}
    values = {k: (NAN if v is None and k in fields and fields[k].default is NAN else v)
              for k, v in record.items() if k in fields}
    values["usage"] = Usage(**_restore(record["usage"]))  # type: ignore[arg-type]
    values["cost"] = CostBreakdown(**_restore(record["cost"]))  # type: ignore[arg-type]
    values["seconds_to_ready"] = tuple(record.get("seconds_to_ready") or ())  # type: ignore[arg-type]
    for key in ("cold_rate", "cold_low", "cold_high"):
        if values.get(key) is None:
            values[key] = NAN
    return StrategyOutcome(**values)  # type: ignore[arg-type]


def _restore(table: object) -> dict[str, object]:
    assert isinstance(table, dict)
    return {k: (NAN if v is None else v) for k, v in table.items()}


def _clean(value: object) -> object:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value
