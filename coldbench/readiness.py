"""Waiting on a child process: for its ready announcement on a pipe, and for it to stop.

Used by the sandbox, workerd and the test servers: read the child's output until `ready(buffer)`
says it has announced itself, the pipe closes (the child exited: None), or the time is up
(TimeoutError). The async form keeps the event loop serving while it waits.
"""

from __future__ import annotations

import asyncio
import os
import select
import subprocess
import time
from collections.abc import Callable

Ready = Callable[[bytes], bool]
_CHUNK = 65536


def has_line(buffer: bytes) -> bool:
    """Ready once a whole line has arrived (the JSON ready-line protocol)."""
    return b"\n" in buffer


def read_until_ready(fd: int, ready: Ready, timeout_s: float) -> bytes | None:
    """Block until `ready(buffer)`; None when the pipe closes first; TimeoutError after timeout_s."""
    buffer = b""
    deadline = time.monotonic() + timeout_s
    while not ready(buffer):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        readable, _, _ = select.select([fd], [], [], min(remaining, 0.25))
        if readable:
            chunk = os.read(fd, _CHUNK)
            if not chunk:
                return None
            buffer += chunk
    return buffer


async def aread_until_ready(fd: int, ready: Ready, timeout_s: float) -> bytes | None:
    """`read_until_ready` without blocking the running event loop."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[bytes | None] = loop.create_future()
    buffer = bytearray()

    def on_readable() -> None:
        chunk = os.read(fd, _CHUNK)
        buffer.extend(chunk)
        if done.done():
            return
        if not chunk:
            done.set_result(None)
        elif ready(bytes(buffer)):
            done.set_result(bytes(buffer))

    loop.add_reader(fd, on_readable)
    try:
        return await asyncio.wait_for(done, timeout_s)
    finally:
        loop.remove_reader(fd)


def terminate(popen: subprocess.Popen[bytes], grace_s: float) -> int:
    """SIGTERM, wait up to `grace_s`, then SIGKILL; return the exit status (no-op if exited)."""
    if popen.poll() is None:
        popen.terminate()
        try:
            popen.wait(grace_s)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait()
    return popen.returncode


async def aterminate(popen: subprocess.Popen[bytes], grace_s: float) -> int:
    """`terminate` without blocking the running event loop during the grace period."""
    if popen.poll() is None:
        popen.terminate()
        deadline = time.monotonic() + grace_s
        while popen.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        if popen.poll() is None:
            popen.kill()
            popen.wait()
    return popen.returncode
