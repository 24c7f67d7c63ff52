"""Analysis layer: tidy frames from runs, and summary tables over the pure statistics.

Pandas lives here; the numbers come from `coldbench.stats` and `coldbench.keepalive`.
Only `phase == "user"` samples count (warming and forcing probes are the tool's own traffic).
Failed samples (`error` set) are counted in every summary and excluded from latency figures.
A *series* is what a chart line or table row is about: the target name for one run, or
"run/target" when several runs are analysed together.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from coldbench.keepalive import KeepAliveEstimate, compute_keep_alive_estimate
from coldbench.stats import (
    DEFAULT_CONFIDENCE,
    PERCENTILES,
    compute_cold_penalty,
    compute_grouped_percentiles,
    compute_percentile,
    compute_quantile_contrast,
    compute_wilson_interval,
)

SUMMARY_KEYS = ("series", "label", "scenario")
LABEL_ORDER = ("cold", "warm", "unknown")


@dataclass
class RunData:
    """One run's samples and manifest, with the short name used in series labels."""

    name: str
    frame: pd.DataFrame
    manifest: dict[str, Any]
    path: Path | None = None
    targets: list[dict[str, Any]] = field(default_factory=list)


def load_runs(paths: Iterable[Path | str]) -> list[RunData]:
    """Load run directories (samples + manifest) into RunData with unique names."""
    from coldbench.store import load_manifest, load_run

    runs, seen = [], set()
    for raw in paths:
        path = Path(raw)
        manifest = load_manifest(path)
        name = str(manifest.get("run_id") or path.resolve().name)
        while name in seen:
            name += "'"
        seen.add(name)
        runs.append(RunData(name, load_run(path), manifest, path, build_target_list(manifest)))
    return runs


def build_target_list(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """Targets from the manifest's suite snapshot: dicts with name, kind and labels."""
    suite = manifest.get("suite") or {}
    targets = suite.get("targets") if isinstance(suite, dict) else None
    out = []
    for item in targets or []:
        if isinstance(item, dict) and item.get("name"):
            labels = item.get("labels") if isinstance(item.get("labels"), dict) else {}
            out.append({"name": str(item["name"]), "kind": item.get("kind"), "labels": labels})
    return out


def build_series_name(run: str, target: str, several_runs: bool) -> str:
    """Series label: the target, or "run/target" when several runs are shown together."""
    if not several_runs or run == target:
        return target
    return f"{run}/{target}"


def build_tidy_frame(runs: Sequence[RunData]) -> pd.DataFrame:
    """One frame for all runs: every sample column plus run, series, ok, is_cold, ok_latency_ms."""
    parts = []
    for run in runs:
        part = run.frame.copy()
        part.insert(0, "run", run.name)
        kinds = {t["name"]: t["kind"] for t in run.targets if t.get("kind")}
        if kinds:
            part["kind"] = part["target"].map(kinds).fillna(part["kind"])
        parts.append(part)
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["run"])
    multi = len(runs) > 1
    run_names, targets = frame["run"].astype(str), frame["target"].astype(str)
    qualified = run_names.where(run_names.eq(targets), run_names + "/" + targets)
    frame["series"] = qualified if multi else targets
    frame["ok"] = frame["error"].isna()
    frame["is_cold"] = frame["label"].eq("cold")
    frame["ok_latency_ms"] = frame["latency_ms"].where(frame["ok"])
    return frame


def ensure_tidy_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Return `frame` with the tidy columns (series, ok, is_cold, ok_latency_ms) added if absent.

    Lets charts and summaries take a plain `load_run` frame as well as a `build_tidy_frame` one.
    """
    if {"series", "ok", "is_cold", "ok_latency_ms"} <= set(frame.columns):
        return frame
    frame = frame.copy()
    if "series" not in frame.columns:
        frame["series"] = frame["target"].astype(str)
    frame["ok"] = frame["error"].isna()
    frame["is_cold"] = frame["label"].eq("cold")
    frame["ok_latency_ms"] = frame["latency_ms"].where(frame["ok"])
    return frame


def select_user_samples(frame: pd.DataFrame) -> pd.DataFrame:
    """Samples that count in summaries (phase == "user")."""
    if "phase" not in frame.columns:
        return frame
    return frame[frame["phase"].eq("user") | frame["phase"].isna()]


def summarise_latency(
    frame: pd.DataFrame,
    by: Sequence[str] = SUMMARY_KEYS,
    confidence: float = DEFAULT_CONFIDENCE,
) -> pd.DataFrame:
    """Latency percentiles with intervals per group, one row per group.

    Columns: the `by` keys; n (all user samples), n_ok, n_errors, error_rate; for each of
    p50, p90, p95, p99, p99_9: `<p>_ms`, `<p>_low_ms`, `<p>_high_ms`, `<p>_supported`;
    and max_ms. Rows sort by the keys. Add "planned_gap_s" to `by` for a per-gap table.
    """
    users = select_user_samples(frame)
    codes, keys = build_group_codes(users, by)
    keys["n"] = np.bincount(codes, minlength=len(keys)).astype(np.int64)
    errors = users["error"].notna().to_numpy()
    latency = users["latency_ms"].to_numpy(dtype=np.float64, na_value=np.nan).copy()
    latency[errors] = np.nan
    qs = tuple(q for _k, q, _d in PERCENTILES)
    stats = compute_grouped_percentiles(latency, codes, len(keys), qs, confidence)
    keys["n_errors"] = np.bincount(codes, weights=errors, minlength=len(keys)).astype(np.int64)
    keys["n_ok"] = stats["n"].astype(np.int64)
    keys["error_rate"] = keys["n_errors"] / keys["n"]
    for i, (key, q, _display) in enumerate(PERCENTILES):
        keys[f"{key}_ms"] = stats[f"value_{i}"]
        if q < 1.0:
            keys[f"{key}_low_ms"] = stats[f"low_{i}"]
            keys[f"{key}_high_ms"] = stats[f"high_{i}"]
            keys[f"{key}_supported"] = stats[f"supported_{i}"].astype(bool)
    return keys


def build_group_codes(frame: pd.DataFrame, by: Sequence[str]) -> tuple[np.ndarray, pd.DataFrame]:
    """Dense group code per row and the sorted key table (missing keys form their own group).

    Faster than `groupby().ngroup()` on large frames: one factorize per key column and a
    mixed-radix combination, with no sort of the rows.
    """
    factors = [pd.factorize(frame[column], sort=True, use_na_sentinel=False) for column in by]
    sizes = [max(len(uniques), 1) for _codes, uniques in factors]
    flat = np.zeros(len(frame), dtype=np.int64)
    for (codes, _uniques), size in zip(factors, sizes, strict=True):
        flat = flat * size + codes
    total = int(np.prod(sizes))
    if total <= 50_000_000:  # a presence table beats sorting ten million codes
        present = np.flatnonzero(np.bincount(flat, minlength=total))
        lookup = np.zeros(total, dtype=np.int64)
        lookup[present] = np.arange(present.size)
        dense = lookup[flat]
    else:
        present, dense = np.unique(flat, return_inverse=True)
    parts = np.unravel_index(present, sizes) if len(present) else [present for _ in by]
    keys = pd.DataFrame({column: np.asarray(uniques, dtype=object)[part] if len(uniques) else []
                         for column, (_c, uniques), part in zip(by, factors, parts, strict=True)})
    for column in by:  # keep the key columns' dtypes (numbers stay numbers)
        keys[column] = keys[column].astype(frame[column].dtype)
    return dense.astype(np.int64), keys


def select_gap_probes(frame: pd.DataFrame) -> pd.DataFrame:
    """User samples with a measured idle gap, a cold/warm label and no error."""
    users = select_user_samples(frame)
    mask = users["gap_s"].notna() & users["label"].isin(("cold", "warm")) & users["error"].isna()
    return users[mask]


def summarise_keep_alive(
    frame: pd.DataFrame, confidence: float = DEFAULT_CONFIDENCE
) -> tuple[pd.DataFrame, dict[str, KeepAliveEstimate]]:
    """Keep-alive estimate per series from idle-gap probes; returns (table, estimates)."""
    probes = select_gap_probes(frame)
    rows, estimates = [], {}
    for series, group in probes.groupby("series", sort=True):
        estimate = compute_keep_alive_estimate(
            group["gap_s"].to_numpy(), group["is_cold"].to_numpy(), confidence
        )
        estimates[str(series)] = estimate
        row: dict[str, Any] = {"series": series, "n": estimate.n, "n_cold": estimate.n_cold}
        for crossing in estimate.crossings:
            tag = f"p{round(crossing.level * 100):02d}"
            row[f"{tag}_gap_s"] = crossing.gap_s
            row[f"{tag}_low_s"] = crossing.low_s
            row[f"{tag}_high_s"] = crossing.high_s
            row[f"{tag}_extrapolated"] = crossing.extrapolated
        row["min_gap_s"], row["max_gap_s"] = estimate.min_gap_s, estimate.max_gap_s
        row["note"] = estimate.note
        rows.append(row)
    return pd.DataFrame(rows), estimates


def summarise_cold_rate(
    frame: pd.DataFrame, by: Sequence[str] = ("series", "scenario"),
    confidence: float = DEFAULT_CONFIDENCE,
) -> pd.DataFrame:
    """Share of cold starts among labelled, successful user samples, with Wilson intervals."""
    users = select_user_samples(frame)
    users = users[users["error"].isna()]
    table = users.groupby(list(by), sort=True, dropna=False).agg(
        n=("label", "size"),
        n_labelled=("label", lambda s: int(s.isin(("cold", "warm")).sum())),
        n_cold=("is_cold", "sum"),
    ).reset_index()
    p, low, high = compute_wilson_interval(table["n_cold"], table["n_labelled"], confidence)
    table["p_cold"], table["p_cold_low"], table["p_cold_high"] = p, low, high
    return table


def summarise_cold_penalty(
    frame: pd.DataFrame, confidence: float = DEFAULT_CONFIDENCE
) -> pd.DataFrame:
    """Cold minus warm latency at p50 and p99 per series, with bootstrap intervals."""
    users = select_user_samples(frame)
    users = users[users["error"].isna()]
    rows = []
    for series, group in users.groupby("series", sort=True):
        cold = group.loc[group["label"].eq("cold"), "latency_ms"].to_numpy(dtype=np.float64)
        warm = group.loc[group["label"].eq("warm"), "latency_ms"].to_numpy(dtype=np.float64)
        if cold.size == 0 or warm.size == 0:
            continue
        row: dict[str, Any] = {"series": series, "n_cold": cold.size, "n_warm": warm.size}
        for contrast in compute_cold_penalty(cold, warm, confidence=confidence):
            tag = "p50" if contrast.q == 0.5 else "p99"
            row[f"{tag}_penalty_ms"] = contrast.value
            row[f"{tag}_low_ms"], row[f"{tag}_high_ms"] = contrast.low, contrast.high
            row[f"{tag}_supported"] = contrast.supported
        rows.append(row)
    return pd.DataFrame(rows)


def build_serverless_container_pairs(runs: Sequence[RunData]) -> pd.DataFrame:
    """Serverless/container target pairs sharing a target label (e.g. app = "hello").

    Columns: run, pair (e.g. 'app=hello'), serverless, container (target names) and the
    matching series names serverless_series / container_series.
    """
    rows = []
    multi = len(runs) > 1
    for run in runs:
        by_kind: dict[str, list[dict[str, Any]]] = {"serverless": [], "container": []}
        for target in run.targets:
            by_kind.setdefault(str(target.get("kind") or "serverless"), []).append(target)
        for sls in by_kind["serverless"]:
            for ctr in by_kind["container"]:
                shared = sorted(set(_label_items(sls)) & set(_label_items(ctr)))
                if not shared:
                    continue
                rows.append({
                    "run": run.name, "pair": ", ".join(f"{k}={v}" for k, v in shared),
                    "serverless": sls["name"], "container": ctr["name"],
                    "serverless_series": build_series_name(run.name, sls["name"], multi),
                    "container_series": build_series_name(run.name, ctr["name"], multi),
                })
    return pd.DataFrame(rows, columns=["run", "pair", "serverless", "container",
                                       "serverless_series", "container_series"])


def build_pairs_from_kinds(frame: pd.DataFrame) -> pd.DataFrame:
    """Pair every serverless series with every container series (when no labels say more)."""
    kinds = frame.groupby("series")["kind"].first() if "kind" in frame.columns else pd.Series()
    rows = [
        {"run": "", "pair": "by kind", "serverless": sls, "container": ctr,
         "serverless_series": sls, "container_series": ctr}
        for sls in sorted(kinds[kinds.eq("serverless")].index)
        for ctr in sorted(kinds[kinds.eq("container")].index)
    ]
    return pd.DataFrame(rows, columns=["run", "pair", "serverless", "container",
                                       "serverless_series", "container_series"])


def _label_items(target: dict[str, Any]) -> list[tuple[str, str]]:
    return [(str(k), str(v)) for k, v in (target.get("labels") or {}).items()]


def summarise_serverless_vs_container(
    frame: pd.DataFrame, pairs: pd.DataFrame, confidence: float = DEFAULT_CONFIDENCE
) -> pd.DataFrame:
    """p50/p99 of serverless cold, serverless warm and container latency, with ratios.

    One row per pair and statistic. Container latency is every successful container sample
    not labelled cold (an always-on container has no cold starts to separate). Ratios are
    serverless / container with seeded bootstrap intervals.
    """
    users = select_user_samples(frame)
    users = users[users["error"].isna()]
    rows = []
    for pair in pairs.itertuples(index=False):
        sls = users[users["series"].eq(pair.serverless_series)]
        ctr = users[users["series"].eq(pair.container_series)]
        samples = {
            "serverless_cold": sls.loc[sls["label"].eq("cold"), "latency_ms"].to_numpy(float),
            "serverless_warm": sls.loc[sls["label"].eq("warm"), "latency_ms"].to_numpy(float),
            "container": ctr.loc[~ctr["label"].eq("cold"), "latency_ms"].to_numpy(float),
        }
        for q, stat in ((0.5, "p50"), (0.99, "p99")):
            row: dict[str, Any] = {"pair": pair.pair, "serverless": pair.serverless_series,
                                   "container": pair.container_series, "stat": stat}
            for name, values in samples.items():
                est = compute_percentile(values, q, confidence)
                row[f"{name}_ms"], row[f"{name}_low_ms"] = est.value, est.low
                row[f"{name}_high_ms"], row[f"n_{name}"] = est.high, est.n
                row[f"{name}_supported"] = est.supported
            for name in ("cold", "warm"):
                ratio = compute_quantile_contrast(samples[f"serverless_{name}"],
                                                  samples["container"], q, ratio=True,
                                                  confidence=confidence)
                row[f"{name}_ratio"], row[f"{name}_ratio_low"] = ratio.value, ratio.low
                row[f"{name}_ratio_high"] = ratio.high
            rows.append(row)
    return pd.DataFrame(rows)
