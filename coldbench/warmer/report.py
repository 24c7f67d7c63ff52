"""The warm experiment's own small report: warm.json, report/{index.html, report.md, figures/}.

Tables reuse the main report's display helpers (`coldbench.report.tables`) and renderers, so
intervals, escaping and rounding look the same everywhere. Numbers are rounded here only.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from coldbench import __version__
from coldbench.chart_style import chart_style, close_figure, new_figure, save_figure
from coldbench.errors import StorageError
from coldbench.report.html import esc, render_table
from coldbench.report.markdown import escape_md, render_table_md
from coldbench.report.tables import DisplayTable, format_interval, format_ms, format_probability
from coldbench.warmer import charts
from coldbench.warmer.config import WarmerConfig
from coldbench.warmer.cost import build_cost_curve_frame, describe_pricing
from coldbench.warmer.curves import ColdCurve
from coldbench.warmer.outcome import StrategyOutcome, build_outcome_frame, outcome_to_record
from coldbench.warmer.predict import compare_prediction
from coldbench.warmer.simulator import ServiceModel
from coldbench.warmer.strategies import WarmAction, build_action_frame_rows
from coldbench.warmer.workloads import Workload

# warm.json format history: 1 — 2026-12, first version (workload, plan, curve, outcomes).
WARM_SCHEMA_VERSION = 1
WARM_JSON = "warm.json"


@dataclass
class WarmReport:
    """Everything `coldbench warm` found, ready to save and render."""

    suite_name: str
    out_dir: Path
    status: str
    workload: Workload
    config: WarmerConfig
    outcomes: list[StrategyOutcome]
    timeline: pd.DataFrame
    curve: ColdCurve | None
    service: ServiceModel | None
    notes: list[str]
    actions: dict[str, tuple[WarmAction, ...]]
    index_path: Path | None = None

    def find(self, strategy: str, source: str) -> StrategyOutcome | None:
        """The outcome of one strategy from one source (measured | simulated)."""
        return next((o for o in self.outcomes if o.strategy == strategy and o.source == source), None)

    @property
    def primary_source(self) -> str:
        """"measured" when the report has measurements, else "simulated"."""
        return "measured" if any(o.source == "measured" for o in self.outcomes) else "simulated"


def save_warm_json(report: WarmReport) -> Path:
    """Write warm.json: plan, curve, service model, pricing and every outcome."""
    workload = report.workload
    payload = {
        "schema_version": WARM_SCHEMA_VERSION, "suite": report.suite_name, "status": report.status,
        "workload": {"kind": workload.kind, "description": workload.description,
                     "duration_s": workload.duration_s, "compression": workload.compression,
                     "span_s": workload.span_s, "requests": len(workload.arrivals_s),
                     "arrivals_s": workload.arrivals_s.tolist(), "details": workload.details},
        "strategies": [{"name": s.name, "kind": s.kind, "description": s.describe(),
                        "actions": build_action_frame_rows(s, report.actions.get(s.name, ()))}
                       for s in report.config.strategies],
        "curve": _curve_record(report.curve),
        "service_model": dataclasses.asdict(report.service) if report.service else None,
        "pricing": dataclasses.asdict(report.config.pricing),
        "outcomes": [outcome_to_record(o) for o in report.outcomes],
        "simulated_timeline": report.timeline[report.timeline["source"].eq("simulated")]
        .to_dict("records") if not report.timeline.empty else [],
        "notes": report.notes,
    }
    path = report.out_dir / WARM_JSON
    try:
        path.write_text(json.dumps(payload, indent=1, default=_json_default) + "\n", encoding="utf-8")
    except OSError as exc:
        raise StorageError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return path


def _json_default(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return str(value)


def _curve_record(curve: ColdCurve | None) -> dict[str, object] | None:
    if curve is None:
        return None
    record = dataclasses.asdict(curve)
    record["description"] = curve.describe()
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}


def _fmt_rate(o: StrategyOutcome) -> str:
    return format_interval(o.cold_rate, o.cold_low, o.cold_high, fmt=format_probability)


def _fmt_usd(value: float) -> str:
    if value is None or math.isnan(value):
        return "–"
    sign, value = ("−" if value < 0 else ""), abs(value)
    if math.isinf(value):
        return sign + "∞"
    return sign + (f"${value:,.4g}" if value < 1000 else f"${value:,.0f}")


def _fmt_count(value: float) -> str:
    return "–" if value is None or math.isnan(value) else f"{value:.4g}"


def build_effect_table(outcomes: list[StrategyOutcome], source: str) -> DisplayTable:
    """What each strategy bought: cold starts and latency of user requests, and its own traffic."""
    headers = ["strategy", "what", "user requests", "P(cold) [95% CI]", "p50 [95% CI] (ms)",
               "p99 [95% CI] (ms)", "warming invocations (cold)", "fan-out reached (full rounds)",
               "ping collisions (cold)", "provisioned utilisation", "spill-over", "time to ready"]
    rows = []
    for o in (o for o in outcomes if o.source == source):
        fan = (f"{format_probability(o.fan_out_efficiency)} ({format_probability(o.full_fan_out_share)} "
               f"of {o.fan_out_rounds})" if o.fan_out else "–")
        ready = ", ".join(f"{s:.3g}s" for s in o.seconds_to_ready) or "–"
        requests = str(o.user_requests) + (f" ({o.user_errors} failed)" if o.user_errors else "")
        rows.append([o.strategy, o.description, requests, _fmt_rate(o),
                     format_interval(o.p50_ms, o.p50_low_ms, o.p50_high_ms),
                     format_interval(o.p99_ms, o.p99_low_ms, o.p99_high_ms, o.p99_supported),
                     f"{_fmt_count(o.warming_requests)} ({_fmt_count(o.warming_cold)})",
                     fan, f"{_fmt_count(o.collisions)} ({_fmt_count(o.collisions_cold)})",
                     format_probability(o.provisioned_utilisation),
                     _fmt_count(o.spill_over) + (f" ({format_probability(o.spill_over_share)})"
                                                 if not math.isnan(o.spill_over_share) else ""),
                     ready])
    interval = ("Wilson score" if source == "measured" else "Monte-Carlo 2.5–97.5th percentile "
                "over replicates")
    notes = [f"P(cold): share of labelled user requests that were cold; {interval} intervals. "
             "Warming invocations never count as user requests. A collision is a user request "
             "sent while a warming invocation was in flight on the same function."]
    return DisplayTable(f"effect_{source}", f"What each strategy bought ({source})", headers,
                        rows, notes, numeric_from=2)


def build_cost_table(outcomes: list[StrategyOutcome]) -> DisplayTable:
    """What each strategy cost: over the run, per month, per request and per avoided cold start."""
    headers = ["strategy", "source", "cost of the run", "per month", "per million requests",
               "per avoided cold start", "container cheaper above (requests/month)"]
    rows = [[o.strategy, o.source, _fmt_usd(o.cost.total_usd), _fmt_usd(o.cost.monthly_usd),
             _fmt_usd(o.cost.per_million_usd), _fmt_usd(o.cost_per_avoided_cold_usd),
             _fmt_count(o.break_even_requests_per_month)] for o in outcomes]
    notes = ["Per month: the run's cost extrapolated to 730 hours of the workload's own time. Per "
             "avoided cold start: extra cost per user request over the none strategy, divided by "
             "the drop in cold-start rate (– when nothing is avoided)."]
    return DisplayTable("cost", "What each strategy cost", headers, rows, notes, numeric_from=2)


def build_prediction_table(report: WarmReport) -> DisplayTable | None:
    """Simulator against measurement, per strategy (None without both)."""
    rows = []
    for strategy in report.config.strategies:
        measured, simulated = report.find(strategy.name, "measured"), report.find(strategy.name, "simulated")
        if measured is None or simulated is None:
            continue
        difference, agrees = compare_prediction(measured, simulated)
        rows.append([strategy.name, _fmt_rate(measured), _fmt_rate(simulated),
                     f"{100 * difference:+.1f} pp", "yes" if agrees else "no"])
    if not rows:
        return None
    curve = report.curve.describe() if report.curve else "–"
    return DisplayTable("prediction", "Simulator vs measurement",
                        ["strategy", "measured P(cold)", "predicted P(cold)", "difference", "agrees"],
                        rows, [f"Agrees: within 3 percentage points or inside the measured "
                               f"interval. Curve: {curve}."], numeric_from=1)


def build_findings(report: WarmReport) -> list[str]:
    """One sentence per strategy against the baseline."""
    source = report.primary_source
    base = next((o for o in report.outcomes if o.kind == "none" and o.source == source), None)
    lines = []
    for o in (o for o in report.outcomes if o.source == source):
        text = f"{o.strategy}: P(cold) {_fmt_rate(o)} for {_fmt_usd(o.cost.monthly_usd)}/month"
        if base is not None and o is not base and base.cold_rate > 0:
            cut = 1 - o.cold_rate / base.cold_rate
            text += (f" — {100 * cut:.0f}% fewer cold starts than none, "
                     f"{_fmt_usd(o.cost_per_avoided_cold_usd)} per avoided cold start")
        lines.append(text)
    return lines


def _tables(report: WarmReport) -> list[DisplayTable]:
    tables = [build_effect_table(report.outcomes, s) for s in ("measured", "simulated")
              if any(o.source == s for o in report.outcomes)]
    tables.append(build_cost_table(report.outcomes))
    prediction = build_prediction_table(report)
    if prediction is not None:
        tables.append(prediction)
    tables.append(DisplayTable("pricing", "Pricing", ["item", "price"],
                               [list(r) for r in describe_pricing(report.config.pricing)]))
    return tables


FIGURES = (
    ("cold_rate_vs_cost", "Cold-start rate vs cost",
     "Filled: measured (Wilson 95% intervals); hollow: simulated (Monte-Carlo 95%); line: Pareto front."),
    ("cold_rate_over_time", "Cold-start rate over time",
     "Share of user requests that were cold per time bin; simulated dashed."),
    ("cost_crossover", "Serverless vs always-on container",
     "Monthly cost against monthly traffic; circles mark where the container becomes cheaper."),
)


def _draw_figures(report: WarmReport, out: Path) -> list[tuple[str, str, str, Path]]:
    frame = build_outcome_frame(report.outcomes)
    primary = [o for o in report.outcomes if o.source == report.primary_source]
    curve = build_cost_curve_frame({o.strategy: o.cost for o in primary}, report.config.pricing)
    draw = {"cold_rate_vs_cost": lambda ax: charts.plot_cold_rate_vs_cost(frame, ax),
            "cold_rate_over_time": lambda ax: charts.plot_cold_rate_over_time(report.timeline, ax),
            "cost_crossover": lambda ax: charts.plot_cost_crossover(curve, ax)}
    saved = []
    with chart_style():
        for name, title, caption in FIGURES:
            fig, ax = new_figure()
            try:
                draw[name](ax)
                png, _svg = save_figure(fig, out / "figures" / name)
            finally:
                close_figure(fig)
            saved.append((name, title, caption, png))
    return saved


def write_warm_report(report: WarmReport) -> Path:
    """Write report/index.html, report/report.md and report/figures/; return index.html."""
    out = report.out_dir / "report"
    try:
        out.mkdir(parents=True, exist_ok=True)
        figures = _draw_figures(report, out)
        tables = _tables(report)
        (out / "report.md").write_text(_markdown(report, tables, figures), encoding="utf-8")
        index = out / "index.html"
        index.write_text(_html(report, tables, figures), encoding="utf-8")
    except OSError as exc:
        raise StorageError(f"cannot write the warm report to {out}: {exc.strerror or exc}") from exc
    report.index_path = index
    return index


def _intro(report: WarmReport) -> list[str]:
    lines = [f"Workload: {report.workload.description} ({len(report.workload.arrivals_s)} user requests).",
             f"Status: {report.status}."]
    if report.curve is not None:
        lines.append(f"Simulator curve: {report.curve.describe()}.")
    if report.service is not None:
        s = report.service
        lines.append(f"Service model: warm {format_ms(s.warm_ms)} ms, cold start +{format_ms(s.init_ms)} ms, "
                     f"ping {format_ms(s.ping_ms)} ms beyond its hold.")
    return lines + [f"Note: {n}" for n in report.notes]


def _markdown(report: WarmReport, tables: list[DisplayTable], figures: list[tuple[str, str, str, Path]]) -> str:
    out = [f"# Warming strategies: {escape_md(report.suite_name)}", ""]
    out += [escape_md(line) for line in _intro(report)] + ["", "## Findings", ""]
    out += [f"- {escape_md(line)}" for line in build_findings(report)] + ["", "## Figures", ""]
    for _name, title, caption, png in figures:
        out += [f"### {escape_md(title)}", "", f"![{escape_md(title)}](figures/{png.name})", "",
                escape_md(caption), ""]
    out += ["## Tables", ""]
    for table in tables:
        out += [f"### {escape_md(table.title)}", "", render_table_md(table), ""]
    out.append(f"Generated by coldbench {__version__}.")
    return "\n".join(out) + "\n"


def _html(report: WarmReport, tables: list[DisplayTable], figures: list[tuple[str, str, str, Path]]) -> str:
    intro = "".join(f"<p>{esc(line)}</p>" for line in _intro(report))
    findings = "".join(f"<li>{esc(line)}</li>" for line in build_findings(report))
    figs = "".join(
        f'<figure><h3>{esc(title)}</h3><img alt="{esc(title)}" src="data:image/png;base64,'
        f'{base64.b64encode(png.read_bytes()).decode("ascii")}"><figcaption>{esc(caption)}'
        "</figcaption></figure>" for _n, title, caption, png in figures)
    body = "".join(f"<h3>{esc(t.title)}</h3>{render_table(t)}" for t in tables)
    style = ("body{font:15px/1.45 system-ui,sans-serif;max-width:1180px;margin:0 auto;padding:1.5rem}"
             "table{border-collapse:collapse;font-size:.85rem}th,td{border:1px solid #d6d6d6;"
             "padding:.25rem .5rem}td.num{text-align:right;white-space:nowrap}.note{color:#555;"
             "font-size:.82rem}img{max-width:100%}.scroll{overflow-x:auto}")
    csp = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{csp}">'
            f"<title>Warming strategies: {esc(report.suite_name)}</title><style>{style}</style></head>"
            f"<body><h1>Warming strategies: {esc(report.suite_name)}</h1>{intro}"
            f"<h2>Findings</h2><ul>{findings}</ul><h2>Figures</h2>{figs}<h2>Tables</h2>{body}"
            f"<footer><p class=\"note\">Generated by coldbench {esc(__version__)}.</p></footer>"
            "</body></html>\n")
