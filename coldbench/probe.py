"""One HTTP request, phase-timed. Every outcome, including every failure, is a Sample.

Phases come from aiohttp's TraceConfig plus a connector that marks the end of the TCP connect
(so TLS is timed apart): dns, connect (TCP), tls, ttfb (request sent → response headers),
transfer (headers → last body byte). All marks are `time.perf_counter_ns` values; milliseconds
are computed from integer nanosecond differences and never rounded.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import json
import time
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import aiohttp

from coldbench import __version__
from coldbench.errorkinds import classify_exception, classify_status
from coldbench.redact import REDACTED, SECRET_HEADER_RE
from coldbench.sample import Sample, format_started_at
from coldbench.suite import TargetSpec

_NS_PER_MS = 1_000_000
_JSON_BODY_LIMIT = 64 * 1024  # parse small JSON bodies for ground-truth fields
HEADER_VALUE_LIMIT = 8192


@dataclass(slots=True)
class PhaseMarks:
    """perf_counter_ns marks of one request; 0 means 'did not happen'."""

    start: int = 0
    dns_start: int = 0
    dns_end: int = 0
    connect_start: int = 0
    tcp_end: int = 0
    connect_end: int = 0
    sent: int = 0
    headers: int = 0
    end: int = 0
    reused: bool = False


_current_marks: contextvars.ContextVar[PhaseMarks | None] = contextvars.ContextVar(
    "coldbench_marks", default=None
)


@dataclass(frozen=True, slots=True)
class ProbeOutcome:
    """A finished probe: its sample, the monotonic end time and a parsed JSON body if small."""

    sample: Sample
    end_ns: int
    body_json: Any = None


def _ms(later: int, earlier: int) -> float | None:
    if not later or not earlier:
        return None
    return (later - earlier) / _NS_PER_MS


async def _on_dns_start(_s: Any, ctx: SimpleNamespace, _p: Any) -> None:
    ctx.trace_request_ctx.dns_start = time.perf_counter_ns()


async def _on_dns_end(_s: Any, ctx: SimpleNamespace, _p: Any) -> None:
    ctx.trace_request_ctx.dns_end = time.perf_counter_ns()


async def _on_conn_start(_s: Any, ctx: SimpleNamespace, _p: Any) -> None:
    ctx.trace_request_ctx.connect_start = time.perf_counter_ns()


async def _on_conn_end(_s: Any, ctx: SimpleNamespace, _p: Any) -> None:
    ctx.trace_request_ctx.connect_end = time.perf_counter_ns()


async def _on_reuse(_s: Any, ctx: SimpleNamespace, _p: Any) -> None:
    ctx.trace_request_ctx.reused = True


async def _on_sent(_s: Any, ctx: SimpleNamespace, _p: Any) -> None:
    ctx.trace_request_ctx.sent = time.perf_counter_ns()


def build_trace_config() -> aiohttp.TraceConfig:
    """A TraceConfig writing phase marks into each request's `trace_request_ctx` (a PhaseMarks)."""
    config = aiohttp.TraceConfig()
    config.on_dns_resolvehost_start.append(_on_dns_start)
    config.on_dns_resolvehost_end.append(_on_dns_end)
    config.on_connection_create_start.append(_on_conn_start)
    config.on_connection_create_end.append(_on_conn_end)
    config.on_connection_reuseconn.append(_on_reuse)
    config.on_request_headers_sent.append(_on_sent)
    config.on_request_chunk_sent.append(_on_sent)
    return config


class TimedTCPConnector(aiohttp.TCPConnector):
    """TCPConnector that marks the end of the TCP connect, so TLS time is measured apart."""

    async def _wrap_create_connection(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        marks = _current_marks.get()
        if marks is None or not kwargs.get("ssl"):
            return await super()._wrap_create_connection(*args, **kwargs)
        loop = asyncio.get_running_loop()
        original = loop.create_connection

        async def marked_create_connection(*a: Any, **kw: Any) -> Any:
            marks.tcp_end = time.perf_counter_ns()  # socket connected; TLS starts now
            return await original(*a, **kw)

        # Only this call's create_connection is wrapped; restored right after.
        self._loop = _LoopProxy(loop, marked_create_connection)  # type: ignore[assignment]
        try:
            return await super()._wrap_create_connection(*args, **kwargs)
        finally:
            self._loop = loop


class _LoopProxy:
    """Forwards to the real loop but for `create_connection`."""

    def __init__(self, loop: asyncio.AbstractEventLoop, create_connection: Any) -> None:
        self._real = loop
        self.create_connection = create_connection

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def build_session(connection: str, target: TargetSpec | None = None, limit: int = 0) -> aiohttp.ClientSession:
    """A session for one target and connection mode: `fresh` opens a new connection (and DNS
    look-up) per request; `reuse` pools keep-alive connections. The target's headers and timeout
    become session defaults, so each request carries no per-call set-up."""
    fresh = connection == "fresh"
    verify = target is None or dict(target.options).get("tls_verify", True)
    connector = TimedTCPConnector(
        force_close=fresh, limit=limit, use_dns_cache=not fresh, enable_cleanup_closed=False,
        ssl=True if verify else False,  # tls_verify = false: self-signed test endpoints
    )
    headers = {"User-Agent": f"coldbench/{__version__}"}
    if target is not None:
        headers.update(target.headers)
    timeout = aiohttp.ClientTimeout(total=target.timeout_s if target is not None else 30.0)
    return aiohttp.ClientSession(
        connector=connector,
        trace_configs=[build_trace_config()],
        headers=headers,
        timeout=timeout,
    )


@dataclass(frozen=True, slots=True)
class ProbeContext:
    """Identity of a probe, copied into its sample."""

    probe_id: int
    target: str
    scenario: str
    seq: int
    planned_gap_s: float | None = None
    phase: str = "user"
    worker: int = 0


async def send_probe(
    session: aiohttp.ClientSession,
    target: TargetSpec,
    ctx: ProbeContext,
    *,
    gap_s: float | None = None,
    intended_ns: int | None = None,
    url: str | None = None,
) -> ProbeOutcome:
    """Send one request for `target` and return its outcome; never raises for request failures.

    `intended_ns` (open loop) charges latency from the intended send time; lag and service time
    are recorded apart.
    """
    marks = PhaseMarks()
    token = _current_marks.set(marks)
    wall_ns = time.time_ns()
    marks.start = time.perf_counter_ns()
    status: int | None = None
    error: str | None = None
    detail: str | None = None
    headers: dict[str, str] = {}
    body_json: Any = None
    bytes_read = 0
    try:
        async with session.request(
            target.method, url or target.url, data=target.body, trace_request_ctx=marks
        ) as response:
            marks.headers = time.perf_counter_ns()
            status = response.status
            body, overflow = await _read_capped(response.content, target.max_body_bytes)
            marks.end = time.perf_counter_ns()
            headers = _keep_headers(response.headers)
            bytes_read = len(body)
            error = classify_status(status)
            if error is None and overflow:
                error = "too_large"
            if error is None and headers.get("X-Amz-Function-Error"):
                error = "function_error"
            body_json = parse_small_json(body, response.headers.get("Content-Type", ""))
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # every failure becomes a sample
        marks.end = time.perf_counter_ns()
        connected = bool(marks.connect_end or marks.reused or marks.sent)
        error = classify_exception(exc, connected=connected, headers_received=bool(marks.headers))
        detail = f"{type(exc).__name__}: {exc}"[:500]
    finally:
        _current_marks.reset(token)
    sample = build_probe_sample(target, ctx, marks, wall_ns, gap_s=gap_s, intended_ns=intended_ns,
                                status=status, error=error, detail=detail, bytes_read=bytes_read,
                                headers=headers)
    return ProbeOutcome(sample=sample, end_ns=marks.end, body_json=body_json)


def build_probe_sample(
    target: TargetSpec, ctx: ProbeContext, marks: PhaseMarks, wall_ns: int, *,
    gap_s: float | None, intended_ns: int | None, status: int | None, error: str | None,
    detail: str | None, bytes_read: int, headers: dict[str, str],
) -> Sample:
    """The Sample of one finished request (both HTTP clients build theirs here, so their samples
    agree field by field). `wall_ns` is `time.time_ns()` at send; open loop (`intended_ns`)
    charges latency from the intended send time and records lag and service time apart."""
    origin = intended_ns if intended_ns is not None else marks.start
    return Sample(
        probe_id=ctx.probe_id,
        target=target.name,
        scenario=ctx.scenario,
        seq=ctx.seq,
        started_at=format_started_at(wall_ns),
        latency_ms=(marks.end - origin) / _NS_PER_MS,
        kind=target.kind,
        planned_gap_s=ctx.planned_gap_s,
        gap_s=gap_s,
        **_phase_fields(marks),
        status=status,
        error=error,
        error_detail=detail,
        bytes_read=bytes_read,
        fresh_connection=not marks.reused,
        lag_ms=(marks.start - intended_ns) / _NS_PER_MS if intended_ns is not None else None,
        service_ms=(marks.end - marks.start) / _NS_PER_MS if intended_ns is not None else None,
        phase=ctx.phase,
        worker=ctx.worker,
        headers=headers,
    )


def _phase_fields(marks: PhaseMarks) -> dict[str, Any]:
    """Phase durations in ms from the marks (None where a phase did not happen)."""
    tcp_end = marks.tcp_end or marks.connect_end
    connect_base = marks.dns_end or marks.connect_start
    return {
        "dns_ms": _ms(marks.dns_end, marks.dns_start),
        "connect_ms": _ms(tcp_end, connect_base) if marks.connect_end else None,
        "tls_ms": _ms(marks.connect_end, marks.tcp_end) if marks.tcp_end else None,
        "ttfb_ms": _ms(marks.headers, marks.sent or marks.connect_end or marks.start),
        "transfer_ms": _ms(marks.end, marks.headers) if marks.headers else None,
    }


async def _read_capped(content: aiohttp.StreamReader, cap_bytes: int) -> tuple[bytes, bool]:
    """Read at most `cap_bytes` of the body; True when more followed. Reading stops there (the
    connection is dropped), so a huge body never holds a probe until its timeout."""
    chunks: list[bytes] = []
    kept = 0
    while True:
        chunk = await content.readany()
        if not chunk:
            return b"".join(chunks), False
        if kept + len(chunk) > cap_bytes:
            chunks.append(chunk[: cap_bytes - kept])
            return b"".join(chunks), True
        chunks.append(chunk)
        kept += len(chunk)


def _keep_headers(raw: Any) -> dict[str, str]:
    """Response headers (first value of each name) for labelling and fingerprints, with
    secret-looking ones (cookies, tokens, keys) redacted; one pass, on the hot path."""
    kept: dict[str, str] = {}
    for name, value in raw.items():
        if name not in kept:
            kept[name] = REDACTED if is_secret_header(name) else value[:HEADER_VALUE_LIMIT]
    return kept


@functools.lru_cache(maxsize=1024)
def is_secret_header(name: str) -> bool:
    """Header names repeat from response to response: match each one once."""
    return SECRET_HEADER_RE.match(name) is not None


def parse_small_json(body: bytes, content_type: str) -> Any:
    """Parse a small JSON body (for instrumented fields); None when not JSON."""
    if not body or len(body) > _JSON_BODY_LIMIT or "json" not in content_type.lower():
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None
