"""Suite files: valid ones parse; broken ones give one ConfigError line naming file and key."""

from __future__ import annotations

import pytest

from coldbench.cli import main
from coldbench.errors import ConfigError
from coldbench.suite import parse_suite

VALID = """
[suite]
name = "demo"
seed = 7
[[targets]]
name = "fn"
url = "https://example.invalid/fn"
method = "post"
json = {hello = "world"}
timeout = "5s"
kind = "serverless"
labels = {app = "hello"}
headers = {Authorization = "Bearer ${env:TOKEN}"}
[[targets]]
name = "box"
url = "http://127.0.0.1:1/"
kind = "container"
connection = "reuse"
[[scenarios]]
type = "idle_gap"
gaps = ["500ms", "2s", "10min", 3]
repetitions = 2
shuffle = true
jitter = "10%"
[[scenarios]]
type = "burst"
concurrency = 8
rounds = 2
pause = "1s"
targets = ["fn"]
[[scenarios]]
type = "warm"
count = 5
"""


def test_valid_suite_is_typed() -> None:
    suite = parse_suite(VALID, "demo.toml", env={"TOKEN": "s3cr3t-value"})
    fn = suite.target("fn")
    assert fn.method == "POST" and fn.timeout_s == 5.0 and fn.body == b'{"hello":"world"}'
    assert ("Content-Type", "application/json") in fn.headers
    assert dict(fn.headers)["Authorization"] == "Bearer s3cr3t-value"
    assert suite.target("box").connection == "reuse" and suite.target("box").kind == "container"
    gaps = suite.scenarios[0]
    assert gaps.gaps_s == (0.5, 2.0, 600.0, 3.0) and gaps.jitter_fraction == pytest.approx(0.1)
    assert suite.scenarios[1].targets == ("fn",) and suite.scenarios[1].concurrency == 8
    assert suite.scenarios[2].count == 5


def test_snapshot_never_holds_the_secret() -> None:
    suite = parse_suite(VALID, "demo.toml", env={"TOKEN": "s3cr3t-value"})
    assert "s3cr3t-value" not in repr(suite.snapshot)
    assert suite.snapshot["targets"][0]["headers"]["Authorization"] == "Bearer ${env:TOKEN}"
    assert suite.secrets == ("s3cr3t-value",)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[[targets]\nname=", "demo.toml: TOML syntax error"),
        (VALID.replace("timeout =", "timeuot ="), "targets[fn].timeuot: unknown key; did you mean 'timeout'?"),
        (VALID.replace("concurrency = 8", 'concurrency = "8"'), "scenarios[burst-1].concurrency: expected an integer"),
        (VALID.replace('gaps = ["500ms"', 'gaps = ["5 parsecs"'), "scenarios[idle_gap-0].gaps[0]: cannot read duration"),
        (VALID.replace('kind = "container"', 'kind = "contianer"'), "did you mean 'container'?"),
        (VALID.replace('targets = ["fn"]', 'targets = ["fm"]'), "no target named 'fm'; did you mean 'fn'?"),
        (VALID.replace('type = "warm"', 'type = "wram"'), "did you mean 'warm'?"),
        (VALID.replace('url = "http://127.0.0.1:1/"', 'url = "ftp://x"'), "targets[box].url: must start with http"),
    ],
)
def test_broken_suites_name_file_and_key(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_suite(text, "demo.toml", env={"TOKEN": "x"})
    assert expected in str(info.value)
    assert str(info.value).startswith("demo.toml: ")


def test_missing_environment_variable_is_named() -> None:
    with pytest.raises(ConfigError, match=r"targets\[fn\]\.headers\.Authorization: environment variable TOKEN is not set"):
        parse_suite(VALID, "demo.toml", env={})


def test_cli_prints_one_error_line_and_exits_2(write_suite, capsys, monkeypatch) -> None:
    monkeypatch.setenv("TOKEN", "abc")
    path = write_suite(VALID.replace("repetitions = 2", "repetitons = 2"))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("error: ") and str(path) in err[0] and "did you mean 'repetitions'?" in err[0]


def test_cli_missing_file(tmp_path, capsys) -> None:
    assert main(["validate", str(tmp_path / "nope.toml")]) == 2
    assert "suite file not found" in capsys.readouterr().err


def test_validate_ok(write_suite, capsys, monkeypatch) -> None:
    monkeypatch.setenv("TOKEN", "abc")
    path = write_suite(VALID)
    assert main(["validate", str(path)]) == 0
    assert "valid" in capsys.readouterr().out
