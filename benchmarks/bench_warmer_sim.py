"""Benchmark: the warmer simulator on the Azure trace samples with the published AWS curve.

    .venv/bin/python benchmarks/bench_warmer_sim.py          # prints the time per trace
    .venv/bin/python -m pytest benchmarks/bench_warmer_sim.py --benchmark-only

Target (issue 6): under 10 s on the 2-core reference machine for five strategies (none, ping
every 5 min, a four-way ping fan-out, provisioned(1), predictive), 200 Monte-Carlo replicates
each, on a full day of the Azure 2019 sample's busiest function and on the Azure 2021 sample,
with Shilkov's measured AWS P(cold | idle gap) curve. The data are the copies in tests/data
(identical to the project's shared data; see tests/data/traces/README.md).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from coldbench.warmer.cost import Pricing
from coldbench.warmer.curves import ColdCurve, load_published_curve
from coldbench.warmer.simulator import ServiceModel, SimulatedStrategy, simulate_strategies
from coldbench.warmer.strategies import (
    NoWarming,
    PingWarming,
    PredictiveWarming,
    ProvisionedWarming,
    Strategy,
)
from coldbench.warmer.traces import load_trace
from coldbench.warmer.workloads import Workload, build_trace_workload

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
TRACES = (("azure2019", DATA / "traces" / "azure2019_example_invocations.csv"),
          ("azure2021", DATA / "traces" / "azure2021_sample_200.csv"))
CURVE = DATA / "published" / "shilkov_aws_2021_interval.json"
REPLICATES = 200
LIMIT_S = 10.0
STRATEGIES: tuple[Strategy, ...] = (
    NoWarming(),
    PingWarming("ping", 300.0),
    PingWarming("ping4", 300.0, fan_out=4, hold_ms=200.0),
    ProvisionedWarming.constant("provisioned", 1),
    PredictiveWarming("predictive", keep_alive_s=360.0, refresh_s=300.0),
)


def load_inputs() -> tuple[list[tuple[str, Workload]], ColdCurve]:
    """The two trace workloads (uncompressed) and the published curve."""
    workloads = [(fmt, build_trace_workload(load_trace(path, fmt, seed=1))) for fmt, path in TRACES]
    return workloads, load_published_curve(CURVE)


def simulate_all(workloads: list[tuple[str, Workload]], curve: ColdCurve) -> list[SimulatedStrategy]:
    """Every strategy on every workload."""
    results = []
    for _fmt, workload in workloads:
        service = ServiceModel(warm_ms=workload.service_ms or 100.0, init_ms=250.0)
        results += simulate_strategies(STRATEGIES, workload, curve, service, Pricing(),
                                       REPLICATES, seed=1)
    return results


def test_simulator_on_azure_traces(benchmark: Any) -> None:
    """pytest-benchmark entry: one round of the whole workload set."""
    workloads, curve = load_inputs()
    results = benchmark.pedantic(simulate_all, args=(workloads, curve), rounds=1, iterations=1)
    assert len(results) == len(STRATEGIES) * len(TRACES)
    assert all(r.outcome.replicates == REPLICATES for r in results)
    assert benchmark.stats.stats.max <= LIMIT_S


def main() -> None:
    """Print the time per trace and in all."""
    started = time.perf_counter()
    workloads, curve = load_inputs()
    loaded_s = time.perf_counter() - started
    total = 0.0
    for fmt, workload in workloads:
        began = time.perf_counter()
        results = simulate_all([(fmt, workload)], curve)
        elapsed = time.perf_counter() - began
        total += elapsed
        rates = ", ".join(f"{r.outcome.strategy} {100 * r.outcome.cold_rate:.2f}%" for r in results)
        print(f"{fmt}: {len(workload.arrivals_s)} invocations over {workload.duration_s / 3600:.2f} h; "
              f"{len(STRATEGIES)} strategies × {REPLICATES} replicates in {elapsed:.2f} s ({rates})")
    print(f"loading {loaded_s:.2f} s; simulation {total:.2f} s (limit {LIMIT_S:.0f} s): "
          + ("within the limit" if loaded_s + total <= LIMIT_S else "OVER THE LIMIT"))


if __name__ == "__main__":
    main()
