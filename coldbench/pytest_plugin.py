"""pytest plugin: run a coldbench suite in a nightly pytest job and assert its thresholds.

Loaded through the `pytest11` entry point (or `-p coldbench.pytest_plugin`)::

    def test_nightly_cold_starts(coldbench_run):
        result = coldbench_run("targets/local.toml")
        result.assert_thresholds()                      # the suite's [thresholds]
        result.assert_thresholds({"cold.p99": "< 1s"})  # extra ones, for every target

`--coldbench-benchmark-json=PATH` also writes every run of the session as pytest-benchmark JSON
(one benchmark per target x label, stats in seconds), so dashboards that already chart
pytest-benchmark files (github-action-benchmark's `pytest` tool, `pytest-benchmark compare`)
show coldbench latencies without a new parser.
"""

from __future__ import annotations

import json
import platform
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from coldbench.compare import count_cold, count_errors, select_latencies_ms, user_samples
from coldbench.thresholds import (
    ThresholdResult,
    check_run_thresholds,
    evaluate_thresholds,
    format_threshold_results,
)

_RESULTS_KEY = pytest.StashKey[list]()
PYTEST_BENCHMARK_VERSION = "5.1.0"  # the JSON layout written (pytest-benchmark >= 4 reads it)


@dataclass
class ColdbenchRunResult:
    """A finished suite run: its directory, exit status, samples and threshold results."""

    run_dir: Path
    exit_status: int
    frame: pd.DataFrame
    manifest: dict[str, Any]
    thresholds: list[ThresholdResult] = field(default_factory=list)

    def failed_thresholds(self) -> list[ThresholdResult]:
        """The suite thresholds that did not pass (failed or had no data)."""
        return [r for r in self.thresholds if not r.passed]

    def assert_thresholds(self, extra: Mapping[str, Any] | None = None,
                          per_target: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        """Assert the suite's thresholds, or `extra`/`per_target` ones when given."""
        results = self.thresholds
        if extra is not None or per_target is not None:
            results = evaluate_thresholds(self.frame, extra or {}, per_target)
        assert_thresholds(results)


def assert_thresholds(results: Sequence[ThresholdResult]) -> None:
    """Raise AssertionError listing every threshold that did not pass."""
    failed = [r for r in results if not r.passed]
    if failed:
        raise AssertionError(f"{len(failed)} of {len(results)} coldbench thresholds failed:\n"
                             + format_threshold_results(failed))


def run_suite(suite: Path | str, run_dir: Path, extra_args: Sequence[str] = (),
              cli_main: Callable[[list[str]], int] | None = None) -> ColdbenchRunResult:
    """Run `coldbench run SUITE -o RUN_DIR` in-process; load the run and check its thresholds.

    Exit status 1 (thresholds failed) still yields a result; anything that leaves no run
    directory (a bad suite: exit 2) raises RuntimeError with the status.
    """
    from coldbench.store import MANIFEST_NAME, load_manifest, load_run

    if cli_main is None:
        from coldbench import cli

        cli_main = cli.main
    status = cli_main(["run", str(suite), "-o", str(run_dir), "-q", "--no-report", *extra_args])
    if not (Path(run_dir) / MANIFEST_NAME).exists() or status not in (0, 1):
        raise RuntimeError(f"coldbench run {suite} failed with exit status {status}")
    frame, manifest = load_run(run_dir), load_manifest(run_dir)
    thresholds = check_run_thresholds(frame, manifest.get("suite") or {})
    return ColdbenchRunResult(Path(run_dir), status, frame, manifest, thresholds)


@pytest.fixture
def coldbench_run(request: pytest.FixtureRequest, tmp_path: Path
                  ) -> Callable[..., ColdbenchRunResult]:
    """Return `run(suite, *cli_args) -> ColdbenchRunResult`; run directories go in tmp_path."""
    count = 0

    def run(suite: Path | str, *cli_args: str) -> ColdbenchRunResult:
        nonlocal count
        count += 1
        result = run_suite(suite, tmp_path / f"run-{count}", cli_args)
        request.config.stash.setdefault(_RESULTS_KEY, []).append((request.node.nodeid, result))
        return result

    return run


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add --coldbench-benchmark-json."""
    parser.getgroup("coldbench").addoption(
        "--coldbench-benchmark-json", metavar="PATH", default=None,
        help="write the session's coldbench runs as pytest-benchmark-compatible JSON")


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Write the benchmark JSON when asked and any run happened."""
    path = session.config.getoption("--coldbench-benchmark-json", default=None)
    runs = session.config.stash.get(_RESULTS_KEY, [])
    if path and runs:
        document = build_benchmark_json(runs)
        Path(path).write_text(json.dumps(document, indent=2, allow_nan=False) + "\n")


def _latency_stats(latencies_ms: np.ndarray) -> dict[str, float | int | str]:
    """pytest-benchmark's `stats` block, in seconds, for one group of latencies."""
    data = np.sort(latencies_ms) / 1000.0
    q1, median, q3 = (float(x) for x in np.percentile(data, [25, 50, 75]))
    iqr, mean, stddev = q3 - q1, float(data.mean()), float(data.std(ddof=1)) if data.size > 1 else 0.0
    low_fence, high_fence = q1 - 1.5 * iqr, q3 + 1.5 * iqr
    iqr_outliers = int(((data < low_fence) | (data > high_fence)).sum())
    stddev_outliers = int((np.abs(data - mean) > stddev).sum())
    inside = data[(data >= low_fence) & (data <= high_fence)]
    return {
        "min": float(data[0]), "max": float(data[-1]), "mean": mean, "stddev": stddev,
        "rounds": int(data.size), "median": median, "iqr": iqr, "q1": q1, "q3": q3,
        "iqr_outliers": iqr_outliers, "stddev_outliers": stddev_outliers,
        "outliers": f"{stddev_outliers};{iqr_outliers}",
        "ld15iqr": float(inside[0]) if inside.size else float(data[0]),
        "hd15iqr": float(inside[-1]) if inside.size else float(data[-1]),
        "ops": 1.0 / mean if mean > 0 else 0.0, "total": float(data.sum()), "iterations": 1,
    }


def build_benchmark_entries(nodeid: str, result: ColdbenchRunResult) -> list[dict[str, Any]]:
    """One pytest-benchmark entry per target x label (cold, warm) of a run."""
    entries = []
    users = user_samples(result.frame)
    for target in sorted(users["target"].unique()):
        samples = users[users["target"] == target]
        cold, labelled = count_cold(samples)
        errors, total = count_errors(samples)
        for label in ("cold", "warm"):
            latencies = select_latencies_ms(samples, label)
            if latencies.size == 0:
                continue
            entries.append({
                "group": f"coldbench {target}", "name": f"{target}[{label}]",
                "fullname": f"{nodeid}::{target}[{label}]", "param": label,
                "params": {"target": target, "label": label},
                "extra_info": {"run_dir": str(result.run_dir), "cold_rate": cold / labelled
                               if labelled else None, "error_rate": errors / total if total
                               else None, "unit_note": "stats in seconds, one round per probe"},
                "options": {"disable_gc": False, "timer": "perf_counter", "min_rounds": 1,
                            "max_time": 0.0, "min_time": 0.0, "warmup": False},
                "stats": _latency_stats(latencies),
            })
    return entries


def build_benchmark_json(runs: Sequence[tuple[str, ColdbenchRunResult]]) -> dict[str, Any]:
    """A pytest-benchmark JSON document for the given (test node id, run) pairs."""
    benchmarks = [entry for nodeid, result in runs for entry in build_benchmark_entries(nodeid,
                                                                                           result)]
    return {
        "machine_info": {
            "node": socket.gethostname(), "processor": platform.processor(),
            "machine": platform.machine(), "python_compiler": platform.python_compiler(),
            "python_implementation": platform.python_implementation(),
            "python_implementation_version": platform.python_version(),
            "python_version": platform.python_version(), "python_build": list(
                platform.python_build()), "release": platform.release(),
            "system": platform.system(), "cpu": {},
        },
        "commit_info": {"id": None, "time": None, "author_time": None, "dirty": False,
                        "project": "coldbench", "branch": None},
        "benchmarks": benchmarks,
        "datetime": datetime.now(UTC).isoformat(),
        "version": PYTEST_BENCHMARK_VERSION,
    }
