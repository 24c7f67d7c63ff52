"""Planner: Suite → per-target lanes of timed steps. Pure and seeded; no I/O, no clock.

A target's lane is the ordered list of its steps. Each step waits `planned_gap_s` after the end
of the previous response on that target (the idle time the platform sees), then sends its probes
together (one probe, or a burst), or drives a load scenario. Lanes run independently, so a run
lasts about as long as the longest lane, not the sum of all.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from coldbench.suite import ScenarioSpec, Suite

# Load steps number their requests from here: block k holds ids LOAD_ID_BASE + k·LOAD_ID_BLOCK + i.
LOAD_ID_BASE = 1_000_000_000
LOAD_ID_BLOCK = 100_000_000


@dataclass(frozen=True, slots=True)
class PlannedProbe:
    """One request to send; `probe_id` is unique and stable for a given suite and seed."""

    probe_id: int
    target: str
    scenario: str
    scenario_type: str
    seq: int
    planned_gap_s: float | None
    phase: str = "user"
    connection: str | None = None
    client: str | None = None  # the scenario's `client` choice (lean_probe.uses_lean_client)


@dataclass(frozen=True, slots=True)
class Step:
    """Probes sent together after an idle gap, plus an optional action before sending."""

    planned_gap_s: float | None  # None: send at once (the lane's first step)
    probes: tuple[PlannedProbe, ...]
    action: str | None = None  # e.g. "force_cold" before a config_update probe
    load: ScenarioSpec | None = None  # a closed/rate scenario run on this lane
    id_base: int = 0  # probe ids of a load step: id_base + request index


@dataclass(frozen=True, slots=True)
class Plan:
    """The whole run: one lane of steps per target."""

    seed: int
    lanes: dict[str, tuple[Step, ...]] = field(default_factory=dict)

    @property
    def probe_count(self) -> int:
        """Total number of planned (non-load) probes."""
        return sum(len(step.probes) for lane in self.lanes.values() for step in lane)

    def probes(self) -> list[PlannedProbe]:
        """All planned probes in probe_id order."""
        found = [p for lane in self.lanes.values() for step in lane for p in step.probes]
        return sorted(found, key=lambda p: p.probe_id)

    def lane_duration_s(self, target: str) -> float:
        """Sum of planned idle gaps and load durations on one lane (a lower bound of its time)."""
        return sum((step.planned_gap_s or 0.0) + (step.load.duration_s if step.load else 0.0)
                   for step in self.lanes[target])

    @property
    def estimated_duration_s(self) -> float:
        """Lower bound of the run's wall time: the longest lane."""
        return max((self.lane_duration_s(t) for t in self.lanes), default=0.0)


RawStep = tuple[float | None, list[dict[str, object]], str | None]


def build_plan(suite: Suite, seed: int | None = None) -> Plan:
    """Build the seeded plan for `suite`; the same suite and seed always give the same plan."""
    seed = suite.seed if seed is None else seed
    raw_lanes: dict[str, list[tuple[float | None, list[dict], str | None, ScenarioSpec]]] = {
        t.name: [] for t in suite.targets
    }
    for scenario_index, scenario in enumerate(suite.scenarios):
        for target in scenario.targets:
            rng = random.Random(f"{seed}:{scenario_index}:{scenario.name}:{target}")
            raw_lanes[target].extend((*step, scenario) for step in _scenario_steps(scenario, rng))
    lanes: dict[str, tuple[Step, ...]] = {}
    probe_id = 0
    load_index = 0
    for target in raw_lanes:  # suite order of targets → stable ids
        steps: list[Step] = []
        seq = 0
        for index, (gap_s, probe_specs, action, scenario) in enumerate(raw_lanes[target]):
            planned_gap = None if index == 0 else gap_s
            if action == "load":
                steps.append(Step(planned_gap_s=planned_gap, probes=(), load=scenario,
                                  id_base=LOAD_ID_BASE + load_index * LOAD_ID_BLOCK))
                load_index += 1
                continue
            probes = []
            for spec in probe_specs:
                probes.append(PlannedProbe(probe_id=probe_id, target=target, seq=seq,
                                           planned_gap_s=planned_gap, **spec))
                probe_id += 1
                seq += 1
            steps.append(Step(planned_gap_s=planned_gap, probes=tuple(probes), action=action))
        if steps:
            lanes[target] = tuple(steps)
    return Plan(seed=seed, lanes=lanes)


def _scenario_steps(scenario: ScenarioSpec, rng: random.Random) -> list[RawStep]:
    """Steps of one scenario on one target: (gap before, probe specs, action)."""
    base: dict[str, object] = {"scenario": scenario.name, "scenario_type": scenario.type,
                               "connection": scenario.connection, "client": scenario.client}
    if scenario.type == "idle_gap":
        gaps = [g for g in scenario.gaps_s for _ in range(scenario.repetitions)]
        if scenario.shuffle:
            rng.shuffle(gaps)
        # The first probe primes the target; each later probe measures the gap before it. The
        # primer follows an unknown idle time (and, with several targets, starts together with
        # every other lane's), so like the warm scenario's primer it is recorded as "forcing",
        # not as a user sample.
        steps: list[RawStep] = [(0.0, [dict(base, phase="forcing")], None)]
        steps += [(_jittered(g, scenario, rng), [dict(base)], None) for g in gaps]
        return steps
    if scenario.type == "burst":
        rounds: list[RawStep] = [(scenario.pause_s, [dict(base) for _ in range(scenario.concurrency)], None)
                                 for _ in range(scenario.rounds)]
        return rounds
    if scenario.type == "warm":
        # One priming request (may be cold), then back-to-back warm probes.
        prime = dict(base, phase="forcing")
        warm: list[RawStep] = [(scenario.pause_s, [prime], None)]
        return warm + [(0.0, [dict(base)], None) for _ in range(scenario.count)]
    if scenario.type == "config_update":
        return [(scenario.pause_s, [dict(base)], "force_cold") for _ in range(scenario.repetitions)]
    return [(0.0, [], "load")]  # closed / rate: one step that the load engine drives


def _jittered(gap_s: float, scenario: ScenarioSpec, rng: random.Random) -> float:
    """Apply the scenario's seeded jitter to one gap (never below zero)."""
    spread = scenario.jitter_s + gap_s * scenario.jitter_fraction
    if spread <= 0:
        return gap_s
    return max(0.0, gap_s + rng.uniform(-spread, spread))
