"""Arrival schedules for open-loop load (pure, seeded): offsets in seconds from the start.

Constant and Poisson arrivals at a rate, a linear ramp between two rates, and steps of
(rate, duration). The load engine charges each request from its intended time in this schedule
(as wrk2 does), so a stalled target cannot hide behind a slowed-down client.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from coldbench.errors import ConfigError

FloatArray = NDArray[np.float64]


def build_constant_schedule(rate_per_s: float, duration_s: float) -> FloatArray:
    """Evenly spaced offsets: one request every 1/rate seconds in [0, duration)."""
    count = int(np.floor(rate_per_s * duration_s + 1e-9))
    return np.arange(count, dtype=np.float64) / rate_per_s


def build_poisson_schedule(rate_per_s: float, duration_s: float, seed: int) -> FloatArray:
    """Poisson arrivals (exponential inter-arrival times) in [0, duration), seeded."""
    rng = np.random.default_rng(seed)
    expected = rate_per_s * duration_s
    draws = int(expected + 10 * np.sqrt(expected) + 10)
    offsets = np.cumsum(rng.exponential(1.0 / rate_per_s, size=draws))
    while offsets[-1] < duration_s:  # vanishingly rare; extend rather than truncate the process
        more = offsets[-1] + np.cumsum(rng.exponential(1.0 / rate_per_s, size=draws))
        offsets = np.concatenate([offsets, more])
    return offsets[offsets < duration_s]


def build_ramp_schedule(start_rate: float, end_rate: float, duration_s: float) -> FloatArray:
    """Deterministic arrivals whose rate rises linearly from start to end over the duration.

    The n-th arrival is where the integrated rate Λ(t) = r0·t + (r1−r0)·t²/(2T) reaches n.
    """
    slope = (end_rate - start_rate) / duration_s
    total = start_rate * duration_s + slope * duration_s**2 / 2
    n = np.arange(int(np.floor(total + 1e-9)), dtype=np.float64)
    if abs(slope) < 1e-12:
        return n / start_rate
    # Solve slope/2·t² + r0·t − n = 0 for t ≥ 0.
    return (-start_rate + np.sqrt(start_rate**2 + 2 * slope * n)) / slope


def build_step_schedule(steps: Sequence[tuple[float, float]], poisson: bool, seed: int) -> FloatArray:
    """Concatenate phases of (rate per s, duration s), each constant or Poisson."""
    parts = []
    offset = 0.0
    for index, (rate, duration) in enumerate(steps):
        if poisson:
            part = build_poisson_schedule(rate, duration, seed + index)
        else:
            part = build_constant_schedule(rate, duration)
        parts.append(part + offset)
        offset += duration
    return np.concatenate(parts) if parts else np.zeros(0)


def build_schedule(rate_per_s: float, duration_s: float, arrivals: str, seed: int,
                   ramp_to: float | None = None,
                   steps: Sequence[tuple[float, float]] | None = None) -> FloatArray:
    """The schedule a `rate` scenario asks for (steps win over ramp, ramp over plain rate)."""
    if steps:
        return build_step_schedule(steps, arrivals == "poisson", seed)
    if ramp_to is not None:
        return build_ramp_schedule(rate_per_s, ramp_to, duration_s)
    if arrivals == "poisson":
        return build_poisson_schedule(rate_per_s, duration_s, seed)
    return build_constant_schedule(rate_per_s, duration_s)


def parse_steps(value: object, where: str) -> list[tuple[float, float]]:
    """Read `steps = [[rate, "30s"], ...]` from a suite into (rate, seconds) pairs."""
    from coldbench.units import parse_duration_s

    if not isinstance(value, list) or not value:
        raise ConfigError(f'{where}: expected a list like [[100, "30s"], [200, "30s"]]')
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, list) or len(item) != 2 or not isinstance(item[0], int | float):
            raise ConfigError(f'{where}[{i}]: expected [rate, duration], e.g. [100, "30s"]')
        out.append((float(item[0]), parse_duration_s(item[1], f"{where}[{i}]")))
    return out
