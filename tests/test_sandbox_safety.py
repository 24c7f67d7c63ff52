"""Safety of the sandbox: no orphans (even after SIGKILL), loopback only, private /tmp,
memory cap, scratch deletion confined to its own dir, clear start-up errors."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import aiohttp
import psutil
import pytest
from sandbox_helpers import FUNCTIONS_DIR, NO_CONTAINERS, get_json, http, instances, write_function

from coldbench.errors import ConfigError, TargetError
from coldbench.sandbox.launcher import STATE_PREFIX, remove_state_dir
from coldbench.sandbox.process import SandboxProcess


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _all_gone(pids: list[int], timeout_s: float = 5.0) -> list[int]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not all(_gone(p) for p in pids):
        time.sleep(0.02)
    return [p for p in pids if not _gone(p)]


def _descendants(pid: int) -> list[int]:
    return [child.pid for child in psutil.Process(pid).children(recursive=True)]


def test_sigkill_of_the_sandbox_leaves_no_runtime_process(tmp_path: Path) -> None:
    write_function(tmp_path, "multi", "def handler(event, context):\n    return 1\n",
                   "concurrency_per_instance = 3\ncontainer_workers = 2\n")
    write_function(tmp_path, "prov", "def handler(event, context):\n    return 1\n", "provisioned = 2\n")
    sandbox = SandboxProcess(tmp_path)
    try:
        sandbox.start()
        assert http(f"{sandbox.url}/fn/multi/")[0] == 200
        assert sandbox.pid is not None
        children = _descendants(sandbox.pid)
        # 2 provisioned + (supervisor + 3 pollers) + 2 container workers
        assert len(children) >= 8
        os.kill(sandbox.pid, signal.SIGKILL)
        assert _all_gone(children) == []
    finally:
        sandbox.stop()


def test_sandbox_dies_with_the_process_that_started_it(tmp_path: Path) -> None:
    write_function(tmp_path, "prov", "def handler(event, context):\n    return 1\n", "provisioned = 1\n")
    script = textwrap.dedent(f"""
        import time
        from pathlib import Path
        from coldbench.sandbox.process import SandboxProcess
        sandbox = SandboxProcess(Path({str(tmp_path)!r})).start()
        print(sandbox.pid, sandbox._config_path, flush=True)
        time.sleep(60)
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    config = None
    try:
        assert parent.stdout is not None
        pid_text, config = parent.stdout.readline().decode().split()
        sandbox_pid = int(pid_text)
        family = [sandbox_pid, *_descendants(sandbox_pid)]
        assert len(family) >= 2
        parent.kill()
        assert _all_gone(family) == []
    finally:
        parent.kill()
        parent.wait()
        if config:
            Path(config).unlink(missing_ok=True)  # a SIGKILLed parent cannot remove its temp file


def test_listens_on_loopback_only() -> None:
    with SandboxProcess(FUNCTIONS_DIR, NO_CONTAINERS) as sandbox:
        http(f"{sandbox.url}/fn/hello/")
        assert sandbox.pid is not None
        connections = psutil.Process(sandbox.pid).net_connections("inet")
        listening = [c.laddr for c in connections if c.status == psutil.CONN_LISTEN]
        assert listening and all(address.ip == "127.0.0.1" for address in listening)


def test_each_instance_has_a_private_tmp(tmp_path: Path) -> None:
    write_function(tmp_path, "tmpuser", """
        import os, tempfile, time
        def handler(event, context):
            directory = tempfile.gettempdir()
            with open(os.path.join(directory, "mine-" + context.aws_request_id), "w") as f:
                f.write("x")
            time.sleep(0.3)
            mine = [name for name in os.listdir(directory) if name.startswith("mine-")]
            return {"dir": directory, "files": mine}
    """)
    with SandboxProcess(tmp_path) as sandbox:

        async def two() -> list[dict[str, object]]:
            async with aiohttp.ClientSession() as session:
                async def one() -> dict[str, object]:
                    async with session.get(f"{sandbox.url}/fn/tmpuser/") as response:
                        return json.loads(await response.read())
                return list(await asyncio.gather(one(), one()))

        first, second = asyncio.run(two())
        mode = get_json(f"{sandbox.url}/_sandbox/health")["tmp_isolation"]
        assert len(first["files"]) == 1 and len(second["files"]) == 1  # type: ignore[arg-type]
        assert first["files"] != second["files"]
        if mode == "namespace":
            assert first["dir"] == second["dir"] == "/tmp"
            assert not list(Path("/tmp").glob("mine-*"))
        else:
            assert first["dir"] != second["dir"]


def test_memory_cap_kills_an_instance_that_exceeds_memory_size(tmp_path: Path) -> None:
    write_function(tmp_path, "hog", """
        import time
        def handler(event, context):
            hog = bytearray(300 * 1024 * 1024)
            time.sleep(3)
            return len(hog)
    """, "memory_mb = 128\ntimeout = \"10s\"\ncontainer_workers = 0\n")
    with SandboxProcess(tmp_path) as sandbox:
        status, _, _ = http(f"{sandbox.url}/fn/hog/")
        assert status == 502
        ended = instances(sandbox.url, "hog", live_only=False)
        assert ended[-1]["end_reason"] == "out_of_memory"


def test_bad_override_is_a_config_error_before_anything_starts() -> None:
    with pytest.raises(ConfigError, match="keep_alive"):
        SandboxProcess(FUNCTIONS_DIR, {"hello": {"keep_alive": "forever"}})
    with pytest.raises(ConfigError, match="no function named 'nope'"):
        SandboxProcess(FUNCTIONS_DIR, {"nope": {}})
    with pytest.raises(ConfigError, match="not a valid function name"):
        SandboxProcess(FUNCTIONS_DIR, {"../etc": {}})


def test_start_failure_is_a_target_error_and_deletes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Regression: a sandbox that failed before making its state dir once deleted its cwd.
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    canary = workdir / "canary.txt"
    canary.write_text("still here")
    monkeypatch.chdir(workdir)
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    log = tmp_path / "sandbox.log"
    try:
        with pytest.raises(TargetError, match="exited with status 2"):
            SandboxProcess(FUNCTIONS_DIR, NO_CONTAINERS, busy.getsockname()[1], log_path=log).start()
        assert "cannot listen" in log.read_text()
    finally:
        busy.close()
    assert canary.read_text() == "still here"


def test_scratch_deletion_refuses_anything_but_a_state_dir(tmp_path: Path) -> None:
    for path in (Path(), Path("."), Path("/"), tmp_path, Path(tempfile.gettempdir()),
                 Path(tempfile.gettempdir()) / f"{STATE_PREFIX}abc",
                 Path(tempfile.gettempdir()) / f"{STATE_PREFIX}1" / ".." / ".."):
        with pytest.raises(RuntimeError, match="refusing to delete"):
            remove_state_dir(path)
    remove_state_dir(None)  # nothing made yet: nothing to delete
    assert tmp_path.exists()


def test_cli_reports_a_missing_functions_dir_in_one_line(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "coldbench", "sandbox", "--functions", str(tmp_path / "nope")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"error: --functions: directory not found: {tmp_path / 'nope'}"]
