"""Spawning and watching child processes: runtime instances and container workers.

Every child runs in its own process group (so a kill takes its forked workers too) and sets a
parent-death signal itself (see bootstrap.py). Output and exit are watched on the event loop with
a non-blocking pipe and a pidfd: no thread per child, and the output of an invocation can be
drained synchronously the moment its response arrives, so log tails are complete.

Runtime processes start as `python -S bootstrap.py`: without `site` they start ~20 ms faster and
see only the task root, the vendored `instrument.py` and the interpreter's site-packages on
PYTHONPATH (as on Lambda, where dependencies ship in the package); `.pth` files are not run.

Scratch space: one state dir per sandbox, `<tmp>/coldbench-sandbox-<pid>`, created by
`make_state_dir` and removed only through `remove_state_dir`, which refuses any other path.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import shutil
import signal
import site
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from coldbench.sandbox.config import FunctionSettings

HERE = Path(__file__).resolve().parent
BOOTSTRAP = HERE / "bootstrap.py"
CONTAINER_WORKER = HERE / "container_worker.py"
INSTRUMENT = HERE.parent / "instrument.py"
STATE_PREFIX = "coldbench-sandbox-"
# Passed through from the sandbox's own environment; everything else a runtime sees is set here.
INHERITED_ENV = ("PATH", "LANG", "LC_ALL")


class ChildProcess:
    """One child process in its own process group, watched on the running event loop."""

    def __init__(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        cwd: Path,
        on_output: Callable[[bytes], None],
        on_exit: Callable[[int], None],
        pass_fds: Sequence[int] = (),
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._on_output = on_output
        self._on_exit = on_exit
        self.spawned_ns = time.perf_counter_ns()
        self._popen = subprocess.Popen(
            list(argv),
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            process_group=0,  # own group: killpg reaches forked pollers; no preexec_fn, so vfork
            pass_fds=tuple(pass_fds),
        )
        self.pid = self._popen.pid
        assert self._popen.stdout is not None
        self._out_fd: int | None = self._popen.stdout.fileno()
        os.set_blocking(self._out_fd, False)
        self._loop.add_reader(self._out_fd, self.drain_output)
        self._pidfd: int | None = os.pidfd_open(self.pid)
        self._loop.add_reader(self._pidfd, self._exited)
        self.returncode: int | None = None

    def drain_output(self) -> None:
        """Read whatever output is in the pipe right now and hand it to `on_output`."""
        while self._out_fd is not None:
            try:
                chunk = os.read(self._out_fd, 65536)
            except BlockingIOError:
                return
            except OSError:
                chunk = b""
            if not chunk:
                self._close_output()
                return
            self._on_output(chunk)

    def _close_output(self) -> None:
        if self._out_fd is not None:
            self._loop.remove_reader(self._out_fd)
            assert self._popen.stdout is not None
            self._popen.stdout.close()
            self._out_fd = None

    def _exited(self) -> None:
        if self._pidfd is None:
            return
        self._loop.remove_reader(self._pidfd)
        os.close(self._pidfd)
        self._pidfd = None
        self.drain_output()
        self._close_output()
        self.returncode = self._popen.wait()
        self._on_exit(self.returncode)

    def kill(self) -> None:
        """SIGKILL the whole process group (exit is reported through `on_exit`)."""
        if self.returncode is None:
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    @property
    def alive(self) -> bool:
        """True until the exit has been observed."""
        return self.returncode is None


def python_path_entries(vendor_dir: Path) -> list[str]:
    """PYTHONPATH of a runtime: the vendored instrument.py, then the interpreter's site-packages."""
    entries = [str(vendor_dir)]
    for directory in site.getsitepackages():
        if os.path.isdir(directory) and directory not in entries:
            entries.append(directory)
    return entries


def build_runtime_env(
    settings: FunctionSettings,
    instance_id: str,
    api_port: int,
    python_path: list[str],
    instance_dir: Path,
    tmp_mode: str,
    provisioned: bool,
) -> dict[str, str]:
    """The environment of one runtime process: Lambda's reserved variables plus the function's."""
    env = {key: os.environ[key] for key in INHERITED_ENV if key in os.environ}
    env.update(settings.environment)
    env.update(
        {
            "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{api_port}",
            "_HANDLER": settings.handler,
            "LAMBDA_TASK_ROOT": str(settings.directory),
            "LAMBDA_RUNTIME_DIR": str(HERE),
            "AWS_LAMBDA_FUNCTION_NAME": settings.name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(settings.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{settings.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": instance_id,
            "AWS_LAMBDA_INITIALIZATION_TYPE": "provisioned-concurrency" if provisioned else "on-demand",
            "AWS_EXECUTION_ENV": f"AWS_Lambda_python{sys.version_info.major}.{sys.version_info.minor}",
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "TZ": ":UTC",
            "PYTHONPATH": os.pathsep.join(python_path),
            "TMPDIR": str(instance_dir),
            "COLDBENCH_INSTANCE_ID": instance_id,
            "COLDBENCH_SANDBOX_PID": str(os.getpid()),
            "COLDBENCH_TMP_MODE": tmp_mode,
            "COLDBENCH_TMP_STAGE": str(instance_dir),
            "COLDBENCH_INIT_DELAY_MS": repr(settings.init_delay_ms),
            "COLDBENCH_WORKERS": str(settings.concurrency_per_instance),
        }
    )
    return env


def runtime_argv() -> list[str]:
    """Command line of a runtime process."""
    return [sys.executable, "-S", str(BOOTSTRAP)]


def probe_tmp_isolation() -> str:
    """Return "namespace" if this host lets a child mount a private /tmp, else "tmpdir".

    Forks a throwaway child (before the event loop runs) that tries what bootstrap.py will do.
    """
    pid = os.fork()
    if pid == 0:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            ok = libc.unshare(0x00020000) == 0 and libc.mount(b"none", b"/", None, 16384 | (1 << 18), None) == 0
            ok = ok and libc.mount(b"tmpfs", b"/tmp", b"tmpfs", 0, b"size=1m") == 0
            os._exit(0 if ok else 1)
        except BaseException:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    return "namespace" if os.waitstatus_to_exitcode(status) == 0 else "tmpdir"


def _is_state_dir(path: Path) -> bool:
    """True only for `<tmp>/coldbench-sandbox-<digits>`: the one shape we ever delete."""
    suffix = path.name[len(STATE_PREFIX):]
    return (
        path.is_absolute()
        and path.name.startswith(STATE_PREFIX)
        and suffix.isdigit()
        and path.parent == Path(tempfile.gettempdir()).resolve()
    )


def remove_state_dir(path: Path | None) -> None:
    """Delete a sandbox state dir (or a dir inside one); refuse anything else, loudly."""
    if path is None:
        return
    path = Path(path)
    state = next((p for p in (path, *path.parents) if _is_state_dir(p)), None)
    if state is None or ".." in path.parts:
        raise RuntimeError(f"refusing to delete {path}: not inside a coldbench sandbox state dir")
    shutil.rmtree(path, ignore_errors=True)


def make_state_dir() -> Path:
    """Create this sandbox's scratch dir (vendored instrument.py, per-instance dirs).

    Dirs left by sandboxes that were SIGKILLed (their pid is gone) are removed first.
    """
    base = Path(tempfile.gettempdir()).resolve()
    for stale in base.glob(f"{STATE_PREFIX}*"):
        pid = stale.name[len(STATE_PREFIX):]
        if stale.is_dir() and pid.isdigit() and not Path(f"/proc/{pid}").exists():
            remove_state_dir(stale)
    state = base / f"{STATE_PREFIX}{os.getpid()}"
    remove_state_dir(state)
    (state / "vendor").mkdir(parents=True)
    (state / "instances").mkdir()
    shutil.copy2(INSTRUMENT, state / "vendor" / "instrument.py")
    return state


def read_peak_rss_mb(pid: int) -> int:
    """VmHWM (peak resident set) of a process in MB, 0 if unreadable."""
    try:
        with open(f"/proc/{pid}/status", "rb") as status:
            for line in status:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0
