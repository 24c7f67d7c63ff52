"""The lean HTTP/1.1 client: connections pooled per origin (or fresh), timed set-up, redirects.

`Http1Client.request(marks)` sends a target's pre-built request (coldbench.http1 holds the wire
format and the protocol) and returns an `Http1Response`; it never raises for request failures.
Connection set-up is timed into the marks as aiohttp's trace does: connect_start (before DNS),
dns_start/dns_end (a host name; IP literals need no look-up, and reuse mode caches look-ups for
`DNS_CACHE_S`), tcp_end (TLS starts) and connect_end. A failure to connect becomes the aiohttp
probe's error kind (dns, refused, connect_timeout, tls, connect). A reused connection that turns
out closed before any response byte is retried once on a new connection, for idempotent methods
(RFC 9112 §9.3.1; aiohttp does the same). Redirects are followed as aiohttp follows them, at
most `MAX_REDIRECTS`.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import Sequence

from yarl import URL

from coldbench.errorkinds import ClassifiedFailure
from coldbench.http1 import Http1Connection, Http1Response, build_request_bytes, build_ssl_context
from coldbench.probe import PhaseMarks

MAX_REDIRECTS = 10  # aiohttp's default
DNS_CACHE_S = 10.0  # reuse mode caches look-ups this long (aiohttp's ttl_dns_cache)
PREOPEN_LIMIT_S = 2.0  # `open_idle` gives connection set-up at most this long
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
_now_ns = time.perf_counter_ns

Origin = tuple[str, str, int]  # scheme, host, port


class Http1Client:
    """Requests to one target in one connection mode (`reuse`: a keep-alive pool; `fresh`: a new
    connection, and DNS look-up, per request)."""

    def __init__(self, url: str, method: str = "GET", headers: Sequence[tuple[str, str]] = (),
                 body: bytes | None = None, *, fresh: bool = False, timeout_s: float = 30.0,
                 max_body_bytes: int = 1 << 20, tls_verify: bool = True) -> None:
        self.url = URL(url)
        self.method = method
        self.headers = tuple(headers)
        self.body = body
        self.fresh = fresh
        self.timeout_s = timeout_s
        self.max_body_bytes = max_body_bytes
        self.tls_verify = tls_verify
        self._origin = _origin_of(self.url)
        self._payload = build_request_bytes(self.url, method, self.headers, body, close=fresh)
        self._idle: dict[Origin, list[Http1Connection]] = {}
        self._open: set[Http1Connection] = set()
        self._dns: dict[tuple[str, int], tuple[float, list[tuple[int, str]]]] = {}
        self._ssl: ssl.SSLContext | None = None
        self._loop = asyncio.get_running_loop()

    async def request(self, marks: PhaseMarks) -> Http1Response:
        """Send the target's request; follow redirects; never raises for request failures."""
        deadline = self._loop.time() + self.timeout_s
        response = await self._exchange(self._origin, self._payload, marks, deadline, self.method)
        if response.status in _REDIRECT_STATUSES and response.error is None:
            return await self._follow_redirects(response, marks, deadline)
        return response

    async def open_idle(self, count: int, within_s: float = PREOPEN_LIMIT_S) -> list[float]:
        """Open connections to the target until `count` wait idle in the pool, all at once, and
        return each new one's set-up time in seconds (reuse mode; a fresh client opens none).

        Nothing is sent on them, so no request is counted: an open loop calls this before its
        schedule starts, so its first requests are not charged for connection set-up. Set-up
        gets at most `within_s` (and the target's timeout); a connection that fails is left out,
        and the requests then open their own and report the failure as usual."""
        if self.fresh:
            return []
        missing = count - self._count_idle(self._origin)
        if missing <= 0:
            return []
        deadline = self._loop.time() + min(self.timeout_s, within_s)
        opened = await asyncio.gather(*(self._open_idle_one(deadline) for _ in range(missing)),
                                      return_exceptions=True)
        return [seconds for seconds in opened if isinstance(seconds, float)]

    async def _open_idle_one(self, deadline: float) -> float:
        marks = PhaseMarks()
        connection = await self._connect(self._origin, marks, deadline)
        self._idle.setdefault(self._origin, []).append(connection)
        return (marks.connect_end - marks.connect_start) / 1e9

    def _count_idle(self, origin: Origin) -> int:
        """Idle connections still usable; those the server closed meanwhile are dropped."""
        idle = self._idle.get(origin, [])
        closed = [c for c in idle if c.lost or c.transport.is_closing()]  # type: ignore[union-attr]
        for connection in closed:
            idle.remove(connection)
            self._open.discard(connection)
        return len(idle)

    async def close(self) -> None:
        """Close every connection this client opened."""
        for connection in list(self._open):
            if connection.transport is not None:
                connection.transport.close()
        self._open.clear()
        self._idle.clear()

    async def _exchange(self, origin: Origin, payload: bytes, marks: PhaseMarks, deadline: float,
                        method: str) -> Http1Response:
        head_only = method == "HEAD"
        connection = self._take_idle(origin)
        if connection is not None:
            marks.reused = True
            response = await connection.send(payload, marks, self.max_body_bytes, deadline, head_only)
            stale = response.error in ("closed", "reset") and not response.received
            if not (stale and method in _IDEMPOTENT_METHODS):
                self._release(origin, connection)
                return response
            marks.reused = False  # a stale keep-alive connection: once more on a new one
        try:
            connection = await self._connect_classified(origin, marks, deadline)
        except ClassifiedFailure as exc:
            marks.end = _now_ns()
            return Http1Response(error=exc.kind, detail=str(exc)[:500])
        response = await connection.send(payload, marks, self.max_body_bytes, deadline, head_only)
        self._release(origin, connection)
        return response

    def _take_idle(self, origin: Origin) -> Http1Connection | None:
        idle = self._idle.get(origin)
        while idle:
            connection = idle.pop()
            if not connection.lost and not connection.transport.is_closing():  # type: ignore[union-attr]
                return connection
            self._open.discard(connection)  # closed by the server while idle
        return None

    def _release(self, origin: Origin, connection: Http1Connection) -> None:
        if not self.fresh and connection.keep_alive and not connection.lost:
            self._idle.setdefault(origin, []).append(connection)
            return
        self._open.discard(connection)
        if connection.transport is not None and not connection.lost:
            connection.transport.close()

    async def _connect(self, origin: Origin, marks: PhaseMarks, deadline: float) -> Http1Connection:
        """A new connection to `origin`, timed: DNS, TCP, TLS."""
        scheme, host, port = origin
        marks.connect_start = _now_ns()
        transport: asyncio.Transport | None = None
        try:
            async with asyncio.timeout_at(deadline):
                addresses = await self._resolve(host, port, marks)
                transport, connection = await self._open_tcp(addresses, port)
                if scheme == "https":
                    marks.tcp_end = _now_ns()
                    transport = await self._start_tls(transport, connection, host)
        except BaseException:
            if transport is not None:
                transport.abort()  # a TCP connection whose handshake failed or timed out
            raise
        marks.connect_end = _now_ns()
        self._open.add(connection)
        return connection

    async def _start_tls(self, transport: asyncio.Transport, connection: Http1Connection,
                         host: str) -> asyncio.Transport:
        tls = await self._loop.start_tls(transport, connection, self._ssl_context(),
                                         server_hostname=host)
        assert tls is not None
        connection.transport = tls
        return tls

    async def _connect_classified(self, origin: Origin, marks: PhaseMarks,
                                  deadline: float) -> Http1Connection:
        """`_connect`, with its failures turned into ClassifiedFailure (the aiohttp kinds)."""
        host = origin[1]
        try:
            return await self._connect(origin, marks, deadline)
        except TimeoutError:
            raise ClassifiedFailure("connect_timeout", "TimeoutError: no connection within the "
                                    "target's timeout") from None
        except socket.gaierror as exc:
            raise ClassifiedFailure("dns", f"gaierror: {host}: {exc}") from None
        except ConnectionRefusedError as exc:
            raise ClassifiedFailure("refused", f"ConnectionRefusedError: {exc}") from None
        except (ssl.SSLError, ssl.CertificateError) as exc:
            raise ClassifiedFailure("tls", f"{type(exc).__name__}: {exc}") from None
        except OSError as exc:
            raise ClassifiedFailure("connect", f"{type(exc).__name__}: {exc}") from None

    async def _resolve(self, host: str, port: int, marks: PhaseMarks) -> list[tuple[int, str]]:
        """(family, address) pairs; an IP literal needs no look-up (no dns phase, as aiohttp)."""
        literal = _ip_family(host)
        if literal is not None:
            return [(literal, host)]
        cached = self._dns.get((host, port))
        if cached is not None and not self.fresh and cached[0] > self._loop.time():
            return cached[1]
        marks.dns_start = _now_ns()
        infos = await self._loop.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                             flags=socket.AI_ADDRCONFIG)
        marks.dns_end = _now_ns()
        addresses: list[tuple[int, str]] = [(int(family), str(sockaddr[0]))
                                            for family, _t, _p, _c, sockaddr in infos]
        self._dns[(host, port)] = (self._loop.time() + DNS_CACHE_S, addresses)
        return addresses

    async def _open_tcp(self, addresses: list[tuple[int, str]],
                        port: int) -> tuple[asyncio.Transport, Http1Connection]:
        """Connect to the first address that answers (aiohttp tries them in order too)."""
        last: OSError | None = None
        for family, address in addresses:
            try:
                transport, connection = await self._loop.create_connection(
                    Http1Connection, address, port, family=family)
                return transport, connection  # type: ignore[return-value]
            except OSError as exc:
                last = exc
        raise last or OSError(f"no address for port {port}")

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = build_ssl_context(self.tls_verify)
        return self._ssl

    async def _follow_redirects(self, response: Http1Response, marks: PhaseMarks,
                                deadline: float) -> Http1Response:
        """Follow Location headers as aiohttp does: 303 (and 301/302 after POST) turn into GET
        without a body; Authorization is dropped when the origin changes."""
        url, method, body, redirects = self.url, self.method, self.body, 0
        while response.status in _REDIRECT_STATUSES and response.error is None:
            redirects += 1
            if redirects >= MAX_REDIRECTS:
                return _failed(response, "redirect_loop", f"TooManyRedirects: {redirects} redirects")
            location = _header_value(response.headers or [], b"location")
            if location is None:
                return response
            try:
                url = url.join(URL(location))
            except ValueError as exc:
                return _failed(response, "client", f"InvalidUrlRedirect: {location!r}: {exc}")
            if url.scheme not in ("http", "https"):
                return _failed(response, "client", f"NonHttpUrlRedirect: {location!r}")
            if response.status == 303 and method != "HEAD" or (
                    response.status in (301, 302) and method == "POST"):
                method, body = "GET", None
            origin = _origin_of(url)
            headers = [(n, v) for n, v in self.headers
                       if origin == self._origin or n.lower() != "authorization"]
            payload = build_request_bytes(url, method, headers, body, close=self.fresh)
            response = await self._exchange(origin, payload, marks, deadline, method)
        return response


def _failed(response: Http1Response, kind: str, detail: str) -> Http1Response:
    """A redirect chain that ended in a failure: no status, as aiohttp raises before returning."""
    response.error, response.detail, response.status = kind, detail, None
    response.headers, response.body = None, b""
    return response


def _header_value(headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value.decode("utf-8", "surrogateescape")
    return None


def _origin_of(url: URL) -> Origin:
    scheme = url.scheme
    return scheme, url.raw_host or "", url.port or (443 if scheme == "https" else 80)


def _ip_family(host: str) -> int | None:
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
            return family
        except OSError:
            continue
    return None
