"""Other work on the host during a run (coldbench.hostload) and what compare does with it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
from test_compare_sim import SANDBOX_LIKE, simulate_pair

from coldbench.compare import HOST_BUSY_FRACTION, compare_runs
from coldbench.hostload import CpuSnapshot, describe_host_cpu, take_cpu_snapshot

BURN = "import time\nt = time.monotonic()\nwhile time.monotonic() - t < {s}: pass\n"


def test_describe_host_cpu_splits_busy_cores() -> None:
    record = describe_host_cpu(CpuSnapshot(10.0, 100.0, 5.0), CpuSnapshot(12.0, 103.0, 6.0))
    assert record["busy_cores"] == 1.5 and record["coldbench_cores"] == 0.5
    assert record["other_cores"] == 1.0 and record["span_s"] == 2.0
    quiet = describe_host_cpu(CpuSnapshot(0.0, 0.0, 0.0), CpuSnapshot(1.0, 0.5, 0.6))
    assert quiet["other_cores"] == 0.0  # rounding between the two clocks never goes negative


def test_a_child_process_counts_as_coldbench() -> None:
    """The sandbox and its instances are descendants: their CPU is coldbench's, not other work."""
    start = take_cpu_snapshot()
    subprocess.run([sys.executable, "-c", BURN.format(s=0.6)], check=True, timeout=30)
    record = describe_host_cpu(start, take_cpu_snapshot())
    assert record["coldbench_cores"] >= 0.3, record


def test_a_process_outside_the_tree_counts_as_other() -> None:
    """A busy process that is not coldbench's descendant (orphaned by a shell) is other work."""
    out = subprocess.run(["sh", "-c", f'{sys.executable} -c "$0" >/dev/null 2>&1 & echo $!',
                          BURN.format(s=3.0)], check=True, capture_output=True, text=True,
                         timeout=30)
    burner = int(out.stdout.strip())
    try:
        time.sleep(0.3)
        start = take_cpu_snapshot()
        time.sleep(1.0)
        record = describe_host_cpu(start, take_cpu_snapshot())
    finally:
        try:
            os.kill(burner, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert record["other_cores"] >= 0.5, record


def test_compare_sets_aside_latencies_of_a_run_that_shared_its_host() -> None:
    """A ×2 slower run measured next to other work: a warning, latency verdicts `insufficient`,
    rates still judged; the same run from a quiet host is judged."""
    base, _same = simulate_pair(SANDBOX_LIKE, SANDBOX_LIKE, 5)
    slow = base.assign(latency_ms=base["latency_ms"] * 2.0)
    busy = {"host_cpu": {"other_cores": HOST_BUSY_FRACTION * 2 + 0.3, "cores": 2}}
    quiet = {"host_cpu": {"other_cores": 0.05, "cores": 2}}
    judged = compare_runs(base, slow, base_manifest=quiet, new_manifest=quiet)
    assert judged.exit_status == 1
    result = compare_runs(base, slow, base_manifest=quiet, new_manifest=busy)
    latency = [c for c in result.comparisons if c.unit == "ms"]
    assert latency and all(c.verdict == "insufficient" and "shared its host" in c.note
                           for c in latency)
    assert {c.key: c.verdict for c in result.comparisons}["cold_rate"] == "unchanged"
    assert any("new run shared its host" in w for w in result.warnings)
    assert result.exit_status == 0
    assert np.isfinite([c.ratio for c in latency if c.ratio is not None]).all()
