"""Measured outcome of one strategy from its samples: pure functions over a sample frame.

User requests (`phase == "user"`) give the cold-start rate (Wilson interval) and latency
percentiles (order-statistic intervals); warming invocations (`phase == "warming"`) never count
as user samples. Fan-out efficiency is distinct instances reached per ping round over the
round's fan-out. A collision is a user request sent while one of the strategy's warming
invocations was still in flight on the same function. Provisioned utilisation is the user work
done on provisioned instances over the provisioned instance-time; spill-over counts user
requests inside a provisioned window that an on-demand instance served.
"""

from __future__ import annotations

import math
from collections.abc import Set as AbstractSet

import numpy as np
import pandas as pd

from coldbench.stats import compute_percentile, compute_proportion
from coldbench.warmer.cost import Pricing, Usage, compute_cost
from coldbench.warmer.outcome import StrategyOutcome
from coldbench.warmer.strategies import ProvisionedWarming, Strategy, WarmAction
from coldbench.warmer.workloads import Workload


def compute_provisioned_instance_s(actions: tuple[WarmAction, ...], duration_s: float) -> float:
    """Provisioned instances × seconds configured over [0, duration] (experiment clock)."""
    total, count, since = 0.0, 0, 0.0
    for action in actions:
        if action.kind != "provision":
            continue
        total += count * (min(action.at_s, duration_s) - since)
        count, since = action.count, min(action.at_s, duration_s)
    return total + count * max(0.0, duration_s - since)


def count_collisions(users: pd.DataFrame, warming: pd.DataFrame) -> np.ndarray:
    """For each user sample, whether a warming invocation was in flight when it was sent."""
    if users.empty or warming.empty:
        return np.zeros(len(users), dtype=bool)
    starts = _seconds(warming["started_at"])
    ends = starts + warming["latency_ms"].fillna(0.0).to_numpy(dtype=np.float64) / 1000.0
    order = np.argsort(starts, kind="stable")
    starts, running_end = starts[order], np.maximum.accumulate(ends[order])
    user_start = _seconds(users["started_at"])
    before = np.searchsorted(starts, user_start, side="right") - 1
    collided = np.zeros(len(users), dtype=bool)
    has = before >= 0
    collided[has] = running_end[before[has]] > user_start[has]
    return collided


def _seconds(stamps: pd.Series) -> np.ndarray:
    """UTC timestamps as float seconds since the epoch (whatever the datetime resolution)."""
    epoch = pd.Timestamp(0, tz="UTC")
    return (pd.to_datetime(stamps, utc=True) - epoch).dt.total_seconds().to_numpy(dtype=np.float64)


def compute_fan_out(warming: pd.DataFrame, actions: tuple[WarmAction, ...]) -> tuple[float, float, int]:
    """(mean distinct instances / fan-out, share of rounds reaching full fan-out, rounds)."""
    fan_out = {a.round: a.count for a in actions if a.kind == "ping"}
    reached = warming[warming["instance_id"].notna()].groupby("seq")["instance_id"].nunique()
    if not fan_out or reached.empty:
        return math.nan, math.nan, 0
    ratios = np.array([reached.get(r, 0) / k for r, k in fan_out.items() if r in reached.index])
    return float(ratios.mean()), float(np.mean(ratios >= 1.0 - 1e-9)), int(ratios.size)


def compute_billed_ms(frame: pd.DataFrame, pricing: Pricing) -> np.ndarray:
    """Billed milliseconds per sample: platform duration if known, else server-side or client
    time; plus the init phase of cold starts when `pricing.bill_init`."""
    duration = frame["billed_ms"].astype("float64")
    duration = duration.fillna(frame["service_ms"].astype("float64")).fillna(frame["latency_ms"])
    billed = pricing.billed_ms(duration.fillna(0.0).to_numpy(dtype=np.float64))
    if pricing.bill_init:
        init = frame["init_ms"].astype("float64").fillna(0.0).to_numpy()
        billed = billed + np.where(frame["label"].eq("cold").to_numpy(), init, 0.0)
    return billed


def compute_measured_outcome(strategy: Strategy, frame: pd.DataFrame, workload: Workload,
                             actions: tuple[WarmAction, ...], pricing: Pricing,
                             provisioned_ids: AbstractSet[str] = frozenset(),
                             seconds_to_ready: tuple[float, ...] = ()) -> StrategyOutcome:
    """The outcome of one strategy from its lane's samples (user and warming)."""
    users = frame[frame["phase"].eq("user")]
    warming = frame[frame["phase"].eq("warming")]
    ok = users[users["error"].isna()]
    labelled = ok[ok["label"].isin(("cold", "warm"))]
    n_cold = int(labelled["label"].eq("cold").sum())
    rate = compute_proportion(n_cold, len(labelled))
    latency = ok["latency_ms"].to_numpy(dtype=np.float64)
    p50, p99 = compute_percentile(latency, 0.5), compute_percentile(latency, 0.99)
    collided = count_collisions(users, warming)
    efficiency, full_share, rounds = compute_fan_out(warming, actions)
    provisioned = _provisioned_mask(frame, provisioned_ids)
    billed = compute_billed_ms(frame, pricing)
    is_user = frame["phase"].eq("user").to_numpy()
    prov_s = compute_provisioned_instance_s(actions, workload.duration_s)
    usage = Usage(
        span_s=workload.span_s, user_requests=len(users), user_cold=n_cold,
        warming_requests=len(warming),
        user_on_demand_ms=float(billed[is_user & ~provisioned].sum()),
        user_provisioned_ms=float(billed[is_user & provisioned].sum()),
        warming_on_demand_ms=float(billed[~is_user & ~provisioned].sum()),
        warming_provisioned_ms=float(billed[~is_user & provisioned].sum()),
        provisioned_instance_s=prov_s * workload.compression,
    )
    spill, spill_share = _spill_over(strategy, users, workload, provisioned_ids)
    user_prov_s = float(billed[is_user & provisioned].sum()) / 1000.0
    cold_collisions = collided & users["label"].eq("cold").to_numpy()
    return StrategyOutcome(
        strategy=strategy.name, kind=strategy.kind, source="measured",
        description=strategy.describe(), user_requests=len(users), user_labelled=len(labelled),
        user_cold=float(n_cold), cold_rate=rate.p, cold_low=rate.low, cold_high=rate.high,
        usage=usage, cost=compute_cost(usage, pricing),
        p50_ms=p50.value, p50_low_ms=p50.low, p50_high_ms=p50.high, p99_ms=p99.value,
        p99_low_ms=p99.low, p99_high_ms=p99.high, p99_supported=p99.supported,
        user_errors=int(users["error"].notna().sum()), warming_requests=float(len(warming)),
        warming_cold=float(warming["label"].eq("cold").sum()),
        warming_errors=int(warming["error"].notna().sum()),
        fan_out=max((a.count for a in actions if a.kind == "ping"), default=0),
        fan_out_rounds=rounds, fan_out_efficiency=efficiency, full_fan_out_share=full_share,
        collisions=float(collided.sum()), collisions_cold=float(cold_collisions.sum()),
        provisioned_utilisation=user_prov_s / prov_s if prov_s and provisioned_ids else math.nan,
        spill_over=spill, spill_over_share=spill_share, seconds_to_ready=seconds_to_ready,
    )


def _window_count(strategy: Strategy, users: pd.DataFrame, workload: Workload) -> np.ndarray:
    """Provisioned instances requested when each user request was planned."""
    if not isinstance(strategy, ProvisionedWarming) or users.empty:
        return np.zeros(len(users), dtype=np.int64)
    seq = users["seq"].to_numpy(dtype=np.int64).clip(0, max(len(workload.arrivals_s) - 1, 0))
    times = np.asarray(workload.arrivals_s)[seq] if len(workload.arrivals_s) else np.zeros(len(users))
    return np.array([strategy.count_at(float(t)) for t in times], dtype=np.int64)


def _provisioned_mask(frame: pd.DataFrame, provisioned_ids: AbstractSet[str]) -> np.ndarray:
    """Samples served by a provisioned instance (known from the platform's instance list)."""
    if not provisioned_ids:
        return np.zeros(len(frame), dtype=bool)
    return frame["instance_id"].isin(list(provisioned_ids)).to_numpy()


def _spill_over(strategy: Strategy, users: pd.DataFrame, workload: Workload,
                provisioned_ids: AbstractSet[str]) -> tuple[float, float]:
    """User requests inside a provisioned window served by an on-demand instance.

    Without the platform's instance list, a cold user request inside a window is counted (a
    provisioned instance is never cold): a lower bound.
    """
    if not isinstance(strategy, ProvisionedWarming):
        return math.nan, math.nan
    in_window = _window_count(strategy, users, workload) > 0
    served = users[in_window & users["error"].isna().to_numpy()]
    if served.empty:
        return 0.0, math.nan
    if provisioned_ids:
        spilled = served["instance_id"].notna() & ~served["instance_id"].isin(list(provisioned_ids))
    else:
        spilled = served["label"].eq("cold")
    return float(spilled.sum()), float(spilled.mean())


def build_cold_timeline(frame: pd.DataFrame, workload: Workload, source: str = "measured") -> pd.DataFrame:
    """Labelled user requests as (strategy, source, t_s, cold) rows, t_s on the experiment clock."""
    users = frame[frame["phase"].eq("user") & frame["label"].isin(("cold", "warm"))
                  & frame["scenario"].eq("workload")]
    arrivals = np.asarray(workload.arrivals_s)
    seq = users["seq"].to_numpy(dtype=np.int64)
    valid = (seq >= 0) & (seq < arrivals.size)
    return pd.DataFrame({
        "strategy": users["target"].to_numpy()[valid], "source": source,
        "t_s": arrivals[seq[valid]] if arrivals.size else np.zeros(0),
        "cold": users["label"].eq("cold").to_numpy(dtype=np.float64)[valid],
    })
