"""Suite thresholds (k6 style): parsing, evaluation per target, and the pytest plugin."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_compare_sim import Platform, simulate_frame

from coldbench.errors import ConfigError
from coldbench.thresholds import (
    check_run_thresholds,
    evaluate_thresholds,
    format_threshold_results,
    parse_threshold,
    split_suite_thresholds,
    thresholds_exit_status,
    validate_suite_thresholds,
)


@pytest.mark.parametrize(("key", "expression", "canonical", "op", "limit", "unit"), [
    ("cold.p99", "< 900ms", "cold.p99", "<", 900.0, "ms"),
    ("warm.p50", "<=40", "warm.p50", "<=", 40.0, "ms"),
    ("p90", "< 1.5s", "all.p90", "<", 1500.0, "ms"),
    ("all.p99.9", "< 2s", "all.p99.9", "<", 2000.0, "ms"),
    ("cold.mean", "> 0.5", "cold.mean", ">", 0.5, "ms"),
    ("cold_rate", "< 5%", "cold_rate", "<", 0.05, "fraction"),
    ("error_rate", "<= 0.005", "error_rate", "<=", 0.005, "fraction"),
    ("keep_alive", ">= 5min", "keep_alive", ">=", 300.0, "s"),
    ("keep_alive", "> 8", "keep_alive", ">", 8.0, "s"),
])
def test_parse_threshold(key: str, expression: str, canonical: str, op: str, limit: float,
                         unit: str) -> None:
    threshold = parse_threshold(key, expression)
    assert (threshold.key, threshold.op, threshold.unit) == (canonical, op, unit)
    assert threshold.limit == pytest.approx(limit)


@pytest.mark.parametrize(("key", "expression", "named"), [
    ("cold.p99", "900ms", "thresholds.cold.p99"),
    ("cold.p99", "< 900 parsecs", "thresholds.cold.p99"),
    ("cold.p99", "< 5%", "percentage"),
    ("cold_rate", "< 5", "thresholds.cold_rate"),
    ("cold_rate", "< 50ms", "not a rate"),
    ("hot.p99", "< 1s", "unknown threshold key 'hot.p99'"),
    ("cold.p99", 900, "expected a string"),
])
def test_bad_thresholds_name_the_key(key: str, expression: object, named: str) -> None:
    with pytest.raises(ConfigError, match=named.replace(".", r"\.").replace("(", r"\(")):
        parse_threshold(key, expression)


def test_suite_forms_quoted_dotted_per_target_and_in_target_tables() -> None:
    suite = tomllib.loads(textwrap.dedent('''
        [thresholds]
        "cold.p99" = "< 900ms"
        warm.p50 = "< 40ms"
        cold_rate = ["< 50%", "< 0.6"]
        [thresholds.targets.api]
        "cold.p99" = "< 1.5s"
        [[targets]]
        name = "api"
        url = "http://127.0.0.1:1/"
        thresholds = { error_rate = "< 1%" }
        [[targets]]
        name = "other"
        url = "http://127.0.0.1:2/"
    '''))
    common, per_target = split_suite_thresholds(suite)
    assert per_target == {"api": {"cold.p99": "< 1.5s", "error_rate": "< 1%"}, "other": {}}
    validate_suite_thresholds(suite)
    frame = simulate_frame(Platform(), np.random.default_rng(0), full=True)
    results = check_run_thresholds(frame, suite)
    by_key = {(r.target, r.key, r.expression): r for r in results}
    assert ("api", "cold.p99", "< 1.5s") in by_key and ("api", "cold.p99", "< 900ms") not in by_key
    assert by_key[("api", "warm.p50", "< 40ms")].status == "pass"
    assert by_key[("api", "error_rate", "< 1%")].n == len(frame)
    assert {r.expression for r in results if r.key == "cold_rate"} == {"< 50%", "< 0.6"}
    # "other" is named by the suite but measured nothing: no data is not a pass.
    assert {r.status for r in results if r.target == "other"} == {"no-data"}
    assert thresholds_exit_status(results) == 1


def test_evaluate_values_and_failures() -> None:
    frame = simulate_frame(Platform(), np.random.default_rng(1), full=True)
    results = evaluate_thresholds(frame, {"cold.p50": "< 100ms", "warm.p50": "< 100ms",
                                          "cold_rate": "< 99%", "keep_alive": "> 8s"})
    status = {r.key: r.status for r in results}
    assert status == {"cold.p50": "fail", "warm.p50": "pass", "cold_rate": "pass",
                      "keep_alive": "pass"}
    cold = next(r for r in results if r.key == "cold.p50")
    assert 300 < cold.observed < 500 and cold.n > 20
    text = format_threshold_results(results, failed_only=True)
    assert text.startswith("FAIL api cold.p50 = ") and "needs < 100ms" in text
    assert thresholds_exit_status([r for r in results if r.passed]) == 0


def test_only_user_phase_successes_count() -> None:
    frame = pd.DataFrame({
        "target": ["t"] * 4, "phase": ["user", "user", "warming", "user"],
        "error": [None, None, None, "timeout"], "label": ["warm"] * 4,
        "latency_ms": [10.0, 20.0, 5000.0, 9000.0], "gap_s": [1.0] * 4,
    })
    (p99,) = evaluate_thresholds(frame, {"warm.p99": "< 25ms"})
    assert p99.observed == 20.0 and p99.n == 2 and p99.passed
    (errors,) = evaluate_thresholds(frame, {"error_rate": "< 10%"})
    assert errors.observed == pytest.approx(1 / 3) and not errors.passed


PLUGIN_TEST = '''
import json
import numpy as np
import pytest
from test_compare_sim import Platform, simulate_records
from coldbench.sample import Sample
from coldbench.store import build_manifest, write_run_dir

def fake_main(argv):
    """Stands in for `coldbench run`: writes a run directory with the suite's thresholds."""
    assert argv[0] == "run" and argv[2] == "-o"
    suite = {"thresholds": {"warm.p50": "< 100ms", "cold.p99": "< 50ms"}}
    records = simulate_records(Platform(), np.random.default_rng(0))
    write_run_dir(argv[3], [Sample.from_record(r) for r in records], build_manifest(suite, "x"))
    return 1

def test_run_and_assert(coldbench_run, monkeypatch):
    monkeypatch.setattr("coldbench.cli.main", fake_main)
    result = coldbench_run("suite.toml")
    assert result.exit_status == 1 and len(result.frame) > 100
    assert [r.key for r in result.failed_thresholds()] == ["cold.p99"]
    with pytest.raises(AssertionError, match="1 of 2 coldbench thresholds failed"):
        result.assert_thresholds()
    result.assert_thresholds({"warm.p50": "< 100ms"})
'''


def test_pytest_plugin_fixture_and_benchmark_json(tmp_path: Path) -> None:
    """Runs an inner pytest session with the plugin and a stand-in `coldbench run`."""
    (tmp_path / "test_nightly.py").write_text(PLUGIN_TEST)
    out = tmp_path / "bench.json"
    tests_dir = Path(__file__).parent
    # The inner session gets its own --basetemp, so it never prunes this session's tmp dirs.
    completed = subprocess.run(
        # The plugin loads through its pytest11 entry point (pyproject), as in a user's project.
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         f"--coldbench-benchmark-json={out}", "--rootdir",
         str(tmp_path), f"--basetemp={tmp_path / 'inner'}", str(tmp_path / "test_nightly.py")],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(
            [str(tests_dir), *filter(None, [os.environ.get("PYTHONPATH")])])},
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    document = json.loads(out.read_text())
    names = [b["name"] for b in document["benchmarks"]]
    assert names == ["api[cold]", "api[warm]"]
    stats = document["benchmarks"][0]["stats"]
    assert 0.2 < stats["median"] < 0.6 and stats["rounds"] > 20  # seconds, as pytest-benchmark
    # pytest-benchmark itself reads the file (run in tmp_path: it makes a .benchmarks dir there).
    script = Path(sys.executable).with_name("pytest-benchmark")
    shown = subprocess.run([str(script), "compare", str(out)], capture_output=True, text=True,
                           cwd=tmp_path, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert "api[cold]" in shown.stdout
