"""Sharding a plan across worker processes (pure). The cluster runner uses the same split.

Idle-gap lanes are whole: a target's lane belongs to one worker (round-robin by target), so its
gaps are timed by one clock. Load steps (closed/rate) run on every worker with an even share of
the rate or concurrency, and their request ids interleave (id_base + index·workers + worker).
"""

from __future__ import annotations

import dataclasses

from coldbench.plan import Plan, Step
from coldbench.suite import ScenarioSpec


def shard_plan(plan: Plan, worker: int, workers: int) -> Plan:
    """The part of `plan` that worker `worker` of `workers` runs."""
    if workers <= 1:
        return plan
    lanes: dict[str, tuple[Step, ...]] = {}
    for index, (target, steps) in enumerate(plan.lanes.items()):
        owner = index % workers == worker
        kept = tuple(
            dataclasses.replace(step, load=share_scenario(step.load, worker, workers))
            if step.load is not None else step
            for step in steps
            if owner or step.load is not None
        )
        if kept and any(step.load is not None or step.probes for step in kept):
            lanes[target] = kept
    return Plan(seed=plan.seed, lanes=lanes)


def share_scenario(scenario: ScenarioSpec, worker: int, workers: int) -> ScenarioSpec:
    """A closed scenario's concurrency and count split evenly (rate is split by the schedule)."""
    if scenario.type != "closed":
        return scenario
    return dataclasses.replace(
        scenario,
        concurrency=max(1, split_evenly(scenario.concurrency, worker, workers)),
        count=split_evenly(scenario.count, worker, workers) if scenario.count else 0,
    )


def split_evenly(total: int, worker: int, workers: int) -> int:
    """Worker `worker`'s share of `total` items (shares differ by at most one)."""
    return total // workers + (1 if worker < total % workers else 0)
