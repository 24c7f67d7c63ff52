"""Idle-gap charts: P(cold) vs gap with the keep-alive fit, latency vs gap, idle survival.

`plot_*(frame, ax) -> Axes` like `coldbench.charts`; gaps are the measured idle gaps of user
probes with a cold/warm label. The gap axis is in minutes from three minutes up, else seconds,
and logarithmic when the gaps span orders of magnitude.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.legend_handler import HandlerTuple
from matplotlib.lines import Line2D

from coldbench.analysis import ensure_tidy_frame, select_gap_probes, select_user_samples
from coldbench.chart_style import (
    LABEL_COLOURS,
    LABEL_MARKERS,
    SERIES_MARKERS,
    format_log_axis,
    gap_axis_unit,
    mark_empty,
    series_colour,
)
from coldbench.keepalive import (
    KeepAliveEstimate,
    compute_binned_cold_probability,
    compute_keep_alive_estimate,
)
from coldbench.survival import compute_idle_survival

_MAX_PLANNED_BINS = 40


def format_gap(seconds: float, divisor: float, unit: str) -> str:
    """A gap in the axis unit with three significant digits ("6.36 min", "≥ 30 min")."""
    if not np.isfinite(seconds):
        return "∞" if seconds > 0 else "?"
    return f"{seconds / divisor:.3g} {unit}"


def _use_log_x(gaps_s: np.ndarray) -> bool:
    """Log axis when most gaps are short but some are orders of magnitude longer."""
    positive = gaps_s[gaps_s > 0]
    if positive.size < 2:
        return False
    return bool(positive.max() / np.quantile(positive, 0.1) > 30)


def _finish_gap_axis(ax: Axes, gaps_s: np.ndarray, unit: str, log_x: bool | None) -> None:
    """Label the gap axis; call after drawing (fixing a limit stops autoscaling)."""
    if _use_log_x(gaps_s) if log_x is None else log_x:
        ax.set_xscale("log")
        ax.set_xlabel(f"idle gap before the request ({unit}, log scale)")
        format_log_axis(ax, "x")
    else:
        ax.set_xlim(left=0)
        ax.set_xlabel(f"idle gap before the request ({unit})")


def _bin_keys(group: pd.DataFrame) -> np.ndarray | None:
    planned = group["planned_gap_s"].to_numpy(float)
    if np.isfinite(planned).all() and np.unique(planned).size <= _MAX_PLANNED_BINS:
        return planned
    return None


def plot_cold_probability(
    frame: pd.DataFrame,
    ax: Axes,
    reference: pd.DataFrame | None = None,
    log_x: bool | None = None,
) -> Axes:
    """Observed P(cold) per gap bin (Wilson 95% bars), the fitted curve and keep-alive interval.

    `reference` (columns gap_s, p_cold, source) overlays published curves, e.g. from
    `coldbench.external.load_published_cold_curve`.
    """
    probes = select_gap_probes(ensure_tidy_frame(frame))
    if probes.empty:
        return mark_empty(ax, "no idle-gap samples with a cold/warm label")
    gaps_all = probes["gap_s"].to_numpy(float)
    divisor, unit = gap_axis_unit(float(gaps_all.max()))
    grid_s = np.geomspace(max(gaps_all.min(), 1e-3), gaps_all.max(), 400)
    groups = list(probes.groupby("series", sort=True))
    handles: list[tuple[Any, ...]] = []
    labels: list[str] = []
    for index, (series, group) in enumerate(groups):
        colour = series_colour(index)
        gaps, cold = group["gap_s"].to_numpy(float), group["is_cold"].to_numpy(bool)
        binned = compute_binned_cold_probability(gaps, cold, _bin_keys(group))
        estimate = compute_keep_alive_estimate(gaps, cold)
        # Dodge series sideways a little so error bars at shared planned gaps stay readable.
        dodge = (index - (len(groups) - 1) / 2) * 0.006 * float(gaps_all.max())
        shown_x = (binned.gap_s + (0.0 if _use_log_x(gaps_all) else dodge)) / divisor
        points = ax.errorbar(shown_x, binned.p, yerr=[binned.p - binned.low,
                             binned.high - binned.p], color=colour, capsize=2, markersize=4.5,
                             fmt=SERIES_MARKERS[index % len(SERIES_MARKERS)], elinewidth=0.9,
                             alpha=0.85)
        line = _draw_fit(ax, estimate, grid_s, divisor, colour, 0.12 if len(groups) <= 3 else 0.06)
        handles.append((points, line) if line is not None else (points,))
        labels.append(f"{series} (n={gaps.size}): " + _describe_fit(estimate, divisor, unit))
    if reference is not None and not reference.empty:
        for source, ref in reference.groupby("source", sort=True):
            (ref_line,) = ax.plot(ref["gap_s"] / divisor, ref["p_cold"], color="#555555",
                                  linestyle=":", marker=".", linewidth=1)
            handles.append((ref_line,))
            labels.append(f"published: {source}")
    for level in (0.05, 0.5, 0.95):
        ax.axhline(level, color="#BBBBBB", linewidth=0.7, zorder=0)
    ax.set_ylim(-0.03, 1.03)
    ax.set_ylabel("P(cold start)")
    ax.set_title("Cold-start probability vs idle gap")
    _finish_gap_axis(ax, gaps_all, unit, log_x)
    ax.legend(handles, labels, handler_map={tuple: HandlerTuple(ndivide=None)},
              loc="upper center", bbox_to_anchor=(0.5, -0.13), fontsize=8,
              title="points: observed share, Wilson 95%; line: logistic fit in log gap; "
                    "shaded: 95% CI of keep-alive", title_fontsize=8)
    return ax


def _describe_fit(estimate: KeepAliveEstimate, divisor: float, unit: str) -> str:
    if not np.isfinite(estimate.keep_alive_s):
        return f"no fit ({estimate.note.split(':')[0] or 'n/a'})"
    return (f"keep-alive (P=50%) {format_gap(estimate.keep_alive_s, divisor, unit)} "
            f"[{format_gap(estimate.low_s, divisor, unit)}, "
            f"{format_gap(estimate.high_s, divisor, unit)}]")


def _draw_fit(ax: Axes, estimate: KeepAliveEstimate, grid_s: np.ndarray, divisor: float,
              colour: str, alpha: float) -> Line2D | None:
    if not np.isfinite(estimate.slope) or not np.isfinite(estimate.keep_alive_s):
        return None
    (line,) = ax.plot(grid_s / divisor, estimate.predict_p_cold(grid_s), color=colour,
                      linewidth=1.6)
    high = min(estimate.high_s, grid_s[-1])
    ax.axvspan(estimate.low_s / divisor, high / divisor, color=colour, alpha=alpha, linewidth=0)
    ax.axvline(estimate.keep_alive_s / divisor, color=colour, linestyle="--", linewidth=1)
    return line


def plot_latency_vs_gap(frame: pd.DataFrame, ax: Axes, log_x: bool | None = None) -> Axes:
    """Latency of each idle-gap request against its gap; colour = cold/warm, marker = series."""
    data = select_user_samples(ensure_tidy_frame(frame))
    data = data[data["gap_s"].notna() & data["ok"]]
    if data.empty:
        return mark_empty(ax, "no idle-gap samples")
    gaps_all = data["gap_s"].to_numpy(float)
    divisor, unit = gap_axis_unit(float(gaps_all.max()))
    series_list = sorted(data["series"].unique())
    handles = []
    for index, series in enumerate(series_list):
        for label in ("cold", "warm", "unknown"):
            points = data[data["series"].eq(series) & data["label"].eq(label)]
            if points.empty:
                continue
            marker = SERIES_MARKERS[index % len(SERIES_MARKERS)] if len(series_list) > 1 \
                else LABEL_MARKERS[label]
            ax.scatter(points["gap_s"] / divisor, points["latency_ms"], s=16, marker=marker,
                       color=LABEL_COLOURS[label], alpha=0.7, linewidths=0)
            name = f"{series} · {label}" if len(series_list) > 1 else label
            handles.append(Line2D([], [], marker=marker, linestyle="", color=LABEL_COLOURS[label],
                                  label=f"{name} (n={len(points)})"))
    ax.set_yscale("log")
    format_log_axis(ax, "y")
    ax.set_ylabel("latency (ms, log scale)")
    ax.set_title("Latency vs idle gap")
    _finish_gap_axis(ax, gaps_all, unit, log_x)
    ax.legend(handles=handles, loc="upper left", fontsize=8)
    return ax


def plot_idle_survival(frame: pd.DataFrame, ax: Axes, log_x: bool | None = None) -> Axes:
    """P(an idle instance is still alive after the gap): nonparametric, with Wilson bands."""
    probes = select_gap_probes(ensure_tidy_frame(frame))
    if probes.empty:
        return mark_empty(ax, "no idle-gap samples with a cold/warm label")
    gaps_all = probes["gap_s"].to_numpy(float)
    divisor, unit = gap_axis_unit(float(gaps_all.max()))
    for index, (series, group) in enumerate(probes.groupby("series", sort=True)):
        curve = compute_idle_survival(group["gap_s"].to_numpy(float), group["is_cold"].to_numpy())
        end = float(group["gap_s"].max())
        times = np.append(curve.time_s, end) / divisor
        median = curve.median_s()
        median_text = (format_gap(median, divisor, unit) if np.isfinite(median)
                       else f"> {format_gap(end, divisor, unit)}")
        colour = series_colour(index)
        ax.step(times, np.append(curve.survival, curve.survival[-1]), where="post", color=colour,
                label=f"{series} (n={len(group)}; median lifetime {median_text})")
        ax.fill_between(times, np.append(curve.low, curve.low[-1]),
                        np.append(curve.high, curve.high[-1]), step="post", color=colour,
                        alpha=0.15, linewidth=0)
    ax.set_ylim(-0.03, 1.03)
    ax.set_ylabel("P(idle instance still warm)")
    ax.set_title("Idle-instance survival (isotonic estimate, Wilson bands per block)")
    _finish_gap_axis(ax, gaps_all, unit, log_x)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), fontsize=8)
    return ax
