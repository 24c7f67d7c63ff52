"""Accuracy on the sandbox with ground truth hidden from coldbench (issues 4 and 5).

Four copies of the trivial function (keep-alive fixed at 5 s, X-Coldbench headers stripped, so
the client sees a black box) are probed after idle gaps of 1, 3, 8 and 12 s, 20 repetitions of
each gap in all, plus back-to-back warm probes. The sandbox's own invocation log is the truth.
Prints: the heuristic's agreement with truth (goal >= 99%), and the keep-alive estimate with its
interval (goal: contains 5 s).

    python benchmarks/accuracy_sandbox.py [--copies 4] [--keep-alive 5]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import urllib.request
from pathlib import Path

import numpy as np

from coldbench import load_run
from coldbench.keepalive import compute_keep_alive_estimate
from coldbench.runner import RunOptions, execute_run
from coldbench.sandbox.process import SandboxProcess
from coldbench.suite import parse_suite

ROOT = Path(__file__).resolve().parents[1]
GAPS = ("1s", "3s", "8s", "12s")


def build_functions(copies: int, into: Path) -> list[str]:
    """Copies of targets/functions/hello named hello0..helloN-1."""
    names = []
    for i in range(copies):
        name = f"hello{i}"
        shutil.copytree(ROOT / "targets" / "functions" / "hello", into / name,
                        ignore=shutil.ignore_patterns("__pycache__"))
        names.append(name)
    return names


def build_suite_text(url: str, names: list[str], repetitions: int) -> str:
    """One black-box target per copy; gaps shuffled per target."""
    lines = ['[suite]\nname = "accuracy"\nseed = 4\n']
    for name in names:
        lines.append(f'[[targets]]\nname = "{name}"\nurl = "{url}/fn/{name}/"\ntimeout = "10s"\n')
    gaps = ", ".join(f'"{g}"' for g in GAPS)
    lines.append(f'[[scenarios]]\nname = "gaps"\ntype = "idle_gap"\ngaps = [{gaps}]\n'
                 f"repetitions = {repetitions}\nshuffle = true\n")
    lines.append('[[scenarios]]\nname = "b2b"\ntype = "warm"\ncount = 10\n')
    return "\n".join(lines)


def fetch_truth(url: str) -> dict[str, list[bool]]:
    """Per function, cold flags of its function-URL invocations in arrival order."""
    with urllib.request.urlopen(f"{url}/_sandbox/invocations?surface=url") as response:
        records = json.load(response)
    truth: dict[str, list[tuple[int, bool]]] = {}
    for record in records:
        truth.setdefault(record["function"], []).append((record["seq"], bool(record["cold"])))
    return {fn: [cold for _seq, cold in sorted(rows)] for fn, rows in truth.items()}


def main() -> None:
    """Run the experiment and print the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--copies", type=int, default=4)
    parser.add_argument("--keep-alive", type=float, default=5.0)
    args = parser.parse_args()
    repetitions = 20 // args.copies
    with tempfile.TemporaryDirectory(prefix="coldbench-accuracy-") as tmp:
        functions = Path(tmp) / "functions"
        names = build_functions(args.copies, functions)
        overrides = {n: {"keep_alive": f"{args.keep_alive}s", "ground_truth_headers": False} for n in names}
        with SandboxProcess(functions, overrides) as sandbox:
            suite = parse_suite(build_suite_text(sandbox.url, names, repetitions), "accuracy.toml")
            outcome = execute_run(suite, RunOptions(out_dir=Path(tmp) / "run", quiet=True))
            truth = fetch_truth(sandbox.url)
        frame = load_run(outcome.run_dir).sort_values("probe_id")
    frame["truth"] = None
    for name in names:
        rows = frame.index[frame["target"] == name]
        cold = truth[name]
        assert len(cold) == len(rows), (name, len(cold), len(rows))
        frame.loc[rows, "truth"] = ["cold" if c else "warm" for c in cold]
    agree = (frame["label"] == frame["truth"]).mean()
    sources = frame["label_source"].value_counts().to_dict()
    print(f"samples: {len(frame)}  label sources: {sources}")
    print(f"heuristic agreement with hidden truth: {agree:.2%} "
          f"({int((frame['label'] == frame['truth']).sum())}/{len(frame)})")
    gapped = frame[frame["gap_s"].notna() & (frame["scenario"] == "gaps")]
    estimate = compute_keep_alive_estimate(gapped["gap_s"].to_numpy(),
                                           (gapped["truth"] == "cold").to_numpy())
    print(f"keep-alive estimate (truth labels): {estimate.keep_alive_s:.2f} s "
          f"[{estimate.low_s:.2f}, {estimate.high_s:.2f}]  (configured {args.keep_alive:g} s)")
    labelled = gapped[gapped["label"].isin(["cold", "warm"])]
    est_h = compute_keep_alive_estimate(labelled["gap_s"].to_numpy(), (labelled["label"] == "cold").to_numpy())
    print(f"keep-alive estimate (heuristic labels): {est_h.keep_alive_s:.2f} s "
          f"[{est_h.low_s:.2f}, {est_h.high_s:.2f}]")
    by_gap = gapped.groupby("planned_gap_s")["truth"].apply(lambda s: float(np.mean(s == "cold")))
    print("P(cold) by planned gap:", by_gap.round(2).to_dict())


if __name__ == "__main__":
    main()
