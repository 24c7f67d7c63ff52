"""Charts: every plot draws on the small run, on empty data, and saves reproducibly."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from matplotlib.axes import Axes

from coldbench import analysis, charts, charts_gap
from coldbench.chart_style import chart_style, close_figure, new_figure, save_figure
from coldbench.external import load_published_cold_curve, load_published_scatter

DATA = Path(__file__).parent / "data"
PLOTS = [
    charts.plot_latency_ecdf,
    charts.plot_percentile_bars,
    charts.plot_phase_breakdown,
    charts.plot_run_timeline,
    charts.plot_serverless_vs_container,
    charts_gap.plot_cold_probability,
    charts_gap.plot_latency_vs_gap,
    charts_gap.plot_idle_survival,
]


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return analysis.build_tidy_frame(analysis.load_runs([DATA / "runs" / "small"]))


def _legend_text(ax: Axes) -> str:
    legend = ax.get_legend()
    return " ".join(t.get_text() for t in legend.get_texts()) if legend else ""


@pytest.mark.parametrize("plot", PLOTS, ids=lambda p: p.__name__)
def test_plot_on_small_run(frame: pd.DataFrame, plot) -> None:
    with chart_style():
        fig, ax = new_figure()
        try:
            assert plot(frame, ax) is ax
            assert ax.get_title()
            if plot is not charts.plot_run_timeline:
                assert "(ms" in ax.get_xlabel() + ax.get_ylabel() or "gap" in ax.get_xlabel() \
                    or "P(" in ax.get_ylabel()
            if plot not in (charts.plot_phase_breakdown, charts.plot_serverless_vs_container,
                            charts.plot_percentile_bars):
                assert "n=" in _legend_text(ax)
        finally:
            close_figure(fig)


@pytest.mark.parametrize("plot", PLOTS, ids=lambda p: p.__name__)
def test_plot_on_empty_frame(frame: pd.DataFrame, plot) -> None:
    with chart_style():
        fig, ax = new_figure()
        try:
            assert plot(frame.iloc[0:0], ax) is ax
        finally:
            close_figure(fig)


def test_keep_alive_in_cold_probability_legend(frame: pd.DataFrame) -> None:
    with chart_style():
        fig, ax = new_figure()
        charts_gap.plot_cold_probability(frame, ax)
        text = _legend_text(ax)
        close_figure(fig)
    assert "hello-lambda (n=52): keep-alive (P=50%) 6.33 min [5.84 min, 6.84 min]" in text
    assert "hello-container (n=9): no fit (no cold starts)" in text


def test_published_overlay_and_save(tmp_path: Path) -> None:
    run = load_published_scatter(DATA / "published" / "shilkov_aws_2021_scatter.json")
    curve = load_published_cold_curve(DATA / "published" / "shilkov_aws_2021_interval.json")
    tidy = analysis.build_tidy_frame([run])
    outputs = []
    for attempt in range(2):
        with chart_style():
            fig, ax = new_figure()
            charts_gap.plot_cold_probability(tidy, ax, reference=curve)
            outputs.append(save_figure(fig, tmp_path / str(attempt) / "cold"))
            close_figure(fig)
        assert "published: shilkov_aws_2021" in _legend_text(ax)
    (png_a, svg_a), (png_b, svg_b) = outputs
    assert png_a.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and svg_a.stat().st_size > 1000
    assert png_a.read_bytes() == png_b.read_bytes()
    assert svg_a.read_bytes() == svg_b.read_bytes()  # same data, same file
