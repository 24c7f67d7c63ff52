"""Workloads a warming strategy is judged against: user arrival times on the experiment clock.

* Poisson arrivals at a rate (exponential gaps): the textbook case, and the worst for a fixed
  keep-alive when the mean gap is near it.
* Bursty on/off: Poisson at `rate` during `on` periods, at `off_rate` (often 0) in between.
* Any of them with deploys (`deploys = ["60s"]`): every instance is recycled at those times,
  as a new version does, so warmed instances are lost and the warmer must start over.
* Trace replay (Azure 2019 / 2021 formats, see `coldbench.warmer.traces`), with time
  compression: `compression = 360` plays a day of trace in four minutes. Compression divides
  every trace time, so idle gaps shrink with it; choose it so the compressed gaps still span
  the platform's keep-alive, or the replay no longer says anything about cold starts.

Pure and seeded: the same spec and seed always give the same arrivals.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from coldbench.arrivals import build_poisson_schedule
from coldbench.errors import ConfigError
from coldbench.warmer.traces import Trace, cut_trace, load_trace

WORKLOAD_TYPES = ("poisson", "bursty", "trace")


@dataclass(frozen=True, slots=True)
class WorkloadSpec:
    """A workload as the suite's `[warmer.workload]` table describes it (validated)."""

    kind: str
    duration_s: float = 0.0  # poisson/bursty: experiment length; trace: 0 = the whole span
    rate_per_s: float = 0.0
    on_s: float = 0.0
    off_s: float = 0.0
    off_rate_per_s: float = 0.0
    trace_path: Path | None = None
    trace_format: str = "azure2019"
    trace_function: str | None = None
    compression: float = 1.0
    start_s: float = 0.0  # trace time where the replay starts
    span_s: float | None = None  # trace time replayed (None: to the end)
    seed: int | None = None
    deploys_s: tuple[float, ...] = ()  # experiment-clock times of deploys (0 = warm-up starts)


@dataclass(frozen=True, slots=True)
class Workload:
    """User arrivals (seconds from the start, sorted) and the experiment's length."""

    kind: str
    arrivals_s: NDArray[np.float64]
    duration_s: float
    description: str
    compression: float = 1.0
    service_ms: float | None = None  # the function's own execution time, when a trace says
    details: dict[str, object] = field(default_factory=dict)
    deploys_s: tuple[float, ...] = ()  # a deploy recycles every instance (the next are cold)

    @property
    def span_s(self) -> float:
        """The workload's own length (trace time): duration × compression."""
        return self.duration_s * self.compression

    @property
    def mean_rate_per_s(self) -> float:
        """User requests per second on the experiment clock."""
        return len(self.arrivals_s) / self.duration_s if self.duration_s else 0.0


def build_poisson_workload(rate_per_s: float, duration_s: float, seed: int) -> Workload:
    """Poisson arrivals at `rate_per_s` over `duration_s`."""
    arrivals = build_poisson_schedule(rate_per_s, duration_s, seed)
    return Workload("poisson", arrivals, duration_s,
                    f"Poisson, {rate_per_s:g}/s (mean gap {1 / rate_per_s:g}s) for {duration_s:g}s")


def build_bursty_workload(rate_per_s: float, on_s: float, off_s: float, duration_s: float,
                          seed: int, off_rate_per_s: float = 0.0) -> Workload:
    """On/off traffic: Poisson at `rate_per_s` for `on_s`, then `off_rate_per_s` for `off_s`."""
    rng = np.random.default_rng(seed)
    parts, start, period = [], 0.0, 0
    while start < duration_s:
        for rate, length in ((rate_per_s, on_s), (off_rate_per_s, off_s)):
            length = min(length, duration_s - start)
            if rate > 0 and length > 0:
                seed_k = int(rng.integers(0, 2**31 - 1))
                parts.append(start + build_poisson_schedule(rate, length, seed_k))
            start += length
        period += 1
    arrivals = np.sort(np.concatenate(parts)) if parts else np.zeros(0)
    text = (f"bursty: {rate_per_s:g}/s for {on_s:g}s, {off_rate_per_s:g}/s for {off_s:g}s, "
            f"{duration_s:g}s in all")
    return Workload("bursty", arrivals, duration_s, text, details={"periods": period})


def build_trace_workload(trace: Trace, compression: float = 1.0, start_s: float = 0.0,
                         span_s: float | None = None) -> Workload:
    """Replay a trace window, `compression` times faster than it happened."""
    part = cut_trace(trace, start_s, span_s)
    text = (f"{trace.format} trace, function {trace.function[:12]}…, {len(part.arrivals_s)} "
            f"invocations over {part.span_s / 3600:g}h of trace"
            + (f", compressed ×{compression:g}" if compression != 1 else ""))
    return Workload("trace", part.arrivals_s / compression, part.span_s / compression, text,
                    compression=compression, service_ms=part.mean_duration_ms,
                    details={"function": trace.function, "format": trace.format,
                             "trigger": trace.trigger, "trace_start_s": start_s})


def build_workload(spec: WorkloadSpec, seed: int, base_dir: Path | None = None) -> Workload:
    """The workload a validated spec describes (`seed` unless the spec sets its own)."""
    workload = _build_arrivals(spec, spec.seed if spec.seed is not None else seed, base_dir)
    if not spec.deploys_s:
        return workload
    text = f"{workload.description}, deploys at {', '.join(f'{d:g}s' for d in spec.deploys_s)}"
    return dataclasses.replace(workload, deploys_s=spec.deploys_s, description=text)


def _build_arrivals(spec: WorkloadSpec, seed: int, base_dir: Path | None) -> Workload:
    if spec.kind == "poisson":
        return build_poisson_workload(spec.rate_per_s, spec.duration_s, seed)
    if spec.kind == "bursty":
        return build_bursty_workload(spec.rate_per_s, spec.on_s, spec.off_s, spec.duration_s,
                                     seed, spec.off_rate_per_s)
    if spec.trace_path is None:
        raise ConfigError("warmer.workload.path: missing; a trace workload needs a trace file")
    path = spec.trace_path if spec.trace_path.is_absolute() or base_dir is None \
        else base_dir / spec.trace_path
    trace = load_trace(path, spec.trace_format, spec.trace_function, seed)
    span = spec.span_s
    if span is None and spec.duration_s:
        span = spec.duration_s * spec.compression
    return build_trace_workload(trace, spec.compression, spec.start_s, span)


def shift_workload(workload: Workload, warmup_s: float) -> Workload:
    """The workload's user requests `warmup_s` later: strategies act during the warm-up (pings,
    provisioning) before the first user request, so the measurement sees their steady state
    rather than the cold start of the warmer itself. Deploys stay where they are: like
    strategy schedules, they are on the experiment clock (0 = the warm-up begins)."""
    if warmup_s <= 0:
        return workload
    return dataclasses.replace(workload, arrivals_s=workload.arrivals_s + warmup_s,
                               duration_s=workload.duration_s + warmup_s,
                               description=f"{workload.description}, after a {warmup_s:g}s warm-up",
                               details={**workload.details, "warmup_s": warmup_s})


def compute_idle_gaps(arrivals_s: NDArray[np.float64]) -> NDArray[np.float64]:
    """Inter-arrival times (seconds) of a sorted arrival schedule."""
    return np.diff(np.asarray(arrivals_s, dtype=np.float64))
