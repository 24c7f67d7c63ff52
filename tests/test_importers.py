"""Deployment outputs (tests/data/import) → suite targets → a valid suite file."""

from __future__ import annotations

import io
import json
import tomllib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coldbench.cli import main
from coldbench.errors import ConfigError
from coldbench.importers import (
    env_var_name,
    format_suite_toml,
    format_toml_value,
    parse_serverless_info,
    parse_stack_outputs,
    parse_terraform_outputs,
)
from coldbench.suite import load_suite, parse_suite

IMPORT_DIR = Path(__file__).parent / "data" / "import"
SAMPLES = [
    ("serverless", "serverless-info.txt", ["hello", "post-hello", "sleepy"]),
    ("serverless", "serverless-info-v1.txt", ["hello"]),
    ("cloudformation", "stack-outputs.json", ["hello-world-api", "hello-function-url"]),
    ("terraform", "terraform-outputs.json",
     ["api-routes-hello", "api-routes-sleepy", "azure-function-url", "cloud-run-url", "hello-function-url"]),
]


@pytest.mark.parametrize(("source", "file", "names"), SAMPLES, ids=[s[1] for s in SAMPLES])
def test_import_command_turns_each_sample_into_a_valid_suite(source, file, names, tmp_path, monkeypatch,
                                                             capsys) -> None:
    out = tmp_path / "imported.toml"
    assert main(["targets", "import", "--from", source, str(IMPORT_DIR / file), "-o", str(out)]) == 0
    assert "targets imported" in capsys.readouterr().out
    monkeypatch.setenv("COLDBENCH_AZURE_FUNCTION_URL", "https://example.invalid/api/hello?code=x")
    suite = load_suite(out)
    assert [t.name for t in suite.targets] == names
    assert main(["validate", str(out)]) == 0


def test_serverless_endpoints_methods_and_labels() -> None:
    targets = parse_serverless_info((IMPORT_DIR / "serverless-info.txt").read_text())
    by_name = {t["name"]: t for t in targets}
    assert by_name["post-hello"]["method"] == "POST" and "method" not in by_name["hello"]
    assert by_name["sleepy"]["url"].endswith(".lambda-url.eu-west-1.on.aws/")
    assert by_name["sleepy"]["labels"]["endpoint"] == "function-url"
    assert by_name["hello"]["labels"] == {"source": "serverless", "service": "coldbench-hello", "stage": "dev",
                                          "region": "eu-west-1", "endpoint": "api-gateway"}
    assert not any("{" in t["url"] for t in targets)  # /items/{id} has no probe-able URL


def test_serverless_strips_rest_stage_and_colour_codes() -> None:
    text = "\x1b[33mservice:\x1b[39m svc\nstage: prod\nendpoint: ANY - https://a.execute-api.us-east-1.amazonaws.com/prod/v1/ping\n"
    assert [(t["name"], t.get("method", "GET")) for t in parse_serverless_info(text)] == [("v1-ping", "GET")]


def test_stack_outputs_list_and_cdk_shapes() -> None:
    sam_list = [{"OutputKey": "ApiUrl", "OutputValue": "https://a.execute-api.eu-west-1.amazonaws.com/Prod/"},
                {"OutputKey": "FunctionArn", "OutputValue": "arn:aws:lambda:eu-west-1:1:function:f"}]
    assert [t["name"] for t in parse_stack_outputs(json.dumps(sam_list))] == ["api-url"]
    cdk = {"HelloStack": {"HelloUrl": "https://h.lambda-url.eu-west-1.on.aws/", "Bucket": "b"}}
    (target,) = parse_stack_outputs(cdk)
    assert (target["name"], target["labels"]["stack"]) == ("hello-url", "HelloStack")


def test_secret_urls_become_env_references() -> None:
    targets = parse_terraform_outputs((IMPORT_DIR / "terraform-outputs.json").read_text())
    azure = next(t for t in targets if t["name"] == "azure-function-url")
    assert azure["url"] == "${env:COLDBENCH_AZURE_FUNCTION_URL}"
    assert "code=" not in format_suite_toml(targets, "x")
    signed = parse_stack_outputs([{"OutputKey": "Signed", "OutputValue": "https://h.example/x?sig=abc"}])
    assert signed[0]["url"] == "${env:COLDBENCH_SIGNED_URL}"


def test_env_var_names() -> None:
    assert env_var_name("api-routes-hello") == "COLDBENCH_API_ROUTES_HELLO_URL"
    assert env_var_name("function-url") == "COLDBENCH_FUNCTION_URL"


@pytest.mark.parametrize(("source", "text", "message"), [
    ("cloudformation", "{not json", "not valid JSON"),
    ("cloudformation", '{"Stacks": [{"Outputs": [{"OutputKey": "A"}]}]}', "OutputKey and OutputValue"),
    ("cloudformation", '"just a string"', "not CloudFormation stack outputs"),
    ("terraform", "[1, 2]", "not `terraform output -json` output"),
    ("terraform", '{"a": {"type": "string"}}', "has no value"),
    ("terraform", '{"a": {"value": "not a url"}}', "no endpoint URLs found"),
    ("serverless", "hello world\n", "no endpoint URLs found"),
])
def test_malformed_input_is_one_config_error_line(source, text, message, tmp_path, capsys) -> None:
    path = tmp_path / "input"
    path.write_text(text)
    assert main(["targets", "import", "--from", source, str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}: ") and message in err and err.count("\n") == 1


def test_missing_file_and_existing_output(tmp_path, capsys) -> None:
    assert main(["targets", "import", "--from", "terraform", str(tmp_path / "nope.json")]) == 2
    assert "file not found" in capsys.readouterr().err
    out = tmp_path / "suite.toml"
    out.write_text("keep me")
    source = str(IMPORT_DIR / "terraform-outputs.json")
    assert main(["targets", "import", "--from", "terraform", source, "-o", str(out)]) == 2
    assert "--force" in capsys.readouterr().err and out.read_text() == "keep me"
    assert main(["targets", "import", "--from", "terraform", source, "-o", str(out), "--force"]) == 0


def test_stdin_to_stdout(monkeypatch, capsys) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO((IMPORT_DIR / "stack-outputs.json").read_text()))
    assert main(["targets", "import", "--from", "cloudformation", "-", "--name", "sam"]) == 0
    suite = parse_suite(capsys.readouterr().out)
    assert suite.name == "sam" and len(suite.targets) == 2


def test_parse_errors_raise_config_error() -> None:
    with pytest.raises(ConfigError):
        parse_terraform_outputs("{")


_toml_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)


@given(st.dictionaries(_toml_text, st.one_of(_toml_text, st.integers(), st.booleans(),
                                             st.lists(_toml_text, max_size=3)), max_size=5))
def test_toml_values_round_trip(table: dict) -> None:
    text = "t = " + format_toml_value(table) + "\n"
    assert tomllib.loads(text)["t"] == table


def test_lone_surrogates_do_not_break_toml() -> None:
    assert tomllib.loads("s = " + format_toml_value("a\ud800b"))["s"] == "a\ufffdb"
