"""The platform: every function's pool and container workers, the sandbox-wide caps, and the
plumbing that turns an Instance into a real runtime process (port, scratch dir, environment).

Caps protect the host: at most `max_total_instances` runtime instances, and the sum of their
`memory_mb` within `max_total_memory_mb`; beyond either, invocations get 429
(`ConcurrentInvocationLimitExceeded`). A 1 Hz watchdog kills an instance whose RSS (largest
process of its group) exceeds its `memory_mb`, failing in-flight work as `Runtime.OutOfMemory`.

Scratch files live only in the state dir made by `launcher.make_state_dir`; `state_dir` is None
until `start` made it, and every deletion goes through `launcher.remove_state_dir`, which refuses
any path outside a sandbox state dir.
"""

from __future__ import annotations

import asyncio
import random
import sys
from pathlib import Path

import psutil

from coldbench.sandbox.config import FunctionSettings, SandboxSettings
from coldbench.sandbox.container import ContainerPool
from coldbench.sandbox.instance import Instance
from coldbench.sandbox.launcher import (
    ChildProcess,
    build_runtime_env,
    make_state_dir,
    probe_tmp_isolation,
    python_path_entries,
    read_peak_rss_mb,
    remove_state_dir,
    runtime_argv,
)
from coldbench.sandbox.pool import FunctionPool, Throttled
from coldbench.sandbox.runtime_api import RuntimeServer
from coldbench.sandbox.truth import TruthLog

WATCHDOG_PERIOD_S = 1.0
STOP_GRACE_S = 3.0


class Platform:
    """Owns pools, container pools, the runtime API server and host-level accounting."""

    def __init__(self, settings: SandboxSettings, functions: dict[str, FunctionSettings], tmp_mode: str | None = None) -> None:
        self.settings = settings
        self.truth = TruthLog()
        self.runtime = RuntimeServer()
        self.tmp_mode = tmp_mode or probe_tmp_isolation()
        self.pools = {
            name: FunctionPool(fs, self, random.Random(f"{settings.seed}:{name}")) for name, fs in functions.items()
        }
        self.containers: dict[str, ContainerPool] = {}
        self.state_dir: Path | None = None  # made by start(); nothing is ever deleted before
        self.python_path: list[str] = []
        self.instance_count = 0
        self.memory_mb_in_use = 0
        self._watchdog: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()

    async def start(self, ready_timeout_s: float = 60.0) -> list[str]:
        """Start provisioned instances and container workers; return problems (empty = all ready)."""
        self.state_dir = make_state_dir()
        self.python_path = python_path_entries(self.state_dir / "vendor")
        await self.runtime.start()
        for name, pool in self.pools.items():
            pool.ensure_provisioned()
            if pool.settings.container_workers > 0:
                self.containers[name] = ContainerPool(pool.settings, self.python_path, self.warn)
        problems = await self._wait_ready(ready_timeout_s)
        self._watchdog = asyncio.get_running_loop().create_task(self._watch_memory())
        return problems

    async def _wait_ready(self, timeout_s: float) -> list[str]:
        results = await asyncio.gather(
            *(container.start(timeout_s) for container in self.containers.values()),
            *(pool.wait_provisioned(timeout_s) for pool in self.pools.values()),
            return_exceptions=True,
        )
        problems = [str(r) for r in results if isinstance(r, BaseException)]
        for pool in self.pools.values():
            if pool.provisioned_problem:
                problems.append(f"{pool.settings.name}: {pool.provisioned_problem}")
        return problems

    async def stop(self) -> None:
        """Stop every process and wait (briefly) until all have exited; remove scratch files."""
        if self._watchdog is not None:
            self._watchdog.cancel()
        for pool in self.pools.values():
            pool.close()
        for container in self.containers.values():
            await container.stop()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STOP_GRACE_S
        while any(pool.instances for pool in self.pools.values()) and loop.time() < deadline:
            await asyncio.sleep(0.01)
        await self.runtime.stop()
        remove_state_dir(self.state_dir)
        self.state_dir = None

    # -- InstanceHost ------------------------------------------------------------------------------------

    def admit(self, memory_mb: int) -> None:
        """Count one more instance against the sandbox-wide caps, or raise Throttled."""
        if self.instance_count >= self.settings.max_total_instances:
            raise Throttled("ConcurrentInvocationLimitExceeded")
        if self.memory_mb_in_use + memory_mb > self.settings.max_total_memory_mb:
            raise Throttled("ConcurrentInvocationLimitExceeded")
        self.instance_count += 1
        self.memory_mb_in_use += memory_mb

    def _instance_dir(self, instance: Instance) -> Path:
        if self.state_dir is None:
            raise OSError("the sandbox is not started")
        return self.state_dir / "instances" / instance.id

    async def launch(self, pool: FunctionPool, instance: Instance) -> None:
        """Open the instance's Runtime API port, make its scratch dir and spawn the runtime."""
        directory = self._instance_dir(instance)
        instance.port = await self.runtime.open_port(pool, instance)
        if instance.state == "dead":  # stopped while the port was opening
            return
        directory.mkdir(parents=True, exist_ok=True)
        env = build_runtime_env(
            pool.settings, instance.id, instance.port, self.python_path, directory, self.tmp_mode, instance.provisioned
        )
        echo = self.settings.echo_runtime_output

        def on_output(chunk: bytes) -> None:
            pool.on_output(instance, chunk)
            if echo:
                for line in chunk.decode("utf-8", "replace").splitlines():
                    print(f"[{instance.id}] {line}", file=sys.stderr, flush=True)

        instance.process = ChildProcess(
            runtime_argv(), env, pool.settings.directory, on_output, lambda rc: pool.on_exit(instance, rc)
        )
        instance.spawned_ns = instance.process.spawned_ns  # Init Duration starts at spawn

    def forget(self, pool: FunctionPool, instance: Instance) -> None:
        """Release what a dead instance held."""
        self.instance_count -= 1
        self.memory_mb_in_use -= pool.settings.memory_mb
        if instance.port:
            task = asyncio.get_running_loop().create_task(self.runtime.close_port(instance.port))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        if self.state_dir is not None:
            remove_state_dir(self._instance_dir(instance))

    def warn(self, message: str) -> None:
        """One line on the sandbox's stderr."""
        print(f"coldbench sandbox: {message}", file=sys.stderr, flush=True)

    def peak_rss_mb(self, instance: Instance) -> int:
        """Peak RSS of an instance for REPORT's Max Memory Used (watchdog value, else VmHWM)."""
        if instance.peak_rss_mb == 0 and instance.process is not None:
            instance.peak_rss_mb = read_peak_rss_mb(instance.process.pid)
        return instance.peak_rss_mb

    async def _watch_memory(self) -> None:
        while True:
            await asyncio.sleep(WATCHDOG_PERIOD_S)
            for pool in self.pools.values():
                for instance in list(pool.instances):
                    self._check_memory(pool, instance)

    def _check_memory(self, pool: FunctionPool, instance: Instance) -> None:
        if instance.process is None or not instance.process.alive:
            return
        try:
            leader = psutil.Process(instance.process.pid)
            rss = max(p.memory_info().rss for p in [leader, *leader.children(recursive=True)])
        except psutil.Error:
            return
        rss_mb = rss // 2**20
        instance.peak_rss_mb = max(instance.peak_rss_mb, rss_mb)
        if rss_mb > pool.settings.memory_mb:
            pool.kill_for_memory(instance, rss_mb)

    def describe_instances(self) -> list[dict[str, object]]:
        """Live instances then recently ended ones, for /_sandbox/instances."""
        live = [i.describe() for pool in self.pools.values() for i in pool.instances]
        ended = [d for pool in self.pools.values() for d in pool.ended]
        return live + ended
