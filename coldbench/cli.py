"""Command-line entry point: `coldbench SUBCOMMAND ...`; `main(argv) -> int`.

Each subcommand lives in `coldbench/commands/<name>.py` and exposes
`register(subparsers) -> None`, which adds its parser and sets `func=run(args) -> int`.
User errors (`ColdbenchError`) become one `error: ...` line and exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Sequence

from coldbench import __version__
from coldbench.errors import ColdbenchError

# Order is the order of `coldbench --help`.
COMMAND_MODULES = (
    "run",
    "validate",
    "report",
    "compare",
    "history",
    "labels",
    "warm",
    "sandbox",
    "targets",
)

EXIT_OK = 0
EXIT_FAILED_CHECK = 1  # thresholds failed / regression found
EXIT_USER_ERROR = 2


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with every available subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="coldbench",
        description="Measure serverless cold starts and latency honestly and reproducibly.",
    )
    parser.add_argument("--version", action="version", version=f"coldbench {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        module_name = f"coldbench.commands.{name}"
        if importlib.util.find_spec(module_name) is None:
            continue
        importlib.import_module(module_name).register(subparsers)
    return parser




def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with `argv` (default: sys.argv[1:]) and return the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse already printed a one-line usage error
        return int(exc.code or 0) if exc.code in (0, None) else EXIT_USER_ERROR
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USER_ERROR
    try:
        return int(args.func(args))
    except ColdbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
