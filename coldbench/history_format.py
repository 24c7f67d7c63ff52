"""Exporters for a History: terminal, Markdown, JSON, and one trend chart per metric (PNG)."""

from __future__ import annotations

import dataclasses
import io
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from coldbench.compare_format import format_value
from coldbench.history import History, MetricSeries, series_values, sparkline

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

# JSON output format history (bump on incompatible change):
#   1 — first version: runs, series (points with 95% intervals), change points, warnings.
HISTORY_JSON_SCHEMA_VERSION = 1
STEP_METHOD = ("PELT (Killick, Fearnhead & Eckley 2012), Gaussian change-in-mean cost on log "
               "values (rates: raw), penalty 5 ln n per change, steps below the "
               "minimum effect dropped")


def format_change_points(series: MetricSeries) -> str:
    """"run 7 (2026-01-07): 312 ms -> 461 ms, x1.48 worse" joined by "; ", or "-"."""
    if not series.change_points:
        return "-"
    return "; ".join(
        f"run {c.run_number} ({c.run}): {format_value(c.before, series.unit)} -> "
        f"{format_value(c.after, series.unit)}, x{c.ratio:.3g} {c.direction}"
        for c in series.change_points)


def _row(series: MetricSeries) -> list[str]:
    values = series_values(series)
    first = next((p.value for p in series.points if p.value is not None), None)
    last = next((p.value for p in reversed(series.points) if p.value is not None), None)
    return [series.target, series.key, sparkline(list(values)), format_value(first, series.unit),
            format_value(last, series.unit), format_change_points(series)]


_HEADERS = ["target", "metric", "trend", "first", "last", "change points"]


def format_history_terminal(history: History, width: int = 120, color: bool = False) -> str:
    """A rich table: one row per target x metric with a sparkline and its change points."""
    table = Table(title=f"{len(history.runs)} runs: {history.runs[0]} .. {history.runs[-1]}",
                  title_justify="left")
    for header in _HEADERS:
        table.add_column(header, overflow="fold")
    for series in history.series:
        style = "bold red" if any(c.direction == "worse" for c in series.change_points) else None
        table.add_row(*_row(series), style=style)
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, force_terminal=color,
                      color_system="standard" if color else None, highlight=False)
    console.print(table)
    for warning in history.warnings:
        console.print(f"warning: {warning}", markup=False)
    console.print(f"change points: {STEP_METHOD}", markup=False)
    return buffer.getvalue()


def format_history_markdown(history: History, charts: dict[tuple[str, str], Path] | None = None
                            ) -> str:
    """Markdown: a summary table, then per metric with a change point its values per run."""
    charts = charts or {}
    worse = [s for s in history.series if any(c.direction == "worse" for c in s.change_points)]
    lines = [f"### coldbench history: {len(history.runs)} runs, "
             f"{len(worse)} series stepped worse", ""]
    lines += [f"> ⚠️ {w}" for w in history.warnings] + ([""] if history.warnings else [])
    lines += ["| " + " | ".join(_HEADERS) + " |", "|" + "---|" * len(_HEADERS)]
    for series in history.series:
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in _row(series)) + " |")
    for series in history.series:
        chart = charts.get((series.target, series.key))
        if series.change_points or chart:
            lines += ["", f"#### {series.target} {series.key}", ""]
            if chart:
                lines += [f"![{series.target} {series.key}]({chart.as_posix()})", ""]
            lines += ["| run | started | value | 95% interval | n |", "|---|---|---|---|---|"]
            for i, p in enumerate(series.points, 1):
                interval = f"{format_value(p.low, series.unit)} – {format_value(p.high, series.unit)}"
                lines.append(f"| {i} {p.run} | {p.started_at[:19]} | "
                             f"{format_value(p.value, series.unit)} | {interval} | {p.n} |")
    lines += ["", f"Change points: {STEP_METHOD}."]
    return "\n".join(lines) + "\n"


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def format_history_json(history: History) -> str:
    """The History as JSON (schema_version first)."""
    document = {"schema_version": HISTORY_JSON_SCHEMA_VERSION, "kind": "coldbench.history",
                "step_method": STEP_METHOD, **dataclasses.asdict(history)}
    return json.dumps(_json_safe(document), indent=2, allow_nan=False) + "\n"


def plot_history_series(series: MetricSeries, ax: Axes) -> Axes:
    """Values per run with their 95% intervals, change points as dashed lines."""
    scale = 100.0 if series.unit == "fraction" else 1.0
    xs, ys, lows, highs = [], [], [], []
    for i, p in enumerate(series.points, 1):
        if p.value is None:
            continue
        xs.append(i)
        ys.append(p.value * scale)
        lows.append((p.value - (p.low if p.low is not None else p.value)) * scale)
        highs.append(((p.high if p.high is not None else p.value) - p.value) * scale)
    ax.errorbar(xs, ys, yerr=[lows, highs], fmt="o-", capsize=3, lw=1.2, ms=4)
    for change in series.change_points:
        color = "tab:red" if change.direction == "worse" else "tab:green"
        ax.axvline(change.run_number - 0.5, color=color, ls="--", lw=1)
    unit = {"fraction": "%", "ms": "ms", "s": "s"}[series.unit]
    ax.set_title(f"{series.target} {series.key}")
    ax.set_xlabel("run (oldest first)")
    ax.set_ylabel(f"{series.key} ({unit})")
    ax.set_xticks(range(1, len(series.points) + 1))
    return ax


def save_history_charts(history: History, out_dir: Path) -> dict[tuple[str, str], Path]:
    """Write one PNG per series into `out_dir`; return {(target, key): path}."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for series in history.series:
        fig, ax = plt.subplots(figsize=(6.4, 3.2), dpi=100)
        plot_history_series(series, ax)
        fig.tight_layout()
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in series.target)
        path = out_dir / f"{safe}.{series.key}.png"
        fig.savefig(path)
        plt.close(fig)
        paths[(series.target, series.key)] = path
    return paths
