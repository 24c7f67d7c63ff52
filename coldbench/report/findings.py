"""Warnings a report must show: undersized samples, failures, unlabelled samples, odd runs.

Returned as data (kind, subject, message, hint), like hyperfine's warnings; the renderers
decide how they look.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from coldbench.analysis import RunData, select_user_samples
from coldbench.stats import PERCENTILES, compute_min_supported_n


@dataclass(frozen=True, slots=True)
class ReportWarning:
    """One thing a reader must know before trusting a figure."""

    kind: str  # status | undersized | errors | unlabelled | keep_alive | environment | external
    subject: str
    message: str
    hint: str = ""


def build_warnings(
    runs: Sequence[RunData], frame: pd.DataFrame, summary: pd.DataFrame,
    keep_alive: pd.DataFrame,
) -> list[ReportWarning]:
    """All warnings for a report, most serious first."""
    return [
        *_status_warnings(runs),
        *_environment_warnings(runs),
        *_error_warnings(frame),
        *_unlabelled_warnings(frame),
        *_undersized_warnings(summary),
        *_keep_alive_warnings(keep_alive),
    ]


def _status_warnings(runs: Sequence[RunData]) -> list[ReportWarning]:
    out = []
    for run in runs:
        status = run.manifest.get("status")
        if run.manifest.get("external"):
            out.append(ReportWarning("external", run.name,
                                     f"published data from {run.manifest.get('source')}: not "
                                     "measured by coldbench; its methods may differ"))
        elif status != "complete":
            out.append(ReportWarning("status", run.name, f"run status is {status!r}: figures "
                                     "cover only the samples taken", "re-run or resume it"))
    return out


def _environment_warnings(runs: Sequence[RunData]) -> list[ReportWarning]:
    measured = [r for r in runs if not r.manifest.get("external")]
    out = []
    for key in ("coldbench", "python", "host", "platform"):
        values = {str((r.manifest.get("environment") or {}).get(key)) for r in measured}
        if len(values) > 1:
            out.append(ReportWarning("environment", key, f"runs differ in {key}: "
                                     + ", ".join(sorted(values)),
                                     "differences may come from the environment"))
    return out


def _error_warnings(frame: pd.DataFrame) -> list[ReportWarning]:
    users = select_user_samples(frame)
    out = []
    for series, group in users.groupby("series", sort=True):
        failed = group[group["error"].notna()]
        if failed.empty:
            continue
        kinds = ", ".join(f"{kind} ×{count}" for kind, count
                          in failed["error"].value_counts().sort_index().items())
        out.append(ReportWarning("errors", str(series), f"{len(failed)} of {len(group)} samples "
                                 f"failed ({kinds}); excluded from latency percentiles",
                                 "see the error_detail column in samples.parquet"))
    return out


def _unlabelled_warnings(frame: pd.DataFrame) -> list[ReportWarning]:
    users = select_user_samples(frame)
    users = users[users["error"].isna()]
    out = []
    for series, group in users.groupby("series", sort=True):
        unknown = int(group["label"].eq("unknown").sum())
        if unknown:
            out.append(ReportWarning("unlabelled", str(series), f"{unknown} of {len(group)} "
                                     "successful samples have no cold/warm label",
                                     "instrument the function (X-Coldbench-Invocation header)"))
    return out


def _undersized_warnings(summary: pd.DataFrame) -> list[ReportWarning]:
    out = []
    for record in summary.to_dict("records"):
        missing = [(display, q) for key, q, display in PERCENTILES
                   if q < 1 and not record[f"{key}_supported"]]
        if not missing or record["n_ok"] == 0:
            continue
        subject = " · ".join(str(record[k]) for k in ("series", "label", "scenario")
                             if k in record)
        first, q = missing[0]
        names = ", ".join(d for d, _q in missing)
        out.append(ReportWarning(
            "undersized", subject,
            f"{names} from {record['n_ok']} samples cannot be bounded at 95%; "
            f"{first} needs at least {compute_min_supported_n(q)}",
            "add repetitions to this scenario",
        ))
    return out


def _keep_alive_warnings(table: pd.DataFrame) -> list[ReportWarning]:
    out = []
    for record in table.to_dict("records") if not table.empty else []:
        if record.get("note"):
            out.append(ReportWarning("keep_alive", str(record["series"]), str(record["note"])))
        elif record["p50_extrapolated"]:
            out.append(ReportWarning("keep_alive", str(record["series"]),
                                     "keep-alive estimate lies outside the measured gaps",
                                     "add idle gaps around the estimate"))
        elif record["p50_high_s"] == float("inf") or record["p50_low_s"] == 0:
            out.append(ReportWarning("keep_alive", str(record["series"]),
                                     "the keep-alive interval is open-ended",
                                     "add longer (or shorter) idle gaps"))
    return out


def describe_run(run: RunData) -> dict[str, Any]:
    """Manifest facts for the report's run section (plain values)."""
    env = run.manifest.get("environment") or {}
    libraries = env.get("libraries") or {}
    return {
        "run": run.name,
        "suite": run.manifest.get("suite_name"),
        "status": run.manifest.get("status"),
        "started": run.manifest.get("started_at"),
        "ended": run.manifest.get("ended_at"),
        "samples": len(run.frame),
        "schema": run.manifest.get("schema_version"),
        "coldbench": env.get("coldbench"),
        "python": " ".join(str(v) for v in (env.get("implementation"), env.get("python")) if v),
        "host": env.get("host"),
        "platform": env.get("platform"),
        "cpus": env.get("cpu_count"),
        "libraries": ", ".join(f"{k} {v}" for k, v in sorted(libraries.items()) if v),
        "source": run.manifest.get("source") if run.manifest.get("external") else None,
    }
