"""`coldbench report RUN [RUN...] [-o OUT] [--published FILE]`: write the HTML/Markdown report."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `report` subcommand."""
    parser = subparsers.add_parser(
        "report", help="write report/index.html, report.md and figures for one or more runs",
    )
    parser.add_argument("runs", nargs="+", type=Path, metavar="RUN", help="run directories")
    parser.add_argument("-o", "--out", type=Path, default=None,
                        help="output directory (default: RUN/report of the first run)")
    parser.add_argument("--published", type=Path, action="append", default=[], metavar="FILE",
                        help="published measurements to chart alongside (JSON or CSV; repeat)")
    parser.add_argument("--title", default=None, help="report title")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Execute the `report` subcommand; print the path of index.html."""
    from coldbench.report import write_report

    out = args.out or args.runs[0] / "report"
    index = write_report(args.runs, out, published=args.published, title=args.title)
    print(f"report: {index}")
    print(f"markdown: {index.parent / 'report.md'}")
    return 0
