"""Lambda Invoke API: `POST /2015-03-31/functions/<name>/invocations`.

Behaves as AWS does for botocore/aiobotocore clients pointed at the sandbox with `endpoint_url`:
- `X-Amz-Invocation-Type`: RequestResponse (200 + payload), Event (202, runs in background),
  DryRun (204).
- Function errors (handler exception, timeout, init error, crash): 200 with
  `X-Amz-Function-Error: Unhandled` and Lambda's error body.
- `X-Amz-Log-Type: Tail` adds `X-Amz-Log-Result`: base64 of the last 4 KB of START, the
  function's output, END and a REPORT line with Duration, Billed Duration, Memory Size,
  Max Memory Used and, on cold invocations, Init Duration.
- `X-Amz-Client-Context` (base64 JSON) reaches the handler as `context.client_context`.
- Throttles: 429 TooManyRequestsException; unknown function: 404 ResourceNotFoundException.
The function name may be a name, `name:qualifier`, or an ARN; qualifiers are accepted and ignored.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import time
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from aiohttp import web

from coldbench.sandbox import control_api
from coldbench.sandbox.config import billed_ms
from coldbench.sandbox.instance import InvocationResult
from coldbench.sandbox.pool import FunctionPool, Throttled
from coldbench.sandbox.shapes import (
    api_error,
    format_log_tail,
    function_arn,
    function_name_from,
    not_found,
    too_many_requests,
)

if TYPE_CHECKING:
    from coldbench.sandbox.lambda_platform import Platform


def add_routes(app: web.Application, platform: Platform) -> None:
    """Register the Invoke route on the public app."""
    background: set[asyncio.Task[Any]] = set()

    async def invoke(request: web.Request) -> web.StreamResponse:
        arrived_ns, started_at = time.perf_counter_ns(), time.time()
        name = function_name_from(request.match_info["name"])
        pool = control_api.resolve_pool(request, platform)  # a version or alias has its own pool
        if pool is None:
            return _response(*not_found(f"Function not found: {function_arn(name)}"))
        payload = await request.read() or b"{}"
        try:
            json.loads(payload)
        except ValueError as exc:
            return _response(*api_error("InvalidRequestContentException", f"Could not parse request body into json: {exc}", 400))
        try:
            client_context = _client_context(request.headers.get("X-Amz-Client-Context"))
        except ValueError:
            return _response(*api_error("InvalidRequestContentException", "Client context must be base64 JSON", 400))
        invocation_type = request.headers.get("X-Amz-Invocation-Type", "RequestResponse")
        if invocation_type == "DryRun":
            return web.Response(status=204)
        call = _invoke_and_record(platform, pool, payload, client_context, arrived_ns, started_at)
        if invocation_type == "Event":
            task = asyncio.get_running_loop().create_task(_drop_result(call))
            background.add(task)
            task.add_done_callback(background.discard)
            return web.Response(status=202)
        try:
            result = await call
        except Throttled as exc:
            return _response(*too_many_requests(exc.reason))
        headers = {"X-Amz-Executed-Version": control_api.executed_version(pool), "x-amzn-RequestId": result.request_id,
                   "Content-Type": "application/json"}
        if result.function_error:
            headers["X-Amz-Function-Error"] = "Unhandled"
        if request.headers.get("X-Amz-Log-Type") == "Tail":
            headers["X-Amz-Log-Result"] = _log_tail(pool, result)
        return web.Response(status=200, body=result.payload, headers=headers)

    app.router.add_post("/2015-03-31/functions/{name}/invocations", invoke)


async def _invoke_and_record(
    platform: Platform, pool: FunctionPool, payload: bytes, client_context: str | None, arrived_ns: int, started_at: float
) -> InvocationResult:
    record = {"function": pool.settings.name, "surface": "invoke", "started_at": started_at}
    try:
        result = await pool.invoke(payload, client_context)
    except Throttled:
        platform.truth.record(**record, request_id=None, instance_id=None, cold=False, invocation_n=None, init_ms=None,
                              duration_ms=None, latency_ms=(time.perf_counter_ns() - arrived_ns) / 1e6,
                              outcome="throttled", error_type="TooManyRequestsException", status=429)
        raise
    platform.truth.record(**record, request_id=result.request_id, instance_id=result.instance_id, cold=result.cold,
                          invocation_n=result.invocation_n, init_ms=result.init_ms, duration_ms=result.duration_ms,
                          latency_ms=(time.perf_counter_ns() - arrived_ns) / 1e6, outcome=result.outcome,
                          error_type=result.error_type, status=200)
    return result


async def _drop_result(call: Coroutine[Any, Any, InvocationResult]) -> None:
    try:
        await call
    except Throttled:
        pass  # an async invocation that is throttled is dropped (the truth record says so)


def _client_context(header: str | None) -> str | None:
    if not header:
        return None
    try:
        decoded = base64.b64decode(header, validate=True).decode("utf-8")
        json.loads(decoded)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise ValueError("bad client context") from exc
    return decoded


def _log_tail(pool: FunctionPool, result: InvocationResult) -> str:
    return format_log_tail(
        result.request_id,
        result.log_text,
        result.duration_ms,
        billed_ms(result.duration_ms or 0.0),
        pool.settings.memory_mb,
        result.memory_used_mb,
        result.init_ms,
    )


def _response(status: int, headers: dict[str, str], body: bytes) -> web.Response:
    return web.Response(status=status, headers=headers, body=body)
