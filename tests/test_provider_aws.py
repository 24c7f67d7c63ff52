"""The AWS provider (real aiobotocore client, endpoint_url) against a real sandbox; no mocks.

Every claim is checked against the sandbox's ground truth (/_sandbox/invocations), which the
provider never reads: Init Duration parsed from the REPORT line, forced cold starts, and
provisioned concurrency that reaches READY and then serves warm. The last test runs a whole
suite through `execute_run` with Invoke-API probes and a config_update scenario (20 of 20 cold).
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sandbox_helpers import FUNCTIONS_DIR, instances, lambda_client, truth, with_provider

from coldbench.errors import ProviderError
from coldbench.label.evidence import find_report_line
from coldbench.providers import describe_providers
from coldbench.providers.aws import FORCE_COLD_VARIABLE, AwsLambdaProvider
from coldbench.runner import RunOptions, execute_run
from coldbench.sandbox.process import SandboxProcess
from coldbench.suite import TargetSpec, load_suite

T = TypeVar("T")
FUNCTIONS = ("hello", "forced", "prov", "throttled")


@pytest.fixture(scope="module")
def functions_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("functions")
    for name in FUNCTIONS:  # one function per test: no test sees another's instances
        shutil.copytree(FUNCTIONS_DIR / "hello", root / name, ignore=shutil.ignore_patterns("__pycache__"))
    return root


@pytest.fixture(scope="module")
def sandbox(functions_dir: Path) -> Iterator[SandboxProcess]:
    overrides = {name: {"keep_alive": "60s", "container_workers": 0} for name in FUNCTIONS}
    with SandboxProcess(functions_dir, overrides) as process:
        yield process


def by_request_id(url: str, function: str) -> dict[str, dict[str, Any]]:
    """Ground-truth records of one function keyed by request id."""
    return {r["request_id"]: r for r in truth(url, function)}


def test_invoke_parses_the_report_line_with_init_duration_on_cold_only(sandbox: SandboxProcess) -> None:
    async def use(provider: AwsLambdaProvider) -> list[Any]:
        return [await provider.invoke("hello", b'{"n": 1}') for _ in range(3)]

    results = with_provider(sandbox.url, use)
    assert all(r.status == 200 and r.function_error is None for r in results)
    assert b'"message": "hello"' in results[0].payload and results[0].executed_version == "$LATEST"
    reports = [find_report_line(r.log_tail) for r in results]
    assert all(r is not None for r in reports)
    cold, *warm = reports
    assert cold is not None and cold.init_duration_ms is not None and cold.init_duration_ms > 0
    for report in reports:
        assert report is not None
        assert report.duration_ms is not None and report.billed_duration_ms is not None
        assert report.max_memory_used_mb is not None and report.memory_size_mb == 128
    assert all(r is not None and r.init_duration_ms is None for r in warm)
    records = by_request_id(sandbox.url, "hello")
    assert [records[r.request_id]["cold"] for r in reports if r] == [True, False, False]
    assert records[cold.request_id]["init_ms"] == pytest.approx(cold.init_duration_ms, abs=0.01)


def test_force_cold_makes_every_next_invocation_cold_by_ground_truth(sandbox: SandboxProcess) -> None:
    async def use(provider: AwsLambdaProvider) -> list[tuple[Any, Any]]:
        rounds = []
        await provider.invoke("forced", b"{}")
        for _ in range(5):
            warm = await provider.invoke("forced", b"{}")
            assert await provider.force_cold("forced") < 5.0
            rounds.append((warm, await provider.invoke("forced", b"{}")))
        return rounds

    rounds = with_provider(sandbox.url, use)
    records = by_request_id(sandbox.url, "forced")
    seen_instances = set()
    for warm, cold in rounds:
        warm_report, cold_report = find_report_line(warm.log_tail), find_report_line(cold.log_tail)
        assert warm_report is not None and cold_report is not None
        assert records[warm_report.request_id]["cold"] is False and warm_report.init_duration_ms is None
        truth_cold = records[cold_report.request_id]
        assert truth_cold["cold"] is True and truth_cold["invocation_n"] == 1
        assert cold_report.init_duration_ms is not None
        seen_instances.add(truth_cold["instance_id"])
    assert len(seen_instances) == 5  # a new instance after every forced cold start


def test_force_cold_keeps_the_other_environment_variables(sandbox: SandboxProcess) -> None:
    async def use(provider: AwsLambdaProvider) -> dict[str, Any]:
        await provider.update_environment("forced", {"KEEP_ME": "yes"})
        await provider.force_cold("forced")
        await provider.update_environment("forced", {"KEEP_ME": None, "ALSO": "1"})
        return await provider.get_configuration("forced")

    variables = with_provider(sandbox.url, use)["Environment"]["Variables"]
    assert "KEEP_ME" not in variables and variables["ALSO"] == "1"
    assert len(variables[FORCE_COLD_VARIABLE]) == 32


def test_provisioned_concurrency_reaches_ready_and_serves_warm(sandbox: SandboxProcess) -> None:
    async def use(provider: AwsLambdaProvider) -> tuple[Any, ...]:
        before = await provider.get_provisioned("prov", "live")
        ready = await provider.set_provisioned("prov", "live", 2, timeout_s=30)
        served = [await provider.invoke("prov", b"{}", qualifier="live") for _ in range(3)]
        provisioned_ids = {i["id"] for i in instances(sandbox.url, "prov") if i["provisioned"]}
        await provider.clear_provisioned("prov", "live")
        after = await provider.get_provisioned("prov", "live")
        return before, ready, served, provisioned_ids, after

    before, ready, served, provisioned_ids, after = with_provider(sandbox.url, use)
    assert before.status == "NONE" and after.status == "NONE"
    assert ready.status == "READY" and ready.requested == ready.allocated == ready.available == 2
    assert ready.seconds_to_ready is not None and ready.seconds_to_ready < 30
    assert len(provisioned_ids) == 2
    records = by_request_id(sandbox.url, "prov")
    for result in served:
        report = find_report_line(result.log_tail)
        assert report is not None and report.init_duration_ms is None
        record = records[report.request_id]
        assert record["cold"] is False and record["instance_id"] in provisioned_ids


def test_invoke_never_retries_so_a_throttle_is_one_error(sandbox: SandboxProcess) -> None:
    client = lambda_client(sandbox.url)
    client.put_function_concurrency(FunctionName="throttled", ReservedConcurrentExecutions=0)
    try:
        with pytest.raises(ProviderError, match="TooManyRequestsException"):
            with_provider(sandbox.url, lambda provider: provider.invoke("throttled", b"{}"))
    finally:
        client.delete_function_concurrency(FunctionName="throttled")
    assert [r["outcome"] for r in truth(sandbox.url, "throttled")] == ["throttled"]


def test_control_plane_errors_are_one_line_provider_errors(sandbox: SandboxProcess) -> None:
    with pytest.raises(ProviderError, match="ResourceNotFoundException"):
        with_provider(sandbox.url, lambda provider: provider.invoke("no-such-function", b"{}"))
    with pytest.raises(ProviderError, match="no-such-function: ResourceNotFoundException"):
        with_provider(sandbox.url, lambda provider: provider.force_cold("no-such-function"))
    with pytest.raises(ProviderError, match="refusing to delete"):
        with_provider(sandbox.url, lambda provider: provider.delete_version("hello", "$LATEST"))


def test_describe_reports_what_the_manifest_needs(sandbox: SandboxProcess) -> None:
    described = with_provider(sandbox.url, lambda provider: provider.describe("hello"))
    assert described["provider"] == "sandbox" and described["function"] == "hello"
    assert described["region"] == "us-east-1" and described["endpoint_url"] == sandbox.url
    assert described["runtime"] == "python3.11" and described["memory_mb"] == 128
    assert described["architectures"] == ["x86_64"] and described["timeout_s"] == 3


def test_describe_providers_for_the_manifest_skips_http_and_records_failures(sandbox: SandboxProcess) -> None:
    targets = [TargetSpec(name="api", url="http://127.0.0.1:9/"),
               TargetSpec(name="fn", url="", provider="sandbox", function="hello"),
               TargetSpec(name="gone", url="", provider="sandbox", function="no-such-function")]
    described = asyncio.run(describe_providers(targets, sandbox.url))
    assert set(described) == {"fn", "gone"}
    assert described["fn"]["function"] == "hello" and described["fn"]["memory_mb"] == 128
    assert "ResourceNotFoundException" in described["gone"]["error"]


SUITE = """
[suite]
name = "aws-provider-sandbox"
seed = 7

[sandbox]
functions = "{functions}"

[sandbox.overrides.hello]
keep_alive = "60s"
container_workers = 0

[[targets]]
name = "hello-invoke"
provider = "sandbox"
function = "hello"
invoke = true

[[scenarios]]
name = "gaps"
type = "idle_gap"
gaps = ["50ms", "50ms"]

[[scenarios]]
name = "forced"
type = "config_update"
repetitions = 20
"""


def test_a_suite_run_labels_invoke_probes_from_the_platform_and_forces_20_of_20_cold(
        tmp_path: Path) -> None:
    suite_path = tmp_path / "suite.toml"
    suite_path.write_text(SUITE.format(functions=FUNCTIONS_DIR.as_posix()), encoding="utf-8")
    outcome = execute_run(load_suite(suite_path), RunOptions(out_dir=tmp_path / "run", quiet=True))
    assert outcome.status == "complete" and outcome.action_errors == []
    frame = outcome.frame.sort_values("seq")
    assert frame["error"].isna().all() and (frame["status"] == 200).all()
    assert (frame["label_source"] == "platform").all()
    gaps = frame[frame["scenario"] == "gaps"]
    assert list(gaps["label"]) == ["cold", "warm", "warm"]
    assert gaps["platform_init_ms"].iloc[0] > 0 and gaps["platform_init_ms"].iloc[1:].isna().all()
    forced = frame[frame["scenario"] == "forced"]
    assert len(forced) == 20 and (forced["label"] == "cold").sum() == 20
    assert (forced["platform_init_ms"] > 0).all()
    assert forced["billed_ms"].notna().all()
