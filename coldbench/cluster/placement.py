"""Placement of a cluster run (pure): which agent location each lane needs, where agents go.

A target (or a scenario) may require an agent location, `agent = { region = "eu-west-1" }`.
Each `key = value` pair names one Ray custom resource, `key:value` (here `region:eu-west-1`),
that a node must offer for an agent on it to probe that target; Ray's built-in `node:<ip>`
resource pins a target to one host (`agent = { node = "10.0.0.5" }`). A lane needs the union
of its target's and its scenarios' requirements.

Nodes come in as plain dicts shaped like `ray.nodes()` entries, so this module never needs Ray.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from coldbench.errors import ConfigError
from coldbench.plan import Plan
from coldbench.shard import shard_plan
from coldbench.suite import Suite

# Resources every Ray node has; they say nothing about an agent's location.
_BUILTIN_RESOURCES = ("CPU", "GPU", "memory", "object_store_memory")


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """One Ray node as placement sees it."""

    node_id: str
    address: str
    alive: bool
    resources: Mapping[str, float] = field(default_factory=dict)

    def offers(self, required: Iterable[str]) -> bool:
        """True when this node is alive and has every resource in `required`."""
        return self.alive and all(self.resources.get(name, 0.0) > 0 for name in required)

    @property
    def location_resources(self) -> tuple[str, ...]:
        """The node's custom resources (its location labels), sorted."""
        return tuple(sorted(r for r in self.resources
                            if r not in _BUILTIN_RESOURCES and not r.startswith("node:__")))


@dataclass(frozen=True, slots=True)
class ShardAssignment:
    """One shard of the plan and the node its agent runs on."""

    node_id: str
    requirements: frozenset[str]
    worker: int  # index within its placement group (load shares, id interleaving)
    workers: int  # agents in its placement group
    plan: Plan


def build_agent_requirements(agent: Any, where: str) -> frozenset[str]:
    """Ray resource names for one `agent = { key = value, ... }` table; ConfigError if malformed."""
    if agent is None:
        return frozenset()
    if not isinstance(agent, Mapping):
        raise ConfigError(f'{where}: expected a table such as {{ region = "eu-west-1" }}, '
                          f"got {type(agent).__name__}")
    names = set()
    for key, value in agent.items():
        if isinstance(value, bool) or not isinstance(value, str | int | float) or str(value) == "":
            raise ConfigError(f"{where}.{key}: expected a string such as \"eu-west-1\", got {value!r}")
        names.add(f"{key}:{value}")
    return frozenset(names)


def build_lane_requirements(suite: Suite, plan: Plan) -> dict[str, frozenset[str]]:
    """Required resources of every lane in `plan`: its target's `agent` plus its scenarios'."""
    by_scenario = {
        s.name: build_agent_requirements(dict(s.options).get("agent"),
                                         f"{suite.path}: scenarios[{s.name}].agent")
        for s in suite.scenarios
    }
    lanes: dict[str, frozenset[str]] = {}
    for name in plan.lanes:
        target = suite.target(name)
        required = set(build_agent_requirements(dict(target.options).get("agent"),
                                                f"{suite.path}: targets[{name}].agent"))
        for scenario in suite.scenarios:
            if name in scenario.targets:
                required |= by_scenario[scenario.name]
        lanes[name] = frozenset(required)
    return lanes


def nodes_from_ray(raw_nodes: Iterable[Mapping[str, Any]]) -> list[NodeInfo]:
    """NodeInfo for each `ray.nodes()`-shaped dict, sorted by address then id (stable order)."""
    nodes = [
        NodeInfo(
            node_id=str(raw.get("NodeID", "")),
            address=str(raw.get("NodeManagerAddress", "")),
            alive=bool(raw.get("Alive", raw.get("alive", False))),
            resources={str(k): float(v) for k, v in (raw.get("Resources") or {}).items()},
        )
        for raw in raw_nodes
    ]
    return sorted(nodes, key=lambda n: (n.address, n.node_id))


def eligible_nodes(required: Iterable[str], nodes: Sequence[NodeInfo]) -> list[NodeInfo]:
    """The live nodes that offer every required resource, in the given order."""
    required = tuple(required)
    return [node for node in nodes if node.offers(required)]


def check_placement(lane_requirements: Mapping[str, frozenset[str]], nodes: Sequence[NodeInfo],
                    source: str = "<suite>") -> None:
    """Raise ConfigError naming the first lane no live node can host (before anything is sent)."""
    live = [n for n in nodes if n.alive]
    if not live:
        raise ConfigError("--cluster: the Ray cluster has no live node; start one with `ray start`")
    for lane, required in lane_requirements.items():
        if eligible_nodes(required, live):
            continue
        offered = sorted({r for n in live for r in n.location_resources})
        missing = sorted(r for r in required if not any(n.resources.get(r, 0) > 0 for n in live))
        need = ", ".join(missing) if missing else " + ".join(sorted(required)) + " on one node"
        raise ConfigError(
            f"{source}: targets[{lane}].agent: no live Ray node offers {need} "
            f"(nodes offer: {', '.join(offered) or 'no custom resources'}); start a node with "
            f"`ray start --address=HEAD --resources='{{\"{sorted(required)[0]}\": 1}}'`"
        )


def assign_shards(plan: Plan, lane_requirements: Mapping[str, frozenset[str]],
                  nodes: Sequence[NodeInfo], agents_per_node: int = 1) -> list[ShardAssignment]:
    """Split `plan` into shards and place each on a node (check_placement first).

    Lanes that need the same resources form a placement group; each group is split with
    `shard_plan`, the same split `--workers` uses, over `agents_per_node` agents on every
    eligible node (one lane stays whole on one agent; load steps are shared by all agents of
    their group). Nodes are used round-robin, so a group spreads over nodes before doubling up.
    """
    groups: dict[frozenset[str], list[str]] = {}
    for lane in plan.lanes:
        groups.setdefault(lane_requirements.get(lane, frozenset()), []).append(lane)
    shards: list[ShardAssignment] = []
    for required, lanes in groups.items():
        group_plan = Plan(seed=plan.seed, lanes={lane: plan.lanes[lane] for lane in lanes})
        eligible = eligible_nodes(required, nodes)
        slots = [node for _ in range(max(1, agents_per_node)) for node in eligible]
        has_load = any(step.load is not None for lane in lanes for step in group_plan.lanes[lane])
        count = len(slots) if has_load else min(len(slots), len(lanes))
        for worker in range(count):
            part = shard_plan(group_plan, worker, count)
            if part.lanes:
                shards.append(ShardAssignment(slots[worker].node_id, required, worker, count, part))
    return shards


def rank_replacement_nodes(required: Iterable[str], nodes: Sequence[NodeInfo],
                           failed_node_id: str) -> list[NodeInfo]:
    """Live eligible nodes to re-plan a dead agent's work on; its own node (if alive) last."""
    eligible = eligible_nodes(required, nodes)
    return ([n for n in eligible if n.node_id != failed_node_id]
            + [n for n in eligible if n.node_id == failed_node_id])
