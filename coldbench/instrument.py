"""Ground-truth headers for cold-start measurement. Standard library only: vendor this one file.

Import it FIRST in the handler module (its import starts the init clock), then wrap the handler:

    import instrument                      # or: from coldbench import instrument

    @instrument.instrument_lambda
    def handler(event, context): ...

or wrap a web app: `app = instrument.InstrumentedWSGI(app)` / `instrument.InstrumentedASGI(app)`.
Every HTTP response then carries:

- `X-Coldbench-Instance`: an id made when this module is imported (one per process; the
  sandbox passes its own id in `COLDBENCH_INSTANCE_ID` so both agree).
- `X-Coldbench-Invocation`: the count of invocations in this process, 1 = the cold one.
- `X-Coldbench-Init-Ms` (first invocation only): milliseconds from the start of this module's
  import to "handler ready", i.e. when the decorator/middleware was applied or `mark_ready()`
  was called (call it at the end of your init if work follows the decorated function). It is
  the user code's share of init: the interpreter and runtime start before it are not included
  (the platform's Init Duration includes them).
- `X-Coldbench-Ready-Idle-Ms` (first invocation only): milliseconds the ready instance waited
  for that first invocation. An on-demand cold start hands its request over right after init
  (a few ms); an instance initialised ahead of time (provisioned concurrency, proactive
  initialisation, a container started before the benchmark) waits. coldbench labels a first
  invocation that waited at least half a second `warm`: its request did not wait for init.

Direct (non-HTTP) invocations are counted but their results are returned unchanged.

Warmer pings are answered without running the handler: an event `{"coldbench_warmer": true,
"hold_ms": N}`, or an HTTP request with header `X-Coldbench-Warmer: 1` (hold from header
`X-Coldbench-Hold-Ms` or query `hold_ms`) or JSON body `{"coldbench_warmer": true, ...}`. The
ping is held `hold_ms` (at most a minute) so that concurrent pings land on distinct instances,
and the reply names the instance: `{"coldbench_warmer": true, "instance": ..., "invocation": n,
"init_ms": ...}`. Pings count as invocations.

Counts are per process: with pre-forked workers each worker counts its own invocations.
"""

from __future__ import annotations

import time

_IMPORT_NS = time.perf_counter_ns()  # first statement: the init clock starts here

import functools  # noqa: E402  (after the clock on purpose)
import itertools  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
from typing import Any  # noqa: E402

INSTANCE_HEADER = "X-Coldbench-Instance"
INVOCATION_HEADER = "X-Coldbench-Invocation"
INIT_MS_HEADER = "X-Coldbench-Init-Ms"
WARMER_HEADER = "X-Coldbench-Warmer"
HOLD_HEADER = "X-Coldbench-Hold-Ms"
MAX_HOLD_MS = 60_000

INSTANCE_ID: str = os.environ.get("COLDBENCH_INSTANCE_ID") or os.urandom(8).hex()
READY_IDLE_MS_HEADER = "X-Coldbench-Ready-Idle-Ms"
_counter = itertools.count(1)  # next() on itertools.count is atomic under the GIL
_ready_ns: int | None = None
_first_call_ns: int | None = None


def mark_ready() -> None:
    """Declare init finished now (the first call wins; decorating a handler also calls it)."""
    global _ready_ns
    if _ready_ns is None:
        _ready_ns = time.perf_counter_ns()


def init_ms() -> float:
    """Milliseconds from this module's import to handler ready (to now if not marked yet)."""
    end = _ready_ns if _ready_ns is not None else time.perf_counter_ns()
    return (end - _IMPORT_NS) / 1e6


def next_invocation() -> int:
    """Count one invocation on this instance and return its number (1 = cold)."""
    global _first_call_ns
    invocation = next(_counter)
    if invocation == 1:
        _first_call_ns = time.perf_counter_ns()
    return invocation


def ready_idle_ms() -> float:
    """Milliseconds between handler ready and the first invocation (0 when not both known)."""
    if _ready_ns is None or _first_call_ns is None:
        return 0.0
    return max(0.0, (_first_call_ns - _ready_ns) / 1e6)


def truth_headers(invocation: int) -> dict[str, str]:
    """The ground-truth headers for invocation number `invocation`."""
    headers = {INSTANCE_HEADER: INSTANCE_ID, INVOCATION_HEADER: str(invocation)}
    if invocation == 1:
        headers[INIT_MS_HEADER] = f"{init_ms():.3f}"
        headers[READY_IDLE_MS_HEADER] = f"{ready_idle_ms():.3f}"
    return headers


def warmer_reply(invocation: int, hold_ms: float) -> dict[str, Any]:
    """Hold for `hold_ms` (capped at a minute), then describe this instance."""
    if hold_ms > 0:
        time.sleep(min(hold_ms, MAX_HOLD_MS) / 1000.0)
    reply: dict[str, Any] = {"coldbench_warmer": True, "instance": INSTANCE_ID, "invocation": invocation}
    if invocation == 1:
        reply["init_ms"] = init_ms()
        reply["ready_idle_ms"] = ready_idle_ms()
    return reply


def _number(value: Any) -> float:
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):
        return 0.0


def _http_warmer_hold(event: dict[str, Any]) -> float | None:
    """hold_ms if this HTTP event is a warmer ping, else None."""
    headers = {str(k).lower(): v for k, v in (event.get("headers") or {}).items()}
    query = event.get("queryStringParameters") or {}
    if str(headers.get(WARMER_HEADER.lower(), "")).strip() in ("1", "true"):
        return _number(headers.get(HOLD_HEADER.lower(), query.get("hold_ms", 0)))
    body = event.get("body")
    if isinstance(body, str) and body.startswith("{") and "coldbench_warmer" in body:
        try:
            parsed = json.loads(body)
        except ValueError:
            return None
        if isinstance(parsed, dict) and parsed.get("coldbench_warmer"):
            return _number(parsed.get("hold_ms", 0))
    return None


def _is_http_event(event: Any) -> bool:
    """Function URL / API Gateway v2 (requestContext.http) or API Gateway v1 (httpMethod)."""
    if not isinstance(event, dict) or not isinstance(event.get("requestContext"), dict):
        return False
    return "http" in event["requestContext"] or "httpMethod" in event


def as_http_result(result: Any) -> dict[str, Any]:
    """A handler result in function-URL response form (a dict with statusCode)."""
    if isinstance(result, dict) and "statusCode" in result:
        return dict(result)
    return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": json.dumps(result)}


def _with_headers(result: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    merged = dict(result.get("headers") or {})
    merged.update(headers)
    result["headers"] = merged
    return result


def instrument_lambda(handler: Any) -> Any:
    """Decorate a Lambda handler: count invocations, answer warmers, add truth headers."""
    mark_ready()

    @functools.wraps(handler)
    def wrapper(event: Any, context: Any) -> Any:
        invocation = next_invocation()
        if isinstance(event, dict) and event.get("coldbench_warmer"):
            return warmer_reply(invocation, _number(event.get("hold_ms", 0)))
        if not _is_http_event(event):
            return handler(event, context)
        hold = _http_warmer_hold(event)
        if hold is not None:
            result = as_http_result(warmer_reply(invocation, hold))
        else:
            result = as_http_result(handler(event, context))
        return _with_headers(result, truth_headers(invocation))

    wrapper.__coldbench_instrumented__ = True  # type: ignore[attr-defined]
    return wrapper


def _query_hold(query: str) -> float:
    for part in query.split("&"):
        name, _, value = part.partition("=")
        if name == "hold_ms":
            return _number(value)
    return 0.0


class InstrumentedWSGI:
    """WSGI middleware adding the truth headers and answering warmer pings."""

    __coldbench_instrumented__ = True

    def __init__(self, app: Any) -> None:
        self.app = app
        mark_ready()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        invocation = next_invocation()
        extra = list(truth_headers(invocation).items())
        if str(environ.get("HTTP_X_COLDBENCH_WARMER", "")).strip() in ("1", "true"):
            hold = environ.get("HTTP_X_COLDBENCH_HOLD_MS") or _query_hold(environ.get("QUERY_STRING", ""))
            body = json.dumps(warmer_reply(invocation, _number(hold))).encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body))), *extra])
            return [body]

        def start_with_headers(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            if exc_info is not None:
                return start_response(status, [*headers, *extra], exc_info)
            return start_response(status, [*headers, *extra])

        return self.app(environ, start_with_headers)


class InstrumentedASGI:
    """ASGI middleware adding the truth headers and answering warmer pings (HTTP scopes only)."""

    __coldbench_instrumented__ = True

    def __init__(self, app: Any) -> None:
        self.app = app
        mark_ready()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        invocation = next_invocation()
        extra = [(k.lower().encode(), v.encode()) for k, v in truth_headers(invocation).items()]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if headers.get(WARMER_HEADER.lower(), "").strip() in ("1", "true"):
            query = scope.get("query_string", b"").decode("latin-1")
            hold_ms = _number(headers.get(HOLD_HEADER.lower()) or _query_hold(query))
            await _answer_warmer(invocation, hold_ms, send, extra)
            return

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message.get("type") == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _answer_warmer(invocation: int, hold_ms: float, send: Any, extra: list[tuple[bytes, bytes]]) -> None:
    import asyncio  # only warmers need it; keeps the module import cheap

    if hold_ms > 0:
        await asyncio.sleep(min(hold_ms, MAX_HOLD_MS) / 1000.0)
    body = json.dumps(warmer_reply(invocation, 0)).encode()
    start_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *extra]
    await send({"type": "http.response.start", "status": 200, "headers": start_headers})
    await send({"type": "http.response.body", "body": body})
