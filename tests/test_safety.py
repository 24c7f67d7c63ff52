"""Safety: secrets never reach disk, malformed suites never give a traceback, broken run
directories and unwritable output give one clear line."""

from __future__ import annotations

import json
import os
import string
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coldbench.cli import main
from coldbench.errors import ConfigError
from coldbench.suite import parse_suite

TOKEN = "tok-9f8e7d6c5b4a3921"
API_KEY = "key-0a1b2c3d4e5f6789"
QUERY_SECRET = "qs-5566778899aabbcc"

SECRET_SUITE = """
[suite]
name = "secrets"
[[targets]]
name = "echoes-everything"
url = "{url}/echo-headers?token=${{env:CB_QUERY_SECRET}}"
headers = {{ Authorization = "Bearer ${{env:CB_TOKEN}}", X-Api-Key = "${{env:CB_API_KEY}}" }}
[[targets]]
name = "unreachable"
url = "http://127.0.0.1:9/?token=${{env:CB_QUERY_SECRET}}"
headers = {{ Authorization = "Bearer ${{env:CB_TOKEN}}" }}
[[scenarios]]
type = "idle_gap"
gaps = ["50ms"]
repetitions = 3
"""


def test_no_secret_reaches_any_file_of_a_run(echo_url, write_suite, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("CB_TOKEN", TOKEN)
    monkeypatch.setenv("CB_API_KEY", API_KEY)
    monkeypatch.setenv("CB_QUERY_SECRET", QUERY_SECRET)
    suite = write_suite(SECRET_SUITE.format(url=echo_url))
    run_dir = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-m", "coldbench", "run", str(suite), "-o", str(run_dir), "-q"],
        capture_output=True, timeout=120, env=os.environ.copy(),
    )
    assert result.returncode == 0, result.stderr.decode()
    files = [p for p in run_dir.rglob("*") if p.is_file()]
    assert any(p.name == "index.html" for p in files) and any(p.suffix == ".parquet" for p in files)
    for path in files:
        data = path.read_bytes()
        for secret in (TOKEN, API_KEY, QUERY_SECRET):
            assert secret.encode() not in data, f"{secret} leaked into {path}"
    for stream in (result.stdout, result.stderr):
        assert all(s.encode() not in stream for s in (TOKEN, API_KEY, QUERY_SECRET))
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["suite"]["targets"][0]["headers"]["X-Api-Key"] == "${env:CB_API_KEY}"


_keys = st.sampled_from(["suite", "targets", "scenarios", "name", "url", "gaps", "type", "kind",
                         "timeout", "repetitions", "concurrency", "budget", "thresholds", "sandbox",
                         "headers", "json", "rate", "duration", "steps", "jitter", "count"])
_scalars = st.one_of(st.integers(-5, 10**6), st.floats(allow_nan=True), st.booleans(),
                     st.text(string.printable, max_size=12),
                     st.sampled_from(["1s", "500ms", "-3s", "10min", "idle_gap", "burst", "rate",
                                      "http://127.0.0.1:1/", "${env:NOPE}", "5%", "fresh"]))
_values = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(_keys, inner, max_size=5)), max_leaves=20)


def _to_toml(table: dict) -> str:
    """Render nested dicts/lists as TOML via JSON-ish inline tables (good enough for fuzzing)."""
    def value(v: object) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int | float):
            return json.dumps(v) if v == v and abs(v) != float("inf") else '"nan"'
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{" + ", ".join(f"{json.dumps(k)} = {value(x)}" for k, x in v.items()) + "}"
        raise TypeError(v)
    return "\n".join(f"{json.dumps(k)} = {value(v)}" for k, v in table.items())


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.dictionaries(_keys, _values, max_size=6).map(_to_toml),
                 st.text(string.printable, max_size=200)))
def test_fuzzed_suites_raise_config_error_or_parse(text: str) -> None:
    try:
        parse_suite(text, "fuzz.toml", env={})
    except ConfigError as exc:
        assert str(exc).startswith("fuzz.toml") and "\n" not in str(exc).strip()


@pytest.mark.parametrize("command", ["report", "labels", "compare"])
def test_corrupt_or_foreign_run_dirs_give_one_line(tmp_path, capsys, command) -> None:
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("not a run")
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "manifest.json").write_text("{ half a manifest")
    for run_dir in (foreign, corrupt, tmp_path / "missing"):
        argv = [command, str(run_dir)] + ([str(run_dir)] if command == "compare" else [])
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: ") and str(run_dir) in err[0]


def test_unwritable_run_directory_is_a_clear_error(echo_url, write_suite, tmp_path, capsys) -> None:
    if os.geteuid() == 0:
        target = Path("/proc/coldbench-cannot-write-here")  # not writable even for root
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        target = locked / "run"
    suite = write_suite(SECRET_SUITE.format(url=echo_url).replace("${env:CB_QUERY_SECRET}", "x")
                        .replace("${env:CB_TOKEN}", "x").replace("${env:CB_API_KEY}", "x"))
    assert main(["run", str(suite), "-o", str(target), "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot write run directory" in err[0] and "-o DIR" in err[0]


def test_disk_full_stops_with_one_line_and_a_readable_journal(echo_url, write_suite, tmp_path, capsys) -> None:
    """A tiny tmpfs fills up mid-run: the run stops with a clear error; what was journaled reads."""
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96k", "tmpfs", str(mount_point)],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({mounted.stderr.decode().strip()})")
    try:
        suite = write_suite(
            "[suite]\nname = \"full\"\n[[targets]]\nname = \"a\"\n"
            f"url = \"{echo_url}/ok\"\n[[scenarios]]\ntype = \"warm\"\ncount = 2000\n"
        )
        run_dir = mount_point / "run"
        assert main(["run", str(suite), "-o", str(run_dir), "-q", "--no-report"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: cannot") and "No space left" in err[0]
        from coldbench.store import read_journal

        frame, stats = read_journal(run_dir)
        assert len(frame) > 10 and stats.torn_lines <= 1
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], capture_output=True)
