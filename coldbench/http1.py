"""HTTP/1.1 on the wire for the lean client: request bytes, and one connection's protocol.

aiohttp spends about 65 µs of CPU per request on loopback, several times what wrk does; at
thousands of requests per second that cost, not the target, sets the figures. The lean client
(coldbench.http1_client) sends pre-built request bytes and parses responses with `httptools`
(the llhttp binding uvicorn uses) in `Http1Connection`, an asyncio.Protocol. It speaks what a
load scenario needs: the target's method, headers and body (with the headers aiohttp adds, so
the target sees the same request), Content-Length, chunked and close-delimited bodies, 1xx
interim answers, HEAD, gzip/deflate (decoded as aiohttp decodes them), keep-alive or
`Connection: close`, TLS through the standard `ssl` module, and one total timeout per request.

Phase marks go into the same `PhaseMarks` the aiohttp probe fills: sent (request written),
headers (arrival of the bytes that completed the response head), end (arrival of the last body
byte, or of the close that ends a close-delimited body). Marks are taken when bytes arrive
(`data_received`), before parsing, so the client's own parsing is never part of a latency; a
response read in one piece has a transfer time of 0. Failures are not raised: the exchange's
`Http1Response` carries the error kind the aiohttp probe reports for the same fault
(coldbench.errorkinds; tests/test_http1.py checks every mode of the fault server).
"""

from __future__ import annotations

import asyncio
import errno
import ssl
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import httptools
from yarl import URL

from coldbench import __version__
from coldbench.probe import PhaseMarks

_BODYLESS_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})  # no Content-Length: 0
_RESET_ERRNOS = frozenset({errno.ECONNRESET, errno.EPIPE})
_now_ns = time.perf_counter_ns


@dataclass(slots=True)
class Http1Response:
    """A finished exchange. `error` is an error kind when it failed (status may still be set)."""

    status: int | None = None
    headers: list[tuple[bytes, bytes]] | None = None
    body: bytes = b""
    overflow: bool = False  # the body went past the cap; reading stopped there
    error: str | None = None
    detail: str | None = None
    received: bool = False  # any response byte arrived (a stale keep-alive connection has none)


def build_request_bytes(url: URL, method: str, headers: Sequence[tuple[str, str]],
                        body: bytes | None, *, close: bool) -> bytes:
    """The request as sent on the wire, with the headers aiohttp would add (so the target sees
    the same request from either client); the target's own headers win, case-insensitively."""
    fields: dict[str, tuple[str, str]] = {}
    for name, value in (("Host", url.host_port_subcomponent or ""), ("Accept", "*/*"),
                        ("Accept-Encoding", "gzip, deflate"), ("User-Agent", f"coldbench/{__version__}"),
                        *headers):
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
            raise ValueError(f"header {name!r}: line breaks are not allowed in headers")
        fields[name.lower()] = (name, value)
    if body is not None:
        fields["content-length"] = ("Content-Length", str(len(body)))
        fields.setdefault("content-type", ("Content-Type", "application/octet-stream"))
    elif method not in _BODYLESS_METHODS:
        fields["content-length"] = ("Content-Length", "0")
    if close:
        fields.setdefault("connection", ("Connection", "close"))
    lines = [f"{method} {url.raw_path_qs} HTTP/1.1"] + [f"{n}: {v}" for n, v in fields.values()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + (body or b"")


def build_ssl_context(verify: bool) -> ssl.SSLContext:
    """The client TLS context: system trust store, or no verification (`tls_verify = false`)."""
    context = ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _decoder_for(encoding: bytes) -> zlib._Decompress | None:  # type: ignore[name-defined]
    value = encoding.strip().lower()
    if value in (b"gzip", b"x-gzip"):
        return zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    if value == b"deflate":
        return zlib.decompressobj(wbits=zlib.MAX_WBITS)
    return None  # identity or unknown: kept as sent (aiohttp does the same without brotli)


class Http1Connection(asyncio.Protocol):
    """One HTTP/1.1 connection carrying one request at a time; httptools calls its `on_*`."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.lost = False
        self.keep_alive = False
        self._loop = asyncio.get_running_loop()
        self._waiter: asyncio.Future[Http1Response] | None = None
        self._response = Http1Response()
        self._marks = PhaseMarks()
        self._parser: httptools.HttpResponseParser | None = None
        self._chunks: list[bytes] = []
        self._kept = 0
        self._cap = 0
        self._head_only = False
        self._decoder: zlib._Decompress | None = None  # type: ignore[name-defined]
        self._timer: asyncio.TimerHandle | None = None
        self._arrived_ns = 0

    def send(self, payload: bytes, marks: PhaseMarks, cap_bytes: int, deadline: float,
             head_only: bool = False) -> asyncio.Future[Http1Response]:
        """Write one request; the future resolves with its response (never with an exception).

        The request goes out first: the state below is ready long before the loop can deliver
        a byte of the answer, and setting it up no longer counts in the latency."""
        assert self.transport is not None
        self.transport.write(payload)
        marks.sent = _now_ns()
        self._waiter = waiter = self._loop.create_future()
        self.keep_alive = False  # until this response says otherwise
        self._response = Http1Response(headers=[])
        self._marks = marks
        self._parser = httptools.HttpResponseParser(self)
        self._chunks = []
        self._kept = 0
        self._cap = cap_bytes
        self._head_only = head_only
        self._decoder = None
        self._timer = self._loop.call_at(deadline, self._on_timeout)
        return waiter

    # -- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self._waiter is None:  # bytes nobody asked for: this connection cannot be reused
            self.lost = True
            if self.transport is not None:
                self.transport.abort()
            return
        self._arrived_ns = _now_ns()  # headers and end are when their bytes arrived, not parsed
        self._response.received = True
        try:
            self._parser.feed_data(data)  # type: ignore[union-attr]
        except httptools.HttpParserUpgrade:
            self._finish()  # 101 Switching Protocols: the head is the whole answer
        except httptools.HttpParserError as exc:
            kind = "payload" if self._marks.headers else "malformed"
            self._fail(kind, f"{type(exc).__name__}: {exc}")

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self._waiter is None:
            return
        if isinstance(exc, OSError) and exc.errno in _RESET_ERRNOS:
            self._fail("reset", f"{type(exc).__name__}: {exc}")
        elif self._marks.headers and exc is None and self._close_delimited():
            self._arrived_ns = _now_ns()  # the close is the body's last "byte"
            self._finish()
        elif self._marks.headers:
            self._fail("payload", f"ServerDisconnected: response payload is not completed ({exc})")
        else:
            self._fail("closed", f"ServerDisconnected: server closed the connection ({exc})")

    # -- httptools callbacks ------------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self._response.headers.append((name, value))  # type: ignore[union-attr]
        if len(name) == 16 and name.lower() == b"content-encoding":
            self._decoder = _decoder_for(value)

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()  # type: ignore[union-attr]
        if 100 <= status < 200 and status != 101:
            return  # an interim answer (100 Continue): the real one follows
        self._marks.headers = self._arrived_ns
        self._response.status = status
        if self._head_only:
            self._finish()

    def on_body(self, body: bytes) -> None:
        if self._waiter is None:
            return
        if self._decoder is not None:
            try:
                body = self._decoder.decompress(body)
            except zlib.error as exc:
                self._fail("payload", f"ContentEncodingError: {exc}")
                return
        if self._kept + len(body) > self._cap:
            self._chunks.append(body[: self._cap - self._kept])
            self._kept = self._cap
            self._response.overflow = True
            self._finish()
            return
        self._chunks.append(body)
        self._kept += len(body)

    def on_message_complete(self) -> None:
        if self._waiter is None:
            return
        status = self._parser.get_status_code()  # type: ignore[union-attr]
        if 100 <= status < 200 and status != 101:
            self._response.headers = []  # interim answer done; keep parsing
            self._decoder = None
            return
        self.keep_alive = self._parser.should_keep_alive()  # type: ignore[union-attr]
        self._finish()

    # -- ends ---------------------------------------------------------------------------------

    def _finish(self) -> None:
        self._marks.end = self._arrived_ns
        response = self._response
        if self._decoder is not None and not response.overflow:
            self._chunks.append(self._decoder.flush())
        response.body = self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)
        if response.overflow or self._head_only:
            self.keep_alive = False  # unread bytes may follow on the wire
        self._resolve(response)

    def _fail(self, kind: str, detail: str) -> None:
        if self._waiter is None:
            return
        self._marks.end = _now_ns()
        self.keep_alive = False
        self._response.error = kind
        self._response.detail = detail[:500]
        if self.transport is not None:
            self.transport.abort()
        self._resolve(self._response)

    def _resolve(self, response: Http1Response) -> None:
        waiter, self._waiter = self._waiter, None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if waiter is not None and not waiter.done():
            waiter.set_result(response)

    def _on_timeout(self) -> None:
        self._timer = None
        kind = "timeout_body" if self._marks.headers else "timeout_headers"
        self._fail(kind, "TimeoutError: no complete response within the target's timeout")

    def _close_delimited(self) -> bool:
        """The body runs until the server closes (no Content-Length, not chunked)."""
        for name, _value in self._response.headers or ():
            if name.lower() in (b"content-length", b"transfer-encoding"):
                return False
        return True
