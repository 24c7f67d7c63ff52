"""Importing published measurements (coldbench.external)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from coldbench import analysis
from coldbench.errors import RunFormatError
from coldbench.external import (
    load_external,
    load_external_csv,
    load_published_cold_curve,
    load_published_scatter,
    parse_published_scatter,
)
from coldbench.sample import SAMPLE_COLUMNS

PUBLISHED = Path(__file__).parent / "data" / "published"


def test_scatter_becomes_a_sample_frame() -> None:
    run = load_published_scatter(PUBLISHED / "shilkov_aws_2021_scatter.json")
    frame = run.frame
    assert len(frame) == 300 and set(SAMPLE_COLUMNS) <= set(frame.columns)
    assert frame["label"].value_counts().to_dict() == {"cold": 242, "warm": 58}
    first = frame.iloc[0]
    assert first["gap_s"] == pytest.approx(19.957498726666667 * 60)  # minutes -> seconds, exact
    assert first["latency_ms"] == pytest.approx(4036.8344)
    assert run.manifest["external"] and run.name == "shilkov_aws_2021"
    tidy = analysis.build_tidy_frame([run])
    assert analysis.summarise_latency(tidy, by=("series", "label"))["n"].sum() == 300


def test_interval_becomes_a_reference_curve() -> None:
    curve = load_published_cold_curve(PUBLISHED / "shilkov_aws_2021_interval.json")
    assert list(curve.columns) == ["gap_s", "p_cold", "source"]
    assert len(curve) == 31 and curve["gap_s"].iloc[-1] == 1800.0
    assert curve["p_cold"].iloc[6] == pytest.approx(0.40606060606060607)


def test_load_external_detects_the_format() -> None:
    assert isinstance(load_external(PUBLISHED / "shilkov_aws_2021_interval.json"), pd.DataFrame)
    assert isinstance(load_external(PUBLISHED / "shilkov_aws_2021_scatter.json"),
                      analysis.RunData)


def test_csv_import(tmp_path: Path) -> None:
    path = tmp_path / "mine.csv"
    path.write_text("idle_minutes,latency_s,cold\n1,0.05,false\n10,0.9,true\n", encoding="utf-8")
    run = load_external_csv(path)
    assert run.frame["gap_s"].tolist() == [60.0, 600.0]
    assert run.frame["latency_ms"].tolist() == [50.0, 900.0]
    assert run.frame["label"].tolist() == ["warm", "cold"]


@pytest.mark.parametrize("text", ["[]", '{"points": 3}', '{"points": [[1]]}', "not json"])
def test_bad_files_raise_one_line_errors(tmp_path: Path, text: str) -> None:
    path = tmp_path / "bad_scatter.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RunFormatError, match="bad_scatter.json"):
        load_external(path)


def test_csv_without_columns(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(RunFormatError, match="gap_s or"):
        load_external_csv(path)


def test_unknown_style_is_unknown_label() -> None:
    records = parse_published_scatter({"points": [[1, 0.1, "point {fill-color: green}"]]}, "t")
    assert records[0]["label"] == "unknown"
