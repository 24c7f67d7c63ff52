"""`coldbench warm SUITE [--simulate] [-o DIR] [--seed N]`: judge warming strategies.

Runs the suite's `[warmer]` workload once per strategy, all at the same time on separate copies
of the function, and writes a directory with the samples, warm.json and report/ (Pareto front
of cold-start rate vs cost, cold rate over time, serverless vs container cost crossover).
`--simulate` predicts the same figures from a P(cold | idle gap) curve without invoking
anything.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from coldbench.suite import load_suite


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `warm` subcommand."""
    parser = subparsers.add_parser("warm", help="measure (or simulate) what warming strategies "
                                   "buy and cost")
    parser.add_argument("suite", type=Path, help="suite file with a [warmer] table (TOML)")
    parser.add_argument("--simulate", action="store_true",
                        help="predict from [warmer.simulate] curve; invoke nothing")
    parser.add_argument("-o", "--out", type=Path, default=None, help="output directory to create")
    parser.add_argument("--runs-root", type=Path, default=Path("runs"),
                        help="where output lands by default (runs/)")
    parser.add_argument("--seed", type=int, default=None, help="override the suite's seed")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Execute the `warm` subcommand; exit 0 (complete), 2 (user error) or 130 (interrupted)."""
    from coldbench.warmer.experiment import WarmOptions, run_warm_experiment, run_warm_simulation
    from coldbench.warmer.report import build_findings

    suite = load_suite(args.suite)
    options = WarmOptions(out_dir=args.out, runs_root=args.runs_root, seed=args.seed)
    report = run_warm_simulation(suite, options) if args.simulate else run_warm_experiment(suite, options)
    for line in build_findings(report):
        print(line)
    for note in report.notes:
        print(f"warning: {note}", file=sys.stderr)
    print(f"report: {report.index_path}")
    print(f"directory: {report.out_dir} ({report.status})")
    return 130 if report.status == "interrupted" else 0
