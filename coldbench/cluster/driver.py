"""The driver of a cluster run: shards the plan, places each shard on a Ray actor agent, and
journals the samples the agents stream back.

The driver owns the run directory: every sample is appended to the writer's journal (flushed
per sample) as its batch arrives, so crash safety and `--resume` work as for a local run.
An agent that dies mid-run keeps every sample it had delivered; its unfinished probes are
re-planned on another eligible agent (probe ids already journaled are skipped, the mechanism
`--resume` uses) or, when none is left, reported as not run and the run ends `interrupted`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from coldbench.budget import estimate_load_requests
from coldbench.cluster import connect_ray, require_ray
from coldbench.cluster.agent import JobSpec, ProbeAgent, estimate_clock_offset
from coldbench.cluster.placement import (
    NodeInfo,
    ShardAssignment,
    assign_shards,
    build_lane_requirements,
    check_placement,
    nodes_from_ray,
    rank_replacement_nodes,
)
from coldbench.errors import ColdbenchError
from coldbench.events import EventBus, SampleRecorded
from coldbench.histo import HistogramRecorder, save_histograms
from coldbench.plan import LOAD_ID_BASE, LOAD_ID_BLOCK, Plan
from coldbench.sample import Sample
from coldbench.store import RunWriter
from coldbench.suite import Suite

if TYPE_CHECKING:  # pragma: no cover
    from coldbench.runner import ShardReport

_CLOCK_EXCHANGES = 5


class ClusterError(ColdbenchError):
    """The Ray cluster could not run an agent (one `error:` line, like every ColdbenchError)."""


@dataclass(frozen=True, slots=True)
class ClusterOptions:
    """Knobs of a cluster run (the CLI sets `quiet`, `sandbox_url`, `agents_per_node`)."""

    agents_per_node: int = 1
    max_replans: int = 2  # how often one shard's work may move after an agent dies
    quiet: bool = True
    sandbox_url: str | None = None
    drain_wait_s: float = 0.25  # long-poll wait of one drain call
    agent_timeout_s: float = 60.0  # a drain call silent this long counts as a dead agent
    local_object_store_mb: int = 80  # `--cluster local` only


@dataclass
class _Agent:
    agent_id: str
    actor: Any
    node: NodeInfo
    info: dict[str, Any] = field(default_factory=dict)
    offsets: dict[str, int] = field(default_factory=dict)
    alive: bool = True
    samples: int = 0


@dataclass
class _Job:
    spec: JobSpec
    agent: _Agent
    requirements: frozenset[str]
    replans: int = 0
    samples: int = 0
    stop_sent: bool = False


async def run_on_cluster(suite: Suite, plan: Plan, writer: RunWriter, address: str,
                         stop: asyncio.Event, done_ids: frozenset[int],
                         options: ClusterOptions | None = None) -> list[ShardReport]:
    """Run `plan` on Ray agents at `address` (`auto`, `ray://host:port`, a GCS address, or
    `local`); journal samples into `writer`; return one report per shard job."""
    options = options or ClusterOptions()
    ray = require_ray()
    lane_requirements = build_lane_requirements(suite, plan)  # malformed `agent`: fail first
    begin_s = time.perf_counter()
    wanted = frozenset(r for required in lane_requirements.values() for r in required)
    started_here = connect_ray(ray, address, wanted, options.local_object_store_mb)
    try:
        nodes = nodes_from_ray(ray.nodes())
        check_placement(lane_requirements, nodes, suite.path)
        shards = assign_shards(plan, lane_requirements, nodes, options.agents_per_node)
        run = ClusterRun(ray, suite, writer, done_ids, options, address, nodes)
        return await run.execute(plan, shards, stop, begin_s)
    finally:
        if started_here:
            ray.shutdown()


class ClusterRun:
    """One cluster run in progress: agents, jobs, the journal and the failure account."""

    def __init__(self, ray: Any, suite: Suite, writer: RunWriter, done_ids: frozenset[int],
                 options: ClusterOptions, address: str, nodes: list[NodeInfo]) -> None:
        self.ray, self.suite, self.writer, self.options = ray, suite, writer, options
        self.address, self.nodes = address, nodes
        self.journaled: set[int] = set(done_ids)
        self.bus = EventBus()
        self.bus.subscribe(SampleRecorded, lambda event: writer.append(event.sample))
        self.recorder = HistogramRecorder()
        self.recorder.subscribe(self.bus)
        self.agents: list[_Agent] = []
        self.failures: list[dict[str, Any]] = []
        self.reports: list[ShardReport] = []
        self.startup_s: float | None = None
        # A resumed run keeps earlier sessions' agents and failures; new agent ids say the session.
        self._previous = dict(writer.manifest.get("cluster") or {})
        self._session = int(self._previous.get("sessions", 0)) + 1
        self._remote = ray.remote(ProbeAgent)
        self._replan_lock = asyncio.Lock()
        self._job_ids = iter(range(1 << 62))

    async def execute(self, plan: Plan, shards: list[ShardAssignment], stop: asyncio.Event,
                      begin_s: float) -> list[ShardReport]:
        """Start one agent per shard, follow every job to its end, record the account."""
        from coldbench.progress import ProgressDisplay

        per_target = {t: sum(len(s.probes) for s in steps) for t, steps in plan.lanes.items()}
        display = ProgressDisplay(plan.probe_count + estimate_load_requests(self.suite), per_target,
                                  quiet=self.options.quiet)
        display.state.done = len(self.journaled)
        display.subscribe(self.bus)
        try:
            agents = await self._start_agents([self._node(s.node_id) for s in shards])
            try:
                jobs = [await self._start_job(agent, s.plan, s.worker, s.workers, s.requirements)
                        for agent, s in zip(agents, shards, strict=True)]
            except self.ray.exceptions.RayError as exc:
                raise ClusterError(f"--cluster {self.address}: an agent died before its shard "
                                   f"started ({_first_line(exc)}); run again") from None
            self.startup_s = time.perf_counter() - begin_s
            self._save_manifest()
            with display:
                await _gather_or_cancel([self._follow(job, stop) for job in jobs])
            await asyncio.gather(*(self._measure_offset(a, "end") for a in self.agents if a.alive))
        finally:
            for agent in self.agents:
                with contextlib.suppress(Exception):
                    self.ray.kill(agent.actor)
            save_histograms(self.writer.run_dir, self.recorder.histograms)
            self._save_manifest()
        return self.reports

    def _node(self, node_id: str) -> NodeInfo:
        return next(n for n in self.nodes if n.node_id == node_id)

    async def _start_agents(self, nodes: list[NodeInfo]) -> list[_Agent]:
        """Create agents pinned to `nodes` (in parallel) and take their start clock offsets;
        ClusterError if one does not come up within `agent_timeout_s`."""
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        agents = []
        for node in nodes:
            prefix = f"r{self._session - 1}." if self._session > 1 else ""
            agent_id = f"{prefix}agent-{len(self.agents)}"
            actor = self._remote.options(
                num_cpus=0, max_restarts=0, max_task_retries=0,
                scheduling_strategy=NodeAffinitySchedulingStrategy(node.node_id, soft=False),
            ).remote(agent_id, self.suite)
            agent = _Agent(agent_id, actor, node, alive=False)
            self.agents.append(agent)
            agents.append(agent)
        try:
            infos = await asyncio.wait_for(
                asyncio.gather(*(a.actor.describe.remote() for a in agents)), self.options.agent_timeout_s)
        except (self.ray.exceptions.RayError, TimeoutError) as exc:
            where = ", ".join(sorted({a.node.address for a in agents}))
            raise ClusterError(f"--cluster {self.address}: a probe agent did not start on {where} "
                               f"({_first_line(exc)})") from None
        for agent, info in zip(agents, infos, strict=True):
            agent.info, agent.alive = info, True
        await asyncio.gather(*(self._measure_offset(a, "start") for a in agents))
        return agents

    async def _measure_offset(self, agent: _Agent, when: str) -> None:
        """Agent clock minus driver clock (best of a few round trips), kept for the manifest."""
        exchanges = []
        for _ in range(_CLOCK_EXCHANGES):
            send_ns = time.time_ns()
            agent_ns = await agent.actor.clock_ns.remote()
            exchanges.append((send_ns, agent_ns, time.time_ns()))
        offset = estimate_clock_offset(exchanges)
        agent.offsets[f"{when}_ns"] = offset.offset_ns
        agent.offsets[f"{when}_rtt_ns"] = offset.rtt_ns

    async def _start_job(self, agent: _Agent, plan: Plan, worker: int, workers: int,
                         requirements: frozenset[str], replans: int = 0) -> _Job:
        spec = JobSpec(job_id=next(self._job_ids), plan=plan, worker=worker, workers=workers,
                       done_probe_ids=frozenset(self.journaled),
                       done_loads=build_done_loads(plan, worker, workers, self.journaled),
                       sandbox_url=self.options.sandbox_url)
        await agent.actor.start.remote(spec)
        return _Job(spec, agent, requirements, replans=replans)

    async def _follow(self, job: _Job | None, stop: asyncio.Event) -> None:
        """Pull a job's batches into the journal until its report comes or its agent dies."""
        while job is not None:
            if stop.is_set() and not job.stop_sent:
                job.stop_sent = True
                job.agent.actor.stop.remote(job.spec.job_id)
            try:
                batch = await asyncio.wait_for(
                    job.agent.actor.drain.remote(job.spec.job_id, self.options.drain_wait_s),
                    self.options.drain_wait_s + self.options.agent_timeout_s)
            except (self.ray.exceptions.RayError, TimeoutError) as exc:
                job = await self._on_agent_failure(job, exc, stop)
                continue
            for sample in batch.samples:
                self._journal(job, sample)
            if batch.report is not None:
                self.reports.append(_shard_report(batch.report, job))
                return

    def _journal(self, job: _Job, sample: Sample) -> None:
        if sample.probe_id in self.journaled:  # never twice, whatever an agent re-sends
            return
        self.journaled.add(sample.probe_id)
        job.samples += 1
        job.agent.samples += 1
        self.bus.publish(SampleRecorded(sample))

    async def _on_agent_failure(self, job: _Job, exc: BaseException, stop: asyncio.Event) -> _Job | None:
        """Account for a dead agent's job; return the re-planned job, or None."""
        from coldbench.runner import ShardReport

        dead = job.agent
        if dead.alive:
            dead.alive = False
            with contextlib.suppress(Exception):
                self.ray.kill(dead.actor)
        unfinished = [p.probe_id for p in job.spec.plan.probes() if p.probe_id not in self.journaled]
        spec = job.spec
        started = build_done_loads(spec.plan, spec.worker, spec.workers, self.journaled)
        unstarted_loads = sorted(_load_steps(spec.plan) - started)
        failure: dict[str, Any] = {
            "agent_id": dead.agent_id, "node_id": dead.node.node_id, "job": job.spec.job_id,
            "error": f"{type(exc).__name__}: {_first_line(exc)}", "samples_delivered": job.samples,
            "unfinished_probes": len(unfinished), "partial_loads": sorted(started - spec.done_loads),
            "unstarted_loads": unstarted_loads, "replanned_on": None, "not_run": 0,
            "loads_not_run": [],
        }
        self.failures.append(failure)
        replacement = None
        left = bool(unfinished or unstarted_loads)
        if left and not stop.is_set() and job.replans < self.options.max_replans:
            replacement = await self._replan(job)
        if replacement is not None:
            failure["replanned_on"] = replacement.agent.agent_id
        elif left:
            failure["not_run"], failure["loads_not_run"] = len(unfinished), unstarted_loads
        status = "interrupted" if left and replacement is None else "failed"
        self.reports.append(ShardReport(status=status, probes_sent=job.samples,
                                        warnings=[_failure_message(failure)]))
        self._save_manifest()
        return replacement

    async def _replan(self, job: _Job) -> _Job | None:
        """Move a dead job's rest to a live agent on another eligible node (or a new agent)."""
        async with self._replan_lock:
            self.nodes = nodes_from_ray(self.ray.nodes())
            ranked = rank_replacement_nodes(job.requirements, self.nodes, job.agent.node.node_id)
            if not ranked:
                return None
            node = ranked[0]
            live = [a for a in self.agents if a.alive and a.node.node_id == node.node_id]
            try:
                agent = live[0] if live else (await self._start_agents([node]))[0]
            except ClusterError:
                return None
            self._save_manifest()
        try:
            return await self._start_job(agent, job.spec.plan, job.spec.worker, job.spec.workers,
                                         job.requirements, replans=job.replans + 1)
        except self.ray.exceptions.RayError:
            return None

    def _save_manifest(self) -> None:
        self.writer.update_manifest(cluster=self.build_record())

    def build_record(self) -> dict[str, Any]:
        """The manifest's `cluster` section: nodes, agents with clock offsets, failures (agents
        and failures of earlier sessions of a resumed run stay listed)."""
        not_run = sum(f["not_run"] for f in self.failures)
        return {
            "sessions": self._session,
            "address": self.address,
            "ray_version": getattr(self.ray, "__version__", None),
            "startup_s": self.startup_s,
            "nodes": [{"node_id": n.node_id, "address": n.address, "alive": n.alive,
                       "resources": list(n.location_resources)} for n in self.nodes],
            "agents": list(self._previous.get("agents", [])) + [_agent_record(a) for a in self.agents],
            "failures": list(self._previous.get("failures", [])) + list(self.failures),
            "not_run_probes": not_run,
        }


def _agent_record(agent: _Agent) -> dict[str, Any]:
    """One agent in the manifest: where it ran, its clock offsets, what it delivered."""
    return {"agent_id": agent.agent_id, "node_id": agent.node.node_id,
            "node_address": agent.node.address, "hostname": agent.info.get("hostname"),
            "pid": agent.info.get("pid"), "event_loop": agent.info.get("event_loop"),
            "clock_offset": dict(agent.offsets), "alive": agent.alive, "samples": agent.samples}


def build_done_loads(plan: Plan, worker: int, workers: int,
                     journaled: set[int] | frozenset[int]) -> frozenset[tuple[str, str]]:
    """Load steps of `plan` that this shard (`worker` of `workers`) already sent requests for:
    its requests are ids id_base + index·workers + worker. A started load step is never
    repeated, on resume or re-plan (its samples so far stand)."""
    loads = [(lane, step) for lane, steps in plan.lanes.items() for step in steps if step.load]
    if not loads:
        return frozenset()
    done = set()
    for lane, step in loads:
        assert step.load is not None
        block = range(step.id_base + worker, step.id_base + LOAD_ID_BLOCK, max(1, workers))
        if any(i in block for i in journaled if i >= LOAD_ID_BASE):
            done.add((lane, step.load.name))
    return frozenset(done)


def _load_steps(plan: Plan) -> frozenset[tuple[str, str]]:
    return frozenset((lane, step.load.name) for lane, steps in plan.lanes.items()
                     for step in steps if step.load is not None)


async def _gather_or_cancel(coros: list[Any]) -> None:
    """Await all; on the first exception cancel the rest and raise it (not an ExceptionGroup,
    so a StorageError still becomes the CLI's one `error:` line)."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        done, _pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            if task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _failure_message(failure: dict[str, Any]) -> str:
    """One line for the run's warnings."""
    head = (f"{failure['agent_id']} (node {failure['node_id'][:12]}) died after "
            f"{failure['samples_delivered']} samples ({failure['error']})")
    if failure["replanned_on"]:
        return (f"{head}: {failure['unfinished_probes']} unfinished probes re-planned on "
                f"{failure['replanned_on']}")
    if failure["not_run"] or failure["loads_not_run"]:
        loads = f" and {len(failure['loads_not_run'])} load steps" if failure["loads_not_run"] else ""
        return (f"{head}: {failure['not_run']} probes{loads} not run (no eligible agent left); "
                "`coldbench run --resume RUN_DIR --cluster ...` runs them")
    return f"{head}: all of its probes had been journaled"


def _shard_report(record: dict[str, Any], job: _Job) -> ShardReport:
    from coldbench.runner import ShardReport

    fields = {f.name for f in dataclasses.fields(ShardReport)}
    report = ShardReport(**{k: v for k, v in record.items() if k in fields})
    report.client = dict(report.client, agent_id=job.agent.agent_id)
    return report
