"""The ground-truth log: every invocation the sandbox served, as the platform saw it.

Served at `GET /_sandbox/invocations[?function=NAME][&since=SEQ][&surface=url|invoke|container]`
as a JSON list, oldest first. `since` is exclusive, so a poller passes the last `seq` it saw.
Black-box labelling is tested by comparing its labels with these records, which the client
under test never sees.

`cold` means the invocation waited for its instance's init (it was routed to an instance that had
not finished init); with `concurrency_per_instance` > 1 several invocations can share one init.
`init_ms` is spawn -> first `/next` of that instance; `duration_ms` is dispatch to the runtime ->
its response (the REPORT Duration); `latency_ms` is request arrival -> response at the sandbox.
Throttled requests are recorded too (`outcome="throttled"`, no instance).
"""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

MAX_RECORDS = 200_000  # oldest records are dropped beyond this (memory bound for long runs)


@dataclass(frozen=True, slots=True)
class InvocationRecord:
    """One served (or throttled) invocation."""

    seq: int
    function: str
    surface: str  # url | invoke | container
    request_id: str | None
    instance_id: str | None
    cold: bool
    invocation_n: int | None
    init_ms: float | None
    duration_ms: float | None
    latency_ms: float
    started_at: float  # unix time at arrival
    outcome: str  # ok | function_error | timeout | init_error | crash | out_of_memory | throttled
    error_type: str | None
    status: int  # HTTP status returned to the client


class TruthLog:
    """Append-only, bounded, in-memory log of InvocationRecords."""

    def __init__(self, max_records: int = MAX_RECORDS) -> None:
        self._records: deque[InvocationRecord] = deque(maxlen=max_records)
        self._seq = 0

    def record(self, **fields: Any) -> InvocationRecord:
        """Append a record (fields as InvocationRecord's, without seq) and return it."""
        self._seq += 1
        record = InvocationRecord(seq=self._seq, **fields)
        self._records.append(record)
        return record

    def query(self, function: str | None = None, since: int = 0, surface: str | None = None) -> list[dict[str, Any]]:
        """Records with seq > since, optionally of one function / surface, as dicts."""
        return [
            asdict(r)
            for r in self._records
            if r.seq > since and (function is None or r.function == function) and (surface is None or r.surface == surface)
        ]

    def __len__(self) -> int:
        return len(self._records)
