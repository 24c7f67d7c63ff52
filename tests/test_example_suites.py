"""Every example suite in targets/ validates, and its header says what to deploy and which
environment variables it reads (dummy values stand in for the real endpoints here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from coldbench.cli import main
from coldbench.suite import ENV_RE

TARGETS_DIR = Path(__file__).resolve().parent.parent / "targets"
LEAD_OWNED = {"local.toml", "local-workerd.toml"}  # runs on a fresh machine; tested with the sandbox
EXAMPLE_SUITES = sorted(p for p in TARGETS_DIR.glob("*.toml") if p.name not in LEAD_OWNED)
EXPECTED = {
    "aws-function-url", "aws-api-gateway", "aws-invoke-provisioned", "cloud-run", "azure-functions",
    "vercel", "cloudflare-workers", "openfaas", "container",
}


def header_comment(path: Path) -> str:
    """The leading comment block of a suite file."""
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        lines.append(line)
    return "\n".join(lines)


def test_every_platform_has_an_example_suite() -> None:
    assert EXPECTED <= {p.stem for p in EXAMPLE_SUITES}


@pytest.mark.parametrize("path", EXAMPLE_SUITES, ids=[p.stem for p in EXAMPLE_SUITES])
def test_example_suite_validates(path: Path, monkeypatch, capsys) -> None:
    for name in set(ENV_RE.findall(path.read_text(encoding="utf-8"))):
        monkeypatch.setenv(name, f"https://{name.lower().replace('_', '-')}.example.invalid")
    assert main(["validate", str(path)]) == 0, capsys.readouterr().err
    assert "valid" in capsys.readouterr().out


@pytest.mark.parametrize("path", EXAMPLE_SUITES, ids=[p.stem for p in EXAMPLE_SUITES])
def test_example_suite_documents_deployment_and_environment(path: Path) -> None:
    header = header_comment(path)
    assert "Deploy" in header
    assert "Environment variables read" in header
    for name in set(ENV_RE.findall(path.read_text(encoding="utf-8"))):
        assert name in header, f"{path.name}: {name} is read but not documented"


def test_a_missing_variable_names_itself(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.delenv("COLDBENCH_VERCEL_URL", raising=False)
    assert main(["validate", str(TARGETS_DIR / "vercel.toml")]) == 2
    assert "COLDBENCH_VERCEL_URL" in capsys.readouterr().err
