"""The suite's `[warmer]` and `[pricing]` tables: schema, validation, typed config.

    [warmer]
    target = "hello"                       # the suite target to warm (default: the first)
    warmup = "5s"                          # strategies act this long before user traffic
    strategies = [                         # or [[warmer.strategies]] tables
      { type = "none" },
      { name = "ping", type = "ping", interval = "4s", fan_out = 1, hold = "0ms" },
      { type = "provisioned", count = 1 },                     # or schedule = [{start, end, count}]
      { type = "predictive", keep_alive = "5s", low = 5, high = 99 },
    ]
    [warmer.workload]                      # poisson | bursty | trace
    type = "poisson"
    rate = 0.2                             # requests per second
    duration = "150s"
    deploys = ["90s"]                      # optional: every instance recycled at these times
    [warmer.simulate]
    curve = "calibrate"                    # "calibrate" | "none" | {keep_alive = "5s"}
                                           # | {published = "file.json"} | {run = "runs/dir"}
    calibration_gaps = ["2s", "4s", "5s", "6s", "8s"]
    prior = {keep_alive = "5s"}            # the curve of --simulate when `curve` is measured
    model = "isotonic"                     # measured probes -> curve: isotonic | logistic
    replicates = 200

Outside the sandbox every strategy also names its own deployed copy of the function: `url`
(its HTTP endpoint), `function` and `qualifier` (alias or version, for provisioned concurrency
and deploys on AWS; default: the target's `qualifier`, else "live"). Times (provisioning
schedules, ping starts, deploys) are on the experiment clock: 0 is when the strategies start
acting; user requests follow the workload from `warmup` on.

Errors are ConfigErrors naming the file and the key (`warmer.strategies[1].interval: ...`).
Pure: paths are resolved, not read.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coldbench.suite import Suite
from coldbench.tomlcheck import TomlChecker, did_you_mean
from coldbench.warmer.cost import Pricing
from coldbench.warmer.strategies import (
    STRATEGY_TYPES,
    NoWarming,
    PingWarming,
    PredictiveWarming,
    ProvisionedWarming,
    ProvisionWindow,
    Strategy,
)
from coldbench.warmer.traces import TRACE_FORMATS
from coldbench.warmer.workloads import WORKLOAD_TYPES, WorkloadSpec

NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
CURVE_KINDS = ("calibrate", "none", "keep_alive", "published", "run")
_WARMER_KEYS = ("target", "warmup", "strategies", "workload", "simulate")
_COMMON = ("name", "type", "url", "function", "qualifier")
_STRATEGY_KEYS = {
    "none": (),
    "ping": ("interval", "fan_out", "hold", "start"),
    "provisioned": ("count", "schedule"),
    "predictive": ("keep_alive", "low", "high", "margin", "refresh", "min_samples", "window",
                   "max_keep", "lead", "hold"),
}
_WORKLOAD_KEYS = {
    "poisson": ("rate", "duration"),
    "bursty": ("rate", "duration", "on", "off", "off_rate"),
    "trace": ("path", "format", "function", "compression", "start", "span", "duration"),
}
_SIMULATE_KEYS = ("curve", "prior", "model", "calibration_gaps", "replicates", "warm_ms",
                  "init_ms", "ping_ms", "ready_delay")
CURVE_MODELS = ("isotonic", "logistic")
_PRICING_KEYS = ("request_usd_per_million", "gb_second_usd", "provisioned_gb_second_usd",
                 "provisioned_duration_gb_second_usd", "container_usd_per_hour", "memory_mb",
                 "bill_init", "billing_granularity_ms", "source")


@dataclass(frozen=True, slots=True)
class LaneSpec:
    """One strategy and, for targets outside the sandbox, the function copy it warms."""

    strategy: Strategy
    url: str | None = None
    function: str | None = None
    qualifier: str | None = None


@dataclass(frozen=True, slots=True)
class CurveSpec:
    """Where the simulator's P(cold | idle gap) comes from."""

    kind: str
    keep_alive_s: float = math.nan
    path: Path | None = None
    gaps_s: tuple[float, ...] = ()


@dataclass(frozen=True, slots=True)
class SimulateSpec:
    """The `[warmer.simulate]` table."""

    curve: CurveSpec | None = None
    prior: CurveSpec | None = None  # what --simulate uses when `curve` needs a live run
    model: str = "isotonic"  # how measured idle-gap probes become a curve
    replicates: int = 200
    warm_ms: float = 5.0
    init_ms: float = 250.0
    ping_ms: float = 1.0
    ready_delay_s: float = 0.0


@dataclass(frozen=True, slots=True)
class WarmerConfig:
    """A validated `[warmer]` experiment with its pricing."""

    source: str
    target: str
    lanes: tuple[LaneSpec, ...]
    workload: WorkloadSpec
    simulate: SimulateSpec
    pricing: Pricing
    warmup_s: float = 0.0

    @property
    def strategies(self) -> tuple[Strategy, ...]:
        """The strategies in suite order."""
        return tuple(lane.strategy for lane in self.lanes)


class _Check(TomlChecker):
    """Typed reads of the warmer tables' raw TOML values (stricter strings, bounded numbers)."""

    def keys(self, table: Any, allowed: tuple[str, ...], where: str) -> dict[str, Any]:
        if not isinstance(table, dict):
            raise self.fail(where, f"expected a table, got {type(table).__name__}")
        self.check_keys(table, allowed, where)
        return table

    def duration(self, value: Any, key: str, positive: bool = False) -> float:
        seconds = super().duration(value, key)
        if positive and seconds <= 0:
            raise self.fail(key, "must be > 0")
        return seconds

    def number(self, value: Any, key: str, low: float = 0.0, high: float = math.inf,
               positive: bool = False) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(key, f"expected a number, got {value!r}")
        if value < low or value > high or (positive and value <= 0):
            bound = f"> {low:g}" if positive else f"between {low:g} and {high:g}" if high < math.inf else f">= {low:g}"
            raise self.fail(key, f"must be {bound}, got {value}")
        return float(value)

    def integer(self, value: Any, key: str, low: int = 1) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise self.fail(key, f"expected an integer >= {low}, got {value!r}")
        return value

    def string(self, value: Any, key: str) -> str:
        if not isinstance(value, str) or not value:
            raise self.fail(key, f"expected a non-empty string, got {value!r}")
        return value


def build_warmer_config(suite: Suite) -> WarmerConfig:
    """Validate the suite's `[warmer]` and `[pricing]` tables (ConfigError naming the key)."""
    check = _Check(suite.path)
    if "warmer" not in suite.tables:
        raise check.fail("warmer", "missing; `coldbench warm` needs a [warmer] table "
                         "(see targets/warm-local.toml)")
    raw = check.keys(suite.tables["warmer"], _WARMER_KEYS, "warmer")
    names = [t.name for t in suite.targets]
    target = check.string(raw.get("target", names[0]), "warmer.target")
    if target not in names:
        hint = did_you_mean(target, names, otherwise=f"; targets: {', '.join(names)}")
        raise check.fail("warmer.target", f"no target named {target!r}{hint}")
    strategies = raw.get("strategies")
    if not isinstance(strategies, list) or not strategies:
        raise check.fail("warmer.strategies", 'missing or empty; e.g. strategies = [{type = "none"}, '
                         '{type = "ping", interval = "4s"}]')
    lanes = tuple(_build_lane(check, item, i) for i, item in enumerate(strategies))
    seen: set[str] = set()
    for i, lane in enumerate(lanes):
        if lane.strategy.name in seen:
            raise check.fail(f"warmer.strategies[{i}].name",
                             f"duplicate strategy name {lane.strategy.name!r}; give each a name")
        seen.add(lane.strategy.name)
    if "workload" not in raw:
        raise check.fail("warmer.workload", 'missing; e.g. [warmer.workload] type = "poisson", '
                         'rate = 0.2, duration = "150s"')
    workload = _build_workload(check, raw["workload"], Path(suite.path).resolve().parent)
    simulate = _build_simulate(check, raw.get("simulate", {}), Path(suite.path).resolve().parent)
    pricing = build_pricing(suite.tables.get("pricing", {}), suite.path)
    warmup = check.duration(raw.get("warmup", 0), "warmer.warmup")
    return WarmerConfig(suite.path, target, lanes, workload, simulate, pricing, warmup)


def _build_lane(check: _Check, raw: Any, index: int) -> LaneSpec:
    where = f"warmer.strategies[{index}]"
    if not isinstance(raw, dict):
        raise check.fail(where, f"expected a table such as {{type = \"none\"}}, got {raw!r}")
    if "type" not in raw:
        raise check.fail(f"{where}.type", f"missing; one of {', '.join(STRATEGY_TYPES)}")
    kind = check.choice(raw["type"], f"{where}.type", STRATEGY_TYPES)
    check.keys(raw, _COMMON + _STRATEGY_KEYS[kind], where)
    name = check.string(raw.get("name", kind), f"{where}.name")
    if not NAME_RE.match(name):
        raise check.fail(f"{where}.name", f"{name!r}: use letters, digits, - and _ (at most 40)")
    optional = {k: check.string(raw[k], f"{where}.{k}") for k in ("url", "function", "qualifier")
                if k in raw}
    return LaneSpec(_build_strategy(check, kind, name, raw, where), **optional)


def _build_strategy(check: _Check, kind: str, name: str, raw: dict[str, Any], where: str) -> Strategy:
    if kind == "none":
        return NoWarming(name)
    if kind == "ping":
        if "interval" not in raw:
            raise check.fail(f"{where}.interval", 'missing; e.g. interval = "4s" (below the keep-alive)')
        return PingWarming(name, check.duration(raw["interval"], f"{where}.interval", positive=True),
                           check.integer(raw.get("fan_out", 1), f"{where}.fan_out"),
                           check.duration(raw.get("hold", 0), f"{where}.hold") * 1000.0,
                           check.duration(raw.get("start", 0), f"{where}.start"))
    if kind == "provisioned":
        return _build_provisioned(check, name, raw, where)
    if "keep_alive" not in raw:
        raise check.fail(f"{where}.keep_alive", 'missing; the platform\'s keep-alive, e.g. "5s"')
    keep_alive = check.duration(raw["keep_alive"], f"{where}.keep_alive", positive=True)
    low = check.number(raw.get("low", 5.0), f"{where}.low", 0.0, 100.0)
    high = check.number(raw.get("high", 99.0), f"{where}.high", 0.0, 100.0)
    if high < low:
        raise check.fail(f"{where}.high", f"must be >= low ({low:g}), got {high:g}")
    refresh = (check.duration(raw["refresh"], f"{where}.refresh", positive=True)
               if "refresh" in raw else None)
    if refresh is not None and refresh >= keep_alive:
        raise check.fail(f"{where}.refresh", f"must be below keep_alive ({keep_alive:g}s)")
    return PredictiveWarming(
        name, keep_alive, low, high, check.number(raw.get("margin", 0.1), f"{where}.margin", 0.0, 1.0),
        refresh, check.integer(raw.get("min_samples", 10), f"{where}.min_samples"),
        check.integer(raw.get("window", 1000), f"{where}.window", 2),
        check.duration(raw.get("max_keep", "4h"), f"{where}.max_keep", positive=True),
        check.duration(raw.get("lead", 0), f"{where}.lead"),
        check.duration(raw.get("hold", 0), f"{where}.hold") * 1000.0)


def _build_provisioned(check: _Check, name: str, raw: dict[str, Any], where: str) -> Strategy:
    if ("count" in raw) == ("schedule" in raw):
        raise check.fail(f"{where}.count", "give either count = N or schedule = "
                         '[{start = "0s", end = "60s", count = N}, ...]')
    if "count" in raw:
        return ProvisionedWarming.constant(name, check.integer(raw["count"], f"{where}.count"))
    items = raw["schedule"]
    if not isinstance(items, list) or not items:
        raise check.fail(f"{where}.schedule", "expected a non-empty array of {start, end, count}")
    windows = []
    for i, item in enumerate(items):
        key = f"{where}.schedule[{i}]"
        item = check.keys(item, ("start", "end", "count"), key)
        start = check.duration(item.get("start", 0), f"{key}.start")
        end = check.duration(item["end"], f"{key}.end") if "end" in item else math.inf
        if end <= start:
            raise check.fail(f"{key}.end", f"must be after start ({start:g}s)")
        windows.append(ProvisionWindow(start, end, check.integer(item.get("count"), f"{key}.count")))
    windows.sort(key=lambda w: w.start_s)
    for i, (a, b) in enumerate(zip(windows, windows[1:], strict=False)):
        if b.start_s < a.end_s:
            raise check.fail(f"{where}.schedule", f"windows {i} and {i + 1} overlap")
    return ProvisionedWarming(name, tuple(windows))


def _build_workload(check: _Check, raw: Any, base_dir: Path) -> WorkloadSpec:
    if not isinstance(raw, dict) or "type" not in raw:
        raise check.fail("warmer.workload.type", f"missing; one of {', '.join(WORKLOAD_TYPES)}")
    kind = check.choice(raw["type"], "warmer.workload.type", WORKLOAD_TYPES)
    check.keys(raw, ("type", "seed", "deploys") + _WORKLOAD_KEYS[kind], "warmer.workload")
    seed = check.integer(raw["seed"], "warmer.workload.seed", 0) if "seed" in raw else None
    w = "warmer.workload"
    deploys = raw.get("deploys", [])
    if not isinstance(deploys, list):
        raise check.fail(f"{w}.deploys", 'expected a list of times, e.g. ["60s"]')
    deploys_s = tuple(sorted(check.duration(d, f"{w}.deploys[{i}]") for i, d in enumerate(deploys)))
    spec = _build_workload_kind(check, kind, raw, base_dir, seed)
    return dataclasses.replace(spec, deploys_s=deploys_s)


def _build_workload_kind(check: _Check, kind: str, raw: dict[str, Any], base_dir: Path,
                         seed: int | None) -> WorkloadSpec:
    w = "warmer.workload"
    if kind == "trace":
        if "path" not in raw:
            raise check.fail(f"{w}.path", "missing; an Azure trace CSV (see tests/data/traces)")
        path = Path(check.string(raw["path"], f"{w}.path"))
        return WorkloadSpec(
            "trace", check.duration(raw.get("duration", 0), f"{w}.duration"),
            trace_path=path if path.is_absolute() else base_dir / path,
            trace_format=check.choice(raw.get("format", "azure2019"), f"{w}.format", TRACE_FORMATS),
            trace_function=check.string(raw["function"], f"{w}.function") if "function" in raw else None,
            compression=check.number(raw.get("compression", 1.0), f"{w}.compression", positive=True),
            start_s=check.duration(raw.get("start", 0), f"{w}.start"),
            span_s=check.duration(raw["span"], f"{w}.span", positive=True) if "span" in raw else None,
            seed=seed)
    for key in ("rate", "duration") + (("on", "off") if kind == "bursty" else ()):
        if key not in raw:
            raise check.fail(f"{w}.{key}", "missing")
    return WorkloadSpec(
        kind, check.duration(raw["duration"], f"{w}.duration", positive=True),
        rate_per_s=check.number(raw["rate"], f"{w}.rate", positive=True),
        on_s=check.duration(raw.get("on", 0), f"{w}.on", positive=kind == "bursty"),
        off_s=check.duration(raw.get("off", 0), f"{w}.off"),
        off_rate_per_s=check.number(raw.get("off_rate", 0.0), f"{w}.off_rate"), seed=seed)


def _build_simulate(check: _Check, raw: Any, base_dir: Path) -> SimulateSpec:
    raw = check.keys(raw, _SIMULATE_KEYS, "warmer.simulate")
    w = "warmer.simulate"
    curve = _build_curve(check, raw["curve"], raw, base_dir) if "curve" in raw else None
    prior = None
    if "prior" in raw:
        if isinstance(raw["prior"], str):
            raise check.fail(f"{w}.prior", 'expected {keep_alive = "5s"}, {published = "file.json"} '
                             'or {run = "runs/dir"}')
        prior = _build_curve(check, raw["prior"], raw, base_dir, f"{w}.prior")
    model = check.choice(raw.get("model", "isotonic"), f"{w}.model", CURVE_MODELS)
    return SimulateSpec(
        curve, prior, model, check.integer(raw.get("replicates", 200), f"{w}.replicates"),
        check.number(raw.get("warm_ms", 5.0), f"{w}.warm_ms"),
        check.number(raw.get("init_ms", 250.0), f"{w}.init_ms"),
        check.number(raw.get("ping_ms", 1.0), f"{w}.ping_ms"),
        check.duration(raw.get("ready_delay", 0), f"{w}.ready_delay"))


def _build_curve(check: _Check, value: Any, raw: dict[str, Any], base_dir: Path,
                 key: str = "warmer.simulate.curve") -> CurveSpec:
    if isinstance(value, str):
        kind = check.choice(value, key, ("calibrate", "none"))
        if kind != "calibrate":
            return CurveSpec(kind)
        gaps = raw.get("calibration_gaps")
        if not isinstance(gaps, list) or not gaps:
            raise check.fail("warmer.simulate.calibration_gaps", 'missing; idle gaps around the '
                             'keep-alive, e.g. ["2s", "4s", "5s", "6s", "8s"]')
        return CurveSpec("calibrate", gaps_s=tuple(
            check.duration(g, f"warmer.simulate.calibration_gaps[{i}]", positive=True)
            for i, g in enumerate(gaps)))
    table = check.keys(value, ("keep_alive", "published", "run"), key)
    if len(table) != 1:
        raise check.fail(key, "give one of {keep_alive = \"5s\"}, {published = \"file.json\"}, "
                         "{run = \"runs/dir\"}")
    (kind, item), = table.items()
    if kind == "keep_alive":
        return CurveSpec(kind, keep_alive_s=check.duration(item, f"{key}.keep_alive", positive=True))
    path = Path(check.string(item, f"{key}.{kind}"))
    return CurveSpec(kind, path=path if path.is_absolute() else base_dir / path)


def build_pricing(table: Any, source: str) -> Pricing:
    """The `[pricing]` table over the documented defaults (see coldbench.warmer.cost)."""
    check = _Check(source)
    table = check.keys(table, _PRICING_KEYS, "pricing")
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key == "bill_init":
            if not isinstance(value, bool):
                raise check.fail("pricing.bill_init", f"expected true or false, got {value!r}")
            values[key] = value
        elif key == "source":
            values[key] = check.string(value, "pricing.source")
        else:
            values[key] = check.number(value, f"pricing.{key}", positive=key == "memory_mb")
    if table and "source" not in values:
        values["source"] = "the suite's [pricing] table over " + Pricing().source
    return Pricing(**values)
