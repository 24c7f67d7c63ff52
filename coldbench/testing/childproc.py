"""Child server processes that announce themselves with one JSON line and never outlive us.

`ServerProcess` starts `python -m MODULE ARGS`, waits for `{"url": ...}` on stdout, and on exit
terminates the whole process group (SIGTERM, then SIGKILL). Children also ask the kernel to kill
them when their parent dies (PR_SET_PDEATHSIG), so a SIGKILLed parent leaves no orphans.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
from typing import Any

from coldbench.errors import TargetError
from coldbench.readiness import has_line, read_until_ready

_PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGKILL) -> None:
    """Ask Linux to send `sig` to this process when its parent dies (no-op elsewhere)."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
    if os.getppid() == 1:  # parent already gone before prctl took effect
        os._exit(1)


class ServerProcess:
    """A child server process; use as a context manager. `.url` and `.pid` once ready."""

    def __init__(self, module: str, args: list[str] | None = None, *, ready_timeout_s: float = 30.0,
                 env: dict[str, str] | None = None) -> None:
        self.command = [sys.executable, "-m", module, *(args or [])]
        self.ready_timeout_s = ready_timeout_s
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.info: dict[str, Any] = {}

    @property
    def url(self) -> str:
        """Base URL the child announced."""
        return str(self.info["url"])

    def start(self) -> ServerProcess:
        """Start the child and wait for its ready line; TargetError if it never comes."""
        self.proc = subprocess.Popen(
            self.command, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
            start_new_session=True, env=self.env,
        )
        assert self.proc.stdout is not None
        try:
            line = read_until_ready(self.proc.stdout.fileno(), has_line, self.ready_timeout_s)
        except TimeoutError:
            line = None
        if line is None:
            self.stop()
            raise TargetError(f"{' '.join(self.command[2:])}: did not start within "
                              f"{self.ready_timeout_s:g}s")
        self.info = json.loads(line.splitlines()[0])
        return self

    def stop(self) -> None:
        """Terminate the child's process group and reap it."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.proc = None

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
