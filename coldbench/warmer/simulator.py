"""Predict what a warming strategy buys and costs without invoking anything.

A seeded discrete-event simulation of one function's instance pool, replayed `replicates`
times (Monte-Carlo over the platform's idle lifetimes, drawn from a P(cold | idle gap) curve).
Events are the workload's user arrivals and the strategy's own actions (the very list the live
experiment executes). Routing follows Lambda and the sandbox: one invocation per instance; an
idle instance is picked provisioned first, then most recently used; otherwise a new instance
starts (a cold start). An idle on-demand instance is reclaimed after a lifetime drawn for that
idle period; provisioned instances never are, and receive work once ready.

Intervals are the 2.5th and 97.5th percentiles over replicates of the cold-start rate: the
spread the platform's randomness causes for this very arrival schedule.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from coldbench.warmer.cost import Pricing, Usage, compute_cost
from coldbench.warmer.curves import ColdCurve
from coldbench.warmer.outcome import StrategyOutcome
from coldbench.warmer.strategies import Strategy, WarmAction
from coldbench.warmer.workloads import Workload

_USER, _PING, _PROVISION, _DEPLOY = 0, 1, 2, 3
_BUSY, _EXPIRES, _LAST, _PROV, _ID = range(5)  # fields of an instance record (a list)


@dataclass(frozen=True, slots=True)
class ServiceModel:
    """How long invocations keep an instance busy (milliseconds) and provisioning takes."""

    warm_ms: float = 5.0  # a warm user invocation
    init_ms: float = 250.0  # added by a cold start
    ping_ms: float = 1.0  # a warming ping besides its hold
    ready_delay_s: float = 0.0  # provision action -> instances ready (windows after the start)


@dataclass
class ReplicateCounts:
    """Counters of one simulated replay."""

    user_cold: int = 0
    warming: int = 0
    warming_cold: int = 0
    collisions: int = 0
    collisions_cold: int = 0
    spill_over: int = 0
    in_window: int = 0
    fan_out_distinct: int = 0
    rounds: int = 0
    full_rounds: int = 0
    user_on_demand_ms: float = 0.0
    user_provisioned_ms: float = 0.0
    warming_on_demand_ms: float = 0.0
    warming_provisioned_ms: float = 0.0
    provisioned_instance_s: float = 0.0
    provisioned_busy_s: float = 0.0


class _Pool:
    """The instances of one replay; `draw()` yields idle lifetimes in order."""

    def __init__(self, curve: ColdCurve, rng: np.random.Generator, service: ServiceModel,
                 pricing: Pricing) -> None:
        self.curve, self.rng, self.service, self.pricing = curve, rng, service, pricing
        self.instances: list[list[float]] = []
        self._lifetimes: list[float] = []
        self._next_id = 0

    def draw(self) -> float:
        if not self._lifetimes:
            self._lifetimes = self.curve.draw_lifetimes_s(self.rng.random(256)).tolist()[::-1]
        return self._lifetimes.pop()

    def take(self, t: float) -> list[float] | None:
        """The idle instance an invocation at `t` goes to (None: none is idle, start one)."""
        best, alive = None, []
        for inst in self.instances:
            if not inst[_PROV] and inst[_BUSY] <= t and inst[_EXPIRES] <= t:
                continue  # reclaimed while idle
            alive.append(inst)
            if inst[_BUSY] <= t and (best is None or (inst[_PROV], inst[_LAST]) > (best[_PROV], best[_LAST])):
                best = inst
        self.instances = alive
        return best

    def invoke(self, t: float, busy_ms: float) -> tuple[list[float], bool]:
        """Route one invocation at `t`; return its instance and whether it was cold."""
        inst = self.take(t)
        cold = inst is None
        if inst is None:
            inst = [0.0, 0.0, 0.0, 0.0, float(self._next_id)]
            self._next_id += 1
            self.instances.append(inst)
            busy_ms += self.service.init_ms
        inst[_BUSY] = t + busy_ms / 1000.0
        inst[_LAST] = inst[_BUSY]
        if not inst[_PROV]:
            inst[_EXPIRES] = inst[_BUSY] + self.draw()
        return inst, cold

    def recycle(self, t: float) -> None:
        """A deploy: idle instances stop now, busy ones when they finish; none is reused."""
        self.instances = [i for i in self.instances if i[_BUSY] > t]
        for inst in self.instances:
            inst[_PROV], inst[_EXPIRES] = 0.0, inst[_BUSY]

    def provision(self, t: float, count: int, ready_at: float) -> None:
        """Set the provisioned count: start new ones (ready at `ready_at`) or demote extras."""
        current = [i for i in self.instances if i[_PROV]]
        for inst in current[count:]:
            inst[_PROV] = 0.0
            inst[_EXPIRES] = max(inst[_BUSY], t) + self.draw()
        for _ in range(count - len(current)):
            self.instances.append([ready_at, math.inf, -1.0, 1.0, float(self._next_id)])
            self._next_id += 1


def _events(arrivals_s: NDArray[np.float64], actions: tuple[WarmAction, ...],
            deploys_s: tuple[float, ...]) -> list[tuple[float, int, int]]:
    events = [(float(t), _USER, i) for i, t in enumerate(arrivals_s.tolist())]
    kinds = {"ping": _PING, "provision": _PROVISION}
    events += [(a.at_s, kinds[a.kind], i) for i, a in enumerate(actions)]
    events += [(t, _DEPLOY, i) for i, t in enumerate(deploys_s)]
    events.sort(key=lambda e: (e[0], -e[1]))  # deploy, provision, ping, user at equal times
    return events


def simulate_replicate(arrivals_s: NDArray[np.float64], actions: tuple[WarmAction, ...],
                       duration_s: float, curve: ColdCurve, service: ServiceModel,
                       pricing: Pricing, rng: np.random.Generator,
                       cold_out: NDArray[np.int64] | None = None,
                       deploys_s: tuple[float, ...] = ()) -> ReplicateCounts:
    """One replay of the workload and the actions; adds 1 to `cold_out[i]` if arrival i was cold.

    A deploy recycles every instance; provisioned ones are started again (ready after init).
    """
    pool = _Pool(curve, rng, service, pricing)
    counts = ReplicateCounts()
    init_billed = service.init_ms if pricing.bill_init else 0.0
    warming_until, provisioned, since = -math.inf, 0, 0.0
    for t, kind, index in _events(arrivals_s, actions, deploys_s):
        if kind == _DEPLOY:
            pool.recycle(t)
            pool.provision(t, provisioned, t + service.init_ms / 1000.0)
        elif kind == _PROVISION:
            action = actions[index]
            counts.provisioned_instance_s += provisioned * (t - since)
            provisioned, since = action.count, t
            pool.provision(t, action.count, t + (service.ready_delay_s if t > 0 else 0.0))
        elif kind == _PING:
            action = actions[index]
            busy_ms = action.hold_ms + service.ping_ms
            reached = set()
            for _ in range(action.count):
                inst, cold = pool.invoke(t, busy_ms)
                reached.add(inst[_ID])
                counts.warming += 1
                counts.warming_cold += cold
                billed = busy_ms + (init_billed if cold else 0.0)
                if inst[_PROV]:
                    counts.warming_provisioned_ms += billed
                else:
                    counts.warming_on_demand_ms += billed
            warming_until = max(warming_until, t + busy_ms / 1000.0)
            counts.rounds += 1
            counts.fan_out_distinct += len(reached)
            counts.full_rounds += len(reached) >= action.count
        else:
            collided = t < warming_until
            inst, cold = pool.invoke(t, service.warm_ms)
            counts.user_cold += cold
            counts.collisions += collided
            counts.collisions_cold += collided and cold
            if cold and cold_out is not None:
                cold_out[index] += 1
            if inst[_PROV]:
                counts.user_provisioned_ms += service.warm_ms
                counts.provisioned_busy_s += service.warm_ms / 1000.0
            else:
                counts.user_on_demand_ms += service.warm_ms + (init_billed if cold else 0.0)
            if provisioned > 0:
                counts.in_window += 1
                counts.spill_over += not inst[_PROV]
    counts.provisioned_instance_s += provisioned * max(0.0, duration_s - since)
    return counts


@dataclass(frozen=True, slots=True)
class SimulatedStrategy:
    """A strategy's simulated outcome and each arrival's simulated cold-start frequency."""

    outcome: StrategyOutcome
    p_cold_per_arrival: NDArray[np.float64]


def simulate_strategy(strategy: Strategy, workload: Workload, curve: ColdCurve,
                      service: ServiceModel, pricing: Pricing, replicates: int = 200,
                      seed: int = 0, actions: tuple[WarmAction, ...] | None = None) -> SimulatedStrategy:
    """Monte-Carlo replays of one strategy on one workload (seeded, deterministic)."""
    arrivals = np.asarray(workload.arrivals_s, dtype=np.float64)
    if actions is None:
        actions = strategy.build_actions(arrivals, workload.duration_s)
    cold_per_arrival = np.zeros(arrivals.size, dtype=np.int64)
    streams = np.random.SeedSequence([seed, _stable_hash(strategy.name)]).spawn(replicates)
    runs = [simulate_replicate(arrivals, actions, workload.duration_s, curve, service, pricing,
                               np.random.default_rng(s), cold_per_arrival, workload.deploys_s)
            for s in streams]
    outcome = summarise_replicates(strategy, workload, runs, pricing, actions)
    return SimulatedStrategy(outcome, cold_per_arrival / max(replicates, 1))


def summarise_replicates(strategy: Strategy, workload: Workload, runs: list[ReplicateCounts],
                         pricing: Pricing, actions: tuple[WarmAction, ...]) -> StrategyOutcome:
    """Means over replicates, with a percentile interval for the cold-start rate."""
    n = len(workload.arrivals_s)

    def mean(name: str) -> float:
        return float(np.mean([getattr(r, name) for r in runs])) if runs else math.nan

    rates = np.array([r.user_cold / n for r in runs]) if n and runs else np.array([math.nan])
    rate = float(np.mean(rates))
    scale = workload.compression
    usage = Usage(
        span_s=workload.span_s, user_requests=n, user_cold=round(mean("user_cold")),
        warming_requests=round(mean("warming")), user_on_demand_ms=mean("user_on_demand_ms"),
        user_provisioned_ms=mean("user_provisioned_ms"),
        warming_on_demand_ms=mean("warming_on_demand_ms"),
        warming_provisioned_ms=mean("warming_provisioned_ms"),
        provisioned_instance_s=mean("provisioned_instance_s") * scale,
    )
    fan_out = max((a.count for a in actions if a.kind == "ping"), default=0)
    distinct, rounds = mean("fan_out_distinct"), mean("rounds")
    prov_s = mean("provisioned_instance_s")
    return StrategyOutcome(
        strategy=strategy.name, kind=strategy.kind, source="simulated",
        description=strategy.describe(), user_requests=n, user_labelled=n,
        user_cold=mean("user_cold"), cold_rate=rate,
        cold_low=min(rate, float(np.percentile(rates, 2.5))),  # a skewed spread can leave the
        cold_high=max(rate, float(np.percentile(rates, 97.5))),  # mean outside the percentiles
        usage=usage, cost=compute_cost(usage, pricing),
        warming_requests=mean("warming"), warming_cold=mean("warming_cold"), fan_out=fan_out,
        fan_out_rounds=round(rounds),
        fan_out_efficiency=distinct / (rounds * fan_out) if rounds and fan_out else math.nan,
        full_fan_out_share=mean("full_rounds") / rounds if rounds else math.nan,
        collisions=mean("collisions"), collisions_cold=mean("collisions_cold"),
        provisioned_utilisation=mean("provisioned_busy_s") / prov_s if prov_s else math.nan,
        spill_over=mean("spill_over") if prov_s else math.nan,
        spill_over_share=mean("spill_over") / mean("in_window") if mean("in_window") else math.nan,
        replicates=len(runs),
    )


def _stable_hash(text: str) -> int:
    """A process-independent small hash (Python's hash() is salted per process)."""
    value = 2166136261
    for byte in text.encode():
        value = ((value ^ byte) * 16777619) & 0xFFFFFFFF
    return value


def simulate_strategies(strategies: tuple[Strategy, ...], workload: Workload, curve: ColdCurve,
                        service: ServiceModel, pricing: Pricing, replicates: int = 200,
                        seed: int = 0) -> list[SimulatedStrategy]:
    """Simulate every strategy on the same workload and curve."""
    return [simulate_strategy(s, workload, curve, service, pricing, replicates, seed)
            for s in strategies]
