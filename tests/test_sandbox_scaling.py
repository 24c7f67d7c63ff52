"""Scaling semantics of the sandbox: scale-out, concurrency per instance, provisioned
instances, throttling, idle eviction, init delay, sandbox-wide caps."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sandbox_helpers import get_json, http, instances, truth, wait_until, write_function

from coldbench.sandbox.process import SandboxProcess

HOLD = """
    import time
    def handler(event, context):
        ms = float((event.get("queryStringParameters") or {}).get("ms", 0))
        time.sleep(ms / 1000)
        return {"slept_ms": ms}
"""


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    root = tmp_path_factory.mktemp("functions")
    for name in ("one", "eight", "prov", "capped", "delayed", "idle"):
        write_function(root, name, HOLD)
    overrides: dict[str, dict[str, Any]] = {
        "one": {"concurrency_per_instance": 1},
        "eight": {"concurrency_per_instance": 8},
        "prov": {"provisioned": 2, "keep_alive": "1s"},
        "capped": {"max_instances": 2},
        "delayed": {"init_delay_ms": 300},
        "idle": {"keep_alive": "1s"},
    }
    with SandboxProcess(root, overrides) as process:
        yield process


async def _concurrent(url: str, count: int) -> list[tuple[int, dict[str, str], bytes]]:
    async with aiohttp.ClientSession() as session:

        async def one() -> tuple[int, dict[str, str], bytes]:
            async with session.get(url) as response:
                return response.status, dict(response.headers), await response.read()

        return await asyncio.gather(*(one() for _ in range(count)))


def concurrent_get(url: str, count: int) -> list[tuple[int, dict[str, str], bytes]]:
    """`count` simultaneous GETs (separate connections) of `url`."""
    return asyncio.run(_concurrent(url, count))


def test_eight_concurrent_requests_start_eight_instances_at_concurrency_one(sandbox: SandboxProcess) -> None:
    responses = concurrent_get(f"{sandbox.url}/fn/one/?ms=300", 8)
    assert [status for status, _, _ in responses] == [200] * 8
    assert len({headers["X-Coldbench-Instance"] for _, headers, _ in responses}) == 8
    assert all(headers["X-Coldbench-Invocation"] == "1" for _, headers, _ in responses)
    records = truth(sandbox.url, "one")
    assert len(records) == 8 and all(r["cold"] for r in records)
    assert len(instances(sandbox.url, "one")) == 8


def test_eight_concurrent_requests_share_one_instance_at_concurrency_eight(sandbox: SandboxProcess) -> None:
    responses = concurrent_get(f"{sandbox.url}/fn/eight/?ms=300", 8)
    assert [status for status, _, _ in responses] == [200] * 8
    assert len({headers["X-Coldbench-Instance"] for _, headers, _ in responses}) == 1
    assert sorted(int(h["X-Coldbench-Invocation"]) for _, h, _ in responses) == list(range(1, 9))
    assert len(instances(sandbox.url, "eight")) == 1
    # All eight ran at once on the instance's eight pollers: not serialised behind one another.
    durations = [r["duration_ms"] for r in truth(sandbox.url, "eight")]
    assert max(durations) < 2 * 300


def test_provisioned_instances_are_ready_before_requests_warm_and_never_evicted(sandbox: SandboxProcess) -> None:
    before = instances(sandbox.url, "prov")
    assert len(before) == 2 and all(i["provisioned"] and i["state"] == "ready" for i in before)
    assert all(i["invocations"] == 0 for i in before)
    responses = concurrent_get(f"{sandbox.url}/fn/prov/?ms=100", 2)
    assert all("X-Coldbench-Init-Ms" not in headers for _, headers, _ in responses)
    assert {h["X-Coldbench-Instance"] for _, h, _ in responses} == {i["id"] for i in before}
    assert not any(r["cold"] for r in truth(sandbox.url, "prov"))
    time.sleep(2.0)  # twice the keep-alive
    assert {i["id"] for i in instances(sandbox.url, "prov")} == {i["id"] for i in before}


def test_max_instances_throttles_with_too_many_requests(sandbox: SandboxProcess) -> None:
    responses = concurrent_get(f"{sandbox.url}/fn/capped/?ms=300", 3)
    statuses = sorted(status for status, _, _ in responses)
    assert statuses == [200, 200, 429]
    body = json.loads(next(b for s, _, b in responses if s == 429))
    assert body["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded" and body["message"] == "Rate Exceeded."
    headers = next(h for s, h, _ in responses if s == 429)
    assert headers["x-amzn-ErrorType"] == "TooManyRequestsException"
    assert [r["outcome"] for r in truth(sandbox.url, "capped")].count("throttled") == 1


def test_idle_instance_is_evicted_after_keep_alive(sandbox: SandboxProcess) -> None:
    status, headers, _ = http(f"{sandbox.url}/fn/idle/")
    assert status == 200 and headers["X-Coldbench-Invocation"] == "1"
    first = headers["X-Coldbench-Instance"]
    assert instances(sandbox.url, "idle")
    assert wait_until(lambda: not instances(sandbox.url, "idle"), timeout_s=5.0)
    ended = [i for i in instances(sandbox.url, "idle", live_only=False) if i["id"] == first]
    assert ended[0]["end_reason"] == "evicted"
    _, again, _ = http(f"{sandbox.url}/fn/idle/")
    assert again["X-Coldbench-Invocation"] == "1" and again["X-Coldbench-Instance"] != first


def test_init_delay_is_spent_inside_the_runtime_init_phase(sandbox: SandboxProcess) -> None:
    _, headers, _ = http(f"{sandbox.url}/fn/delayed/")
    assert float(headers["X-Coldbench-Init-Ms"]) >= 300
    started = time.perf_counter()
    http(f"{sandbox.url}/fn/delayed/")
    assert time.perf_counter() - started < 0.2  # warm: the delay is init work, not per request


def test_sandbox_wide_instance_cap(tmp_path: Path) -> None:
    write_function(tmp_path, "wide", HOLD)
    with SandboxProcess(tmp_path, settings={"max_total_instances": 2}) as sandbox:
        responses = concurrent_get(f"{sandbox.url}/fn/wide/?ms=300", 3)
        statuses = sorted(status for status, _, _ in responses)
        assert statuses == [200, 200, 429]
        body = json.loads(next(b for s, _, b in responses if s == 429))
        assert body["Reason"] == "ConcurrentInvocationLimitExceeded"
        assert get_json(f"{sandbox.url}/_sandbox/health")["status"] == "ok"
