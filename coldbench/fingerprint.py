"""Platform fingerprints: what a response's headers reveal about where it was served (pure).

| platform  | headers read                                                | gives                          |
|-----------|-------------------------------------------------------------|--------------------------------|
| openfaas  | `X-Call-Id`, `X-Duration-Seconds`                           | request id, server duration    |
| vercel    | `x-vercel-id` (`fra1::iad1::<id>`), `x-vercel-cache`        | edge → function region chain   |
| aws       | `x-amzn-RequestId`, `x-amzn-Trace-Id`, `apigw-requestid`,   | service (function URL, REST or |
|           | `x-amz-apigw-id`, `X-Amz-Executed-Version`,                 | HTTP API, Invoke API), request |
|           | `X-Amz-Log-Result` (REPORT line)                            | id, duration and init (REPORT) |
| google    | `x-cloud-trace-context`, `function-execution-id`,           | trace/execution id             |
|           | `server: Google Frontend`                                   |                                |
| azure     | `x-ms-invocation-id`, `x-ms-request-id`,                    | request id                     |
|           | `x-ms-middleware-request-id`, `Request-Context`, `x-azure-ref` |                             |
| cloudflare| `cf-ray` (`<id>-FRA`), `cf-cache-status`                    | ray id, colo                   |
| aws       | `x-amz-cf-pop`, `x-amz-cf-id`, `x-cache` (CloudFront)       | POP, cache status              |

A response can carry several layers (a Cloud Run service behind Cloudflare): the function
platform is named first (in the table's order), and the CDN layers fill in what it leaves empty
(POP, cache status). `Server-Timing` (`total`/`app` dur) and `x-envoy-upstream-service-time` are
read as a server-reported duration when no platform-specific one exists.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from coldbench.label.evidence import parse_headers_text, read_platform_report

PLATFORMS = ("openfaas", "vercel", "aws", "google", "azure", "cloudflare", "unknown")  # docstring order
FINGERPRINT_COLUMNS = ("platform", "service", "pop", "region", "request_id", "cache", "server_duration_ms")
_VERCEL_REGION_RE = re.compile(r"^[a-z]{3}\d+$")
_CF_RAY_RE = re.compile(r"^([0-9a-f]+)-([A-Z]{3})$", re.IGNORECASE)
_SERVER_TIMING_RE = re.compile(r"(?:^|,)\s*(total|app)\s*;[^,]*?\bdur\s*=\s*\"?([0-9.]+)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """What the response headers reveal; None where the platform does not say."""

    platform: str = "unknown"
    service: str | None = None  # e.g. lambda-url, api-gateway-http, cloud-run, workers
    request_id: str | None = None
    trace_id: str | None = None
    pop: str | None = None  # edge location: CloudFront POP, Cloudflare colo, Vercel edge region
    region: str | None = None  # where the function ran, when the platform reveals it
    region_chain: tuple[str, ...] = ()  # Vercel: every region the request went through
    cache: str | None = None  # CDN cache status (HIT, MISS, DYNAMIC, ...)
    server: str | None = None
    server_duration_ms: float | None = None
    init_ms: float | None = None  # Lambda REPORT Init Duration, when the log tail came back
    evidence: tuple[str, ...] = ()  # the header names the platform was recognised by


Layer = dict[str, Any]


def parse_fingerprint(headers: Mapping[str, str]) -> Fingerprint:
    """Fingerprint one response from its headers (names matched case-insensitively)."""
    lower = _lower_keys(headers)
    fields: Layer = {}
    for extract in _EXTRACTORS:
        layer = extract(lower)
        if layer is None:
            continue
        for key, value in layer.items():
            if value is not None and value != () and key not in fields:
                fields[key] = value
    fields.setdefault("server", lower.get("server"))
    if fields.get("server_duration_ms") is None:
        fields["server_duration_ms"] = _generic_duration_ms(lower)
    return Fingerprint(**fields)


def fingerprint_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of `frame` with FINGERPRINT_COLUMNS added from its `headers` column (JSON text or
    dicts); a frame without `headers` gets platform "unknown" and empty fields."""
    out = frame.copy()
    cells = out["headers"] if "headers" in out.columns else [None] * len(out)
    prints = [parse_fingerprint(parse_headers_text(cell)) for cell in cells]
    for column in FINGERPRINT_COLUMNS:
        out[column] = [getattr(p, column) for p in prints]
    out["server_duration_ms"] = out["server_duration_ms"].astype("float64")
    return out


def _lower_keys(headers: Mapping[str, str]) -> dict[str, str]:
    lower: dict[str, str] = {}
    for name, value in headers.items():
        lower.setdefault(str(name).lower(), str(value))
    return lower


def _evidence(headers: dict[str, str], *names: str) -> tuple[str, ...]:
    return tuple(name for name in names if name in headers)


def _seconds_to_ms(text: str | None) -> float | None:
    ms = _float(text)
    return None if ms is None else ms * 1000.0


def _float(text: str | None) -> float | None:
    try:
        value = float(str(text).strip())
    except (TypeError, ValueError):
        return None
    return value if value >= 0 and value == value and value != float("inf") else None


def _openfaas(h: dict[str, str]) -> Layer | None:
    found = _evidence(h, "x-call-id", "x-duration-seconds")
    if not found:
        return None
    return {"platform": "openfaas", "service": "gateway", "request_id": h.get("x-call-id"),
            "server_duration_ms": _seconds_to_ms(h.get("x-duration-seconds")), "evidence": found}


def _vercel(h: dict[str, str]) -> Layer | None:
    vercel_id = h.get("x-vercel-id")
    if vercel_id is None and "x-vercel-cache" not in h:
        return None
    parts = [p for p in (vercel_id or "").split(":") if p]
    chain = tuple(p for p in parts if _VERCEL_REGION_RE.match(p))
    return {
        "platform": "vercel", "service": "functions", "request_id": vercel_id,
        "pop": chain[0] if chain else None, "region": chain[-1] if len(chain) > 1 else None,
        "region_chain": chain, "cache": h.get("x-vercel-cache"),
        "evidence": _evidence(h, "x-vercel-id", "x-vercel-cache"),
    }


def _aws_service(h: dict[str, str]) -> str:
    if _evidence(h, "x-amz-executed-version", "x-amz-log-result", "x-amz-function-error"):
        return "lambda-invoke"
    if "apigw-requestid" in h:
        return "api-gateway-http"
    if "x-amz-apigw-id" in h:
        return "api-gateway-rest"
    return "lambda-url"  # x-amzn-RequestId with no API Gateway header


def _aws(h: dict[str, str]) -> Layer | None:
    found = _evidence(h, "x-amzn-requestid", "apigw-requestid", "x-amz-apigw-id", "x-amz-executed-version",
                      "x-amz-log-result", "x-amz-function-error")
    if not found:
        return None
    report = read_platform_report(h)
    trace = h.get("x-amzn-trace-id", "")
    root = next((p.split("=", 1)[1] for p in trace.split(";") if p.strip().lower().startswith("root=")), None)
    return {
        "platform": "aws", "service": _aws_service(h),
        "request_id": h.get("x-amzn-requestid") or h.get("apigw-requestid"), "trace_id": root,
        "server_duration_ms": report.duration_ms if report else None,
        "init_ms": report.platform_init_ms if report else None, "evidence": found,
    }


def _cloudfront(h: dict[str, str]) -> Layer | None:
    found = _evidence(h, "x-amz-cf-pop", "x-amz-cf-id")
    if not found:
        return None
    cache = h.get("x-cache", "")
    return {"platform": "aws", "service": "cloudfront", "request_id": h.get("x-amz-cf-id"),
            "pop": h.get("x-amz-cf-pop"),
            "cache": cache.split(" from ")[0] if "cloudfront" in cache.lower() else None,
            "evidence": found}


def _google(h: dict[str, str]) -> Layer | None:
    found = _evidence(h, "x-cloud-trace-context", "function-execution-id")
    if not found and h.get("server", "").lower() != "google frontend":
        return None
    trace = re.split(r"[/;]", h.get("x-cloud-trace-context", ""))[0].strip() or None
    execution = h.get("function-execution-id")
    return {"platform": "google", "service": "cloud-functions" if execution else "cloud-run",
            "request_id": execution or trace, "trace_id": trace, "evidence": found or ("server",)}


def _azure(h: dict[str, str]) -> Layer | None:
    names = ("x-ms-invocation-id", "x-ms-request-id", "x-ms-middleware-request-id", "x-ms-routing-request-id")
    app_insights = "appid=" in h.get("request-context", "").lower()
    found = _evidence(h, *names, "x-azure-ref") + (("request-context",) if app_insights else ())
    if not found:
        return None
    request_id = next((h[n] for n in names if n in h), None) or h.get("x-azure-ref")
    only_front_door = set(found) == {"x-azure-ref"}
    return {"platform": "azure", "service": "front-door" if only_front_door else "functions",
            "request_id": request_id, "evidence": found}


def _cloudflare(h: dict[str, str]) -> Layer | None:
    ray = h.get("cf-ray")
    if ray is None:
        return None
    match = _CF_RAY_RE.match(ray.strip())
    return {"platform": "cloudflare", "service": "workers",
            "request_id": match.group(1) if match else ray,
            "pop": match.group(2).upper() if match else None,
            "cache": h.get("cf-cache-status"), "evidence": ("cf-ray",)}


def _generic_duration_ms(h: dict[str, str]) -> float | None:
    match = _SERVER_TIMING_RE.search(h.get("server-timing", ""))
    if match:
        return _float(match.group(2))
    return _float(h.get("x-envoy-upstream-service-time"))


_EXTRACTORS: tuple[Callable[[dict[str, str]], Layer | None], ...] = (
    _openfaas, _vercel, _aws, _google, _azure, _cloudflare, _cloudfront,
)
