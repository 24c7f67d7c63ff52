"""`coldbench history RUNS_DIR [--target T]`: metrics over many runs, with change points.

Exit status: 0 (a report, not a gate: a step stays in the series for ever, so it cannot fail
every later night; `compare` is the gate), 2 on error.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from coldbench.errors import ConfigError

FORMATS = ("terminal", "markdown", "json")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `history` subcommand."""
    parser = subparsers.add_parser(
        "history", help="metrics of many runs over time, with change points flagged",
    )
    parser.add_argument("runs_dir", type=Path, metavar="RUNS_DIR",
                        help="directory holding run directories (e.g. runs/)")
    parser.add_argument("--target", action="append", default=None, metavar="NAME",
                        help="only this target (repeat)")
    parser.add_argument("--metric", action="append", default=None, metavar="KEY",
                        help="only this metric, e.g. cold.p99 (repeat)")
    parser.add_argument("--format", choices=FORMATS, default="terminal", help="output format")
    parser.add_argument("-o", "--output", type=Path, default=None, metavar="FILE",
                        help="write the report to FILE instead of standard output")
    parser.add_argument("--charts", type=Path, default=None, metavar="DIR",
                        help="write one trend chart (PNG, with intervals) per metric into DIR")
    parser.add_argument("--min-effect", type=float, default=1.10, metavar="FACTOR",
                        help="steps smaller than this ratio are not flagged (default 1.10)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Execute `history`; exit 0, or 2 through a ColdbenchError."""
    from coldbench import history_format
    from coldbench.commands.compare import save_text
    from coldbench.compare import metric_keys
    from coldbench.history import build_history, load_history_runs

    if not args.min_effect > 1.0:
        raise ConfigError("--min-effect: must be a factor above 1, e.g. 1.10")
    unknown = [m for m in args.metric or [] if m not in metric_keys()]
    if unknown:
        raise ConfigError(f"--metric {unknown[0]!r}: use one of {', '.join(metric_keys())}")
    runs, warnings = load_history_runs(args.runs_dir)
    history = build_history(runs, args.target, args.metric, args.min_effect, warnings)
    charts = history_format.save_history_charts(history, args.charts) if args.charts else None
    if args.format == "markdown":
        text = history_format.format_history_markdown(history, charts)
    elif args.format == "json":
        text = history_format.format_history_json(history)
    else:
        to_tty = args.output is None and sys.stdout.isatty()
        width = shutil.get_terminal_size((120, 40)).columns if to_tty else 140
        text = history_format.format_history_terminal(history, width, to_tty)
    if args.output is None:
        sys.stdout.write(text)
    else:
        save_text(args.output, text)
        print(f"history: {args.output}")
    return 0
