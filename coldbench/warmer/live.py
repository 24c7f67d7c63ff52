"""Executing a warming strategy for real: user requests and warming actions on one function.

One `LaneRunner` per strategy drives its own function copy: user requests at the workload's
arrival times (open loop, charged from the intended send time, fresh connection each), ping
rounds of `fan_out` concurrent warming invocations (header `X-Coldbench-Warmer: 1` and
`X-Coldbench-Hold-Ms`, which instrumented functions answer without running the handler), and
provisioned-concurrency changes through the provider (waited for in the background, so user
traffic keeps its schedule). Every lane shares one start time, so strategies see the same
moments of the same host. Every request becomes a Sample: `phase="user"` for the workload,
`phase="warming"` (scenario "ping", seq = round) for the strategy's own traffic.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import numpy as np

from coldbench.annotate import GroundTruthAnnotator
from coldbench.clock import sleep_until
from coldbench.errors import ColdbenchError
from coldbench.instrument import HOLD_HEADER, WARMER_HEADER
from coldbench.probe import ProbeContext, ProbeOutcome, build_session, send_probe
from coldbench.providers.base import Provider
from coldbench.sample import Sample
from coldbench.suite import TargetSpec
from coldbench.warmer.strategies import Strategy, WarmAction

_NS_PER_S = 1_000_000_000
LANE_ID_BLOCK = 10_000_000  # probe ids of lane k: k · LANE_ID_BLOCK + n
Publish = Callable[[Sample], None]


@dataclass
class ProvisionRecord:
    """One provisioned-concurrency change and how long the platform took to make it ready."""

    strategy: str
    at_s: float  # planned time on the experiment clock (0 = before the workload)
    count: int
    seconds_to_ready: float | None = None
    error: str | None = None


@dataclass
class LiveLane:
    """One strategy bound to the function copy it warms."""

    index: int
    strategy: Strategy
    actions: tuple[WarmAction, ...]
    target: TargetSpec  # the user request (url of this lane's function copy)
    function: str | None = None  # provider-side name, for provisioned concurrency
    qualifier: str = "live"
    provider: Provider | None = None
    provisions: list[ProvisionRecord] = field(default_factory=list)
    deploys: list[ProvisionRecord] = field(default_factory=list)  # count unused; time taken


def build_ping_target(target: TargetSpec, hold_ms: float) -> TargetSpec:
    """The user target with the warmer headers added (a ping held `hold_ms`)."""
    headers = (*target.headers, (WARMER_HEADER, "1"), (HOLD_HEADER, f"{hold_ms:g}"))
    return dataclasses.replace(target, headers=headers)


async def apply_provision(lane: LiveLane, action: WarmAction) -> ProvisionRecord:
    """Set (or clear, count 0) the lane's provisioned concurrency and wait until ready."""
    record = ProvisionRecord(lane.strategy.name, action.at_s, action.count)
    if lane.provider is None or lane.function is None:
        record.error = "no provider: provisioned concurrency needs provider = \"sandbox\" or \"aws\""
        lane.provisions.append(record)
        return record
    started = time.monotonic()
    try:
        if action.count > 0:
            status = await lane.provider.set_provisioned(lane.function, lane.qualifier, action.count)
            record.seconds_to_ready = status.seconds_to_ready
        else:
            await lane.provider.clear_provisioned(lane.function, lane.qualifier)
            record.seconds_to_ready = time.monotonic() - started
    except ColdbenchError as exc:
        record.error = str(exc)
    lane.provisions.append(record)
    return record


class LaneRunner:
    """Runs one lane's user requests and warming actions from a shared start time."""

    def __init__(self, lane: LiveLane, arrivals_s: np.ndarray, publish: Publish,
                 on_provisioned: Callable[[LiveLane], Awaitable[None]] | None = None,
                 clock: Callable[[], int] = time.perf_counter_ns,
                 deploys_s: tuple[float, ...] = ()) -> None:
        self.lane = lane
        self.arrivals_s = np.asarray(arrivals_s, dtype=np.float64)
        self.deploys_s = deploys_s
        self.publish = publish
        self.on_provisioned = on_provisioned
        self.clock = clock
        self.annotator = GroundTruthAnnotator()
        self.last_end_ns: int | None = None
        self._next_id = lane.index * LANE_ID_BLOCK
        self._sessions: dict[str, aiohttp.ClientSession] = {}

    def _session(self, target: TargetSpec) -> aiohttp.ClientSession:
        key = "|".join(f"{k}={v}" for k, v in target.headers)
        if key not in self._sessions:
            self._sessions[key] = build_session(target.connection, target)
        return self._sessions[key]

    def _probe_id(self) -> int:
        self._next_id += 1
        return self._next_id - 1

    def _record(self, outcome: ProbeOutcome) -> None:
        self.last_end_ns = max(self.last_end_ns or 0, outcome.end_ns)
        self.publish(self.annotator(outcome, self.lane.target))

    async def send_user(self, index: int, due_ns: int) -> None:
        """One user request of the workload, charged from its intended send time."""
        now = self.clock()
        gap_s = (now - self.last_end_ns) / _NS_PER_S if self.last_end_ns else None
        ctx = ProbeContext(self._probe_id(), self.lane.strategy.name, "workload", index)
        outcome = await send_probe(self._session(self.lane.target), self.lane.target, ctx,
                                   gap_s=gap_s, intended_ns=due_ns)
        self._record(outcome)

    async def send_ping_round(self, action: WarmAction) -> None:
        """`fan_out` concurrent warming invocations, each held `hold_ms`."""
        target = build_ping_target(self.lane.target, action.hold_ms)
        session = self._session(target)
        now = self.clock()
        gap_s = (now - self.last_end_ns) / _NS_PER_S if self.last_end_ns else None

        async def one() -> None:
            ctx = ProbeContext(self._probe_id(), self.lane.strategy.name, "ping", action.round,
                               phase="warming")
            self._record(await send_probe(session, target, ctx, gap_s=gap_s))

        await asyncio.gather(*(one() for _ in range(action.count)))

    async def provision(self, action: WarmAction) -> None:
        """A provisioned-concurrency change during the run (waited for in the background)."""
        record = await apply_provision(self.lane, action)
        if record.error is None and self.on_provisioned is not None:
            try:
                await self.on_provisioned(self.lane)
            except ColdbenchError as exc:
                record.error = f"after provisioning: {exc}"

    async def deploy(self, at_s: float) -> None:
        """Recycle every instance of the lane's function, as deploying a new version does."""
        record = ProvisionRecord(self.lane.strategy.name, at_s, 0)
        if self.lane.provider is None or self.lane.function is None:
            record.error = "no provider: deploys need provider = \"sandbox\" or \"aws\""
        else:
            try:
                record.seconds_to_ready = await self.lane.provider.force_cold(self.lane.function)
            except ColdbenchError as exc:
                record.error = str(exc)
        self.lane.deploys.append(record)
        if record.error is None and self.on_provisioned is not None:
            with contextlib.suppress(ColdbenchError):
                await self.on_provisioned(self.lane)  # recycled provisioned instances are new ones

    async def run(self, start_ns: int, stop: asyncio.Event) -> None:
        """Send everything at its time after `start_ns`; return when all of it finished."""
        events: list[tuple[float, int, int]] = [(float(t), 1, i) for i, t in enumerate(self.arrivals_s)]
        events += [(a.at_s, 0, i) for i, a in enumerate(self.lane.actions)
                   if not (a.kind == "provision" and a.at_s <= 0)]
        events += [(t, -1, i) for i, t in enumerate(self.deploys_s)]
        events.sort()
        tasks: set[asyncio.Task[None]] = set()
        try:
            for at_s, kind, index in events:
                if stop.is_set():
                    break
                due_ns = start_ns + int(at_s * _NS_PER_S)
                await sleep_until(due_ns, self.clock)
                tasks.add(asyncio.create_task(self._dispatch(kind, index, due_ns)))
            if tasks:
                results = await asyncio.gather(*tasks, return_exceptions=True)
                failures = [r for r in results if isinstance(r, Exception)]
                if failures:
                    raise failures[0]  # a bug, not a request failure (those are samples)
        finally:
            for task in tasks:
                task.cancel()
            for session in self._sessions.values():
                await session.close()

    def _dispatch(self, kind: int, index: int, due_ns: int) -> Coroutine[Any, Any, None]:
        if kind == 1:
            return self.send_user(index, due_ns)
        if kind == -1:
            return self.deploy(self.deploys_s[index])
        action = self.lane.actions[index]
        return self.send_ping_round(action) if action.kind == "ping" else self.provision(action)


async def run_calibration_lane(target: TargetSpec, gaps_s: tuple[float, ...], duration_s: float,
                               seed: int, publish: Publish, stop: asyncio.Event,
                               index: int = 99, clock: Callable[[], int] = time.perf_counter_ns) -> None:
    """Idle-gap probes (shuffled gaps, repeated) for the simulator's P(cold | gap) curve.

    Each probe waits its gap after the previous response, as `idle_gap` scenarios do.
    """
    rng = random.Random(f"{seed}:calibration")
    annotator = GroundTruthAnnotator()
    deadline = clock() + int(duration_s * _NS_PER_S)
    probe_id, seq, prev_end = index * LANE_ID_BLOCK, 0, None
    session = build_session(target.connection, target)
    try:
        while not stop.is_set():
            order = list(gaps_s)
            rng.shuffle(order)
            for gap in order:
                if prev_end is not None and prev_end + int(gap * _NS_PER_S) > deadline:
                    return
                if prev_end is not None:
                    await sleep_until(prev_end + int(gap * _NS_PER_S), clock)
                measured: float | None = None
                planned: float | None = None
                if prev_end is not None:
                    measured, planned = (clock() - prev_end) / _NS_PER_S, gap
                ctx = ProbeContext(probe_id + seq, target.name, "calibration", seq, planned)
                outcome = await send_probe(session, target, ctx, gap_s=measured)
                publish(annotator(outcome, target))
                prev_end, seq = outcome.end_ns, seq + 1
                if stop.is_set():
                    return
    finally:
        await session.close()
