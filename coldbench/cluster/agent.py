"""A probe agent: the normal engine running shards of a plan inside a Ray actor.

The driver wraps `ProbeAgent` with `ray.remote` (this module never imports Ray at import time,
so the class also runs, and is tested, without it). Each shard is a job: the agent runs
`coldbench.engine.Engine` on it with an EventBus whose SampleRecorded handler stamps the
sample with the agent's id and buffers it; the driver pulls batches with `drain` (a long poll).

Event loop: Ray runs an async actor's methods on the actor's own event loop, in a thread of the
actor process; Ray builds that loop with uvloop when uvloop is installed (it is a coldbench
dependency; `RAY_USE_UVLOOP=0` turns it off), and the manifest records which loop each agent got
(`cluster.agents[].event_loop`). The engine runs on that loop unchanged. Probe latencies are
`perf_counter_ns` differences taken on the agent; the Ray worker's own threads cost some
scheduling jitter (see benchmarks/bench_cluster.py).

Time: `clock_ns` returns the agent's wall clock (`time.time_ns()`); the driver turns a few
round trips into a clock offset (`estimate_clock_offset`) at the start and the end of a run.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from coldbench.events import EventBus, SampleRecorded
from coldbench.plan import Plan
from coldbench.sample import Sample
from coldbench.suite import Suite


@dataclass(frozen=True, slots=True)
class JobSpec:
    """One shard for an agent to run, with what is already done (resume / re-plan)."""

    job_id: int
    plan: Plan
    worker: int = 0
    workers: int = 1
    done_probe_ids: frozenset[int] = frozenset()
    done_loads: frozenset[tuple[str, str]] = frozenset()
    sandbox_url: str | None = None


@dataclass(frozen=True, slots=True)
class DrainBatch:
    """Samples a job finished since the last drain; `report` is set on the job's last batch."""

    samples: tuple[Sample, ...]
    report: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ClockOffset:
    """Agent wall clock minus driver wall clock, from the round trip with the smallest RTT."""

    offset_ns: int
    rtt_ns: int


def estimate_clock_offset(exchanges: Sequence[tuple[int, int, int]]) -> ClockOffset:
    """Offset from (driver send, agent clock, driver receive) triples, NTP style (pure)."""
    send_ns, agent_ns, recv_ns = min(exchanges, key=lambda e: e[2] - e[0])
    return ClockOffset(offset_ns=agent_ns - (send_ns + recv_ns) // 2, rtt_ns=recv_ns - send_ns)


@dataclass
class _Job:
    spec: JobSpec
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    buffer: list[Sample] = field(default_factory=list)
    report: dict[str, Any] | None = None
    task: asyncio.Task[None] | None = None


class ProbeAgent:
    """Runs jobs (plan shards) with the engine and buffers their samples for the driver."""

    def __init__(self, agent_id: str, suite: Suite) -> None:
        self.agent_id = agent_id
        self.suite = suite
        self._jobs: dict[int, _Job] = {}

    async def describe(self) -> dict[str, Any]:
        """Where this agent runs: node id, host, pid, event loop, wall clock."""
        return {
            "agent_id": self.agent_id,
            "node_id": _ray_node_id(),
            "hostname": socket.gethostname(),
            "pid": os.getpid(),
            "event_loop": type(asyncio.get_running_loop()).__module__,
            "time_ns": time.time_ns(),
        }

    async def clock_ns(self) -> int:
        """The agent's wall clock, for the driver's offset estimate."""
        return time.time_ns()

    async def start(self, spec: JobSpec) -> None:
        """Start running a job on this agent's event loop; return at once."""
        job = _Job(spec)
        self._jobs[spec.job_id] = job
        job.task = asyncio.create_task(self._run(job), name=f"job:{spec.job_id}")

    async def stop(self, job_id: int | None = None) -> None:
        """Ask one job (or every job) to stop; its in-flight probes are cancelled."""
        for key, job in self._jobs.items():
            if job_id is None or key == job_id:
                job.stop.set()

    async def drain(self, job_id: int, wait_s: float = 0.25, linger_s: float = 0.005,
                    max_samples: int = 5000) -> DrainBatch:
        """Samples finished since the last call; waits up to `wait_s` for the first one, then
        `linger_s` more so that batches are not one sample each at high rates."""
        job = self._jobs[job_id]
        if not job.buffer and job.report is None:
            job.wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(job.wakeup.wait(), wait_s)
            if job.buffer and job.report is None and linger_s > 0:
                await asyncio.sleep(linger_s)
        batch = tuple(job.buffer[:max_samples])
        del job.buffer[:max_samples]
        report = job.report if not job.buffer else None
        if report is not None:
            self._jobs.pop(job_id, None)
        return DrainBatch(samples=batch, report=report)

    def _buffer(self, job: _Job, event: SampleRecorded) -> None:
        job.buffer.append(dataclasses.replace(event.sample, agent=self.agent_id))
        job.wakeup.set()

    async def _run(self, job: _Job) -> None:
        bus = EventBus()
        bus.subscribe(SampleRecorded, lambda event: self._buffer(job, event))
        try:
            job.report = await run_job(self.suite, job.spec, bus, job.stop)
        except Exception as exc:  # reported to the driver, never lost in the actor's log
            job.report = {"status": "failed", "warnings": [],
                          "action_errors": [f"{self.agent_id}: {type(exc).__name__}: {exc}"]}
        job.wakeup.set()


async def run_job(suite: Suite, spec: JobSpec, bus: EventBus, stop: asyncio.Event) -> dict[str, Any]:
    """Run one shard with the engine (as `coldbench.runner.run_shard` does, minus the journal,
    histograms and display, which the driver owns); return ShardReport fields as a dict."""
    from coldbench.annotate import GroundTruthAnnotator
    from coldbench.budget import build_budget
    from coldbench.engine import Engine, EngineOptions
    from coldbench.load import build_load_record
    from coldbench.runner import build_action_runner, build_providers
    from coldbench.selfcheck import ClientMonitor

    budget = build_budget(suite.budget, suite.path)
    providers = build_providers(suite, spec.sandbox_url)
    engine = Engine(suite, spec.plan, bus, EngineOptions(
        providers=providers, run_action=build_action_runner(providers),
        annotate=GroundTruthAnnotator(), done_probe_ids=spec.done_probe_ids,
        secrets=suite.secrets, max_concurrency=budget.max_concurrency, worker=spec.worker,
        workers=spec.workers, done_loads=spec.done_loads,
    ))
    monitor = ClientMonitor()
    try:
        result = await engine.run(stop)
    finally:
        for provider in providers.values():
            await provider.close()
    client = monitor.finish(result.probes_sent)
    loads = [build_load_record(target, scenario, load) for target, scenario, load in result.loads]
    warnings = [w for w in [client.warning()] if w]
    warnings += [str(rec["warning"]) for rec in loads if rec.get("warning")]
    return {"status": result.status, "probes_sent": result.probes_sent,
            "action_errors": list(result.action_errors), "loads": loads,
            "client": client.to_record(), "warnings": warnings}


def _ray_node_id() -> str | None:
    """The Ray node this process runs on (None outside Ray)."""
    ray = sys.modules.get("ray")  # never import Ray here: outside an actor there is no node
    if ray is None or not ray.is_initialized():
        return None
    return str(ray.get_runtime_context().get_node_id())
