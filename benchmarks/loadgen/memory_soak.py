"""Memory soak: a long open-loop run must keep the client's peak memory under a limit.

Runs `coldbench run` (the CLI, as a user would: Parquet and the HTML report at the end) with
one `rate` scenario (default 2,000 req/s for 10 minutes, one process) against URL, and samples
the RSS of the CLI process plus its worker processes every second with psutil. The peak is
reported for the measurement and for the end of the run (Parquet, summary, report) apart, with
the kernel's exact high-water mark of the largest process (getrusage RUSAGE_CHILDREN, exact for --workers 1) and the manifest's
`peak_rss_mb` (the shard, at the end of measurement) as cross-checks. The verdict uses the larger
of the sampled peak and the kernel's mark.

    python benchmarks/loadgen/memory_soak.py --url http://127.0.0.1:PORT/ok [--minutes 1]

Exit status 0 when the peak stays under --limit-mb, 1 when not.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

SOAK_SUITE = """
[suite]
name = "memory-soak"
[[targets]]
name = "nginx"
url = "{url}"
connection = "reuse"
[[scenarios]]
name = "soak"
type = "rate"
rate = {rate}
duration = "{seconds}s"
[budget]
max_requests = {max_requests}
max_rate = {rate}
"""
_MB = 1024 * 1024


@dataclass
class RssTrace:
    """Total RSS (CLI process + workers) sampled once a second, split at the end of measurement."""

    measure_end_s: float = float("inf")  # when the manifest got the load records
    times_s: list[float] = field(default_factory=list)
    total_mb: list[float] = field(default_factory=list)

    def add(self, elapsed_s: float, rss_mb: float) -> None:
        """Record one sample."""
        self.times_s.append(elapsed_s)
        self.total_mb.append(rss_mb)

    def peak_mb(self, finishing: bool | None = None) -> float:
        """Peak total RSS over the whole run, or only during (False) / after (True) measurement."""
        kept = [mb for t, mb in zip(self.times_s, self.total_mb, strict=True)
                if finishing is None or (t > self.measure_end_s) == finishing]
        return max(kept, default=0.0)


def measure_tree_rss_mb(proc: psutil.Process) -> float:
    """RSS of a process and all its descendants, in MB (processes that vanish count 0)."""
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total / _MB


def build_soak_command(suite_path: Path, run_dir: Path, workers: int, report: bool) -> list[str]:
    """The `coldbench run` command line of the soak."""
    command = [sys.executable, "-m", "coldbench", "run", str(suite_path), "-o", str(run_dir),
               "--quiet", "--workers", str(workers)]
    return command if report else [*command, "--no-report"]


def measurement_ended(run_dir: Path) -> bool:
    """True once the run wrote its load records to the manifest (measurement over, files next)."""
    try:
        return "client" in json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False


def run_soak(command: list[str], run_dir: Path, log_path: Path) -> tuple[int, RssTrace]:
    """Run the soak command, sampling its RSS every second until it exits."""
    trace = RssTrace()
    with open(log_path, "wb") as log:
        proc = psutil.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        started = time.monotonic()
        try:
            while proc.poll() is None:
                try:
                    trace.add(time.monotonic() - started, measure_tree_rss_mb(proc))
                except psutil.Error:
                    pass
                if trace.measure_end_s == float("inf") and measurement_ended(run_dir):
                    trace.measure_end_s = time.monotonic() - started
                time.sleep(1.0)
        finally:
            if proc.poll() is None:  # interrupted: stop the run (it finishes its files) and wait
                proc.terminate()
                proc.wait(timeout=120)
    return int(proc.returncode), trace


def summarise_manifest(run_dir: Path) -> dict[str, Any]:
    """The manifest figures worth printing: status, samples, load record, shard peak RSS."""
    path = run_dir / "manifest.json"
    if not path.exists():
        return {}
    manifest = json.loads(path.read_text(encoding="utf-8"))
    load = (manifest.get("loads") or [{}])[0]
    return {
        "status": manifest.get("status"), "samples": manifest.get("samples"),
        "achieved_rate_per_s": load.get("achieved_rate_per_s"), "max_lag_ms": load.get("max_lag_ms"),
        "shard_peak_rss_mb": [c.get("peak_rss_mb") for c in manifest.get("client", [])],
    }


def format_soak_report(args: argparse.Namespace, returncode: int, trace: RssTrace,
                       manifest: dict[str, Any], kernel_peak_mb: float) -> str:
    """The soak's result as printed lines."""
    peak = max(trace.peak_mb(), kernel_peak_mb)  # 1 s samples can miss a short peak
    verdict = "PASS" if returncode == 0 and peak < args.limit_mb else "FAIL"
    rate = manifest.get("achieved_rate_per_s")
    return "\n".join([
        f"memory soak: {args.rate:g} req/s for {args.minutes:g} min, --workers {args.workers}, "
        f"exit {returncode}, {manifest.get('samples')} samples, status {manifest.get('status')}",
        f"  achieved rate {rate:.1f}/s, max lag {manifest.get('max_lag_ms', 0):.1f} ms"
        if rate else "  (no load record in the manifest)",
        f"  peak RSS (CLI + workers, 1 s samples): {trace.peak_mb():.0f} MB  "
        f"[measuring {trace.peak_mb(False):.0f} MB, finishing {trace.peak_mb(True):.0f} MB]",
        f"  kernel high-water mark of the largest process: {kernel_peak_mb:.0f} MB; "
        f"manifest peak_rss_mb (end of measurement): {manifest.get('shard_peak_rss_mb')}",
        f"  goal: peak < {args.limit_mb:g} MB (the larger of the two): {peak:.0f} MB, {verdict}",
    ])


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="target URL (a local nginx)")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=2000.0, help="requests per second")
    parser.add_argument("--workers", type=int, default=1, help="coldbench --workers")
    parser.add_argument("--limit-mb", type=float, default=500.0)
    parser.add_argument("--no-report", action="store_true", help="skip the HTML report at the end")
    parser.add_argument("--keep", type=Path, default=None, metavar="DIR",
                        help="keep the run directory here (default: a temporary one, removed)")
    parser.add_argument("--trace-json", type=Path, default=None, help="write the RSS trace here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the soak and print its verdict."""
    args = parse_args(argv)
    if not args.url.startswith(("http://127.0.0.1", "http://localhost")):
        raise SystemExit("error: --url must be a loopback address (the soak sends load)")
    scratch = Path(tempfile.mkdtemp(prefix="coldbench-soak-"))
    try:
        seconds = args.minutes * 60
        suite_path = scratch / "soak.toml"
        suite_path.write_text(SOAK_SUITE.format(url=args.url, rate=args.rate, seconds=seconds,
                                                max_requests=int(args.rate * seconds) + 1))
        run_dir = args.keep or scratch / "run"
        command = build_soak_command(suite_path, run_dir, args.workers, not args.no_report)
        returncode, trace = run_soak(command, run_dir, scratch / "soak.log")
        kernel_peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
        if returncode != 0:
            print((scratch / "soak.log").read_text(errors="replace")[-3000:], file=sys.stderr, flush=True)
        print(format_soak_report(args, returncode, trace, summarise_manifest(run_dir), kernel_peak_mb))
        if args.trace_json:
            args.trace_json.write_text(json.dumps({"t_s": trace.times_s, "rss_mb": trace.total_mb}))
        return 0 if returncode == 0 and max(trace.peak_mb(), kernel_peak_mb) < args.limit_mb else 1
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
