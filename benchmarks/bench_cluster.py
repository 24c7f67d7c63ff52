"""Cluster overhead: the same suite run locally (one uvloop process) and through `--cluster
local` (a throw-away one-node Ray instance, one agent on Ray's asyncio actor loop).

Prints, per path: start-up (Ray start + agents ready, from the manifest), time to the first
journaled sample, samples/s while measuring (first send → last response, from the samples),
median and p99 probe latency (does the actor's loop change what is measured?), and wall time.
Targets are the local echo server; back-to-back `warm` probes on reused connections, so the
figures are the client path's ceiling, not a target's.

    python benchmarks/bench_cluster.py [--probes 4000] [--targets 4] [--repeats 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd

from coldbench.plan import build_plan
from coldbench.runner import RunOptions, execute_run
from coldbench.store import (
    RunWriter,
    build_manifest,
    derive_columns,
    load_manifest,
    load_run,
    read_journal,
)
from coldbench.suite import load_suite
from coldbench.testing.childproc import ServerProcess

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


def write_bench_suite(folder: Path, url: str, probes: int, targets: int) -> Path:
    """A suite of `targets` lanes of back-to-back warm probes on reused connections."""
    lines = ['[suite]\nname = "bench-cluster"\n']
    for index in range(targets):
        lines.append(f'[[targets]]\nname = "t{index}"\nurl = "{url}/ok"\nconnection = "reuse"\n')
    lines.append(f'[[scenarios]]\ntype = "warm"\ncount = {probes // targets}\n')
    path = folder / "bench.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def run_local(suite_path: Path, run_dir: Path) -> float:
    """One local run (the normal runner path); return its wall seconds."""
    begin = time.perf_counter()
    execute_run(load_suite(suite_path), RunOptions(out_dir=run_dir, quiet=True, workers=1))
    return time.perf_counter() - begin


def run_cluster(suite_path: Path, run_dir: Path) -> float:
    """One `--cluster local` run (Ray started and stopped inside); return its wall seconds."""
    import uvloop

    from coldbench.cluster.driver import run_on_cluster

    suite = load_suite(suite_path)
    plan = build_plan(suite)
    writer = RunWriter(run_dir, build_manifest(suite.snapshot, suite.name, seed=plan.seed,
                                               planned_probes=plan.probe_count))
    begin = time.perf_counter()
    uvloop.run(run_on_cluster(suite, plan, writer, "local", asyncio.Event(), frozenset()))
    writer.finish("complete", derive_columns(read_journal(run_dir)[0], suite.snapshot))
    return time.perf_counter() - begin


def compute_figures(run_dir: Path, wall_s: float, begin_wall: pd.Timestamp) -> dict[str, float]:
    """Throughput and latency figures of one finished run directory."""
    frame = load_run(run_dir)
    ends = frame["started_at"] + pd.to_timedelta(frame["latency_ms"], unit="ms")
    measuring_s = (ends.max() - frame["started_at"].min()).total_seconds()
    startup = (load_manifest(run_dir).get("cluster") or {}).get("startup_s")
    return {
        "samples": float(len(frame)),
        "startup_s": float(startup) if startup is not None else 0.0,
        "first_sample_s": (frame["started_at"].min() - begin_wall).total_seconds(),
        "samples_per_s": len(frame) / measuring_s,
        "p50_ms": float(frame["latency_ms"].median()),
        "p99_ms": float(frame["latency_ms"].quantile(0.99)),
        "wall_s": wall_s,
    }


def main() -> None:
    """Alternate local and cluster runs; print the median of each figure."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--probes", type=int, default=4000)
    parser.add_argument("--targets", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    results: dict[str, list[dict[str, float]]] = {"local": [], "cluster": []}
    with ServerProcess("coldbench.testing.echo_server") as server, \
            tempfile.TemporaryDirectory(prefix="cb-bench-cluster-") as tmp:
        suite_path = write_bench_suite(Path(tmp), server.url, args.probes, args.targets)
        for rep in range(args.repeats):
            for name, runner in (("local", run_local), ("cluster", run_cluster)):
                run_dir = Path(tmp) / f"{name}-{rep}"
                begin_wall = pd.Timestamp.now(tz="UTC")
                wall_s = runner(suite_path, run_dir)
                results[name].append(compute_figures(run_dir, wall_s, begin_wall))
    print(f"{args.probes} probes over {args.targets} targets, {args.repeats} runs each (medians)")
    print(f"{'path':8} {'samples/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'start-up s':>11} "
          f"{'1st sample s':>13} {'wall s':>7}")
    for name, runs in results.items():
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        print(f"{name:8} {med['samples_per_s']:10.0f} {med['p50_ms']:8.3f} {med['p99_ms']:8.3f} "
              f"{med['startup_s']:11.2f} {med['first_sample_s']:13.2f} {med['wall_s']:7.2f}")


if __name__ == "__main__":
    main()
