"""The sandbox's Lambda Invoke and control APIs, driven by a real botocore client."""

from __future__ import annotations

import base64
import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sandbox_helpers import (
    FUNCTIONS_DIR,
    instances,
    lambda_client,
    log_tail,
    truth,
    wait_until,
    write_function,
)

from coldbench.sandbox.process import SandboxProcess

KEEP_ALIVE_S = 1.0


@pytest.fixture(scope="module")
def functions_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("functions")
    shutil.copytree(FUNCTIONS_DIR / "hello", root / "hello")
    write_function(root, "echo", """
        import os
        def handler(event, context):
            print("echo-log-line", flush=True)
            custom = context.client_context.custom if context.client_context else None
            return {"event": event, "custom": custom, "x": os.environ.get("X"),
                    "remaining_ms": context.get_remaining_time_in_millis()}
    """)
    write_function(root, "boom", """
        def handler(event, context):
            raise ValueError("kaboom")
    """)
    write_function(root, "badimport", """
        import does_not_exist_anywhere
        def handler(event, context):
            return 1
    """)
    write_function(root, "slow", """
        import time
        def handler(event, context):
            time.sleep(event.get("s", 0))
            return "done"
    """, 'timeout = "1s"\ncontainer_workers = 0\n')
    write_function(root, "crash", """
        import os
        def handler(event, context):
            if event.get("crash"):
                os._exit(3)
            return "alive"
    """)
    return root


@pytest.fixture(scope="module")
def sandbox(functions_dir: Path) -> Iterator[SandboxProcess]:
    overrides = {"hello": {"keep_alive": f"{KEEP_ALIVE_S}s", "container_workers": 0}}
    with SandboxProcess(functions_dir, overrides) as process:
        yield process


@pytest.fixture(scope="module")
def client(sandbox: SandboxProcess) -> Any:
    return lambda_client(sandbox.url)


def invoke(client: Any, name: str, payload: Any = None, **kwargs: Any) -> tuple[dict[str, Any], Any]:
    response = client.invoke(FunctionName=name, Payload=json.dumps(payload or {}).encode(), LogType="Tail", **kwargs)
    return response, json.loads(response["Payload"].read())


def test_init_duration_only_on_cold_invocations_and_again_after_keep_alive(client: Any) -> None:
    first, body = invoke(client, "hello")
    assert first["StatusCode"] == 200 and body["message"] == "hello"
    report = log_tail(first).strip().splitlines()[-1]
    assert report.startswith("REPORT RequestId: ")
    for field in ("Duration: ", "Billed Duration: ", "Memory Size: 128 MB", "Max Memory Used: ", "Init Duration: "):
        assert field in report
    second, _ = invoke(client, "hello")
    assert "Init Duration" not in log_tail(second)
    time.sleep(KEEP_ALIVE_S + 1.0)
    third, _ = invoke(client, "hello")
    assert "Init Duration" in log_tail(third)


def test_update_function_configuration_recycles_instances(client: Any) -> None:
    invoke(client, "echo")
    warm, _ = invoke(client, "echo")
    assert "Init Duration" not in log_tail(warm)
    updated = client.update_function_configuration(FunctionName="echo", Environment={"Variables": {"X": "42"}})
    assert updated["LastUpdateStatus"] == "Successful"
    after, body = invoke(client, "echo")
    assert "Init Duration" in log_tail(after)
    assert body["x"] == "42"
    config = client.get_function(FunctionName="echo")["Configuration"]
    assert config["Environment"]["Variables"] == {"X": "42"} and config["MemorySize"] == 128


def test_event_payload_client_context_and_function_output_reach_the_caller(client: Any) -> None:
    context = base64.b64encode(json.dumps({"custom": {"k": "v"}}).encode()).decode()
    response, body = invoke(client, "echo", {"a": [1, 2]}, ClientContext=context)
    assert body["event"] == {"a": [1, 2]} and body["custom"] == {"k": "v"}
    assert 0 < body["remaining_ms"] <= 3000
    assert "echo-log-line" in log_tail(response)


def test_handler_exception_is_an_unhandled_function_error(client: Any) -> None:
    response, body = invoke(client, "boom")
    assert response["StatusCode"] == 200 and response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "ValueError" and body["errorMessage"] == "kaboom"
    assert "kaboom" in log_tail(response)


def test_import_failure_is_a_lambda_shaped_init_error(client: Any, sandbox: SandboxProcess) -> None:
    response, body = invoke(client, "badimport")
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.ImportModuleError"
    assert "does_not_exist_anywhere" in body["errorMessage"]
    assert truth(sandbox.url, "badimport")[-1]["outcome"] == "init_error"


def test_timeout_kills_the_instance_and_the_next_invocation_is_cold(client: Any, sandbox: SandboxProcess) -> None:
    invoke(client, "slow")
    started = time.monotonic()
    response, body = invoke(client, "slow", {"s": 5})
    assert time.monotonic() - started < 3.0
    assert response["FunctionError"] == "Unhandled" and body["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in body["errorMessage"]
    after, _ = invoke(client, "slow")
    assert "Init Duration" in log_tail(after)
    records = truth(sandbox.url, "slow")
    assert [r["outcome"] for r in records[-2:]] == ["timeout", "ok"]
    assert records[-2]["instance_id"] != records[-1]["instance_id"]


def test_crashed_runtime_is_replaced_on_the_next_request(client: Any, sandbox: SandboxProcess) -> None:
    invoke(client, "crash")
    response, body = invoke(client, "crash", {"crash": True})
    assert body["errorType"] == "Runtime.ExitError" and "exit status 3" in body["errorMessage"]
    after, again = invoke(client, "crash")
    assert again == "alive" and "Init Duration" in log_tail(after)
    ended = [i for i in instances(sandbox.url, "crash", live_only=False) if i["state"] == "dead"]
    assert ended and ended[-1]["end_reason"] == "crashed"


def test_reserved_concurrency_zero_throttles_with_lambdas_error(client: Any) -> None:
    client.put_function_concurrency(FunctionName="echo", ReservedConcurrentExecutions=0)
    try:
        assert client.get_function_concurrency(FunctionName="echo")["ReservedConcurrentExecutions"] == 0
        with pytest.raises(client.exceptions.TooManyRequestsException) as caught:
            client.invoke(FunctionName="echo", Payload=b"{}")
        assert caught.value.response["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    finally:
        client.delete_function_concurrency(FunctionName="echo")
    assert invoke(client, "echo")[0]["StatusCode"] == 200


def test_unknown_function_is_resource_not_found(client: Any) -> None:
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.invoke(FunctionName="no-such-function", Payload=b"{}")
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_function(FunctionName="no-such-function")


def test_event_and_dry_run_invocation_types(client: Any, sandbox: SandboxProcess) -> None:
    assert client.invoke(FunctionName="echo", InvocationType="DryRun")["StatusCode"] == 204
    before = len(truth(sandbox.url, "echo"))
    assert client.invoke(FunctionName="echo", InvocationType="Event", Payload=b'{"async": 1}')["StatusCode"] == 202
    assert wait_until(lambda: len(truth(sandbox.url, "echo")) == before + 1)


def test_function_arn_and_qualifier_are_accepted(client: Any) -> None:
    arn = "arn:aws:lambda:us-east-1:000000000000:function:echo:live"
    assert client.invoke(FunctionName=arn, Payload=b"{}")["StatusCode"] == 200


def test_provisioned_concurrency_api_initialises_instances_ahead(client: Any, sandbox: SandboxProcess) -> None:
    put = client.put_provisioned_concurrency_config(FunctionName="echo", Qualifier="live", ProvisionedConcurrentExecutions=2)
    assert put["RequestedProvisionedConcurrentExecutions"] == 2
    try:
        assert wait_until(lambda: client.get_provisioned_concurrency_config(
            FunctionName="echo", Qualifier="live")["Status"] == "READY")
        provisioned = [i for i in instances(sandbox.url, "echo") if i["provisioned"]]
        assert len(provisioned) == 2 and all(i["state"] == "ready" for i in provisioned)
        response, _ = invoke(client, "echo")
        assert "Init Duration" not in log_tail(response)
    finally:
        client.delete_provisioned_concurrency_config(FunctionName="echo", Qualifier="live")
    with pytest.raises(client.exceptions.ProvisionedConcurrencyConfigNotFoundException):
        client.get_provisioned_concurrency_config(FunctionName="echo", Qualifier="live")
