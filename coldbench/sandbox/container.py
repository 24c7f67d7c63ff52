"""Container mode: the same handler served by always-on workers, reached at `/container/<name>/`.

`container_workers` worker processes per function (container_worker.py) are started with the
sandbox, each listening on its own 127.0.0.1 port, and are never evicted (a crashed worker is
restarted). The sandbox proxies each request to an idle worker (FIFO, round-robin-like; requests
wait when all are busy, as behind a load balancer) over one keep-alive connection per worker.
A request running past the function timeout gets 504 and its worker is restarted.

Ground truth: container invocations are never cold; `invocation_n` is the worker's own count,
which includes its readiness ping, so the first user request is number 2.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import time
from collections import deque
from collections.abc import Callable

import aiohttp
from aiohttp import web
from multidict import CIMultiDict

from coldbench.sandbox.config import FunctionSettings
from coldbench.sandbox.container_worker import READY_LINE
from coldbench.sandbox.function_url import apply_truth_headers
from coldbench.sandbox.launcher import CONTAINER_WORKER, INHERITED_ENV, ChildProcess
from coldbench.sandbox.truth import TruthLog

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "upgrade",
              "proxy-connection", "te", "trailer"}
WORKER_HEADER = "x-coldbench-worker-invocation"
RESTART_DELAY_S = 0.5


class _Worker:
    def __init__(self, worker_id: str) -> None:
        self.id = worker_id
        self.port = 0
        self.process: ChildProcess | None = None
        self.ready = asyncio.Event()
        self.output = bytearray()


class ContainerPool:
    """The always-on workers of one function and the proxy in front of them."""

    def __init__(self, settings: FunctionSettings, python_path: list[str], warn: Callable[[str], None]) -> None:
        self.settings = settings
        self.python_path = python_path
        self.warn = warn
        self.workers = [_Worker(f"{settings.name}-c{i + 1}") for i in range(settings.container_workers)]
        self._idle: deque[_Worker] = deque()
        self._waiters: deque[asyncio.Future[_Worker]] = deque()
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    async def start(self, timeout_s: float) -> None:
        """Spawn every worker and wait until all have imported the handler."""
        connector = aiohttp.TCPConnector(limit=0, limit_per_host=1)
        self._session = aiohttp.ClientSession(connector=connector, auto_decompress=False,
                                              skip_auto_headers=("User-Agent", "Accept-Encoding"))
        for worker in self.workers:
            self._spawn(worker)
        try:
            await asyncio.wait_for(asyncio.gather(*(w.ready.wait() for w in self.workers)), timeout_s)
        except TimeoutError:
            raise RuntimeError(f"{self.settings.name}: container workers not ready after {timeout_s:g}s") from None

    async def stop(self) -> None:
        """Kill every worker and close the proxy's connections."""
        self._closed = True
        for worker in self.workers:
            if worker.process is not None:
                worker.process.kill()
        if self._session is not None:
            await self._session.close()

    def _spawn(self, worker: _Worker) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        worker.port = sock.getsockname()[1]
        worker.ready.clear()
        env = {key: os.environ[key] for key in INHERITED_ENV if key in os.environ}
        env.update(self.settings.environment)
        env.update({
            "_HANDLER": self.settings.handler,
            "LAMBDA_TASK_ROOT": str(self.settings.directory),
            "AWS_LAMBDA_FUNCTION_NAME": self.settings.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.settings.memory_mb),
            "AWS_REGION": "us-east-1",
            "PYTHONPATH": os.pathsep.join(self.python_path),
            "COLDBENCH_INSTANCE_ID": worker.id,
            "COLDBENCH_SANDBOX_PID": str(os.getpid()),
            "COLDBENCH_LISTEN_FD": str(sock.fileno()),
            "COLDBENCH_TIMEOUT_S": repr(self.settings.timeout_s),
        })

        def on_output(chunk: bytes) -> None:
            worker.output = (worker.output + chunk)[-8192:]
            if not worker.ready.is_set() and READY_LINE.encode() in worker.output:
                worker.ready.set()
                self._release(worker)

        argv = [sys.executable, "-S", str(CONTAINER_WORKER)]
        try:
            worker.process = ChildProcess(argv, env, self.settings.directory, on_output,
                                          lambda rc: self._on_exit(worker, rc), pass_fds=[sock.fileno()])
        finally:
            sock.close()  # the worker holds its own copy

    def _on_exit(self, worker: _Worker, returncode: int) -> None:
        if worker in self._idle:
            self._idle.remove(worker)
        if self._closed:
            return
        tail = worker.output.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
        self.warn(f"container worker {worker.id} exited ({returncode}): {tail[0]}; restarting")
        asyncio.get_running_loop().call_later(RESTART_DELAY_S, self._restart, worker)

    def _restart(self, worker: _Worker) -> None:
        if not self._closed:
            self._spawn(worker)

    async def _acquire(self) -> _Worker:
        if self._idle:
            return self._idle.popleft()
        waiter: asyncio.Future[_Worker] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        return await waiter

    def _release(self, worker: _Worker) -> None:
        if worker.process is None or not worker.process.alive:
            return
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(worker)
                return
        self._idle.append(worker)

    async def serve(self, request: web.Request, tail: str, truth: TruthLog) -> web.Response:
        """Proxy one request to an idle worker and record it in the ground-truth log."""
        arrived_ns, started_at = time.perf_counter_ns(), time.time()
        body = await request.read()
        worker = await self._acquire()
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP]
        url = f"http://127.0.0.1:{worker.port}/{tail}" + (f"?{request.query_string}" if request.query_string else "")
        sent_ns = time.perf_counter_ns()
        assert self._session is not None
        timeout = aiohttp.ClientTimeout(total=self.settings.timeout_s)
        try:
            async with self._session.request(request.method, url, headers=CIMultiDict(headers), data=body,
                                             allow_redirects=False, timeout=timeout) as response:
                raw = await response.read()
                status = response.status
                out = [(k, v) for k, v in response.headers.items() if k.lower() not in HOP_BY_HOP]
            self._release(worker)
        except (aiohttp.ClientError, TimeoutError) as exc:
            status, raw, out = self._failed(worker, exc)
        duration_ms = (time.perf_counter_ns() - sent_ns) / 1e6
        count = next((v for k, v in out if k.lower() == WORKER_HEADER), None)
        invocation_n = int(count) if count and count.isdigit() else None
        out = [(k, v) for k, v in out if k.lower() != WORKER_HEADER]
        out = apply_truth_headers(out, self.settings.ground_truth_headers, worker.id, invocation_n, None)
        truth.record(
            function=self.settings.name, surface="container", request_id=None, instance_id=worker.id, cold=False,
            invocation_n=invocation_n, init_ms=None, duration_ms=duration_ms,
            latency_ms=(time.perf_counter_ns() - arrived_ns) / 1e6, started_at=started_at,
            outcome="ok" if status < 500 else "function_error", error_type=None, status=status,
        )
        return web.Response(status=status, body=raw, headers=CIMultiDict(out))

    def _failed(self, worker: _Worker, exc: BaseException) -> tuple[int, bytes, list[tuple[str, str]]]:
        # The worker's state is unknown (stuck or crashed): restart it rather than reuse it.
        if worker.process is not None:
            worker.process.kill()
        status = 504 if isinstance(exc, TimeoutError) else 502
        message = b'{"Message":"Gateway Timeout"}' if status == 504 else b'{"Message":"Bad Gateway"}'
        return status, message, [("Content-Type", "application/json")]
