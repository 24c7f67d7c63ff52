"""Validation (confusion matrix, accuracy, misclassified) and cold-start attribution."""

from __future__ import annotations

import base64
import json
import math

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from coldbench.label.attribution import (
    COMPONENTS,
    attribute_cold_start,
    compute_attribution,
    summarize_attribution,
)
from coldbench.label.validate import (
    build_confusion,
    format_agreement,
    validate_by_target,
    validate_labels,
)


def labelled(rows: list[tuple[str, str, str, str]]) -> pd.DataFrame:
    """(target, truth label, label_source, heuristic_label) rows as a labelled frame."""
    return pd.DataFrame([
        {"probe_id": i, "target": t, "scenario": "s", "seq": i, "label": label, "label_source": source,
         "heuristic_label": heuristic, "heuristic_confidence": 0.95, "error": None, "latency_ms": 1.0}
        for i, (t, label, source, heuristic) in enumerate(rows)
    ])


def test_confusion_accuracy_and_misclassified() -> None:
    frame = labelled([
        ("a", "cold", "instrumented", "cold"), ("a", "cold", "platform", "warm"),
        ("a", "warm", "instance", "warm"), ("a", "warm", "instrumented", "unknown"),
        ("b", "warm", "instrumented", "warm"),
        ("b", "cold", "heuristic", "cold"),  # no truth: not compared
        ("b", "unknown", "none", "warm"),  # no truth: not compared
    ])
    validation = validate_labels(frame)
    assert validation is not None
    assert validation.samples == 5 and validation.agreed == 3 and validation.declined == 1
    assert validation.accuracy == pytest.approx(0.6)
    assert validation.coverage == pytest.approx(0.8)
    assert validation.accuracy_when_labelled == pytest.approx(0.75)
    assert validation.matrix.loc["cold"].tolist() == [1, 1, 0]
    assert validation.matrix.loc["warm"].tolist() == [0, 2, 1]
    assert validation.misclassified["probe_id"].tolist() == [1]
    assert set(validate_by_target(frame)) == {"a", "b"}
    assert format_agreement(validation).startswith(
        "heuristic vs ground truth: agrees on 3 of 4 samples it labelled (75.0%, 1 misclassified)")


def test_errors_are_left_out_of_validation() -> None:
    frame = labelled([("a", "cold", "platform", "unknown"), ("a", "warm", "platform", "warm")])
    frame.loc[0, "error"] = "http_5xx"
    validation = validate_labels(frame)
    assert validation is not None and validation.samples == 1 and validation.accuracy == 1.0


def test_nothing_to_compare() -> None:
    assert validate_labels(labelled([("a", "cold", "heuristic", "cold")])) is None
    assert validate_labels(pd.DataFrame({"label": ["cold"], "label_source": ["platform"]})) is None


labels = st.sampled_from(["cold", "warm"])
predictions = st.sampled_from(["cold", "warm", "unknown"])


@given(st.lists(st.tuples(labels, predictions), min_size=1, max_size=60))
def test_confusion_counts_add_up(pairs: list[tuple[str, str]]) -> None:
    truth, predicted = zip(*pairs, strict=True)
    matrix = build_confusion(truth, predicted)
    assert int(matrix.to_numpy().sum()) == len(pairs)
    frame = labelled([("t", t, "platform", p) for t, p in pairs])
    validation = validate_labels(frame)
    assert validation is not None
    diagonal = int(matrix.loc["cold", "cold"] + matrix.loc["warm", "warm"])
    assert validation.agreed == diagonal
    assert validation.agreed + len(validation.misclassified) + validation.declined == len(pairs)
    assert 0.0 <= validation.accuracy <= validation.coverage <= 1.0


def test_attribution_splits_a_cold_start() -> None:
    split = attribute_cold_start(400.0, dns_ms=2.0, connect_ms=8.0, tls_ms=20.0,
                                 reported_init_ms=250.0, function_init_ms=180.0, handler_ms=40.0)
    assert (split.connection_ms, split.platform_init_ms, split.function_init_ms) == (30.0, 70.0, 180.0)
    assert split.handler_ms == 40.0 and split.other_ms == pytest.approx(80.0)
    parts = [split.connection_ms, split.platform_init_ms, split.function_init_ms, split.handler_ms,
             split.other_ms]
    assert sum(parts) == pytest.approx(split.latency_ms)


def test_attribution_with_only_function_init() -> None:
    split = attribute_cold_start(300.0, connect_ms=10.0, function_init_ms=200.0)
    assert math.isnan(split.platform_init_ms) and math.isnan(split.handler_ms)
    assert split.other_ms == pytest.approx(90.0)


def test_attribution_over_a_labelled_frame() -> None:
    log = ("REPORT RequestId: r\tDuration: 40.0 ms\tBilled Duration: 291 ms\tMemory Size: 128 MB\t"
           "Max Memory Used: 50 MB\tInit Duration: 250.0 ms")
    headers = {"X-Amz-Log-Result": base64.b64encode(log.encode()).decode(), "X-Coldbench-Init-Ms": "180"}
    frame = pd.DataFrame([
        {"probe_id": 0, "target": "fn", "label": "cold", "error": None, "latency_ms": 400.0,
         "dns_ms": 2.0, "connect_ms": 8.0, "tls_ms": 20.0, "headers": json.dumps(headers),
         "platform_init_ms": 250.0, "init_ms": 180.0},
        {"probe_id": 1, "target": "fn", "label": "cold", "error": None, "latency_ms": 300.0,
         "dns_ms": None, "connect_ms": 10.0, "tls_ms": None, "headers": "{}",
         "platform_init_ms": None, "init_ms": 200.0},
        {"probe_id": 2, "target": "fn", "label": "warm", "error": None, "latency_ms": 5.0,
         "headers": "{}", "platform_init_ms": None, "init_ms": 180.0},
        {"probe_id": 3, "target": "fn", "label": "cold", "error": None, "latency_ms": 90.0,
         "headers": "{}", "platform_init_ms": None, "init_ms": None},  # nothing reported
    ])
    attribution = compute_attribution(frame)
    assert attribution["probe_id"].tolist() == [0, 1]
    first = attribution.iloc[0]
    assert (first.platform_init_ms, first.function_init_ms, first.handler_ms) == (70.0, 180.0, 40.0)
    summary = summarize_attribution(attribution)
    assert summary.loc[0, "samples"] == 2 and list(summary.columns[-len(COMPONENTS):]) == list(COMPONENTS)
