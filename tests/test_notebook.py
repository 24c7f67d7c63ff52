"""The figure notebooks run top to bottom on the checked-in small run (so they cannot rot)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_there_is_a_notebook() -> None:
    assert NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_executes(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLDBENCH_RUN", str(ROOT / "tests" / "data" / "runs" / "small"))
    monkeypatch.setenv("COLDBENCH_PUBLISHED", str(ROOT / "tests" / "data" / "published"))
    monkeypatch.setenv("COLDBENCH_FIGURES", str(tmp_path / "figures"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    errors = [o for cell in notebook.cells if cell.cell_type == "code"
              for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    pngs = sorted(p.name for p in (tmp_path / "figures").glob("*.png"))
    assert pngs and all((tmp_path / "figures" / p).stat().st_size > 5000 for p in pngs)
