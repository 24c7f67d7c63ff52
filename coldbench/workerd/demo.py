"""The sandbox + container + workerd demo, runnable before suite files can start workerd.

    python -m coldbench.workerd.demo [targets/local-workerd.toml] [-o RUN_DIR]

Starts workerd with the suite's worker script (functions/hello-worker/worker.js next to the
suite), passes its two URLs to the suite as COLDBENCH_WORKERD_URL and
COLDBENCH_WORKERD_ONDEMAND_URL, runs the suite (which starts the sandbox itself), and stops
workerd. Without Node.js/workerd it exits 0 with one line saying why (the demo is skipped).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from coldbench.errors import ColdbenchError, TargetError
from coldbench.runner import RunOptions, RunOutcome, execute_run
from coldbench.suite import load_suite
from coldbench.workerd.install import ensure_workerd
from coldbench.workerd.process import WorkerdProcess

DEFAULT_SUITE = Path("targets/local-workerd.toml")
WORKER_SCRIPT = Path("functions/hello-worker/worker.js")
URL_VARIABLE = "COLDBENCH_WORKERD_URL"
ONDEMAND_URL_VARIABLE = "COLDBENCH_WORKERD_ONDEMAND_URL"
KEEP_ALIVE_S = 4.0  # the on-demand isolate's keep-alive, as the sandbox functions' in the suite


def run_workerd_demo(suite_path: Path, options: RunOptions, *,
                     keep_alive_s: float = KEEP_ALIVE_S) -> RunOutcome:
    """Run `suite_path` with a workerd started for it; TargetError if workerd is unavailable."""
    reasons: list[str] = []
    binary = ensure_workerd(explain=reasons.append)
    if binary is None:
        raise TargetError(reasons[0] if reasons else "workerd unavailable")
    script = suite_path.resolve().parent / WORKER_SCRIPT
    with WorkerdProcess(script, binary=binary, keep_alive_s=keep_alive_s) as workerd:
        env = {**os.environ, URL_VARIABLE: workerd.url, ONDEMAND_URL_VARIABLE: workerd.ondemand_url}
        return execute_run(load_suite(suite_path, env=env), options)


def main(argv: list[str] | None = None) -> int:
    """Command line: run the demo; print the run directory and how it ended."""
    parser = argparse.ArgumentParser(prog="python -m coldbench.workerd.demo")
    parser.add_argument("suite", nargs="?", type=Path, default=DEFAULT_SUITE)
    parser.add_argument("-o", "--out", type=Path, default=None, help="run directory")
    args = parser.parse_args(argv)
    try:
        outcome = run_workerd_demo(args.suite, RunOptions(out_dir=args.out))
    except TargetError as exc:
        if "workerd" in str(exc):
            print(f"skipped: {exc}", file=sys.stderr)
            return 0
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ColdbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{outcome.run_dir} ({outcome.status})")
    return 0 if outcome.status == "complete" else 1


if __name__ == "__main__":
    raise SystemExit(main())
