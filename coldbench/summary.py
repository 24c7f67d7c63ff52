"""End-of-run terminal summary: per target and label, n, p50/p90/p99 with intervals, max, errors."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd
from rich.console import Console
from rich.table import Table

from coldbench.stats import compute_percentiles

SUMMARY_PERCENTILES = (50.0, 90.0, 99.0)
SUMMARY_QS = tuple(p / 100.0 for p in SUMMARY_PERCENTILES)


@dataclass(frozen=True, slots=True)
class SummaryRow:
    """One target × label line of the summary."""

    target: str
    label: str
    n: int
    errors: int
    percentiles_ms: dict[float, tuple[float, float, float] | None]  # q -> (value, low, high)
    max_ms: float


def build_summary_rows(frame: pd.DataFrame) -> list[SummaryRow]:
    """Summarise user samples per target × label; errors are counted, not in the percentiles."""
    user = frame[frame["phase"] == "user"]
    rows: list[SummaryRow] = []
    for (target, label), group in user.groupby(["target", "label"], sort=True):
        ok = group[group["error"].isna()]["latency_ms"].to_numpy(dtype=float)
        errors = int(group["error"].notna().sum())
        percentiles: dict[float, tuple[float, float, float] | None] = {
            q: None if not ok.size else (e.value, e.low, e.high)
            for q, e in zip(SUMMARY_PERCENTILES, compute_percentiles(ok, SUMMARY_QS), strict=True)
        }
        rows.append(SummaryRow(str(target), str(label), int(len(group)), errors, percentiles,
                               float(ok.max()) if ok.size else math.nan))
    return rows


def format_ms(value: float) -> str:
    """Format milliseconds for display only (raw data is never rounded)."""
    if math.isnan(value):
        return "-"
    return f"{value:.1f}" if value < 1000 else f"{value:,.0f}"


def format_estimate(est: tuple[float, float, float] | None) -> str:
    """"12.3 [11.9, 13.0]"; an interval end that the sample cannot bound shows as '?'."""
    if est is None:
        return "-"
    value, low, high = est

    def bound(v: float) -> str:
        return "?" if math.isnan(v) or math.isinf(v) else format_ms(v)

    return f"{format_ms(value)} [{bound(low)}, {bound(high)}]"


def build_summary_table(rows: list[SummaryRow], title: str = "latency (ms), 95% CI") -> Table:
    """A rich table of the summary rows."""
    table = Table(title=title, title_justify="left")
    for name in ("target", "label", "n", "p50", "p90", "p99", "max", "errors"):
        table.add_column(name, justify="left" if name in ("target", "label") else "right")
    for row in rows:
        table.add_row(
            row.target, row.label, str(row.n),
            *(format_estimate(row.percentiles_ms[q]) for q in SUMMARY_PERCENTILES),
            format_ms(row.max_ms), str(row.errors),
        )
    return table


def print_summary(frame: pd.DataFrame, console: Console) -> None:
    """Print the summary table for a run's samples."""
    console.print(build_summary_table(build_summary_rows(frame)))
