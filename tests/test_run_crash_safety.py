"""A run killed or stopped midway keeps every sample that had completed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from coldbench import load_run
from coldbench.sample import Sample
from coldbench.store import (
    JOURNAL_NAME,
    PARQUET_NAME,
    RunWriter,
    build_manifest,
    load_manifest,
    read_journal,
)

SUITE = """
[suite]
name = "long"
[[targets]]
name = "a"
url = "{url}/ok"
[[targets]]
name = "b"
url = "{url}/sleep?ms=3"
[[scenarios]]
type = "idle_gap"
gaps = ["50ms", "100ms"]
repetitions = 200
"""


def _start_run(suite: Path, run_dir: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "coldbench", "run", str(suite), "-o", str(run_dir), "-q", "--no-report"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )


def _wait_for_lines(journal: Path, count: int, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if journal.exists() and journal.read_bytes().count(b"\n") >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"journal never reached {count} lines")


def _complete_lines(journal: Path) -> list[dict]:
    data = journal.read_bytes()
    return [json.loads(line) for line in data.split(b"\n")[:-1]]


@pytest.fixture
def long_suite(echo_url, write_suite) -> Path:
    return write_suite(SUITE.format(url=echo_url))


def test_kill_9_midway_loses_no_completed_sample(long_suite, tmp_path) -> None:
    run_dir = tmp_path / "run"
    proc = _start_run(long_suite, run_dir)
    try:
        _wait_for_lines(run_dir / JOURNAL_NAME, 20)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    completed = _complete_lines(run_dir / JOURNAL_NAME)
    frame = load_run(run_dir)
    assert len(frame) == len(completed) >= 20
    assert sorted(frame["probe_id"]) == sorted(r["probe_id"] for r in completed)
    assert frame["probe_id"].is_unique
    assert load_manifest(run_dir)["status"] == "running"  # killed: never got to finish
    assert not (run_dir / PARQUET_NAME).exists()


def test_sigterm_stops_cleanly_and_marks_interrupted(long_suite, tmp_path) -> None:
    run_dir = tmp_path / "run"
    proc = _start_run(long_suite, run_dir)
    try:
        _wait_for_lines(run_dir / JOURNAL_NAME, 20)
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, err
    assert b"Traceback" not in err
    manifest = load_manifest(run_dir)
    assert manifest["status"] == "interrupted" and manifest["ended_at"]
    frame = load_run(run_dir)
    assert len(frame) == len(_complete_lines(run_dir / JOURNAL_NAME)) == manifest["samples"]
    assert (run_dir / PARQUET_NAME).exists()


def test_torn_last_line_is_tolerated(tmp_path) -> None:
    writer = RunWriter(tmp_path / "r", build_manifest({}, "r"))
    for i in range(3):
        writer.append(Sample(probe_id=i, target="t", scenario="s", seq=i,
                             started_at="2026-01-01T00:00:00+00:00", latency_ms=1.0))
    writer.close()
    with open(tmp_path / "r" / JOURNAL_NAME, "a") as fh:
        fh.write('{"probe_id": 3, "target": "t", "lat')  # killed mid-write
    frame, stats = read_journal(tmp_path / "r")
    assert len(frame) == 3 and stats.torn_lines == 1
    assert len(load_run(tmp_path / "r")) == 3
