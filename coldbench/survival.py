"""Survival of idle instances: how long an idle instance lives before the platform reclaims it.

Pure functions over numpy arrays; no pandas, no I/O.

An idle-gap probe never sees an instance die; it only learns whether the instance outlived the
gap (warm: lifetime > gap, right-censored) or not (cold: lifetime <= gap, left-censored). That is
"current status" data, and its nonparametric maximum-likelihood estimate of P(lifetime <= g) is
the isotonic (pool-adjacent-violators) regression of the cold indicator on the gap
(Groeneboom & Wellner 1992). `compute_idle_survival` returns that estimate as a survival curve;
its Wilson bands per pooled block are descriptive (they ignore the pooling's own uncertainty).
Treating cold probes as deaths *at* the gap and running Kaplan–Meier would move every death
later than it happened and overstate survival; `compute_kaplan_meier` is for data that carry
exact lifetimes with right censoring (e.g. instance ids tracked until they vanish).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special

from coldbench.stats import DEFAULT_CONFIDENCE, compute_wilson_interval

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class SurvivalCurve:
    """A right-continuous step function S(t) with pointwise bands, evaluated at `time_s`."""

    time_s: FloatArray  # step positions (ascending)
    survival: FloatArray  # S just after each step position
    low: FloatArray
    high: FloatArray
    n: NDArray[np.int64]  # probes pooled in the block (idle survival) or at risk (Kaplan–Meier)
    method: str

    def median_s(self) -> float:
        """First time at which S drops to 0.5 or below (NaN if it never does)."""
        below = np.flatnonzero(self.survival <= 0.5)
        return float(self.time_s[below[0]]) if below.size else float("nan")


def compute_isotonic_fit(values: FloatArray, weights: FloatArray) -> tuple[FloatArray, list[int]]:
    """Pool-adjacent-violators: the nondecreasing fit to `values` (weighted least squares).

    Returns the fitted block means and each block's end index (exclusive) in input order.
    """
    means: list[float] = []
    sizes: list[float] = []
    ends: list[int] = []
    for i, (value, weight) in enumerate(zip(values, weights, strict=True)):
        means.append(float(value))
        sizes.append(float(weight))
        ends.append(i + 1)
        while len(means) > 1 and means[-2] >= means[-1]:
            total = sizes[-2] + sizes[-1]
            merged = (means[-2] * sizes[-2] + means[-1] * sizes[-1]) / total
            means[-2:] = [merged]
            sizes[-2:] = [total]
            ends[-2:] = [ends[-1]]
    return np.array(means, dtype=np.float64), ends


def compute_idle_survival(
    gaps_s: ArrayLike, is_cold: ArrayLike, confidence: float = DEFAULT_CONFIDENCE
) -> SurvivalCurve:
    """Nonparametric P(idle instance still alive after g seconds) from current-status probes.

    Each probe contributes (gap, cold?). The curve steps at the start of each pooled block.
    """
    gaps = np.asarray(gaps_s, dtype=np.float64)
    cold = np.asarray(is_cold, dtype=np.float64)
    keep = np.isfinite(gaps) & np.isfinite(cold)
    gaps, cold = gaps[keep], cold[keep]
    if gaps.size == 0:
        empty = np.array([], dtype=np.float64)
        return SurvivalCurve(empty, empty, empty, empty, np.array([], dtype=np.int64),
                             "current-status NPMLE")
    unique, inverse = np.unique(gaps, return_inverse=True)
    counts = np.bincount(inverse).astype(np.float64)
    colds = np.bincount(inverse, weights=cold)
    means, ends = compute_isotonic_fit(colds / counts, counts)
    starts = [0, *ends[:-1]]
    block_n = np.array([counts[s:e].sum() for s, e in zip(starts, ends, strict=True)])
    block_k = np.array([colds[s:e].sum() for s, e in zip(starts, ends, strict=True)])
    _p, low, high = compute_wilson_interval(block_k, block_n, confidence)
    return SurvivalCurve(
        time_s=unique[starts], survival=1.0 - means, low=1.0 - high, high=1.0 - low,
        n=block_n.astype(np.int64), method="current-status NPMLE (isotonic), Wilson per block",
    )


def compute_kaplan_meier(
    durations_s: ArrayLike, observed: ArrayLike, confidence: float = DEFAULT_CONFIDENCE
) -> SurvivalCurve:
    """Kaplan–Meier survival for exact lifetimes (`observed`=True) and right-censored ones.

    Bands are Greenwood with the log(-log) transform, which keeps them inside [0, 1].
    """
    times = np.asarray(durations_s, dtype=np.float64)
    events = np.asarray(observed, dtype=bool)
    keep = np.isfinite(times)
    times, events = times[keep], events[keep]
    event_times = np.unique(times[events])
    at_risk = np.array([(times >= t).sum() for t in event_times], dtype=np.int64)
    deaths = np.array([(events & (times == t)).sum() for t in event_times], dtype=np.float64)
    survival = np.cumprod(1.0 - deaths / at_risk).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        greenwood = np.cumsum(deaths / (at_risk * (at_risk - deaths)))
        log_s = np.log(survival)
        se = np.sqrt(greenwood) / np.abs(log_s)
        z = special.ndtri(0.5 + confidence / 2)
        low = np.exp(-np.exp(np.log(-log_s) + z * se))
        high = np.exp(-np.exp(np.log(-log_s) - z * se))
    low = np.where(survival <= 0, 0.0, np.nan_to_num(low, nan=1.0))
    high = np.where(survival <= 0, 0.0, np.nan_to_num(high, nan=1.0))
    return SurvivalCurve(event_times, survival, low, high, at_risk,
                         "Kaplan–Meier, Greenwood log(-log) bands")
