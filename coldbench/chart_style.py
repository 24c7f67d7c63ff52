"""One chart style for every coldbench figure: colour-blind-safe colours, units, file output.

Colours are Okabe & Ito's palette (safe for the common colour-vision deficiencies, and still
distinct in grey-scale print thanks to the line styles and markers paired with them). Cold is
always vermillion and warm always blue, in every chart.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: figures are files (set before pyplot is imported)

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import ticker  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

OKABE_ITO = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#D55E00",  # vermillion
    "#F0E442",  # yellow (last: weak on white)
    "#000000",
)
LABEL_COLOURS = {"cold": "#D55E00", "warm": "#0072B2", "unknown": "#8C8C8C"}
LABEL_LINESTYLES = {"cold": "-", "warm": "--", "unknown": ":"}
LABEL_MARKERS = {"cold": "o", "warm": "s", "unknown": "^"}
SERIES_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
SERIES_LINESTYLES = ("-", "--", "-.", ":")
ERROR_COLOUR = "#000000"
FIGURE_DPI = 110
STYLE: dict[str, Any] = {
    "figure.figsize": (8.0, 4.8),
    "figure.dpi": FIGURE_DPI,
    "savefig.dpi": FIGURE_DPI,
    "font.size": 10.0,
    "axes.titlesize": 11.5,
    "axes.titleweight": "bold",
    "axes.labelsize": 10.0,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.axisbelow": True,
    "grid.color": "#DDDDDD",
    "grid.linewidth": 0.6,
    "legend.fontsize": 8.5,
    "legend.frameon": False,
    "lines.linewidth": 1.6,
    "svg.hashsalt": "coldbench",  # stable SVG ids: same run directory, same file
    "svg.fonttype": "none",
}
_SERIES_COLOURS = tuple(c for c in OKABE_ITO if c != "#F0E442")  # yellow is weak on white


def series_colour(index: int) -> str:
    """Colour of the index-th series (cycles through the palette without yellow)."""
    return _SERIES_COLOURS[index % len(_SERIES_COLOURS)]


@contextmanager
def chart_style() -> Iterator[None]:
    """Apply the coldbench style for the duration of a `with` block."""
    with matplotlib.rc_context(STYLE):  # type: ignore[arg-type]
        yield


def new_figure(width_in: float = 8.0, height_in: float = 4.8) -> tuple[Figure, Axes]:
    """Create a figure with one Axes in the coldbench style (call inside `chart_style()`)."""
    fig, ax = plt.subplots(figsize=(width_in, height_in), layout="constrained")
    return fig, ax


def mark_empty(ax: Axes, message: str) -> Axes:
    """Show `message` in place of a chart that has no data to draw."""
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, color="#555555")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    return ax


def format_log_axis(ax: Axes, axis: str = "y") -> Axes:
    """Plain numbers (20, 50, 100, 200) on a log axis instead of 2×10¹ notation."""
    formatter = ticker.FuncFormatter(lambda value, _pos: f"{value:g}")
    target = ax.yaxis if axis == "y" else ax.xaxis
    target.set_major_formatter(formatter)
    target.set_minor_locator(ticker.LogLocator(subs=(2.0, 5.0)))
    target.set_minor_formatter(formatter)
    return ax


def gap_axis_unit(max_gap_s: float) -> tuple[float, str]:
    """Divisor and unit name for idle gaps: minutes from three minutes up, else seconds."""
    return (60.0, "min") if max_gap_s >= 180 else (1.0, "s")


def save_figure(fig: Figure, stem: Path) -> list[Path]:
    """Save `fig` as `<stem>.png` and `<stem>.svg` (without timestamps); return both paths."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    png, svg = stem.with_suffix(".png"), stem.with_suffix(".svg")
    fig.savefig(png, metadata={"Software": None})
    fig.savefig(svg, metadata={"Date": None, "Creator": None})
    return [png, svg]


def close_figure(fig: Figure) -> None:
    """Release a figure's memory (pyplot keeps every open figure alive)."""
    plt.close(fig)
