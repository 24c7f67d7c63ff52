"""History: the gate's metrics over many runs (the nightly series), with change points.

`load_history_runs(runs_dir)` finds the run directories (I/O); `build_history(runs)` computes,
per target and metric, one point per run with its interval (coldbench.stats order-statistic
intervals for percentiles, Wilson for rates, the profile interval of coldbench.keepalive for the
keep-alive) and flags steps with coldbench.step_detect (PELT, penalised Gaussian cost).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from coldbench.compare import (
    DEFAULT_MIN_EFFECT,
    count_cold,
    count_errors,
    metric_keys,
    select_idle_gaps,
    select_latencies_ms,
    user_samples,
)
from coldbench.errors import ColdbenchError, RunFormatError
from coldbench.keepalive import compute_keep_alive_estimate
from coldbench.stats import compute_percentile, compute_proportion
from coldbench.step_detect import Step, detect_steps

_Z95 = 1.959963984540054


@dataclass(frozen=True, slots=True)
class HistoryRun:
    """One run of the series: where it is, when it started, and its user samples."""

    name: str
    started_at: str
    frame: pd.DataFrame
    manifest: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class HistoryPoint:
    """One metric of one target in one run, with its 95% interval (None when unbounded)."""

    run: str
    started_at: str
    value: float | None
    low: float | None
    high: float | None
    n: int


@dataclass(frozen=True, slots=True)
class ChangePoint:
    """A step in a series: from run number `run_number` (1-based) on, the level changed."""

    run_number: int
    run: str
    before: float
    after: float
    ratio: float
    direction: str  # "worse" | "better"


@dataclass(frozen=True, slots=True)
class MetricSeries:
    """A metric of one target across the runs, oldest first."""

    target: str
    key: str
    unit: str  # "ms" | "fraction" | "s"
    higher_is_worse: bool
    points: tuple[HistoryPoint, ...]
    change_points: tuple[ChangePoint, ...]


@dataclass(frozen=True, slots=True)
class History:
    """Every series of every target, plus warnings (skipped directories)."""

    runs: tuple[str, ...]
    series: tuple[MetricSeries, ...]
    warnings: tuple[str, ...] = ()


def load_history_runs(runs_dir: Path | str) -> tuple[list[HistoryRun], list[str]]:
    """Load every run directory directly under `runs_dir`, oldest first by `started_at`.

    A directory that is not a coldbench run is skipped silently; a broken run is skipped with
    a warning, so one bad night does not hide the series.
    """
    from coldbench.store import MANIFEST_NAME, load_manifest, load_run

    root = Path(runs_dir)
    if not root.is_dir():
        raise RunFormatError(f"{root}: not a directory of runs")
    runs, warnings = [], []
    for path in sorted(p for p in root.iterdir() if p.is_dir() and (p / MANIFEST_NAME).exists()):
        try:
            manifest = load_manifest(path)
            frame = load_run(path)
        except ColdbenchError as exc:
            warnings.append(f"skipped {path.name}: {exc}")
            continue
        runs.append(HistoryRun(path.name, str(manifest.get("started_at") or ""), frame, manifest))
    if not runs:
        raise RunFormatError(f"{root}: no coldbench run directories found")
    runs.sort(key=lambda r: (r.started_at, r.name))
    return runs, warnings


def compute_point(samples: pd.DataFrame, key: str) -> tuple[float | None, float | None,
                                                            float | None, int]:
    """(value, low, high, n) of one metric over one target's user samples in one run."""
    if key in ("cold_rate", "error_rate"):
        hits, total = count_cold(samples) if key == "cold_rate" else count_errors(samples)
        if total == 0:
            return None, None, None, 0
        estimate = compute_proportion(hits, total)
        return estimate.p, estimate.low, estimate.high, total
    if key == "keep_alive":
        fit = compute_keep_alive_estimate(*select_idle_gaps(samples))
        return _finite(fit.keep_alive_s), _finite(fit.low_s, 0.0), _finite(fit.high_s), fit.n
    label, stat = key.split(".")
    values = select_latencies_ms(samples, label)
    if values.size == 0:
        return None, None, None, 0
    est = compute_percentile(values, float(stat[1:]) / 100)
    return est.value, _finite(est.low), _finite(est.high), est.n


def _finite(value: float, exclude: float | None = None) -> float | None:
    """A finite float, else None (also None for `exclude`, e.g. an open lower end of 0)."""
    if value is None or not math.isfinite(value) or value == exclude:
        return None
    return float(value)


def metric_unit(key: str) -> tuple[str, bool]:
    """(unit, higher_is_worse) of a metric key."""
    if key in ("cold_rate", "error_rate"):
        return "fraction", True
    return ("s", False) if key == "keep_alive" else ("ms", True)


def build_series(target: str, key: str, runs: list[HistoryRun],
                 min_effect: float = DEFAULT_MIN_EFFECT) -> MetricSeries:
    """One metric of one target across `runs`, with its change points."""
    unit, higher_is_worse = metric_unit(key)
    points = []
    for run in runs:
        samples = user_samples(run.frame, target)
        value, low, high, n = compute_point(samples, key) if len(samples) else (None, None,
                                                                                 None, 0)
        points.append(HistoryPoint(run.name, run.started_at, value, low, high, n))
    steps = find_change_points(points, log_scale=unit != "fraction", min_effect=min_effect)
    changes = tuple(_change_point(step, points, higher_is_worse) for step in steps)
    return MetricSeries(target, key, unit, higher_is_worse, tuple(points), changes)


def find_change_points(points: Iterable[HistoryPoint], *, log_scale: bool,
                       min_effect: float) -> list[Step]:
    """Run step detection on the point values, using each interval as that point's noise."""
    pts = list(points)
    values = [p.value if p.value is not None else math.nan for p in pts]
    sigmas = [_point_sigma(p, log_scale) for p in pts]
    return detect_steps(values, sigmas, log_scale=log_scale, min_effect=min_effect)


def _point_sigma(point: HistoryPoint, log_scale: bool) -> float:
    """A 95% interval turned into a standard error (NaN when the interval is open)."""
    if point.low is None or point.high is None or point.value is None:
        return math.nan
    if log_scale:
        if point.low <= 0:
            return math.nan
        return math.log(point.high / point.low) / (2 * _Z95)
    return (point.high - point.low) / (2 * _Z95)


def _change_point(step: Step, points: list[HistoryPoint], higher_is_worse: bool) -> ChangePoint:
    worse = (step.ratio > 1) == higher_is_worse
    return ChangePoint(step.index + 1, points[step.index].run, step.before, step.after,
                       step.ratio, "worse" if worse else "better")


def build_history(runs: list[HistoryRun], targets: Iterable[str] | None = None,
                  keys: Iterable[str] | None = None, min_effect: float = DEFAULT_MIN_EFFECT,
                  warnings: Iterable[str] = ()) -> History:
    """Every (target, metric) series over `runs` (oldest first)."""
    seen = sorted({t for run in runs for t in user_samples(run.frame)["target"].unique()})
    chosen = seen if targets is None else [t for t in seen if t in set(targets)]
    missing = [] if targets is None else [t for t in targets if t not in seen]
    keys = list(keys) if keys is not None else metric_keys()
    series = [build_series(target, key, runs, min_effect) for target in chosen for key in keys]
    notes = list(warnings) + [f"target {t!r} is in none of the runs" for t in missing]
    return History(tuple(r.name for r in runs), tuple(series), tuple(notes))


def sparkline(values: Iterable[float | None]) -> str:
    """A one-line trend: "▁▂▂▁▇██▇" (a space where a run has no value)."""
    bars = "▁▂▃▄▅▆▇█"
    vals = list(values)
    finite = [v for v in vals if v is not None and math.isfinite(v)]
    if not finite:
        return " " * len(vals)
    low, high = min(finite), max(finite)
    span = high - low or 1.0
    return "".join(" " if v is None or not math.isfinite(v)
                   else bars[int(round((v - low) / span * (len(bars) - 1)))] for v in vals)


def series_values(series: MetricSeries) -> np.ndarray:
    """The point values as floats (NaN where missing)."""
    return np.array([p.value if p.value is not None else np.nan for p in series.points])
