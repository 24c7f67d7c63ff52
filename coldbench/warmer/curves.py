"""P(cold | idle gap) curves as lifetime distributions of idle instances, for the simulator.

For one idle instance, P(cold | gap g) is the probability that the platform reclaimed it within
g of going idle: the cumulative distribution of its idle lifetime. The simulator draws a
lifetime per idle period by inverting that distribution. Curves come from:

* a keep-alive fit of measured idle-gap probes (`coldbench.keepalive`: logistic on log gap),
* published data (`{"points": [[idle_minutes, p_cold], ...]}`, piecewise linear between points),
* a fixed keep-alive (a step: every idle instance lives exactly that long).

Pure: the loaders at the bottom read files, everything else takes plain values.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import special

from coldbench.errors import ConfigError
from coldbench.keepalive import MIN_GAP_S, KeepAliveEstimate, compute_keep_alive_estimate
from coldbench.survival import compute_isotonic_fit

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class ColdCurve:
    """An idle-lifetime distribution: `logistic` (on log gap), `table`/`isotonic` (piecewise
    linear through points) or `step`."""

    kind: str
    source: str
    intercept: float = math.nan
    slope: float = math.nan
    gaps_s: tuple[float, ...] = ()
    p_cold: tuple[float, ...] = ()
    keep_alive_s: float = math.nan
    details: dict[str, float] = field(default_factory=dict)

    def p_cold_at(self, gaps_s: ArrayLike) -> FloatArray:
        """P(cold) after each idle gap."""
        gaps = np.asarray(gaps_s, dtype=np.float64)
        if self.kind == "logistic":
            return special.expit(self.intercept + self.slope * np.log(np.maximum(gaps, MIN_GAP_S)))
        if self.kind in ("table", "isotonic"):
            return np.interp(gaps, self.gaps_s, self.p_cold)
        return (gaps >= self.keep_alive_s).astype(np.float64)

    def draw_lifetimes_s(self, uniforms: ArrayLike) -> FloatArray:
        """Idle lifetimes for uniform(0, 1) draws (inverse CDF); inf = never reclaimed."""
        u = np.clip(np.asarray(uniforms, dtype=np.float64), 1e-12, 1 - 1e-12)
        if self.kind == "logistic":
            return np.exp((special.logit(u) - self.intercept) / self.slope)
        if self.kind in ("table", "isotonic"):
            return _invert_piecewise(np.asarray(self.gaps_s), np.asarray(self.p_cold), u)
        return np.full(u.shape, self.keep_alive_s)

    @property
    def median_lifetime_s(self) -> float:
        """The gap at which P(cold) reaches 50% (the keep-alive estimate)."""
        return float(self.draw_lifetimes_s(np.array([0.5]))[0])

    def describe(self) -> str:
        """One line for reports."""
        if self.kind == "step":
            return f"fixed keep-alive {self.keep_alive_s:g}s ({self.source})"
        return f"{self.kind} P(cold | gap), 50% at {self.median_lifetime_s:.4g}s ({self.source})"


def _invert_piecewise(gaps: FloatArray, p: FloatArray, u: FloatArray) -> FloatArray:
    """Gap where the piecewise-linear, non-decreasing curve first reaches u (inf if never)."""
    index = np.searchsorted(p, u, side="left")
    out = np.full(u.shape, np.inf)
    inside = (index > 0) & (index < p.size)
    i = index[inside]
    fraction = (u[inside] - p[i - 1]) / (p[i] - p[i - 1])
    out[inside] = gaps[i - 1] + fraction * (gaps[i] - gaps[i - 1])
    out[index == 0] = gaps[0]
    return out


def build_logistic_curve(estimate: KeepAliveEstimate, source: str) -> ColdCurve:
    """A curve from a keep-alive fit; ConfigError when the fit has no rising curve."""
    if not (np.isfinite(estimate.slope) and estimate.slope > 0):
        reason = estimate.note or "P(cold) does not rise with the idle gap"
        raise ConfigError(f"warmer.simulate.curve: no usable P(cold | gap) curve from {source}: "
                          f"{reason}")
    return ColdCurve("logistic", source, intercept=estimate.intercept, slope=estimate.slope,
                     details={"n": float(estimate.n), "n_cold": float(estimate.n_cold),
                              "keep_alive_s": estimate.keep_alive_s})


def build_table_curve(gaps_s: ArrayLike, p_cold: ArrayLike, source: str) -> ColdCurve:
    """A piecewise-linear curve through (gap, P(cold)) points (made non-decreasing)."""
    gaps = np.asarray(gaps_s, dtype=np.float64)
    order = np.argsort(gaps, kind="stable")
    gaps = gaps[order]
    p = np.maximum.accumulate(np.clip(np.asarray(p_cold, dtype=np.float64)[order], 0.0, 1.0))
    if gaps.size < 2 or p[-1] <= p[0]:
        raise ConfigError(f"warmer.simulate.curve: {source}: needs at least two points with "
                          "P(cold) rising")
    return ColdCurve("table", source, gaps_s=tuple(gaps.tolist()), p_cold=tuple(p.tolist()))


def build_step_curve(keep_alive_s: float, source: str = "configured") -> ColdCurve:
    """Every idle instance lives exactly `keep_alive_s`."""
    return ColdCurve("step", source, keep_alive_s=float(keep_alive_s))


def build_isotonic_curve(gaps_s: ArrayLike, is_cold: ArrayLike, source: str) -> ColdCurve:
    """The nonparametric (current-status NPMLE) curve of idle-gap probes, as a table.

    Each pooled block of the isotonic fit contributes its first and last gap at the block's
    P(cold), so a fixed keep-alive stays a sharp rise between the last warm and the first cold
    probe instead of a slope spread across the measured range.
    """
    gaps = np.asarray(gaps_s, dtype=np.float64)
    cold = np.asarray(is_cold, dtype=np.float64)
    keep = np.isfinite(gaps) & np.isfinite(cold)
    gaps, cold = gaps[keep], cold[keep]
    if gaps.size < 2 or cold.min() == cold.max():
        raise ConfigError(f"warmer.simulate.curve: no usable P(cold | gap) curve from {source}: "
                          f"{int(cold.sum())} of {gaps.size} probes cold; the idle gaps must "
                          "straddle the keep-alive")
    unique, inverse = np.unique(gaps, return_inverse=True)
    counts = np.bincount(inverse).astype(np.float64)
    means, ends = compute_isotonic_fit(np.bincount(inverse, weights=cold) / counts, counts)
    points_g, points_p = [], []
    for mean, start, end in zip(means, [0, *ends[:-1]], ends, strict=True):
        points_g += [float(unique[start]), float(unique[end - 1])]
        points_p += [float(mean), float(mean)]
    curve = build_table_curve(points_g, points_p, source)
    return dataclasses.replace(curve, kind="isotonic", details={"n": float(gaps.size),
                                                                "n_cold": float(cold.sum())})


def fit_curve_from_samples(frame: pd.DataFrame, source: str, model: str = "isotonic") -> ColdCurve:
    """A curve from user samples with a measured gap and a cold/warm label: the isotonic
    (nonparametric) estimate, or the logistic keep-alive fit of `coldbench.keepalive`."""
    usable = frame[frame["gap_s"].notna() & frame["label"].isin(("cold", "warm"))
                   & frame["error"].isna()]
    gaps = usable["gap_s"].to_numpy(dtype=np.float64)
    cold = usable["label"].eq("cold").to_numpy()
    if model == "isotonic":
        return build_isotonic_curve(gaps, cold, source)
    return build_logistic_curve(compute_keep_alive_estimate(gaps, cold), source)


def load_published_curve(path: Path) -> ColdCurve:
    """A table curve from published `{"points": [[idle_minutes, p_cold], ...]}` JSON."""
    from coldbench.errors import RunFormatError
    from coldbench.external import load_published_cold_curve

    try:
        table = load_published_cold_curve(path)
    except RunFormatError as exc:
        raise ConfigError(f"warmer.simulate.curve.published: {exc}") from None
    return build_table_curve(table["gap_s"], table["p_cold"], f"published: {Path(path).name}")


def load_run_curve(run_dir: Path, model: str = "isotonic") -> ColdCurve:
    """A logistic curve fitted to the idle-gap probes of a run directory."""
    from coldbench.analysis import load_runs, select_gap_probes
    from coldbench.errors import RunFormatError

    try:
        run = load_runs([run_dir])[0]
    except RunFormatError as exc:
        raise ConfigError(f"warmer.simulate.curve.run: {exc}") from None
    return fit_curve_from_samples(select_gap_probes(run.frame), f"run: {Path(run_dir).name}", model)


def load_configured_curve(kind: str, keep_alive_s: float = math.nan,
                          path: Path | None = None, model: str = "isotonic") -> ColdCurve:
    """The curve a `[warmer.simulate] curve` names that needs no live run (keep_alive,
    published or run); ConfigError for "calibrate" and "none", which come from the experiment."""
    if kind == "keep_alive":
        return build_step_curve(keep_alive_s, "configured keep-alive")
    if kind == "published" and path is not None:
        return load_published_curve(path)
    if kind == "run" and path is not None:
        return load_run_curve(path, model)
    raise ConfigError(f"warmer.simulate.curve: {kind!r} is measured during `coldbench warm`; "
                      "for --simulate give {keep_alive = \"5s\"}, {published = \"file.json\"} "
                      "or {run = \"runs/dir\"}")
