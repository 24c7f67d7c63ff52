"""Render a ReportData as one self-contained HTML page (figures embedded as data URIs).

Every string that came from a run (target names, labels, suite values, error kinds, manifest
fields) passes through `html.escape`; a Content-Security-Policy forbids scripts and remote
loads, so even a missed escape could not run code.
"""

from __future__ import annotations

import base64
import html
import json
from typing import TYPE_CHECKING

from coldbench import __version__
from coldbench.report.tables import DisplayTable

if TYPE_CHECKING:
    from coldbench.report import ReportData

_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
_CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1b1b1b;
 margin:0 auto;max-width:1180px;padding:1.5rem 2rem 4rem}
h1{font-size:1.6rem;margin:.2rem 0}h2{margin-top:2.4rem;border-bottom:1px solid #ddd;
 padding-bottom:.2rem}h3{margin:1.4rem 0 .4rem}
nav a{margin-right:1rem}.sub{color:#555}
table{border-collapse:collapse;margin:.4rem 0 .3rem;font-size:.86rem}
th,td{border:1px solid #d6d6d6;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f3f5f8}td.num{text-align:right;font-variant-numeric:tabular-nums;
 white-space:nowrap}
.scroll{overflow-x:auto}.note{color:#555;font-size:.82rem;max-width:60rem}
figure{margin:1.2rem 0 2rem}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{color:#444;font-size:.88rem;max-width:52rem}
ul.warnings{padding-left:1.2rem}ul.warnings li{margin:.25rem 0}
.kind{display:inline-block;min-width:6.5rem;font-size:.75rem;font-weight:600;
 text-transform:uppercase;letter-spacing:.03em;color:#8a3b00}
.hint{color:#555}pre{background:#f6f8fa;padding:.8rem;overflow-x:auto;font-size:.8rem}
footer{margin-top:3rem;color:#666;font-size:.82rem}
"""


def esc(value: object) -> str:
    """Escape any value for HTML text and attribute context."""
    return html.escape(str(value), quote=True)


def render_table(table: DisplayTable) -> str:
    """A DisplayTable as an HTML table with notes."""
    head = "".join(f"<th>{esc(h)}</th>" for h in table.headers)
    body = []
    for row in table.rows:
        cells = "".join(
            f'<td class="num">{esc(c)}</td>' if i >= table.numeric_from else f"<td>{esc(c)}</td>"
            for i, c in enumerate(row)
        )
        body.append(f"<tr>{cells}</tr>")
    if not body:
        body.append(f'<tr><td colspan="{len(table.headers)}">no data</td></tr>')
    notes = "".join(f'<p class="note">{esc(n)}</p>' for n in table.notes)
    return (f'<div class="scroll"><table id="table-{esc(table.key)}"><thead><tr>{head}</tr>'
            f"</thead><tbody>{''.join(body)}</tbody></table></div>{notes}")


def _highlights(data: ReportData) -> str:
    items = "".join(f"<li><b>{esc(series)}</b>: {esc(text)}</li>"
                    for series, text in data.highlights)
    return f'<ul class="highlights">{items}</ul>' if items else '<p class="sub">No samples.</p>'


def _warnings(data: ReportData) -> str:
    if not data.warnings:
        return '<p class="sub">No warnings.</p>'
    items = "".join(
        f'<li><span class="kind">{esc(w.kind)}</span> <b>{esc(w.subject)}</b>: {esc(w.message)}'
        + (f' <span class="hint">({esc(w.hint)})</span>' if w.hint else "") + "</li>"
        for w in data.warnings
    )
    return f'<ul class="warnings">{items}</ul>'


def _figures(data: ReportData) -> str:
    parts = []
    for fig in data.figures:
        encoded = base64.b64encode(fig.png.read_bytes()).decode("ascii")
        parts.append(
            f'<figure id="fig-{esc(fig.name)}"><h3>{esc(fig.title)}</h3>'
            f'<img alt="{esc(fig.title)}" src="data:image/png;base64,{encoded}">'
            f"<figcaption>{esc(fig.caption)} Files: figures/{esc(fig.png.name)}, "
            f"figures/{esc(fig.svg.name)}.</figcaption></figure>"
        )
    return "".join(parts)


def _runs(data: ReportData) -> str:
    facts = data.run_facts
    keys = [k for k in facts[0] if any(f.get(k) not in (None, "") for f in facts)] if facts else []
    rows = "".join(
        "<tr><th>" + esc(k) + "</th>" + "".join(f"<td>{esc(f.get(k, ''))}</td>" for f in facts)
        + "</tr>" for k in keys
    )
    suites = "".join(
        f"<h3>Suite of {esc(run.name)}</h3><pre>"
        f"{esc(json.dumps(run.manifest.get('suite') or {}, indent=2, sort_keys=True, default=str))}"
        "</pre>" for run in data.runs
    )
    return f'<div class="scroll"><table>{rows}</table></div>{suites}'


def render_html(data: ReportData) -> str:
    """The complete HTML page for a report."""
    tables = "".join(f'<h3 id="{esc(t.key)}">{esc(t.title)}</h3>{render_table(t)}'
                     for t in data.tables)
    gap = ""
    if data.gap_table is not None:
        gap = (f"<details><summary>{esc(data.gap_table.title)}</summary>"
               f"{render_table(data.gap_table)}</details>")
    runs = ", ".join(esc(r.name) for r in data.runs)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{_CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="coldbench {esc(__version__)}">
<title>{esc(data.title)}</title><style>{_CSS}</style></head>
<body><header><h1>{esc(data.title)}</h1>
<p class="sub">Runs: {runs}. {len(data.frame)} samples. Generated by coldbench
{esc(__version__)} from the run directories alone.</p>
<nav><a href="#key">Key numbers</a><a href="#warnings">Warnings ({len(data.warnings)})</a>
<a href="#figures">Figures</a><a href="#tables">Tables</a>
<a href="#runs">Runs &amp; environment</a></nav></header>
<main><h2 id="key">Key numbers (95% intervals)</h2>{_highlights(data)}
<h2 id="warnings">Warnings</h2>{_warnings(data)}
<h2 id="figures">Figures</h2>{_figures(data)}
<h2 id="tables">Tables</h2>{tables}{gap}
<h2 id="runs">Runs &amp; environment</h2>{_runs(data)}</main>
<footer>Percentiles are observed latencies with distribution-free 95% order-statistic
intervals; proportions use Wilson intervals; keep-alive: Firth logistic fit on log(idle gap)
with profile-likelihood intervals; differences and ratios: seeded bootstrap.
Only user-phase samples count; failed samples are counted, not timed.</footer>
</body></html>
"""
