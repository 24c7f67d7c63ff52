"""Warming charts: `plot_*(frame, ax) -> Axes`, in the coldbench chart style.

* `plot_cold_rate_vs_cost`: each strategy's user cold-start rate against its monthly cost,
  measured (filled, Wilson 95% intervals) and simulated (hollow, Monte-Carlo 95% intervals),
  with the Pareto front (no other strategy is both cheaper and warmer) drawn through them.
* `plot_cold_rate_over_time`: the user cold-start rate per time bin of the experiment.
* `plot_cost_crossover`: monthly cost against monthly traffic for each strategy and an
  always-on container, with the break-even traffic marked.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from coldbench.chart_style import (
    ERROR_COLOUR,
    SERIES_MARKERS,
    format_log_axis,
    mark_empty,
    series_colour,
)

_SOURCE_STYLE = {"measured": ("-", 1.0), "simulated": ("--", 0.75)}


def _colours(names: list[str]) -> dict[str, str]:
    return {name: series_colour(i) for i, name in enumerate(names)}


def build_pareto_front(costs: np.ndarray, rates: np.ndarray) -> np.ndarray:
    """Indices of the non-dominated points (lower cost and lower cold rate), cheapest first."""
    order = np.lexsort((rates, costs))
    front, best = [], np.inf
    for index in order:
        if rates[index] < best - 1e-12:
            front.append(int(index))
            best = rates[index]
    return np.array(front, dtype=np.int64)


def plot_cold_rate_vs_cost(frame: pd.DataFrame, ax: Axes) -> Axes:
    """Cold-start rate (%) vs cost per month ($), one point per strategy and source."""
    rate = pd.to_numeric(frame["cold_rate"], errors="coerce").to_numpy(dtype=np.float64)
    cost = pd.to_numeric(frame["cost_monthly_usd"], errors="coerce").to_numpy(dtype=np.float64)
    data = frame[np.isfinite(rate) & np.isfinite(cost)]
    if data.empty:
        return mark_empty(ax, "no strategy with both a cold-start rate and a cost")
    colours = _colours(list(dict.fromkeys(frame["strategy"])))
    named = "measured" if data["source"].eq("measured").any() else "simulated"
    for (source, strategy), group in data.groupby(["source", "strategy"], sort=False):
        row = group.iloc[0]
        y = 100 * row["cold_rate"]
        yerr = [[max(0.0, y - 100 * row["cold_low"])], [max(0.0, 100 * row["cold_high"] - y)]]
        filled = source == "measured"
        ax.errorbar(row["cost_monthly_usd"], y, yerr=yerr, fmt="o" if filled else "D",
                    color=colours[strategy], mfc=colours[strategy] if filled else "white",
                    capsize=3, ms=7, label=f"{strategy} ({source})")
        if source == named:
            ax.annotate(str(strategy), (row["cost_monthly_usd"], y), xytext=(6, 5),
                        textcoords="offset points", fontsize=8, color=colours[strategy])
    main = data[data["source"].eq("measured")] if data["source"].eq("measured").any() else data
    front = build_pareto_front(main["cost_monthly_usd"].to_numpy(float),
                               main["cold_rate"].to_numpy(float))
    if front.size > 1:
        points = main.iloc[front]
        ax.step(points["cost_monthly_usd"], 100 * points["cold_rate"], where="post",
                color=ERROR_COLOUR, lw=0.9, alpha=0.5, label="Pareto front")
    costs = data["cost_monthly_usd"].to_numpy(float)
    if costs.min() > 0 and costs.max() / costs.min() > 20:
        ax.set_xscale("log")
        format_log_axis(ax, "x")
    ax.set_xlabel("cost per month (USD, extrapolated)")
    ax.set_ylabel("user requests that were cold (%)")
    ax.set_ylim(bottom=0)
    ax.legend(loc="best", ncol=2)
    return ax


def plot_cold_rate_over_time(frame: pd.DataFrame, ax: Axes, bins: int | None = None) -> Axes:
    """Share of cold user requests per time bin, per strategy (simulated: dashed); by default
    about five requests per bin, between 4 and 12 bins."""
    if frame.empty:
        return mark_empty(ax, "no labelled user requests")
    if bins is None:
        largest = int(frame.groupby(["source", "strategy"]).size().max())
        bins = int(np.clip(largest // 5, 4, 12))
    start, end = float(frame["t_s"].min()), float(frame["t_s"].max())
    edges = np.linspace(start, max(end, start + 1e-9) * (1 + 1e-9), bins + 1)
    centres = (edges[:-1] + edges[1:]) / 2
    colours = _colours(list(dict.fromkeys(frame["strategy"])))
    for (source, strategy), group in frame.groupby(["source", "strategy"], sort=False):
        codes = np.clip(np.searchsorted(edges, group["t_s"].to_numpy(float), side="right") - 1, 0, bins - 1)
        counts = np.bincount(codes, minlength=bins)
        share = np.bincount(codes, weights=group["cold"].to_numpy(float), minlength=bins)
        with np.errstate(invalid="ignore", divide="ignore"):
            rate = np.where(counts > 0, 100 * share / counts, np.nan)
        style, alpha = _SOURCE_STYLE.get(str(source), ("-", 1.0))
        index = list(colours).index(strategy)
        ax.plot(centres, rate, linestyle=style, alpha=alpha, color=colours[strategy],
                marker=SERIES_MARKERS[index % len(SERIES_MARKERS)] if source == "measured" else None,
                label=f"{strategy} ({source}, n={len(group)})")
    ax.set_xlabel("time since the experiment started (s)")
    ax.set_ylabel("user requests that were cold (%)")
    ax.set_ylim(-2, 102)
    ax.legend(loc="best", ncol=2)
    return ax


def plot_cost_crossover(frame: pd.DataFrame, ax: Axes) -> Axes:
    """Monthly cost vs monthly user requests (log-log); the container is flat; crossings marked."""
    if frame.empty:
        return mark_empty(ax, "no cost data")
    container = frame[frame["kind"].eq("container")]
    level = float(container["monthly_usd"].iloc[0]) if not container.empty else np.nan
    series = list(dict.fromkeys(frame.loc[frame["kind"].eq("serverless"), "series"]))
    colours = _colours(series)
    for name in series:
        group = frame[frame["series"].eq(name)]
        x, y = group["requests_per_month"].to_numpy(float), group["monthly_usd"].to_numpy(float)
        crossing = _crossing(x, y, level)
        label = name if crossing is None else f"{name} (container cheaper above {crossing:.2g}/mo)"
        ax.plot(x, np.maximum(y, 1e-6), color=colours[name], label=label)
        if crossing is not None:
            ax.plot([crossing], [level], "o", color=colours[name], mfc="white", ms=6)
    if np.isfinite(level):
        ax.axhline(level, color=ERROR_COLOUR, lw=1.4, label=f"always-on container (${level:.2f}/mo)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("user requests per month")
    ax.set_ylabel("cost per month (USD)")
    ax.legend(loc="upper left")
    return ax


def _crossing(x: np.ndarray, y: np.ndarray, level: float) -> float | None:
    """First x where y rises through `level` (log-linear interpolation), if any."""
    if not np.isfinite(level):
        return None
    above = np.flatnonzero((y[:-1] < level) & (y[1:] >= level))
    if above.size == 0:
        return None
    i = int(above[0])
    fraction = (level - y[i]) / (y[i + 1] - y[i])
    return float(np.exp(np.log(x[i]) + fraction * (np.log(x[i + 1]) - np.log(x[i]))))
