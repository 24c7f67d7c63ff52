"""Idle gaps against a real local server: accurate to 5 ms, lanes interleave, errors are samples."""

from __future__ import annotations

import time

import numpy as np

from coldbench import load_run
from coldbench.runner import RunOptions, execute_run
from coldbench.suite import load_suite

SUITE = """
[suite]
name = "gaps"
[[targets]]
name = "one"
url = "{url}/ok"
[[targets]]
name = "two"
url = "{url}/sleep?ms=5"
[[targets]]
name = "nobody-home"
url = "http://127.0.0.1:9/"
timeout = "2s"
[[scenarios]]
type = "idle_gap"
gaps = ["0.5s", "2s", "5s"]
repetitions = 5
shuffle = true
"""


def test_two_targets_run_in_one_schedule_with_accurate_gaps(echo_url, write_suite, tmp_path) -> None:
    suite = load_suite(write_suite(SUITE.format(url=echo_url)))
    started = time.monotonic()
    outcome = execute_run(suite, RunOptions(out_dir=tmp_path / "run", quiet=True))
    wall_s = time.monotonic() - started
    one_lane_s = 5 * (0.5 + 2 + 5)
    assert outcome.status == "complete"
    assert one_lane_s <= wall_s < one_lane_s + 6.0  # about one lane, not three
    frame = load_run(tmp_path / "run")
    assert len(frame) == 3 * 16
    gapped = frame[frame["planned_gap_s"].notna()]
    error_ms = (gapped["gap_s"] - gapped["planned_gap_s"]).abs() * 1000
    assert error_ms.max() < 5.0, gapped.assign(err=error_ms).sort_values("err").tail()
    ok = frame[frame["target"] != "nobody-home"]
    assert ok["error"].isna().all() and (ok["status"] == 200).all()
    dead = frame[frame["target"] == "nobody-home"]
    assert len(dead) == 16 and (dead["error"] == "refused").all()
    assert np.all(frame["latency_ms"] > 0)
