"""coldbench: measure serverless cold starts and latency honestly, reproducibly and fast."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd


def load_run(path: Any) -> pd.DataFrame:
    """Load a run directory's samples as a DataFrame (Parquet, or the journal of a cut-short run)."""
    from coldbench.store import load_run as _load_run

    return _load_run(path)


__all__ = ["__version__", "load_run"]
