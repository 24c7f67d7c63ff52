"""Load scenarios against a real server: open loop charges from the intended time (no
coordinated omission), closed loop, multi-process runs merged into one run."""

from __future__ import annotations

import numpy as np
import pytest

from coldbench import load_run
from coldbench.arrivals import (
    build_constant_schedule,
    build_poisson_schedule,
    build_ramp_schedule,
    build_step_schedule,
)
from coldbench.histo import load_histograms
from coldbench.plan import LOAD_ID_BASE
from coldbench.runner import RunOptions, execute_run
from coldbench.store import load_manifest
from coldbench.suite import load_suite


def test_schedules_have_the_asked_rate() -> None:
    assert len(build_constant_schedule(100, 2.0)) == 200
    poisson = build_poisson_schedule(500, 20.0, seed=3)
    assert abs(len(poisson) - 10_000) < 4 * np.sqrt(10_000)
    gaps = np.diff(poisson)
    assert abs(gaps.mean() - 1 / 500) < 1e-4 and abs(gaps.std() / gaps.mean() - 1) < 0.05
    ramp = build_ramp_schedule(10, 30, 10.0)
    assert len(ramp) == 200 and np.all(np.diff(ramp) > 0)
    assert (ramp < 5).sum() == pytest.approx(75, abs=1)  # ∫0..5 (10 + 2t) dt = 75
    steps = build_step_schedule([(10, 1.0), (100, 1.0)], poisson=False, seed=0)
    assert len(steps) == 110 and (steps >= 1.0).sum() == 100


CO_SUITE = """
[suite]
name = "co"
[[targets]]
name = "stalls"
url = "{url}/stall-once?after=3000&ms=1000"
connection = "reuse"
[[scenarios]]
type = "rate"
rate = 1000
duration = "10s"
"""


def test_a_one_second_stall_shows_in_p99(write_suite, tmp_path) -> None:
    """wrk2's coordinated-omission demonstration: 10 s at 1,000/s, the server freezes for 1 s
    once. About 10% of requests were due during the stall, so p99 must be >= 500 ms."""
    from coldbench.testing.childproc import ServerProcess

    with ServerProcess("coldbench.testing.echo_server") as server:  # its own stall counter
        suite = load_suite(write_suite(CO_SUITE.format(url=server.url)))
        outcome = execute_run(suite, RunOptions(out_dir=tmp_path / "run", quiet=True, workers=1))
    frame = load_run(outcome.run_dir)
    assert len(frame) == 10_000 and frame["error"].isna().all()
    assert frame["latency_ms"].quantile(0.99) >= 500.0
    assert (frame["latency_ms"] >= frame["service_ms"]).all()  # charged from intended time
    assert frame["lag_ms"].notna().all() and (frame["probe_id"] >= LOAD_ID_BASE).all()
    histograms = load_histograms(outcome.run_dir)
    merged = histograms[("stalls", "unknown")]
    assert merged.get_total_count() == 10_000
    assert merged.get_value_at_percentile(99) / 1000 >= 500.0


LOAD_SUITE = """
[suite]
name = "load"
[[targets]]
name = "open"
url = "{url}/ok"
connection = "reuse"
[[targets]]
name = "closed"
url = "{url}/sleep?ms=2"
connection = "reuse"
[[scenarios]]
type = "rate"
rate = 200
duration = "2s"
arrivals = "poisson"
targets = ["open"]
[[scenarios]]
type = "closed"
concurrency = 4
count = 300
targets = ["closed"]
"""


@pytest.mark.parametrize("workers", [1, 2])
def test_load_runs_merge_across_workers(echo_url, write_suite, tmp_path, workers) -> None:
    suite = load_suite(write_suite(LOAD_SUITE.format(url=echo_url)))
    outcome = execute_run(suite, RunOptions(out_dir=tmp_path / "run", quiet=True, workers=workers))
    assert outcome.status == "complete"
    frame = load_run(outcome.run_dir)
    closed = frame[frame["target"] == "closed"]
    assert len(closed) == 300 and closed["probe_id"].is_unique
    opened = frame[frame["target"] == "open"]
    assert 300 < len(opened) < 500 and opened["probe_id"].is_unique
    assert sorted(frame["worker"].unique()) == list(range(workers))
    manifest = load_manifest(outcome.run_dir)
    assert manifest["workers"] == workers and len(manifest["client"]) == workers
    assert all(c["cpu_us_per_request"] is None or c["cpu_us_per_request"] > 0 for c in manifest["client"])
    merged = load_histograms(outcome.run_dir)
    assert sum(h.get_total_count() for h in merged.values()) == len(frame)
