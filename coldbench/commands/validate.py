"""`coldbench validate SUITE`: check a suite file without sending anything."""

from __future__ import annotations

import argparse
from pathlib import Path

from coldbench.budget import build_budget, check_budget
from coldbench.plan import build_plan
from coldbench.suite import load_suite
from coldbench.thresholds import validate_suite_thresholds
from coldbench.units import format_duration_s


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `validate` subcommand."""
    parser = subparsers.add_parser("validate", help="check a suite file without sending anything")
    parser.add_argument("suite", type=Path, help="suite file (TOML)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Validate the suite and print what it would do; exit 0 when valid, 2 otherwise."""
    suite = load_suite(args.suite)
    validate_suite_thresholds(suite.snapshot)
    if "warmer" in suite.tables or "pricing" in suite.tables:
        from coldbench.warmer.config import build_warmer_config

        build_warmer_config(suite)
    plan = build_plan(suite)
    check_budget(suite, plan, build_budget(suite.budget, suite.path))
    print(
        f"{args.suite}: valid — {len(suite.targets)} targets, {len(suite.scenarios)} scenarios, "
        f"{plan.probe_count} probes, at least {format_duration_s(plan.estimated_duration_s)} of idle time"
    )
    return 0
