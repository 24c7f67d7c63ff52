"""Benchmarks of the local sandbox: cold start, warm overhead, warm throughput.

Run as a script (prints a table and JSON):   python benchmarks/bench_sandbox.py [--quick]
or with pytest-benchmark:                    pytest benchmarks/bench_sandbox.py --benchmark-only

1. Cold start of `hello`: recycle, then one function-URL request. Reports the sandbox's Init
   Duration (spawn -> first /next) and the client's end-to-end latency. Goal: <= 150 ms.
2. Warm overhead: p50 of a warm function-URL round trip (keep-alive HTTP client) minus p50 of
   calling the same handler in-process with the same event. Goal: <= 1 ms.
3. Warm throughput: 4 provisioned instances, 4 closed-loop clients, requests per second.
Figures depend on host load: the sandbox, its runtimes and the client share the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import importlib.util
import json
import statistics
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = ROOT / "targets" / "functions"
NO_CONTAINERS = {name: {"container_workers": 0} for name in ("hello", "heavy", "sleepy")}


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _post(url: str) -> None:
    urllib.request.urlopen(urllib.request.Request(url, data=b"{}", method="POST"), timeout=30).read()


def measure_cold_start(url: str, samples: int, settle_s: float = 0.3) -> dict[str, float]:
    """Recycle `hello`, let the old instance's teardown finish, then time one cold request."""
    init_ms, latency_ms = [], []
    for _ in range(samples):
        _post(f"{url}/_sandbox/functions/hello/recycle")
        time.sleep(settle_s)
        started = time.perf_counter()
        with urllib.request.urlopen(f"{url}/fn/hello/", timeout=30) as response:
            response.read()
            latency_ms.append((time.perf_counter() - started) * 1000)
            init_ms.append(float(response.headers["X-Coldbench-Init-Ms"]))
    return {"init_ms_p50": statistics.median(init_ms), "init_ms_p90": _percentile(init_ms, 0.9),
            "latency_ms_p50": statistics.median(latency_ms), "samples": samples}


def _in_process_handler() -> Callable[[Any, Any], Any]:
    """The hello handler imported into this process, exactly as the runtime imports it."""
    sys.path.insert(0, str(ROOT / "coldbench"))  # for `import instrument`
    spec = importlib.util.spec_from_file_location("bench_hello_handler", FUNCTIONS / "hello" / "handler.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.handler


class _Context:
    function_name = "hello"


def measure_warm_overhead(url: str, samples: int) -> dict[str, float]:
    """p50 warm round trip through the sandbox minus p50 of the same call in-process."""
    from coldbench.sandbox.function_url import build_event

    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port)
    through: list[float] = []
    for i in range(samples + 50):
        started = time.perf_counter_ns()
        connection.request("GET", "/fn/hello/")
        connection.getresponse().read()
        if i >= 50:  # the first ones warm the instance and the connection
            through.append((time.perf_counter_ns() - started) / 1e6)
    connection.close()
    handler = _in_process_handler()
    event = build_event("GET", "/", "", [("Host", "x")], b"")
    direct: list[float] = []
    for _ in range(samples):
        started = time.perf_counter_ns()
        handler(json.loads(json.dumps(event)), _Context())
        direct.append((time.perf_counter_ns() - started) / 1e6)
    sandbox_p50, direct_p50 = statistics.median(through), statistics.median(direct)
    with urllib.request.urlopen(f"{url}/_sandbox/invocations?function=hello", timeout=30) as response:
        durations = [r["duration_ms"] for r in json.loads(response.read())[-samples:]]
    return {"sandbox_round_trip_ms_p50": sandbox_p50, "sandbox_round_trip_ms_p99": _percentile(through, 0.99),
            "in_process_ms_p50": direct_p50, "overhead_ms_p50": sandbox_p50 - direct_p50,
            "runtime_hop_ms_p50": statistics.median(durations), "samples": samples}


async def _throughput(url: str, clients: int, seconds: float) -> tuple[int, list[float]]:
    import aiohttp

    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def loop() -> int:
            done = 0
            while time.perf_counter() < deadline:
                started = time.perf_counter_ns()
                async with session.get(f"{url}/fn/hello/") as response:
                    await response.read()
                    assert response.status == 200
                latencies.append((time.perf_counter_ns() - started) / 1e6)
                done += 1
            return done

        counts = await asyncio.gather(*(loop() for _ in range(clients)))
    return sum(counts), latencies


def measure_throughput(url: str, seconds: float, instances: int = 4) -> dict[str, float]:
    """Closed-loop warm throughput with `instances` provisioned instances and as many clients."""
    body = json.dumps({"provisioned": instances}).encode()
    urllib.request.urlopen(urllib.request.Request(f"{url}/_sandbox/functions/hello/settings", data=body,
                                                  method="POST"), timeout=30).read()
    time.sleep(1.0)  # provisioned instances initialise
    asyncio.run(_throughput(url, instances, 0.5))  # warm-up
    total, latencies = asyncio.run(_throughput(url, instances, seconds))
    return {"requests_per_s": total / seconds, "latency_ms_p50": statistics.median(latencies),
            "latency_ms_p99": _percentile(latencies, 0.99), "instances": instances, "seconds": seconds}


def run_all(quick: bool = False) -> dict[str, dict[str, float]]:
    """Start a sandbox and run the three benchmarks."""
    from coldbench.sandbox.process import SandboxProcess

    with SandboxProcess(FUNCTIONS, NO_CONTAINERS) as sandbox:
        return {
            "cold_start_hello": measure_cold_start(sandbox.url, 5 if quick else 20),
            "warm_overhead_hello": measure_warm_overhead(sandbox.url, 200 if quick else 2000),
            "warm_throughput_4_instances": measure_throughput(sandbox.url, 1.0 if quick else 5.0),
        }


def main() -> None:
    """Print the figures as a table and as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples (a smoke run)")
    figures = run_all(parser.parse_args().quick)
    for name, values in figures.items():
        print(name)
        for key, value in values.items():
            print(f"  {key:28s} {value:10.3f}")
    print(json.dumps(figures))


# -- pytest-benchmark entry points (collected when this file is passed explicitly) ----------------

def test_cold_start_hello(benchmark: Any) -> None:
    from coldbench.sandbox.process import SandboxProcess

    with SandboxProcess(FUNCTIONS, NO_CONTAINERS) as sandbox:
        result = benchmark.pedantic(measure_cold_start, args=(sandbox.url, 10), rounds=1, iterations=1)
    benchmark.extra_info.update(result)


def test_warm_overhead_hello(benchmark: Any) -> None:
    from coldbench.sandbox.process import SandboxProcess

    with SandboxProcess(FUNCTIONS, NO_CONTAINERS) as sandbox:
        result = benchmark.pedantic(measure_warm_overhead, args=(sandbox.url, 1000), rounds=1, iterations=1)
    benchmark.extra_info.update(result)


def test_warm_throughput_4_instances(benchmark: Any) -> None:
    from coldbench.sandbox.process import SandboxProcess

    with SandboxProcess(FUNCTIONS, NO_CONTAINERS) as sandbox:
        result = benchmark.pedantic(measure_throughput, args=(sandbox.url, 3.0), rounds=1, iterations=1)
    benchmark.extra_info.update(result)


if __name__ == "__main__":
    main()
