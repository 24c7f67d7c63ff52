"""Scaling of one function: routing, scale-out, throttling, eviction, provisioned, recycling.

Routing: an invocation goes to a ready instance with a free slot (provisioned first, then the
most recently used, so surplus instances idle out as on Lambda); failing that, to an on-demand
instance still initialising that has a free slot (only possible with concurrency_per_instance > 1:
Cloud Run style, several requests share one init); failing that a new instance is started.
Throttling (429 TooManyRequestsException): in-flight >= reserved concurrency, or no free slot
and max_instances / the sandbox-wide instance or memory cap reached. Nothing queues.

An instance that becomes idle is evicted after a keep-alive drawn per idle period from the
function's distribution (seeded per function). Provisioned instances are initialised ahead,
never evicted, replaced if they crash, and only receive requests once initialised.
A configuration update recycles every instance: idle ones stop now, busy ones after their
in-flight work; the next invocations are cold. A timeout kills the instance (and so fails any
other invocation in flight on it).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from dataclasses import replace
from typing import Any, Protocol

from coldbench.sandbox.config import FunctionSettings
from coldbench.sandbox.instance import Instance, Invocation, InvocationResult
from coldbench.sandbox.shapes import crash_payload, error_payload, timeout_payload

ENDED_KEPT = 200  # ended instances kept for /_sandbox/instances


class Throttled(Exception):
    """The invocation is refused with 429; `reason` is Lambda's ThrottleReason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class InstanceHost(Protocol):
    """What a pool needs from the platform: capacity accounting and process plumbing."""

    def admit(self, memory_mb: int) -> None:
        """Reserve room for one more instance or raise Throttled."""

    async def launch(self, pool: FunctionPool, instance: Instance) -> None:
        """Open the instance's runtime API port and spawn its process."""

    def forget(self, pool: FunctionPool, instance: Instance) -> None:
        """Release the port, the capacity and the scratch dir of a dead instance."""

    def warn(self, message: str) -> None:
        """Report an operational problem (one line on the sandbox's stderr)."""

    def peak_rss_mb(self, instance: Instance) -> int:
        """Peak RSS of the instance's processes in MB (0 if unknown)."""


class FunctionPool:
    """The live instances of one function and the rules that create and retire them."""

    def __init__(self, settings: FunctionSettings, host: InstanceHost, rng: random.Random) -> None:
        self.settings = settings
        self.host = host
        self.rng = rng
        self.instances: list[Instance] = []
        self.ended: deque[dict[str, Any]] = deque(maxlen=ENDED_KEPT)
        self.generation = 0
        self.started = 0
        self.inflight = 0
        self.reserved = settings.reserved_concurrency
        self.provisioned_target = settings.provisioned
        self.provisioned_problem: str | None = None
        self.last_modified = time.time()
        self.closed = False

    # -- invocations ---------------------------------------------------------------------------

    async def invoke(self, event: bytes, client_context: str | None = None) -> InvocationResult:
        """Route one invocation and wait for its result (raises Throttled)."""
        if self.reserved is not None and self.inflight >= self.reserved:
            raise Throttled("ReservedFunctionConcurrentInvocationLimitExceeded")
        picked = self._pick()
        instance = picked if picked is not None else self._new_instance(provisioned=False)
        invocation = instance.assign(event, client_context)
        self.inflight += 1
        invocation.future.add_done_callback(lambda _: self._finished(instance))
        if picked is None:
            await self._launch(instance)
        # Shielded: a client that goes away must not free the slot while the runtime still works.
        return await asyncio.shield(invocation.future)

    def _pick(self) -> Instance | None:
        ready, starting = None, None
        for instance in self.instances:
            if not instance.routable:
                continue
            if instance.state == "ready":
                if ready is None or (instance.provisioned, instance.last_used_ns) > (ready.provisioned, ready.last_used_ns):
                    ready = instance
            elif starting is None:
                starting = instance
        return ready or starting

    def _finished(self, instance: Instance) -> None:
        self.inflight -= 1
        instance.assigned -= 1
        instance.last_used_ns = time.perf_counter_ns()
        if instance.state == "dead" or instance.assigned > 0:
            return
        if instance.retiring:
            self._stop(instance, "recycled")
        elif not instance.provisioned:
            self._schedule_eviction(instance)

    # -- instance lifecycle ----------------------------------------------------------------------

    def _new_instance(self, provisioned: bool) -> Instance:
        live = sum(1 for i in self.instances if i.state != "dead")
        if self.settings.max_instances is not None and live >= self.settings.max_instances:
            raise Throttled("ReservedFunctionConcurrentInvocationLimitExceeded")
        self.host.admit(self.settings.memory_mb)
        self.started += 1
        instance = Instance(
            f"{self.settings.name}-{self.started}",
            self.settings.name,
            self.settings.concurrency_per_instance,
            self.generation,
            provisioned,
        )
        self.instances.append(instance)
        return instance

    async def _launch(self, instance: Instance) -> None:
        loop = asyncio.get_running_loop()
        instance.init_timer = loop.call_later(self.settings.init_timeout_s, self._init_timed_out, instance)
        try:
            await self.host.launch(self, instance)
        except OSError as exc:
            self.host.warn(f"cannot start {instance.id}: {exc}")
            for invocation in instance.pending():
                payload = error_payload("Runtime.ExitError", str(exc))
                invocation.resolve(self._failure(instance, invocation, "crash", payload))
            self.on_exit(instance, None)

    def _schedule_eviction(self, instance: Instance) -> None:
        keep_alive_s = self.settings.keep_alive.draw_s(self.rng)
        instance.evict_timer = asyncio.get_running_loop().call_later(keep_alive_s, self._evict, instance)

    def _evict(self, instance: Instance) -> None:
        if instance.assigned == 0 and not instance.provisioned:
            self._stop(instance, "evicted")

    def _stop(self, instance: Instance, reason: str) -> None:
        if instance.state == "dead":
            return
        instance.end_reason = instance.end_reason or reason
        if instance.process is not None and instance.process.alive:
            instance.process.kill()  # exit is observed by on_exit, which cleans up
        else:
            self.on_exit(instance, None)

    # -- events from the runtime API and the launcher ----------------------------------------------

    def on_next(self, instance: Instance) -> None:
        """A poller of `instance` called /next; the first call ends init."""
        if instance.mark_ready() and instance.provisioned:
            self.provisioned_problem = None

    def arm_timeout(self, instance: Instance, invocation: Invocation) -> None:
        """Start the function timeout of an invocation just handed to a poller."""
        if not invocation.future.done():
            loop = asyncio.get_running_loop()
            invocation.timer = loop.call_later(self.settings.timeout_s, self._timed_out, instance, invocation)

    def on_response(self, instance: Instance, request_id: str, payload: bytes, error_type: str | None) -> bool:
        """The runtime posted /response (error_type None) or /error; False if the id is unknown."""
        if instance.process is not None:
            instance.process.drain_output()  # output written before the response belongs to it
        invocation = instance.inflight.pop(request_id, None)
        if invocation is None:
            return False
        outcome = "ok" if error_type is None else "function_error"
        invocation.resolve(self._result(instance, invocation, payload, outcome, error_type))
        return True

    def on_init_error(self, instance: Instance, payload: bytes, error_type: str) -> None:
        """The runtime posted /init/error: fail everything routed here; the runtime exits."""
        if instance.process is not None:
            instance.process.drain_output()
        instance.init_error = (payload, error_type)
        instance.end_reason = "init_error"
        for invocation in instance.pending():
            invocation.resolve(self._failure(instance, invocation, "init_error", payload, error_type))
        if instance.provisioned:
            self.provisioned_problem = f"init failed: {error_type}"
        self._stop(instance, "init_error")

    def on_output(self, instance: Instance, chunk: bytes) -> None:
        """Runtime output arrived (stdout and stderr, merged)."""
        instance.add_output(chunk)

    def on_exit(self, instance: Instance, returncode: int | None) -> None:
        """The instance's process is gone (or never started): fail its work, clean up, replace."""
        if instance.state == "dead":
            return
        was_ready = instance.state == "ready"
        instance.state = "dead"
        instance.end_reason = instance.end_reason or ("crashed" if was_ready else "init_crashed")
        for timer in (instance.evict_timer, instance.init_timer):
            if timer is not None:
                timer.cancel()
        instance.fail_pollers()
        for invocation in instance.pending():
            payload = crash_payload(invocation.request_id, returncode)
            invocation.resolve(self._failure(instance, invocation, "crash", payload))
        instance.queue.clear()
        instance.inflight.clear()
        self.instances.remove(instance)
        self.host.forget(self, instance)
        self.ended.append(instance.describe())
        if instance.provisioned and was_ready and not instance.retiring and not self.closed:
            self.ensure_provisioned()  # Lambda replaces a failed provisioned environment

    def kill_for_memory(self, instance: Instance, rss_mb: int) -> None:
        """The watchdog saw RSS above memory_mb: fail in-flight work as Runtime.OutOfMemory."""
        for invocation in instance.pending():
            message = f"RequestId: {invocation.request_id} Error: Runtime exited with error: signal: killed"
            payload = error_payload("Runtime.OutOfMemory", message)
            invocation.resolve(self._failure(instance, invocation, "out_of_memory", payload, "Runtime.OutOfMemory"))
        self.host.warn(f"{instance.id}: {rss_mb} MB RSS exceeds memory_mb={self.settings.memory_mb}; killed")
        self._stop(instance, "out_of_memory")

    def _timed_out(self, instance: Instance, invocation: Invocation) -> None:
        if invocation.future.done():
            return
        if instance.process is not None:
            instance.process.drain_output()
        instance.inflight.pop(invocation.request_id, None)
        payload = timeout_payload(invocation.request_id, self.settings.timeout_s)
        invocation.resolve(self._failure(instance, invocation, "timeout", payload, "Sandbox.Timedout"))
        self._stop(instance, "timeout")

    def _init_timed_out(self, instance: Instance) -> None:
        if instance.state != "starting":
            return
        for invocation in instance.pending():
            payload = timeout_payload(invocation.request_id, self.settings.init_timeout_s, phase="Init")
            invocation.resolve(self._failure(instance, invocation, "timeout", payload, "Sandbox.Timedout"))
        if instance.provisioned:
            self.provisioned_problem = "init timed out"
        self._stop(instance, "init_timeout")

    def _result(
        self, instance: Instance, invocation: Invocation, payload: bytes, outcome: str, error_type: str | None
    ) -> InvocationResult:
        return InvocationResult(
            payload=payload,
            request_id=invocation.request_id,
            outcome=outcome,
            error_type=error_type,
            duration_ms=invocation.duration_ms(),
            init_ms=instance.init_ms if invocation.cold else None,
            cold=invocation.cold,
            instance_id=instance.id,
            invocation_n=invocation.invocation_n,
            log_text=invocation.log.decode("utf-8", "replace"),
            memory_used_mb=self.host.peak_rss_mb(instance) or None,
        )

    def _failure(
        self, instance: Instance, invocation: Invocation, outcome: str, payload: bytes, error_type: str | None = None
    ) -> InvocationResult:
        result = self._result(instance, invocation, payload, outcome, error_type or "Runtime.ExitError")
        if outcome in ("init_error", "crash") and not result.log_text:
            result = replace(result, log_text=instance.init_log.decode("utf-8", "replace"))
        return result

    # -- configuration ---------------------------------------------------------------------------------

    def update_settings(self, settings: FunctionSettings) -> None:
        """Apply a configuration update (UpdateFunctionConfiguration) and recycle instances."""
        self.settings = settings
        self.last_modified = time.time()
        self.recycle()

    def recycle(self) -> None:
        """Retire every instance (idle now, busy after their work): the next requests are cold."""
        self.generation += 1
        for instance in list(self.instances):
            instance.retiring = True
            if instance.assigned == 0:
                self._stop(instance, "recycled")
        self.ensure_provisioned()

    def set_provisioned(self, count: int) -> None:
        """Set the provisioned instance count (PutProvisionedConcurrencyConfig)."""
        self.provisioned_target = count
        self.provisioned_problem = None
        self.last_modified = time.time()
        self.ensure_provisioned()

    def ensure_provisioned(self) -> None:
        """Start or demote instances until the provisioned count matches the target."""
        if self.closed:
            return
        current = [i for i in self.instances if i.provisioned and not i.retiring and i.state != "dead"]
        for instance in current[self.provisioned_target:]:
            instance.provisioned = False  # demoted: now an ordinary instance that can idle out
            if instance.assigned == 0 and instance.state == "ready":
                self._schedule_eviction(instance)
        for _ in range(self.provisioned_target - len(current)):
            try:
                instance = self._new_instance(provisioned=True)
            except Throttled as exc:
                self.provisioned_problem = f"cannot start provisioned instance: {exc.reason}"
                self.host.warn(f"{self.settings.name}: {self.provisioned_problem}")
                return
            asyncio.get_running_loop().create_task(self._launch(instance))

    def provisioned_counts(self) -> tuple[int, int]:
        """(requested, allocated-and-ready) provisioned instances."""
        ready = sum(1 for i in self.instances if i.provisioned and i.state == "ready" and not i.retiring)
        return self.provisioned_target, ready

    async def wait_provisioned(self, timeout_s: float) -> bool:
        """Wait until every provisioned instance is initialised (or has failed); True if ready."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            requested, ready = self.provisioned_counts()
            if ready >= requested or self.provisioned_problem:
                return ready >= requested
            await asyncio.sleep(0.005)
        return False

    def close(self) -> None:
        """Stop every instance (sandbox shutdown)."""
        self.closed = True
        for instance in list(self.instances):
            self._stop(instance, "shutdown")
