"""The heuristic against real, published AWS Lambda measurements (Shilkov 2021, 300 requests).

Data: tests/data/published/shilkov_aws_2021_scatter.json (attribution in the README beside it):
[idle_minutes, latency_seconds, style]; "fill-color: blue" = cold, "fill-color: red" = warm, as
labelled by the function itself. The requests carry total latency only (no TTFB split).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from coldbench.label import build_labels, label_frame
from coldbench.label.validate import validate_labels
from coldbench.sample import Sample
from coldbench.store import frame_from_records

DATA = Path(__file__).parent / "data" / "published" / "shilkov_aws_2021_scatter.json"
EPOCH = pd.Timestamp("2021-01-01T00:00:00", tz="UTC")


@pytest.fixture(scope="module")
def shilkov_frame() -> pd.DataFrame:
    points = json.loads(DATA.read_text(encoding="utf-8"))["points"]
    samples = []
    for i, (idle_minutes, latency_s, style) in enumerate(points):
        cold = "blue" in style
        samples.append(Sample(
            probe_id=i, target="aws-lambda", scenario="idle_gap-0", seq=i,
            started_at=(EPOCH + pd.Timedelta(minutes=31 * i)).isoformat(),
            latency_ms=latency_s * 1000.0, gap_s=idle_minutes * 60.0, status=200,
            headers={"X-Coldbench-Invocation": "1" if cold else "2"},  # the published label
        ))
    return frame_from_records([s.to_record() for s in samples])


def test_published_labels_are_read_as_truth(shilkov_frame: pd.DataFrame) -> None:
    labelled = label_frame(shilkov_frame)
    assert (labelled["label_source"] == "instrumented").all()
    assert labelled["label"].value_counts().to_dict() == {"cold": 242, "warm": 58}


def test_heuristic_agrees_with_published_labels_on_95_percent(shilkov_frame: pd.DataFrame) -> None:
    validation = validate_labels(label_frame(shilkov_frame))
    assert validation is not None and validation.samples == 300
    assert validation.accuracy >= 0.95  # unknown counts as disagreement
    assert validation.accuracy_when_labelled >= 0.99


def test_black_box_labels_match_published_labels(shilkov_frame: pd.DataFrame) -> None:
    truth = label_frame(shilkov_frame)["label"]
    result = build_labels(shilkov_frame, hide_truth=True)
    assert (result.frame["label"] == truth).mean() >= 0.95
    model = result.models["aws-lambda"]
    assert model.separable and model.evidence == "dip"
    assert 130 < (model.threshold_ms or 0) < 400  # between the warm tail and the cold mode
