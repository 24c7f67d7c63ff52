"""Regression gates end to end on the sandbox (issue 7): no false alarms on unchanged pairs,
slower init flagged on cold only, shorter keep-alive flagged on cold rate and keep-alive.

Each run probes eight copies of the trivial function (pooled as one target for comparison: same
code, same settings) after idle gaps of 0.5, 2, 6 and 14 s, three times each in a seeded order
per copy. Warm samples come from the short gaps, spread over the run: a back-to-back `warm`
burst at the end of every lane would put all eight copies' warm probes into the same 100 ms of
contention, and one such moment per run is what the warm comparison would then measure.

    python benchmarks/compare_sandbox.py [--pairs 10] [--keep DIR [--reuse]]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

import pandas as pd

from coldbench import load_run
from coldbench.compare import CompareConfig, compare_runs, pool_targets
from coldbench.runner import RunOptions, execute_run
from coldbench.store import load_manifest
from coldbench.suite import load_suite

ROOT = Path(__file__).resolve().parents[1]
COPIES = 8


def write_suite(tmp: Path, name: str, keep_alive_s: float, init_delay_ms: float, seed: int) -> Path:
    """A suite with its own sandbox: copies of hello with the given settings."""
    functions = tmp / "functions"
    if not functions.exists():
        for i in range(COPIES):
            shutil.copytree(ROOT / "targets/functions/hello", functions / f"hello{i}",
                            ignore=shutil.ignore_patterns("__pycache__"))
    lines = [f'[suite]\nname = "{name}"\nseed = {seed}\n', f'[sandbox]\nfunctions = "{functions}"\n']
    for i in range(COPIES):
        lines.append(f'[sandbox.overrides.hello{i}]\nkeep_alive = "{keep_alive_s}s"\n'
                     f"init_delay_ms = {init_delay_ms}\n")
    for i in range(COPIES):
        lines.append(f'[[targets]]\nname = "hello{i}"\nurl = "${{sandbox}}/fn/hello{i}/"\n')
    lines.append('[[scenarios]]\nname = "gaps"\ntype = "idle_gap"\n'
                 'gaps = ["0.5s", "2s", "6s", "14s"]\nrepetitions = 3\nshuffle = true\n'
                 'jitter = "10%"\n')
    path = tmp / f"{name}.toml"
    path.write_text("\n".join(lines))
    return path


def run_once(tmp: Path, name: str, keep_alive_s: float, init_delay_ms: float, seed: int,
             reuse: bool = False) -> Path:
    """Run one suite; return its run directory (with `reuse`, a complete one already there)."""
    kept = tmp / "runs" / name
    if reuse and (kept / "manifest.json").exists() and load_manifest(kept).get("status") == "complete":
        return kept
    suite = load_suite(write_suite(tmp, name, keep_alive_s, init_delay_ms, seed))
    return execute_run(suite, RunOptions(out_dir=tmp / "runs" / name, quiet=True)).run_dir


def pooled(run_dir: Path) -> pd.DataFrame:
    """The run's samples with the copies pooled into one target (`coldbench compare --pool
    'hello=hello*'`). Each lane's primer is left out: it is recorded as phase "forcing" now,
    and runs kept from before that change get the same treatment here."""
    frame = load_run(run_dir)
    frame = frame[~((frame["scenario"] == "gaps") & frame["planned_gap_s"].isna())]
    return pool_targets(frame, {"hello": "hello*"})


def verdicts(base: Path, new: Path) -> dict[str, str]:
    """key → verdict for every metric compared."""
    result = compare_runs(pooled(base), pooled(new), CompareConfig(),
                          base_manifest=load_manifest(base), new_manifest=load_manifest(new))
    return {c.key: c.verdict for c in result.comparisons}


def main() -> None:
    """Run the three experiments and print their verdicts."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=10)
    parser.add_argument("--keep", type=Path, default=None,
                        help="keep the runs in this directory (default: a temporary one)")
    parser.add_argument("--reuse", action="store_true",
                        help="with --keep: judge complete runs found there again (same verdict "
                             "code, no new runs)")
    args = parser.parse_args()
    reuse = args.reuse and args.keep is not None
    with tempfile.TemporaryDirectory(prefix="coldbench-compare-") as tmp_name:
        tmp = args.keep or Path(tmp_name)
        bases = [run_once(tmp, "base0", 10.0, 0.0, seed=0, reuse=reuse)]
        slow = run_once(tmp, "slow-init", 10.0, 150.0, seed=7, reuse=reuse)
        print("init +150 ms:", json.dumps(verdicts(bases[0], slow), sort_keys=True), flush=True)
        short = run_once(tmp, "short-keep-alive", 4.0, 0.0, seed=8, reuse=reuse)
        print("keep-alive 10 s -> 4 s:", json.dumps(verdicts(bases[0], short), sort_keys=True),
              flush=True)
        alarms = 0
        for pair in range(args.pairs):
            base = (bases[0] if pair == 0
                    else run_once(tmp, f"base{pair}", 10.0, 0.0, seed=pair, reuse=reuse))
            new = run_once(tmp, f"new{pair}", 10.0, 0.0, seed=100 + pair, reuse=reuse)
            found = {k: v for k, v in verdicts(base, new).items() if v in ("regressed", "improved")}
            alarms += bool(found)
            print(f"unchanged pair {pair}: {found or 'no change flagged'}", flush=True)
        print(f"false alarms: {alarms} of {args.pairs} unchanged pairs")


if __name__ == "__main__":
    main()
