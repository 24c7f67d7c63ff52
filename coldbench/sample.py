"""The Sample: one invocation, one row. The contract every other part relies on.

Latencies are float milliseconds computed from `time.perf_counter_ns` differences and are never
rounded. `started_at` is the UTC wall clock at send (ISO 8601), used only to place a sample in time.
"""

from __future__ import annotations

import dataclasses
import operator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# Labels and where they came from (DESIGN.md).
LABELS = ("cold", "warm", "unknown")
LABEL_SOURCES = ("platform", "instrumented", "instance", "heuristic", "none")


@dataclass(frozen=True, slots=True)
class Sample:
    """One probe's outcome. Every failure is a Sample with `error` set, never an exception."""

    probe_id: int  # index in the run's plan: unique, stable across --resume
    target: str
    scenario: str
    seq: int  # position in this target's schedule
    started_at: str  # UTC wall clock at send, ISO 8601 with microseconds
    latency_ms: float  # send -> last body byte (or -> failure); open loop: from intended send
    kind: str = "serverless"  # serverless | container
    planned_gap_s: float | None = None
    gap_s: float | None = None  # measured idle time since the previous response on this target
    dns_ms: float | None = None
    connect_ms: float | None = None
    tls_ms: float | None = None
    ttfb_ms: float | None = None  # request sent -> first response byte (server time + RTT)
    transfer_ms: float | None = None  # first byte -> last body byte
    status: int | None = None
    error: str | None = None  # error kind (see coldbench.probe.ERROR_KINDS); None on success
    error_detail: str | None = None
    bytes_read: int = 0
    label: str = "unknown"
    label_source: str = "none"
    label_confidence: float | None = None
    instance_id: str | None = None
    invocation_n: int | None = None  # invocation count on that instance (1 = cold)
    init_ms: float | None = None  # function-reported or platform-reported init time
    platform_init_ms: float | None = None  # e.g. Lambda REPORT Init Duration
    billed_ms: float | None = None
    fresh_connection: bool = True
    lag_ms: float | None = None  # open loop: actual send - intended send
    service_ms: float | None = None  # open loop: actual send -> done
    phase: str = "user"  # user | warming | forcing
    worker: int = 0
    agent: str | None = None
    headers: dict[str, str] = field(default_factory=dict)  # response headers kept for labelling

    def to_record(self) -> dict[str, Any]:
        """Return the sample as a plain dict (JSON- and DataFrame-ready), fields in order."""
        return dict(zip(SAMPLE_COLUMNS, _field_values(self), strict=True))

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Sample:
        """Rebuild a Sample from `to_record` output, ignoring unknown keys (newer writers)."""
        names = SAMPLE_FIELDS
        return cls(**{k: v for k, v in record.items() if k in names})


SAMPLE_FIELDS: frozenset[str] = frozenset(f.name for f in dataclasses.fields(Sample))
SAMPLE_COLUMNS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Sample))
_field_values = operator.attrgetter(*SAMPLE_COLUMNS)  # one C call instead of 35 getattr
_NS_PER_S = 1_000_000_000
_second_cache: list[Any] = [None, ""]  # (whole UTC second, its ISO prefix): most samples share it


def format_started_at(wall_ns: int) -> str:
    """`time.time_ns()` as the `started_at` text: UTC ISO 8601 with microseconds, exactly as
    `datetime.now(UTC).isoformat(timespec="microseconds")` writes it, for a fraction of the cost
    (the date and time of day are formatted once per second)."""
    seconds, rest_ns = divmod(wall_ns, _NS_PER_S)
    if _second_cache[0] != seconds:
        prefix = datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")[:-6]
        _second_cache[0], _second_cache[1] = seconds, prefix
    return f"{_second_cache[1]}.{rest_ns // 1000:06d}+00:00"
