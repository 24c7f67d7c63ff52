"""Function-URL surface, container mode, ground-truth headers and the truth log, end to end."""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from sandbox_helpers import FUNCTIONS_DIR, get_json, http, instances, post, truth, write_function

from coldbench.sandbox.process import SandboxProcess

ECHO = """
    import instrument
    @instrument.instrument_lambda
    def handler(event, context):
        return {"method": event["requestContext"]["http"]["method"], "path": event["rawPath"],
                "query": event.get("queryStringParameters"), "body": event.get("body"),
                "b64": event["isBase64Encoded"], "cookies": event.get("cookies"),
                "header": event["headers"].get("x-test")}
"""
SHAPED = """
    import base64
    def handler(event, context):
        kind = (event.get("queryStringParameters") or {}).get("kind")
        if kind == "binary":
            return {"statusCode": 201, "headers": {"content-type": "image/png"},
                    "body": base64.b64encode(b"\\x89PNG").decode(), "isBase64Encoded": True}
        if kind == "cookies":
            return {"statusCode": 200, "cookies": ["a=1", "b=2"], "body": "ok",
                    "headers": {"content-type": "text/plain"}}
        if kind == "string":
            return "just a string"
        if kind == "error":
            raise RuntimeError("nope")
        return {"no": "statusCode"}
"""


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    root = tmp_path_factory.mktemp("functions")
    shutil.copytree(FUNCTIONS_DIR / "hello", root / "hello")
    shutil.copytree(FUNCTIONS_DIR / "sleepy", root / "sleepy")
    write_function(root, "echo", ECHO)
    write_function(root, "shaped", SHAPED)
    write_function(root, "blackbox", ECHO, 'ground_truth_headers = false\ncontainer_workers = 0\n')
    write_function(root, "own", ECHO, 'ground_truth_headers = "instrumented"\ncontainer_workers = 0\n')
    overrides: dict[str, dict[str, Any]] = {"hello": {"container_workers": 2}, "sleepy": {"container_workers": 1}}
    with SandboxProcess(root, overrides) as process:
        yield process


def test_request_becomes_a_payload_v2_event(sandbox: SandboxProcess) -> None:
    status, headers, body = http(f"{sandbox.url}/fn/echo/a/b?x=1&x=2&y=", method="POST", body=b'{"k": 1}',
                                 headers={"Content-Type": "application/json", "X-Test": "yes", "Cookie": "c=1; d=2"})
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    event = json.loads(body)
    assert event == {"method": "POST", "path": "/a/b", "query": {"x": "1,2", "y": ""}, "body": '{"k": 1}',
                     "b64": False, "cookies": ["c=1", "d=2"], "header": "yes"}


def test_binary_request_body_is_base64(sandbox: SandboxProcess) -> None:
    _, _, body = http(f"{sandbox.url}/fn/echo/", method="PUT", body=b"\x00\x01",
                      headers={"Content-Type": "application/octet-stream"})
    event = json.loads(body)
    assert event["b64"] is True and base64.b64decode(event["body"]) == b"\x00\x01"


@pytest.mark.parametrize(
    ("kind", "status", "content_type", "body"),
    [
        ("binary", 201, "image/png", b"\x89PNG"),
        ("string", 200, "application/json", b'"just a string"'),
        ("plain", 200, "application/json", b'{"no": "statusCode"}'),
        ("error", 502, "application/json", b'{"Message":"Internal Server Error"}'),
    ],
)
def test_results_map_to_responses_by_function_url_rules(sandbox: SandboxProcess, kind: str, status: int,
                                                         content_type: str, body: bytes) -> None:
    got_status, headers, got_body = http(f"{sandbox.url}/fn/shaped/?kind={kind}")
    assert (got_status, headers["Content-Type"], got_body) == (status, content_type, body)


def test_cookies_become_set_cookie_headers(sandbox: SandboxProcess) -> None:
    status, headers, body = http(f"{sandbox.url}/fn/shaped/?kind=cookies")
    assert (status, body) == (200, b"ok") and headers.get_all("Set-Cookie") == ["a=1", "b=2"]


def test_unknown_function_is_404_and_names_cannot_escape(sandbox: SandboxProcess) -> None:
    assert http(f"{sandbox.url}/fn/nope/")[0] == 404
    assert http(f"{sandbox.url}/fn/..%2F..%2Fetc/")[0] == 404
    assert http(f"{sandbox.url}/fn/%2E%2E/")[0] == 404


def test_truth_headers_modes(sandbox: SandboxProcess) -> None:
    _, platform, _ = http(f"{sandbox.url}/fn/echo/")
    live = {i["id"] for i in instances(sandbox.url, "echo")}
    assert platform["X-Coldbench-Instance"] in live  # the sandbox's own id
    _, black, _ = http(f"{sandbox.url}/fn/blackbox/")
    assert not [k for k in black if k.lower().startswith("x-coldbench-")]
    _, own, _ = http(f"{sandbox.url}/fn/own/")
    assert own["X-Coldbench-Invocation"] == "1" and "X-Coldbench-Init-Ms" in own
    assert own["X-Coldbench-Instance"] == instances(sandbox.url, "own")[0]["id"]  # via COLDBENCH_INSTANCE_ID


def test_warmer_ping_answers_without_running_the_handler(sandbox: SandboxProcess) -> None:
    status, headers, body = http(f"{sandbox.url}/fn/sleepy/?ms=5000", headers={"X-Coldbench-Warmer": "1"})
    reply = json.loads(body)
    assert status == 200 and reply["coldbench_warmer"] is True
    assert reply["instance"] == headers["X-Coldbench-Instance"]


def test_truth_log_filters(sandbox: SandboxProcess) -> None:
    http(f"{sandbox.url}/fn/hello/")
    records = truth(sandbox.url, "hello")
    assert records and all(r["function"] == "hello" for r in records)
    last = records[-1]["seq"]
    http(f"{sandbox.url}/fn/hello/")
    newer = truth(sandbox.url, "hello", since=last)
    assert len(newer) == 1 and newer[0]["seq"] > last and newer[0]["cold"] is False
    assert http(f"{sandbox.url}/_sandbox/invocations?since=x")[0] == 400


def test_container_mode_serves_the_same_handler_without_cold_starts(sandbox: SandboxProcess) -> None:
    seen = []
    for _ in range(4):
        status, headers, body = http(f"{sandbox.url}/container/hello/")
        assert status == 200 and json.loads(body)["message"] == "hello"
        assert int(headers["X-Coldbench-Invocation"]) >= 2  # 1 was the readiness probe
        seen.append(headers["X-Coldbench-Instance"])
    assert set(seen) == {"hello-c1", "hello-c2"}  # two always-on workers, round robin
    records = [r for r in truth(sandbox.url, "hello") if r["surface"] == "container"]
    assert len(records) == 4 and not any(r["cold"] for r in records)
    status, _, body = http(f"{sandbox.url}/container/sleepy/?ms=20")
    assert status == 200 and json.loads(body)["ms"] == 20
    assert http(f"{sandbox.url}/container/echo/")[0] == 404  # container_workers = 0


def test_sandbox_endpoints(sandbox: SandboxProcess) -> None:
    health = get_json(f"{sandbox.url}/_sandbox/health")
    assert health["status"] == "ok" and health["tmp_isolation"] in ("namespace", "tmpdir")
    settings = get_json(f"{sandbox.url}/_sandbox/functions")
    assert settings["hello"]["container_workers"] == 2
    http(f"{sandbox.url}/fn/echo/")
    reply = post(f"{sandbox.url}/_sandbox/functions/echo/recycle")
    assert reply["recycled"] == "echo"
    _, headers, _ = http(f"{sandbox.url}/fn/echo/")
    assert headers["X-Coldbench-Invocation"] == "1"
    updated = post(f"{sandbox.url}/_sandbox/functions/echo/settings", {"keep_alive": "2s", "memory_mb": 256})
    assert updated["memory_mb"] == 256 and updated["keep_alive"] == "2s"
    assert http(f"{sandbox.url}/_sandbox/functions/echo/settings", "POST", b'{"bogus": 1}')[0] == 400
