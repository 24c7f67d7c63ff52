"""A fault-injecting HTTP target on 127.0.0.1: one path per way a target can fail.

A raw asyncio server (no HTTP framework, so it can break HTTP on purpose). Run it as
`python -m coldbench.testing.fault_server`; once listening it prints one JSON line:
`{"url", "tls_url", "refused_url", "blackhole_url", "dns_url", "pid"}`. Every response closes
its connection. Each fault ends as a sample with this `error` kind (coldbench.errorkinds), as
checked by tests/test_faults.py against the real probe:

| URL                                  | the server...                                   | error           |
|--------------------------------------|-------------------------------------------------|-----------------|
| `dns_url`                            | (a `.invalid` name too long to resolve: fails   | dns             |
|                                      | inside the C library, no packet is sent)        |                 |
| `refused_url`                        | (a bound port that does not listen)             | refused         |
| `blackhole_url`                      | (a full accept queue: SYNs are dropped)         | connect_timeout |
| `tls_url` + any path                 | serves a self-signed certificate                | tls             |
| `/hang-headers`                      | reads the request, never answers                | timeout_headers |
| `/hang-body`                         | sends headers and half the body, then stalls    | timeout_body    |
| `/drip?bytes_per_s=R&bytes=N`        | sends the body at R bytes/s (slower than the    | timeout_body    |
|                                      | timeout allows; a short drip succeeds slowly)   |                 |
| `/reset`                             | resets the connection (RST) before answering    | reset           |
| `/reset-body`                        | resets the connection in the middle of the body | reset           |
| `/close`                             | closes (FIN) before sending a status line       | closed          |
| `/malformed`                         | answers with a line that is not HTTP            | malformed       |
| `/wrong-length`                      | promises 100 bytes, sends 10 and closes         | payload         |
| `/bad-chunk`                         | sends a chunked body with a broken chunk size   | timeout_body    |
|                                      | (aiohttp 3.14's C parser stalls: should be      | (payload once   |
|                                      | payload; tests/test_faults.py marks it xfail)   | fixed)          |
| `/huge?mb=N`                         | sends an N MiB body (default 64)                | too_large (200; |
|                                      |                                                 | reading stops   |
|                                      |                                                 | at the cap)     |
| `/status/<code>`                     | answers with that status                        | http_4xx/5xx    |
| `/storm`                             | answers 500, 502, 503, 504, ... in turn         | http_5xx        |
| `/429?retry_after=S`                 | answers 429 with `Retry-After: S`               | throttled       |
| `/redirect-loop`                     | redirects to itself forever                     | redirect_loop   |
| `/ok`                                | a healthy small JSON answer                     | none            |

A plain `.invalid` name (RFC 2606) is not enough to stay on loopback: glibc does not special-case
it and asks the configured nameserver, so `dns_url` uses a name longer than 253 characters.
The TLS certificate is made at start with the `openssl` command (the `cryptography` package is
not a dependency); without `openssl`, `tls_url` is null.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

# (ready-line key, path, error kind): what a probe of each mode must report (the module docstring
# documents each row); tests of both HTTP clients parametrise over it. /bad-chunk is apart: the
# lean client reports `payload`, aiohttp's C parser stalls on it.
EXPECTED_ERROR_KINDS = [
    ("dns_url", "/", "dns"),
    ("refused_url", "/", "refused"),
    ("blackhole_url", "/", "connect_timeout"),
    ("tls_url", "/ok", "tls"),
    ("url", "/hang-headers", "timeout_headers"),
    ("url", "/hang-body", "timeout_body"),
    ("url", "/drip?bytes_per_s=20&bytes=100", "timeout_body"),
    ("url", "/reset", "reset"),
    ("url", "/reset-body", "reset"),
    ("url", "/close", "closed"),
    ("url", "/malformed", "malformed"),
    ("url", "/wrong-length", "payload"),
    ("url", "/status/404", "http_4xx"),
    ("url", "/status/503", "http_5xx"),
    ("url", "/storm", "http_5xx"),
    ("url", "/429?retry_after=1", "throttled"),
    ("url", "/redirect-loop", "redirect_loop"),
]

MAX_HANG_S = 300.0  # a hanging handler gives up after this even if the client never does
_CHUNK = 64 * 1024
_HEAD_LIMIT = 64 * 1024
_REASONS = {200: "OK", 302: "Found", 404: "Not Found", 429: "Too Many Requests", 500: "Internal Server Error",
            502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}
STORM_CODES = (500, 502, 503, 504)
UNRESOLVABLE_HOST = ".".join(["coldbench-unresolvable-name-longer-than-dns-allows"] * 6) + ".invalid"


@dataclass(frozen=True, slots=True)
class FaultRequest:
    """The parts of a request line the fault modes look at."""

    method: str
    path: str
    query: dict[str, list[str]] = field(default_factory=dict)

    def number(self, name: str, default: float) -> float:
        """A numeric query parameter, or `default` when absent or unreadable."""
        try:
            return float(self.query[name][0])
        except (KeyError, IndexError, ValueError):
            return default


Handler = Callable[[FaultRequest, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def build_head(status: int, headers: dict[str, str] | None = None) -> bytes:
    """Status line and headers of a response that closes its connection."""
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def _send(writer: asyncio.StreamWriter, status: int, body: bytes = b"",
                headers: dict[str, str] | None = None) -> None:
    head = build_head(status, {"Content-Length": str(len(body)), **(headers or {})})
    writer.write(head + body)
    await writer.drain()


async def _wait_for_client_to_leave(reader: asyncio.StreamReader) -> None:
    """Hold the connection open until the client closes it (or MAX_HANG_S passes)."""
    with contextlib.suppress(TimeoutError, ConnectionError):
        async with asyncio.timeout(MAX_HANG_S):
            while await reader.read(_CHUNK):
                pass


def _abort_with_reset(writer: asyncio.StreamWriter) -> None:
    """Close with SO_LINGER 0, so the kernel sends RST instead of FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def _ok(_r: FaultRequest, _rd: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _send(writer, 200, b'{"ok": true}', {"Content-Type": "application/json"})


async def _hang_headers(_r: FaultRequest, reader: asyncio.StreamReader, _w: asyncio.StreamWriter) -> None:
    await _wait_for_client_to_leave(reader)


async def _hang_body(_r: FaultRequest, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(build_head(200, {"Content-Length": "1024"}) + b"x" * 512)
    await writer.drain()
    await _wait_for_client_to_leave(reader)


async def _drip(request: FaultRequest, _rd: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    rate = max(request.number("bytes_per_s", 10.0), 0.1)
    total = int(request.number("bytes", 100))
    writer.write(build_head(200, {"Content-Length": str(total)}))
    for _ in range(total):
        await asyncio.sleep(1.0 / rate)
        writer.write(b"x")
        await writer.drain()


async def _reset(_r: FaultRequest, _rd: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    _abort_with_reset(writer)


async def _reset_body(_r: FaultRequest, _rd: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(build_head(200, {"Content-Length": "1024"}) + b"x" * 512)
    await writer.drain()
    await asyncio.sleep(0.05)  # let the head and partial body reach the client first
    _abort_with_reset(writer)


async def _close(_r: FaultRequest, _rd: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.close()


async def _malformed(_r: FaultRequest, _rd: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"this is not HTTP at all\r\nreally not\r\n\r\n")
    await writer.drain()


async def _bad_chunk(_r: FaultRequest, _rd: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(build_head(200, {"Transfer-Encoding": "chunked"}) + b"5\r\nhello\r\n")
    await writer.drain()
    await asyncio.sleep(0.05)  # mid-body: sent in the same read as the head, it reads as malformed
    writer.write(b"zz\r\nbroken\r\n")
    await writer.drain()


async def _wrong_length(_r: FaultRequest, _rd: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(build_head(200, {"Content-Length": "100"}) + b"x" * 10)
    await writer.drain()


async def _huge(request: FaultRequest, _rd: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    total = int(request.number("mb", 64) * 1024 * 1024)
    writer.write(build_head(200, {"Content-Length": str(total)}))
    chunk = b"x" * _CHUNK
    for offset in range(0, total, _CHUNK):
        writer.write(chunk[: total - offset])
        await writer.drain()


_storm_codes = itertools.cycle(STORM_CODES)


async def _storm(_r: FaultRequest, _rd: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _send(writer, next(_storm_codes), b"storm")


async def _throttled(request: FaultRequest, _rd: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _send(writer, 429, b"slow down", {"Retry-After": f"{request.number('retry_after', 1):g}"})


async def _redirect_loop(_r: FaultRequest, _rd: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _send(writer, 302, b"", {"Location": "/redirect-loop"})


ROUTES: dict[str, Handler] = {
    "/ok": _ok, "/hang-headers": _hang_headers, "/hang-body": _hang_body, "/drip": _drip,
    "/reset": _reset, "/reset-body": _reset_body, "/close": _close, "/malformed": _malformed,
    "/bad-chunk": _bad_chunk, "/wrong-length": _wrong_length, "/huge": _huge, "/storm": _storm,
    "/429": _throttled, "/redirect-loop": _redirect_loop,
}


async def _status(request: FaultRequest, _rd: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    code = request.path.removeprefix("/status/")
    status = int(code) if code.isdigit() and 200 <= int(code) <= 599 else 404
    await _send(writer, status, b"status")


async def _not_found(_r: FaultRequest, _rd: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _send(writer, 404, b"no such fault mode")


def find_handler(path: str) -> Handler:
    """The fault mode serving `path` (404 for an unknown path)."""
    if path.startswith("/status/"):
        return _status
    return ROUTES.get(path, _not_found)


async def read_request(reader: asyncio.StreamReader) -> FaultRequest | None:
    """Read one request's head (and discard its body); None if the client left early."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, target, _version = (lines[0].split(" ") + ["", "", ""])[:3]
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length" and value.strip().isdigit():
            length = int(value.strip())
    if length:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            await reader.readexactly(length)
    parts = urlsplit(target)
    return FaultRequest(method=method, path=parts.path, query=parse_qs(parts.query))


async def handle_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Serve one connection: one request, one fault, then close."""
    try:
        request = await read_request(reader)
        if request is not None:
            await find_handler(request.path)(request, reader, writer)
    except (ConnectionError, OSError):
        pass  # the client gave up first: expected for most faults
    finally:
        if not writer.transport.is_closing():
            writer.close()
        with contextlib.suppress(ConnectionError, OSError, ssl.SSLError):
            await writer.wait_closed()


def build_self_signed_context(workdir: Path) -> ssl.SSLContext | None:
    """A server SSL context with a fresh self-signed certificate (via `openssl`); None without it."""
    key, cert = workdir / "key.pem", workdir / "cert.pem"
    command = [
        "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-nodes", "-days", "2", "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert),
        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
    ]
    try:
        subprocess.run(command, check=True, capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


def build_blackhole_socket() -> tuple[socket.socket, list[socket.socket]]:
    """A listener whose accept queue is full (backlog 0, never accepted), so new SYNs are dropped
    and connecting times out; returns the listener and the fillers that keep the queue full."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    fillers = []
    for _ in range(2):  # Linux admits backlog + 1 connections before dropping SYNs
        filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(listener.getsockname())
        fillers.append(filler)
    return listener, fillers


def _url(scheme: str, sock_or_server: socket.socket | asyncio.Server) -> str:
    sock = sock_or_server if isinstance(sock_or_server, socket.socket) else sock_or_server.sockets[0]
    return f"{scheme}://127.0.0.1:{sock.getsockname()[1]}"


async def serve(port: int) -> None:
    """Serve every fault mode until cancelled; print the ready line first."""
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, _context: None)  # failed TLS handshakes are the point
    plain = await asyncio.start_server(handle_connection, "127.0.0.1", port, limit=_HEAD_LIMIT)
    refused = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    refused.bind(("127.0.0.1", 0))  # bound but not listening: connecting is refused
    blackhole, _fillers = build_blackhole_socket()
    with tempfile.TemporaryDirectory(prefix="coldbench-fault-tls-") as workdir:
        context = build_self_signed_context(Path(workdir))
    tls = None
    if context is not None:
        tls = await asyncio.start_server(handle_connection, "127.0.0.1", 0, ssl=context, limit=_HEAD_LIMIT)
    ready = {
        "url": _url("http", plain), "tls_url": _url("https", tls) if tls else None,
        "refused_url": _url("http", refused), "blackhole_url": _url("http", blackhole),
        "dns_url": f"http://{UNRESOLVABLE_HOST}", "pid": os.getpid(),
    }
    print(json.dumps(ready), flush=True)
    await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: serve on --port (0 = any free port)."""
    parser = argparse.ArgumentParser(prog="fault_server")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    from coldbench.testing.childproc import die_with_parent

    die_with_parent()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
