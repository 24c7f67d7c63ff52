"""Load scenarios: closed loop (C workers back to back) and open loop (arrivals at a rate).

Open loop follows wrk2: every request has an intended send time from the arrival schedule, and
its latency is charged from that time, so a stall shows up in every request that should have
been sent during it (no coordinated omission). When `max_concurrency` requests are in flight,
further requests wait for a slot, still charged from their intended time. Schedule lag (actual
minus intended send) and service time (actual send to done) are recorded per sample.

With connection reuse, the connections the first requests need are opened before the schedule
starts (`preopen_connections`), so those requests are not charged for connection set-up.

Near-future sends are not left to the event loop's millisecond timers: the dispatcher yields to
the loop (`sleep(0)`, which still serves I/O) when the next send is less than 1.5 ms away.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from coldbench.arrivals import build_schedule, parse_steps
from coldbench.clock import sleep_until
from coldbench.probe import ProbeContext, ProbeOutcome
from coldbench.suite import ScenarioSpec, TargetSpec
from coldbench.units import parse_duration_s

_NS_PER_S = 1_000_000_000
_LEAD_IN_NS = 20_000_000  # the schedule starts 20 ms after set-up, not mid-set-up
DEFAULT_MAX_LAG_MS = 10.0
# Pre-opened connections: as many as the schedule sends in its first PREOPEN_WINDOW_S (or in
# twice the first connection's set-up time, for a distant target), plus one, at most
# PREOPEN_MAX_CONNECTIONS and the scenario's concurrency cap.
PREOPEN_WINDOW_S = 0.010
PREOPEN_MAX_CONNECTIONS = 512

Publish = Callable[[ProbeOutcome], None]
# Opens connections until `count` wait idle; returns each new one's set-up time (s).
OpenIdle = Callable[[int], Awaitable[list[float]]]


class SendProbe(Protocol):
    """Sends one request of the scenario's target: `send_probe` or `send_http1_probe` with the
    client (session) and target bound (`functools.partial`)."""

    def __call__(self, ctx: ProbeContext, *, gap_s: float | None = None,
                 intended_ns: int | None = None) -> Awaitable[ProbeOutcome]: ...


@dataclass
class LoadResult:
    """What a load scenario did on one target."""

    sent: int = 0
    scheduled: int = 0
    max_lag_ms: float = 0.0
    duration_s: float = 0.0
    max_lag_limit_ms: float = DEFAULT_MAX_LAG_MS
    client: str = "aiohttp"  # which HTTP client sent the requests: "http1" (lean) or "aiohttp"
    preopened: int = 0  # connections opened before the schedule started (not requests)


@dataclass(frozen=True, slots=True)
class LoadContext:
    """Identity shared by every request of one load step."""

    target: TargetSpec
    scenario: ScenarioSpec
    id_base: int
    worker: int = 0
    workers: int = 1


async def run_open_loop(
    send: SendProbe, ctx: LoadContext, offsets_s: np.ndarray, publish: Publish,
    *, clock: Callable[[], int] = time.perf_counter_ns, stop: asyncio.Event | None = None,
    open_idle: OpenIdle | None = None,
) -> LoadResult:
    """Send one request per schedule offset, charged from its intended time. With `open_idle`
    (connection reuse), the first requests' connections are opened before the schedule starts."""
    slots = asyncio.Semaphore(max(1, ctx.scenario.concurrency))
    preopened = 0
    if open_idle is not None and not (stop is not None and stop.is_set()):
        preopened = await preopen_connections(open_idle, offsets_s, ctx.scenario.concurrency)
    intended_ns = (np.asarray(offsets_s) * _NS_PER_S).astype(np.int64) + clock() + _LEAD_IN_NS
    result = LoadResult(scheduled=len(intended_ns), max_lag_limit_ms=max_lag_limit_ms(ctx.scenario),
                        preopened=preopened)
    in_flight: set[asyncio.Task[None]] = set()

    async def one(index: int, due_ns: int) -> None:
        async with slots:
            outcome = await send(_probe_ctx(ctx, index), intended_ns=due_ns)
        result.max_lag_ms = max(result.max_lag_ms, outcome.sample.lag_ms or 0.0)
        publish(outcome)

    started = clock()
    for index in range(len(intended_ns)):  # no .tolist(): 1.2 M Python ints would cost ~45 MB
        due_ns = int(intended_ns[index])
        if stop is not None and stop.is_set():
            break
        await sleep_until(due_ns, clock)
        task = asyncio.create_task(one(index, due_ns))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
        result.sent += 1
    if in_flight:
        await asyncio.gather(*in_flight, return_exceptions=True)
    result.duration_s = (clock() - started) / _NS_PER_S
    return result


async def preopen_connections(open_idle: OpenIdle, offsets_s: np.ndarray, max_concurrency: int) -> int:
    """Open the connections the schedule's first requests need; return how many were opened.

    One connection first: its set-up time stands in for the target's round trip, so a distant
    target gets a wider window (requests due within it are likely in flight at once)."""
    if len(offsets_s) == 0:
        return 0
    first = await open_idle(1)
    if not first:
        return 0  # the target does not accept connections: the requests will say why
    window_s = max(PREOPEN_WINDOW_S, 2 * first[0])
    more = await open_idle(compute_preopen_count(offsets_s, max_concurrency, window_s))
    return len(first) + len(more)


def compute_preopen_count(offsets_s: np.ndarray, max_concurrency: int, window_s: float) -> int:
    """How many connections to open before the schedule: the requests due in its first
    `window_s`, plus one, at most the concurrency cap and PREOPEN_MAX_CONNECTIONS."""
    due = int(np.searchsorted(offsets_s, window_s, side="right"))
    return max(1, min(due + 1, max(1, max_concurrency), PREOPEN_MAX_CONNECTIONS))


async def run_closed_loop(
    send: SendProbe, ctx: LoadContext, publish: Publish,
    *, clock: Callable[[], int] = time.perf_counter_ns, stop: asyncio.Event | None = None,
) -> LoadResult:
    """C workers, each sending its next request when the previous one answers."""
    scenario = ctx.scenario
    deadline = clock() + int(scenario.duration_s * _NS_PER_S) if scenario.duration_s else None
    remaining = [scenario.count] if scenario.count else None
    counter = [0]
    result = LoadResult()

    def take() -> int | None:
        if stop is not None and stop.is_set():
            return None
        if deadline is not None and clock() >= deadline:
            return None
        if remaining is not None:
            if remaining[0] <= 0:
                return None
            remaining[0] -= 1
        counter[0] += 1
        return counter[0] - 1

    async def worker() -> None:
        while (index := take()) is not None:
            publish(await send(_probe_ctx(ctx, index)))
            result.sent += 1

    started = clock()
    await asyncio.gather(*(worker() for _ in range(scenario.concurrency)))
    result.duration_s = (clock() - started) / _NS_PER_S
    result.scheduled = result.sent
    return result


def build_load_record(target: str, scenario: ScenarioSpec | str, result: LoadResult) -> dict[str, object]:
    """A manifest record of one load step: achieved rate, lag, and a warning when lag was high."""
    name = scenario if isinstance(scenario, str) else scenario.name
    record: dict[str, object] = {
        "target": target, "scenario": name, "sent": result.sent, "scheduled": result.scheduled,
        "duration_s": result.duration_s, "max_lag_ms": result.max_lag_ms,
        "achieved_rate_per_s": result.sent / result.duration_s if result.duration_s else None,
        "client": result.client, "preopened_connections": result.preopened,
    }
    limit_ms = result.max_lag_limit_ms
    if result.max_lag_ms > limit_ms:
        record["warning"] = (f"{target}/{name}: schedule lag reached {result.max_lag_ms:.1f} ms "
                             f"(limit {limit_ms:g} ms): the client could not keep the rate")
    return record


def build_load_schedule(scenario: ScenarioSpec, seed: int, worker: int = 0, workers: int = 1) -> np.ndarray:
    """The arrival offsets of a `rate` scenario for one of `workers` processes.

    Workers split the rate evenly; Poisson streams stay independent (distinct seeds), and
    constant streams interleave (worker k is offset by k/(workers·rate)).
    """
    options = dict(scenario.options)
    where = f"scenarios[{scenario.name}]"
    steps = parse_steps(options["steps"], f"{where}.steps") if "steps" in options else None
    share = 1.0 / workers
    if steps:
        steps = [(rate * share, duration) for rate, duration in steps]
    ramp_to = float(options["ramp"]) * share if "ramp" in options else None
    offsets = build_schedule(scenario.rate_per_s * share, scenario.duration_s, scenario.arrivals,
                             seed * 1009 + worker, ramp_to=ramp_to, steps=steps)
    if scenario.arrivals == "constant" and not steps and ramp_to is None and workers > 1:
        offsets = offsets + worker / (workers * scenario.rate_per_s)
    return offsets


def max_lag_limit_ms(scenario: ScenarioSpec) -> float:
    """The scenario's `max_lag` (default 10 ms) in milliseconds."""
    value = dict(scenario.options).get("max_lag")
    return DEFAULT_MAX_LAG_MS if value is None else parse_duration_s(value, "max_lag") * 1000.0


def _probe_ctx(ctx: LoadContext, index: int) -> ProbeContext:
    return ProbeContext(
        probe_id=ctx.id_base + index * ctx.workers + ctx.worker, target=ctx.target.name,
        scenario=ctx.scenario.name, seq=index, worker=ctx.worker,
    )
