"""Import published cold-start measurements as run-like data, to chart them beside our own.

Formats read:

* Shilkov's scatter JSON (``{"points": [[idle_minutes, latency_seconds, style], ...]}``, where
  the style's ``fill-color: blue`` marks a cold request and ``red`` a warm one) becomes a sample
  frame with one row per request (`gap_s`, `latency_ms`, `label`), usable by every analysis
  function and chart.
* Shilkov's interval JSON (``{"points": [[idle_minutes, p_cold], ...]}``) is an aggregate, not
  samples: it becomes a reference curve (gap_s, p_cold, source) for `plot_cold_probability`.
* A CSV with a gap column (``gap_s`` or ``idle_minutes``), a latency column (``latency_ms`` or
  ``latency_s``) and ``label`` (cold/warm) or ``cold`` (true/false): anyone's own numbers.

Values are converted to coldbench units (seconds, milliseconds) and not rounded.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from coldbench.analysis import RunData
from coldbench.errors import RunFormatError
from coldbench.store import SCHEMA_VERSION, frame_from_records

_COLD_STYLE, _WARM_STYLE = "blue", "red"


def parse_published_scatter(
    payload: Any, target: str, where: str = "published data"
) -> list[dict[str, Any]]:
    """Sample records from a scatter payload ``{"points": [[minutes, seconds, style], ...]}``."""
    points = _points(payload, where)
    records = []
    for index, point in enumerate(points):
        if not isinstance(point, list | tuple) or len(point) < 3:
            raise RunFormatError(f"{where}: point {index} is not [idle_minutes, latency_s, style]")
        minutes, seconds, style = point[0], point[1], str(point[2])
        if _COLD_STYLE in style:
            label = "cold"
        elif _WARM_STYLE in style:
            label = "warm"
        else:
            label = "unknown"
        records.append(_record(index, target, float(minutes) * 60.0, float(seconds) * 1000.0,
                               label))
    return records


def _record(index: int, target: str, gap_s: float, latency_ms: float, label: str) -> dict[str, Any]:
    return {
        "probe_id": index, "target": target, "scenario": "published", "seq": index,
        "started_at": None, "latency_ms": latency_ms, "kind": "serverless", "gap_s": gap_s,
        "label": label, "label_source": "instrumented" if label != "unknown" else "none",
        "phase": "user", "fresh_connection": True,
    }


def _points(payload: Any, where: str) -> list[Any]:
    if not isinstance(payload, dict) or not isinstance(payload.get("points"), list):
        raise RunFormatError(f"{where}: expected a JSON object with a \"points\" list")
    return payload["points"]


def parse_published_cold_curve(payload: Any, source: str, where: str = "published data"
                               ) -> pd.DataFrame:
    """Reference curve (gap_s, p_cold, source) from ``{"points": [[minutes, p_cold], ...]}``."""
    rows = []
    for index, point in enumerate(_points(payload, where)):
        if not isinstance(point, list | tuple) or len(point) != 2:
            raise RunFormatError(f"{where}: point {index} is not [idle_minutes, p_cold]")
        rows.append({"gap_s": float(point[0]) * 60.0, "p_cold": float(point[1]), "source": source})
    return pd.DataFrame(rows, columns=["gap_s", "p_cold", "source"])


def _read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise RunFormatError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RunFormatError(f"{path}: not JSON ({exc})") from exc


def _default_name(path: Path) -> str:
    return Path(path).stem.replace("_scatter", "").replace("_interval", "")


def build_external_run(frame: pd.DataFrame, name: str, source: str, target: str) -> RunData:
    """Wrap an imported sample frame as RunData with a manifest that says where it came from."""
    entry: dict[str, Any] = {"name": target, "kind": "serverless", "labels": {}}
    manifest = {
        "schema_version": SCHEMA_VERSION, "suite_name": name, "status": "complete",
        "external": True, "source": source, "suite": {"targets": [entry]},
    }
    return RunData(name, frame, manifest, None, [dict(entry)])


def load_published_scatter(path: Path | str, name: str | None = None,
                           target: str | None = None) -> RunData:
    """Load a published scatter JSON file as run-like data (one sample per request)."""
    path = Path(path)
    name = name or _default_name(path)
    target = target or name
    records = parse_published_scatter(_read_json(path), target, str(path))
    return build_external_run(frame_from_records(records), name, str(path.name), target)


def load_published_cold_curve(path: Path | str, source: str | None = None) -> pd.DataFrame:
    """Load a published P(cold | idle minutes) JSON file as a reference curve frame."""
    path = Path(path)
    return parse_published_cold_curve(_read_json(path), source or _default_name(path), str(path))


def load_external_csv(path: Path | str, name: str | None = None) -> RunData:
    """Load a CSV of (gap, latency, cold/warm) measurements as run-like data."""
    path = Path(path)
    try:
        table = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise RunFormatError(f"{path}: cannot read CSV ({exc})") from exc
    gap_s = _pick(table, path, (("gap_s", 1.0), ("idle_s", 1.0), ("idle_minutes", 60.0),
                                ("gap_min", 60.0)))
    latency_ms = _pick(table, path, (("latency_ms", 1.0), ("latency_s", 1000.0)))
    if "label" in table.columns:
        labels = table["label"].astype(str).str.lower().where(
            lambda s: s.isin(("cold", "warm")), "unknown")
    elif "cold" in table.columns:
        flags = table["cold"].astype(str).str.lower()
        labels = flags.map({"true": "cold", "1": "cold", "false": "warm", "0": "warm"})
        labels = labels.fillna("unknown")
    else:
        raise RunFormatError(f"{path}: needs a 'label' (cold/warm) or 'cold' (true/false) column")
    name = name or path.stem
    target = str(table["target"].iloc[0]) if "target" in table.columns and len(table) else name
    records = [_record(i, target, g, lat, lab) for i, (g, lat, lab)
               in enumerate(zip(gap_s, latency_ms, labels, strict=True))]
    return build_external_run(frame_from_records(records), name, path.name, target)


def _pick(table: pd.DataFrame, path: Path, options: Sequence[tuple[str, float]]) -> list[float]:
    for column, factor in options:
        if column in table.columns:
            return (pd.to_numeric(table[column], errors="coerce") * factor).tolist()
    names = " or ".join(c for c, _f in options)
    raise RunFormatError(f"{path}: needs a column named {names}")


def load_external(path: Path | str) -> RunData | pd.DataFrame:
    """Load any supported external file: RunData for samples, a frame for a reference curve."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        return load_external_csv(path)
    payload = _read_json(path)
    points = _points(payload, str(path))
    if points and isinstance(points[0], list | tuple) and len(points[0]) == 2:
        return parse_published_cold_curve(payload, _default_name(path), str(path))
    name = _default_name(path)
    records = parse_published_scatter(payload, name, str(path))
    return build_external_run(frame_from_records(records), name, path.name, name)
