"""Ground-truth evidence of a cold start: platform logs, instrumentation, instance ids.

Pure parsing: every function takes plain values (header dicts, decoded JSON, log text) and never
touches files, sockets or the clock. Evidence is ranked best first (DESIGN.md):

- ``platform``: the provider says so. An AWS Lambda ``REPORT`` line (Invoke API with
  ``LogType=Tail``, where it arrives base64-encoded in ``X-Amz-Log-Result``, or the sandbox) that
  carries ``Init Duration`` (or SnapStart's ``Restore Duration``) is a cold start; a ``REPORT``
  line without either is a warm one.
- ``instrumented``: the function says so, in ``X-Coldbench-Invocation`` (1 = cold, unless
  ``X-Coldbench-Ready-Idle-Ms`` says the initialised instance waited >= 0.5 s for it),
  ``X-Coldbench-Instance`` and ``X-Coldbench-Init-Ms`` headers, or the same fields in a JSON body.
- ``instance``: an instance id never seen before in this run is a cold start. This is the
  weakest truth: an instance warmed before the run began is also "never seen" by the run.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

INSTANCE_HEADER = "X-Coldbench-Instance"
INVOCATION_HEADER = "X-Coldbench-Invocation"
INIT_MS_HEADER = "X-Coldbench-Init-Ms"
LOG_RESULT_HEADER = "X-Amz-Log-Result"  # Lambda Invoke API, LogType=Tail: base64 log tail

# REPORT field names, longest first so "Billed Restore Duration" never reads as "Duration".
_REPORT_FIELDS = {
    "Billed Restore Duration": "billed_restore_duration_ms",
    "Restore Duration": "restore_duration_ms",
    "Billed Duration": "billed_duration_ms",
    "Init Duration": "init_duration_ms",
    "Max Memory Used": "max_memory_used_mb",
    "Memory Size": "memory_size_mb",
    "Duration": "duration_ms",
}
_FIELD_RE = re.compile(
    r"(?<![A-Za-z])(" + "|".join(re.escape(n) for n in _REPORT_FIELDS) + r")\s*:\s*"
    r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(ms|us|µs|s|MB)?(?![A-Za-z0-9])"
)
_REQUEST_ID_RE = re.compile(r"(?<![A-Za-z])RequestId\s*:\s*([^\s,;]+)")
_REPORT_LINE_RE = re.compile(r"(?<![A-Za-z])REPORT(?![A-Za-z])")
_DURATION_SCALE = {None: 1.0, "ms": 1.0, "us": 1e-3, "µs": 1e-3, "s": 1e3}
# Lambda's JSON log format: {"type": "platform.report", "record": {"metrics": {...}}}.
_JSON_METRICS = {
    "durationMs": "duration_ms",
    "billedDurationMs": "billed_duration_ms",
    "memorySizeMB": "memory_size_mb",
    "maxMemoryUsedMB": "max_memory_used_mb",
    "initDurationMs": "init_duration_ms",
    "restoreDurationMs": "restore_duration_ms",
    "billedRestoreDurationMs": "billed_restore_duration_ms",
}
_FIELD_ALIASES = {
    "instance": "instance", "instance_id": "instance",
    "invocation": "invocation", "invocation_n": "invocation", "invocations": "invocation",
    "init_ms": "init_ms", "ready_idle_ms": "ready_idle_ms",
}
# A first invocation the ready instance waited this long for did not wait for init (provisioned
# concurrency, proactive initialisation, a container started ahead): on-demand cold starts hand
# their request over within a few ms of init (coldbench.instrument's X-Coldbench-Ready-Idle-Ms).
PREINITIALISED_IDLE_MS = 500.0


@dataclass(frozen=True, slots=True)
class ReportLine:
    """The fields of one Lambda ``REPORT`` log line; absent fields are None."""

    request_id: str | None = None
    duration_ms: float | None = None
    billed_duration_ms: float | None = None
    memory_size_mb: float | None = None
    max_memory_used_mb: float | None = None
    init_duration_ms: float | None = None
    restore_duration_ms: float | None = None
    billed_restore_duration_ms: float | None = None

    @property
    def is_cold(self) -> bool:
        """True when the platform reports an init (or SnapStart restore) phase."""
        return self.init_duration_ms is not None or self.restore_duration_ms is not None

    @property
    def platform_init_ms(self) -> float | None:
        """Init Duration, or Restore Duration for a SnapStart restore; None when warm."""
        if self.init_duration_ms is not None:
            return self.init_duration_ms
        return self.restore_duration_ms


@dataclass(frozen=True, slots=True)
class InstrumentedFields:
    """What an instrumented function reported about itself (headers or JSON body)."""

    instance_id: str | None = None
    invocation_n: int | None = None
    init_ms: float | None = None
    ready_idle_ms: float | None = None  # first invocation only: how long the ready instance waited

    @property
    def cold(self) -> bool:
        """Invocation 1 that had to wait for init (not one an initialised instance waited for)."""
        waited = self.ready_idle_ms is not None and self.ready_idle_ms >= PREINITIALISED_IDLE_MS
        return self.invocation_n == 1 and not waited


@dataclass(frozen=True, slots=True)
class Evidence:
    """The best ground truth for one sample, and the values it carried."""

    label: str = "unknown"  # cold | warm | unknown
    source: str = "none"  # platform | instrumented | instance | none
    confidence: float | None = None
    instance_id: str | None = None
    invocation_n: int | None = None
    init_ms: float | None = None
    platform_init_ms: float | None = None
    billed_ms: float | None = None


def parse_report_line(text: str) -> ReportLine:
    """Parse a Lambda ``REPORT`` line (or the last one in a multi-line log tail).

    Accepts tab- or space-separated text and Lambda's JSON log format (``platform.report``).
    Raises ValueError when `text` holds no REPORT line; see `find_report_line` for a None.
    """
    report = find_report_line(text)
    if report is None:
        raise ValueError("no Lambda REPORT line found in log text")
    return report


def find_report_line(text: str | None) -> ReportLine | None:
    """Return the last ``REPORT`` line in `text` parsed, or None when there is none."""
    if not text:
        return None
    for line in reversed(text.splitlines()):
        report = _parse_json_report(line) or _parse_text_report(line)
        if report is not None:
            return report
    return None


def _parse_text_report(line: str) -> ReportLine | None:
    if not _REPORT_LINE_RE.search(line):
        return None
    values: dict[str, object] = {}
    request_id = _REQUEST_ID_RE.search(line)
    if request_id:
        values["request_id"] = request_id.group(1)
    for name, raw, unit in _FIELD_RE.findall(line):
        key = _REPORT_FIELDS[name]
        if key in values:
            continue  # the first occurrence is the platform's; later text may be user output
        number = _finite_float(raw)
        if number is not None:
            values[key] = number * (_DURATION_SCALE.get(unit or None, 1.0) if key.endswith("_ms") else 1.0)
    if "duration_ms" not in values and "billed_duration_ms" not in values:
        return None
    return ReportLine(**values)  # type: ignore[arg-type]


def _parse_json_report(line: str) -> ReportLine | None:
    stripped = line.strip()
    if not stripped.startswith("{") or "platform.report" not in stripped:
        return None
    try:
        event = json.loads(stripped)
    except ValueError:
        return None
    if not isinstance(event, dict) or event.get("type") != "platform.report":
        return None
    record = event.get("record")
    record = record if isinstance(record, dict) else {}
    metrics = record.get("metrics")
    metrics = metrics if isinstance(metrics, dict) else {}
    values: dict[str, object] = {}
    for name, key in _JSON_METRICS.items():
        number = _finite_float(metrics.get(name))
        if number is not None:
            values[key] = number
    if isinstance(record.get("requestId"), str):
        values["request_id"] = record["requestId"]
    return ReportLine(**values)  # type: ignore[arg-type]


def decode_log_result(value: str | None) -> str | None:
    """Decode an ``X-Amz-Log-Result`` value (base64 log tail); plain text passes through."""
    if not value:
        return None
    if "REPORT" in value or "\n" in value:
        return value
    try:
        return base64.b64decode(value.strip(), validate=True).decode("utf-8", errors="replace")
    except (binascii.Error, ValueError):
        return value


def header_value(headers: Mapping[str, str], name: str) -> str | None:
    """Return the value of header `name`, matched case-insensitively (first one wins)."""
    wanted = name.lower()
    for key, value in headers.items():
        if isinstance(key, str) and key.lower() == wanted:
            return None if value is None else str(value)
    return None


def parse_headers_text(text: object) -> dict[str, str]:
    """Decode the frame's JSON-text `headers` cell into a dict; anything malformed is {}."""
    if isinstance(text, Mapping):
        return {str(k): str(v) for k, v in text.items()}
    if not isinstance(text, str) or not text:
        return {}
    try:
        decoded = json.loads(text)
    except ValueError:
        return {}
    if not isinstance(decoded, dict):
        return {}
    return {str(k): str(v) for k, v in decoded.items()}


def read_platform_report(headers: Mapping[str, str], log_tail: str | None = None) -> ReportLine | None:
    """Find the platform's REPORT line in an explicit log tail or the ``X-Amz-Log-Result`` header."""
    report = find_report_line(log_tail)
    if report is None:
        report = find_report_line(decode_log_result(header_value(headers, LOG_RESULT_HEADER)))
    return report


def read_instrumented_fields(
    headers: Mapping[str, str], body_json: object | None = None
) -> InstrumentedFields:
    """Read instance id, invocation count and init time from headers, else from a JSON body."""
    raw: dict[str, object] = {}
    for key, value in headers.items():
        name = _canonical_field(key, prefixed_only=True)
        if name and name not in raw:
            raw[name] = value
    for field_name, field_value in _body_fields(body_json, depth=0).items():
        raw.setdefault(field_name, field_value)
    instance = raw.get("instance")
    instance_id = str(instance).strip() if instance is not None else ""
    return InstrumentedFields(
        instance_id=instance_id or None,
        invocation_n=_positive_int(raw.get("invocation")),
        init_ms=_finite_float(raw.get("init_ms")),
        ready_idle_ms=_finite_float(raw.get("ready_idle_ms")),
    )


def _canonical_field(key: object, *, prefixed_only: bool) -> str | None:
    """Map 'X-Coldbench-Invocation', 'coldbench_invocation', ... to 'invocation'."""
    if not isinstance(key, str):
        return None
    name = key.strip().lower().replace("-", "_")
    for prefix in ("x_coldbench_", "coldbench_"):
        if name.startswith(prefix):
            name = name[len(prefix):]
            break
    else:
        if prefixed_only:
            return None
    return _FIELD_ALIASES.get(name)


def _collect(found: dict[str, object], table: Mapping[object, object], *, prefixed_only: bool) -> None:
    for key, value in table.items():
        name = _canonical_field(key, prefixed_only=prefixed_only)
        if name:
            found.setdefault(name, value)


def _body_fields(body: object, depth: int) -> dict[str, object]:
    """Coldbench fields in a JSON body: prefixed top-level keys, a "coldbench" object, a warmer
    reply ({"coldbench_warmer": true, "instance": ...}), or a Lambda proxy response's "headers"
    and JSON-string "body" (Invoke API payloads)."""
    if isinstance(body, str | bytes) and depth <= 2:
        try:
            body = json.loads(body)
        except ValueError:
            return {}
    if not isinstance(body, dict) or depth > 2:
        return {}
    found: dict[str, object] = {}
    nested = next((v for k, v in body.items() if str(k).lower() == "coldbench"), None)
    if isinstance(nested, dict):
        _collect(found, nested, prefixed_only=False)
    # A warmer reply names its instance with bare keys, marked by "coldbench_warmer".
    _collect(found, body, prefixed_only=not body.get("coldbench_warmer"))
    if isinstance(body.get("headers"), dict):
        _collect(found, body["headers"], prefixed_only=True)
    if "body" in body:
        for name, value in _body_fields(body["body"], depth + 1).items():
            found.setdefault(name, value)
    return found


def _finite_float(value: object) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _positive_int(value: object) -> int | None:
    number = _finite_float(value)
    if number is None or number < 1 or number != int(number):
        return None
    return int(number)


def combine_evidence(
    report: ReportLine | None,
    fields: InstrumentedFields,
    seen_instances: AbstractSet[str],
) -> Evidence:
    """Rank the evidence for one sample: platform, then instrumented, then instance, else none."""
    platform_init = report.platform_init_ms if report else None
    values = {
        "instance_id": fields.instance_id,
        "invocation_n": fields.invocation_n,
        "init_ms": fields.init_ms if fields.init_ms is not None else platform_init,
        "platform_init_ms": platform_init,
        "billed_ms": report.billed_duration_ms if report else None,
    }
    if report is not None:
        label, source = ("cold" if report.is_cold else "warm"), "platform"
    elif fields.invocation_n is not None:
        label, source = ("cold" if fields.cold else "warm"), "instrumented"
    elif fields.instance_id is not None:
        label = "warm" if fields.instance_id in seen_instances else "cold"
        source = "instance"
    else:
        return Evidence(**values)  # type: ignore[arg-type]
    return Evidence(label=label, source=source, confidence=1.0, **values)  # type: ignore[arg-type]


def label_sample_evidence(
    headers: Mapping[str, str],
    body_json: object | None,
    log_tail: str | None,
    seen_instances: AbstractSet[str],
) -> Evidence:
    """Label one completed sample from its own evidence, for the engine to record at once.

    Pure: `seen_instances` (instance ids already seen in this run) is read, never changed; the
    caller adds ``evidence.instance_id`` to its set afterwards. ``log_tail`` is the decoded log
    text if the caller has it; an ``X-Amz-Log-Result`` header is also read.
    """
    report = read_platform_report(headers, log_tail)
    fields = read_instrumented_fields(headers, body_json)
    return combine_evidence(report, fields, seen_instances)
