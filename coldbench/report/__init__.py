"""The report: `write_report(run_dirs, out_dir)` writes index.html, report.md and the figures.

    report/index.html   self-contained (figures embedded), for browsers and CI artefacts
    report/report.md    for pull requests and blog drafts (links figures/*.png)
    report/figures/     every figure as PNG and SVG

Everything is computed from the run directories (and optional published data) alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from coldbench import analysis
from coldbench.analysis import RunData
from coldbench.errors import StorageError
from coldbench.report.figures import FigureFile, save_report_figures
from coldbench.report.findings import ReportWarning, build_warnings, describe_run
from coldbench.report.tables import (
    DisplayTable,
    build_cold_rate_table,
    build_highlights,
    build_keep_alive_table,
    build_latency_table,
    build_penalty_table,
    build_serverless_container_table,
)

# report.md / index.html format history: 1 — 2026-12, first version.
REPORT_SCHEMA_VERSION = 1
SUMMARY_BY = ("series", "label", "scenario")


@dataclass
class ReportData:
    """Everything a report shows, computed once and rendered twice (HTML and Markdown)."""

    title: str
    runs: list[RunData]
    frame: pd.DataFrame
    tables: list[DisplayTable]
    gap_table: DisplayTable | None
    warnings: list[ReportWarning]
    highlights: list[tuple[str, str]]  # (series, numbers)
    run_facts: list[dict[str, Any]]
    pairs: pd.DataFrame
    reference: pd.DataFrame | None = None
    figures: list[FigureFile] = field(default_factory=list)


def build_report_data(
    runs: Sequence[RunData], reference: pd.DataFrame | None = None, title: str | None = None
) -> ReportData:
    """Compute every table and warning of a report from loaded runs (no files written)."""
    frame = analysis.build_tidy_frame(runs)
    summary = analysis.summarise_latency(frame, by=SUMMARY_BY)
    keep_alive, _estimates = analysis.summarise_keep_alive(frame)
    pairs = analysis.build_serverless_container_pairs(runs)
    tables = [build_latency_table(summary, SUMMARY_BY),
              build_cold_rate_table(analysis.summarise_cold_rate(frame))]
    if not keep_alive.empty:
        tables.append(build_keep_alive_table(keep_alive))
    penalty = analysis.summarise_cold_penalty(frame)
    if not penalty.empty:
        tables.append(build_penalty_table(penalty))
    if not pairs.empty:
        tables.append(build_serverless_container_table(
            analysis.summarise_serverless_vs_container(frame, pairs)))
    gap_table = None
    if frame["planned_gap_s"].notna().any():
        by_gap = analysis.summarise_latency(frame[frame["planned_gap_s"].notna()],
                                            by=("series", "planned_gap_s", "label"))
        gap_table = build_latency_table(by_gap, ("series", "planned_gap_s", "label"))
        gap_table.key, gap_table.title = "latency_by_gap", "Latency by planned idle gap"
    highlights = build_highlights(
        analysis.summarise_latency(frame, by=("series", "label")), keep_alive, penalty,
        analysis.summarise_cold_rate(frame, by=("series",)),
    )
    suites = sorted({str(r.manifest.get("suite_name") or r.name) for r in runs})
    return ReportData(
        title=title or "coldbench report: " + ", ".join(suites),
        runs=list(runs), frame=frame, tables=tables, gap_table=gap_table,
        warnings=build_warnings(runs, frame, summary, keep_alive), highlights=highlights,
        run_facts=[describe_run(r) for r in runs], pairs=pairs, reference=reference,
    )


def load_report_inputs(
    run_dirs: Sequence[Path | str], published: Sequence[Path | str] = ()
) -> tuple[list[RunData], pd.DataFrame | None]:
    """Load run directories and published files (samples become runs, curves a reference)."""
    from coldbench.external import load_external

    runs = analysis.load_runs(run_dirs)
    curves = []
    for path in published:
        loaded = load_external(path)
        if isinstance(loaded, RunData):
            runs.append(loaded)
        else:
            curves.append(loaded)
    return runs, pd.concat(curves, ignore_index=True) if curves else None


def write_report(
    run_dirs: Sequence[Path | str], out_dir: Path | str,
    published: Sequence[Path | str] = (), title: str | None = None,
) -> Path:
    """Write index.html, report.md and figures/ for the runs into `out_dir`; return index.html.

    `published` adds external measurements (see `coldbench.external`) to the same charts.
    """
    from coldbench.report.html import render_html
    from coldbench.report.markdown import render_markdown

    out = Path(out_dir)
    runs, reference = load_report_inputs(run_dirs, published)
    data = build_report_data(runs, reference, title)
    try:
        out.mkdir(parents=True, exist_ok=True)
        data.figures = save_report_figures(data.frame, data.pairs, reference, out / "figures")
        (out / "report.md").write_text(render_markdown(data), encoding="utf-8")
        index = out / "index.html"
        index.write_text(render_html(data), encoding="utf-8")
    except OSError as exc:
        raise StorageError(f"cannot write report to {out}: {exc.strerror or exc}; "
                           "choose another with -o DIR") from exc
    return index


__all__ = ["ReportData", "build_report_data", "load_report_inputs", "write_report"]
