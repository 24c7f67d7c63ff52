"""label_frame: best evidence per sample, instance sightings in send order, purity, the store."""

from __future__ import annotations

import base64
from pathlib import Path

import pandas as pd
from label_synthetic import build_frame, build_keepalive_samples

from coldbench.label import annotate_outcome, label_frame, scenario_types_from_suite
from coldbench.probe import ProbeOutcome
from coldbench.sample import Sample
from coldbench.store import PARQUET_NAME, frame_from_records, load_run, write_run_dir

COLD_LOG = base64.b64encode(
    b"REPORT RequestId: r\tDuration: 3.0 ms\tBilled Duration: 4 ms\tMemory Size: 128 MB\t"
    b"Max Memory Used: 50 MB\tInit Duration: 180.5 ms"
).decode()


def sample(probe_id: int, second: int, **fields: object) -> Sample:
    base = {"target": "t", "scenario": "s", "seq": probe_id, "latency_ms": 5.0, "ttfb_ms": 4.0,
            "started_at": f"2026-01-01T00:00:{second:02d}.000000+00:00"}
    return Sample(probe_id=probe_id, **{**base, **fields})  # type: ignore[arg-type]


def frame_of(*samples: Sample) -> pd.DataFrame:
    return frame_from_records([s.to_record() for s in samples])


def test_each_sample_gets_its_best_evidence() -> None:
    frame = frame_of(
        sample(0, 0, headers={"X-Amz-Log-Result": COLD_LOG, "X-Coldbench-Invocation": "2"}),
        sample(1, 1, headers={"x-coldbench-invocation": "1", "x-coldbench-instance": "i-9"}),
        sample(2, 2, headers={"X-Coldbench-Instance": "i-9"}),
        sample(3, 3, headers={"X-Coldbench-Instance": "i-10"}),
        sample(4, 4),
    )
    out = label_frame(frame)
    assert out["label"].tolist() == ["cold", "cold", "warm", "cold", "unknown"]
    assert out["label_source"].tolist() == ["platform", "instrumented", "instance", "instance", "none"]
    assert out.loc[0, "platform_init_ms"] == 180.5 and out.loc[0, "billed_ms"] == 4
    assert out.loc[0, "init_ms"] == 180.5 and out.loc[0, "invocation_n"] == 2
    assert out.loc[1, "instance_id"] == "i-9" and out.loc[1, "label_confidence"] == 1.0
    assert pd.isna(out.loc[4, "label_confidence"])
    assert str(out["invocation_n"].dtype) == "Int64"


def test_instance_sightings_follow_send_order_not_row_order() -> None:
    frame = frame_of(
        sample(0, 5, headers={"X-Coldbench-Instance": "a"}),
        sample(1, 1, headers={"X-Coldbench-Instance": "a"}),  # sent first
    )
    out = label_frame(frame.iloc[::-1])
    assert out.set_index("probe_id")["label"].to_dict() == {0: "warm", 1: "cold"}


def test_evidence_the_engine_recorded_is_kept() -> None:
    # Body-derived fields live only in the columns (the run directory keeps no bodies).
    frame = frame_of(
        sample(0, 0, invocation_n=1, instance_id="b-1", label="cold", label_source="instrumented"),
        sample(1, 1, invocation_n=4, instance_id="b-1"),
        sample(2, 2, label="warm", label_source="platform"),
        sample(3, 3, platform_init_ms=95.0),
        sample(4, 4, label="cold", label_source="heuristic"),  # recomputed, not trusted
    )
    out = label_frame(frame)
    assert out["label"].tolist()[:4] == ["cold", "warm", "warm", "cold"]
    assert out["label_source"].tolist()[:4] == ["instrumented", "instrumented", "platform", "platform"]
    assert out.loc[4, "label_source"] in ("heuristic", "none")


def test_label_frame_is_pure_and_idempotent() -> None:
    frame = build_frame(build_keepalive_samples(seed=1))
    before = frame.copy()
    once = label_frame(frame)
    pd.testing.assert_frame_equal(frame, before)
    twice = label_frame(once)
    pd.testing.assert_frame_equal(once, twice)
    assert {"heuristic_label", "heuristic_confidence"} <= set(once.columns)


def test_truth_and_heuristic_side_by_side() -> None:
    out = label_frame(build_frame(build_keepalive_samples(seed=2)))
    assert set(out["label_source"]) == {"instrumented"}
    assert (out["heuristic_label"] == out["label"]).mean() >= 0.99


def test_heuristic_fills_in_where_truth_is_missing() -> None:
    samples = build_keepalive_samples(seed=3)
    stripped = [s if s.seq % 2 else Sample.from_record({**s.to_record(), "headers": {}}) for s in samples]
    out = label_frame(build_frame(stripped))
    assert set(out["label_source"]) == {"instrumented", "heuristic"}
    heuristic = out[out["label_source"] == "heuristic"]
    assert heuristic["label_confidence"].between(0.9, 1.0).all()


def test_empty_frame() -> None:
    out = label_frame(frame_from_records([]))
    assert out.empty and "heuristic_label" in out.columns


def test_journal_only_run_is_labelled_on_load(tmp_path: Path) -> None:
    run_dir = write_run_dir(tmp_path / "run", build_keepalive_samples(seed=4))
    (run_dir / PARQUET_NAME).unlink()  # a run killed before it could write Parquet
    frame = load_run(run_dir)
    assert set(frame["label_source"]) == {"instrumented"}
    assert (frame["heuristic_label"] == frame["label"]).mean() >= 0.99


def test_annotate_outcome_fills_truth_from_headers_and_body() -> None:
    outcome = ProbeOutcome(sample=sample(0, 0), end_ns=1,
                           body_json={"coldbench": {"instance": "i-1", "invocation": 1, "init_ms": 33}})
    annotated = annotate_outcome(outcome, None)
    assert (annotated.label, annotated.label_source) == ("cold", "instrumented")
    assert (annotated.instance_id, annotated.invocation_n, annotated.init_ms) == ("i-1", 1, 33.0)
    platform = ProbeOutcome(sample=sample(1, 1, headers={"X-Amz-Log-Result": COLD_LOG}), end_ns=1)
    annotated = annotate_outcome(platform, None)
    assert (annotated.label, annotated.label_source, annotated.platform_init_ms) == ("cold", "platform", 180.5)
    only_instance = ProbeOutcome(sample=sample(2, 2, headers={"X-Coldbench-Instance": "i-2"}), end_ns=1)
    annotated = annotate_outcome(only_instance, None)
    assert annotated.instance_id == "i-2" and annotated.label_source == "none"  # left to run end
    bare = ProbeOutcome(sample=sample(3, 3), end_ns=1)
    assert annotate_outcome(bare, None) == bare.sample


def test_scenario_types_from_a_suite_snapshot() -> None:
    snapshot = {"scenarios": [{"type": "idle_gap", "gaps": ["1s"]}, {"name": "kick", "type": "config_update"},
                              "junk", {"name": "no-type"}]}
    assert scenario_types_from_suite(snapshot) == {"idle_gap-0": "idle_gap", "kick": "config_update"}
    assert scenario_types_from_suite(None) == {}
