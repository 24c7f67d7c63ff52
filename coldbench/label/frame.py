"""The run-end labelling pass: best evidence per sample, heuristic alongside for validation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from coldbench.label.heuristic import HeuristicSettings, TargetModel, classify_frame
from coldbench.label.truth import TRUTH_COLUMNS, compute_truth

LABEL_COLUMNS = ("label", "label_source", "label_confidence", *TRUTH_COLUMNS)


@dataclass(frozen=True)
class LabelResult:
    """A labelled frame and the heuristic's model of each target."""

    frame: pd.DataFrame
    models: dict[str, TargetModel]


def build_labels(
    frame: pd.DataFrame,
    *,
    hide_truth: bool = False,
    scenario_types: Mapping[str, str] | None = None,
    settings: HeuristicSettings | None = None,
) -> LabelResult:
    """Label every sample from its best evidence; see `label_frame`. Also returns the models."""
    out = frame.copy()
    if "latency_ms" not in out:
        out["latency_ms"] = np.nan
    heuristic, models = classify_frame(out, scenario_types, settings)
    out["heuristic_label"] = heuristic["heuristic_label"].astype("object")
    out["heuristic_confidence"] = heuristic["heuristic_confidence"].astype("float64")
    if hide_truth or out.empty:
        truth = _no_truth(out.index)
    else:
        truth = compute_truth(out)
    has_truth = truth["label"].isin(("cold", "warm"))
    use_heuristic = ~has_truth & out["heuristic_label"].isin(("cold", "warm"))
    out["label"] = truth["label"].where(has_truth, out["heuristic_label"].where(use_heuristic, "unknown"))
    out["label_source"] = truth["label_source"].where(
        has_truth, pd.Series("heuristic", out.index).where(use_heuristic, "none")
    )
    out["label_confidence"] = (
        pd.to_numeric(truth["label_confidence"], errors="coerce")
        .where(has_truth, out["heuristic_confidence"].where(use_heuristic))
        .astype("float64")
    )
    for column in TRUTH_COLUMNS:
        out[column] = truth[column]
    return LabelResult(frame=_coerce(out), models=models)


def label_frame(
    frame: pd.DataFrame,
    *,
    hide_truth: bool = False,
    scenario_types: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Return a copy of `frame` with every sample labelled from the best evidence it has.

    Fills label (cold|warm|unknown), label_source (platform|instrumented|instance|heuristic|
    none), label_confidence and the evidence columns (instance_id, invocation_n, init_ms,
    platform_init_ms, billed_ms), and adds heuristic_label / heuristic_confidence: the
    latency-only verdict for every sample, so truth and heuristic can be compared wherever both
    exist. `hide_truth=True` labels as if the endpoint were a black box (evidence columns
    blanked). `scenario_types` maps scenario names to suite types, for calibration probes.
    Pure: `frame` is not modified.
    """
    return build_labels(frame, hide_truth=hide_truth, scenario_types=scenario_types).frame


def _no_truth(index: pd.Index) -> pd.DataFrame:
    truth = pd.DataFrame(index=index)
    truth["label"] = "unknown"
    truth["label_source"] = "none"
    truth["label_confidence"] = np.nan
    for column in TRUTH_COLUMNS:
        truth[column] = None
    return truth


def _coerce(frame: pd.DataFrame) -> pd.DataFrame:
    """Evidence columns in the dtypes `store.normalise_frame` uses."""
    for column in ("init_ms", "platform_init_ms", "billed_ms", "label_confidence"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    frame["invocation_n"] = pd.to_numeric(frame["invocation_n"], errors="coerce").astype("Int64")
    frame["instance_id"] = frame["instance_id"].astype("object").where(frame["instance_id"].notna(), None)
    return frame


def scenario_types_from_suite(snapshot: Mapping[str, object] | None) -> dict[str, str]:
    """Scenario name -> type from a manifest's suite snapshot (default names `<type>-<index>`)."""
    types: dict[str, str] = {}
    scenarios = (snapshot or {}).get("scenarios")
    if not isinstance(scenarios, list):
        return types
    for index, raw in enumerate(scenarios):
        if isinstance(raw, dict) and isinstance(raw.get("type"), str):
            types[str(raw.get("name", f"{raw['type']}-{index}"))] = raw["type"]
    return types
