"""`coldbench warm`: run one workload once per strategy, at the same time, and judge them.

    outcome = run_warm_experiment(suite, WarmOptions(out_dir=Path("runs/warm")))

Every strategy drives its own copy of the function (see `coldbench.warmer.lanes`) from one
shared start time. User requests and warming invocations are journaled as they complete
(`phase` "user" / "warming"); when the run ends the sandbox's ground truth relabels them, and
the directory gets samples.parquet, warm.json (outcomes, plan, curve) and report/. With a
`[warmer.simulate] curve`, the simulator predicts each strategy on the same arrivals and
actions, and the report sets prediction beside measurement. `run_warm_simulation` predicts
without invoking anything (`coldbench warm --simulate`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import signal
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from coldbench.budget import build_budget
from coldbench.errors import ConfigError
from coldbench.runner import default_run_dir
from coldbench.sample import Sample
from coldbench.store import RunWriter, build_manifest, frame_from_records
from coldbench.suite import Suite
from coldbench.warmer.config import WarmerConfig, build_warmer_config
from coldbench.warmer.lanes import (
    CALIBRATION,
    apply_truth,
    build_live_lanes,
    calibration_target,
    fetch_provisioned_ids,
    fetch_truth,
    sandbox_copies,
)
from coldbench.warmer.live import LaneRunner, LiveLane, apply_provision, run_calibration_lane
from coldbench.warmer.metrics import build_cold_timeline, compute_measured_outcome
from coldbench.warmer.outcome import StrategyOutcome, complete_outcomes
from coldbench.warmer.predict import estimate_service_model, predict_outcomes, resolve_curve
from coldbench.warmer.report import WarmReport, save_warm_json, write_warm_report
from coldbench.warmer.workloads import Workload, build_workload, shift_workload

_NS_PER_S = 1_000_000_000
START_DELAY_S = 0.2  # from "every lane is set up" to the first scheduled send


@dataclasses.dataclass
class WarmOptions:
    """What `coldbench warm` was asked to do."""

    out_dir: Path | None = None
    runs_root: Path = Path("runs")
    seed: int | None = None


@dataclasses.dataclass
class Measurement:
    """What the live part collected."""

    samples: list[Sample] = dataclasses.field(default_factory=list)
    lanes: list[LiveLane] = dataclasses.field(default_factory=list)
    provisioned_ids: dict[str, set[str]] = dataclasses.field(default_factory=dict)
    started_at: str = ""
    status: str = "failed"


def plan_warm(suite: Suite, seed: int | None) -> tuple[WarmerConfig, Workload, int]:
    """Validate the suite's warmer tables and build its workload (no I/O but trace files)."""
    config = build_warmer_config(suite)
    seed = suite.seed if seed is None else seed
    workload = build_workload(config.workload, seed, Path(suite.path).resolve().parent)
    return config, shift_workload(workload, config.warmup_s), seed


def check_warm_budget(suite: Suite, config: WarmerConfig, workload: Workload) -> int:
    """Refuse an experiment bigger than the suite's `[budget]`; return the planned requests."""
    budget = build_budget(suite.budget, suite.path)
    arrivals = len(workload.arrivals_s)
    planned = sum(arrivals + sum(a.count for a in lane.strategy.build_actions(
        workload.arrivals_s, workload.duration_s) if a.kind == "ping") for lane in config.lanes)
    if planned > budget.max_requests:
        raise ConfigError(f"{suite.path}: budget.max_requests: the warm experiment plans {planned} "
                          f"requests (limit {budget.max_requests}); shorten warmer.workload or "
                          "raise [budget] max_requests")
    if workload.duration_s > budget.max_duration_s:
        raise ConfigError(f"{suite.path}: budget.max_duration: the workload lasts "
                          f"{workload.duration_s:g}s (limit {budget.max_duration_s:g}s)")
    return planned


def _open_output(suite: Suite, options: WarmOptions, kind: str, **extra: object) -> RunWriter:
    out = options.out_dir or default_run_dir(dataclasses.replace(suite, name=f"{suite.name}-warm"),
                                             options.runs_root)
    if (out / "manifest.json").exists():
        raise ConfigError(f"{out}: already holds a run; choose another with -o DIR")
    manifest = build_manifest(suite.snapshot, suite.name, kind=kind, suite_path=str(suite.path),
                              suite_sha256=suite.sha256, **extra)
    return RunWriter(out, manifest)


def run_warm_experiment(suite: Suite, options: WarmOptions) -> WarmReport:
    """Run the warm experiment (live) and write its directory and report."""
    import uvloop

    return uvloop.run(_run_warm_experiment(suite, options))


async def _run_warm_experiment(suite: Suite, options: WarmOptions) -> WarmReport:
    config, workload, seed = plan_warm(suite, options.seed)
    planned = check_warm_budget(suite, config, workload)
    writer = _open_output(suite, options, "warm", seed=seed, planned_probes=planned)
    stop = asyncio.Event()
    measurement = Measurement()
    try:
        with _signals_set(stop):
            await _measure(suite, config, workload, seed, writer, stop, measurement)
    finally:
        frame = frame_from_records([s.to_record() for s in measurement.samples])
        writer.finish(measurement.status, frame)
    return _judge(suite, config, workload, seed, writer.run_dir, frame, measurement)


async def _measure(suite: Suite, config: WarmerConfig, workload: Workload, seed: int,
                   writer: RunWriter, stop: asyncio.Event, measurement: Measurement) -> None:
    curve = config.simulate.curve
    calibrate = curve is not None and curve.kind == "calibrate"
    names = [lane.strategy.name for lane in config.lanes] + ([CALIBRATION] if calibrate else [])
    async with _platform(suite, config, names, writer.run_dir) as (url, copies):
        lanes = build_live_lanes(suite, config, workload.arrivals_s, workload.duration_s, url,
                                 copies, deploys=bool(workload.deploys_s))
        measurement.lanes = lanes
        try:
            await asyncio.gather(*(apply_provision(lane, a) for lane in lanes
                                   for a in lane.actions if a.kind == "provision" and a.at_s <= 0))
            await _snapshot_provisioned(url, lanes, measurement)
            collected: list[Sample] = []
            measurement.samples = collected

            def publish(sample: Sample) -> None:
                writer.append(sample)
                collected.append(sample)

            start_ns = time.perf_counter_ns() + int(START_DELAY_S * _NS_PER_S)
            measurement.started_at = datetime.now(UTC).isoformat(timespec="microseconds")
            writer.update_manifest(workload_started_at=measurement.started_at)
            jobs = [LaneRunner(lane, workload.arrivals_s, publish,
                               lambda lane: _snapshot_provisioned(url, [lane], measurement),
                               deploys_s=workload.deploys_s).run(start_ns, stop) for lane in lanes]
            if calibrate and url is not None:
                assert curve is not None
                target = calibration_target(suite, config, url, copies)
                jobs.append(run_calibration_lane(target, curve.gaps_s, workload.duration_s, seed,
                                                 publish, stop))
            await asyncio.gather(*jobs)
            measurement.samples = await _collect(collected, url, copies, lanes, measurement)
            measurement.status = "interrupted" if stop.is_set() else "complete"
        finally:
            await _release(lanes, url is None)


@contextlib.asynccontextmanager
async def _platform(suite: Suite, config: WarmerConfig, names: list[str],
                    run_dir: Path) -> AsyncIterator[tuple[str | None, dict[str, str]]]:
    target = suite.target(config.target)
    if target.provider == "sandbox" or "${sandbox}" in target.url:
        if suite.sandbox is None:
            raise ConfigError(f"{suite.path}: targets[{target.name}]: a sandbox target needs a "
                              "[sandbox] section")
        from coldbench.warmer.lanes import sandbox_function_of

        async with sandbox_copies(suite, sandbox_function_of(target), names,
                                  run_dir / "sandbox.log") as (url, copies):
            yield url, copies
    else:
        yield None, {}


async def _snapshot_provisioned(url: str | None, lanes: list[LiveLane],
                                measurement: Measurement) -> None:
    if url is None:
        return
    for lane in lanes:
        if lane.function and any(a.kind == "provision" for a in lane.actions):
            found = await fetch_provisioned_ids(url, lane.function)
            measurement.provisioned_ids.setdefault(lane.strategy.name, set()).update(found)


async def _collect(samples: list[Sample], url: str | None, copies: dict[str, str],
                   lanes: list[LiveLane], measurement: Measurement) -> list[Sample]:
    """The samples, relabelled from the sandbox's ground truth when there is one."""
    if url is None:
        return samples
    await _snapshot_provisioned(url, lanes, measurement)
    truth = {lane: await fetch_truth(url, copy) for lane, copy in copies.items()}
    return [apply_truth(s, truth.get(s.target, {})) for s in samples]


async def _release(lanes: list[LiveLane], clear: bool) -> None:
    """Clear provisioned concurrency left configured outside the sandbox (it is billed), and
    close provider clients."""
    for lane in lanes:
        if lane.provider is None:
            continue
        if clear and any(r.count > 0 and r.error is None for r in lane.provisions) and lane.function:
            with contextlib.suppress(Exception):
                await lane.provider.clear_provisioned(lane.function, lane.qualifier)
        await lane.provider.close()


@contextlib.contextmanager
def _signals_set(stop: asyncio.Event):  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        yield
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)


def _judge(suite: Suite, config: WarmerConfig, workload: Workload, seed: int, run_dir: Path,
           frame: pd.DataFrame, measurement: Measurement) -> WarmReport:
    """Measured outcomes, simulated predictions, warm.json and the report."""
    measured: list[StrategyOutcome] = []
    for lane in measurement.lanes:
        lane_frame = frame[frame["target"].eq(lane.strategy.name)]
        ready = tuple(r.seconds_to_ready for r in lane.provisions if r.seconds_to_ready is not None)
        measured.append(compute_measured_outcome(
            lane.strategy, lane_frame, workload, lane.actions, config.pricing,
            measurement.provisioned_ids.get(lane.strategy.name, set()), ready))
    timeline = build_cold_timeline(frame, workload)
    notes: list[str] = [f"{r.strategy}: provisioning at {r.at_s:g}s failed: {r.error}"
                        for lane in measurement.lanes for r in lane.provisions if r.error]
    notes += [f"{r.strategy}: deploy at {r.at_s:g}s failed: {r.error}"
              for lane in measurement.lanes for r in lane.deploys if r.error]
    curve = service = None
    simulated: list[StrategyOutcome] = []
    if config.simulate.curve is not None and not frame.empty:
        curve, note = resolve_curve(config.simulate.curve, frame, config.simulate.model)
        notes += [note] if note else []
        if curve is not None:
            service = estimate_service_model(frame, config.simulate, measurement.lanes)
            simulated, sim_timeline = predict_outcomes(config, workload, curve, service, seed)
            timeline = pd.concat([timeline, sim_timeline], ignore_index=True)
    outcomes = complete_outcomes(measured + simulated, config.pricing)
    report = WarmReport(suite.name, run_dir, measurement.status, workload, config, outcomes,
                        timeline, curve, service, notes,
                        {lane.strategy.name: lane.actions for lane in measurement.lanes})
    save_warm_json(report)
    write_warm_report(report)
    return report


def run_warm_simulation(suite: Suite, options: WarmOptions) -> WarmReport:
    """Predict every strategy from the configured curve without invoking anything."""
    config, workload, seed = plan_warm(suite, options.seed)
    spec = config.simulate.curve
    if spec is not None and spec.kind in ("calibrate", "none") and config.simulate.prior is not None:
        spec = config.simulate.prior
    if spec is None:
        raise ConfigError(f"{suite.path}: warmer.simulate.curve: missing; --simulate needs "
                          "{keep_alive = \"5s\"}, {published = \"file.json\"} or {run = \"runs/dir\"}")
    curve, _note = resolve_curve(spec, None, config.simulate.model)
    assert curve is not None
    service = estimate_service_model(None, config.simulate, [], workload.service_ms)
    simulated, timeline = predict_outcomes(config, workload, curve, service, seed)
    writer = _open_output(suite, options, "warm-simulation", seed=seed)
    writer.finish("complete", frame_from_records([]))
    actions = {s.name: s.build_actions(workload.arrivals_s, workload.duration_s)
               for s in config.strategies}
    report = WarmReport(suite.name, writer.run_dir, "simulated", workload, config,
                        complete_outcomes(simulated, config.pricing), timeline, curve, service,
                        [], actions)
    save_warm_json(report)
    write_warm_report(report)
    return report
