"""The report's figures: which charts, in which order, saved as PNG and SVG."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from matplotlib.axes import Axes

from coldbench import charts, charts_gap
from coldbench.chart_style import chart_style, close_figure, new_figure, save_figure


@dataclass(frozen=True, slots=True)
class FigureFile:
    """One saved figure."""

    name: str
    title: str
    caption: str
    png: Path
    svg: Path


@dataclass(frozen=True, slots=True)
class FigureSpec:
    """How to draw one report figure (`draw(frame, ax, pairs, reference)`)."""

    name: str
    title: str
    caption: str
    draw: Callable[[pd.DataFrame, Axes, pd.DataFrame, pd.DataFrame | None], Axes]
    size_in: tuple[float, float] = (8.0, 4.8)


FIGURES: tuple[FigureSpec, ...] = (
    FigureSpec("latency_ecdf", "Latency distribution",
               "Cumulative share of requests at or below each latency; cold solid, warm dashed.",
               lambda f, ax, p, r: charts.plot_latency_ecdf(f, ax)),
    FigureSpec("percentiles", "Percentiles with intervals",
               "Bars: percentiles; whiskers: 95% order-statistic intervals; hatched: the sample "
               "is too small to bound that percentile.",
               lambda f, ax, p, r: charts.plot_percentile_bars(f, ax), (9.0, 5.0)),
    FigureSpec("cold_probability", "Cold-start probability vs idle gap",
               "Points: observed share of cold starts per gap with Wilson 95% intervals; lines: "
               "fitted curve; shaded: 95% interval of the keep-alive (P = 50%) estimate.",
               lambda f, ax, p, r: charts_gap.plot_cold_probability(f, ax, reference=r),
               (8.0, 5.4)),
    FigureSpec("latency_vs_gap", "Latency vs idle gap",
               "Each idle-gap request; colour shows the cold/warm label.",
               lambda f, ax, p, r: charts_gap.plot_latency_vs_gap(f, ax)),
    FigureSpec("idle_survival", "Idle-instance survival",
               "Share of idle instances still warm after each gap (nonparametric).",
               lambda f, ax, p, r: charts_gap.plot_idle_survival(f, ax)),
    FigureSpec("phases", "Request phases",
               "Median time per request phase, cold vs warm.",
               lambda f, ax, p, r: charts.plot_phase_breakdown(f, ax)),
    FigureSpec("serverless_vs_container", "Serverless vs container",
               "p50 bars with 95% intervals and p99 diamonds for targets sharing a label.",
               lambda f, ax, p, r: charts.plot_serverless_vs_container(f, ax, p)),
    FigureSpec("timeline", "Run timeline",
               "Every request on its target's lane over time; failures marked ×.",
               lambda f, ax, p, r: charts.plot_run_timeline(f, ax), (8.0, 3.6)),
)


def save_report_figures(
    frame: pd.DataFrame, pairs: pd.DataFrame, reference: pd.DataFrame | None, out_dir: Path,
) -> list[FigureFile]:
    """Draw every report figure into `out_dir` (PNG + SVG); return what was written."""
    files = []
    with chart_style():
        for spec in FIGURES:
            fig, ax = new_figure(*spec.size_in)
            try:
                spec.draw(frame, ax, pairs, reference)
                png, svg = save_figure(fig, out_dir / spec.name)
            finally:
                close_figure(fig)
            files.append(FigureFile(spec.name, spec.title, spec.caption, png, svg))
    return files
