"""Run the sandbox as a child process: for `coldbench run`, tests and benchmarks.

    with SandboxProcess(Path("targets/functions"), {"hello": {"keep_alive": "4s"}}) as sandbox:
        urllib.request.urlopen(f"{sandbox.url}/fn/hello/")

    async with SandboxProcess.from_suite(suite["sandbox"], suite_dir) as sandbox: ...

The child is `python -m coldbench sandbox --config <json>`, in its own process group, with a
parent-death signal (it dies if this process dies, even by SIGKILL, and takes its runtimes with
it). Settings are validated here first, so a bad override raises ConfigError naming the key
before anything is spawned. Start-up waits for the child's JSON ready line (TargetError on
timeout or early exit); exit sends SIGTERM, then SIGKILL after `stop_grace_s`.
The parent-death signal is tied to the thread that starts the sandbox: start it from the
thread that lives as long as it should (the main thread, or the event loop's thread).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from coldbench.errors import TargetError
from coldbench.readiness import aread_until_ready, aterminate, has_line, read_until_ready, terminate
from coldbench.sandbox.config import build_sandbox_settings, load_functions

READY_TIMEOUT_S = 60.0
STOP_GRACE_S = 5.0


class SandboxProcess:
    """A `coldbench sandbox` child process; use as a (sync or async) context manager."""

    def __init__(
        self,
        functions_dir: Path,
        overrides: dict[str, dict[str, Any]] | None = None,
        port: int = 0,
        *,
        settings: dict[str, Any] | None = None,
        log_path: Path | None = None,
        ready_timeout_s: float = READY_TIMEOUT_S,
        stop_grace_s: float = STOP_GRACE_S,
    ) -> None:
        """`settings`: other `[sandbox]` keys (seed, max_total_instances, ...); `log_path`:
        where the sandbox's stderr goes (default: this process's stderr)."""
        table: dict[str, Any] = dict(settings or {})
        table.update({"functions": str(Path(functions_dir).resolve()), "port": port, "overrides": overrides or {}})
        load_functions(build_sandbox_settings(table, Path.cwd()))  # raises ConfigError naming the key
        self.table = table
        self.log_path = log_path
        self.ready_timeout_s = ready_timeout_s
        self.stop_grace_s = stop_grace_s
        self.url = ""
        self.info: dict[str, Any] = {}
        self._popen: subprocess.Popen[bytes] | None = None
        self._config_path: Path | None = None
        self._log: IO[bytes] | None = None

    @classmethod
    def from_suite(cls, table: dict[str, Any], suite_dir: Path, **kwargs: Any) -> SandboxProcess:
        """Build from a suite's `[sandbox]` table (`functions` relative to the suite's dir)."""
        rest = {k: v for k, v in table.items() if k not in ("functions", "overrides", "port")}
        functions = Path(table.get("functions", "functions"))
        return cls(
            functions if functions.is_absolute() else suite_dir / functions,
            table.get("overrides") or {},
            int(table.get("port", 0)),
            settings=rest,
            **kwargs,
        )

    @property
    def pid(self) -> int | None:
        """The sandbox's pid once started."""
        return self._popen.pid if self._popen is not None else None

    # -- start ----------------------------------------------------------------------------------

    def _spawn(self) -> subprocess.Popen[bytes]:
        fd, name = tempfile.mkstemp(prefix="coldbench-sandbox-config-", suffix=".json")
        with os.fdopen(fd, "w") as config:
            json.dump(self.table, config)
        self._config_path = Path(name)
        env = dict(os.environ, COLDBENCH_SANDBOX_PARENT_PID=str(os.getpid()))
        self._log = open(self.log_path, "ab") if self.log_path is not None else None  # noqa: SIM115
        self._popen = subprocess.Popen(
            [sys.executable, "-m", "coldbench", "sandbox", "--config", name],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._log,
            env=env,
            process_group=0,  # Ctrl-C in a terminal reaches us, and we stop the sandbox in order
        )
        return self._popen

    def _accept_ready_line(self, line: bytes) -> None:
        try:
            self.info = json.loads(line)
            self.url = self.info["url"]
        except (ValueError, KeyError, TypeError):
            self.stop()
            raise TargetError(f"the local sandbox printed an unexpected first line: {line[:200]!r}") from None

    def _startup_failure(self, why: str) -> TargetError:
        self.stop()
        where = f"; see {self.log_path}" if self.log_path else "; see its stderr above"
        return TargetError(f"the local sandbox {why}{where}")

    def start(self) -> SandboxProcess:
        """Spawn the sandbox and wait for its ready line (TargetError on failure)."""
        popen = self._spawn()
        assert popen.stdout is not None
        try:
            buffer = read_until_ready(popen.stdout.fileno(), has_line, self.ready_timeout_s)
        except TimeoutError:
            raise self._startup_failure(f"was not ready after {self.ready_timeout_s:g}s") from None
        return self._after_ready(buffer)

    async def astart(self) -> SandboxProcess:
        """Async `start`: the event loop keeps running while the sandbox starts."""
        popen = self._spawn()
        assert popen.stdout is not None
        try:
            buffer = await aread_until_ready(popen.stdout.fileno(), has_line, self.ready_timeout_s)
        except TimeoutError:
            raise self._startup_failure(f"was not ready after {self.ready_timeout_s:g}s") from None
        if buffer is None:
            await asyncio.sleep(0.05)  # let the exit status arrive
        return self._after_ready(buffer)

    def _after_ready(self, buffer: bytes | None) -> SandboxProcess:
        if buffer is None:
            assert self._popen is not None
            status = self._popen.poll()
            if status is None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    status = self._popen.wait(1.0)
            raise self._startup_failure(f"exited with status {status} before it was ready")
        self._accept_ready_line(buffer.split(b"\n", 1)[0])
        return self

    # -- stop -----------------------------------------------------------------------------------

    def stop(self) -> int | None:
        """SIGTERM, wait up to stop_grace_s, then SIGKILL; return the exit status. Idempotent."""
        popen = self._popen
        if popen is None:
            return None
        status = terminate(popen, self.stop_grace_s)
        self._cleanup()
        return status

    async def astop(self) -> int | None:
        """Async `stop`."""
        popen = self._popen
        if popen is None:
            return None
        status = await aterminate(popen, self.stop_grace_s)
        self._cleanup()
        return status

    def _cleanup(self) -> None:
        if self._popen is not None and self._popen.stdout is not None:
            self._popen.stdout.close()
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._config_path is not None:
            self._config_path.unlink(missing_ok=True)
            self._config_path = None

    def __enter__(self) -> SandboxProcess:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    async def __aenter__(self) -> SandboxProcess:
        return await self.astart()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.astop()
