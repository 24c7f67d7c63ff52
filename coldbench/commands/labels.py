"""`coldbench labels RUN`: how each sample was labelled, and the heuristic proved against truth.

Prints label counts by evidence source, the heuristic's model per target (or why it declined),
and, whenever the run has both ground truth and heuristic labels, the confusion matrix,
accuracy and the misclassified samples; then the cold-start attribution when init times were
reported. `--min-agreement PCT` makes it a CI gate (exit 1 below PCT).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from coldbench.label import build_labels, scenario_types_from_suite
from coldbench.label.attribution import COMPONENTS, compute_attribution, summarize_attribution
from coldbench.label.heuristic import HeuristicSettings, TargetModel
from coldbench.label.validate import Validation, validate_by_target, validate_labels
from coldbench.sample import LABEL_SOURCES
from coldbench.store import load_manifest, load_run

EXIT_OK = 0
EXIT_BELOW_AGREEMENT = 1


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `labels` subcommand."""
    parser = subparsers.add_parser(
        "labels", help="show how samples were labelled cold/warm and check the heuristic"
    )
    parser.add_argument("run_dir", type=Path, metavar="RUN", help="run directory")
    parser.add_argument("--hide-truth", action="store_true",
                        help="label as a black box: ignore platform/instrumented/instance evidence")
    parser.add_argument("--limit", type=int, default=20, metavar="N",
                        help="show at most N misclassified samples (default 20)")
    parser.add_argument("--min-agreement", type=float, default=None, metavar="PCT",
                        help="exit 1 if the heuristic agrees with ground truth on less than PCT%%")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Label the run's samples and print the report; exit 1 if below --min-agreement."""
    manifest = load_manifest(args.run_dir)
    frame = load_run(args.run_dir)
    types = scenario_types_from_suite(manifest.get("suite"))
    result = build_labels(frame, hide_truth=args.hide_truth, scenario_types=types)
    validation = validate_labels(result.frame)
    print(format_labels_report(args.run_dir, result.frame, result.models, validation, args.limit))
    if args.min_agreement is not None and validation is not None:
        if validation.accuracy * 100 < args.min_agreement:
            return EXIT_BELOW_AGREEMENT
    return EXIT_OK


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table: numbers right-aligned, text left-aligned, two spaces apart."""
    body = [[_cell(v) for v in row] for row in rows]
    numeric = [all(isinstance(row[i], int | float) or row[i] is None for row in rows)
               for i in range(len(headers))]
    cells = [[str(h) for h in headers], *body]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for row in cells:
        parts = [c.rjust(w) if num else c.ljust(w) for c, w, num in zip(row, widths, numeric, strict=True)]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


def _cell(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"
    return str(value)


def format_label_counts(frame: pd.DataFrame) -> str:
    """Per target: samples, cold/warm/unknown counts and counts by evidence source."""
    rows = []
    for target, group in frame.groupby("target", sort=True):
        labels = group["label"].value_counts()
        sources = group["label_source"].value_counts()
        rows.append([target, len(group), *(int(labels.get(k, 0)) for k in ("cold", "warm", "unknown")),
                     *(int(sources.get(s, 0)) for s in LABEL_SOURCES)])
    return format_table(["target", "samples", "cold", "warm", "unknown", *LABEL_SOURCES], rows)


def format_models(models: dict[str, TargetModel], settings: HeuristicSettings) -> str:
    """The heuristic's fit per target and its verdict (labels, or why it declined)."""
    rows = []
    for name, model in sorted(models.items()):
        fit = model.fit
        calibration = f"{model.calibration_cold}c/{model.calibration_warm}w"
        if model.calibration_agreement is not None:
            calibration += f" {model.calibration_agreement:.0%}"
        rows.append([
            name, model.samples,
            math.exp(fit.mean_warm) if fit else None, math.exp(fit.mean_cold) if fit else None,
            model.threshold_ms, fit.ashman_d if fit else None, fit.bic_gain if fit else None,
            calibration, f"labels ({model.evidence})" if model.separable else f"declined: {model.reason}",
        ])
    head = (f"heuristic on log server time: labels when Ashman's D >= {settings.min_ashman_d:g}, "
            f"BIC gain >= {settings.min_bic_gain:g} and a dip test (or D >= "
            f"{settings.distinct_ashman_d:g}) show two modes; per sample, confidence >= "
            f"{settings.min_confidence:g}")
    table = format_table(["target", "samples", "warm ms", "cold ms", "split ms", "D", "BIC gain",
                          "calibration", "verdict"], rows)
    return f"{head}\n{table}"


def format_validation(validation: Validation, by_target: dict[str, Validation], limit: int) -> str:
    """Confusion matrix, accuracy and misclassified samples."""
    matrix = validation.matrix
    rows = [[truth, *(int(matrix.loc[truth, c]) for c in matrix.columns)] for truth in matrix.index]
    lines = [
        "validation: heuristic vs ground truth (rows: truth, columns: heuristic)",
        format_table(["truth", *matrix.columns], rows),
        f"accuracy {validation.accuracy:.1%} ({validation.agreed}/{validation.samples}), "
        f"coverage {validation.coverage:.1%}, "
        f"accuracy when labelled {validation.accuracy_when_labelled:.1%}",
    ]
    if len(by_target) > 1:
        lines.append("per target: " + ", ".join(
            f"{t} {v.accuracy:.1%} of {v.samples}" for t, v in sorted(by_target.items())))
    wrong = validation.misclassified
    lines.append(f"misclassified: {len(wrong)}")
    if len(wrong):
        shown = wrong.head(max(limit, 0))
        lines.append(format_table(list(shown.columns), [list(r) for r in shown.itertuples(index=False)]))
        if len(wrong) > len(shown):
            lines.append(f"... {len(wrong) - len(shown)} more (--limit N to show more)")
    return "\n".join(lines)


def format_attribution(frame: pd.DataFrame) -> str | None:
    """Median split of cold-start latency per target, when init times were reported."""
    summary = summarize_attribution(compute_attribution(frame))
    if summary.empty:
        return None
    columns = ["target", "samples", "latency_ms", *COMPONENTS]
    rows = [list(r) for r in summary[columns].itertuples(index=False)]
    head = "cold-start attribution (median ms; other = network, transfer, unreported platform work)"
    table = format_table(["target", "cold", "latency", "connection", "platform init",
                          "function init", "handler", "other"], rows)
    return f"{head}\n{table}"


def format_labels_report(
    run_dir: Path, frame: pd.DataFrame, models: dict[str, TargetModel],
    validation: Validation | None, limit: int = 20,
) -> str:
    """The whole `coldbench labels` report as text."""
    sections = [f"labels: {run_dir} ({len(frame)} samples)", format_label_counts(frame)]
    if models:
        sections.append(format_models(models, HeuristicSettings()))
    if validation is not None:
        sections.append(format_validation(validation, validate_by_target(frame), limit))
    else:
        sections.append("validation: no samples with both ground truth and a heuristic verdict")
    attribution = format_attribution(frame)
    if attribution:
        sections.append(attribution)
    return "\n\n".join(sections)
