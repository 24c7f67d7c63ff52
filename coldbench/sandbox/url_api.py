"""Function-URL surface: `ANY /fn/<name>/<path>` and container mode `ANY /container/<name>/<path>`.

A function-URL request becomes a payload-2.0 event (function_url.build_event); the result maps
back by the function-URL rules. Function errors, timeouts, init errors and crashes give 502
`{"Message":"Internal Server Error"}`; throttles give 429 with Lambda's TooManyRequestsException
body. Responses carry `x-amzn-RequestId` and the ground-truth headers as the function's
`ground_truth_headers` setting says (see function_url.apply_truth_headers).
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING

from aiohttp import web
from multidict import CIMultiDict

from coldbench.sandbox.function_url import (
    INTERNAL_ERROR,
    apply_truth_headers,
    build_event,
    build_http_response,
)
from coldbench.sandbox.pool import Throttled
from coldbench.sandbox.shapes import too_many_requests

if TYPE_CHECKING:
    from coldbench.sandbox.lambda_platform import Platform


def add_routes(app: web.Application, platform: Platform) -> None:
    """Register /fn/ and /container/ on the public app."""

    async def function_url(request: web.Request) -> web.StreamResponse:
        return await serve_function_url(platform, request)

    async def container(request: web.Request) -> web.StreamResponse:
        pool = platform.containers.get(request.match_info["name"])
        if pool is None:
            return _not_found(f"no container mode for {request.match_info['name']!r} (container_workers = 0?)")
        return await pool.serve(request, request.match_info.get("tail", ""), platform.truth)

    app.router.add_route("*", "/fn/{name}", function_url)
    app.router.add_route("*", "/fn/{name}/{tail:.*}", function_url)
    app.router.add_route("*", "/container/{name}", container)
    app.router.add_route("*", "/container/{name}/{tail:.*}", container)


async def serve_function_url(platform: Platform, request: web.Request) -> web.StreamResponse:
    """Invoke a function for one HTTP request, the way a Lambda function URL does."""
    arrived_ns, started_at = time.perf_counter_ns(), time.time()
    name = request.match_info["name"]
    pool = platform.pools.get(name)  # a lookup in the loaded table: no path is built from `name`
    if pool is None:
        return _not_found(f"function not found: {name}")
    body = await request.read()
    raw_path = "/" + request.match_info.get("tail", "")
    event = build_event(request.method, raw_path, request.query_string, request.headers.items(), body,
                        source_ip=request.remote or "127.0.0.1")
    record = {"function": name, "surface": "url", "started_at": started_at}
    try:
        result = await pool.invoke(json.dumps(event).encode())
    except Throttled as exc:
        status, api_headers, payload = too_many_requests(exc.reason)
        platform.truth.record(**record, request_id=None, instance_id=None, cold=False, invocation_n=None,
                              init_ms=None, duration_ms=None, latency_ms=(time.perf_counter_ns() - arrived_ns) / 1e6,
                              outcome="throttled", error_type="TooManyRequestsException", status=status)
        return web.Response(status=status, body=payload, headers=api_headers)
    if result.outcome == "ok":
        status, headers, payload = build_http_response(result.payload)
    else:
        status, headers, payload = 502, [("Content-Type", "application/json")], INTERNAL_ERROR
    headers = apply_truth_headers(headers, pool.settings.ground_truth_headers, result.instance_id,
                                  result.invocation_n, result.init_ms)
    headers.append(("x-amzn-RequestId", result.request_id))
    platform.truth.record(**record, request_id=result.request_id, instance_id=result.instance_id, cold=result.cold,
                          invocation_n=result.invocation_n, init_ms=result.init_ms, duration_ms=result.duration_ms,
                          latency_ms=(time.perf_counter_ns() - arrived_ns) / 1e6, outcome=result.outcome,
                          error_type=result.error_type, status=status)
    return web.Response(status=status, body=payload, headers=CIMultiDict(headers))


def _not_found(message: str) -> web.Response:
    return web.json_response({"Message": message}, status=404)
