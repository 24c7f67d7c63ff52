"""Proving the heuristic against ground truth: confusion matrix, accuracy, misclassified samples.

Pure functions over a labelled frame (the output of `label_frame`). The comparison covers
samples that have ground truth (label_source platform, instrumented or instance) and no error
(the heuristic never classifies errors). A heuristic `unknown` counts against agreement: it is
not wrong, but it is not an answer either; `coverage` says how often it answered.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from coldbench.label.truth import TRUTH_SOURCES

TRUTH_CLASSES = ("cold", "warm")
PREDICTED_CLASSES = ("cold", "warm", "unknown")
MISCLASSIFIED_COLUMNS = (
    "probe_id", "target", "scenario", "seq", "gap_s", "ttfb_ms", "latency_ms",
    "label", "label_source", "heuristic_label", "heuristic_confidence",
)


@dataclass(frozen=True)
class Validation:
    """How the heuristic's labels compare with ground truth."""

    samples: int  # samples compared
    matrix: pd.DataFrame  # rows: truth cold/warm; columns: heuristic cold/warm/unknown
    agreed: int  # heuristic label == truth
    misclassified: pd.DataFrame  # heuristic said cold where truth is warm, or the reverse
    declined: int  # heuristic said unknown

    @property
    def accuracy(self) -> float:
        """Share of compared samples where the heuristic gave the true label (unknown = miss)."""
        return self.agreed / self.samples if self.samples else float("nan")

    @property
    def coverage(self) -> float:
        """Share of compared samples the heuristic labelled cold or warm."""
        return (self.samples - self.declined) / self.samples if self.samples else float("nan")

    @property
    def accuracy_when_labelled(self) -> float:
        """Accuracy over the samples the heuristic did label (precision of its answers)."""
        answered = self.samples - self.declined
        return self.agreed / answered if answered else float("nan")


def build_confusion(truth: Sequence[str], predicted: Sequence[str]) -> pd.DataFrame:
    """Counts of (truth, predicted) pairs: rows cold/warm, columns cold/warm/unknown."""
    pairs = pd.DataFrame({"truth": list(truth), "predicted": list(predicted)})
    matrix = pd.crosstab(pairs["truth"], pairs["predicted"])
    matrix = matrix.reindex(index=list(TRUTH_CLASSES), columns=list(PREDICTED_CLASSES), fill_value=0)
    matrix.index.name, matrix.columns.name = "truth", "heuristic"
    return matrix.astype("int64")


def select_comparable(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows with both ground truth (cold/warm from a truth source) and a heuristic verdict."""
    if "heuristic_label" not in frame or frame.empty:
        return frame.iloc[0:0]
    has_truth = frame["label_source"].isin(TRUTH_SOURCES) & frame["label"].isin(TRUTH_CLASSES)
    no_error = frame["error"].isna() if "error" in frame else True
    return frame[has_truth & no_error & frame["heuristic_label"].notna()]


def validate_labels(frame: pd.DataFrame) -> Validation | None:
    """Compare heuristic and truth over a labelled frame; None when there is nothing to compare."""
    rows = select_comparable(frame)
    if rows.empty:
        return None
    truth = rows["label"].astype(str)
    predicted = rows["heuristic_label"].astype(str)
    wrong = predicted.isin(TRUTH_CLASSES) & (predicted != truth)
    columns = [c for c in MISCLASSIFIED_COLUMNS if c in rows]
    return Validation(
        samples=len(rows),
        matrix=build_confusion(truth, predicted),
        agreed=int((predicted == truth).sum()),
        misclassified=rows.loc[wrong, columns].reset_index(drop=True),
        declined=int((predicted == "unknown").sum()),
    )


def validate_by_target(frame: pd.DataFrame) -> dict[str, Validation]:
    """`validate_labels` per target, for targets with something to compare."""
    results: dict[str, Validation] = {}
    for target, rows in select_comparable(frame).groupby("target", sort=True):
        validation = validate_labels(rows)
        if validation is not None:
            results[str(target)] = validation
    return results


def format_agreement(validation: Validation) -> str:
    """One line for run summaries: how often the heuristic agreed with ground truth."""
    labelled = validation.samples - validation.declined
    share = f"{validation.agreed / labelled:.1%}" if labelled else "n/a"
    return (
        f"heuristic vs ground truth: agrees on {validation.agreed} of {labelled} samples it "
        f"labelled ({share}, {len(validation.misclassified)} misclassified); declined (unknown) "
        f"on {validation.declined} of {validation.samples}"
    )
