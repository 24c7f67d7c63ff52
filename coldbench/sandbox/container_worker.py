"""One always-on container worker: the function's handler behind a plain HTTP/1.1 server.

Run by path as `python -S .../container_worker.py` with the listening socket inherited as fd
`COLDBENCH_LISTEN_FD`. Standard library only. It imports the handler at start (the container's
init, paid before any request), answers one request at a time (a sync worker, as gunicorn's),
turns each request into the same payload-2.0 event a function URL would send, and maps the
handler's result back by the function-URL rules, so the very same handler code is measured.

Readiness: after import it sends itself one warmer ping when the handler is instrumented
(as a container's readiness probe would hit the app), so instrument.py's invocation count starts
at the probe and user requests are never labelled cold. It then prints `READY_LINE`.
Its own count travels in `X-Coldbench-Worker-Invocation` for the sandbox to use as ground truth.
"""

from __future__ import annotations

import os
import sys

# Run by path, so sys.path[0] is this directory: its module names must not shadow the stdlib
# or the handler's modules, so it goes before anything else is imported.
if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    sys.path.pop(0)

import importlib
import importlib.util
import json
import socket
import time
import traceback
import uuid
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

READY_LINE = "coldbench-container-ready"
HERE = Path(__file__).resolve().parent
_mapping: Any = None  # function_url.py, loaded by main() (importing this module stays cheap)


def _load_private(name: str) -> ModuleType:
    """Load a sibling module under a private name (the handler must not see our modules)."""
    spec = importlib.util.spec_from_file_location(f"_coldbench_{name}", HERE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class ContainerContext:
    """The subset of Lambda's context object a handler commonly uses."""

    def __init__(self, request_id: str, timeout_s: float) -> None:
        env = os.environ
        self.function_name = env.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:000000000000:function:{self.function_name}"
        self.memory_limit_in_mb = env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.aws_request_id = request_id
        self.log_group_name = env.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = env.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = None
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the (nominal) function timeout."""
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def map_result(result: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    """Map a handler's return value to an HTTP response by the function-URL rules."""
    if isinstance(result, dict) and "statusCode" in result:
        return _mapping.build_http_response_from(result)
    return 200, [("Content-Type", "application/json")], json.dumps(result).encode()


class Worker:
    """The imported handler plus this worker's invocation count."""

    def __init__(self, handler_spec: str, timeout_s: float) -> None:
        module_name, function_name = handler_spec.rsplit(".", 1)
        self.handler = getattr(importlib.import_module(module_name), function_name)
        self.timeout_s = timeout_s
        self.invocations = 0

    def invoke(self, method: str, target: str, headers: list[tuple[str, str]], body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        """Run the handler for one HTTP request."""
        self.invocations += 1
        path, _, query = target.partition("?")
        request_id = str(uuid.uuid4())
        event = _mapping.build_event(method, path, query, headers, body, request_id=request_id)
        try:
            status, out_headers, raw = map_result(self.handler(event, ContainerContext(request_id, self.timeout_s)))
        except Exception:
            traceback.print_exc()
            status, out_headers, raw = 502, [("Content-Type", "application/json")], b'{"Message":"Internal Server Error"}'
        out_headers.append(("X-Coldbench-Worker-Invocation", str(self.invocations)))
        return status, out_headers, raw


def make_request_handler(worker: Worker) -> type[BaseHTTPRequestHandler]:
    """A keep-alive HTTP/1.1 request handler class bound to `worker`."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            # Headers and body are separate writes: without NODELAY, Nagle + delayed ACK stall.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def handle_any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            status, headers, raw = worker.invoke(self.command, self.path, list(self.headers.items()), body)
            self.send_response(status)
            for name, value in headers:
                if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = handle_any

        def log_message(self, format: str, *args: Any) -> None:
            pass  # access logs would only add noise to the sandbox's output

    return Handler


def main() -> None:
    """Serve the handler on the inherited socket until killed."""
    global _mapping
    _mapping = _load_private("function_url")
    bootstrap = _load_private("bootstrap")
    env = os.environ
    task_root = env.get("LAMBDA_TASK_ROOT", os.getcwd())
    sys.path.insert(0, task_root)
    bootstrap.set_parent_death_signal(int(env.pop("COLDBENCH_SANDBOX_PID", "0")))
    listen_fd = int(env.pop("COLDBENCH_LISTEN_FD"))
    worker = Worker(env.get("_HANDLER", "handler.handler"), float(env.get("COLDBENCH_TIMEOUT_S", "3")))
    if getattr(worker.handler, "__coldbench_instrumented__", False):
        worker.invoke("GET", "/", [("x-coldbench-warmer", "1")], b"")  # readiness probe
    server = HTTPServer(("127.0.0.1", 0), make_request_handler(worker), bind_and_activate=False)
    server.socket.close()
    server.socket = socket.socket(fileno=listen_fd)
    print(READY_LINE, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
