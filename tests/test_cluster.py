"""Distributed runs on Ray (coldbench.cluster): placement, streaming, clock offsets, failures.

Pure parts (placement, clock offsets, the agent without Ray) always run. The cluster tests start
one local two-node Ray cluster for the module (`ray.cluster_utils.Cluster`, one CPU and an
80 MB object store per node, no dashboard, loopback only) and skip when Ray, an optional extra,
is not installed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from coldbench.cli import main
from coldbench.cluster import require_ray
from coldbench.cluster.agent import ClockOffset, JobSpec, ProbeAgent, estimate_clock_offset
from coldbench.cluster.placement import (
    NodeInfo,
    assign_shards,
    build_agent_requirements,
    build_lane_requirements,
    check_placement,
    nodes_from_ray,
    rank_replacement_nodes,
)
from coldbench.errors import ConfigError
from coldbench.plan import build_plan
from coldbench.runner import RunOptions, execute_run
from coldbench.store import (
    JOURNAL_NAME,
    RunWriter,
    build_manifest,
    derive_columns,
    load_manifest,
    load_run,
    read_journal,
)
from coldbench.suite import load_suite
from coldbench.testing.childproc import ServerProcess

# Set before Ray is imported (its workers inherit them): keep every Ray process on 127.0.0.1
# (Ray's single-machine mode) and send no usage statistics.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

SUITE = """
[suite]
name = "placed"
seed = 3
[[targets]]
name = "eu"
url = "{url}/ok"
agent = {{ region = "eu" }}
[[targets]]
name = "us"
url = "{url}/sleep?ms=1"
agent = {{ region = "us" }}
[[targets]]
name = "anywhere"
url = "{url}/bytes/10"
[[scenarios]]
type = "idle_gap"
gaps = ["10ms", "30ms"]
repetitions = 3
[[scenarios]]
type = "burst"
concurrency = 3
rounds = 2
pause = "20ms"
"""

LONG_SUITE = """
[suite]
name = "long"
[[targets]]
name = "pooled"
url = "{url}/ok"
agent = {{ pool = "probe" }}
[[targets]]
name = "us"
url = "{url}/ok"
agent = {{ region = "us" }}
[[scenarios]]
type = "idle_gap"
gaps = ["25ms"]
repetitions = 60
"""

NODE_MB = 80

# A target with ground truth: every response names its instance (X-Coldbench-Instance), so labels
# are `instance` evidence (first sample of a target cold, the rest warm) and identical in every
# run. The echo server's samples get heuristic labels, fitted to each run's own latencies.
TRUTH_SERVER = """
import asyncio, json
from aiohttp import web

async def answer(request):
    return web.json_response({"ok": True}, headers={"X-Coldbench-Instance": "fn" + request.path})

async def main():
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    print(json.dumps({"url": f"http://127.0.0.1:{runner.addresses[0][1]}"}), flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


@pytest.fixture(scope="module")
def truth_url(tmp_path_factory) -> Iterator[str]:
    """Base URL of a loopback server whose responses carry an instance id."""
    folder = tmp_path_factory.mktemp("truth")
    (folder / "cb_truth_server.py").write_text(TRUTH_SERVER, encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(folder), *sys.path]))
    with ServerProcess("cb_truth_server", env=env) as server:
        yield server.url


# ---- pure parts -------------------------------------------------------------------------------

def _node(node_id: str, *resources: str, alive: bool = True) -> NodeInfo:
    return NodeInfo(node_id, f"10.0.0.{node_id[-1]}", alive, {"CPU": 1.0, **{r: 1.0 for r in resources}})


def test_agent_table_maps_to_ray_resources() -> None:
    assert build_agent_requirements({"region": "eu-west-1", "zone": "a"}, "t") == {
        "region:eu-west-1", "zone:a"}
    assert build_agent_requirements(None, "t") == frozenset()
    with pytest.raises(ConfigError, match=r"targets\[x\]\.agent\.region: expected a string"):
        build_agent_requirements({"region": ["eu"]}, "targets[x].agent")
    with pytest.raises(ConfigError, match="expected a table"):
        build_agent_requirements("eu", "targets[x].agent")


def test_unsatisfiable_placement_names_target_and_resource() -> None:
    nodes = [_node("n1", "region:eu"), _node("n2", "region:us", alive=False)]
    check_placement({"a": frozenset({"region:eu"}), "b": frozenset()}, nodes, "s.toml")
    with pytest.raises(ConfigError) as err:
        check_placement({"b": frozenset({"region:us"})}, nodes, "s.toml")
    message = str(err.value)
    assert message.startswith("s.toml: targets[b].agent: no live Ray node offers region:us")
    assert "nodes offer: region:eu" in message and "ray start" in message and "\n" not in message
    with pytest.raises(ConfigError, match="region:eu \\+ zone:a on one node"):
        check_placement({"c": frozenset({"region:eu", "zone:a"})},
                        nodes + [_node("n3", "zone:a")], "s.toml")


def test_shards_respect_placement_and_cover_the_plan(write_suite) -> None:
    suite = load_suite(write_suite(SUITE.format(url="http://127.0.0.1:9")))
    plan = build_plan(suite)
    nodes = [_node("n1", "region:eu"), _node("n2", "region:us"), _node("n3")]
    shards = assign_shards(plan, build_lane_requirements(suite, plan), nodes, agents_per_node=1)
    placed = {lane: s.node_id for s in shards for lane in s.plan.lanes}
    assert placed == {"eu": "n1", "us": "n2", "anywhere": "n1"}
    ids = sorted(p.probe_id for s in shards for p in s.plan.probes())
    assert ids == [p.probe_id for p in plan.probes()]


def test_load_steps_are_shared_by_every_agent_of_their_group(write_suite) -> None:
    text = SUITE.format(url="http://127.0.0.1:9").split("[[scenarios]]")[0] + (
        '[[scenarios]]\ntype = "closed"\ntargets = ["anywhere"]\nconcurrency = 4\ncount = 8\n')
    suite = load_suite(write_suite(text))
    plan = build_plan(suite)
    nodes = [_node("n1"), _node("n2")]
    shards = [s for s in assign_shards(plan, build_lane_requirements(suite, plan), nodes, 2)
              if "anywhere" in s.plan.lanes]
    assert [(s.node_id, s.worker, s.workers) for s in shards] == [
        ("n1", 0, 4), ("n2", 1, 4), ("n1", 2, 4), ("n2", 3, 4)]
    assert sum(s.plan.lanes["anywhere"][0].load.count for s in shards) == 8


def test_done_loads_are_per_shard_slot(write_suite) -> None:
    from coldbench.cluster.driver import build_done_loads

    text = SUITE.format(url="http://127.0.0.1:9").split("[[scenarios]]")[0] + (
        '[[scenarios]]\ntype = "closed"\nname = "c"\ntargets = ["anywhere"]\ncount = 8\n')
    plan = build_plan(load_suite(write_suite(text)))
    base = plan.lanes["anywhere"][0].id_base
    assert build_done_loads(plan, 1, 2, {base + 1}) == {("anywhere", "c")}  # its own slot
    assert build_done_loads(plan, 0, 2, {base + 1}) == frozenset()  # another agent's request


def test_replacement_prefers_another_eligible_node() -> None:
    nodes = [_node("n1", "pool:p"), _node("n2", "pool:p"), _node("n3")]
    assert [n.node_id for n in rank_replacement_nodes({"pool:p"}, nodes, "n1")] == ["n2", "n1"]
    assert rank_replacement_nodes({"region:x"}, nodes, "n1") == []


def test_nodes_from_ray_dicts() -> None:
    raw = [{"NodeID": "b", "NodeManagerAddress": "10.0.0.2", "Alive": True,
            "Resources": {"CPU": 1.0, "region:eu": 1.0, "node:10.0.0.2": 1.0}},
           {"NodeID": "a", "NodeManagerAddress": "10.0.0.1", "Alive": False, "Resources": {}}]
    nodes = nodes_from_ray(raw)
    assert [n.node_id for n in nodes] == ["a", "b"]
    assert nodes[1].location_resources == ("node:10.0.0.2", "region:eu")


def test_clock_offset_uses_the_tightest_round_trip() -> None:
    exchanges = [(1_000, 5_600, 1_200), (2_000, 6_540, 2_080), (3_000, 7_000, 3_900)]
    assert estimate_clock_offset(exchanges) == ClockOffset(offset_ns=4_500, rtt_ns=80)


def test_missing_ray_is_one_install_line(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ConfigError) as err:
        require_ray()
    assert str(err.value) == ("--cluster: Ray is not installed; install it with: "
                              "pip install 'coldbench[cluster]'")


# Remove this guard once `coldbench run --cluster` is wired (coldbench.runner.RunOptions.cluster).

def test_cli_without_ray_says_how_to_install(monkeypatch, write_suite, tmp_path, capsys) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    suite = write_suite(SUITE.format(url="http://127.0.0.1:9"))
    assert main(["run", str(suite), "-o", str(tmp_path / "run"), "--cluster", "local"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: --cluster: Ray is not installed; install it with: "
                   "pip install 'coldbench[cluster]'"]
    assert not (tmp_path / "run").exists()


def test_agent_runs_a_shard_and_stamps_its_samples(echo_url, write_suite) -> None:
    """The actor class without Ray: the engine on a shard, samples buffered and drained."""
    suite = load_suite(write_suite(SUITE.format(url=echo_url)))
    plan = build_plan(suite)

    async def scenario() -> tuple[list, dict]:
        agent = ProbeAgent("agent-x", suite)
        await agent.start(JobSpec(job_id=1, plan=plan, done_probe_ids=frozenset({0, 1})))
        samples: list = []
        while True:
            batch = await agent.drain(1, wait_s=0.1)
            samples.extend(batch.samples)
            if batch.report is not None:
                return samples, batch.report

    samples, report = asyncio.run(scenario())
    assert report["status"] == "complete" and report["probes_sent"] == plan.probe_count - 2
    assert sorted(s.probe_id for s in samples) == list(range(2, plan.probe_count))
    assert {s.agent for s in samples} == {"agent-x"}


# ---- on a local two-node Ray cluster ----------------------------------------------------------

@pytest.fixture(scope="module")
def ray_cluster():
    """Two Ray nodes in one machine: the head offers region:eu, the other region:us; both
    offer pool:probe. Shut down in teardown even when a test fails."""
    ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'coldbench[cluster]'")
    from ray.cluster_utils import Cluster

    node_args = {"num_cpus": 1, "object_store_memory": NODE_MB * 1024 * 1024}
    cluster = Cluster()
    try:
        cluster.add_node(**node_args, include_dashboard=False,
                         resources={"region:eu": 1, "pool:probe": 1})
        cluster.add_node(**node_args, resources={"region:us": 1, "pool:probe": 1})
        ray.init(address=cluster.address, log_to_driver=False, logging_level=logging.WARNING)
        cluster.wait_for_nodes()
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()


def _run_on_cluster(suite_path: Path, run_dir: Path, address: str, *, on_start=None,
                    resume: bool = False, **options):
    """A cluster run as the runner drives it: open (or reopen) the run, run, finish with the
    end-of-run pass. `on_start(writer, stop)` runs beside it (to kill an agent, or stop)."""
    from coldbench.cluster.driver import ClusterOptions, run_on_cluster

    suite = load_suite(suite_path)
    plan = build_plan(suite)
    if resume:
        writer = RunWriter(run_dir, load_manifest(run_dir), resume=True)
        done = frozenset(int(i) for i in read_journal(run_dir)[0]["probe_id"])
    else:
        writer = RunWriter(run_dir, build_manifest(suite.snapshot, suite.name, seed=plan.seed,
                                                   planned_probes=plan.probe_count))
        done = frozenset()

    async def go():
        stop = asyncio.Event()
        side = asyncio.create_task(on_start(writer, stop)) if on_start else None
        try:
            return await run_on_cluster(suite, plan, writer, address, stop, done,
                                        ClusterOptions(**options))
        finally:
            if side is not None and not side.done():
                side.cancel()
            elif side is not None:
                side.result()  # a failing side task fails the test

    reports = asyncio.run(go())
    stopped = any(r.status == "interrupted" for r in reports)
    status = "interrupted" if stopped else "complete"
    writer.finish(status, derive_columns(read_journal(run_dir)[0], suite.snapshot))
    return plan, reports


def _agent_nodes(run_dir: Path) -> dict[str, set[str]]:
    """agent id -> the custom resources of the node it ran on (from the manifest)."""
    cluster = load_manifest(run_dir)["cluster"]
    resources = {n["node_id"]: set(n["resources"]) for n in cluster["nodes"]}
    return {a["agent_id"]: resources[a["node_id"]] for a in cluster["agents"]}


def test_targets_run_on_their_nodes_and_match_a_local_run(ray_cluster, truth_url, write_suite,
                                                          tmp_path) -> None:
    suite_path = write_suite(SUITE.format(url=truth_url))
    plan, reports = _run_on_cluster(suite_path, tmp_path / "cluster", ray_cluster.address)
    execute_run(load_suite(suite_path), RunOptions(out_dir=tmp_path / "local", quiet=True))
    frame, local = load_run(tmp_path / "cluster"), load_run(tmp_path / "local")
    assert [r.status for r in reports] == ["complete"] * len(reports)
    nodes = _agent_nodes(tmp_path / "cluster")
    for target, region in (("eu", "region:eu"), ("us", "region:us")):
        agents = set(frame.loc[frame["target"] == target, "agent"])
        assert agents and all(region in nodes[a] for a in agents), (target, agents)
    keys = ["probe_id", "target", "scenario", "seq", "phase", "planned_gap_s", "label",
            "label_source", "instance_id", "error"]
    assert frame[keys].equals(local[keys])
    assert set(frame["label_source"]) == {"instance"} and (frame["label"] == "cold").sum() == 3
    assert len(frame) == plan.probe_count and frame["probe_id"].is_unique
    manifest = load_manifest(tmp_path / "cluster")["cluster"]
    for agent in manifest["agents"]:
        assert set(agent["clock_offset"]) == {"start_ns", "start_rtt_ns", "end_ns", "end_rtt_ns"}
        assert abs(agent["clock_offset"]["start_ns"]) < 1e9  # one machine: one clock
    assert manifest["failures"] == [] and manifest["not_run_probes"] == 0


def test_unsatisfiable_placement_fails_before_sending(ray_cluster, echo_url, write_suite,
                                                      tmp_path) -> None:
    text = SUITE.format(url=echo_url).replace('region = "us"', 'region = "ap-south-1"')
    with pytest.raises(ConfigError, match=r"targets\[us\]\.agent: no live Ray node offers "
                                          r"region:ap-south-1 \(nodes offer: .*region:eu"):
        _run_on_cluster(write_suite(text), tmp_path / "run", ray_cluster.address)
    assert (tmp_path / "run" / JOURNAL_NAME).read_text() == ""


def _kill_agent_of(target: str, after: int, times: int = 1):
    """A side task: SIGKILL the process of the agent probing `target` once it has journaled
    `after` samples of it; `times` > 1 kills the replacement too. Records what it killed."""
    killed: list[str] = []

    async def killer(writer: RunWriter, _stop: asyncio.Event) -> None:
        journal = writer.run_dir / JOURNAL_NAME
        while len(killed) < times:
            await asyncio.sleep(0.02)
            rows = [json.loads(line) for line in journal.read_bytes().split(b"\n")[:-1]]
            counts: dict[str, int] = {}
            for row in rows:
                if row["target"] == target and row["agent"] not in killed:
                    counts[row["agent"]] = counts.get(row["agent"], 0) + 1
            victims = [a for a, n in counts.items() if n >= after]
            if victims:
                pids = {a["agent_id"]: a["pid"] for a in writer.manifest["cluster"]["agents"]}
                os.kill(pids[victims[0]], signal.SIGKILL)
                killed.append(victims[0])

    return killer, killed


def test_killed_agent_keeps_samples_and_its_rest_is_replanned(ray_cluster, echo_url, write_suite,
                                                              tmp_path) -> None:
    killer, killed = _kill_agent_of("pooled", after=5)
    plan, reports = _run_on_cluster(write_suite(LONG_SUITE.format(url=echo_url)), tmp_path / "run",
                                    ray_cluster.address, on_start=killer)
    frame = load_run(tmp_path / "run")
    manifest = load_manifest(tmp_path / "run")
    assert len(killed) == 1 and manifest["status"] == "complete"
    assert sorted(frame["probe_id"]) == [p.probe_id for p in plan.probes()]  # each exactly once
    assert (frame["agent"] == killed[0]).sum() >= 5  # its completed samples are kept
    (failure,) = manifest["cluster"]["failures"]
    assert failure["agent_id"] == killed[0] and failure["replanned_on"] not in (None, killed[0])
    nodes = {a["agent_id"]: a["node_id"] for a in manifest["cluster"]["agents"]}
    assert nodes[failure["replanned_on"]] != nodes[killed[0]]  # another eligible node
    rest = frame[(frame["target"] == "pooled") & (frame["agent"] != killed[0])]
    assert set(rest["agent"]) == {failure["replanned_on"]}
    assert any("re-planned on" in w for r in reports for w in r.warnings)


def test_killed_agent_without_replan_reports_probes_not_run(ray_cluster, echo_url, write_suite,
                                                            tmp_path) -> None:
    killer, killed = _kill_agent_of("pooled", after=5)
    plan, reports = _run_on_cluster(write_suite(LONG_SUITE.format(url=echo_url)), tmp_path / "run",
                                    ray_cluster.address, on_start=killer, max_replans=0)
    frame = load_run(tmp_path / "run")
    manifest = load_manifest(tmp_path / "run")
    (failure,) = manifest["cluster"]["failures"]
    pooled = [p.probe_id for p in plan.probes() if p.target == "pooled"]
    done = set(frame.loc[frame["target"] == "pooled", "probe_id"])
    assert manifest["status"] == "interrupted"
    assert failure["not_run"] == len(pooled) - len(done) > 0 == len(done - set(pooled))
    assert manifest["cluster"]["not_run_probes"] == failure["not_run"]
    assert (frame["agent"] == killed[0]).sum() >= 5
    assert (frame["target"] == "us").sum() == 61  # the other agent finished its lane
    assert any("not run" in w and "--resume" in w for r in reports for w in r.warnings)


def test_stopped_cluster_run_resumes_to_every_probe_once(ray_cluster, echo_url, write_suite,
                                                         tmp_path) -> None:
    suite_path = write_suite(LONG_SUITE.format(url=echo_url))
    run_dir = tmp_path / "run"

    async def stop_after_20(writer: RunWriter, stop: asyncio.Event) -> None:
        while writer.samples_written < 20:
            await asyncio.sleep(0.01)
        stop.set()  # what SIGINT/SIGTERM do in the runner

    _plan, reports = _run_on_cluster(suite_path, run_dir, ray_cluster.address, on_start=stop_after_20)
    first = load_run(run_dir)
    assert load_manifest(run_dir)["status"] == "interrupted" and 20 <= len(first) < 122
    plan, _reports = _run_on_cluster(suite_path, run_dir, ray_cluster.address, resume=True)
    frame = load_run(run_dir)
    assert sorted(frame["probe_id"]) == [p.probe_id for p in plan.probes()]  # each exactly once
    assert set(first["probe_id"]) <= set(frame["probe_id"])
    cluster = load_manifest(run_dir)["cluster"]
    assert cluster["sessions"] == 2 and load_manifest(run_dir)["status"] == "complete"
    agents = [a["agent_id"] for a in cluster["agents"]]
    assert agents == ["agent-0", "agent-1", "r1.agent-0", "r1.agent-1"]
    assert set(frame["agent"]) <= set(agents)


def test_cli_run_on_the_cluster(ray_cluster, echo_url, write_suite, tmp_path) -> None:
    suite = write_suite(SUITE.format(url=echo_url))
    run_dir = tmp_path / "run"
    args = ["run", str(suite), "-o", str(run_dir), "-q", "--no-report", "--cluster", ray_cluster.address]
    assert main(args) == 0
    manifest = load_manifest(run_dir)
    assert manifest["status"] == "complete" and manifest["samples"] == manifest["planned_probes"]
    assert {a["agent_id"] for a in manifest["cluster"]["agents"]} == set(load_run(run_dir)["agent"])
