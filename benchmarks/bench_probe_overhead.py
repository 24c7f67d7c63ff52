"""Probe overhead: coldbench's phase-timed probe vs a bare aiohttp request loop.

Both run sequentially (concurrency 1) on uvloop against the same local echo server, in both
connection modes, alternating blocks so drift hits both equally. Prints per-request client time
and the ratio (goal: coldbench within 10% of bare aiohttp).

    python benchmarks/bench_probe_overhead.py [--requests 3000]
"""

from __future__ import annotations

import argparse
import statistics
import time

import aiohttp
import uvloop

from coldbench.probe import ProbeContext, build_session, send_probe
from coldbench.suite import TargetSpec
from coldbench.testing.childproc import ServerProcess


async def bare_loop(url: str, n: int, fresh: bool) -> list[float]:
    """Per-request seconds of a plain aiohttp loop (no tracing, no sample building)."""
    connector = aiohttp.TCPConnector(force_close=fresh, limit=0, use_dns_cache=not fresh)
    out = []
    async with aiohttp.ClientSession(connector=connector) as session:
        for _ in range(n):
            t0 = time.perf_counter_ns()
            async with session.get(url) as response:
                await response.read()
            out.append((time.perf_counter_ns() - t0) / 1e9)
    return out


async def probe_loop(url: str, n: int, fresh: bool) -> list[float]:
    """Per-request seconds of coldbench's send_probe (tracing + Sample) in the same loop."""
    target = TargetSpec(name="bench", url=url, connection="fresh" if fresh else "reuse")
    session = build_session(target.connection, target)
    out = []
    try:
        for i in range(n):
            t0 = time.perf_counter_ns()
            outcome = await send_probe(session, target, ProbeContext(i, "bench", "bench", i))
            out.append((time.perf_counter_ns() - t0) / 1e9)
            assert outcome.sample.error is None
    finally:
        await session.close()
    return out


async def compare(url: str, n: int, fresh: bool, blocks: int = 6) -> tuple[float, float]:
    """Median per-request time (µs) for bare and probe loops, alternating blocks."""
    bare: list[float] = []
    probe: list[float] = []
    await bare_loop(url, 200, fresh)  # warm-up
    await probe_loop(url, 200, fresh)
    for _ in range(blocks):
        bare += await bare_loop(url, n // blocks, fresh)
        probe += await probe_loop(url, n // blocks, fresh)
    return statistics.median(bare) * 1e6, statistics.median(probe) * 1e6


def main() -> None:
    """Run the comparison and print a table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=3000)
    args = parser.parse_args()
    with ServerProcess("coldbench.testing.echo_server") as server:
        url = server.url + "/ok"
        print(f"{'mode':8} {'bare p50 µs':>12} {'probe p50 µs':>13} {'ratio':>7}")
        for fresh in (False, True):
            bare, probe = uvloop.run(compare(url, args.requests, fresh))
            mode = "fresh" if fresh else "reuse"
            print(f"{mode:8} {bare:12.1f} {probe:13.1f} {probe / bare:7.3f}")


if __name__ == "__main__":
    main()
