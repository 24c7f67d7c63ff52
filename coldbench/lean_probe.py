"""Load requests through the lean HTTP/1.1 client (coldbench.http1), as ordinary Samples.

`closed`, `rate` and `warm` scenarios send thousands of requests per second, where aiohttp's
CPU cost per request, not the target, would set the figures. They use `coldbench.http1` when the
target needs nothing aiohttp-specific (`uses_lean_client`); every other probe (idle gaps, bursts,
config updates, provider targets) keeps aiohttp. Samples come from the same
`coldbench.probe.build_probe_sample` as the aiohttp probe's, so the two paths agree field by
field; `client = "aiohttp"` on a target or scenario forces aiohttp everywhere.
"""

from __future__ import annotations

import time
from typing import Any

from coldbench.errorkinds import classify_status
from coldbench.http1 import Http1Response
from coldbench.http1_client import Http1Client
from coldbench.probe import (
    HEADER_VALUE_LIMIT,
    PhaseMarks,
    ProbeContext,
    ProbeOutcome,
    build_probe_sample,
    is_secret_header,
    parse_small_json,
)
from coldbench.redact import REDACTED
from coldbench.suite import TargetSpec

LEAN_SCENARIO_TYPES = ("closed", "rate", "warm")
CLIENT_CHOICES = ("auto", "aiohttp")


def uses_lean_client(target: TargetSpec, scenario_type: str, scenario_client: str | None = None) -> bool:
    """Whether requests of this scenario type to this target go through coldbench.http1: load
    scenario types only, plain HTTP targets (no provider), http(s) URLs without credentials in
    them, and no `client = "aiohttp"` on the target or the scenario."""
    choice = scenario_client or dict(target.options).get("client", "auto")
    if choice == "aiohttp" or scenario_type not in LEAN_SCENARIO_TYPES or target.provider != "http":
        return False
    if not target.url.startswith(("http://", "https://")) or "@" in target.url.split("/")[2]:
        return False
    return not any(c in text for name, value in target.headers for text in (name, value) for c in "\r\n")


def build_http1_client(target: TargetSpec, connection: str) -> Http1Client:
    """A lean client for `target` in `connection` mode (`fresh` or `reuse`); call inside the loop."""
    return Http1Client(
        target.url, target.method, target.headers, target.body, fresh=connection == "fresh",
        timeout_s=target.timeout_s, max_body_bytes=target.max_body_bytes,
        tls_verify=bool(dict(target.options).get("tls_verify", True)),
    )


async def send_http1_probe(
    client: Http1Client,
    target: TargetSpec,
    ctx: ProbeContext,
    *,
    gap_s: float | None = None,
    intended_ns: int | None = None,
) -> ProbeOutcome:
    """`coldbench.probe.send_probe` through the lean client: the same sample, never raises for
    request failures. Latency runs from just before the connection is taken (or opened) to the
    protocol callback that saw the last body byte."""
    marks = PhaseMarks()
    wall_ns = time.time_ns()
    marks.start = time.perf_counter_ns()
    response = await client.request(marks)
    error, headers, body_json, bytes_read = response.error, {}, None, 0
    if error is None:
        headers = keep_response_headers(response)
        bytes_read = len(response.body)
        error = classify_status(response.status or 0)
        if error is None and response.overflow:
            error = "too_large"
        if error is None and headers.get("X-Amz-Function-Error"):
            error = "function_error"
        if response.body:
            body_json = parse_small_json(response.body, _content_type(headers))
    sample = build_probe_sample(target, ctx, marks, wall_ns, gap_s=gap_s, intended_ns=intended_ns,
                                status=response.status, error=error, detail=response.detail,
                                bytes_read=bytes_read, headers=headers)
    return ProbeOutcome(sample=sample, end_ns=marks.end, body_json=body_json)


def keep_response_headers(response: Http1Response) -> dict[str, str]:
    """Headers as the aiohttp probe keeps them: first value per name, secrets redacted, long
    values cut (names and values decoded as aiohttp decodes them)."""
    kept: dict[str, str] = {}
    for raw_name, raw_value in response.headers or ():
        name = raw_name.decode("utf-8", "surrogateescape")
        if name not in kept:
            value = raw_value.decode("utf-8", "surrogateescape")
            kept[name] = REDACTED if is_secret_header(name) else value[:HEADER_VALUE_LIMIT]
    return kept


def _content_type(headers: dict[str, Any]) -> str:
    for name, value in headers.items():
        if name.lower() == "content-type":
            return str(value)
    return ""
