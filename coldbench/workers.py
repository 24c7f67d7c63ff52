"""Multi-core runs: one uvloop process per worker, each running its shard of the plan.

The parent owns the run directory's manifest and the sandbox; each worker appends to its own
journal (journal.w<k>.jsonl) and histogram file, and prints one JSON report line at the end.
Signals reaching the parent are forwarded; workers die with the parent (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from coldbench.runner import RunOptions, ShardReport
    from coldbench.suite import Suite


def default_workers(suite: Suite) -> int:
    """All cores when the suite has load scenarios (throughput), else one process."""
    if any(s.type in ("closed", "rate") for s in suite.scenarios):
        return max(1, os.cpu_count() or 1)
    return 1


async def run_worker_processes(suite: Suite, run_dir: Path, workers: int, sandbox_url: str | None,
                               stop: asyncio.Event, options: RunOptions,
                               urls: dict[str, str] | None = None) -> list[ShardReport]:
    """Start `workers` worker processes, wait for them (forwarding a stop), collect reports.
    `urls` (placeholder → URL, e.g. the running workerd's) are resolved in each worker."""
    from coldbench.runner import ShardReport

    procs = []
    for worker in range(workers):
        args = [sys.executable, "-m", "coldbench.workers", "--suite", str(suite.path),
                "--run-dir", str(run_dir), "--worker", str(worker), "--workers", str(workers),
                "--seed", str(options.seed if options.seed is not None else suite.seed)]
        if sandbox_url:
            args += ["--sandbox-url", sandbox_url]
        for placeholder, url in (urls or {}).items():
            args += ["--url", f"{placeholder}={url}"]
        procs.append(await asyncio.create_subprocess_exec(*args, stdout=asyncio.subprocess.PIPE))
    waiter: asyncio.Future[Any] = asyncio.gather(*(p.communicate() for p in procs))
    stopper: asyncio.Future[Any] = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
    if stopper in done:
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
    outputs = await waiter
    stopper.cancel()
    reports = []
    for proc, (stdout, _stderr) in zip(procs, outputs, strict=True):
        lines = stdout.decode(errors="replace").strip().splitlines()
        if proc.returncode == 0 and lines:
            reports.append(ShardReport(**json.loads(lines[-1])))
        else:
            reports.append(ShardReport(status="failed", action_errors=[f"worker exited {proc.returncode}"]))
    return reports


def main(argv: list[str] | None = None) -> int:
    """Worker process entry: run one shard and print its report as a JSON line."""
    parser = argparse.ArgumentParser(prog="coldbench.workers")
    parser.add_argument("--suite", required=True)
    parser.add_argument("--run-dir", required=True, type=Path)
    parser.add_argument("--worker", required=True, type=int)
    parser.add_argument("--workers", required=True, type=int)
    parser.add_argument("--seed", required=True, type=int)
    parser.add_argument("--sandbox-url", default=None)
    parser.add_argument("--url", action="append", default=[], metavar="PLACEHOLDER=URL")
    args = parser.parse_args(argv)
    from coldbench.testing.childproc import die_with_parent

    die_with_parent()
    import uvloop

    report = uvloop.run(_run(args))
    print(json.dumps(report), flush=True)
    return 0


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    import dataclasses

    from coldbench.plan import build_plan
    from coldbench.runner import (
        ShardSpec,
        _install_signal_handlers,
        resolve_sandbox_urls,
        run_shard,
    )
    from coldbench.store import JournalStats, RunWriter, iter_journal_records, worker_journal_name
    from coldbench.suite import load_suite
    from coldbench.workerd.suite_hook import resolve_placeholders

    suite = load_suite(args.suite)
    if args.sandbox_url:
        suite = resolve_sandbox_urls(suite, args.sandbox_url)
    suite = resolve_placeholders(suite, dict(item.split("=", 1) for item in args.url))
    plan = build_plan(suite, args.seed)
    # Only this worker's own journal says what it already did (resume); the others' journals
    # grow while it starts and would make it skip its share.
    journal = args.run_dir / worker_journal_name(args.worker)
    stats = JournalStats()
    done = frozenset(int(r["probe_id"]) for r in iter_journal_records(journal, stats)) if journal.exists() else frozenset()
    writer = RunWriter(args.run_dir, None, journal_name=worker_journal_name(args.worker))
    stop = asyncio.Event()
    _install_signal_handlers(stop)
    spec = ShardSpec(args.worker, args.workers, done, sandbox_url=args.sandbox_url)
    try:
        report = await run_shard(suite, plan, writer, spec, stop)
    finally:
        writer.close()
    return dataclasses.asdict(report)


if __name__ == "__main__":
    sys.exit(main())
