"""Display tables for the report: analysis frames turned into rows of plain strings.

Rounding happens here and only here (the analysis keeps full precision). Cells are plain text;
the HTML and Markdown renderers escape them. An interval is written "value [low, high]"; a
percentile the sample cannot bound gets "†" and an open end ("∞").
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from coldbench.stats import PERCENTILES, compute_min_supported_n

UNSUPPORTED_MARK = "†"


@dataclass
class DisplayTable:
    """A titled table of strings with optional footnotes."""

    key: str
    title: str
    headers: list[str]
    rows: list[list[str]]
    notes: list[str] = field(default_factory=list)
    numeric_from: int = 1  # columns from this index are ours (numbers) and right-aligned


def _missing(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def format_ms(value: float) -> str:
    """Milliseconds for display: 3 significant digits below 100 ms, whole ms above."""
    if _missing(value):
        return "–"
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def format_interval(value: float, low: float, high: float, supported: bool = True,
                    fmt: Callable[[float], str] = format_ms) -> str:
    """"value [low, high]" (with † when the sample cannot bound the estimate)."""
    if _missing(value):
        return "–"
    mark = "" if supported else UNSUPPORTED_MARK
    return f"{fmt(value)} [{fmt(low)}, {fmt(high)}]{mark}"


def format_seconds(value: float) -> str:
    """A duration in s or min for display."""
    if _missing(value):
        return "–"
    if math.isinf(value):
        return "∞"
    return f"{value / 60:.3g} min" if value >= 180 else f"{value:.3g} s"


def format_ratio(value: float) -> str:
    """A ratio like ×6.3."""
    return "–" if _missing(value) else f"×{value:.3g}"


def format_probability(value: float) -> str:
    """A probability as a percentage."""
    return "–" if _missing(value) else f"{100 * value:.3g}%"


def build_latency_table(summary: pd.DataFrame, by: tuple[str, ...]) -> DisplayTable:
    """Latency summary: keys, n, errors, then each percentile with its 95% interval."""
    headers = [*by, "n", "errors"] + [f"{display} [95% CI] (ms)" if q < 1 else "max (ms)"
                                      for _k, q, display in PERCENTILES]
    rows = []
    for record in summary.to_dict("records"):
        row = [str(record[key]) for key in by] + [str(record["n"]), str(record["n_errors"])]
        for key, q, _display in PERCENTILES:
            if q >= 1:
                row.append(format_ms(record[f"{key}_ms"]))
            else:
                row.append(format_interval(record[f"{key}_ms"], record[f"{key}_low_ms"],
                                           record[f"{key}_high_ms"], record[f"{key}_supported"]))
        rows.append(row)
    minimums = ", ".join(f"{d} ≥ {compute_min_supported_n(q)}" for _k, q, d in PERCENTILES if q < 1)
    notes = [f"Percentiles are observed latencies (order statistics); intervals are "
             f"distribution-free 95% order-statistic intervals. Failed samples are counted under "
             f"errors and excluded from latencies. {UNSUPPORTED_MARK} too few samples to bound "
             f"the percentile (successful samples needed: {minimums})."]
    return DisplayTable("latency", "Latency by target, label and scenario", headers, rows,
                        notes, numeric_from=len(by))


def build_cold_rate_table(table: pd.DataFrame) -> DisplayTable:
    """Share of cold starts with Wilson intervals."""
    headers = ["series", "scenario", "successful", "labelled", "cold", "P(cold) [95% CI]"]
    rows = [[str(r["series"]), str(r["scenario"]), str(r["n"]), str(r["n_labelled"]),
             str(int(r["n_cold"])), format_interval(r["p_cold"], r["p_cold_low"],
                                                    r["p_cold_high"], fmt=format_probability)]
            for r in table.to_dict("records")]
    return DisplayTable("cold_rate", "Cold-start rate", headers, rows,
                        ["Wilson score intervals; unlabelled samples are not counted."], 2)


def build_keep_alive_table(table: pd.DataFrame) -> DisplayTable:
    """Keep-alive estimate (P(cold) = 50%) and the 5% / 95% crossings, with intervals."""
    headers = ["series", "probes", "cold", "keep-alive, P=50% [95% CI]", "P=5% [95% CI]",
               "P=95% [95% CI]", "gaps measured"]
    rows = []
    for r in table.to_dict("records"):
        cells = [str(r["series"]), str(r["n"]), str(r["n_cold"])]
        for tag in ("p50", "p05", "p95"):
            cell = format_interval(r[f"{tag}_gap_s"], r[f"{tag}_low_s"], r[f"{tag}_high_s"],
                                   fmt=format_seconds)
            cells.append(cell + (" (extrapolated)" if r[f"{tag}_extrapolated"] else ""))
        cells.append(f"{format_seconds(r['min_gap_s'])} – {format_seconds(r['max_gap_s'])}")
        rows.append(cells)
    note = ("Logistic fit of P(cold) on log(idle gap) by Firth's penalised likelihood; "
            "intervals are profile-likelihood 95% intervals (∞: the data cannot bound that side). "
            "Targets without an estimate are explained under Warnings.")
    return DisplayTable("keep_alive", "Keep-alive estimate", headers, rows, [note])


def build_penalty_table(table: pd.DataFrame) -> DisplayTable:
    """Cold penalty (cold minus warm) at p50 and p99."""
    headers = ["series", "cold n", "warm n", "p50 penalty [95% CI] (ms)",
               "p99 penalty [95% CI] (ms)"]
    rows = [[str(r["series"]), str(r["n_cold"]), str(r["n_warm"]),
             format_interval(r["p50_penalty_ms"], r["p50_low_ms"], r["p50_high_ms"],
                             r["p50_supported"]),
             format_interval(r["p99_penalty_ms"], r["p99_low_ms"], r["p99_high_ms"],
                             r["p99_supported"])]
            for r in table.to_dict("records")]
    note = (f"Difference of percentiles, seeded percentile-bootstrap 95% intervals. "
            f"{UNSUPPORTED_MARK} a sample too small to bound one of the two percentiles.")
    return DisplayTable("penalty", "Cold-start penalty", headers, rows, [note])


def build_serverless_container_table(table: pd.DataFrame) -> DisplayTable:
    """Serverless vs container: cold, warm and container percentiles and ratios."""
    headers = ["pair", "serverless", "container", "stat", "serverless cold (ms)",
               "serverless warm (ms)", "container (ms)", "cold / container", "warm / container"]
    rows = []
    for r in table.to_dict("records"):
        cells = [str(r["pair"]), str(r["serverless"]), str(r["container"]), str(r["stat"])]
        for name in ("serverless_cold", "serverless_warm", "container"):
            cells.append(format_interval(r[f"{name}_ms"], r[f"{name}_low_ms"],
                                         r[f"{name}_high_ms"], r[f"{name}_supported"])
                         + f" n={r[f'n_{name}']}")
        for name in ("cold", "warm"):
            cells.append(format_interval(r[f"{name}_ratio"], r[f"{name}_ratio_low"],
                                         r[f"{name}_ratio_high"], fmt=format_ratio))
        rows.append(cells)
    note = ("Targets paired by a shared target label. Container latency: successful container "
            "samples not labelled cold. Ratios: seeded bootstrap 95% intervals.")
    return DisplayTable("serverless_container", "Serverless vs container", headers, rows,
                        [note], numeric_from=4)


def build_highlights(by_label: pd.DataFrame, keep_alive: pd.DataFrame, penalty: pd.DataFrame,
                     cold_rate: pd.DataFrame) -> list[tuple[str, str]]:
    """(series, text) per series with the numbers a reader wants first."""
    lines = []
    for series in sorted(by_label["series"].astype(str).unique()):
        parts = []
        rate = cold_rate[cold_rate["series"].astype(str).eq(series)]
        if not rate.empty and rate["n_labelled"].iloc[0] > 0:
            r = rate.iloc[0]
            parts.append("P(cold) " + format_interval(r["p_cold"], r["p_cold_low"],
                                                       r["p_cold_high"], fmt=format_probability))
        for label in ("cold", "warm"):
            row = by_label[by_label["series"].astype(str).eq(series) & by_label["label"].eq(label)]
            if not row.empty and row["n_ok"].iloc[0] > 0:
                r = row.iloc[0]
                parts.append(f"{label} p50 " + format_interval(
                    r["p50_ms"], r["p50_low_ms"], r["p50_high_ms"], r["p50_supported"])
                    + f" ms (n={r['n_ok']})")
        pen = penalty[penalty["series"].astype(str).eq(series)] if not penalty.empty else penalty
        if not pen.empty:
            r = pen.iloc[0]
            parts.append("cold penalty p50 " + format_interval(
                r["p50_penalty_ms"], r["p50_low_ms"], r["p50_high_ms"], r["p50_supported"]) + " ms")
        ka = (keep_alive[keep_alive["series"].astype(str).eq(series)]
              if not keep_alive.empty else keep_alive)
        if not ka.empty and not ka.iloc[0]["note"]:
            r = ka.iloc[0]
            parts.append("keep-alive " + format_interval(r["p50_gap_s"], r["p50_low_s"],
                                                         r["p50_high_s"], fmt=format_seconds))
        lines.append((series, "; ".join(parts)))
    return lines
