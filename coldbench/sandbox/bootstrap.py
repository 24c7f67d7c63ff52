"""First code of every runtime process: safety, private /tmp, init delay, then awslambdaric.

Run by path as `python -S .../bootstrap.py` (no `site`, no coldbench import: every millisecond
here is part of the measured cold start). Standard library only. Steps, in order:

1. `prctl(PR_SET_PDEATHSIG, SIGKILL)`, then check that the parent is still the sandbox
   (`COLDBENCH_SANDBOX_PID`), so the process dies with the sandbox even when the sandbox is
   SIGKILLed, including in the window between spawn and prctl.
2. Private `/tmp` when `COLDBENCH_TMP_MODE=namespace`: a new mount namespace with an empty
   512 MB tmpfs on /tmp (Lambda's default ephemeral storage). Paths the runtime needs that live
   under /tmp (task root, PYTHONPATH entries) are bind-mounted back in. On failure it falls back
   to the per-instance `TMPDIR` the sandbox created, and says so on stderr.
3. `COLDBENCH_INIT_DELAY_MS` of CPU work, inside the init phase (models a bigger package).
4. awslambdaric's main. With `COLDBENCH_WORKERS` = N > 1 the handler module is imported once
   here (one init per instance), then N pollers are forked and this process supervises them:
   if one dies, the instance dies, and the sandbox replaces it.
"""

from __future__ import annotations

import os
import sys

# Run by path, so sys.path[0] is this directory: its module names must not shadow the stdlib
# or the handler's modules, so it goes before anything else is imported.
if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    sys.path.pop(0)

import signal
import time

PR_SET_PDEATHSIG = 1
CLONE_NEWNS = 0x00020000
MS_BIND, MS_MOVE, MS_REC, MS_PRIVATE = 4096, 8192, 16384, 1 << 18
TMP_SIZE = b"size=512m,mode=1777"


def set_parent_death_signal(expected_parent: int) -> None:
    """Ask the kernel to SIGKILL us when our parent dies; exit now if it already has."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if expected_parent and os.getppid() != expected_parent:
        os._exit(137)  # the parent died before prctl took effect


def make_private_tmp(stage: str, keep: list[str]) -> None:
    """Mount an empty tmpfs on /tmp in a new mount namespace, re-exposing `keep` dirs under /tmp.

    The tmpfs is first mounted on `stage` (a per-instance dir), the kept dirs are bind-mounted
    into it while the old /tmp is still visible, and the whole tree is then moved onto /tmp.
    """
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)

    def check(result: int, what: str) -> None:
        if result != 0:
            raise OSError(ctypes.get_errno(), f"{what} failed")

    check(libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    check(libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "mount --make-rprivate /")
    check(libc.mount(b"tmpfs", stage.encode(), b"tmpfs", 0, TMP_SIZE), "mount tmpfs")
    for path in keep:
        inside = stage + path[len("/tmp"):]
        os.makedirs(inside, exist_ok=True)
        check(libc.mount(path.encode(), inside.encode(), None, MS_BIND | MS_REC, None), f"bind {path}")
    check(libc.mount(stage.encode(), b"/tmp", None, MS_MOVE, None), "move tmpfs to /tmp")
    os.environ["TMPDIR"] = "/tmp"


def kept_tmp_paths(paths: list[str]) -> list[str]:
    """The existing directories among `paths` that lie under /tmp (they would be hidden)."""
    kept: list[str] = []
    for path in paths:
        real = os.path.realpath(path) if path else ""
        if real.startswith("/tmp/") and os.path.isdir(real) and real not in kept:
            kept.append(real)
    return kept


def busy_init(delay_ms: float) -> None:
    """Spend `delay_ms` of wall time doing CPU work (not sleeping), as an import would."""
    deadline = time.perf_counter() + delay_ms / 1000.0
    state = 1
    while time.perf_counter() < deadline:
        for _ in range(2000):
            state = (state * 1103515245 + 12345) & 0x7FFFFFFF


def run_awslambdaric(handler: str) -> None:
    """Run AWS's runtime interface client in this process (never returns normally)."""
    from awslambdaric.__main__ import main

    main(["awslambdaric", handler])


def run_pollers(handler: str, workers: int) -> None:
    """Import the handler once, fork `workers` pollers, and supervise them (exit when one exits)."""
    from awslambdaric import bootstrap

    try:
        bootstrap._get_handler(handler)
    except BaseException:
        run_awslambdaric(handler)  # re-imports, posts /init/error with Lambda's error type, exits
        return
    supervisor = os.getpid()
    children = []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:
            set_parent_death_signal(supervisor)  # PDEATHSIG is cleared by fork: set it again
            run_awslambdaric(handler)
            os._exit(1)
        children.append(pid)
    pid, status = os.wait()
    for other in children:
        if other != pid:
            try:
                os.kill(other, signal.SIGKILL)
            except ProcessLookupError:
                pass
    os._exit(os.waitstatus_to_exitcode(status) & 0xFF)


def main() -> None:
    """Entry point: see the module docstring for the order of steps."""
    env = os.environ
    task_root = env.get("LAMBDA_TASK_ROOT", os.getcwd())
    sys.path.insert(0, task_root)  # as Lambda: the task root first, then PYTHONPATH
    set_parent_death_signal(int(env.pop("COLDBENCH_SANDBOX_PID", "0")))
    mode = env.pop("COLDBENCH_TMP_MODE", "tmpdir")
    stage = env.pop("COLDBENCH_TMP_STAGE", "")
    if mode == "namespace" and stage:
        try:
            make_private_tmp(stage, kept_tmp_paths([task_root, *sys.path]))
        except OSError as exc:
            print(f"coldbench sandbox: private /tmp unavailable ({exc}); using TMPDIR", file=sys.stderr)
    delay_ms = float(env.pop("COLDBENCH_INIT_DELAY_MS", "0") or 0)
    if delay_ms > 0:
        busy_init(delay_ms)
    workers = int(env.pop("COLDBENCH_WORKERS", "1") or 1)
    handler = env.get("_HANDLER", "handler.handler")
    if workers > 1:
        run_pollers(handler, workers)
    else:
        run_awslambdaric(handler)


if __name__ == "__main__":
    main()
