"""Latency charts: `plot_*(frame, ax) -> Axes` over a sample frame (one run or a tidy frame).

Every chart shows user samples only, excludes failed samples from latencies (and says how many
there were), puts units on its axes and the sample count in its legend. Idle-gap charts live
in `coldbench.charts_gap`; the style (colours, files) in `coldbench.chart_style`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from coldbench.analysis import (
    build_pairs_from_kinds,
    ensure_tidy_frame,
    select_user_samples,
    summarise_latency,
    summarise_serverless_vs_container,
)
from coldbench.chart_style import (
    ERROR_COLOUR,
    LABEL_COLOURS,
    LABEL_LINESTYLES,
    OKABE_ITO,
    format_log_axis,
    mark_empty,
    series_colour,
)

PHASES = (("dns_ms", "DNS"), ("connect_ms", "connect"), ("tls_ms", "TLS"),
          ("ttfb_ms", "TTFB (server + RTT)"), ("transfer_ms", "transfer"))
BAR_PERCENTILES = (("p50", "p50"), ("p90", "p90"), ("p99", "p99"), ("p99_9", "p99.9"))
_PERCENTILE_COLOURS = ("#9ECAE1", "#4292C6", "#08519C", "#08306B")  # ordered: light to dark
_SHOWN_LABELS = ("cold", "warm", "unknown")


def _ok_user(frame: pd.DataFrame) -> pd.DataFrame:
    users = select_user_samples(ensure_tidy_frame(frame))
    return users[users["ok"]]


def _series_order(frame: pd.DataFrame) -> list[str]:
    return sorted(str(s) for s in frame["series"].dropna().unique())


def plot_latency_ecdf(frame: pd.DataFrame, ax: Axes) -> Axes:
    """ECDF of latency per series: cold solid, warm dashed; log x (ms); n in the legend."""
    data = _ok_user(frame)
    if data.empty:
        return mark_empty(ax, "no successful samples")
    for index, series in enumerate(_series_order(data)):
        group = data[data["series"].eq(series)]
        for label in _SHOWN_LABELS:
            values = np.sort(group.loc[group["label"].eq(label), "latency_ms"].to_numpy(float))
            if values.size == 0 or (label == "unknown" and group["label"].ne("unknown").any()):
                continue
            fraction = np.arange(1, values.size + 1) / values.size
            ax.step(values, fraction, where="post", color=series_colour(index),
                    linestyle=LABEL_LINESTYLES[label], label=f"{series} · {label} (n={values.size})")
    ax.set_xscale("log")
    format_log_axis(ax, "x")
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("latency (ms, log scale)")
    ax.set_ylabel("fraction of requests ≤ latency")
    ax.set_title("Latency distribution, cold vs warm")
    ax.legend(loc="lower right")
    return ax


def plot_percentile_bars(frame: pd.DataFrame, ax: Axes) -> Axes:
    """p50/p90/p99/p99.9 per series × label with 95% CI whiskers; unsupported ones hatched."""
    summary = summarise_latency(_ok_user(frame), by=("series", "label"))
    summary = summary[summary["n_ok"] > 0]
    if summary.empty:
        return mark_empty(ax, "no successful samples")
    width = 0.8 / len(BAR_PERCENTILES)
    handles = []
    for j, (key, name) in enumerate(BAR_PERCENTILES):
        x = np.arange(len(summary)) + (j - (len(BAR_PERCENTILES) - 1) / 2) * width
        value = summary[f"{key}_ms"].to_numpy(float)
        low = summary[f"{key}_low_ms"].to_numpy(float)
        high = summary[f"{key}_high_ms"].to_numpy(float)
        ok = summary[f"{key}_supported"].to_numpy(bool)
        colour = _PERCENTILE_COLOURS[j]
        ax.bar(x[ok], value[ok], width * 0.92, color=colour)
        ax.bar(x[~ok], value[~ok], width * 0.92, facecolor="white", edgecolor=colour,
               hatch="////", linewidth=0.8)
        ax.errorbar(x[ok], value[ok], yerr=[(value - low)[ok], (high - value)[ok]], fmt="none",
                    ecolor="#222222", elinewidth=1, capsize=2)
        handles.append(Patch(facecolor=colour, label=name))
    handles.append(Patch(facecolor="white", edgecolor="#4292C6", hatch="////",
                         label="too few samples for a 95% interval (value = an order statistic)"))
    ax.set_xticks(np.arange(len(summary)),
                  [f"{s}\n{label} n={n}" for s, label, n
                   in zip(summary["series"], summary["label"], summary["n_ok"], strict=True)],
                  fontsize=8)
    ax.set_yscale("log")
    format_log_axis(ax, "y")
    ax.set_ylabel("latency (ms, log scale)")
    ax.set_title("Latency percentiles with 95% intervals")
    ax.legend(handles=handles, ncols=2, loc="upper left")
    ax.set_ylim(top=ax.get_ylim()[1] * 2.5)  # room for the legend above the bars
    return ax


def plot_phase_breakdown(frame: pd.DataFrame, ax: Axes) -> Axes:
    """Median DNS, connect, TLS, TTFB and transfer time per series, cold vs warm (stacked)."""
    data = _ok_user(frame)
    data = data[data["label"].isin(("cold", "warm"))] if data["label"].ne("unknown").any() \
        else data
    if data.empty:
        return mark_empty(ax, "no successful samples")
    columns = [c for c, _n in PHASES]
    medians = data.groupby(["series", "label"], sort=True)[columns].median().fillna(0.0)
    counts = data.groupby(["series", "label"], sort=True).size()
    y = np.arange(len(medians))[::-1]
    left = np.zeros(len(medians))
    for i, (column, name) in enumerate(PHASES):
        widths = medians[column].to_numpy(float)
        ax.barh(y, widths, left=left, color=OKABE_ITO[i], label=name, height=0.62)
        left += widths
    ax.set_yticks(y, [f"{s} · {label} (n={counts[(s, label)]})" for s, label in medians.index])
    ax.set_xlabel("median time per phase (ms); medians of parts need not sum to the median total")
    ax.set_title("Where the time goes: request phases, cold vs warm")
    ax.legend(ncols=len(PHASES), loc="upper center", bbox_to_anchor=(0.5, -0.14))
    return ax


def plot_run_timeline(frame: pd.DataFrame, ax: Axes) -> Axes:
    """Each request as a mark on its series' lane over wall-clock time; colour = cold/warm."""
    data = select_user_samples(ensure_tidy_frame(frame))
    if data.empty or data["started_at"].isna().all():
        return mark_empty(ax, "no samples")
    start = data["started_at"].min()
    minutes = (data["started_at"] - start).dt.total_seconds().to_numpy(float) / 60.0
    order = _series_order(data)
    lane = data["series"].map({s: len(order) - 1 - i for i, s in enumerate(order)}).to_numpy(float)
    handles = []
    for label in _SHOWN_LABELS:
        mask = (data["label"].eq(label) & data["ok"]).to_numpy()
        if mask.any():
            ax.scatter(minutes[mask], lane[mask], s=16, marker="|" if label == "warm" else "o",
                       color=LABEL_COLOURS[label], linewidths=1.2, zorder=3 if label == "cold" else 2)
            handles.append(Line2D([], [], marker="o", linestyle="", color=LABEL_COLOURS[label],
                                  label=f"{label} (n={int(mask.sum())})"))
    failed = (~data["ok"]).to_numpy()
    if failed.any():
        ax.scatter(minutes[failed], lane[failed], marker="x", color=ERROR_COLOUR, s=24, zorder=4)
        handles.append(Line2D([], [], marker="x", linestyle="", color=ERROR_COLOUR,
                              label=f"failed (n={int(failed.sum())})"))
    ax.set_yticks(np.arange(len(order)), order[::-1])
    ax.set_ylim(-0.6, len(order) - 0.4)
    ax.set_xlabel(f"time since first request (min; start {start:%Y-%m-%d %H:%M} UTC)")
    ax.set_title("Run timeline")
    ax.legend(handles=handles, ncols=len(handles), loc="upper center", bbox_to_anchor=(0.5, -0.15))
    return ax


def plot_serverless_vs_container(
    frame: pd.DataFrame, ax: Axes, pairs: pd.DataFrame | None = None
) -> Axes:
    """Serverless cold, serverless warm and container latency side by side, per pair.

    Bars are p50 with 95% CI whiskers, diamonds p99 (hollow when the sample is too small to
    bound it). `pairs` comes from `build_serverless_container_pairs`; without it every
    serverless series is paired with every container series of the frame.
    """
    tidy = ensure_tidy_frame(frame)
    pairs = build_pairs_from_kinds(tidy) if pairs is None or pairs.empty else pairs
    table = summarise_serverless_vs_container(tidy, pairs) if not pairs.empty else pd.DataFrame()
    if table.empty:
        return mark_empty(ax, "no serverless/container pair (give targets a shared label)")
    p50 = table[table["stat"].eq("p50")].reset_index(drop=True)
    p99 = table[table["stat"].eq("p99")].reset_index(drop=True)
    x = np.arange(len(p50))
    for j, (key, name, colour) in enumerate(_PAIR_PARTS):
        pos = x + (j - 1) * 0.26
        value = p50[f"{key}_ms"].to_numpy(float)
        err = [np.nan_to_num(value - p50[f"{key}_low_ms"].to_numpy(float), posinf=0, neginf=0),
               np.nan_to_num(p50[f"{key}_high_ms"].to_numpy(float) - value, posinf=0, neginf=0)]
        n = p50[f"n_{key}"].to_numpy(int)
        ax.bar(pos, value, 0.25, color=colour, label=f"{name} p50")
        ax.errorbar(pos, value, yerr=err, fmt="none", ecolor="#222222", capsize=2)
        tail, ok = p99[f"{key}_ms"].to_numpy(float), p99[f"{key}_supported"].to_numpy(bool)
        ax.scatter(pos[ok], tail[ok], marker="D", color=colour, edgecolors="#222222", s=30, zorder=3)
        ax.scatter(pos[~ok], tail[~ok], marker="D", color="white", edgecolors=colour, s=30,
                   zorder=3)
        for xi, ni in zip(pos, n, strict=True):
            ax.annotate(f"n={ni}", (xi, 0), xycoords=("data", "axes fraction"),
                        xytext=(0, 3), textcoords="offset points", ha="center", fontsize=7,
                        color="white")
    ax.scatter([], [], marker="D", color="#888888", edgecolors="#222222", label="p99")
    ax.scatter([], [], marker="D", color="white", edgecolors="#888888",
               label="p99, too few samples to bound")
    ax.set_xticks(x, [_pair_caption(row) for row in p50.itertuples()], fontsize=8)
    ax.set_xlim(-0.7, len(x) - 0.3)
    ax.set_yscale("log")
    format_log_axis(ax, "y")
    ax.set_ylabel("latency (ms, log scale)")
    ax.set_title("Serverless vs container")
    ax.legend(ncols=2, loc="upper right")
    ax.set_ylim(top=ax.get_ylim()[1] * 2.0)
    return ax


_PAIR_PARTS = (("serverless_cold", "serverless cold", LABEL_COLOURS["cold"]),
               ("serverless_warm", "serverless warm", LABEL_COLOURS["warm"]),
               ("container", "container", "#009E73"))


def _pair_caption(row: object) -> str:
    def ratio(name: str) -> str:
        value = getattr(row, f"{name}_ratio")
        low, high = getattr(row, f"{name}_ratio_low"), getattr(row, f"{name}_ratio_high")
        return f"×{value:.2g} [{low:.2g}, {high:.2g}]" if np.isfinite(value) else "n/a"

    return (f"{row.pair}: {row.serverless} vs {row.container}\n"  # type: ignore[attr-defined]
            f"p50 cold/container {ratio('cold')}, warm/container {ratio('warm')}")
