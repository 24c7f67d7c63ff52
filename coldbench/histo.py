"""Mergeable high-dynamic-range latency histograms per target × label (HdrHistogram).

Values are recorded in microseconds (1 µs floor, up to one hour, 3 significant digits). They
bound memory at any request rate and merge exactly across worker processes: percentiles of a
multi-process run come from the merged histogram, never from averaging per-process percentiles.
Raw samples stay in the journal unrounded; the histogram is a compact companion.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from hdrh.histogram import HdrHistogram

from coldbench.events import EventBus, SampleRecorded
from coldbench.sample import Sample

LOWEST_US = 1
HIGHEST_US = 3_600_000_000
SIGNIFICANT_DIGITS = 3
HISTOGRAMS_NAME = "histograms.json"
# histograms.json format history: 1 — {"schema_version": 1, "unit": "us", "histograms":
#   [{"target", "label", "count", "encoded"}]} (encoded: HdrHistogram's compressed base64).
HISTOGRAMS_SCHEMA_VERSION = 1


def new_histogram() -> HdrHistogram:
    """An empty histogram with coldbench's range and precision."""
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)


class HistogramRecorder:
    """Records each successful user sample's latency into its target × label histogram."""

    def __init__(self) -> None:
        self.histograms: dict[tuple[str, str], HdrHistogram] = {}

    def subscribe(self, bus: EventBus) -> None:
        """Record every SampleRecorded event from `bus`."""
        bus.subscribe(SampleRecorded, lambda event: self.record(event.sample))

    def record(self, sample: Sample) -> None:
        """Add one sample (errors and warming/forcing probes are not latency data)."""
        if sample.error is not None or sample.phase != "user":
            return
        key = (sample.target, sample.label)
        histogram = self.histograms.get(key)
        if histogram is None:
            histogram = self.histograms[key] = new_histogram()
        value_us = min(HIGHEST_US, max(LOWEST_US, int(sample.latency_ms * 1000.0 + 0.5)))
        histogram.record_value(value_us)

    def merge(self, other: dict[tuple[str, str], HdrHistogram]) -> None:
        """Fold another recorder's histograms into this one (exact)."""
        for key, histogram in other.items():
            if key in self.histograms:
                self.histograms[key].add(histogram)
            else:
                self.histograms[key] = histogram


def encode_histograms(histograms: dict[tuple[str, str], HdrHistogram]) -> dict[str, Any]:
    """The JSON document for histograms.json."""
    return {
        "schema_version": HISTOGRAMS_SCHEMA_VERSION,
        "unit": "us",
        "histograms": [
            {"target": t, "label": label, "count": h.get_total_count(), "encoded": h.encode().decode()}
            for (t, label), h in sorted(histograms.items())
        ],
    }


def decode_histograms(document: dict[str, Any]) -> dict[tuple[str, str], HdrHistogram]:
    """Histograms from a histograms.json document."""
    return {
        (item["target"], item["label"]): HdrHistogram.decode(item["encoded"].encode())
        for item in document.get("histograms", [])
    }


def save_histograms(run_dir: Path, histograms: dict[tuple[str, str], HdrHistogram],
                    worker: int | None = None) -> Path:
    """Write histograms.json (or a worker's histograms.w<k>.json) atomically."""
    name = HISTOGRAMS_NAME if worker is None else f"histograms.w{worker}.json"
    path = Path(run_dir) / name
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(encode_histograms(histograms)), encoding="utf-8")
    os.replace(tmp, path)
    return path


def load_histograms(run_dir: Path) -> dict[tuple[str, str], HdrHistogram]:
    """Read a run's histograms, merging per-worker files exactly (empty when there are none)."""
    merged = HistogramRecorder()
    for path in sorted(Path(run_dir).glob("histograms*.json")):
        merged.merge(decode_histograms(json.loads(path.read_text(encoding="utf-8"))))
    return merged.histograms
