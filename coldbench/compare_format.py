"""Exporters for a comparison: terminal table (rich), Markdown, JSON and JUnit XML.

Each `format_*` returns text; the command decides where it goes. Kept apart from the statistics
(hyperfine's split of measuring and exporting), so a new format never touches the verdicts.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import xml.etree.ElementTree as ET
from typing import Any

from rich.console import Console
from rich.table import Table

from coldbench.compare import CompareResult, MetricComparison

# JSON output format history (bump on incompatible change):
#   1 — first version: run names, config, warnings, comparisons, summary counts, exit_status.
COMPARE_JSON_SCHEMA_VERSION = 1

_VERDICT_STYLE = {"regressed": "bold red", "improved": "green", "unchanged": "", "insufficient": "dim"}
_VERDICT_MARK = {"regressed": "❌ regressed", "improved": "✅ improved", "unchanged": "unchanged",
                 "insufficient": "➖ insufficient data"}


def format_value(value: float | None, unit: str) -> str:
    """One metric value with its unit: "812.4 ms", "3.21%", "9.85 s", "-" when unknown."""
    if value is None or not math.isfinite(value):
        return "-"
    if unit == "fraction":
        return f"{value * 100:.3g}%"
    if unit == "ms":
        return f"{value:.1f} ms" if value >= 10 else f"{value:.3g} ms"
    return f"{value:.3g} s"


def format_ratio(c: MetricComparison) -> str:
    """"x1.25 [1.12, 1.40]"; infinities shown as "inf" (a rate that rose from zero)."""
    if c.ratio is None:
        return "-"
    text = f"x{_number(c.ratio)}"
    if c.ratio_low is not None and c.ratio_high is not None:
        text += f" [{_number(c.ratio_low)}, {_number(c.ratio_high)}]"
    return text


def _number(value: float) -> str:
    return "inf" if math.isinf(value) else f"{value:.3g}" if value < 100 else f"{value:.0f}"


def format_p_value(p_value: float | None) -> str:
    """"0.0123", "<0.0001", or "-"."""
    if p_value is None:
        return "-"
    return "<0.0001" if p_value < 1e-4 else f"{p_value:.2g}"


def summarise(result: CompareResult) -> dict[str, int]:
    """Counts per verdict."""
    counts = {verdict: 0 for verdict in ("regressed", "improved", "unchanged", "insufficient")}
    for c in result.comparisons:
        counts[c.verdict] += 1
    return counts


def format_headline(result: CompareResult) -> str:
    """"2 regressed, 1 improved, 25 unchanged, 2 without enough data"."""
    counts = summarise(result)
    parts = [f"{counts['regressed']} regressed", f"{counts['improved']} improved",
             f"{counts['unchanged']} unchanged"]
    if counts["insufficient"]:
        parts.append(f"{counts['insufficient']} without enough data")
    return ", ".join(parts)


def _row(c: MetricComparison) -> list[str]:
    return [c.target, c.key, format_value(c.base_value, c.unit), format_value(c.new_value, c.unit),
            format_ratio(c), format_p_value(c.p_value), format_run_noise(c), f"x{c.min_effect:.3g}"]


def format_run_noise(c: MetricComparison) -> str:
    """The run-to-run noise folded into the interval, e.g. "x1.18" ("-" when none applies)."""
    return "-" if c.run_noise_factor is None else f"x{c.run_noise_factor:.3g}"


_HEADERS = ["target", "metric", "base", "new", "ratio [CI]", "p", "run noise", "min effect"]


def format_terminal(result: CompareResult, width: int = 120, color: bool = False) -> str:
    """A rich table of every comparison, then warnings and the headline."""
    level = f"{result.config.ci_level:.0%}"
    table = Table(title=f"{result.base_name} -> {result.new_name}", title_justify="left")
    for header in _HEADERS:
        table.add_column(header.replace("CI", f"{level} CI"), overflow="fold")
    table.add_column("verdict")
    for c in result.comparisons:
        table.add_row(*_row(c), c.verdict, style=_VERDICT_STYLE[c.verdict] or None)
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, force_terminal=color, color_system=None
                      if not color else "standard", highlight=False)
    console.print(table)
    for warning in result.warnings:
        console.print(f"warning: {warning}", markup=False)
    console.print(format_headline(result), markup=False)
    return buffer.getvalue()


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|")


def format_markdown(result: CompareResult) -> str:
    """GitHub-flavoured Markdown: a headline, warnings, then the table (fits a PR comment or a
    CI step summary); regressions first."""
    order = {"regressed": 0, "improved": 1, "insufficient": 2, "unchanged": 3}
    rows = sorted(result.comparisons, key=lambda c: order[c.verdict])
    level = f"{result.config.ci_level:.0%}"
    lines = [f"### coldbench compare: {format_headline(result)}", "",
             f"base `{result.base_name}` → new `{result.new_name}`; a change counts when "
             f"p < {result.config.alpha:g} and the {level} interval of the ratio excludes 1 "
             "and the ratio passes the minimum effect; latency intervals include run-to-run "
             "noise (each run's own drift, at least the `run_noise` floor).", ""]
    lines += [f"> ⚠️ {_md_cell(w)}" for w in result.warnings]
    if result.warnings:
        lines.append("")
    headers = [h.replace("CI", f"{level} CI") for h in _HEADERS] + ["verdict"]
    lines.append("| " + " | ".join(headers) + " |")
    lines.append("|" + "---|" * len(headers))
    for c in rows:
        cells = [_md_cell(x) for x in _row(c)] + [_VERDICT_MARK[c.verdict]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _json_safe(value: Any) -> Any:
    """NaN and infinities are not JSON: NaN becomes null, infinities the strings "inf"/"-inf"."""
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


def build_json_document(result: CompareResult) -> dict[str, Any]:
    """The JSON report as a plain dict (schema_version first)."""
    comparisons = [{k: _json_safe(v) for k, v in dataclasses.asdict(c).items()}
                   for c in result.comparisons]
    config = dataclasses.asdict(result.config)
    config["min_effect"] = dict(result.config.min_effect)
    return {
        "schema_version": COMPARE_JSON_SCHEMA_VERSION,
        "kind": "coldbench.compare",
        "base": result.base_name,
        "new": result.new_name,
        "config": config,
        "warnings": list(result.warnings),
        "summary": summarise(result),
        "exit_status": result.exit_status,
        "comparisons": comparisons,
    }


def format_json(result: CompareResult) -> str:
    """The JSON report as text."""
    return json.dumps(build_json_document(result), indent=2, allow_nan=False) + "\n"


def _describe(c: MetricComparison) -> str:
    """One line saying what was compared and why the verdict is what it is."""
    text = (f"{c.target} {c.key}: {format_value(c.base_value, c.unit)} -> "
            f"{format_value(c.new_value, c.unit)} ({format_ratio(c)}, p={format_p_value(c.p_value)}"
            f", n={c.base_n}/{c.new_n}, {c.test or 'no test'}, min effect x{c.min_effect:.3g})")
    return f"{text}; {c.note}" if c.note else text


def format_junit(result: CompareResult) -> str:
    """JUnit XML: one <testsuite> per target, one <testcase> per metric; a regression is a
    <failure type="regression">, missing data a <skipped>."""
    root = ET.Element("testsuites", name="coldbench compare")
    targets = list(dict.fromkeys(c.target for c in result.comparisons))
    totals = {"tests": 0, "failures": 0, "skipped": 0}
    for target in targets:
        cases = [c for c in result.comparisons if c.target == target]
        suite = _junit_suite(root, target, cases, result)
        for key in totals:
            totals[key] += int(suite.get(key, "0"))
    root.set("tests", str(totals["tests"]))
    root.set("failures", str(totals["failures"]))
    root.set("errors", "0")
    root.set("skipped", str(totals["skipped"]))
    root.set("time", "0")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _junit_suite(root: ET.Element, target: str, cases: list[MetricComparison],
                 result: CompareResult) -> ET.Element:
    """Append one target's <testsuite> to `root`."""
    failures = sum(c.verdict == "regressed" for c in cases)
    skipped = sum(c.verdict == "insufficient" for c in cases)
    suite = ET.SubElement(root, "testsuite", name=f"coldbench.compare.{target}",
                          tests=str(len(cases)), failures=str(failures), errors="0",
                          skipped=str(skipped), time="0")
    properties = ET.SubElement(suite, "properties")
    ET.SubElement(properties, "property", name="base", value=result.base_name)
    ET.SubElement(properties, "property", name="new", value=result.new_name)
    for warning in result.warnings:
        ET.SubElement(properties, "property", name="warning", value=warning)
    for c in cases:
        case = ET.SubElement(suite, "testcase", name=c.key, classname=f"coldbench.compare.{target}",
                             time="0")
        if c.verdict == "regressed":
            failure = ET.SubElement(case, "failure", type="regression",
                                    message=f"{c.key} regressed {format_ratio(c)}")
            failure.text = _describe(c)
        elif c.verdict == "insufficient":
            ET.SubElement(case, "skipped", message=c.note or "not enough data to compare")
        ET.SubElement(case, "system-out").text = f"{c.verdict}: {_describe(c)}"
    return suite
