"""Shared fixtures: real loopback servers as child processes, always cleaned up."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from coldbench.testing.childproc import ServerProcess

DATA_DIR = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def echo_url() -> Iterator[str]:
    """Base URL of an always-on echo server (coldbench.testing.echo_server) on 127.0.0.1."""
    with ServerProcess("coldbench.testing.echo_server") as server:
        yield server.url


@pytest.fixture(scope="module")
def faults() -> Iterator[dict[str, str]]:
    """The fault server's ready line: its URLs by name."""
    with ServerProcess("coldbench.testing.fault_server") as server:
        yield server.info


@pytest.fixture
def write_suite(tmp_path: Path):
    """Write suite text to a file in tmp_path and return its path."""

    def _write(text: str, name: str = "suite.toml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return _write
