"""Benchmark: latency summary with 95% intervals for 10 million samples across 20 targets.

    .venv/bin/python benchmarks/bench_analysis.py            # prints time and peak memory
    .venv/bin/python -m pytest benchmarks/bench_analysis.py --benchmark-only

Target (issue 5): <= 10 s and <= 4 GB peak memory on the 2-core reference machine. The frame
is built the way `load_run` returns one (pandas string columns, float latencies, errors as
missing values), so the timing covers grouping, error counting and the percentile intervals.
"""

from __future__ import annotations

import resource
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import psutil

from coldbench.analysis import summarise_latency

SAMPLES = 10_000_000
TARGETS = 20
LIMIT_S = 10.0
LIMIT_BYTES = 4 * 1024**3


def _strings(codes: np.ndarray, names: list[str]) -> pd.Series:
    return pd.Series(pd.Categorical.from_codes(codes, names)).astype("str")


def build_frame(samples: int = SAMPLES, targets: int = TARGETS, seed: int = 1) -> pd.DataFrame:
    """Synthetic samples: cold ~8%, unknown ~2%, errors ~0.5%, two scenarios, lognormal latency."""
    rng = np.random.default_rng(seed)
    target = rng.integers(0, targets, samples)
    label = rng.choice(3, samples, p=[0.08, 0.90, 0.02])
    base_ms = np.where(label == 0, 300.0, 50.0) * (1 + target / targets)
    errors = np.where(rng.random(samples) < 0.005, 0, -1)
    return pd.DataFrame({
        "target": _strings(target, [f"target-{i:02d}" for i in range(targets)]),
        "scenario": _strings(rng.integers(0, 2, samples), ["idle-gap", "burst"]),
        "label": _strings(label, ["cold", "warm", "unknown"]),
        "phase": _strings(np.zeros(samples, dtype=np.int8), ["user"]),
        "error": _strings(errors, ["timeout"]),
        "latency_ms": base_ms * rng.lognormal(0.0, 0.5, samples),
    })


class PeakRss:
    """Samples this process's resident memory every few milliseconds while active."""

    def __init__(self, interval_s: float = 0.005) -> None:
        self.interval_s, self.peak, self._stop = interval_s, 0, threading.Event()
        self._process = psutil.Process()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._process.memory_info().rss)
            time.sleep(self.interval_s)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._process.memory_info().rss)


def measure(run: Callable[[], pd.DataFrame]) -> tuple[pd.DataFrame, float, int]:
    """Run `run` once; return (result, seconds, peak RSS bytes during the run)."""
    with PeakRss() as rss:
        started = time.perf_counter()
        result = run()
        elapsed = time.perf_counter() - started
    return result, elapsed, rss.peak


def test_summary_10m_samples(benchmark: Any) -> None:
    """pytest-benchmark entry: one round (the frame is too large to repeat cheaply)."""
    frame = build_frame()
    by = ("target", "label", "scenario")
    with PeakRss() as rss:
        summary = benchmark.pedantic(summarise_latency, args=(frame, by), rounds=1, iterations=1)
    assert len(summary) == TARGETS * 3 * 2 and summary["n"].sum() == SAMPLES
    assert benchmark.stats.stats.max <= LIMIT_S
    assert rss.peak <= LIMIT_BYTES


def main() -> None:
    started = time.perf_counter()
    frame = build_frame()
    built_s = time.perf_counter() - started
    frame_gb = frame.memory_usage(deep=True).sum() / 1e9
    rss_before = psutil.Process().memory_info().rss
    summary, elapsed, peak = measure(
        lambda: summarise_latency(frame, by=("target", "label", "scenario")))
    max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(f"samples: {len(frame):,} across {frame['target'].nunique()} targets "
          f"({len(summary)} groups); frame {frame_gb:.2f} GB, built in {built_s:.1f} s")
    print(f"summary with 95% intervals: {elapsed:.2f} s (limit {LIMIT_S:.0f} s)")
    print(f"RSS before {rss_before / 1e9:.2f} GB, peak during summary {peak / 1e9:.2f} GB, "
          f"process peak {max_rss / 1e9:.2f} GB (limit {LIMIT_BYTES / 1e9:.1f} GB)")
    ok = elapsed <= LIMIT_S and max_rss <= LIMIT_BYTES
    print("within limits" if ok else "OVER LIMIT")


if __name__ == "__main__":
    main()
