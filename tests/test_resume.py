"""`coldbench run --resume`: kill -9 at random moments, resume each time; every planned probe
ends up in the run exactly once and no completed sample is lost."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from coldbench import load_run
from coldbench.cli import main
from coldbench.store import JOURNAL_NAME, load_manifest

SUITE = """
[suite]
name = "resumable"
seed = 11
[[targets]]
name = "a"
url = "{url}/ok"
[[targets]]
name = "b"
url = "{url}/sleep?ms=2"
[[scenarios]]
type = "idle_gap"
gaps = ["20ms", "60ms"]
repetitions = 100
shuffle = true
[[scenarios]]
type = "burst"
concurrency = 3
rounds = 4
pause = "30ms"
"""


def _journal_ids(run_dir: Path) -> list[int]:
    data = (run_dir / JOURNAL_NAME).read_bytes() if (run_dir / JOURNAL_NAME).exists() else b""
    return [json.loads(line)["probe_id"] for line in data.split(b"\n")[:-1]]


def _run_cli(args: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "coldbench", "run", *args, "-q", "--no-report"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)


@pytest.mark.slow
def test_kill_9_twenty_times_then_resume(echo_url, write_suite, tmp_path) -> None:
    suite = write_suite(SUITE.format(url=echo_url))
    run_dir = tmp_path / "run"
    rng = random.Random(5)
    kills = 0
    proc = _run_cli([str(suite), "-o", str(run_dir)])
    try:
        while kills < 20:
            time.sleep(rng.uniform(0.9, 1.6))  # interpreter start-up is ~0.8 s of this
            before = set(_journal_ids(run_dir))
            if proc.poll() is not None:
                break  # finished before we could kill it again
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            kills += 1
            after = _journal_ids(run_dir)
            assert before <= set(after), "a completed sample disappeared"
            if (run_dir / "manifest.json").exists():
                proc = _run_cli(["--resume", str(run_dir)])
            else:  # killed before the run directory existed: nothing to resume yet
                kills -= 1
                proc = _run_cli([str(suite), "-o", str(run_dir)])
        _out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0, err.decode()
    assert kills >= 10
    planned = load_manifest(run_dir)["planned_probes"]
    frame = load_run(run_dir)
    assert sorted(frame["probe_id"]) == list(range(planned))  # each probe exactly once
    assert load_manifest(run_dir)["status"] == "complete"
    assert load_manifest(run_dir)["resumed_at"]


def test_resume_refuses_a_changed_suite(echo_url, write_suite, tmp_path, capsys) -> None:
    suite = write_suite(SUITE.format(url=echo_url).replace("repetitions = 100", "repetitions = 1"))
    run_dir = tmp_path / "run"
    assert main(["run", str(suite), "-o", str(run_dir), "-q", "--no-report"]) == 0
    suite.write_text(suite.read_text().replace('"20ms"', '"25ms"'))
    capsys.readouterr()
    assert main(["run", "--resume", str(run_dir), "-q"]) == 2
    assert "the suite changed" in capsys.readouterr().err


def test_existing_run_dir_is_not_overwritten(echo_url, write_suite, tmp_path, capsys) -> None:
    suite = write_suite(SUITE.format(url=echo_url).replace("repetitions = 100", "repetitions = 1"))
    run_dir = tmp_path / "run"
    assert main(["run", str(suite), "-o", str(run_dir), "-q", "--no-report"]) == 0
    assert main(["run", str(suite), "-o", str(run_dir), "-q", "--no-report"]) == 2
    assert "already holds a run" in capsys.readouterr().err


def test_dry_run_sends_nothing(write_suite, capsys) -> None:
    suite = write_suite(SUITE.format(url="http://127.0.0.1:9"))
    assert main(["run", str(suite), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "requests: 426" in out and "nothing was sent" in out


def test_budget_guards_name_the_key(write_suite, capsys) -> None:
    text = SUITE.format(url="http://127.0.0.1:9") + "[budget]\nmax_requests = 50\n"
    assert main(["run", str(write_suite(text)), "--dry-run"]) == 2
    assert "budget.max_requests" in capsys.readouterr().err
