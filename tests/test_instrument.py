"""coldbench/instrument.py: truth headers, warmer pings, WSGI/ASGI middleware, stdlib only."""

from __future__ import annotations

import ast
import asyncio
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

INSTRUMENT = Path(__file__).resolve().parent.parent / "coldbench" / "instrument.py"
HTTP_EVENT = {"version": "2.0", "rawPath": "/", "headers": {}, "requestContext": {"http": {"method": "GET"}}}


def fresh_instrument(monkeypatch: pytest.MonkeyPatch, instance_id: str | None = None) -> ModuleType:
    """A freshly imported copy (its own counter and init clock), as in a new process."""
    if instance_id is None:
        monkeypatch.delenv("COLDBENCH_INSTANCE_ID", raising=False)
    else:
        monkeypatch.setenv("COLDBENCH_INSTANCE_ID", instance_id)
    spec = importlib.util.spec_from_file_location(f"instrument_{time.perf_counter_ns()}", INSTRUMENT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_imports_only_the_standard_library() -> None:
    tree = ast.parse(INSTRUMENT.read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert imported - {"__future__"} <= set(sys.stdlib_module_names)
    # And it really works alone: no site-packages, nothing but its own directory on the path.
    result = subprocess.run([sys.executable, "-S", "-I", "-c", "import sys; sys.path.insert(0, sys.argv[1]); "
                             "import instrument; print(instrument.INSTANCE_ID)", str(INSTRUMENT.parent)],
                            capture_output=True, text=True, timeout=30, env={"PATH": os.environ.get("PATH", "")})
    assert result.returncode == 0 and len(result.stdout.strip()) == 16


def test_http_invocations_carry_truth_headers(monkeypatch: pytest.MonkeyPatch) -> None:
    instrument = fresh_instrument(monkeypatch, "fn-7")

    @instrument.instrument_lambda
    def handler(event: Any, context: Any) -> Any:
        return {"ok": True}

    first = handler(HTTP_EVENT, None)
    assert first["statusCode"] == 200 and json.loads(first["body"]) == {"ok": True}
    assert first["headers"]["X-Coldbench-Instance"] == "fn-7"
    assert first["headers"]["X-Coldbench-Invocation"] == "1"
    assert float(first["headers"]["X-Coldbench-Init-Ms"]) >= 0
    second = handler(HTTP_EVENT, None)
    assert second["headers"]["X-Coldbench-Invocation"] == "2" and "X-Coldbench-Init-Ms" not in second["headers"]


def test_status_code_results_keep_their_headers(monkeypatch: pytest.MonkeyPatch) -> None:
    instrument = fresh_instrument(monkeypatch)

    @instrument.instrument_lambda
    def handler(event: Any, context: Any) -> Any:
        return {"statusCode": 201, "headers": {"X-Mine": "1"}, "body": "made"}

    result = handler(HTTP_EVENT, None)
    assert result["statusCode"] == 201 and result["body"] == "made"
    assert result["headers"]["X-Mine"] == "1" and len(result["headers"]["X-Coldbench-Instance"]) == 16


def test_direct_invocations_are_counted_but_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    instrument = fresh_instrument(monkeypatch)

    @instrument.instrument_lambda
    def handler(event: Any, context: Any) -> Any:
        return [event]

    assert handler({"a": 1}, None) == [{"a": 1}]
    assert handler(HTTP_EVENT, None)["headers"]["X-Coldbench-Invocation"] == "2"


def test_init_ms_runs_from_import_to_ready(monkeypatch: pytest.MonkeyPatch) -> None:
    instrument = fresh_instrument(monkeypatch)
    time.sleep(0.05)
    instrument.mark_ready()
    time.sleep(0.05)
    assert 50 <= instrument.init_ms() < 100


def test_warmer_events_skip_the_handler_and_hold(monkeypatch: pytest.MonkeyPatch) -> None:
    instrument = fresh_instrument(monkeypatch, "fn-1")
    calls = []

    @instrument.instrument_lambda
    def handler(event: Any, context: Any) -> Any:
        calls.append(event)
        return "ran"

    started = time.perf_counter()
    reply = handler({"coldbench_warmer": True, "hold_ms": 60}, None)
    assert time.perf_counter() - started >= 0.06
    assert reply["instance"] == "fn-1" and reply["invocation"] == 1 and "init_ms" in reply
    http_ping = dict(HTTP_EVENT, headers={"X-Coldbench-Warmer": "1"})
    answer = handler(http_ping, None)
    assert json.loads(answer["body"])["invocation"] == 2 and answer["headers"]["X-Coldbench-Instance"] == "fn-1"
    body_ping = dict(HTTP_EVENT, body='{"coldbench_warmer": true}')
    assert json.loads(handler(body_ping, None)["body"])["coldbench_warmer"] is True
    assert calls == []


def test_wsgi_middleware(monkeypatch: pytest.MonkeyPatch) -> None:
    instrument = fresh_instrument(monkeypatch, "w-1")

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"hi"]

    wrapped = instrument.InstrumentedWSGI(app)
    seen: list[tuple[str, list[tuple[str, str]]]] = []
    assert wrapped({}, lambda status, headers: seen.append((status, headers))) == [b"hi"]
    assert ("X-Coldbench-Invocation", "1") in seen[0][1] and ("X-Coldbench-Instance", "w-1") in seen[0][1]
    body = wrapped({"HTTP_X_COLDBENCH_WARMER": "1", "QUERY_STRING": "hold_ms=1"},
                   lambda status, headers: seen.append((status, headers)))
    assert json.loads(body[0])["invocation"] == 2


def test_asgi_middleware(monkeypatch: pytest.MonkeyPatch) -> None:
    instrument = fresh_instrument(monkeypatch, "a-1")

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"hi"})

    wrapped = instrument.InstrumentedASGI(app)
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request"}

    asyncio.run(wrapped({"type": "http", "headers": []}, receive, send))
    assert (b"x-coldbench-invocation", b"1") in sent[0]["headers"]
    asyncio.run(wrapped({"type": "http", "headers": [(b"x-coldbench-warmer", b"1")], "query_string": b""}, receive, send))
    assert json.loads(sent[-1]["body"]) == {"coldbench_warmer": True, "instance": "a-1", "invocation": 2}


def test_first_invocation_says_how_long_the_ready_instance_waited(monkeypatch: pytest.MonkeyPatch) -> None:
    """An instance initialised ahead (provisioned, proactive init) waits for its first request;
    an on-demand cold start hands it over at once. The header tells them apart."""
    instrument = fresh_instrument(monkeypatch, "pre-1")

    @instrument.instrument_lambda
    def handler(event: Any, context: Any) -> Any:
        return {"ok": True}

    time.sleep(0.6)  # ready, then idle until the first request
    first = handler(HTTP_EVENT, None)
    assert float(first["headers"]["X-Coldbench-Ready-Idle-Ms"]) >= 600
    assert "X-Coldbench-Ready-Idle-Ms" not in handler(HTTP_EVENT, None)["headers"]
    at_once = fresh_instrument(monkeypatch, "cold-1")
    reply = at_once.instrument_lambda(lambda e, c: {})({"coldbench_warmer": True}, None)
    assert reply["invocation"] == 1 and 0 <= reply["ready_idle_ms"] < 500
