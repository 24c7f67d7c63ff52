"""Client self-check: is the client, not the target, the bottleneck?

Measures this process's CPU time over the measurement (getrusage), CPU µs per request, and
garbage collections during measurement (GC is frozen after set-up, so collections that do run
are counted and reported). Warns above 80% CPU of one core: then latencies include client
queueing and the figures understate the target.
"""

from __future__ import annotations

import gc
import resource
import time
from dataclasses import asdict, dataclass
from typing import Any

CPU_WARN_FRACTION = 0.80


@dataclass(frozen=True, slots=True)
class ClientLoad:
    """Client-side cost of a measurement."""

    wall_s: float
    cpu_s: float
    requests: int
    gc_collections: int
    peak_rss_mb: float

    @property
    def cpu_fraction(self) -> float:
        """CPU seconds per wall second (1.0 = one core fully busy)."""
        return self.cpu_s / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def cpu_us_per_request(self) -> float | None:
        """Client CPU microseconds spent per request."""
        return self.cpu_s * 1e6 / self.requests if self.requests else None

    def warning(self) -> str | None:
        """A one-line warning when the client may be the bottleneck, else None."""
        if self.cpu_fraction > CPU_WARN_FRACTION:
            return (f"client CPU at {self.cpu_fraction:.0%} of a core: the client may be the "
                    "bottleneck; use --workers or a lower rate")
        return None

    def to_record(self) -> dict[str, Any]:
        """JSON-ready dict for the manifest."""
        record = asdict(self)
        record.update(cpu_fraction=self.cpu_fraction, cpu_us_per_request=self.cpu_us_per_request,
                      warning=self.warning())
        return record


class ClientMonitor:
    """Start at the beginning of measurement, `finish(requests)` at the end."""

    def __init__(self) -> None:
        self._collections = 0
        gc.collect()
        gc.freeze()  # set-up objects move to a permanent generation: fewer, shorter collections
        gc.callbacks.append(self._on_gc)
        self._wall0 = time.perf_counter()
        self._cpu0 = _cpu_s()

    def _on_gc(self, phase: str, _info: dict[str, Any]) -> None:
        if phase == "start":
            self._collections += 1

    def finish(self, requests: int) -> ClientLoad:
        """Stop counting and return the client's load over the measurement."""
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)
        gc.unfreeze()
        return ClientLoad(
            wall_s=time.perf_counter() - self._wall0,
            cpu_s=_cpu_s() - self._cpu0,
            requests=requests,
            gc_collections=self._collections,
            peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        )


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
