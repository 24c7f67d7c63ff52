"""`coldbench labels RUN`: the printed report and its exit codes."""

from __future__ import annotations

import base64
import dataclasses
from pathlib import Path

import pytest
from label_synthetic import build_keepalive_samples

from coldbench.cli import main
from coldbench.store import build_manifest, write_run_dir


def report_header(init_ms: float) -> dict[str, str]:
    log = (f"REPORT RequestId: r\tDuration: 1.5 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB\t"
           f"Max Memory Used: 50 MB\tInit Duration: {init_ms:.1f} ms")
    return {"X-Amz-Log-Result": base64.b64encode(log.encode()).decode()}


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    known = build_keepalive_samples(target="fn", seed=1)
    overlapping = build_keepalive_samples(target="slow", seed=2, warm_ms=100, warm_sigma=0.3,
                                          cold_extra_ms=(10, 60), probe_offset=500)
    platform = [
        dataclasses.replace(s, headers={**s.headers, **report_header(s.ttfb_ms or 0.0)})
        if s.headers["X-Coldbench-Invocation"] == "1" else s
        for s in build_keepalive_samples(target="lambda", seed=3, probe_offset=1000)
    ]
    manifest = build_manifest({"scenarios": [{"type": "idle_gap"}]}, "labels-test")
    return write_run_dir(tmp_path / "run", known + overlapping + platform, manifest)


def test_labels_report(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["labels", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert f"labels: {run_dir} (243 samples)" in out
    assert "declined: modes overlap" in out  # the "slow" target
    assert "validation: heuristic vs ground truth" in out
    assert "misclassified: 0" in out
    assert "cold-start attribution" in out and "lambda" in out
    counts = out.split("\n\n")[1].splitlines()
    assert counts[1].split()[:5] == ["fn", "81", "41", "40", "0"]  # samples, cold, warm, unknown
    assert "labels (far apart)" in out or "labels (dip)" in out


def test_labels_hide_truth_has_no_validation(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["labels", str(run_dir), "--hide-truth"]) == 0
    assert "validation: no samples with both ground truth" in capsys.readouterr().out


def test_min_agreement_gate(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The overlapping target's samples are all `unknown`, which counts against agreement.
    assert main(["labels", str(run_dir), "--min-agreement", "60"]) == 0
    assert main(["labels", str(run_dir), "--min-agreement", "99"]) == 1


def test_not_a_run_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["labels", str(tmp_path / "nope")]) == 2
    assert capsys.readouterr().err.startswith("error: ")
