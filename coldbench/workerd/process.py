"""Run Cloudflare's workerd as a child process serving one worker script on 127.0.0.1.

    with WorkerdProcess(Path("targets/functions/hello-worker/worker.js"), keep_alive_s=4) as w:
        urllib.request.urlopen(w.url)             # the worker's one isolate (made at start-up)
        urllib.request.urlopen(w.ondemand_url)    # a new isolate after 4 s idle (config.py)

    async with WorkerdProcess(script) as w: ...

The config (config.py) goes into a fresh temporary directory with a copy of the script; it is
removed on stop. workerd reports the port of each socket on a `--control-fd` pipe, which is
also the ready signal; `startup_ms` is spawn → both sockets listening, which includes the
isolate's creation and the module's evaluation (workerd does both before it listens).
`restart()` is the honest way to get a new isolate on the `http` socket: workerd never retires
it. The child is in its own process group and gets SIGKILL when the thread that started it
dies (PR_SET_PDEATHSIG); stop sends SIGTERM, then SIGKILL after `stop_grace_s`.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from coldbench.errors import ConfigError, TargetError
from coldbench.readiness import aread_until_ready, aterminate, read_until_ready, terminate
from coldbench.workerd.config import (
    COMPATIBILITY_DATE,
    CONFIG_NAME,
    FRONT_MODULE,
    FRONT_WORKER_JS,
    WORKER_MODULE,
    build_workerd_config,
)
from coldbench.workerd.install import find_workerd, read_workerd_version

SOCKETS = ("http", "ondemand")
DIR_PREFIX = "coldbench-workerd-"
_PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def _child_setup(parent_pid: int) -> Any:
    """preexec_fn: die with the parent (Linux), and never outlive a parent already gone."""

    def setup() -> None:
        if _LIBC is not None:
            _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent_pid:
            os._exit(1)

    return setup


class WorkerdProcess:
    """A `workerd serve` child; use as a (sync or async) context manager."""

    def __init__(self, script: Path, *, binary: Path | None = None, port: int = 0,
                 ondemand_port: int = 0, keep_alive_s: float = 0.0, max_isolates: int = 256,
                 compatibility_date: str = COMPATIBILITY_DATE, log_path: Path | None = None,
                 ready_timeout_s: float = 30.0, stop_grace_s: float = 5.0) -> None:
        """`keep_alive_s`: idle time after which the on-demand socket starts a new isolate
        (0: every request); `log_path`: workerd's output (default: a file in its temp dir)."""
        self.script = Path(script).resolve()
        if not self.script.is_file():
            raise ConfigError(f"workerd script not found: {self.script}")
        self.settings: dict[str, Any] = {"keep_alive_ms": round(keep_alive_s * 1000),
                                         "max_isolates": max_isolates,
                                         "compatibility_date": compatibility_date}
        self._wanted_ports = {"http": port, "ondemand": ondemand_port}
        self._config_text()  # ValueError on a bad setting, before anything is spawned
        self.binary = binary
        self.log_path = log_path
        self.ready_timeout_s = ready_timeout_s
        self.stop_grace_s = stop_grace_s
        self.ports: dict[str, int] = {}
        self.startup_ms: float | None = None
        self._popen: subprocess.Popen[bytes] | None = None
        self._dir: Path | None = None
        self._control: int | None = None
        self._log: IO[bytes] | None = None
        self._spawned_ns = 0

    @property
    def url(self) -> str:
        """Base URL of the worker itself (one isolate, made at start-up)."""
        return f"http://127.0.0.1:{self.ports['http']}"

    @property
    def ondemand_url(self) -> str:
        """Base URL of the on-demand front (a new isolate after `keep_alive_s` idle)."""
        return f"http://127.0.0.1:{self.ports['ondemand']}"

    @property
    def pid(self) -> int | None:
        """workerd's pid once started."""
        return self._popen.pid if self._popen is not None else None

    def describe(self) -> dict[str, Any]:
        """What a run manifest should record about this workerd."""
        binary = self.binary or find_workerd()[0]
        return {"binary": str(binary), "version": read_workerd_version(binary) if binary else None,
                "script": str(self.script), "startup_ms": self.startup_ms, **self.settings}

    # -- start ----------------------------------------------------------------------------------

    def _resolve_binary(self) -> Path:
        if self.binary is None:
            self.binary, reason = find_workerd()
            if self.binary is None:
                raise TargetError(f"workerd is not available ({reason}); install it with "
                                  "`python -m coldbench.workerd.install` (needs Node.js and npm)")
        if not self.binary.is_file():
            raise TargetError(f"workerd binary not found: {self.binary}")
        return self.binary

    def _config_text(self) -> str:
        return build_workerd_config(port=self._wanted_ports["http"],
                                    ondemand_port=self._wanted_ports["ondemand"], **self.settings)

    def _spawn(self) -> None:
        binary = self._resolve_binary()
        self.ports, self.startup_ms = {}, None
        self._dir = Path(tempfile.mkdtemp(prefix=DIR_PREFIX))
        (self._dir / CONFIG_NAME).write_text(self._config_text(), encoding="utf-8")
        (self._dir / FRONT_MODULE).write_text(FRONT_WORKER_JS, encoding="utf-8")
        shutil.copyfile(self.script, self._dir / WORKER_MODULE)
        self._log = open(self.log_path or self._dir / "workerd.log", "ab")  # noqa: SIM115
        read_fd, write_fd = os.pipe()
        self._control = read_fd
        self._spawned_ns = time.perf_counter_ns()
        try:
            self._popen = subprocess.Popen(
                [str(binary), "serve", "--experimental", CONFIG_NAME, "--control-fd", str(write_fd)],
                cwd=self._dir, stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log,
                pass_fds=(write_fd,), process_group=0, preexec_fn=_child_setup(os.getpid()),
            )
        finally:
            os.close(write_fd)

    def _accept(self, buffer: bytes) -> bool:
        """Record the ports announced so far; True once every socket listens."""
        for line in buffer.splitlines():
            with contextlib.suppress(ValueError, TypeError, KeyError):
                event = json.loads(line)
                if event.get("event") == "listen":
                    self.ports[str(event["socket"])] = int(event["port"])
        if all(name in self.ports for name in SOCKETS):
            self.startup_ms = (time.perf_counter_ns() - self._spawned_ns) / 1e6
            self._wanted_ports = dict(self.ports)  # a restart keeps the URLs
            return True
        return False

    def _startup_failure(self, why: str) -> TargetError:
        log = self.log_path or (self._dir / "workerd.log" if self._dir else None)
        tail = ""
        with contextlib.suppress(OSError, TypeError):
            lines = Path(log).read_text(encoding="utf-8", errors="replace").strip().splitlines()  # type: ignore[arg-type]
            tail = f": {' | '.join(lines[-3:])}" if lines else ""
        self.stop()
        return TargetError(f"workerd {why}{tail}")

    def start(self) -> WorkerdProcess:
        """Spawn workerd and wait until its sockets listen (TargetError on failure)."""
        self._spawn()
        assert self._control is not None
        try:
            buffer = read_until_ready(self._control, self._accept, self.ready_timeout_s)
        except TimeoutError:
            raise self._startup_failure(f"was not listening after {self.ready_timeout_s:g}s") from None
        if buffer is None:
            raise self._startup_failure(f"exited with status {self._wait()} before listening")
        return self

    async def astart(self) -> WorkerdProcess:
        """Async `start`: the event loop keeps running while workerd starts."""
        self._spawn()
        assert self._control is not None
        try:
            buffer = await aread_until_ready(self._control, self._accept, self.ready_timeout_s)
        except TimeoutError:
            raise self._startup_failure(f"was not listening after {self.ready_timeout_s:g}s") from None
        if buffer is None:
            raise self._startup_failure(f"exited with status {self._wait()} before listening")
        return self

    def _wait(self) -> int | None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            return self._popen.wait(1.0) if self._popen is not None else None
        return None

    def restart(self) -> float:
        """Stop and start again on the same ports (a new isolate); return the new startup_ms."""
        self.stop()
        self.start()
        assert self.startup_ms is not None
        return self.startup_ms

    # -- stop -----------------------------------------------------------------------------------

    def stop(self) -> int | None:
        """SIGTERM, wait up to stop_grace_s, then SIGKILL; remove the temp dir. Idempotent."""
        popen = self._popen
        status = terminate(popen, self.stop_grace_s) if popen is not None else None
        self._cleanup()
        return status

    async def astop(self) -> int | None:
        """Async `stop`."""
        popen = self._popen
        status = await aterminate(popen, self.stop_grace_s) if popen is not None else None
        self._cleanup()
        return status

    def _cleanup(self) -> None:
        if self._control is not None:
            os.close(self._control)
            self._control = None
        if self._log is not None:
            self._log.close()
            self._log = None
        directory, self._dir = self._dir, None
        # Only ever the directory mkdtemp made for us.
        if directory is not None and directory.name.startswith(DIR_PREFIX) \
                and directory.parent == Path(tempfile.gettempdir()):
            shutil.rmtree(directory, ignore_errors=True)

    def __enter__(self) -> WorkerdProcess:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    async def __aenter__(self) -> WorkerdProcess:
        return await self.astart()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.astop()
