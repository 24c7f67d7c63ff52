"""`coldbench compare BASE_RUN [BASE_RUN ...] NEW_RUN`: the regression gate.

With three or more base runs (e.g. the last nights), run-to-run noise is measured from them.

Exit status: 0 nothing regressed, 1 something regressed, 2 usage error or unreadable run.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from coldbench.errors import ConfigError, StorageError

if TYPE_CHECKING:  # pragma: no cover
    from coldbench.compare import CompareConfig

FORMATS = ("terminal", "markdown", "json", "junit")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `compare` subcommand."""
    parser = subparsers.add_parser(
        "compare", help="compare two runs; exit 1 when the new run regressed",
        description="Per target, cold/warm p50/p90/p99, cold-start rate, keep-alive estimate "
                    "and error rate: a change counts only when it is significant and beyond "
                    "the minimum effect.",
    )
    parser.add_argument("base", type=Path, nargs="+", metavar="BASE_RUN",
                        help="baseline run directory; give three or more (e.g. the last "
                             "nights) to measure run-to-run noise instead of assuming it")
    parser.add_argument("new", type=Path, metavar="NEW_RUN", help="run directory to judge")
    parser.add_argument("--format", choices=FORMATS, default="terminal", help="output format")
    parser.add_argument("-o", "--output", type=Path, default=None, metavar="FILE",
                        help="write the report to FILE (the terminal still gets the headline)")
    parser.add_argument("--min-effect", action="append", default=[], metavar="KEY=FACTOR",
                        help="minimum ratio that counts, per metric (cold.p99=1.2, p99=20%%, "
                             "keep_alive=1.5); repeat; default x1.10")
    parser.add_argument("--default-min-effect", type=float, default=None, metavar="FACTOR",
                        help="minimum ratio for metrics without --min-effect (default 1.10)")
    parser.add_argument("--alpha", type=float, default=None,
                        help="significance level per test (default 0.0005)")
    parser.add_argument("--min-delta-ms", type=float, default=None, metavar="MS",
                        help="latency changes smaller than this never count (default 1)")
    parser.add_argument("--no-drift", action="store_true",
                        help="do not widen latency intervals by the drift each run shows over "
                             "its own course")
    parser.add_argument("--run-noise", default=None, metavar="PERCENT",
                        help="how far a whole run may be off with nothing changed, at least "
                             "(default 10%%; 0 with --no-drift treats samples as independent: "
                             "more power, false alarms on a noisy host)")
    parser.add_argument("--pool", action="append", default=[], metavar="NAME=GLOB",
                        help="judge the targets matching GLOB as one target NAME, e.g. function "
                             "copies: --pool 'hello=hello#*' (repeat)")
    parser.add_argument("--target", action="append", default=None, metavar="NAME",
                        help="compare only this target (repeat)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    parser.set_defaults(func=run)


def build_config(args: argparse.Namespace) -> CompareConfig:
    """Turn the flags into a CompareConfig; ConfigError names the flag that is wrong."""
    from coldbench.compare import CompareConfig, parse_min_effects

    fields: dict[str, object] = {"min_effect": parse_min_effects(args.min_effect),
                                 "seed": args.seed}
    if args.default_min_effect is not None:
        if not args.default_min_effect > 1.0:
            raise ConfigError("--default-min-effect: must be a factor above 1, e.g. 1.10")
        fields["default_min_effect"] = args.default_min_effect
    if args.alpha is not None:
        if not 0.0 < args.alpha < 1.0:
            raise ConfigError("--alpha: must be between 0 and 1, e.g. 0.001")
        fields["alpha"] = args.alpha
    if args.min_delta_ms is not None:
        if args.min_delta_ms < 0:
            raise ConfigError("--min-delta-ms: must be >= 0")
        fields["min_delta_ms"] = args.min_delta_ms
    if args.no_drift:
        fields["account_for_drift"] = False
    if args.run_noise is not None:
        fields["run_noise"] = parse_run_noise(args.run_noise)
    return CompareConfig(**fields)  # type: ignore[arg-type]


def parse_run_noise(text: str) -> float:
    """"10%", "0.1" or "0" → σ on the log scale (log 1.10 for 10%); ConfigError otherwise."""
    import math

    try:
        fraction = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        fraction = float("nan")
    if not 0.0 <= fraction < 10.0:
        raise ConfigError(f"--run-noise {text!r}: expected a percentage such as 10% or 0")
    return math.log1p(fraction)


def check_pools_match(pools: dict[str, str], targets: set[str]) -> None:
    """ConfigError naming a --pool whose glob matches no target of either run."""
    import fnmatch

    for name, pattern in pools.items():
        if not any(fnmatch.fnmatchcase(str(t), pattern) for t in targets):
            known = ", ".join(sorted(map(str, targets))[:8])
            raise ConfigError(f"--pool {name}={pattern}: matches no target of either run "
                              f"(targets: {known})")


def run(args: argparse.Namespace) -> int:
    """Execute `compare`: load both runs, compare, write the report; exit 0/1 (2 via errors)."""
    from coldbench import compare_format
    from coldbench.compare import combine_base_runs, compare_runs, parse_pools, pool_targets
    from coldbench.store import load_manifest, load_run

    config = build_config(args)
    pools = parse_pools(args.pool)
    bases: list[Path] = args.base
    base_manifest, new_manifest = load_manifest(bases[-1]), load_manifest(args.new)
    base_frame = (load_run(bases[0]) if len(bases) == 1
                  else combine_base_runs([load_run(path) for path in bases]))
    new_frame = load_run(args.new)
    check_pools_match(pools, set(base_frame["target"]) | set(new_frame["target"]))
    base_frame, new_frame = pool_targets(base_frame, pools), pool_targets(new_frame, pools)
    base_name = str(bases[0]) if len(bases) == 1 else f"{len(bases)} runs ({bases[0]} .. {bases[-1]})"
    result = compare_runs(base_frame, new_frame, config,
                          base_manifest=base_manifest, new_manifest=new_manifest,
                          targets=args.target, base_name=base_name, new_name=str(args.new))
    if not result.comparisons:
        raise ConfigError(f"compare: no target measured in both {base_name} and {args.new}"
                          + (" (check --target)" if args.target else ""))
    to_tty = args.output is None and sys.stdout.isatty()
    width = shutil.get_terminal_size((120, 40)).columns if to_tty else 120
    text = {
        "terminal": lambda r: compare_format.format_terminal(r, width=width, color=to_tty),
        "markdown": compare_format.format_markdown,
        "json": compare_format.format_json,
        "junit": compare_format.format_junit,
    }[args.format](result)
    if args.output is None:
        sys.stdout.write(text)
    else:
        save_text(args.output, text)
        print(f"{compare_format.format_headline(result)}; report: {args.output}")
    if args.format != "terminal":
        for warning in result.warnings:
            print(f"warning: {warning}", file=sys.stderr)
    return result.exit_status


def save_text(path: Path, text: str) -> None:
    """Write a report file, turning OS errors into one-line StorageErrors."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise StorageError(f"cannot write {path}: {exc.strerror or exc}; choose another -o") from exc
