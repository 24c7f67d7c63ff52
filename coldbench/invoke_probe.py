"""A probe through a platform's invoke API (Lambda Invoke with LogType=Tail) instead of HTTP.

Only the total latency is timed here (the SDK hides connection phases); the platform's REPORT
line in the log tail supplies Duration, Billed Duration and, on cold starts, Init Duration.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

from coldbench.errors import ProviderError
from coldbench.probe import ProbeContext, ProbeOutcome
from coldbench.providers.base import Provider
from coldbench.sample import Sample
from coldbench.suite import TargetSpec

_NS_PER_MS = 1_000_000


async def send_invoke_probe(provider: Provider, target: TargetSpec, ctx: ProbeContext,
                            *, gap_s: float | None = None) -> ProbeOutcome:
    """Invoke `target.function` once and return its outcome; failures become error samples."""
    started_at = datetime.now(UTC).isoformat(timespec="microseconds")
    start = time.perf_counter_ns()
    qualifier = dict(target.options).get("qualifier")
    status: int | None = None
    error: str | None = None
    detail: str | None = None
    headers: dict[str, str] = {}
    body_json = None
    size = 0
    try:
        result = await provider.invoke(target.function or target.name, target.body or b"{}",
                                       qualifier=qualifier)
        end = time.perf_counter_ns()
        status, headers, size = result.status, dict(result.headers), len(result.payload)
        if result.function_error:
            error, detail = "function_error", result.payload[:500].decode("utf-8", "replace")
        body_json = _json_or_none(result.payload)
    except ProviderError as exc:
        end = time.perf_counter_ns()
        text = str(exc)
        error = "throttled" if "TooManyRequests" in text else "client"
        detail = text[:500]
    sample = Sample(
        probe_id=ctx.probe_id, target=target.name, scenario=ctx.scenario, seq=ctx.seq,
        started_at=started_at, latency_ms=(end - start) / _NS_PER_MS, kind=target.kind,
        planned_gap_s=ctx.planned_gap_s, gap_s=gap_s, status=status, error=error,
        error_detail=detail, bytes_read=size, phase=ctx.phase, worker=ctx.worker,
        fresh_connection=False, headers=headers,
    )
    return ProbeOutcome(sample=sample, end_ns=end, body_json=body_json)


def _json_or_none(payload: bytes) -> object:
    if not payload or len(payload) > 65536:
        return None
    try:
        return json.loads(payload)
    except ValueError:
        return None
