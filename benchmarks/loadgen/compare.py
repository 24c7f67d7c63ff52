"""coldbench's load engine side by side with wrk, hey and a bare aiohttp+uvloop loop (issue 8).

Every row runs against the same URL (run_all.sh starts a local nginx answering `200 ok`):

  keep-alive p50, c=1     `warm` scenario, connection reuse  vs  wrk -t1 -c1 --latency
  fresh-conn p50, c=1     `warm` scenario, connection fresh  vs  hey -c 1 -disable-keepalive
  closed c=50, 1 process  `closed` scenario, --workers 1     vs  bare aiohttp+uvloop loop
  closed c=50, 2 procs    `closed` scenario, --workers 2     vs  hey -c 50 -z
  open loop 5,000/s       `rate` scenario, --workers 1: achieved rate and schedule lag p99
  coordinated omission    `rate` 1,000/s for 10 s against a server that stalls once for 1 s

The first four rows compare coldbench with another tool. Loopback on a small VM changes speed
from one minute to the next, so each of them runs in `--rounds` rounds (default 3), coldbench
and the other tool back to back in each (the order alternating), each run a `--rounds`-th of
the row's length; the row shows the median of each tool's values and the median of the
per-round ratios, and the note lists every round.

coldbench runs through its API (`execute_run`) on suites written to a temporary directory;
samples come from `coldbench.load_run`, rates and client cost from the manifest. The bare loops
print, for context, what plain aiohttp costs at the same concurrency.

    python benchmarks/loadgen/compare.py --url http://127.0.0.1:PORT/ok [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import uvloop

from coldbench import load_run
from coldbench.runner import RunOptions, execute_run
from coldbench.store import load_manifest
from coldbench.suite import load_suite

_TIME_UNITS_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}
_HEY_BIN_S = 1e-4  # hey prints and dumps seconds with 4 decimals: 0.1 ms bins


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the table: coldbench's figure, the reference figure, and the goal."""

    name: str
    coldbench: float
    unit: str
    reference: float | None = None
    reference_name: str = ""
    goal: str = ""  # e.g. "<= 1.5x", ">= 0.95x", "<= 1.01x", "< 1 ms", ">= 500 ms"
    note: str = ""
    rounds: tuple[tuple[float, float], ...] = ()  # (coldbench, reference) measured back to back

    @property
    def ratio(self) -> float | None:
        """coldbench / reference: the median of the per-round ratios when measured in rounds
        (None without a reference)."""
        if self.rounds:
            return float(np.median([ours / ref for ours, ref in self.rounds]))
        return self.coldbench / self.reference if self.reference else None

    @property
    def met(self) -> bool:
        """Whether the goal holds (a ratio goal compares the ratio, else the figure itself)."""
        op, bound = self.goal.split()[:2]
        value = self.ratio if bound.endswith("x") else self.coldbench
        limit = float(bound.rstrip("x"))
        return bool(value is not None and {"<=": value <= limit, ">=": value >= limit,
                                           "<": value < limit, ">": value > limit}[op])


@dataclass(frozen=True, slots=True)
class Sizes:
    """How long / how many for each row (--quick divides everything)."""

    duration_s: float = 10.0
    keepalive_count: int = 20_000
    fresh_count: int = 5_000
    open_rate_per_s: float = 5_000.0
    co_seconds: float = 10.0
    rounds: int = 3  # the comparison rows alternate the two tools this many times

    def round_s(self) -> int:
        """Whole seconds per round of a timed run (wrk takes whole seconds only)."""
        return max(1, round(self.duration_s / self.rounds))

    def round_count(self, total: int) -> int:
        """Requests per round of a counted run."""
        return max(1, total // self.rounds)


# -- suites ------------------------------------------------------------------------------------

_TARGET = """
[suite]
name = "{name}"
[budget]
max_requests = 1000000
max_rate = 100000
[[targets]]
name = "nginx"
url = "{url}"
connection = "{connection}"
"""


def build_suite_text(name: str, url: str, connection: str, scenario: dict[str, Any]) -> str:
    """A one-target, one-scenario suite in TOML."""
    lines = [_TARGET.format(name=name, url=url, connection=connection), "[[scenarios]]"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in scenario.items()]  # TOML-valid
    return "\n".join(lines) + "\n"


def run_coldbench(scratch: Path, name: str, url: str, connection: str, scenario: dict[str, Any],
                  workers: int = 1) -> tuple[Any, dict[str, Any]]:
    """Run one suite through the API; return (samples frame, manifest)."""
    suite_path = scratch / f"{name}.toml"
    suite_path.write_text(build_suite_text(name, url, connection, scenario), encoding="utf-8")
    out_dir = scratch / f"run-{name}"
    execute_run(load_suite(suite_path), RunOptions(out_dir=out_dir, quiet=True, workers=workers))
    return load_run(out_dir), load_manifest(out_dir)


def compute_user_p50_ms(frame: Any) -> float:
    """Median latency of the successful measured (not priming) samples."""
    ok = frame[(frame["phase"] == "user") & frame["error"].isna()]
    return float(ok["latency_ms"].median())


def compute_closed_rate_per_s(manifest: dict[str, Any]) -> float:
    """Requests per second of a (multi-process) closed loop: all sent over the longest worker."""
    loads = manifest["loads"]
    return sum(rec["sent"] for rec in loads) / max(rec["duration_s"] for rec in loads)


def format_client_note(manifest: dict[str, Any]) -> str:
    """The client's CPU per worker, e.g. 'client CPU 98% (41 µs/req)'."""
    parts = [f"{c['cpu_fraction']:.0%} ({c['cpu_us_per_request'] or 0:.0f} µs/req)"
             for c in manifest.get("client", [])]
    return "client CPU " + ", ".join(parts)


# -- reference tools ---------------------------------------------------------------------------

def parse_time_ms(text: str) -> float:
    """'41.20us' / '1.05ms' / '2.00s' (wrk's units) in milliseconds."""
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text.strip())
    if not match:
        raise ValueError(f"not a wrk time: {text!r}")
    return float(match.group(1)) * _TIME_UNITS_MS[match.group(2)]


def parse_wrk_output(text: str) -> dict[str, float]:
    """p50/p75/p90/p99 (ms) and requests/s from `wrk --latency` output."""
    figures = {f"p{pct}": parse_time_ms(value)
               for pct, value in re.findall(r"^\s+(\d+)%\s+(\S+)\s*$", text, re.M)}
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M)
    if "p50" not in figures or rate is None:
        raise ValueError(f"unexpected wrk output:\n{text}")
    figures["rate_per_s"] = float(rate.group(1))
    return figures


def parse_hey_rate(text: str) -> float:
    """Requests/sec from hey's summary."""
    match = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if match is None:
        raise ValueError(f"unexpected hey output:\n{text}")
    return float(match.group(1))


def compute_binned_median_s(values_s: list[float], bin_s: float = _HEY_BIN_S) -> float:
    """Median of values rounded to `bin_s`, interpolated linearly inside the median's bin.

    hey writes response times with 4 decimals (0.1 ms), too coarse for a 0.2 ms median; each
    printed value v stands for [v - bin/2, v + bin/2).
    """
    counts = sorted(Counter(round(v / bin_s) for v in values_s).items())
    half = len(values_s) / 2
    below = 0
    for center, count in counts:
        if below + count >= half:
            return (center - 0.5 + (half - below) / count) * bin_s
        below += count
    raise ValueError("no values")


def parse_hey_csv(text: str) -> list[float]:
    """Response times (s) of successful requests from `hey -o csv`."""
    lines = text.strip().splitlines()
    header = lines[0].split(",")
    time_col, status_col = header.index("response-time"), header.index("status-code")
    rows = (line.split(",") for line in lines[1:] if line)
    return [float(r[time_col]) for r in rows if r[status_col] == "200"]


def run_tool(command: list[str], timeout_s: float) -> str:
    """Run a reference tool; its stdout (CalledProcessError names the command on failure)."""
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=True)
    return done.stdout


# -- bare aiohttp + uvloop ---------------------------------------------------------------------

async def _bare_loop(url: str, concurrency: int, fresh: bool, duration_s: float,
                     count: int) -> list[int]:
    """Plain aiohttp clients back to back: per-request nanoseconds (no tracing, no samples)."""
    connector = aiohttp.TCPConnector(force_close=fresh, limit=0)
    latencies: list[int] = []
    remaining = [count or sys.maxsize]
    async with aiohttp.ClientSession(connector=connector) as session:
        deadline = time.perf_counter_ns() + int(duration_s * 1e9) if duration_s else sys.maxsize

        async def client() -> None:
            while remaining[0] > 0 and time.perf_counter_ns() < deadline:
                remaining[0] -= 1
                started = time.perf_counter_ns()
                async with session.get(url) as response:
                    await response.read()
                latencies.append(time.perf_counter_ns() - started)

        await asyncio.gather(*(client() for _ in range(concurrency)))
    return latencies


def run_bare_loop(url: str, concurrency: int, fresh: bool = False, duration_s: float = 0.0,
                  count: int = 0) -> tuple[float, float]:
    """(p50 ms, requests per second) of the bare loop on uvloop."""
    started = time.perf_counter()
    latencies = uvloop.run(_bare_loop(url, concurrency, fresh, duration_s, count))
    elapsed = time.perf_counter() - started
    return float(np.median(latencies)) / 1e6, len(latencies) / elapsed


# -- the rows ----------------------------------------------------------------------------------

Measure = Callable[[int], float]  # round number -> one tool's figure for that round


def measure_alternating(rounds: int, coldbench: Measure, reference: Measure) -> tuple[tuple[float, float], ...]:
    """(coldbench, reference) for each round, the two measured back to back so both see the same
    machine state; the reference goes first in even rounds, coldbench in odd ones."""
    pairs = []
    for k in range(rounds):
        if k % 2 == 0:
            ref = reference(k)
            ours = coldbench(k)
        else:
            ours = coldbench(k)
            ref = reference(k)
        pairs.append((ours, ref))
    return tuple(pairs)


def build_rounds_row(name: str, unit: str, pairs: tuple[tuple[float, float], ...],
                     reference_name: str, goal: str, note: str) -> Row:
    """A comparison row from its rounds: each tool's median, and (in `ratio`) the median ratio."""
    return Row(name, float(np.median([ours for ours, _ in pairs])), unit,
               float(np.median([ref for _, ref in pairs])), reference_name, goal, note, pairs)


def measure_keepalive(url: str, scratch: Path, sizes: Sizes) -> Row:
    """coldbench warm/reuse p50 vs wrk -t1 -c1, alternating."""
    count, seconds = sizes.round_count(sizes.keepalive_count), sizes.round_s()

    def coldbench(k: int) -> float:
        frame, _ = run_coldbench(scratch, f"keepalive-{k}", url, "reuse", {"type": "warm", "count": count})
        return compute_user_p50_ms(frame) * 1e3

    def wrk(_k: int) -> float:
        return parse_wrk_output(run_tool(["wrk", "-t1", "-c1", f"-d{seconds}s", "--latency", url],
                                         seconds + 30))["p50"] * 1e3

    pairs = measure_alternating(sizes.rounds, coldbench, wrk)
    bare_p50, _ = run_bare_loop(url, 1, count=count)
    return build_rounds_row("keep-alive latency p50, c=1", "µs", pairs, "wrk -t1 -c1", "<= 1.5x",
                            f"bare aiohttp p50 {bare_p50 * 1e3:.0f} µs; rounds of {count} requests "
                            f"/ wrk {seconds} s")


def measure_fresh(url: str, scratch: Path, sizes: Sizes) -> Row:
    """coldbench warm/fresh p50 vs hey -c 1 -disable-keepalive (p50 interpolated in 0.1 ms bins),
    alternating."""
    n = sizes.round_count(sizes.fresh_count)

    def coldbench(k: int) -> float:
        frame, _ = run_coldbench(scratch, f"fresh-{k}", url, "fresh", {"type": "warm", "count": n})
        return compute_user_p50_ms(frame) * 1e3

    def hey(_k: int) -> float:
        out = run_tool(["hey", "-c", "1", "-n", str(n), "-disable-keepalive", "-o", "csv", url], 300)
        return compute_binned_median_s(parse_hey_csv(out)) * 1e6

    pairs = measure_alternating(sizes.rounds, coldbench, hey)
    bare_p50, _ = run_bare_loop(url, 1, fresh=True, count=n)
    return build_rounds_row("fresh-connection latency p50, c=1", "µs", pairs, "hey -disable-keepalive",
                            "<= 1.3x", f"bare aiohttp p50 {bare_p50 * 1e3:.0f} µs; hey p50 "
                            f"interpolated in 0.1 ms bins; rounds of {n} requests each")


def closed_coldbench(url: str, scratch: Path, seconds: int, workers: int,
                     notes: list[str]) -> Callable[[int], float]:
    """Round k of coldbench's closed loop at c=50 with `workers` processes: its rate (req/s);
    the client-CPU note of each round goes to `notes`."""
    def run(k: int) -> float:
        _, manifest = run_coldbench(scratch, f"closed{workers}-{k}", url, "reuse", {
            "type": "closed", "concurrency": 50, "duration": f"{seconds}s"}, workers=workers)
        notes.append(format_client_note(manifest))
        return compute_closed_rate_per_s(manifest)

    return run


def measure_closed_one(url: str, scratch: Path, sizes: Sizes) -> Row:
    """coldbench closed c=50 in one process vs a bare aiohttp+uvloop loop at c=50, alternating."""
    seconds = sizes.round_s()
    notes: list[str] = []
    coldbench = closed_coldbench(url, scratch, seconds, 1, notes)

    def bare(_k: int) -> float:
        return run_bare_loop(url, 50, duration_s=seconds)[1]

    pairs = measure_alternating(sizes.rounds, coldbench, bare)
    return build_rounds_row("closed-loop throughput c=50, 1 process", "req/s", pairs,
                            "bare aiohttp+uvloop", ">= 0.95x", f"{'; '.join(notes)}; rounds of {seconds} s")


def measure_closed_two(url: str, scratch: Path, sizes: Sizes) -> Row:
    """coldbench closed c=50 with --workers 2 vs hey -c 50 -z, alternating."""
    seconds = sizes.round_s()
    notes: list[str] = []
    coldbench = closed_coldbench(url, scratch, seconds, 2, notes)

    def hey(_k: int) -> float:
        return parse_hey_rate(run_tool(["hey", "-c", "50", "-z", f"{seconds}s", url], seconds + 60))

    pairs = measure_alternating(sizes.rounds, coldbench, hey)
    return build_rounds_row("closed-loop throughput c=50, --workers 2", "req/s", pairs, "hey -c 50 -z",
                            ">= 1.0x", f"{'; '.join(notes)}; rounds of {seconds} s")


def measure_open_loop(url: str, scratch: Path, sizes: Sizes) -> list[Row]:
    """coldbench rate scenario in one process: achieved rate vs asked, and schedule lag p99."""
    rate = sizes.open_rate_per_s
    frame, manifest = run_coldbench(scratch, "open", url, "reuse", {
        "type": "rate", "rate": rate, "duration": f"{sizes.duration_s:g}s"}, workers=1)
    record = manifest["loads"][0]
    lag_p99 = float(frame["lag_ms"].quantile(0.99))
    send_note = (f"sent {record['sent']} of {record['scheduled']} in {record['duration_s']:.2f} s; "
                 f"{format_client_note(manifest)}")
    return [
        Row(f"open loop {rate:,.0f}/s: achieved rate", record["achieved_rate_per_s"], "req/s", rate,
            "asked rate", ">= 0.99x", send_note),
        Row(f"open loop {rate:,.0f}/s: schedule lag p99", lag_p99, "ms", None, "", "< 1",
            f"max lag {record['max_lag_ms']:.1f} ms; latency p99 {frame['latency_ms'].quantile(0.99):.2f} ms"),
    ]


def measure_coordinated_omission(scratch: Path, sizes: Sizes) -> Row:
    """wrk2's demonstration: 1,000/s for 10 s, the server stalls once for 1 s; p99 >= 500 ms."""
    from coldbench.testing.childproc import ServerProcess

    with ServerProcess("coldbench.testing.echo_server") as server:
        url = f"{server.url}/stall-once?after=3000&ms=1000"
        frame, _ = run_coldbench(scratch, "co", url, "reuse", {
            "type": "rate", "rate": 1000, "duration": f"{sizes.co_seconds:g}s"}, workers=1)
    slow = int((frame["latency_ms"] >= 500).sum())
    return Row("coordinated omission: p99 with a 1 s stall", float(frame["latency_ms"].quantile(0.99)),
               "ms", None, "", ">= 500", f"{slow} of {len(frame)} requests took >= 500 ms "
               "(charged from their intended send time)")


# -- output ------------------------------------------------------------------------------------

def format_figure(value: float | None, unit: str) -> str:
    """A figure with its unit, thousands separated."""
    if value is None:
        return "-"
    digits = 2 if unit == "ms" else 0
    return f"{value:,.{digits}f} {unit}"


def format_table(rows: list[Row]) -> str:
    """The side-by-side table, then one note line per row."""
    head = f"{'benchmark':42} {'coldbench':>14} {'reference':>14}  {'ref. tool':24} {'ratio':>7}  {'goal':10} met"
    lines = [head, "-" * len(head)]
    for row in rows:
        ratio = f"{row.ratio:.2f}x" if row.ratio is not None else "-"
        unit = "" if row.goal.split()[1].endswith("x") else f" {row.unit}"
        lines.append(f"{row.name:42} {format_figure(row.coldbench, row.unit):>14} "
                     f"{format_figure(row.reference, row.unit):>14}  {row.reference_name:24} "
                     f"{ratio:>7}  {row.goal + unit:10} {'yes' if row.met else 'NO'}")
    if any(row.rounds for row in rows):
        lines.append("(rows measured in rounds: each tool's median, and the median of the per-round ratios)")
    lines.append("")
    lines += [f"{row.name}: {row.note}" for row in rows if row.note]
    lines += [f"{row.name}, rounds: {format_rounds(row)}" for row in rows if row.rounds]
    return "\n".join(lines)


def format_rounds(row: Row) -> str:
    """Every round's figures in order, e.g. '61 / 20 µs = 3.05x, 59 / 55 µs = 1.07x'."""
    return ", ".join(f"{format_figure(ours, row.unit).removesuffix(' ' + row.unit)} / "
                     f"{format_figure(ref, row.unit)} = {ours / ref:.2f}x" for ours, ref in row.rounds)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="a local nginx answering 200 (run_all.sh)")
    parser.add_argument("--quick", action="store_true", help="short runs: a smoke test, not figures")
    parser.add_argument("--rounds", type=int, default=3,
                        help="alternate coldbench and the other tool this many times in the "
                             "comparison rows (default 3; each run 1/rounds of the row's length)")
    parser.add_argument("--only", nargs="*", default=None,
                        choices=["keepalive", "fresh", "closed1", "closed2", "open", "co"])
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run every comparison and print the table; exit 1 when a goal is missed."""
    args = parse_args(argv)
    if not args.url.startswith(("http://127.0.0.1", "http://localhost")):
        raise SystemExit("error: --url must be a loopback address (the benchmark sends load)")
    if args.rounds < 1:
        raise SystemExit("error: --rounds must be at least 1")
    sizes = Sizes(2.0, 2_000, 1_000, 5_000.0, 10.0, args.rounds) if args.quick else Sizes(rounds=args.rounds)
    scratch = Path(tempfile.mkdtemp(prefix="coldbench-compare-"))
    steps = {
        "keepalive": lambda: [measure_keepalive(args.url, scratch, sizes)],
        "fresh": lambda: [measure_fresh(args.url, scratch, sizes)],
        "closed1": lambda: [measure_closed_one(args.url, scratch, sizes)],
        "closed2": lambda: [measure_closed_two(args.url, scratch, sizes)],
        "open": lambda: measure_open_loop(args.url, scratch, sizes),
        "co": lambda: [measure_coordinated_omission(scratch, sizes)],
    }
    rows: list[Row] = []
    try:
        for name, step in steps.items():
            if args.only is None or name in args.only:
                print(f"running {name}...", file=sys.stderr, flush=True)
                rows += step()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(format_table(rows))
    return 0 if all(row.met for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
