"""Engine: executes a Plan across all targets with asyncio, one independent lane per target.

Idle gaps are timed on the monotonic clock from the end of the previous response on the same
target. A slow or dead target only delays its own lane. The engine publishes events
(`SampleRecorded`, `ProbeScheduled`); it knows nothing of storage or display.

Requests of `closed`, `rate` and `warm` scenarios go through the lean HTTP/1.1 client where the
target allows it (coldbench.lean_probe.uses_lean_client); every other probe through aiohttp.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from coldbench.budget import next_backoff_s, parse_retry_after_s
from coldbench.clock import sleep_until
from coldbench.events import EventBus, ProbeScheduled, SampleRecorded
from coldbench.http1_client import Http1Client
from coldbench.invoke_probe import send_invoke_probe
from coldbench.lean_probe import build_http1_client, send_http1_probe, uses_lean_client
from coldbench.load import (
    LoadContext,
    LoadResult,
    OpenIdle,
    SendProbe,
    build_load_schedule,
    run_closed_loop,
    run_open_loop,
)
from coldbench.plan import Plan, PlannedProbe, Step
from coldbench.probe import ProbeContext, ProbeOutcome, build_session, send_probe
from coldbench.providers.base import Provider
from coldbench.redact import redact_text
from coldbench.sample import Sample
from coldbench.suite import Suite, TargetSpec

_NS_PER_S = 1_000_000_000

Annotator = Callable[[ProbeOutcome, TargetSpec], Sample]
ActionRunner = Callable[[str, TargetSpec], Awaitable[None]]


@dataclass
class EngineOptions:
    """Knobs the run command sets."""

    done_probe_ids: frozenset[int] = frozenset()  # --resume: already journaled
    worker: int = 0
    annotate: Annotator | None = None  # add ground-truth evidence to each sample
    run_action: ActionRunner | None = None  # e.g. force a cold start before a probe
    max_concurrency: int = 0  # 0 = unlimited; a global cap on in-flight lane probes
    monotonic_ns: Callable[[], int] = time.perf_counter_ns
    secrets: tuple[str, ...] = ()  # redacted from error details
    done_loads: frozenset[tuple[str, str]] = frozenset()  # --resume: (target, scenario) load steps
    workers: int = 1  # how many processes share the load schedules
    providers: dict[str, Provider] = field(default_factory=dict)  # control planes, by target


@dataclass
class EngineResult:
    """What the engine did: its final status and counts."""

    status: str
    probes_sent: int = 0
    action_errors: list[str] = field(default_factory=list)
    loads: list[tuple[str, str, LoadResult]] = field(default_factory=list)


class Engine:
    """Runs one plan; `run(stop)` returns when every lane finished or `stop` was set."""

    def __init__(self, suite: Suite, plan: Plan, bus: EventBus, options: EngineOptions | None = None):
        self.suite = suite
        self.plan = plan
        self.bus = bus
        self.options = options or EngineOptions()
        self._sessions: dict[tuple[str, str], aiohttp.ClientSession] = {}
        self._http1: dict[tuple[str, str], Http1Client] = {}
        self._senders: dict[tuple[str, str, str, str | None], SendProbe] = {}
        self._limit = (
            asyncio.Semaphore(self.options.max_concurrency) if self.options.max_concurrency else None
        )
        self.result = EngineResult(status="running")

    async def run(self, stop: asyncio.Event | None = None) -> EngineResult:
        """Execute all lanes concurrently; on `stop`, cancel in-flight probes and return."""
        stop = stop or asyncio.Event()
        lanes = [
            asyncio.create_task(self._run_lane(self.suite.target(name), steps), name=f"lane:{name}")
            for name, steps in self.plan.lanes.items()
        ]
        stopper = asyncio.create_task(stop.wait())
        try:
            pending: set[asyncio.Task[Any]] = set(lanes)
            while pending and not stop.is_set():
                done, pending = await asyncio.wait(pending | {stopper}, return_when=asyncio.FIRST_COMPLETED)
                pending.discard(stopper)
                for task in done:
                    if task is not stopper and task.exception() is not None:
                        raise task.exception()  # type: ignore[misc]
            self.result.status = "interrupted" if stop.is_set() else "complete"
        finally:
            for task in lanes:
                task.cancel()
            stopper.cancel()
            await asyncio.gather(*lanes, stopper, return_exceptions=True)
            await self.close()
        return self.result

    async def close(self) -> None:
        """Close every HTTP session and lean client the engine opened."""
        sessions, self._sessions = list(self._sessions.values()), {}
        clients, self._http1 = list(self._http1.values()), {}
        self._senders = {}
        for session in sessions:
            await session.close()
        for client in clients:
            await client.close()

    def _session(self, target: TargetSpec, mode: str) -> aiohttp.ClientSession:
        key = (target.name, mode)
        if key not in self._sessions:
            self._sessions[key] = build_session(mode, target)
        return self._sessions[key]

    def _sender(self, target: TargetSpec, mode: str, scenario_type: str,
                client: str | None) -> SendProbe:
        """`send(ctx, gap_s=..., intended_ns=...)` for one target: the lean HTTP/1.1 client for
        load scenario types on plain HTTP targets, aiohttp for everything else."""
        key = (target.name, mode, scenario_type, client)
        send = self._senders.get(key)
        if send is None:
            if uses_lean_client(target, scenario_type, client):
                if (target.name, mode) not in self._http1:
                    self._http1[(target.name, mode)] = build_http1_client(target, mode)
                send = functools.partial(send_http1_probe, self._http1[(target.name, mode)], target)
            else:
                send = functools.partial(send_probe, self._session(target, mode), target)
            self._senders[key] = send
        return send

    async def _run_lane(self, target: TargetSpec, steps: tuple[Step, ...]) -> None:
        prev_end_ns: int | None = None
        backoff_until_ns = 0
        consecutive_429 = 0
        clock = self.options.monotonic_ns
        for index, step in enumerate(steps):
            todo = [p for p in step.probes if p.probe_id not in self.options.done_probe_ids]
            if step.load is not None and (target.name, step.load.name) in self.options.done_loads:
                continue
            if not todo and step.load is None:
                continue
            due_ns = self._due_ns(step, index, prev_end_ns)
            due_ns = max(due_ns or 0, backoff_until_ns) or None
            if due_ns is not None:
                self.bus.publish(ProbeScheduled(target=target.name, due_ns=due_ns))
                await sleep_until(due_ns, clock)
            if step.action and self.options.run_action is not None:
                await self._run_action(step.action, target)
            if step.load is not None:
                await self._run_load(target, step)
                prev_end_ns = clock()
                continue
            if len(todo) == 1:  # most steps: no task per probe (warm probes go back to back)
                outcomes = [await self._probe(target, todo[0], prev_end_ns)]
            else:
                outcomes = await asyncio.gather(*(self._probe(target, p, prev_end_ns) for p in todo))
            prev_end_ns = max(o.end_ns for o in outcomes)
            throttled = [o.sample for o in outcomes if o.sample.status == 429]
            consecutive_429 = consecutive_429 + 1 if throttled else 0
            if throttled:
                retry_after = max((parse_retry_after_s(_header(s.headers, "retry-after")) or 0.0)
                                  for s in throttled)
                backoff_until_ns = prev_end_ns + int(next_backoff_s(retry_after, consecutive_429) * _NS_PER_S)

    def _due_ns(self, step: Step, index: int, prev_end_ns: int | None) -> int | None:
        """When a step may go out: its gap after the previous response on the lane. A lane
        resumed mid-way has no previous response here: it waits the gap from now (the platform
        has been idle at least that long) and the sample's measured gap stays unknown."""
        if not step.planned_gap_s:
            return None
        if prev_end_ns is not None:
            return prev_end_ns + int(step.planned_gap_s * _NS_PER_S)
        if index > 0:
            return self.options.monotonic_ns() + int(step.planned_gap_s * _NS_PER_S)
        return None

    async def _run_load(self, target: TargetSpec, step: Step) -> None:
        """Drive one closed/rate scenario on this target; its samples stream out as they finish."""
        scenario = step.load
        assert scenario is not None
        mode = scenario.connection or target.connection
        send = self._sender(target, mode, scenario.type, scenario.client)
        ctx = LoadContext(target=target, scenario=scenario, id_base=step.id_base,
                          worker=self.options.worker, workers=self.options.workers)
        def publish(outcome: ProbeOutcome) -> None:
            self._record(outcome, target)

        if scenario.type == "closed":
            result = await run_closed_loop(send, ctx, publish, clock=self.options.monotonic_ns)
        else:
            offsets = build_load_schedule(scenario, self.plan.seed, self.options.worker,
                                          self.options.workers)
            result = await run_open_loop(send, ctx, offsets, publish, clock=self.options.monotonic_ns,
                                         open_idle=self._open_idle(target, mode, scenario.type,
                                                                   scenario.client))
        if uses_lean_client(target, scenario.type, scenario.client):
            result.client = "http1"
        self.result.loads.append((target.name, scenario.name, result))

    def _open_idle(self, target: TargetSpec, mode: str, scenario_type: str,
                   client: str | None) -> OpenIdle | None:
        """The lean client's connection warm-up for an open loop in reuse mode (`fresh` means a
        new connection per request, and aiohttp has no way to open connections ahead)."""
        if mode != "reuse" or not uses_lean_client(target, scenario_type, client):
            return None
        return self._http1[(target.name, mode)].open_idle

    async def _run_action(self, action: str, target: TargetSpec) -> None:
        assert self.options.run_action is not None
        try:
            await self.options.run_action(action, target)
        except Exception as exc:  # an action failure is recorded, the probe still goes out
            self.result.action_errors.append(f"{target.name}: {action}: {exc}")

    async def _probe(self, target: TargetSpec, probe: PlannedProbe, prev_end_ns: int | None) -> ProbeOutcome:
        if self._limit is not None:
            async with self._limit:
                return await self._probe_now(target, probe, prev_end_ns)
        return await self._probe_now(target, probe, prev_end_ns)

    async def _probe_now(self, target: TargetSpec, probe: PlannedProbe, prev_end_ns: int | None) -> ProbeOutcome:
        ctx = ProbeContext(
            probe_id=probe.probe_id, target=target.name, scenario=probe.scenario, seq=probe.seq,
            planned_gap_s=probe.planned_gap_s, phase=probe.phase, worker=self.options.worker,
        )
        now = self.options.monotonic_ns()
        gap_s = (now - prev_end_ns) / _NS_PER_S if prev_end_ns is not None else None
        provider = self.options.providers.get(target.name)
        if provider is not None and dict(target.options).get("invoke"):
            outcome = await send_invoke_probe(provider, target, ctx, gap_s=gap_s)
        else:
            send = self._sender(target, probe.connection or target.connection,
                                probe.scenario_type, probe.client)
            outcome = await send(ctx, gap_s=gap_s)
        return self._record(outcome, target)

    def _record(self, outcome: ProbeOutcome, target: TargetSpec) -> ProbeOutcome:
        """Redact, annotate with ground truth, and publish one finished probe."""
        sample = outcome.sample
        if self.options.secrets:
            sample = redact_sample(sample, self.options.secrets)
            outcome = ProbeOutcome(sample=sample, end_ns=outcome.end_ns, body_json=outcome.body_json)
        if self.options.annotate is not None:
            sample = self.options.annotate(outcome, target)
            outcome = ProbeOutcome(sample=sample, end_ns=outcome.end_ns, body_json=outcome.body_json)
        self.result.probes_sent += 1
        self.bus.publish(SampleRecorded(sample))
        return outcome


def redact_sample(sample: Sample, secrets: tuple[str, ...]) -> Sample:
    """The sample with every known secret value blanked from its error detail and headers (an
    endpoint may echo a credential back). Bodies are never stored, so they need no redaction."""
    secret_list = list(secrets)
    headers = {k: redact_text(v, secret_list) for k, v in sample.headers.items()}
    detail = redact_text(sample.error_detail, secret_list) if sample.error_detail else None
    if headers == sample.headers and detail == sample.error_detail:
        return sample
    return dataclasses.replace(sample, headers=headers, error_detail=detail)


def _header(headers: dict[str, str], name: str) -> str | None:
    """Case-insensitive header look-up."""
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None
