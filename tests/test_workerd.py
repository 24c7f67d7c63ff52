"""workerd (Cloudflare's Workers runtime) as a local target: install, config, process, demo.

Tests that need the binary skip with the reason when Node.js/npm or workerd is unavailable;
`ensure_workerd` installs the pinned npm package on first use where Node.js exists.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import aiohttp
import psutil
import pytest

from coldbench.errors import ConfigError, TargetError
from coldbench.runner import RunOptions, execute_run
from coldbench.suite import ScenarioSpec, Suite, TargetSpec, load_suite
from coldbench.workerd.config import FRONT_WORKER_JS, build_workerd_config
from coldbench.workerd.demo import run_workerd_demo
from coldbench.workerd.install import ensure_workerd, platform_package
from coldbench.workerd.process import DIR_PREFIX, WorkerdProcess
from coldbench.workerd.suite_hook import (
    build_workerd_options,
    drop_workerd_targets,
    resolve_workerd_urls,
)

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "targets" / "functions" / "hello-worker" / "worker.js"


@pytest.fixture(scope="module")
def binary() -> Path:
    reasons: list[str] = []
    found = ensure_workerd(explain=reasons.append)
    if found is None:
        pytest.skip(reasons[0] if reasons else "workerd unavailable")
    return found


def get(url: str) -> tuple[float, str, int, dict[str, object]]:
    """(latency ms, isolate id, invocation n, JSON body) of one GET on a fresh connection."""
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=10) as response:
        body = json.loads(response.read())
        headers = response.headers
    latency_ms = (time.perf_counter() - started) * 1000
    return latency_ms, headers["X-Coldbench-Instance"], int(headers["X-Coldbench-Invocation"]), body


# -- pure parts --------------------------------------------------------------------------------


def test_config_has_both_sockets_on_loopback_and_the_front_settings() -> None:
    text = build_workerd_config(port=8123, ondemand_port=0, keep_alive_ms=4000, max_isolates=9)
    assert 'address = "127.0.0.1:8123"' in text and 'address = "127.0.0.1:0"' in text
    assert 'text = "4000"' in text and 'text = "9"' in text and "workerLoader = ()" in text
    assert 'esModule = embed "worker.js"' in text
    assert "%(" not in FRONT_WORKER_JS and "coldbench-worker-source.txt" in FRONT_WORKER_JS
    for bad in ({"port": 70000}, {"keep_alive_ms": -1}, {"compatibility_date": "soon"}):
        with pytest.raises(ValueError):
            build_workerd_config(**bad)  # type: ignore[arg-type]


def test_without_node_ensure_workerd_returns_none_and_says_why(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("COLDBENCH_WORKERD", raising=False)
    reasons: list[str] = []
    assert ensure_workerd(tmp_path / "dest", explain=reasons.append) is None
    assert "Node.js" in reasons[0] or "no binary" in reasons[0]


def test_platform_packages_are_the_registry_binaries() -> None:
    assert platform_package("linux", "x86_64") == "workerd-linux-64"
    assert platform_package("darwin", "arm64") == "workerd-darwin-arm64"
    assert platform_package("sunos", "sparc") is None


def test_suite_hook_options_drop_and_resolve(tmp_path: Path) -> None:
    options = build_workerd_options({"script": "w.js", "keep_alive": "4s", "port": 0}, tmp_path)
    assert options == {"script": tmp_path / "w.js", "keep_alive_s": 4.0, "port": 0,
                       "compatibility_date": "2024-09-23"}
    with pytest.raises(ConfigError, match=r"\[workerd\]\.keepalive: unknown key"):
        build_workerd_options({"script": "w.js", "keepalive": "4s"}, tmp_path)
    targets = (TargetSpec("lambda", "http://a/"), TargetSpec("iso", "${workerd_ondemand}/x"),
               TargetSpec("res", "${workerd}/"))
    scenarios = (ScenarioSpec("gaps", "idle_gap", ("lambda", "iso")), ScenarioSpec("only", "warm", ("res",)))
    suite = Suite("s", str(tmp_path / "s.toml"), 1, targets, scenarios, tables={"workerd": {}})
    dropped = drop_workerd_targets(suite)
    assert [t.name for t in dropped.targets] == ["lambda"]
    assert [(s.name, s.targets) for s in dropped.scenarios] == [("gaps", ("lambda",))]

    class Running:
        url, ondemand_url = "http://127.0.0.1:1", "http://127.0.0.1:2"

    resolved = resolve_workerd_urls(suite, Running())  # type: ignore[arg-type]
    assert [t.url for t in resolved.targets] == ["http://a/", "http://127.0.0.1:2/x", "http://127.0.0.1:1/"]


def test_a_missing_script_or_binary_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="workerd script not found"):
        WorkerdProcess(tmp_path / "nope.js")
    with pytest.raises(TargetError, match="workerd binary not found"):
        WorkerdProcess(SCRIPT, binary=tmp_path / "workerd").start()


# -- the real runtime -------------------------------------------------------------------------


def test_resident_isolate_first_request_then_warm_with_ground_truth(binary: Path) -> None:
    with WorkerdProcess(SCRIPT, binary=binary) as workerd:
        assert workerd.startup_ms is not None and workerd.startup_ms > 0
        results = [get(f"{workerd.url}/") for _ in range(21)]
    assert results[0][3] == {"message": "hello", "function": "hello-worker"}
    assert [r[2] for r in results] == list(range(1, 22))
    assert len({r[1] for r in results}) == 1 and results[0][1].startswith("workerd-")
    warm_ms = statistics.median(r[0] for r in results[1:])
    print(f"\nworkerd startup {workerd.startup_ms:.1f} ms, first request {results[0][0]:.2f} ms, "
          f"warm median {warm_ms:.2f} ms")


def test_ondemand_socket_starts_an_isolate_inside_each_request_when_keep_alive_is_zero(binary: Path) -> None:
    with WorkerdProcess(SCRIPT, binary=binary, keep_alive_s=0) as workerd:
        fresh = [get(f"{workerd.ondemand_url}/") for _ in range(12)][1:]  # [0]: the front's own start
        warm = [get(f"{workerd.url}/") for _ in range(12)][1:]
    assert all(r[2] == 1 for r in fresh) and len({r[1] for r in fresh}) == len(fresh)
    fresh_ms, warm_ms = statistics.median(r[0] for r in fresh), statistics.median(r[0] for r in warm)
    print(f"\nnew isolate per request: median {fresh_ms:.2f} ms; resident warm: median {warm_ms:.2f} ms")
    assert fresh_ms > warm_ms


def test_ondemand_isolate_is_kept_for_the_keep_alive_then_replaced(binary: Path) -> None:
    with WorkerdProcess(SCRIPT, binary=binary, keep_alive_s=0.5) as workerd:
        first, second = get(f"{workerd.ondemand_url}/"), get(f"{workerd.ondemand_url}/")
        time.sleep(1.0)
        third = get(f"{workerd.ondemand_url}/")
    assert (first[2], second[2], third[2]) == (1, 2, 1)
    assert first[1] == second[1] != third[1]


def test_restart_gives_a_new_isolate_on_the_same_urls_and_cleans_up(binary: Path) -> None:
    workerd = WorkerdProcess(SCRIPT, binary=binary).start()
    try:
        url, before = workerd.url, get(f"{workerd.url}/")
        old_pid, old_dir = workerd.pid, workerd._dir
        assert workerd.restart() > 0 and workerd.url == url
        after = get(f"{workerd.url}/")
    finally:
        workerd.stop()
    assert after[2] == 1 and after[1] != before[1]
    assert old_pid is not None and not psutil.pid_exists(old_pid)
    assert old_dir is not None and not old_dir.exists() and workerd._dir is None


def test_a_broken_script_fails_start_up_with_workerds_message(binary: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.js"
    broken.write_text("export default { fetch( }\n", encoding="utf-8")
    with pytest.raises(TargetError, match="exited with status") as caught:
        WorkerdProcess(broken, binary=binary).start()
    assert "worker.js" in str(caught.value) or "SyntaxError" in str(caught.value)


def test_async_context_manager(binary: Path) -> None:
    async def main() -> tuple[int, dict[str, object]]:
        async with WorkerdProcess(SCRIPT, binary=binary) as workerd, aiohttp.ClientSession() as session:
            async with session.get(f"{workerd.url}/") as response:
                return response.status, await response.json()

    assert asyncio.run(main()) == (200, {"message": "hello", "function": "hello-worker"})


def test_workerd_dies_with_its_parent(binary: Path, tmp_path: Path) -> None:
    code = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from coldbench.workerd.process import DIR_PREFIX, WorkerdProcess
        w = WorkerdProcess(Path({str(SCRIPT)!r}), binary=Path({str(binary)!r})).start()
        print(w.pid, w._dir, flush=True)
        time.sleep(60)
    """)
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    config_dir: Path | None = None
    try:
        assert parent.stdout is not None
        pid_text, dir_text = parent.stdout.readline().decode().split()
        child_pid, config_dir = int(pid_text), Path(dir_text)
        assert psutil.pid_exists(child_pid)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 10
        while _alive(child_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(child_pid)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        if parent.stdout is not None:
            parent.stdout.close()
        if config_dir is not None and config_dir.name.startswith(DIR_PREFIX):
            shutil.rmtree(config_dir, ignore_errors=True)  # a SIGKILLed parent cannot clean up


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_demo_suite_with_sandbox_container_and_workerd_runs_end_to_end(binary: Path, tmp_path: Path) -> None:
    outcome = run_workerd_demo(ROOT / "targets" / "local-workerd.toml",
                               RunOptions(out_dir=tmp_path / "run", quiet=True))
    assert outcome.status == "complete"
    frame = outcome.frame.sort_values("seq")
    assert set(frame["target"]) == {"hello-lambda", "hello-container", "isolate-ondemand", "isolate-resident"}
    assert frame["error"].isna().all()
    ondemand = frame[(frame["target"] == "isolate-ondemand") & (frame["scenario"] == "idle-gaps")]
    assert (ondemand["label_source"] == "instrumented").all()
    after_idle = ondemand[ondemand["gap_s"] > 5]
    assert len(after_idle) == 3 and (after_idle["label"] == "cold").all()
    assert (ondemand[ondemand["gap_s"] < 2]["label"] == "warm").all()
    burst = frame[(frame["scenario"] == "scale-out")]
    cold_in_burst = burst[burst["label"] == "cold"].groupby("target").size().to_dict()
    assert cold_in_burst == {"hello-lambda": 4, "isolate-ondemand": 1}  # isolates share one start
    resident = frame[frame["target"] == "isolate-resident"]
    assert list(resident["invocation_n"]) == list(range(1, len(resident) + 1))


def test_workers_resolve_workerd_urls(binary: Path, tmp_path: Path) -> None:
    """`--workers 2` with a workerd target: every worker process gets workerd's URL (it used to
    get only the sandbox's, and sent `${workerd}/` literally)."""
    script = ROOT / "targets" / "functions" / "hello-worker" / "worker.js"
    suite_path = tmp_path / "w.toml"
    suite_path.write_text(f"""
[suite]
name = "workerd-workers"
seed = 1
[workerd]
script = "{script}"
[[targets]]
name = "isolate"
url = "${{workerd}}/"
[[scenarios]]
type = "closed"
concurrency = 2
count = 40
""")
    outcome = execute_run(load_suite(suite_path),
                          RunOptions(out_dir=tmp_path / "run", quiet=True, workers=2))
    assert outcome.status == "complete"
    frame = outcome.frame
    assert len(frame) == 40 and frame["error"].isna().all(), frame["error"].value_counts()
    assert set(frame["worker"]) == {0, 1}
