"""Running a suite end to end: sandbox (if any), plan, engine, run directory, labelling.

The CLI's `run` command is a thin shell around `execute_run`; tests and the pytest plugin call
it too. Signals (SIGINT/SIGTERM) stop the engine cleanly: every completed sample stays in the
journal, the Parquet file is written, and the run is marked `interrupted`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from coldbench.budget import build_budget, check_budget, estimate_load_requests
from coldbench.engine import Engine, EngineOptions
from coldbench.errors import ConfigError
from coldbench.events import EventBus, SampleRecorded
from coldbench.histo import HistogramRecorder, save_histograms
from coldbench.hostload import describe_host_cpu, take_cpu_snapshot
from coldbench.load import build_load_record
from coldbench.plan import LOAD_ID_BASE, LOAD_ID_BLOCK, Plan, build_plan
from coldbench.progress import ProgressDisplay
from coldbench.providers import Provider, build_provider, describe_providers
from coldbench.selfcheck import ClientMonitor
from coldbench.shard import shard_plan
from coldbench.store import (
    BATCH_INTERVAL_S,
    LARGE_RUN_SAMPLES,
    RunWriter,
    build_manifest,
    count_journal_samples,
    derive_columns,
    load_manifest,
    load_sample_columns,
    read_journal,
    utc_now_iso,
)
from coldbench.suite import Suite, TargetSpec
from coldbench.workerd.suite_hook import (
    prepare_workerd_suite,
    resolve_workerd_urls,
    workerd_for,
    workerd_urls,
)
from coldbench.workers import default_workers, run_worker_processes

SANDBOX_PLACEHOLDER = "${sandbox}"
# Scenario types whose samples are journaled in batches (store.py: what a kill -9 can lose).
BATCHED_SCENARIO_TYPES = ("closed", "rate", "warm")


@dataclass
class RunOptions:
    """What `coldbench run` was asked to do."""

    out_dir: Path | None = None
    runs_root: Path = Path("runs")
    quiet: bool = False
    seed: int | None = None
    resume: bool = False  # out_dir is an interrupted run to continue
    workers: int | None = None  # processes; None: all cores for load scenarios, else 1
    cluster: str | None = None  # --cluster ADDRESS: probe agents on Ray (coldbench.cluster)


@dataclass
class RunOutcome:
    """Where the run landed and how it ended."""

    run_dir: Path
    status: str
    frame: pd.DataFrame
    plan: Plan
    action_errors: list[str]
    warnings: list[str] = dataclasses.field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ShardSpec:
    """Which part of the plan a process runs."""

    worker: int
    workers: int
    done_ids: frozenset[int] = frozenset()
    quiet: bool = True
    sandbox_url: str | None = None


@dataclass
class ShardReport:
    """What one process measured, beyond its samples (those are in its journal)."""

    status: str
    probes_sent: int = 0
    action_errors: list[str] = dataclasses.field(default_factory=list)
    loads: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    client: dict[str, Any] = dataclasses.field(default_factory=dict)
    warnings: list[str] = dataclasses.field(default_factory=list)


def default_run_dir(suite: Suite, root: Path) -> Path:
    """runs/<UTC-stamp>-<suite>/ (unique: a counter is added if the name exists)."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", suite.name).strip("-") or "suite"
    path = root / f"{stamp}-{slug}"
    counter = 1
    while path.exists():
        counter += 1
        path = root / f"{stamp}-{slug}-{counter}"
    return path


def resolve_sandbox_urls(suite: Suite, sandbox_url: str) -> Suite:
    """Replace `${sandbox}` in target URLs with the started sandbox's base URL."""
    targets = tuple(
        dataclasses.replace(t, url=t.url.replace(SANDBOX_PLACEHOLDER, sandbox_url.rstrip("/")))
        for t in suite.targets
    )
    return dataclasses.replace(suite, targets=targets)


@contextlib.asynccontextmanager
async def sandbox_for(suite: Suite, run_dir: Path) -> AsyncIterator[str | None]:
    """Start the suite's `[sandbox]` (if it has one) for the run's duration; yield its URL."""
    if suite.sandbox is None:
        yield None
        return
    from coldbench.sandbox.process import SandboxProcess

    sandbox = SandboxProcess.from_suite(suite.sandbox, Path(suite.path).resolve().parent,
                                        log_path=run_dir / "sandbox.log")
    async with sandbox:
        yield sandbox.url


def execute_run(suite: Suite, options: RunOptions) -> RunOutcome:
    """Run `suite` to completion (or interruption) and return the finished run directory."""
    import uvloop

    return uvloop.run(_execute_run(suite, options))


async def _execute_run(suite: Suite, options: RunOptions) -> RunOutcome:
    suite, skipped = prepare_workerd_suite(suite)  # no workerd here: its targets go, with a warning
    writer, plan, done_ids = _open_run(suite, options)
    run_dir = writer.run_dir
    stop = asyncio.Event()
    _install_signal_handlers(stop)
    status = "failed"
    reports: list[ShardReport] = []
    cpu_start = take_cpu_snapshot()  # other work on the host during the run: compare warns
    try:
        async with sandbox_for(suite, run_dir) as sandbox_url, workerd_for(suite, run_dir) as workerd:
            if sandbox_url is not None:
                suite = resolve_sandbox_urls(suite, sandbox_url)
                writer.update_manifest(sandbox={"url": sandbox_url})
            if workerd is not None:
                suite = resolve_workerd_urls(suite, workerd)
                writer.update_manifest(workerd=workerd.describe())
            writer.update_manifest(providers=await describe_providers(suite.targets, sandbox_url))
            workers = options.workers or default_workers(suite)
            if options.cluster:
                from coldbench.cluster import ClusterOptions, run_on_cluster

                cluster_options = ClusterOptions(agents_per_node=options.workers or 1,
                                                 quiet=options.quiet, sandbox_url=sandbox_url)
                reports = await run_on_cluster(suite, plan, writer, options.cluster, stop,
                                               done_ids, cluster_options)
            elif workers == 1:
                spec = ShardSpec(0, 1, done_ids, options.quiet, sandbox_url)
                reports = [await run_shard(suite, plan, writer, spec, stop)]
            else:
                urls = workerd_urls(workerd) if workerd is not None else {}
                reports = await run_worker_processes(suite, run_dir, workers, sandbox_url, stop,
                                                     options, urls)
            interrupted = stop.is_set() or any(r.status == "interrupted" for r in reports)
            status = "interrupted" if interrupted else "complete"
    finally:
        _remove_signal_handlers()
        summary = summarise_reports(reports)
        writer.update_manifest(**{**summary, "warnings": skipped + summary["warnings"]},
                               host_cpu=describe_host_cpu(cpu_start, take_cpu_snapshot()))
        frame = _finish_run(writer, status, suite)
    errors = [e for r in reports for e in r.action_errors]
    return RunOutcome(run_dir=run_dir, status=status, frame=frame, plan=plan, action_errors=errors,
                      warnings=skipped + [w for r in reports for w in r.warnings])


def _finish_run(writer: RunWriter, status: str, suite: Suite) -> pd.DataFrame:
    """Label and write samples.parquet; a large run is streamed in chunks with bounded memory
    and only the columns the summary and thresholds need are read back."""
    if count_journal_samples(writer.run_dir) > LARGE_RUN_SAMPLES:
        writer.finish_streamed(status)
        return load_sample_columns(writer.run_dir, SUMMARY_COLUMNS)
    frame = derive_columns(read_journal(writer.run_dir)[0], suite.snapshot)
    writer.finish(status, frame)
    return frame


# What the end-of-run summary, label agreement and thresholds read of a large run.
SUMMARY_COLUMNS = ("probe_id", "target", "scenario", "kind", "phase", "error", "label",
                   "label_source", "latency_ms", "gap_s", "planned_gap_s", "status", "worker")


def _open_run(suite: Suite, options: RunOptions) -> tuple[RunWriter, Plan, frozenset[int]]:
    """Create the run directory (or reopen it for --resume) and build the plan."""
    budget = build_budget(suite.budget, suite.path)
    if options.resume:
        assert options.out_dir is not None
        manifest = load_manifest(options.out_dir)
        if manifest.get("suite_sha256") != suite.sha256:
            raise ConfigError(
                f"{suite.path}: the suite changed since {options.out_dir} started; --resume needs "
                "the same suite file (start a new run instead)"
            )
        plan = build_plan(suite, int(manifest.get("seed", suite.seed)))
        check_budget(suite, plan, budget)
        done = frozenset(int(i) for i in read_journal(options.out_dir)[0]["probe_id"])
        manifest["status"] = "running"
        manifest.setdefault("resumed_at", []).append(utc_now_iso())
        return RunWriter(options.out_dir, manifest, resume=True), plan, done
    plan = build_plan(suite, options.seed)
    check_budget(suite, plan, budget)
    run_dir = options.out_dir or default_run_dir(suite, options.runs_root)
    if (run_dir / "manifest.json").exists():
        raise ConfigError(f"{run_dir}: already holds a run; choose another -o DIR or use --resume")
    manifest = build_manifest(
        suite.snapshot, suite.name, seed=plan.seed, planned_probes=plan.probe_count,
        suite_path=str(Path(suite.path).resolve()), suite_sha256=suite.sha256,
        budget=dataclasses.asdict(budget),
    )
    return RunWriter(run_dir, manifest), plan, frozenset()


async def run_shard(suite: Suite, plan: Plan, writer: RunWriter, spec: ShardSpec,
                    stop: asyncio.Event) -> ShardReport:
    """Run this process's shard of the plan: engine, journal, histograms, client self-check."""
    shard = shard_plan(plan, spec.worker, spec.workers)
    bus = EventBus()
    batched = frozenset(s.name for s in suite.scenarios if s.type in BATCHED_SCENARIO_TYPES)
    bus.subscribe(SampleRecorded,
                  lambda event: writer.append(event.sample, batched=event.sample.scenario in batched))
    recorder = HistogramRecorder()
    recorder.subscribe(bus)
    per_target = {t: sum(len(s.probes) for s in steps) for t, steps in shard.lanes.items()}
    total = shard.probe_count + estimate_load_requests(suite) // max(1, spec.workers)
    display = ProgressDisplay(total, per_target, quiet=spec.quiet)
    display.state.done = len(spec.done_ids)
    display.subscribe(bus)
    budget = build_budget(suite.budget, suite.path)
    providers = build_providers(suite, spec.sandbox_url)
    engine = Engine(suite, shard, bus, EngineOptions(
        providers=providers, run_action=build_action_runner(providers),
        annotate=_annotator(), done_probe_ids=spec.done_ids, secrets=suite.secrets,
        max_concurrency=budget.max_concurrency, worker=spec.worker, workers=spec.workers,
        done_loads=_done_loads(spec.done_ids, shard),
    ))
    monitor = ClientMonitor()
    flusher = asyncio.create_task(flush_journal_periodically(writer))
    try:
        with display:
            result = await engine.run(stop)
    finally:
        flusher.cancel()
        writer.flush()  # the batch in hand, before anyone reads the journal
        for provider in providers.values():
            await provider.close()
    client = monitor.finish(result.probes_sent)
    save_histograms(writer.run_dir, recorder.histograms, worker=spec.worker if spec.workers > 1 else None)
    loads = [build_load_record(target, scenario, load) for target, scenario, load in result.loads]
    warnings = [w for w in [client.warning()] if w]
    warnings += [str(rec["warning"]) for rec in loads if rec.get("warning")]
    return ShardReport(status=result.status, probes_sent=result.probes_sent,
                       action_errors=result.action_errors, loads=loads, client=client.to_record(),
                       warnings=warnings)


async def flush_journal_periodically(writer: RunWriter, interval_s: float = BATCH_INTERVAL_S) -> None:
    """Flush the journal's batched (load) samples every `interval_s`, so a kill -9 loses at most
    that much even when samples trickle in; cancelled at the end of the shard."""
    while True:
        await asyncio.sleep(interval_s)
        writer.flush()


def build_providers(suite: Suite, sandbox_url: str | None) -> dict[str, Provider]:
    """A control-plane provider for every target that names one (not plain HTTP)."""
    return {t.name: build_provider(t, sandbox_url) for t in suite.targets if t.provider != "http"}


def build_action_runner(providers: dict[str, Provider]) -> Any:
    """The engine's hook for lane actions such as `force_cold` (config_update scenarios)."""

    async def run_action(action: str, target: TargetSpec) -> None:
        provider = providers.get(target.name)
        if provider is None:
            raise ConfigError(f"targets[{target.name}]: {action} needs provider = \"sandbox\" or "
                              "\"aws\" and function = ...")
        if action == "force_cold":
            await provider.force_cold(target.function or target.name)

    return run_action


def _done_loads(done_ids: frozenset[int], plan: Plan) -> frozenset[tuple[str, str]]:
    """Load steps that already have samples among `done_ids` (a resumed run does not repeat them)."""
    done: set[tuple[str, str]] = set()
    for target, steps in plan.lanes.items():
        for step in steps:
            if step.load is None:
                continue
            block = range(step.id_base, step.id_base + LOAD_ID_BLOCK)
            if any(i in block for i in done_ids if i >= LOAD_ID_BASE):
                done.add((target, step.load.name))
    return frozenset(done)


def summarise_reports(reports: list[ShardReport]) -> dict[str, Any]:
    """Manifest fields from the shards' reports (client load per worker, load results, warnings)."""
    return {
        "workers": len(reports),
        "client": [r.client for r in reports],
        "loads": [load for r in reports for load in r.loads],
        "warnings": [w for r in reports for w in r.warnings],
        "action_errors": [e for r in reports for e in r.action_errors],
    }


def _annotator() -> Any:
    """A fresh per-run ground-truth annotator (instance ids seen so far live in it)."""
    from coldbench.annotate import GroundTruthAnnotator

    return GroundTruthAnnotator()


_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _install_signal_handlers(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in _SIGNALS:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)


def _remove_signal_handlers() -> None:
    loop = asyncio.get_running_loop()
    for sig in _SIGNALS:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.remove_signal_handler(sig)
