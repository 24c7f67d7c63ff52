"""Step detection (PELT) and `coldbench history` over a nightly series of run directories."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_compare_sim import SANDBOX_LIKE, T0, simulate_records

from coldbench.cli import main
from coldbench.history import build_history, load_history_runs, sparkline
from coldbench.sample import Sample
from coldbench.step_detect import detect_steps, segment_pelt
from coldbench.store import build_manifest, write_run_dir


def brute_force_cost(values: np.ndarray, penalty: float) -> float:
    """Minimum of SSE + penalty x changes over every segmentation (small n only)."""
    n, best = values.size, math.inf
    for k in range(n):
        for cuts in itertools.combinations(range(1, n), k):
            bounds = [0, *cuts, n]
            sse = sum(float(((values[a:b] - values[a:b].mean()) ** 2).sum())
                      for a, b in itertools.pairwise(bounds))
            best = min(best, sse + penalty * k)
    return best


def segmentation_cost(values: np.ndarray, starts: list[int], penalty: float) -> float:
    bounds = [0, *starts, values.size]
    sse = sum(float(((values[a:b] - values[a:b].mean()) ** 2).sum())
              for a, b in itertools.pairwise(bounds))
    return sse + penalty * len(starts)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-5, 5, allow_nan=False), min_size=1, max_size=8),
       st.floats(0.1, 6.0))
def test_pelt_finds_the_optimal_segmentation(values: list[float], penalty: float) -> None:
    series = np.asarray(values)
    starts = segment_pelt(series, penalty)
    assert segmentation_cost(series, starts, penalty) == pytest.approx(
        brute_force_cost(series, penalty), abs=1e-9)


def test_step_at_run_seven_is_found() -> None:
    rng = np.random.default_rng(1)
    values = 300 * np.exp(rng.normal(0, 0.03, 10))
    values[6:] += 150
    steps = detect_steps(values, np.full(10, 0.03))
    assert [s.index + 1 for s in steps] == [7]
    assert steps[0].ratio == pytest.approx(1.5, rel=0.1)


def test_noise_alone_rarely_makes_a_step() -> None:
    """Pure noise (5% per run), 300 series of 10 runs: at most 1% flag anything."""
    rng = np.random.default_rng(2)
    flagged = sum(bool(detect_steps(100 * np.exp(rng.normal(0, 0.05, 10)), np.full(10, 0.05)))
                  for _ in range(300))
    assert flagged <= 3


def test_small_steps_below_the_minimum_effect_are_dropped() -> None:
    values = [100.0] * 5 + [105.0] * 5
    assert detect_steps(values, [0.001] * 10) == []
    assert [s.index for s in detect_steps(values, [0.001] * 10, min_effect=1.02)] == [5]


def test_rates_are_segmented_on_the_raw_scale_and_short_series_say_nothing() -> None:
    rates = [0.02] * 5 + [0.30] * 5
    assert [s.index for s in detect_steps(rates, [0.01] * 10, log_scale=False)] == [5]
    assert detect_steps([1.0, 2.0]) == []


def test_sparkline_marks_missing_runs() -> None:
    assert sparkline([1.0, None, 8.0]) == "▁ █"


@pytest.fixture(scope="module")
def nightly_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Ten nightly run directories; the last four have 150 ms more init."""
    root = tmp_path_factory.mktemp("runs")
    rng = np.random.default_rng(5)
    for night in range(10):
        platform = dataclasses.replace(SANDBOX_LIKE, extra_init_ms=150.0 if night >= 6 else 0.0)
        start = T0 + timedelta(days=night)
        records = simulate_records(platform, rng, n_forced_cold=30, n_warm=40, start=start)
        manifest = build_manifest({"targets": []}, f"n{night}")
        manifest["started_at"] = start.isoformat()
        # Directory names sort differently from time: history must order by started_at.
        write_run_dir(root / f"run-{9 - night}", [Sample.from_record(r) for r in records],
                      manifest)
    (root / "README").write_text("not a run\n")
    (root / "scratch").mkdir()
    return root


def test_history_flags_the_change_point_at_run_seven(nightly_runs: Path) -> None:
    runs, warnings = load_history_runs(nightly_runs)
    assert [r.name for r in runs] == [f"run-{9 - i}" for i in range(10)] and warnings == []
    history = build_history(runs, keys=["cold.p50", "cold.p99", "warm.p50", "warm.p99"])
    found = {s.key: [(c.run_number, c.direction) for c in s.change_points] for s in history.series}
    assert found["cold.p50"] == [(7, "worse")]
    assert found["cold.p99"] == [(7, "worse")]
    assert found["warm.p50"] == [] and found["warm.p99"] == []


def test_history_command_formats(nightly_runs: Path, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "h.json"
    assert main(["history", str(nightly_runs), "--format", "json", "-o", str(out),
                 "--metric", "cold.p50", "--target", "api"]) == 0
    document = json.loads(out.read_text())
    assert document["schema_version"] == 1
    (series,) = document["series"]
    assert series["change_points"][0]["run_number"] == 7
    assert len(series["points"]) == 10 and series["points"][0]["low"] < series["points"][0]["value"]
    charts = tmp_path / "charts"
    assert main(["history", str(nightly_runs), "--format", "markdown", "--metric", "cold.p99",
                 "--charts", str(charts)]) == 0
    markdown = capsys.readouterr().out
    assert "run 7" in markdown and "PELT" in markdown and "api.cold.p99.png" in markdown
    assert (charts / "api.cold.p99.png").stat().st_size > 1000


def test_history_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["history", str(tmp_path)]) == 2
    assert "no coldbench run directories" in capsys.readouterr().err
    assert main(["history", str(tmp_path), "--metric", "cold.p98"]) == 2
    assert "--metric" in capsys.readouterr().err


def test_a_corrupt_run_is_skipped_with_a_warning(nightly_runs: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "manifest.json").write_text("{not json")
    good = tmp_path / "good"
    for path in nightly_runs.iterdir():
        if path.name == "run-9":
            good.symlink_to(path)
    runs, warnings = load_history_runs(tmp_path)
    assert [r.name for r in runs] == ["good"]
    assert len(warnings) == 1 and "broken" in warnings[0]
