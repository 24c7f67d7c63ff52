"""Pass/fail thresholds a suite carries (k6 style), checked at the end of `coldbench run`.

In a suite file::

    [thresholds]                    # every target
    "cold.p99" = "< 900ms"
    "warm.p50" = "< 40ms"
    cold_rate = "< 5%"
    error_rate = "<= 0.5%"
    keep_alive = ">= 5min"

    [thresholds.targets.api]        # one target: adds keys, or overrides the same key
    "cold.p99" = "< 1.5s"

or per target inside the target's own table (`[[targets]] ... thresholds = {"cold.p99" = "< 1.5s"}`).
Keys: `LABEL.STAT` with LABEL in cold|warm|all (omitted = all) and STAT pNN (p50, p99, p99.9;
coldbench.stats' order-statistic percentiles, as in the report) or mean; `cold_rate`,
`error_rate`; `keep_alive`. Unquoted dotted keys (`cold.p99 = ...`) arrive as nested tables and
are read the same way. A value is one expression or a list of them.
Expressions: `<`, `<=`, `>`, `>=` then a number: latency in ms unless a unit is given
("900ms", "1.2s"), rates as a percentage ("5%") or a fraction (0.05), keep-alive in s or a unit.

Pure: plain dicts and a sample frame in, results out.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from coldbench.compare import count_cold, count_errors, select_idle_gaps, select_latencies_ms
from coldbench.compare import user_samples as _user_samples
from coldbench.errors import ConfigError
from coldbench.keepalive import compute_keep_alive_estimate
from coldbench.stats import compute_percentile
from coldbench.units import parse_duration_s

_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt,
}
_EXPRESSION_RE = re.compile(r"^\s*(<=|>=|<|>)\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(%|[a-zµ]*)\s*$")
_LATENCY_KEY_RE = re.compile(r"^(?:(cold|warm|all)\.)?(p(?:100|[0-9]{1,2})(?:\.[0-9]+)?|mean)$")
RATE_KEYS = ("cold_rate", "error_rate")
LABEL_GROUPS = ("cold", "warm", "all")
_EXAMPLE = 'e.g. "< 900ms" for latencies, "< 5%" for rates, ">= 10s" for keep_alive'


@dataclass(frozen=True, slots=True)
class Threshold:
    """One parsed threshold: `observed OP limit`, the limit in the metric's unit."""

    key: str  # normalised: "cold.p99", "all.p90", "cold_rate", "error_rate", "keep_alive"
    op: str
    limit: float
    unit: str  # "ms" | "fraction" | "s"
    expression: str  # as written in the suite

    def holds(self, observed: float) -> bool:
        """Whether `observed` satisfies the threshold."""
        return _OPERATORS[self.op](observed, self.limit)


@dataclass(frozen=True, slots=True)
class ThresholdResult:
    """A threshold checked against one target's samples."""

    target: str
    key: str
    expression: str
    observed: float | None
    unit: str
    n: int  # samples the observed value rests on
    status: str  # "pass" | "fail" | "no-data"
    note: str = ""

    @property
    def passed(self) -> bool:
        """True only for "pass" (no data is not a pass: the gate cannot vouch for it)."""
        return self.status == "pass"


def normalise_key(key: str, where: str) -> tuple[str, str]:
    """Return (canonical key, unit) for a threshold key, or raise ConfigError naming `where`."""
    if key in RATE_KEYS:
        return key, "fraction"
    if key == "keep_alive":
        return key, "s"
    match = _LATENCY_KEY_RE.match(key)
    if not match:
        raise ConfigError(f"{where}: unknown threshold key {key!r}; use cold.p99, warm.p50, "
                          "all.p90, p95, cold.mean, cold_rate, error_rate or keep_alive")
    return f"{match.group(1) or 'all'}.{match.group(2)}", "ms"


def parse_threshold(key: str, expression: object, where: str = "thresholds") -> Threshold:
    """Parse one `key = "< 900ms"` entry; ConfigError names `where.key` when it is wrong."""
    name = f"{where}.{key}"
    canonical, unit = normalise_key(key, name)
    if isinstance(expression, bool) or not isinstance(expression, str):
        raise ConfigError(f"{name}: expected a string such as \"< 900ms\", got {expression!r}")
    match = _EXPRESSION_RE.match(expression)
    if not match:
        raise ConfigError(f"{name}: cannot read {expression!r}; {_EXAMPLE}")
    op, number, suffix = match.groups()
    limit = _limit_in_unit(float(number), suffix, unit, name, expression)
    return Threshold(canonical, op, limit, unit, expression.strip())


def _limit_in_unit(number: float, suffix: str, unit: str, name: str, expression: str) -> float:
    """Convert the number of an expression into the metric's unit (ms, fraction or s)."""
    if unit == "fraction":
        if suffix == "%":
            return number / 100.0
        if suffix or number > 1.0:
            raise ConfigError(f"{name}: {expression!r} is not a rate; write a percentage "
                              "(\"< 5%\") or a fraction (\"< 0.05\")")
        return number
    if suffix == "%":
        raise ConfigError(f"{name}: {expression!r}: a percentage only fits cold_rate/error_rate")
    if not suffix:
        return number
    seconds = parse_duration_s(f"{number}{suffix}", name)
    return seconds * 1000.0 if unit == "ms" else seconds


def parse_thresholds(table: Mapping[str, Any], where: str = "thresholds") -> list[Threshold]:
    """Parse a flat or nested thresholds table (a value may be a list of expressions)."""
    out = []
    for key, value in flatten_keys(table).items():
        for expression in value if isinstance(value, list) else [value]:
            out.append(parse_threshold(key, expression, where))
    return out


def flatten_keys(table: Mapping[str, Any]) -> dict[str, Any]:
    """Join TOML dotted keys that arrived as nested tables: {"cold": {"p99": x}} -> "cold.p99"."""
    flat: dict[str, Any] = {}
    for key, value in table.items():
        if isinstance(value, Mapping):
            for inner, leaf in flatten_keys(value).items():
                flat[f"{key}.{inner}"] = leaf
        else:
            flat[str(key)] = value
    return flat


def split_suite_thresholds(suite: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, dict]]:
    """Read a suite snapshot's thresholds: (for every target, {target: its own}); every target
    the suite names appears in the second, with {} when it has no thresholds of its own."""
    table = dict(suite.get("thresholds") or {})
    per_target: dict[str, dict] = {
        str(name): dict(own) for name, own in (table.pop("targets", None) or {}).items()
    }
    for target in suite.get("targets") or []:
        if isinstance(target, Mapping) and target.get("name") is not None:
            # Every suite target is listed, so one that measured nothing fails as "no data".
            own = per_target.setdefault(str(target["name"]), {})
            own.update(target.get("thresholds") or {})
    return table, per_target


def validate_suite_thresholds(suite: Mapping[str, Any]) -> None:
    """Parse every threshold of a suite, raising ConfigError on the first bad one."""
    common, per_target = split_suite_thresholds(suite)
    parse_thresholds(common)
    for target, table in per_target.items():
        parse_thresholds(table, f"thresholds.targets.{target}")


def compute_metric(samples: pd.DataFrame, key: str) -> tuple[float | None, int, str]:
    """(value, sample count, note) of a canonical metric key over one target's user samples."""
    if key in RATE_KEYS:
        hits, total = count_cold(samples) if key == "cold_rate" else count_errors(samples)
        return (hits / total if total else None), total, ""
    if key == "keep_alive":
        estimate = compute_keep_alive_estimate(*select_idle_gaps(samples))
        value = estimate.keep_alive_s
        return (float(value) if np.isfinite(value) else None), estimate.n, estimate.note
    label, stat = key.split(".", 1)
    values = select_latencies_ms(samples, label)
    if values.size == 0:
        return None, 0, f"no {label} samples" if label != "all" else "no samples"
    if stat == "mean":
        return float(values.mean()), int(values.size), ""
    q = float(stat[1:])
    note = f"{stat} from {values.size} samples" if values.size * (100 - q) / 100 < 1 else ""
    return compute_percentile(values, q / 100).value, int(values.size), note


def evaluate_thresholds(frame: pd.DataFrame, thresholds: Mapping[str, Any],
                        per_target: Mapping[str, Mapping[str, Any]] | None = None
                        ) -> list[ThresholdResult]:
    """Check thresholds for every target of `frame` (user-phase samples) and every target named
    in `per_target`; a target's own thresholds override the common ones key by key."""
    per_target = per_target or {}
    common = parse_thresholds(thresholds)
    users = _user_samples(frame)
    results = []
    for target in sorted(set(users["target"]) | set(per_target)):
        own = parse_thresholds(per_target.get(target, {}), f"thresholds.targets.{target}")
        overridden = {t.key for t in own}
        samples = users[users["target"] == target]
        for threshold in [t for t in common if t.key not in overridden] + own:
            results.append(check_threshold(target, samples, threshold))
    return results


def check_threshold(target: str, samples: pd.DataFrame, threshold: Threshold) -> ThresholdResult:
    """Evaluate one threshold on one target's samples."""
    observed, n, note = compute_metric(samples, threshold.key)
    if observed is None:
        status = "no-data"
    else:
        status = "pass" if threshold.holds(observed) else "fail"
    return ThresholdResult(target, threshold.key, threshold.expression, observed, threshold.unit,
                           n, status, note)


def check_run_thresholds(frame: pd.DataFrame, suite: Mapping[str, Any]) -> list[ThresholdResult]:
    """What `coldbench run` calls at the end: the suite snapshot's thresholds on the run."""
    common, per_target = split_suite_thresholds(suite)
    return evaluate_thresholds(frame, common, per_target)


def thresholds_exit_status(results: list[ThresholdResult]) -> int:
    """1 when any threshold failed or had no data, else 0."""
    return 0 if all(r.passed for r in results) else 1


def format_observed(value: float | None, unit: str) -> str:
    """A metric value for humans: "812.4ms", "3.2%", "9.8s", or "-"."""
    if value is None:
        return "-"
    if unit == "fraction":
        return f"{value * 100:.3g}%"
    return f"{value:.1f}ms" if unit == "ms" else f"{value:.3g}s"


def format_threshold_results(results: list[ThresholdResult], failed_only: bool = False) -> str:
    """Lines like `FAIL api cold.p99 = 1012.3ms (n=40), needs < 900ms`."""
    lines = []
    for r in results:
        if failed_only and r.passed:
            continue
        mark = {"pass": "ok  ", "fail": "FAIL", "no-data": "FAIL"}[r.status]
        shown = "no data" if r.status == "no-data" else format_observed(r.observed, r.unit)
        note = f"; {r.note}" if r.note else ""
        lines.append(f"{mark} {r.target} {r.key} = {shown} (n={r.n}), needs {r.expression}{note}")
    return "\n".join(lines)
