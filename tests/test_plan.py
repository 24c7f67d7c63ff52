"""The planner is pure and seeded: same suite and seed → same plan; lanes per target."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from coldbench.plan import LOAD_ID_BASE, build_plan
from coldbench.shard import shard_plan, split_evenly
from coldbench.suite import parse_suite

SUITE = """
[suite]
seed = {seed}
[[targets]]
name = "a"
url = "http://127.0.0.1:1/"
[[targets]]
name = "b"
url = "http://127.0.0.1:1/"
[[scenarios]]
type = "idle_gap"
gaps = [{gaps}]
repetitions = {reps}
shuffle = true
[[scenarios]]
type = "burst"
concurrency = 3
rounds = 2
pause = "1s"
targets = ["b"]
"""


def _suite(seed: int = 1, gaps: str = '"0.5s", "2s", "5s"', reps: int = 5):
    return parse_suite(SUITE.format(seed=seed, gaps=gaps, reps=reps), "t.toml")


def test_lanes_are_per_target_and_independent() -> None:
    plan = build_plan(_suite())
    assert set(plan.lanes) == {"a", "b"}
    a_gaps = [s.planned_gap_s for s in plan.lanes["a"]]
    assert a_gaps[0] is None and sorted(a_gaps[1:]) == sorted([0.5, 2.0, 5.0] * 5)
    assert plan.estimated_duration_s == plan.lane_duration_s("b") == 37.5 + 2.0
    bursts = [s for s in plan.lanes["b"] if len(s.probes) == 3]
    assert len(bursts) == 2 and all(s.planned_gap_s == 1.0 for s in bursts)


def test_probe_ids_are_unique_and_dense() -> None:
    plan = build_plan(_suite())
    ids = [p.probe_id for p in plan.probes()]
    assert ids == list(range(plan.probe_count)) and plan.probe_count == 16 + 16 + 6


@settings(max_examples=50)
@given(seed=st.integers(0, 2**31), reps=st.integers(1, 6))
def test_same_seed_same_plan(seed: int, reps: int) -> None:
    assert build_plan(_suite(seed, reps=reps)) == build_plan(_suite(seed, reps=reps))


def test_shuffle_depends_on_seed() -> None:
    orders = {tuple(s.planned_gap_s for s in build_plan(_suite(seed)).lanes["a"]) for seed in range(5)}
    assert len(orders) > 1


def test_shards_cover_every_probe_once() -> None:
    text = SUITE.format(seed=3, gaps='"1s"', reps=2) + (
        '[[scenarios]]\ntype = "closed"\nconcurrency = 5\ncount = 11\n'
    )
    plan = build_plan(parse_suite(text, "t.toml"))
    shards = [shard_plan(plan, w, 2) for w in range(2)]
    ids = sorted(p.probe_id for s in shards for p in s.probes())
    assert ids == [p.probe_id for p in plan.probes()]
    loads = [step.load for s in shards for lane in s.lanes.values() for step in lane if step.load]
    assert sorted(x.count for x in loads) == [5, 5, 6, 6] and all(x.concurrency in (2, 3) for x in loads)
    assert all(step.id_base >= LOAD_ID_BASE for lane in plan.lanes.values() for step in lane if step.load)
    assert [split_evenly(7, w, 3) for w in range(3)] == [3, 2, 2]


def test_idle_gap_primer_is_not_a_user_sample() -> None:
    """The first probe of an idle-gap lane follows an unknown idle time (and starts together
    with every other lane's): phase "forcing", like the warm scenario's primer."""
    plan = build_plan(_suite())
    for lane in plan.lanes.values():
        first, *rest = [p for step in lane for p in step.probes if p.scenario_type == "idle_gap"]
        assert first.phase == "forcing" and first.planned_gap_s is None
        assert all(p.phase == "user" for p in rest)
