"""The Lambda Runtime API (2018-06-01) that awslambdaric talks to, one port per instance.

Each instance gets its own listening socket on 127.0.0.1 (port 0), all served by one aiohttp
app; a request is attributed to its instance by the local port it arrived on. This needs no
change to the runtime client (AWS_LAMBDA_RUNTIME_API is just `127.0.0.1:<port>`), and a stale
process can never act on another instance's invocations.

    GET  /2018-06-01/runtime/invocation/next              long poll; first call = init done
    POST /2018-06-01/runtime/invocation/{id}/response     202
    POST /2018-06-01/runtime/invocation/{id}/error        202 (Lambda-Runtime-Function-Error-Type)
    POST /2018-06-01/runtime/init/error                   202; the runtime then exits
"""

from __future__ import annotations

import socket
import time
import uuid
from dataclasses import dataclass

from aiohttp import web

from coldbench.sandbox.instance import Instance, InstanceGone
from coldbench.sandbox.pool import FunctionPool
from coldbench.sandbox.shapes import function_arn

PREFIX = "/2018-06-01/runtime"
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024 + 1024  # Lambda's 6 MB synchronous payload limit
ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type"
ACCEPTED = b'{"status":"OK"}'


@dataclass(slots=True)
class _Binding:
    pool: FunctionPool
    instance: Instance
    site: web.SockSite


class RuntimeServer:
    """Serves the Runtime API on per-instance loopback ports."""

    def __init__(self) -> None:
        app = web.Application(client_max_size=MAX_PAYLOAD_BYTES)
        app.router.add_get(f"{PREFIX}/invocation/next", self._next)
        app.router.add_post(f"{PREFIX}/invocation/{{request_id}}/response", self._response)
        app.router.add_post(f"{PREFIX}/invocation/{{request_id}}/error", self._error)
        app.router.add_post(f"{PREFIX}/init/error", self._init_error)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        self._bindings: dict[int, _Binding] = {}

    async def start(self) -> None:
        """Prepare the app (no port is open until an instance asks for one)."""
        await self._runner.setup()

    async def stop(self) -> None:
        """Close every port."""
        await self._runner.cleanup()

    async def open_port(self, pool: FunctionPool, instance: Instance) -> int:
        """Listen on a fresh 127.0.0.1 port for `instance` and return the port."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        site = web.SockSite(self._runner, sock)
        await site.start()
        self._bindings[port] = _Binding(pool, instance, site)
        return port

    async def close_port(self, port: int) -> None:
        """Stop listening on an instance's port."""
        binding = self._bindings.pop(port, None)
        if binding is not None:
            await binding.site.stop()

    def _lookup(self, request: web.Request) -> _Binding:
        sockname = request.transport.get_extra_info("sockname") if request.transport else None
        binding = self._bindings.get(sockname[1]) if sockname else None
        if binding is None or binding.instance.state == "dead":
            raise web.HTTPGone(text="instance is gone")
        return binding

    async def _next(self, request: web.Request) -> web.StreamResponse:
        binding = self._lookup(request)
        pool, instance = binding.pool, binding.instance
        pool.on_next(instance)
        try:
            invocation = await instance.take()
        except InstanceGone:
            raise web.HTTPGone(text="instance is gone") from None
        pool.arm_timeout(instance, invocation)
        headers = {
            "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
            "Lambda-Runtime-Deadline-Ms": str(int((time.time() + pool.settings.timeout_s) * 1000)),
            "Lambda-Runtime-Invoked-Function-Arn": function_arn(pool.settings.name),
            "Lambda-Runtime-Trace-Id": f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Sampled=0",
            "Content-Type": "application/json",
        }
        if invocation.client_context:
            headers["Lambda-Runtime-Client-Context"] = invocation.client_context
        return web.Response(body=invocation.event, headers=headers)

    async def _response(self, request: web.Request) -> web.StreamResponse:
        binding = self._lookup(request)
        payload = await request.read()
        if not binding.pool.on_response(binding.instance, request.match_info["request_id"], payload, None):
            return _invalid_request_id()
        return web.Response(status=202, body=ACCEPTED, content_type="application/json")

    async def _error(self, request: web.Request) -> web.StreamResponse:
        binding = self._lookup(request)
        payload = await request.read()
        error_type = request.headers.get(ERROR_TYPE_HEADER, "Unhandled")
        if not binding.pool.on_response(binding.instance, request.match_info["request_id"], payload, error_type):
            return _invalid_request_id()
        return web.Response(status=202, body=ACCEPTED, content_type="application/json")

    async def _init_error(self, request: web.Request) -> web.StreamResponse:
        binding = self._lookup(request)
        payload = await request.read()
        error_type = request.headers.get(ERROR_TYPE_HEADER, "Runtime.Unknown")
        binding.pool.on_init_error(binding.instance, payload, error_type)
        return web.Response(status=202, body=ACCEPTED, content_type="application/json")


def _invalid_request_id() -> web.Response:
    return web.json_response({"errorMessage": "Invalid request ID", "errorType": "InvalidRequestID"}, status=400)
