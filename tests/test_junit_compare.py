"""`coldbench compare` end to end on run directories: exit codes, formats, JUnit shape."""

from __future__ import annotations

import dataclasses
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from test_compare_sim import SANDBOX_LIKE, simulate_records

from coldbench.cli import main
from coldbench.sample import Sample
from coldbench.store import build_manifest, write_run_dir

SLOWER_INIT = dataclasses.replace(SANDBOX_LIKE, extra_init_ms=150.0)


def write_run(path: Path, platform: object, seed: int, host: str = "nightly-1") -> Path:
    rng = np.random.default_rng(seed)
    records = simulate_records(platform, rng, n_forced_cold=40)  # type: ignore[arg-type]
    records += simulate_records(platform, rng, target="edge",  # type: ignore[arg-type]
                                n_forced_cold=25)
    for probe_id, record in enumerate(records):
        record["probe_id"] = probe_id
    manifest = build_manifest({"suite": {"name": "nightly"}, "targets": []}, path.name)
    manifest["environment"]["host"] = host
    return write_run_dir(path, [Sample.from_record(r) for r in records], manifest)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cmp")
    return {
        "base": write_run(root / "base", SANDBOX_LIKE, 1),
        "same": write_run(root / "same", SANDBOX_LIKE, 2),
        "slower": write_run(root / "slower", SLOWER_INIT, 3),
        "other_host": write_run(root / "other_host", SANDBOX_LIKE, 4, host="laptop"),
    }


def test_unchanged_exits_0_and_slower_init_exits_1(runs: dict[str, Path],
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", str(runs["base"]), str(runs["same"])]) == 0
    assert "0 regressed" in capsys.readouterr().out
    assert main(["compare", str(runs["base"]), str(runs["slower"])]) == 1
    out = capsys.readouterr().out
    assert "regressed" in out and "cold.p50" in out


def test_json_report(runs: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    status = main(["compare", str(runs["base"]), str(runs["slower"]), "--format", "json",
                   "-o", str(out), "--min-effect", "warm.p50=1.5"])
    assert status == 1
    document = json.loads(out.read_text())
    assert document["schema_version"] == 1 and document["exit_status"] == 1
    verdicts = {(c["target"], c["key"]): c["verdict"] for c in document["comparisons"]}
    for target in ("api", "edge"):
        assert verdicts[(target, "cold.p50")] == "regressed"
        assert verdicts[(target, "cold.p99")] == "regressed"
        assert verdicts[(target, "warm.p50")] == "unchanged"
    warm = next(c for c in document["comparisons"] if c["key"] == "warm.p50")
    assert warm["min_effect"] == 1.5 and document["config"]["min_effect"] == {"warm.p50": 1.5}


def test_markdown_report_leads_with_regressions(runs: dict[str, Path],
                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", str(runs["base"]), str(runs["slower"]), "--format", "markdown"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("### coldbench compare: 6 regressed")
    table = [line for line in lines if line.startswith("| ")]
    assert table[0].startswith("| target | metric |") and "❌ regressed" in table[1]


def test_environment_differences_are_warned_not_refused(
        runs: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", str(runs["base"]), str(runs["other_host"])]) == 0
    assert "warning: host differs: base 'nightly-1', new 'laptop'" in capsys.readouterr().out


JUNIT_CHILDREN = {"failure", "error", "skipped", "system-out", "system-err", "properties"}


def check_junit_shape(root: ET.Element) -> None:
    """The common JUnit XML shape (Jenkins/Ant junit-10 schema, as GitLab, GitHub and Azure
    read it): counts are integers that add up; every case has name, classname, time."""
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert suites and all(child.tag == "testsuite" for child in root)
    totals = dict.fromkeys(("tests", "failures", "errors", "skipped"), 0)
    for suite in suites:
        assert suite.get("name")
        float(suite.get("time", "x"))
        cases = suite.findall("testcase")
        counted = {
            "tests": len(cases),
            "failures": sum(case.find("failure") is not None for case in cases),
            "errors": sum(case.find("error") is not None for case in cases),
            "skipped": sum(case.find("skipped") is not None for case in cases),
        }
        for key, value in counted.items():
            assert int(suite.get(key, "-1")) == value, key
            totals[key] += value
        for child in suite:
            assert child.tag in {"testcase", "properties", "system-out", "system-err"}
        for prop in suite.iter("property"):
            assert prop.get("name") and prop.get("value") is not None
        for case in cases:
            assert case.get("name") and case.get("classname")
            float(case.get("time", "x"))
            assert {child.tag for child in case} <= JUNIT_CHILDREN
            for failure in case.findall("failure"):
                assert failure.get("message") and failure.get("type")
    for key, value in totals.items():
        assert int(root.get(key, "-1")) == value, key


def test_junit_output_has_the_common_shape(runs: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "junit.xml"
    assert main(["compare", str(runs["base"]), str(runs["slower"]), "--format", "junit",
                 "-o", str(out)]) == 1
    root = ET.parse(out).getroot()
    check_junit_shape(root)
    cases = {(case.get("classname"), case.get("name")): case for case in root.iter("testcase")}
    assert len(cases) == 18  # 2 targets x 9 metrics
    assert cases[("coldbench.compare.api", "cold.p50")].find("failure") is not None
    assert cases[("coldbench.compare.api", "warm.p50")].find("failure") is None
    assert root.get("failures") == "6"  # cold p50, p90, p99 of both targets


def test_junit_skips_metrics_without_data(runs: dict[str, Path], tmp_path: Path) -> None:
    only_warm = tmp_path / "warm-only"
    records = [r for r in simulate_records(SANDBOX_LIKE, np.random.default_rng(9))
               if r["label"] == "warm"]
    write_run_dir(only_warm, [Sample.from_record(r) for r in records])
    out = tmp_path / "j.xml"
    assert main(["compare", str(runs["base"]), str(only_warm), "--format", "junit",
                 "-o", str(out)]) == 0
    root = ET.parse(out).getroot()
    check_junit_shape(root)
    assert int(root.get("skipped", "0")) >= 3  # cold p50/p90/p99 (and keep-alive) skipped


@pytest.mark.parametrize("flags", [["--min-effect", "cold.p99"], ["--min-effect", "cold.p98=1.2"],
                                   ["--min-effect", "p99=0.9"], ["--alpha", "2"],
                                   ["--target", "nope"], ["--format", "xml"],
                                   ["--run-noise", "ten"], ["--run-noise", "-5%"]])
def test_bad_flags_exit_2_with_one_line(runs: dict[str, Path], flags: list[str],
                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", str(runs["base"]), str(runs["same"]), *flags]) == 2
    err = capsys.readouterr().err.strip()
    assert err and "Traceback" not in err


def test_unreadable_runs_exit_2(runs: dict[str, Path], tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "manifest.json").write_text("{oops")
    for other in (tmp_path / "missing", foreign, corrupt):
        assert main(["compare", str(runs["base"]), str(other)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1


def test_drift_column_and_no_drift_flag(runs: dict[str, Path], tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    """The table shows the run-to-run noise each latency interval carries (at least the 10% floor
    for each of two runs); --no-drift --run-noise 0 turns it off, and the JSON config says so."""
    assert main(["compare", str(runs["base"]), str(runs["same"])]) == 0
    assert "run noise" in capsys.readouterr().out
    out = tmp_path / "r.json"
    main(["compare", str(runs["base"]), str(runs["same"]), "--format", "json", "-o", str(out)])
    latency = [c for c in json.loads(out.read_text())["comparisons"] if c["unit"] == "ms"]
    assert latency and all(c["run_noise_factor"] >= 1.1 ** np.sqrt(2) - 1e-9 for c in latency)
    main(["compare", str(runs["base"]), str(runs["same"]), "--no-drift", "--run-noise", "0",
          "--format", "json", "-o", str(out)])
    document = json.loads(out.read_text())
    assert document["config"]["account_for_drift"] is False
    assert document["config"]["run_noise"] == 0.0
    latency = [c for c in document["comparisons"] if c["unit"] == "ms"]
    assert latency and all(c["run_noise_factor"] == 1.0 for c in latency)


def test_several_base_runs(runs: dict[str, Path], tmp_path: Path,
                           capsys: pytest.CaptureFixture[str]) -> None:
    """`compare BASE BASE BASE NEW`: the base runs are pooled, their spread is the run noise,
    and the report names them; slower init still regresses, an unchanged run does not."""
    bases = [str(write_run(tmp_path / f"night{i}", SANDBOX_LIKE, 20 + i)) for i in range(4)]
    assert main(["compare", *bases, str(runs["same"])]) == 0
    assert "4 runs" in capsys.readouterr().out
    out = tmp_path / "r.json"
    assert main(["compare", *bases, str(runs["slower"]), "--format", "json", "-o", str(out)]) == 1
    document = json.loads(out.read_text())
    cold = next(c for c in document["comparisons"]
                if c["target"] == "api" and c["key"] == "cold.p50")
    assert cold["verdict"] == "regressed" and cold["base_n"] > 3 * cold["new_n"]  # pooled


def test_pool_judges_copies_as_one_target(runs: dict[str, Path], tmp_path: Path) -> None:
    """--pool 'all=*' merges the simulated targets `api` and `edge` into one; a malformed
    --pool is one line and exit 2."""
    out = tmp_path / "r.json"
    assert main(["compare", str(runs["base"]), str(runs["slower"]), "--pool", "all=*",
                 "--format", "json", "-o", str(out)]) == 1
    document = json.loads(out.read_text())
    assert {c["target"] for c in document["comparisons"]} == {"all"}
    cold = next(c for c in document["comparisons"] if c["key"] == "cold.p50")
    assert cold["verdict"] == "regressed" and cold["base_n"] >= 60
    assert main(["compare", str(runs["base"]), str(runs["same"]), "--pool", "all"]) == 2
    assert main(["compare", str(runs["base"]), str(runs["same"]), "--pool", "x=nothing*"]) == 2
