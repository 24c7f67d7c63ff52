"""Analysis layer over the checked-in small run (tests/data/runs/small)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from coldbench import analysis
from coldbench.stats import compute_percentiles

SMALL_RUN = Path(__file__).parent / "data" / "runs" / "small"


@pytest.fixture(scope="module")
def runs() -> list[analysis.RunData]:
    return analysis.load_runs([SMALL_RUN])


@pytest.fixture(scope="module")
def frame(runs) -> pd.DataFrame:
    return analysis.build_tidy_frame(runs)


def test_tidy_frame_columns(frame: pd.DataFrame) -> None:
    assert {"run", "series", "ok", "is_cold", "ok_latency_ms"} <= set(frame.columns)
    assert set(frame["series"]) == {"hello-lambda", "resize-lambda", "hello-container"}
    assert frame.loc[frame["target"].eq("hello-container"), "kind"].eq("container").all()


def test_summary_counts_only_user_samples_and_errors(frame: pd.DataFrame) -> None:
    summary = analysis.summarise_latency(frame)
    assert "warming" not in set(summary["scenario"])
    assert summary["n"].sum() == frame["phase"].eq("user").sum()
    failed = summary[(summary["series"] == "hello-lambda") & (summary["label"] == "unknown")]
    assert failed["n"].item() == 2 and failed["n_errors"].item() == 2
    assert failed["n_ok"].item() == 0 and np.isnan(failed["p50_ms"].item())
    assert summary["n_errors"].sum() == frame["error"].notna().sum()


def test_summary_matches_pure_percentiles(frame: pd.DataFrame) -> None:
    summary = analysis.summarise_latency(frame, by=("series", "label"))
    row = summary[(summary["series"] == "hello-lambda") & (summary["label"] == "warm")].iloc[0]
    users = frame[frame["phase"].eq("user") & frame["ok"]]
    values = users.loc[users["series"].eq("hello-lambda") & users["label"].eq("warm"),
                       "latency_ms"]
    p50, p90, p95, p99 = compute_percentiles(values.to_numpy(), (0.5, 0.9, 0.95, 0.99))
    assert row["n_ok"] == p50.n == 88
    assert (row["p50_ms"], row["p50_low_ms"], row["p50_high_ms"]) == (p50.value, p50.low, p50.high)
    assert row["p90_ms"] == p90.value and bool(row["p90_supported"]) == p90.supported
    assert not row["p99_supported"] and row["p99_high_ms"] == np.inf
    assert row["max_ms"] == values.max()


def test_summary_by_gap(frame: pd.DataFrame) -> None:
    idle = frame[frame["planned_gap_s"].notna()]
    table = analysis.summarise_latency(idle, by=("series", "planned_gap_s", "label"))
    assert set(table["planned_gap_s"]) == {30.0, 120.0, 240.0, 300.0, 360.0, 420.0, 480.0,
                                           600.0, 900.0}


def test_keep_alive_table(frame: pd.DataFrame) -> None:
    table, estimates = analysis.summarise_keep_alive(frame)
    lam = table[table["series"] == "hello-lambda"].iloc[0]
    assert lam["p50_low_s"] <= 370 <= lam["p50_high_s"]  # the generator's keep-alive
    assert estimates["hello-lambda"].n == lam["n"]
    container = table[table["series"] == "hello-container"].iloc[0]
    assert "no cold starts" in container["note"]


def test_cold_rate_and_penalty(frame: pd.DataFrame) -> None:
    rates = analysis.summarise_cold_rate(frame, by=("series",))
    container = rates[rates["series"] == "hello-container"].iloc[0]
    assert container["n_cold"] == 0 and container["p_cold_high"] > 0
    penalty = analysis.summarise_cold_penalty(frame)
    lam = penalty[penalty["series"] == "hello-lambda"].iloc[0]
    assert lam["p50_low_ms"] < lam["p50_penalty_ms"] < lam["p50_high_ms"]
    assert lam["p50_penalty_ms"] > 150 and not lam["p99_supported"]


def test_pairs_from_target_labels(runs) -> None:
    pairs = analysis.build_serverless_container_pairs(runs)
    assert pairs[["pair", "serverless", "container"]].values.tolist() == [
        ["app=hello", "hello-lambda", "hello-container"]]


def test_serverless_vs_container_table(runs, frame: pd.DataFrame) -> None:
    pairs = analysis.build_serverless_container_pairs(runs)
    table = analysis.summarise_serverless_vs_container(frame, pairs)
    assert table["stat"].tolist() == ["p50", "p99"]
    p50 = table.iloc[0]
    assert p50["cold_ratio_low"] > 3 and p50["warm_ratio"] > 1
    assert p50["n_container"] == 48 and p50["n_serverless_cold"] == 24
    assert not table.iloc[1]["serverless_cold_supported"]


def test_several_runs_get_distinct_series(runs) -> None:
    both = analysis.load_runs([SMALL_RUN, SMALL_RUN])
    assert [r.name for r in both] == ["small", "small'"]
    frame = analysis.build_tidy_frame(both)
    assert "small'/hello-lambda" in set(frame["series"])
    pairs = analysis.build_serverless_container_pairs(both)
    assert len(pairs) == 2 and "small'/hello-container" in set(pairs["container_series"])


def test_plain_frame_is_accepted(runs) -> None:
    tidy = analysis.ensure_tidy_frame(runs[0].frame)
    assert tidy["series"].equals(tidy["target"].astype(str))
    assert analysis.ensure_tidy_frame(tidy) is tidy


def test_group_codes_keep_missing_keys_and_order() -> None:
    frame = pd.DataFrame({"a": ["y", "x", None, "x"], "b": [2.0, 1.0, 1.0, np.nan]})
    codes, keys = analysis.build_group_codes(frame, ("a", "b"))
    assert len(keys) == 4 and sorted(codes.tolist()) == [0, 1, 2, 3]
    assert keys["a"].tolist()[:2] == ["x", "x"] and keys["b"].dtype == np.float64
    empty_codes, empty_keys = analysis.build_group_codes(frame.iloc[0:0], ("a", "b"))
    assert len(empty_codes) == 0 and len(empty_keys) == 0
