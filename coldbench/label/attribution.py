"""Where a cold start's time goes: connection, platform init, function init, handler, other.

A cold request's timeline is: DNS/TCP/TLS set-up; the platform placing and booting an
instance; the *init phase* (runtime start, then the function's module import); the handler;
the response's way back. What is reported:

- connection_ms: dns_ms + connect_ms + tls_ms, timed by the probe;
- function_init_ms: the function's own init (module import), from instrumentation
  (``X-Coldbench-Init-Ms``);
- platform_init_ms: the platform's share of the init phase. Lambda's ``Init Duration`` covers
  runtime start *and* the function's import, so the platform's share is Init Duration minus the
  function's init when both are known; with no instrumentation it is all of Init Duration;
- handler_ms: the handler's run, from the REPORT line's ``Duration`` when the platform reports it;
- other_ms: the rest of the measured latency: network round trip and transfer, instance
  placement the platform does not report, and the handler when its time is not reported.

Unknown parts are NaN and fall into other_ms, so the known parts always sum to latency_ms.
Pure functions over plain values and frames.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import pandas as pd

from coldbench.label.evidence import (
    INIT_MS_HEADER,
    header_value,
    parse_headers_text,
    read_platform_report,
)

COMPONENTS = ("connection_ms", "platform_init_ms", "function_init_ms", "handler_ms", "other_ms")
_NAN = float("nan")


@dataclass(frozen=True, slots=True)
class ColdStartAttribution:
    """One cold sample's latency split into its parts (NaN where a part is not reported)."""

    latency_ms: float
    connection_ms: float
    platform_init_ms: float
    function_init_ms: float
    handler_ms: float
    other_ms: float


def _value(x: float | None) -> float:
    return _NAN if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def attribute_cold_start(
    latency_ms: float,
    *,
    dns_ms: float | None = None,
    connect_ms: float | None = None,
    tls_ms: float | None = None,
    reported_init_ms: float | None = None,
    function_init_ms: float | None = None,
    handler_ms: float | None = None,
) -> ColdStartAttribution:
    """Split one cold sample's latency; `reported_init_ms` is the platform's Init Duration."""
    connection = sum(0.0 if math.isnan(_value(v)) else _value(v) for v in (dns_ms, connect_ms, tls_ms))
    function_init = _value(function_init_ms)
    platform_init = _value(reported_init_ms)
    if not math.isnan(platform_init) and not math.isnan(function_init):
        platform_init = max(platform_init - function_init, 0.0)
    handler = _value(handler_ms)
    known = [v for v in (platform_init, function_init, handler) if not math.isnan(v)]
    other = float(latency_ms) - connection - sum(known)
    return ColdStartAttribution(
        latency_ms=float(latency_ms), connection_ms=connection, platform_init_ms=platform_init,
        function_init_ms=function_init, handler_ms=handler, other_ms=other,
    )


def _reported_parts(record: dict[str, object]) -> tuple[float | None, float | None, float | None]:
    """(platform Init Duration, function init, handler Duration) for one frame row."""
    headers = parse_headers_text(record.get("headers"))
    report = read_platform_report(headers)
    function_init = header_value(headers, INIT_MS_HEADER)
    platform_init = _value(record.get("platform_init_ms"))  # type: ignore[arg-type]
    init = _value(record.get("init_ms"))  # type: ignore[arg-type]
    try:
        function = float(function_init) if function_init is not None else _NAN
    except ValueError:
        function = _NAN
    if math.isnan(function) and not math.isnan(init) and init != platform_init:
        function = init  # init_ms filled from a JSON body by the engine, not from the platform
    handler = report.duration_ms if report is not None else None
    return platform_init, function, handler


def compute_attribution(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per cold, error-free sample with a reported init time: the split of its latency."""
    if frame.empty or "label" not in frame:
        return pd.DataFrame(columns=["probe_id", "target", "latency_ms", *COMPONENTS])
    cold = frame[(frame["label"] == "cold") & frame["error"].isna()]
    rows = []
    for record in cold.to_dict("records"):
        platform_init, function_init, handler = _reported_parts(record)
        if math.isnan(_value(platform_init)) and math.isnan(_value(function_init)):
            continue  # nothing reported: no split to make
        split = attribute_cold_start(
            record["latency_ms"], dns_ms=record.get("dns_ms"), connect_ms=record.get("connect_ms"),
            tls_ms=record.get("tls_ms"), reported_init_ms=platform_init,
            function_init_ms=function_init, handler_ms=handler,
        )
        rows.append({"probe_id": record.get("probe_id"), "target": record.get("target"), **asdict(split)})
    return pd.DataFrame(rows, columns=["probe_id", "target", "latency_ms", *COMPONENTS])


def summarize_attribution(attribution: pd.DataFrame) -> pd.DataFrame:
    """Median of each part per target, with the number of cold samples behind it."""
    if attribution.empty:
        return pd.DataFrame(columns=["target", "samples", "latency_ms", *COMPONENTS])
    grouped = attribution.groupby("target", sort=True)
    summary = grouped[["latency_ms", *COMPONENTS]].median()
    summary.insert(0, "samples", grouped.size())
    return summary.reset_index()
