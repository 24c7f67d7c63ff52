"""The report: files written, strings escaped, CLI, and a real render in headless Chromium."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from coldbench.cli import main
from coldbench.report import write_report
from coldbench.sample import Sample
from coldbench.store import build_manifest, write_run_dir

DATA = Path(__file__).parent / "data"
SMALL_RUN = DATA / "runs" / "small"
HOSTILE = "<script>alert(1)</script>"
FIGURE_NAMES = {"latency_ecdf", "percentiles", "cold_probability", "latency_vs_gap",
                "idle_survival", "phases", "serverless_vs_container", "timeline"}


@pytest.fixture(scope="module")
def small_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report")
    started = time.perf_counter()
    index = write_report([SMALL_RUN], out)
    assert time.perf_counter() - started < 20  # seconds on one core for 200 samples; ~4 here
    return index


def test_report_files(small_report: Path) -> None:
    out = small_report.parent
    assert small_report.name == "index.html"
    for name in FIGURE_NAMES:
        assert (out / "figures" / f"{name}.png").stat().st_size > 5000
        assert (out / "figures" / f"{name}.svg").stat().st_size > 5000
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "![Cold-start probability vs idle gap](figures/cold_probability.png)" in md
    assert "keep-alive 6.33 min [5.84 min, 6.84 min]" in md


def test_html_is_self_contained(small_report: Path) -> None:
    page = small_report.read_text(encoding="utf-8")
    assert page.count('src="data:image/png;base64,') == len(FIGURE_NAMES)
    assert "<script" not in page and "http://" not in page and "https://" not in page.split(
        "<h2 id=\"runs\"")[0]
    for key in ("latency", "cold_rate", "keep_alive", "penalty", "serverless_container"):
        assert f'id="table-{key}"' in page
    assert "fixture-host" in page and "undersized" in page and "http_5xx" in page


def _hostile_run(path: Path) -> Path:
    rng = np.random.default_rng(5)
    samples = []
    for i in range(40):
        gap = float(rng.uniform(1, 120))
        samples.append(Sample(
            probe_id=i, target=HOSTILE, scenario="*bold* | [x](http://evil.example)", seq=i,
            started_at=f"2026-11-03T02:{i:02d}:00.000000+00:00", latency_ms=float(50 + gap),
            gap_s=gap, planned_gap_s=None, label="cold" if gap > 60 else "warm",
            error="<b>boom</b>" if i == 3 else None,
        ))
    suite = {"targets": [{"name": HOSTILE, "kind": "serverless",
                          "labels": {"app": "<img src=x onerror=alert(2)>"}},
                         {"name": "c", "kind": "container",
                          "labels": {"app": "<img src=x onerror=alert(2)>"}}],
             "note": "</pre><script>alert(3)</script> ```"}
    manifest = build_manifest(suite, "<i>suite</i>")
    return write_run_dir(path, samples, manifest)


def test_every_run_string_is_escaped(tmp_path: Path) -> None:
    run = _hostile_run(tmp_path / "hostile")
    index = write_report([run], tmp_path / "out")
    page = index.read_text(encoding="utf-8")
    assert "<script" not in page and "<img src=x" not in page and "<b>boom" not in page
    assert "<i>suite" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    md = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert "````json" in md  # the suite fence outgrows the backticks inside it
    prose = re.sub(r"````json.*?````", "", md, flags=re.S)  # code blocks show text literally
    assert "<script" not in prose and "<img" not in prose and "<b>" not in prose
    assert not re.search(r"(?<!\\)\]\(http://evil", prose)  # escaped: no link survives
    blocks = re.findall(r"(?:^\|.*\n)+", md, flags=re.M)  # each pipe table
    assert any("evil" in block for block in blocks)
    for block in blocks:  # an escaped pipe never adds a cell: rows keep the header's width
        widths = {len(re.findall(r"(?<!\\)\|", row)) for row in block.splitlines()}
        assert len(widths) == 1, block


def test_several_runs_and_published_data(tmp_path: Path) -> None:
    published = DATA / "published"
    index = write_report([SMALL_RUN, SMALL_RUN], tmp_path, published=[
        published / "shilkov_aws_2021_scatter.json", published / "shilkov_aws_2021_interval.json"])
    page = index.read_text(encoding="utf-8")
    assert "small&#x27;/hello-lambda" in page and "shilkov_aws_2021" in page
    assert "published data from shilkov_aws_2021_scatter.json" in page


def test_cli_default_output_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run = tmp_path / "run"
    shutil.copytree(SMALL_RUN, run)
    assert main(["report", str(run)]) == 0
    assert (run / "report" / "index.html").exists()
    assert "report: " in capsys.readouterr().out
    assert main(["report", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "missing" in err[0]


def test_empty_interrupted_run_still_reports(tmp_path: Path) -> None:
    run = write_run_dir(tmp_path / "empty", [], build_manifest({}, "empty"), status="interrupted")
    index = write_report([run], tmp_path / "out")
    page = index.read_text(encoding="utf-8")
    assert "run status is &#x27;interrupted&#x27;" in page
    assert page.count("data:image/png;base64,") == len(FIGURE_NAMES)  # "no data" panels


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if found := shutil.which(name):
            return found
    return None


@pytest.mark.skipif(_chromium() is None,
                    reason="headless Chromium not installed (apt-get install chromium)")
def test_report_renders_in_headless_chromium(small_report: Path, tmp_path: Path) -> None:
    from matplotlib.image import imread

    shot = tmp_path / "shot.png"
    command = [
        _chromium(), "--headless", "--no-sandbox", "--disable-gpu",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr",
        "--window-size=1280,3000", f"--screenshot={shot}", small_report.as_uri(),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr[-2000:]
    for problem in ("Uncaught", "Refused to", "Failed to load resource", "net::ERR_"):
        assert problem not in result.stderr
    pixels = imread(shot)
    assert pixels.shape[0] >= 2000 and pixels.shape[1] == 1280
    assert pixels[..., :3].std() > 0.05  # text and figures, not a blank page
