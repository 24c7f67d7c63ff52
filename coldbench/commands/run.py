"""`coldbench run SUITE [-o RUN_DIR]`: run a suite, write the run directory, print a summary.

Also `--dry-run` (print the plan's size, duration and cost estimate, send nothing) and
`--resume RUN_DIR` (continue an interrupted or killed run with the same seeded plan).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console

from coldbench.budget import build_budget, check_budget, estimate_load_requests
from coldbench.errors import ConfigError
from coldbench.label.validate import format_agreement, validate_labels
from coldbench.plan import build_plan
from coldbench.runner import RunOptions, execute_run
from coldbench.store import LARGE_RUN_SAMPLES, load_manifest
from coldbench.suite import Suite, load_suite
from coldbench.summary import print_summary
from coldbench.thresholds import (
    check_run_thresholds,
    format_threshold_results,
    thresholds_exit_status,
    validate_suite_thresholds,
)
from coldbench.units import format_duration_s

# Default price per request for the dry-run estimate: AWS Lambda, $0.20 per million requests
# (us-east-1 list price, 2024-2026). Duration (GB-s) cost depends on the function: see `warm`.
PRICE_PER_REQUEST_USD = 0.20 / 1_000_000


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `run` subcommand."""
    parser = subparsers.add_parser("run", help="run a suite and write a run directory")
    parser.add_argument("suite", type=Path, nargs="?", help="suite file (TOML)")
    parser.add_argument("-o", "--out", type=Path, default=None, help="run directory to create")
    parser.add_argument("--runs-root", type=Path, default=Path("runs"),
                        help="where runs land by default (runs/)")
    parser.add_argument("--seed", type=int, default=None, help="override the suite's seed")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress display")
    parser.add_argument("--no-report", action="store_true", help="do not write the HTML report")
    parser.add_argument("--dry-run", action="store_true",
                        help="print requests, duration and cost estimate; send nothing")
    parser.add_argument("--workers", type=int, default=None, metavar="N",
                        help="client processes (default: all cores for load scenarios, else 1)")
    parser.add_argument("--cluster", metavar="ADDRESS", default=None,
                        help="run probe agents on Ray: auto, HOST:PORT, ray://HOST:PORT, or local "
                             "(docs/cluster.md; needs pip install 'coldbench[cluster]')")
    parser.add_argument("--resume", type=Path, metavar="RUN_DIR", default=None,
                        help="continue an interrupted or killed run")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Execute the `run` subcommand; exit 0 (complete), 1 (thresholds failed), 2, or 130."""
    if args.workers is not None and args.workers < 1:
        raise ConfigError("--workers: must be at least 1")
    if args.cluster:
        from coldbench.cluster import require_ray

        require_ray()  # no Ray: one `error:` line, before a run directory is made
    suite = _load(args)
    validate_suite_thresholds(suite.snapshot)
    if args.dry_run:
        return _dry_run(suite, args.seed)
    options = RunOptions(out_dir=args.resume or args.out, runs_root=args.runs_root,
                         quiet=args.quiet, seed=args.seed, resume=args.resume is not None,
                         workers=args.workers, cluster=args.cluster)
    outcome = execute_run(suite, options)
    console = Console(file=sys.stdout, width=max(100, Console().width), soft_wrap=False)
    if len(outcome.frame):
        print_summary(outcome.frame, console)
    validation = validate_labels(outcome.frame) if len(outcome.frame) else None
    if validation is not None:
        console.print(format_agreement(validation), markup=False)
    for message in outcome.action_errors + outcome.warnings:
        console.print(f"warning: {message}", markup=False)
    if not args.no_report and len(outcome.frame) > LARGE_RUN_SAMPLES:
        console.print(f"report: not written for a large run ({len(outcome.frame)} samples; it reads "
                      f"every sample): coldbench report {outcome.run_dir}", markup=False)
    elif not args.no_report and len(outcome.frame):
        _write_report(outcome.run_dir, console)
    results = check_run_thresholds(outcome.frame, suite.snapshot)
    if results:
        console.print(format_threshold_results(results), markup=False)
    console.print(f"run directory: {outcome.run_dir} ({outcome.status}, {len(outcome.frame)} samples)",
                  markup=False)
    if outcome.status == "interrupted":
        return 130
    return thresholds_exit_status(results) or 0


def _load(args: argparse.Namespace) -> Suite:
    if args.suite is None and args.resume is None:
        raise ConfigError("run: give a SUITE file (or --resume RUN_DIR)")
    if args.suite is None:
        suite_path = load_manifest(args.resume).get("suite_path")
        if not suite_path:
            raise ConfigError(f"{args.resume}: manifest names no suite file; give SUITE")
        return load_suite(suite_path)
    return load_suite(args.suite)


def _dry_run(suite: Suite, seed: int | None) -> int:
    plan = build_plan(suite, seed)
    check_budget(suite, plan, build_budget(suite.budget, suite.path))
    requests = plan.probe_count + estimate_load_requests(suite)
    duration = max([plan.estimated_duration_s] + [s.duration_s for s in suite.scenarios])
    print(f"suite: {suite.name} ({suite.path})")
    print(f"targets: {len(suite.targets)}  scenarios: {len(suite.scenarios)}")
    print(f"requests: {requests}")
    print(f"duration: at least {format_duration_s(duration)} (longest lane's idle time)")
    print(f"estimated request cost: ${requests * PRICE_PER_REQUEST_USD:.6f} "
          "(AWS Lambda list price per request; compute time not included)")
    print("nothing was sent (dry run)")
    return 0


def _write_report(run_dir: Path, console: Console) -> None:
    from coldbench.report import write_report

    index = write_report([run_dir], run_dir / "report")
    console.print(f"report: {index}", markup=False)
