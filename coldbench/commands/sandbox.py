"""`coldbench sandbox`: run the local Lambda-compatible sandbox until SIGINT/SIGTERM.

Prints one JSON line on stdout when ready: `{"url": "http://127.0.0.1:PORT", "pid": ..., ...}`.
Settings come from `--config` (TOML or JSON: a `[sandbox]` table, or a whole suite file whose
`[sandbox]` table is used) and the flags, which win. See coldbench.sandbox.config for the keys.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

DEFAULT_FUNCTIONS = Path("targets/functions")


def register(subparsers: Any) -> None:
    """Add the `sandbox` subcommand."""
    parser = subparsers.add_parser(
        "sandbox",
        help="run the local Lambda-compatible sandbox",
        description="Run real Lambda runtimes (awslambdaric) locally with Lambda's cold-start behaviour.",
    )
    parser.add_argument("--functions", type=Path, help=f"directory of functions (default: {DEFAULT_FUNCTIONS})")
    parser.add_argument("--port", type=int, help="port on 127.0.0.1 (default 0: any free port)")
    parser.add_argument("--config", type=Path, help="TOML/JSON sandbox settings, or a suite file with [sandbox]")
    parser.add_argument("--seed", type=int, help="seed of keep-alive draws")
    parser.add_argument("--echo", action="store_true", help="copy runtime output to stderr")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Build the settings from --config and flags, then serve until interrupted."""
    from coldbench.sandbox.bootstrap import set_parent_death_signal
    from coldbench.sandbox.config import build_sandbox_settings, load_sandbox_table
    from coldbench.sandbox.server import run_sandbox

    parent = os.environ.pop("COLDBENCH_SANDBOX_PARENT_PID", "")
    if parent.isdigit():
        set_parent_death_signal(int(parent))  # started by SandboxProcess: die with our parent
    table: dict[str, Any] = {}
    base_dir = Path.cwd()
    if args.config is not None:
        table = load_sandbox_table(args.config)
        base_dir = args.config.resolve().parent
    if args.functions is not None:
        table["functions"] = str(args.functions.resolve())
    elif "functions" not in table:
        table["functions"] = str(DEFAULT_FUNCTIONS.resolve())
    if args.port is not None:
        table["port"] = args.port
    if args.seed is not None:
        table["seed"] = args.seed
    if args.echo:
        table["echo_runtime_output"] = True
    where = f"{args.config} [sandbox]" if args.config is not None else "sandbox settings"
    return run_sandbox(build_sandbox_settings(table, base_dir, where=where))
