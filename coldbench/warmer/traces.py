"""Invocation traces of the Azure Functions public datasets, as arrival times of one function.

Two formats (Shahrad et al., USENIX ATC 2020; the samples shipped with vHive's invitro):

* ``azure2019``: one row per function (``HashOwner,HashApp,HashFunction,Trigger``, then 1,440
  columns of invocations per minute). Arrivals inside a minute are spread uniformly at random
  (seeded): the trace does not say where in the minute they fell. A matching durations file
  (``..._durations.csv``: ``Average`` in ms) gives the function's mean execution time.
* ``azure2021``: one row per invocation (``app,func,end_timestamp,duration``, seconds); the
  arrival is ``end_timestamp - duration``.

A function is picked by a prefix of its hash (``HashFunction``, or ``func`` / ``app/func`` for
2021); without one, the busiest function. Parsing takes text, loading reads files.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from coldbench.errors import ConfigError

TRACE_FORMATS = ("azure2019", "azure2021")
_KEYS_2019 = ("HashOwner", "HashApp", "HashFunction", "Trigger")
_KEYS_2021 = ("app", "func", "end_timestamp", "duration")


@dataclass(frozen=True, slots=True)
class Trace:
    """Arrival times (seconds from the trace's start, sorted) of one function."""

    format: str
    function: str
    arrivals_s: NDArray[np.float64]
    span_s: float  # length of the trace period the arrivals come from
    mean_duration_ms: float | None = None
    trigger: str | None = None


def _rows(text: str, where: str, required: tuple[str, ...]) -> list[dict[str, str]]:
    reader = csv.DictReader(io.StringIO(text))
    missing = [k for k in required if k not in (reader.fieldnames or [])]
    if missing:
        raise ConfigError(f"{where}: not this trace format (missing column {missing[0]!r})")
    return list(reader)


def _pick(ids: list[str], weights: Counter[str], function: str | None, where: str) -> str:
    if function is None:
        return max(ids, key=lambda i: (weights[i], i))
    matches = sorted({i for i in ids if i.startswith(function) or i.split("/")[-1].startswith(function)})
    if not matches:
        raise ConfigError(f"{where}: no function whose hash starts with {function!r} "
                          f"(the trace has {len(set(ids))} functions)")
    if len(matches) > 1:
        raise ConfigError(f"{where}: {function!r} matches {len(matches)} functions; give more "
                          "characters of the hash")
    return matches[0]


def parse_azure2019_trace(text: str, function: str | None = None, seed: int = 0,
                          where: str = "trace") -> Trace:
    """Arrivals of one function from an Azure 2019 per-minute invocation-count file."""
    rows = _rows(text, where, _KEYS_2019)
    minutes = [k for k in (rows[0].keys() if rows else []) if k not in _KEYS_2019]
    counts: dict[str, np.ndarray] = {}
    triggers: dict[str, str] = {}
    for line, row in enumerate(rows, start=2):
        try:
            counts[row["HashFunction"]] = np.array([int(row[m] or 0) for m in minutes], dtype=np.int64)
        except ValueError:
            raise ConfigError(f"{where}: line {line}: invocation counts must be integers") from None
        triggers[row["HashFunction"]] = row["Trigger"]
    if not counts:
        raise ConfigError(f"{where}: the trace holds no functions")
    weights = Counter({k: int(v.sum()) for k, v in counts.items()})
    chosen = _pick(list(counts), weights, function, where)
    per_minute = counts[chosen]
    rng = np.random.default_rng(seed)
    starts = np.repeat(np.arange(per_minute.size, dtype=np.float64) * 60.0, per_minute)
    arrivals = np.sort(starts + rng.uniform(0.0, 60.0, starts.size))
    return Trace("azure2019", chosen, arrivals, per_minute.size * 60.0, trigger=triggers[chosen])


def parse_azure2019_durations(text: str, function: str, where: str = "durations") -> float | None:
    """Mean execution time (ms) of a function from an Azure 2019 durations file, if listed."""
    for row in _rows(text, where, ("HashFunction", "Average")):
        if row["HashFunction"] == function:
            try:
                return float(row["Average"])
            except ValueError:
                return None
    return None


def parse_azure2021_trace(text: str, function: str | None = None, where: str = "trace") -> Trace:
    """Arrivals of one function from an Azure 2021 per-invocation file (start = end − duration)."""
    rows = _rows(text, where, _KEYS_2021)
    by_function: dict[str, list[tuple[float, float]]] = {}
    for line, row in enumerate(rows, start=2):
        try:
            end, duration = float(row["end_timestamp"]), float(row["duration"])
        except ValueError:
            raise ConfigError(f"{where}: line {line}: end_timestamp and duration must be numbers") from None
        by_function.setdefault(f"{row['app']}/{row['func']}", []).append((end - duration, duration))
    if not by_function:
        raise ConfigError(f"{where}: the trace holds no invocations")
    weights = Counter({k: len(v) for k, v in by_function.items()})
    chosen = _pick(list(by_function), weights, function, where)
    starts = np.array(sorted(s for s, _d in by_function[chosen]), dtype=np.float64)
    all_starts = [s for items in by_function.values() for s, _d in items]
    offset = min(0.0, min(all_starts))
    span = max(s + d for items in by_function.values() for s, d in items) - offset
    mean_ms = 1000.0 * float(np.mean([d for _s, d in by_function[chosen]]))
    return Trace("azure2021", chosen, starts - offset, float(span), mean_duration_ms=mean_ms)


def load_trace(path: Path, fmt: str, function: str | None = None, seed: int = 0,
               where: str = "warmer.workload.path") -> Trace:
    """Read a trace file; for azure2019 also read a `*_durations.csv` beside it if present."""
    text = _read(path, where)
    if fmt == "azure2021":
        return parse_azure2021_trace(text, function, f"{where} ({path})")
    trace = parse_azure2019_trace(text, function, seed, f"{where} ({path})")
    durations = path.with_name(path.name.replace("_invocations", "_durations"))
    if durations != path and durations.is_file():
        mean_ms = parse_azure2019_durations(_read(durations, where), trace.function)
        return Trace(trace.format, trace.function, trace.arrivals_s, trace.span_s, mean_ms,
                     trace.trigger)
    return trace


def _read(path: Path, where: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read trace {path} ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{where}: {path} is not a text (CSV) file") from None


def cut_trace(trace: Trace, start_s: float = 0.0, span_s: float | None = None) -> Trace:
    """The part of a trace in [start, start + span), re-based to start at 0."""
    end = trace.span_s if span_s is None else min(trace.span_s, start_s + span_s)
    keep = (trace.arrivals_s >= start_s) & (trace.arrivals_s < end)
    return Trace(trace.format, trace.function, trace.arrivals_s[keep] - start_s,
                 max(0.0, end - start_s), trace.mean_duration_ms, trace.trigger)
