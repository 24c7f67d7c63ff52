"""`coldbench targets import --from {serverless,cloudformation,terraform} FILE [-o SUITE]`.

Turns a deployment tool's output into a suite file (stdout without `-o`), so endpoint URLs are
never copied by hand. FILE `-` reads standard input. The written suite is validated before it is
written; URLs carrying secrets become `${env:...}` references (see coldbench.importers).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from coldbench.errors import ConfigError
from coldbench.importers import (
    SOURCES,
    format_suite_toml,
    parse_serverless_info,
    parse_stack_outputs,
    parse_terraform_outputs,
)
from coldbench.suite import parse_suite

PARSERS: dict[str, Callable[[str], list[dict[str, Any]]]] = {
    "serverless": parse_serverless_info,
    "cloudformation": parse_stack_outputs,
    "terraform": parse_terraform_outputs,
}
_HOW_TO_GET = {
    "serverless": "serverless info --verbose > FILE",
    "cloudformation": "aws cloudformation describe-stacks --stack-name NAME > FILE",
    "terraform": "terraform output -json > FILE",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `targets` subcommand and its `import` action."""
    parser = subparsers.add_parser("targets", help="manage suite targets (import from deploy tools)")
    actions = parser.add_subparsers(dest="targets_action", metavar="ACTION")
    parser.set_defaults(func=lambda _args: _print_help(parser))
    importer = actions.add_parser(
        "import", help="make a suite from serverless, CloudFormation/SAM or Terraform outputs",
        description="; ".join(f"{s}: {cmd}" for s, cmd in _HOW_TO_GET.items()),
    )
    importer.add_argument("--from", dest="source", required=True, choices=SOURCES,
                          help="which tool's output FILE holds")
    importer.add_argument("file", metavar="FILE", help="the tool's output ('-' for standard input)")
    importer.add_argument("-o", "--out", type=Path, default=None, help="suite file to write (default: stdout)")
    importer.add_argument("--name", default=None, help="suite name (default: from -o, else 'imported')")
    importer.add_argument("--force", action="store_true", help="overwrite an existing -o file")
    importer.set_defaults(func=run)


def _print_help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def run(args: argparse.Namespace) -> int:
    """Import targets from FILE and print or write the suite; exit 0, or 2 on bad input."""
    text = _read_input(args.file)
    try:
        targets = PARSERS[args.source](text)
    except ConfigError as exc:
        raise ConfigError(f"{args.file}: {exc}") from None
    if not targets:
        raise ConfigError(f"{args.file}: no endpoint URLs found in this {args.source} output "
                          f"(made with `{_HOW_TO_GET[args.source]}`?)")
    name = args.name or (args.out.stem if args.out else "imported")
    suite_text = format_suite_toml(targets, name, source=f"{args.source} output {args.file}")
    parse_suite(suite_text, source=str(args.out or "<imported suite>"), env=_AnyEnv())
    if args.out is None:
        sys.stdout.write(suite_text)
        return 0
    if args.out.exists() and not args.force:
        raise ConfigError(f"{args.out}: already exists; pass --force to overwrite it")
    try:
        args.out.write_text(suite_text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{args.out}: cannot write suite ({exc.strerror or exc})") from None
    print(f"{args.out}: {len(targets)} targets imported from {args.source}; check with "
          f"`coldbench validate {args.out}`")
    return 0


def _read_input(file: str) -> str:
    if file == "-":
        return sys.stdin.read()
    try:
        return Path(file).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{file}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{file}: cannot read ({exc})") from None


class _AnyEnv(Mapping[str, str]):
    """An environment where every variable is set, to validate a suite's shape before use."""

    def __getitem__(self, key: str) -> str:
        return "https://env.placeholder.invalid/"

    def __contains__(self, key: object) -> bool:
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0

    def __bool__(self) -> bool:
        return True  # parse_suite falls back to {} for an empty mapping
