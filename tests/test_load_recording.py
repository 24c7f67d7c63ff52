"""Recording load scenarios: samples from the lean client and from aiohttp have the same schema;
load samples are journaled in batches (idle-gap samples one by one); a kill -9 in a load
scenario loses at most the last batch and the run resumes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from coldbench import load_run
from coldbench.runner import RunOptions, execute_run
from coldbench.sample import SAMPLE_COLUMNS, Sample
from coldbench.store import JOURNAL_NAME, RunWriter, build_manifest, load_manifest
from coldbench.suite import load_suite

SUITE = """
[suite]
name = "clients"
[[targets]]
name = "echo"
url = "{url}/ok"
connection = "reuse"
{client}
[[scenarios]]
type = "warm"
count = 20
[[scenarios]]
type = "closed"
concurrency = 4
count = 200
[[scenarios]]
type = "rate"
rate = 200
duration = "1s"
[[scenarios]]
type = "idle_gap"
gaps = ["10ms"]
repetitions = 3
"""


def _run(write_suite, tmp_path: Path, echo_url: str, client: str, name: str) -> tuple[Path, pd.DataFrame]:
    path = write_suite(SUITE.format(url=echo_url, client=client), name=f"{name}.toml")
    outcome = execute_run(load_suite(path), RunOptions(out_dir=tmp_path / name, quiet=True, workers=1))
    assert outcome.status == "complete"
    return outcome.run_dir, load_run(outcome.run_dir)


def _journal_records(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / JOURNAL_NAME).read_text().splitlines()]


def test_lean_and_aiohttp_samples_have_the_same_schema(echo_url, write_suite, tmp_path) -> None:
    lean_dir, lean = _run(write_suite, tmp_path, echo_url, "", "lean")
    ref_dir, ref = _run(write_suite, tmp_path, echo_url, 'client = "aiohttp"', "aiohttp")
    assert list(lean.columns) == list(ref.columns) and (lean.dtypes == ref.dtypes).all()
    for records in (_journal_records(lean_dir), _journal_records(ref_dir)):
        assert all(list(r) == list(SAMPLE_COLUMNS) for r in records)
    assert len(lean) == len(ref) and lean["error"].isna().all() and ref["error"].isna().all()
    assert {r["client"] for r in load_manifest(lean_dir)["loads"]} == {"http1"}
    assert {r["client"] for r in load_manifest(ref_dir)["loads"]} == {"aiohttp"}
    key = ["scenario", "phase"]
    assert lean.groupby(key).size().equals(ref.groupby(key).size())
    # Which fields are filled agrees, per load scenario and connection state (labels come from
    # the end-of-run heuristic, which depends on the latencies, so they are left out).
    columns = ["status", "ttfb_ms", "transfer_ms", "connect_ms", "tls_ms", "dns_ms", "lag_ms",
               "service_ms", "gap_s", "planned_gap_s", "bytes_read", "error_detail", "kind", "worker"]

    def pattern(frame: pd.DataFrame) -> pd.DataFrame:
        load = frame[frame["scenario"] != "idle_gap-3"]
        return load.groupby(["scenario", "fresh_connection"])[columns].agg(
            lambda c: tuple(sorted({repr(v) if isinstance(v, str) else bool(pd.isna(v)) for v in c})))

    assert pattern(lean).equals(pattern(ref))
    assert (lean["headers"].map(lambda h: sorted(json.loads(h))) ==
            ref["headers"].map(lambda h: sorted(json.loads(h)))).all()


def _sample(i: int, scenario: str = "load") -> Sample:
    return Sample(probe_id=i, target="t", scenario=scenario, seq=i,
                  started_at="2026-01-01T00:00:00.000000+00:00", latency_ms=1.0)


def _lines(run_dir: Path) -> list[int]:
    path = run_dir / JOURNAL_NAME
    return [json.loads(line)["probe_id"] for line in path.read_text().splitlines()] if path.exists() else []


def test_batched_samples_wait_for_the_batch_and_unbatched_ones_do_not(tmp_path) -> None:
    writer = RunWriter(tmp_path / "r", build_manifest({}, "r"), batch_interval_s=3600, batch_samples=5)
    for i in range(3):
        writer.append(_sample(i), batched=True)
    assert _lines(tmp_path / "r") == []  # buffered
    writer.append(_sample(3, "idle"))  # an idle-gap sample: written at once, after the batch
    assert _lines(tmp_path / "r") == [0, 1, 2, 3]
    for i in range(4, 9):
        writer.append(_sample(i), batched=True)
    assert _lines(tmp_path / "r") == list(range(9))  # five waiting: one write
    writer.append(_sample(9), batched=True)
    writer.close()
    assert _lines(tmp_path / "r") == list(range(10))  # close writes the rest


def test_batches_are_written_when_their_interval_passes(tmp_path) -> None:
    writer = RunWriter(tmp_path / "r", build_manifest({}, "r"), batch_interval_s=0.0)
    writer.append(_sample(0), batched=True)
    assert _lines(tmp_path / "r") == [0]
    writer.close()


LONG_LOAD = """
[suite]
name = "long-load"
[[targets]]
name = "echo"
url = "{url}/ok"
connection = "reuse"
[[scenarios]]
type = "closed"
concurrency = 2
duration = "60s"
[[scenarios]]
type = "idle_gap"
gaps = ["10ms"]
repetitions = 5
"""


def test_kill_9_in_a_load_scenario_loses_at_most_a_batch_and_resumes(echo_url, write_suite,
                                                                    tmp_path) -> None:
    suite = write_suite(LONG_LOAD.format(url=echo_url))
    run_dir = tmp_path / "run"
    options = ["-q", "--no-report", "--workers", "1"]
    proc = subprocess.Popen([sys.executable, "-m", "coldbench", "run", str(suite), "-o", str(run_dir),
                             *options], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and _complete_lines(run_dir) < 500:
            time.sleep(0.05)  # batches land at least every 100 ms
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    kept = _complete_lines(run_dir)
    assert kept >= 500
    done = subprocess.run([sys.executable, "-m", "coldbench", "run", "--resume", str(run_dir), *options],
                          capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    frame = load_run(run_dir)
    assert load_manifest(run_dir)["status"] == "complete" and frame["probe_id"].is_unique
    idle = frame[frame["scenario"] != "closed-0"]
    assert len(idle) == 6  # the idle-gap scenario, whole, after the resume
    assert len(frame) - len(idle) == kept  # every load sample journaled before the kill stays


def _complete_lines(run_dir: Path) -> int:
    """Whole journal lines (each one parses); a torn tail does not count."""
    path = run_dir / JOURNAL_NAME
    if not path.exists():
        return 0
    lines = path.read_bytes().split(b"\n")[:-1]
    for line in lines:
        json.loads(line)
    return len(lines)
