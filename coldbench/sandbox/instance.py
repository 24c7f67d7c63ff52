"""One execution environment (a runtime process) and the invocations routed to it.

An instance is `starting` from spawn until its first `GET /next` (awslambdaric imports the
handler before it polls, so that call marks the end of init: Init Duration = spawn -> first
/next), then `ready` until its process exits (`dead`). It accepts up to
`concurrency_per_instance` assigned invocations; assigned invocations wait in `queue` until a
poller's `/next` takes them, and stay in `inflight` until `/response` or `/error`.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from coldbench.sandbox.launcher import ChildProcess

LOG_CAPTURE_BYTES = 16 * 1024  # per invocation; the Invoke API returns the last 4 KB
INIT_LOG_BYTES = 16 * 1024


@dataclass(frozen=True, slots=True)
class InvocationResult:
    """What the platform returns for one invocation, plus the ground truth about it."""

    payload: bytes
    request_id: str
    outcome: str  # ok | function_error | timeout | init_error | crash | out_of_memory
    error_type: str | None = None
    duration_ms: float | None = None
    init_ms: float | None = None  # set on cold invocations only
    cold: bool = False
    instance_id: str | None = None
    invocation_n: int | None = None
    log_text: str = ""
    memory_used_mb: int | None = None

    @property
    def function_error(self) -> bool:
        """True when the Invoke API must say `X-Amz-Function-Error: Unhandled`."""
        return self.outcome != "ok"


class InstanceGone(Exception):
    """The instance a runtime call refers to is dead or unknown."""


class Invocation:
    """One request routed to an instance; `future` resolves with its InvocationResult."""

    __slots__ = (
        "request_id", "event", "client_context", "cold", "invocation_n", "assigned_ns",
        "dispatched_ns", "future", "timer", "log",
    )

    def __init__(self, event: bytes, client_context: str | None, cold: bool, invocation_n: int) -> None:
        self.request_id = str(uuid.uuid4())
        self.event = event
        self.client_context = client_context
        self.cold = cold
        self.invocation_n = invocation_n
        self.assigned_ns = time.perf_counter_ns()
        self.dispatched_ns: int | None = None
        self.future: asyncio.Future[InvocationResult] = asyncio.get_running_loop().create_future()
        self.timer: asyncio.TimerHandle | None = None
        self.log = bytearray()

    def add_log(self, chunk: bytes) -> None:
        """Append function output, keeping only the last LOG_CAPTURE_BYTES."""
        self.log += chunk
        if len(self.log) > LOG_CAPTURE_BYTES:
            del self.log[: len(self.log) - LOG_CAPTURE_BYTES]

    def duration_ms(self) -> float | None:
        """Dispatch (taken by /next) to now, in ms; None if never dispatched."""
        if self.dispatched_ns is None:
            return None
        return (time.perf_counter_ns() - self.dispatched_ns) / 1e6

    def resolve(self, result: InvocationResult) -> bool:
        """Complete the invocation once; later results (e.g. after a timeout) are ignored."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.future.done():
            return False
        self.future.set_result(result)
        return True


class Instance:
    """A runtime process of one function, with its queue, pollers and bookkeeping."""

    def __init__(self, instance_id: str, function: str, capacity: int, generation: int, provisioned: bool) -> None:
        self.id = instance_id
        self.function = function
        self.capacity = capacity
        self.generation = generation
        self.provisioned = provisioned
        self.state = "starting"  # starting | ready | dead
        self.retiring = False  # recycled: finish in-flight work, then stop
        self.process: ChildProcess | None = None
        self.port = 0
        self.started_wall = time.time()
        self.spawned_ns = time.perf_counter_ns()
        self.init_ms: float | None = None
        self.assigned = 0  # invocations routed here and not yet finished
        self.invocations = 0  # invocations routed here, ever
        self.queue: deque[Invocation] = deque()
        self.pollers: deque[asyncio.Future[Invocation]] = deque()
        self.inflight: dict[str, Invocation] = {}
        self.init_log = bytearray()
        self.init_error: tuple[bytes, str] | None = None  # (payload, errorType) from /init/error
        self.end_reason: str | None = None  # evicted | recycled | timeout | crashed | ...
        self.last_used_ns = self.spawned_ns
        self.evict_timer: asyncio.TimerHandle | None = None
        self.init_timer: asyncio.TimerHandle | None = None
        self.peak_rss_mb = 0

    @property
    def free_slots(self) -> int:
        """How many more invocations this instance can accept now."""
        return self.capacity - self.assigned

    @property
    def routable(self) -> bool:
        """May new invocations be routed here? (Provisioned instances only once initialised.)"""
        # An instance being stopped (end_reason set) stays alive until its exit is observed:
        # routing a request to it then would fail it and make the next one cold.
        if self.state == "dead" or self.retiring or self.end_reason or self.free_slots <= 0:
            return False
        return self.state == "ready" or not self.provisioned

    def assign(self, event: bytes, client_context: str | None) -> Invocation:
        """Route a new invocation here; it is cold if this instance has not finished init."""
        self.assigned += 1
        self.invocations += 1
        invocation = Invocation(event, client_context, self.state != "ready", self.invocations)
        if self.evict_timer is not None:
            self.evict_timer.cancel()
            self.evict_timer = None
        while self.pollers:
            poller = self.pollers.popleft()
            if not poller.done():
                self._dispatch(invocation)
                poller.set_result(invocation)
                return invocation
        self.queue.append(invocation)
        return invocation

    def _dispatch(self, invocation: Invocation) -> None:
        # In flight from the moment a poller gets it, so a crash in between still fails it.
        invocation.dispatched_ns = time.perf_counter_ns()
        self.inflight[invocation.request_id] = invocation

    async def take(self) -> Invocation:
        """Wait for the next invocation for a poller (the body of `GET /next`).

        Raises InstanceGone if the instance dies while waiting.
        """
        if self.queue:
            invocation = self.queue.popleft()
            self._dispatch(invocation)
            return invocation
        poller: asyncio.Future[Invocation] = asyncio.get_running_loop().create_future()
        self.pollers.append(poller)
        return await poller

    def fail_pollers(self) -> None:
        """Wake every waiting poller with InstanceGone (the instance is dead)."""
        while self.pollers:
            poller = self.pollers.popleft()
            if not poller.done():
                poller.set_exception(InstanceGone(self.id))

    def mark_ready(self) -> bool:
        """Record the end of init at the first /next; True if this call did it."""
        if self.state != "starting":
            return False
        self.state = "ready"
        self.init_ms = (time.perf_counter_ns() - self.spawned_ns) / 1e6
        if self.init_timer is not None:
            self.init_timer.cancel()
            self.init_timer = None
        return True

    def add_output(self, chunk: bytes) -> None:
        """Attribute runtime output to the invocations in flight (or to init if none)."""
        if not self.inflight:
            self.init_log += chunk
            if len(self.init_log) > INIT_LOG_BYTES:
                del self.init_log[: len(self.init_log) - INIT_LOG_BYTES]
            return
        for invocation in self.inflight.values():
            invocation.add_log(chunk)

    def pending(self) -> list[Invocation]:
        """Every invocation routed here that has not completed (queued or in flight)."""
        return [*self.queue, *self.inflight.values()]

    def describe(self) -> dict[str, object]:
        """A JSON-ready summary for /_sandbox/instances."""
        return {
            "id": self.id,
            "function": self.function,
            "state": self.state,
            "provisioned": self.provisioned,
            "retiring": self.retiring,
            "generation": self.generation,
            "pid": self.process.pid if self.process else None,
            "port": self.port,
            "started_at": self.started_wall,
            "init_ms": self.init_ms,
            "invocations": self.invocations,
            "assigned": self.assigned,
            "end_reason": self.end_reason,
            "peak_rss_mb": self.peak_rss_mb,
        }
