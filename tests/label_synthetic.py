"""Synthetic runs with known truth for the labelling tests (seeded, no I/O).

A keep-alive platform: an instance survives `keep_alive_s` of idleness; a probe after a longer
gap meets a new instance (cold). Warm server time is lognormal around `warm_ms`; a cold one adds
an init drawn uniformly from `cold_extra_ms`. Instrumented headers carry the truth.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from coldbench.sample import Sample
from coldbench.store import frame_from_records

_EPOCH = pd.Timestamp("2026-01-01T00:00:00", tz="UTC")


def build_keepalive_samples(
    *,
    target: str = "fn",
    gaps_s: tuple[float, ...] = (1.0, 3.0, 8.0, 12.0),
    repetitions: int = 20,
    keep_alive_s: float = 5.0,
    warm_ms: float = 2.0,
    warm_sigma: float = 0.25,
    cold_extra_ms: tuple[float, float] = (60.0, 200.0),
    tls_ms: tuple[float, float] | None = None,
    seed: int = 1,
    probe_offset: int = 0,
    scenario: str = "idle_gap-0",
) -> list[Sample]:
    """One target's idle-gap scenario: a priming probe, then shuffled gaps, truth in headers."""
    rng = np.random.default_rng(seed)
    gaps = [g for g in gaps_s for _ in range(repetitions)]
    rng.shuffle(gaps)
    samples = []
    instance, invocations, clock_s = 0, 0, 0.0
    for seq, gap in enumerate([None, *gaps]):
        cold = gap is None or gap > keep_alive_s
        if cold:
            instance, invocations = instance + 1, 0
        invocations += 1
        ttfb = float(rng.lognormal(np.log(warm_ms), warm_sigma))
        if cold:
            ttfb += float(rng.uniform(*cold_extra_ms))
        connect = float(rng.uniform(0.05, 0.4))
        tls = float(rng.uniform(*tls_ms)) if tls_ms else None
        clock_s += (gap or 0.0) + ttfb / 1000
        samples.append(Sample(
            probe_id=probe_offset + seq, target=target, scenario=scenario, seq=seq,
            started_at=(_EPOCH + pd.Timedelta(seconds=round(clock_s, 6))).isoformat(),
            latency_ms=connect + (tls or 0.0) + ttfb + 0.1, gap_s=gap, connect_ms=connect, tls_ms=tls,
            ttfb_ms=ttfb, transfer_ms=0.1, status=200,
            headers={"X-Coldbench-Instance": f"{target}-i{instance}",
                     "X-Coldbench-Invocation": str(invocations)},
        ))
    return samples


def build_frame(samples: list[Sample]) -> pd.DataFrame:
    """A standard sample frame (as the store builds it) from samples."""
    return frame_from_records([s.to_record() for s in samples])


def truth_labels(frame: pd.DataFrame) -> pd.Series:
    """The truth the synthetic headers encode (invocation 1 = cold)."""
    return frame["headers"].map(
        lambda h: "cold" if json.loads(h).get("X-Coldbench-Invocation") == "1" else "warm"
    )
