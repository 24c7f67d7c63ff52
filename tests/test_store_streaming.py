"""Large runs: the journal becomes Parquet chunk by chunk with one fixed schema."""

from __future__ import annotations

from coldbench import load_run
from coldbench.sample import Sample
from coldbench.store import (
    RunWriter,
    build_manifest,
    count_journal_samples,
    load_manifest,
    stream_journal_to_parquet,
)


def test_chunks_agree_on_the_schema_even_when_early_chunks_have_no_errors(tmp_path) -> None:
    writer = RunWriter(tmp_path / "run", build_manifest({}, "run"))
    for i in range(5_000):
        late = i >= 4_500  # errors, statuses and instance ids only appear in the last chunk
        writer.append(Sample(
            probe_id=i, target="t", scenario="s", seq=i, started_at="2026-12-04T20:00:00.123456+00:00",
            latency_ms=0.1 + i / 1e6, error="reset" if late else None, status=None if late else 200,
            instance_id="i-1" if late else None, headers={"x": "y"},
        ))
    assert count_journal_samples(tmp_path / "run") == 5_000
    assert writer.finish_streamed("complete") == 5_000
    assert stream_journal_to_parquet(tmp_path / "run", chunk_samples=700) == 5_000
    frame = load_run(tmp_path / "run")
    assert len(frame) == 5_000 and frame["error"].notna().sum() == 500
    assert frame["latency_ms"].iloc[1234] == 0.1 + 1234 / 1e6  # not rounded on the way
    assert load_manifest(tmp_path / "run")["samples"] == 5_000


def test_large_run_columns_read_back_as_categoricals(tmp_path) -> None:
    from coldbench.store import load_sample_columns

    writer = RunWriter(tmp_path / "run", build_manifest({}, "run"))
    for i in range(3_000):
        writer.append(Sample(probe_id=i, target=f"t{i % 3}", scenario="s", seq=i,
                             started_at="2026-12-04T20:00:00+00:00", latency_ms=float(i),
                             label="cold" if i % 10 == 0 else "warm"))
    writer.finish_streamed("complete")
    from coldbench.store import stream_journal_to_parquet

    stream_journal_to_parquet(tmp_path / "run", chunk_samples=500)  # several row groups
    frame = load_sample_columns(tmp_path / "run", ("target", "label", "latency_ms"))
    assert len(frame) == 3_000 and str(frame["target"].dtype) == "category"
    assert sorted(frame["target"].cat.categories) == ["t0", "t1", "t2"]
    assert (frame["label"] == "cold").sum() == 300 and frame["latency_ms"].sum() == sum(range(3_000))
