"""Pure parts of the sandbox: settings, keep-alive draws, name checks, function-URL mapping,
Lambda shapes."""

from __future__ import annotations

import base64
import json
import random
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sandbox_helpers import FUNCTIONS_DIR, write_function

from coldbench.errors import ConfigError
from coldbench.sandbox.config import (
    KeepAlive,
    build_sandbox_settings,
    load_function,
    load_functions,
    load_sandbox_table,
    parse_keep_alive,
)
from coldbench.sandbox.function_url import apply_truth_headers, build_event, build_http_response
from coldbench.sandbox.shapes import crash_payload, format_log_tail, function_name_from


def test_sample_functions_load_with_their_settings() -> None:
    functions = load_functions(build_sandbox_settings({"functions": str(FUNCTIONS_DIR)}, Path.cwd()))
    assert {"hello", "heavy", "sleepy"} <= set(functions)
    assert functions["heavy"].memory_mb == 256 and functions["sleepy"].timeout_s == 10.0


def test_keep_alive_forms() -> None:
    assert parse_keep_alive("4s", "k") == KeepAlive("fixed", 4.0)
    uniform = parse_keep_alive({"dist": "uniform", "low": "3s", "high": "6s"}, "k")
    assert (uniform.low_s, uniform.high_s) == (3.0, 6.0)
    assert parse_keep_alive({"dist": "exponential", "mean": "500ms"}, "k").value_s == 0.5
    with pytest.raises(ConfigError, match="k.dist"):
        parse_keep_alive({"dist": "pareto", "mean": 1}, "k")
    with pytest.raises(ConfigError, match="needs exactly"):
        parse_keep_alive({"dist": "uniform", "low": 1}, "k")
    with pytest.raises(ConfigError, match="high must be"):
        parse_keep_alive({"dist": "uniform", "low": 5, "high": 1}, "k")


@given(st.integers(min_value=0, max_value=2**32), st.floats(min_value=0, max_value=100), st.floats(min_value=0, max_value=100))
def test_uniform_keep_alive_draws_stay_in_bounds_and_are_seeded(seed: int, a: float, b: float) -> None:
    keep_alive = KeepAlive("uniform", (a + b) / 2, min(a, b), max(a, b))
    draws = [keep_alive.draw_s(random.Random(seed)) for _ in range(2)]
    assert draws[0] == draws[1] and min(a, b) <= draws[0] <= max(a, b)


def test_exponential_keep_alive_has_the_requested_mean() -> None:
    rng = random.Random(7)
    draws = [KeepAlive("exponential", 5.0).draw_s(rng) for _ in range(20000)]
    assert abs(sum(draws) / len(draws) - 5.0) < 0.2


@pytest.mark.parametrize("name", ["..", "../etc", "a/b", "", "x" * 65, "name with space", "a.b"])
def test_names_that_could_escape_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigError, match="not a valid function name"):
        load_function(tmp_path, name)


def test_symlink_out_of_the_functions_dir_is_refused(tmp_path: Path) -> None:
    outside = write_function(tmp_path / "outside", "evil", "def handler(e, c):\n    return 1\n")
    functions = tmp_path / "functions"
    functions.mkdir()
    (functions / "evil").symlink_to(outside, target_is_directory=True)
    with pytest.raises(ConfigError, match="not a directory inside"):
        load_function(functions, "evil")


def test_settings_file_and_override_errors_name_the_key(tmp_path: Path) -> None:
    write_function(tmp_path, "f", "def handler(e, c):\n    return 1\n", "memory_mb = 64\n")
    with pytest.raises(ConfigError, match=r"coldbench.toml.memory_mb: expected an integer 128..10240"):
        load_function(tmp_path, "f")
    write_function(tmp_path, "g", "def handler(e, c):\n    return 1\n", "timeout = \"2s\"\n")
    with pytest.raises(ConfigError, match=r"\[sandbox.overrides.g\]: unknown key 'keepalive'"):
        load_function(tmp_path, "g", {"keepalive": "1s"})
    assert load_function(tmp_path, "g", {"init_delay_ms": "1.5s"}).init_delay_ms == 1500.0
    with pytest.raises(ConfigError, match="handler module"):
        load_function(tmp_path, "g", {"handler": "missing.handler"})


def test_sandbox_table_from_a_suite_file(tmp_path: Path) -> None:
    suite = tmp_path / "suite.toml"
    suite.write_text('[sandbox]\nfunctions = "fns"\nseed = 3\n[sandbox.overrides.hello]\nkeep_alive = "4s"\n')
    table = load_sandbox_table(suite)
    settings = build_sandbox_settings(table, tmp_path)
    assert settings.functions_dir == tmp_path / "fns" and settings.seed == 3
    assert settings.overrides == {"hello": {"keep_alive": "4s"}}
    with pytest.raises(ConfigError, match="unknown key 'colour'"):
        build_sandbox_settings({"colour": 1}, tmp_path)


def test_event_from_request() -> None:
    event = build_event("post", "/p", "a=1&a=2", [("X-A", "1"), ("x-a", "2"), ("Cookie", "k=v; j=w")], b"\xff",
                        request_id="r")
    assert event["version"] == "2.0" and event["rawPath"] == "/p" and event["rawQueryString"] == "a=1&a=2"
    assert event["headers"] == {"x-a": "1,2"} and event["cookies"] == ["k=v", "j=w"]
    assert event["queryStringParameters"] == {"a": "1,2"}
    assert event["requestContext"]["http"]["method"] == "POST" and event["requestContext"]["requestId"] == "r"
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == b"\xff"


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(),
                    lambda children: st.lists(children) | st.dictionaries(st.text(), children), max_leaves=8))
def test_any_json_value_without_status_code_is_a_200_json_body(value: object) -> None:
    payload = json.dumps(value).encode()
    status, headers, body = build_http_response(payload)
    if isinstance(value, dict) and "statusCode" in value:
        return
    assert (status, headers, body) == (200, [("Content-Type", "application/json")], payload)


def test_status_code_result_mapping() -> None:
    payload = json.dumps({"statusCode": 404, "headers": {"X-A": "1"}, "cookies": ["c=1"], "body": "gone"}).encode()
    assert build_http_response(payload) == (404, [("X-A", "1"), ("Set-Cookie", "c=1"),
                                                  ("Content-Type", "application/json")], b"gone")
    binary = json.dumps({"statusCode": 200, "body": base64.b64encode(b"\x00").decode(), "isBase64Encoded": True})
    assert build_http_response(binary.encode())[2] == b"\x00"
    assert build_http_response(b'{"statusCode": "teapot"}')[0] == 502


def test_truth_header_modes() -> None:
    sent = [("X-Coldbench-Instance", "fn-own"), ("X-Other", "1")]
    assert apply_truth_headers(sent, "instrumented", "i-1", 1, 5.0) == sent
    assert apply_truth_headers(sent, False, "i-1", 1, 5.0) == [("X-Other", "1")]
    assert apply_truth_headers(sent, True, "i-1", 2, None) == [
        ("X-Other", "1"), ("X-Coldbench-Instance", "i-1"), ("X-Coldbench-Invocation", "2")]


def test_log_tail_is_the_last_4kb_and_reports_init_only_when_cold() -> None:
    cold = base64.b64decode(format_log_tail("r", "x" * 10000, 1.234, 2, 128, 40, 95.5)).decode()
    assert len(cold.encode()) == 4096 and cold.endswith("Init Duration: 95.50 ms\t\n")
    warm = base64.b64decode(format_log_tail("r", "hi\n", 1.0, 1, 128, None, None)).decode()
    assert warm.startswith("START RequestId: r Version: $LATEST\nhi\nEND RequestId: r\nREPORT")
    assert "Init Duration" not in warm and "Billed Duration: 1 ms" in warm


def test_function_identifiers_and_crash_bodies() -> None:
    assert function_name_from("hello") == "hello"
    assert function_name_from("hello:live") == "hello"
    assert function_name_from("arn:aws:lambda:us-east-1:1:function:hello:3") == "hello"
    assert json.loads(crash_payload("r", -9))["errorMessage"].endswith("signal: killed")
    assert json.loads(crash_payload("r", 3))["errorType"] == "Runtime.ExitError"
