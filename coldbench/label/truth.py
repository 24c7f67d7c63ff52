"""Ground truth for a whole sample frame, and the engine's per-sample annotator.

Evidence per sample comes from its stored headers (JSON text) and from evidence columns the
engine already filled as the sample completed (for instance from a JSON body, which the run
directory does not keep). Instance sightings are replayed in send order over the whole run.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pandas as pd

from coldbench.label.evidence import (
    Evidence,
    InstrumentedFields,
    combine_evidence,
    label_sample_evidence,
    parse_headers_text,
    read_instrumented_fields,
    read_platform_report,
)
from coldbench.sample import Sample

TRUTH_SOURCES = ("platform", "instrumented", "instance")
TRUTH_COLUMNS = ("instance_id", "invocation_n", "init_ms", "platform_init_ms", "billed_ms")


def _present(value: Any) -> bool:
    if value is None or value is pd.NA:
        return False
    return not (isinstance(value, float) and math.isnan(value))


def _number(value: Any) -> float | None:
    return float(value) if _present(value) else None


def _prior_label(record: dict[str, Any], source: str) -> str | None:
    """A cold/warm label the engine recorded from `source` evidence, if any."""
    if record.get("label_source") == source and record.get("label") in ("cold", "warm"):
        return str(record["label"])
    return None


def resolve_evidence(record: dict[str, Any], seen_instances: set[str]) -> Evidence:
    """Best evidence for one frame row: its headers first, then its evidence columns."""
    headers = parse_headers_text(record.get("headers"))
    report = read_platform_report(headers)
    found = read_instrumented_fields(headers)
    invocation = found.invocation_n
    if invocation is None and _present(record.get("invocation_n")):
        invocation = int(record["invocation_n"])
    instance = found.instance_id
    if instance is None and _present(record.get("instance_id")):
        instance = str(record["instance_id"])
    init_ms = found.init_ms if found.init_ms is not None else _number(record.get("init_ms"))
    fields = InstrumentedFields(instance_id=instance, invocation_n=invocation, init_ms=init_ms)
    evidence = combine_evidence(report, fields, seen_instances)
    if report is None:
        evidence = _evidence_from_columns(evidence, record)
    return evidence


def _evidence_from_columns(evidence: Evidence, record: dict[str, Any]) -> Evidence:
    """Platform evidence recorded online outranks anything else the row carries."""
    platform_init = _number(record.get("platform_init_ms"))
    billed = _number(record.get("billed_ms"))
    prior = _prior_label(record, "platform")
    updates: dict[str, Any] = {"platform_init_ms": platform_init, "billed_ms": billed}
    if evidence.init_ms is None:
        updates["init_ms"] = platform_init
    if platform_init is not None:
        updates.update(label="cold", source="platform", confidence=1.0)
    elif prior is not None:
        updates.update(label=prior, source="platform", confidence=1.0)
    elif evidence.source != "instrumented":
        instrumented = _prior_label(record, "instrumented")
        if instrumented is not None:
            updates.update(label=instrumented, source="instrumented", confidence=1.0)
    return dataclasses.replace(evidence, **updates)


def compute_truth(frame: pd.DataFrame) -> pd.DataFrame:
    """Ground truth per row (label, label_source, evidence columns), aligned to `frame.index`.

    Rows are replayed in send order (started_at, then probe_id) so that "an instance id never
    seen before in this run" means what it says, whatever the frame's row order.
    """
    order = _send_order(frame)
    needed = [c for c in ("headers", "label", "label_source", *TRUTH_COLUMNS) if c in frame]
    values = [frame.loc[order, c].tolist() for c in needed]  # plain lists: far faster than rows
    seen: set[str] = set()
    rows: dict[Any, dict[str, Any]] = {}
    for position, index in enumerate(order):
        record = {name: column[position] for name, column in zip(needed, values, strict=True)}
        evidence = resolve_evidence(record, seen)
        if evidence.instance_id is not None:
            seen.add(evidence.instance_id)
        rows[index] = {
            "label": evidence.label, "label_source": evidence.source,
            "label_confidence": evidence.confidence,
            **{name: getattr(evidence, name) for name in TRUTH_COLUMNS},
        }
    columns = ["label", "label_source", "label_confidence", *TRUTH_COLUMNS]
    return pd.DataFrame.from_dict(rows, orient="index", columns=columns).reindex(frame.index)


def _send_order(frame: pd.DataFrame) -> list[Any]:
    keys = pd.DataFrame(index=frame.index)
    if "started_at" in frame:
        keys["started_at"] = pd.to_datetime(frame["started_at"], utc=True, errors="coerce")
    else:
        keys["started_at"] = pd.NaT
    keys["probe_id"] = pd.to_numeric(frame["probe_id"], errors="coerce") if "probe_id" in frame else 0
    keys = keys.sort_values(["started_at", "probe_id"], kind="stable", na_position="last")
    return list(keys.index)


def annotate_outcome(outcome: Any, target: Any = None) -> Sample:
    """The engine's per-sample annotator: fill ground truth as soon as a probe completes.

    Reads the sample's headers, the parsed JSON body (`outcome.body_json`) and any log tail.
    Platform and instrumented evidence label the sample at once; an instance id is recorded
    but "first sighting" labels are left to the run-end pass, which sees the whole run.
    """
    sample: Sample = outcome.sample
    evidence = label_sample_evidence(sample.headers, getattr(outcome, "body_json", None), None, set())
    updates: dict[str, Any] = {
        name: getattr(evidence, name) for name in TRUTH_COLUMNS if getattr(evidence, name) is not None
    }
    if evidence.source in ("platform", "instrumented"):
        updates.update(label=evidence.label, label_source=evidence.source,
                       label_confidence=evidence.confidence)
    return dataclasses.replace(sample, **updates) if updates else sample
