"""Suite files (TOML) → a typed, validated `Suite`. Pure apart from reading the file.

Errors name the file and the key to change; an unknown key gets the closest valid key suggested.
Secrets come from the environment (`${env:NAME}`); the suite snapshot stored in a run keeps the
`${env:NAME}` template, never the resolved value.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from coldbench.errors import ConfigError
from coldbench.redact import redact_snapshot
from coldbench.tomlcheck import TomlChecker, did_you_mean, type_name

ENV_RE = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}")
TARGET_KINDS = ("serverless", "container")
CONNECTION_MODES = ("fresh", "reuse")
HTTP_CLIENTS = ("auto", "aiohttp")  # auto: the lean HTTP/1.1 client for load scenarios (lean_probe)
SCENARIO_TYPES = ("idle_gap", "burst", "warm", "config_update", "closed", "rate")

_TOP_KEYS = ("suite", "targets", "scenarios", "sandbox", "thresholds", "budget", "pricing", "warmer",
             "workerd")
_SUITE_KEYS = ("name", "seed", "description", "report")
_TARGET_KEYS = (
    "name", "url", "method", "headers", "body", "json", "timeout", "kind", "labels",
    "connection", "provider", "function", "region", "profile", "max_body_bytes", "thresholds",
    "invoke", "qualifier", "agent", "tls_verify", "client",
)
_SCENARIO_KEYS: dict[str, tuple[str, ...]] = {
    "common": ("name", "type", "targets", "connection", "client"),
    "idle_gap": ("gaps", "repetitions", "shuffle", "jitter"),
    "burst": ("concurrency", "rounds", "pause"),
    "warm": ("count", "pause"),
    "config_update": ("repetitions", "pause"),
    "closed": ("concurrency", "duration", "count"),
    "rate": ("rate", "arrivals", "duration", "ramp", "steps", "max_concurrency", "max_lag"),
}


@dataclass(frozen=True, slots=True)
class TargetSpec:
    """One endpoint to probe, with everything needed to build its request."""

    name: str
    url: str
    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None
    timeout_s: float = 30.0
    kind: str = "serverless"
    labels: tuple[tuple[str, str], ...] = ()
    connection: str = "fresh"
    provider: str = "http"
    function: str | None = None
    max_body_bytes: int = 1 << 20
    options: tuple[tuple[str, Any], ...] = ()

    @property
    def labels_dict(self) -> dict[str, str]:
        """The target's free-form labels as a dict."""
        return dict(self.labels)


@dataclass(frozen=True, slots=True)
class ScenarioSpec:
    """One scenario: what to send to which targets, and when."""

    name: str
    type: str
    targets: tuple[str, ...]
    gaps_s: tuple[float, ...] = ()
    repetitions: int = 1
    shuffle: bool = False
    jitter_s: float = 0.0
    jitter_fraction: float = 0.0
    concurrency: int = 1
    rounds: int = 1
    pause_s: float = 0.0
    count: int = 0
    duration_s: float = 0.0
    rate_per_s: float = 0.0
    arrivals: str = "constant"
    connection: str | None = None
    options: tuple[tuple[str, Any], ...] = ()
    client: str | None = None  # "aiohttp" forces aiohttp; None: the target's choice


@dataclass(frozen=True, slots=True)
class Suite:
    """A validated suite: targets, scenarios and the side tables other parts read."""

    name: str
    path: str
    seed: int
    targets: tuple[TargetSpec, ...]
    scenarios: tuple[ScenarioSpec, ...]
    sandbox: dict[str, Any] | None = None
    thresholds: dict[str, Any] = field(default_factory=dict)
    budget: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, Any] = field(default_factory=dict)  # pricing, warmer, ... (raw)
    snapshot: dict[str, Any] = field(default_factory=dict)  # redacted, for the manifest
    secrets: tuple[str, ...] = ()  # values that came from ${env:...}: redacted wherever they appear
    sha256: str = ""  # of the suite text: --resume refuses a suite that changed

    def target(self, name: str) -> TargetSpec:
        """Return the target called `name`."""
        for target in self.targets:
            if target.name == name:
                return target
        raise KeyError(name)


def load_suite(path: str | Path, env: Mapping[str, str] | None = None) -> Suite:
    """Read and validate a suite file; raise ConfigError naming the file and key on any fault."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: suite file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read suite file ({exc})") from None
    return parse_suite(text, source=str(path), env=os.environ if env is None else env)


def parse_suite(text: str, source: str = "<suite>", env: Mapping[str, str] | None = None) -> Suite:
    """Parse suite TOML text; `source` names the file in error messages."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: TOML syntax error: {exc}") from None
    suite = build_suite(raw, source, env or {})
    return dataclasses.replace(suite, sha256=hashlib.sha256(text.encode()).hexdigest())


def build_suite(raw: dict[str, Any], source: str, env: Mapping[str, str]) -> Suite:
    """Validate a parsed suite table and build the typed Suite."""
    ctx = _Ctx(source, env)
    ctx.check_keys(raw, _TOP_KEYS, "")
    head = ctx.table(raw.get("suite", {}), "suite")
    ctx.check_keys(head, _SUITE_KEYS, "suite")
    name = ctx.string(head.get("name", Path(source).stem), "suite.name")
    seed = ctx.integer(head.get("seed", 0), "suite.seed")
    targets_raw = ctx.array_of_tables(raw.get("targets"), "targets", required=True)
    targets = tuple(_build_target(ctx, t, i) for i, t in enumerate(targets_raw))
    names = [t.name for t in targets]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"{source}: targets: duplicate target name {duplicates[0]!r}")
    scenarios_raw = ctx.array_of_tables(raw.get("scenarios"), "scenarios", required=True)
    scenarios = tuple(_build_scenario(ctx, s, i, names) for i, s in enumerate(scenarios_raw))
    sandbox = ctx.table(raw["sandbox"], "sandbox") if "sandbox" in raw else None
    snapshot = redact_snapshot(copy.deepcopy(raw))
    return Suite(
        name=name,
        path=source,
        seed=seed,
        targets=targets,
        scenarios=scenarios,
        sandbox=sandbox,
        thresholds=ctx.table(raw.get("thresholds", {}), "thresholds"),
        budget=ctx.table(raw.get("budget", {}), "budget"),
        tables={k: raw[k] for k in ("pricing", "warmer", "workerd") if k in raw},
        snapshot=snapshot,
        secrets=tuple(sorted(ctx.secrets)),
    )


class _Ctx(TomlChecker):
    """Validation helpers that know the source file name for error messages."""

    def __init__(self, source: str, env: Mapping[str, str]) -> None:
        super().__init__(source)
        self.env = env
        self.secrets: set[str] = set()

    def table(self, value: Any, key: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(key, f"expected a table, got {type_name(value)}")
        return value

    def array_of_tables(self, value: Any, key: str, required: bool = False) -> list[dict[str, Any]]:
        if value is None:
            if required:
                raise self.fail(key, f"missing; add at least one [[{key}]] table")
            return []
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise self.fail(key, f"expected an array of tables ([[{key}]]), got {type_name(value)}")
        if required and not value:
            raise self.fail(key, f"empty; add at least one [[{key}]] table")
        return value

    def integer(self, value: Any, key: str, minimum: int | None = None) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(key, f"expected an integer, got {type_name(value)}")
        if minimum is not None and value < minimum:
            raise self.fail(key, f"must be >= {minimum}, got {value}")
        return value

    def number(self, value: Any, key: str, minimum: float = 0.0) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(key, f"expected a number, got {type_name(value)}")
        if value < minimum:
            raise self.fail(key, f"must be >= {minimum:g}, got {value}")
        return float(value)

    def boolean(self, value: Any, key: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(key, f"expected true or false, got {type_name(value)}")
        return value

    def expand_env(self, value: str, key: str) -> str:
        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in self.env:
                raise self.fail(key, f"environment variable {name} is not set (export {name}=...)")
            self.secrets.add(self.env[name])
            return self.env[name]

        return ENV_RE.sub(replace, value)


def _build_target(ctx: _Ctx, raw: dict[str, Any], index: int) -> TargetSpec:
    where = f"targets[{index}]"
    if "name" not in raw:
        raise ctx.fail(f"{where}.name", "missing; every target needs a name")
    name = ctx.string(raw["name"], f"{where}.name")
    where = f"targets[{name}]"
    ctx.check_keys(raw, _TARGET_KEYS, where)
    provider = ctx.choice(raw.get("provider", "http"), f"{where}.provider", ("http", "sandbox", "aws"))
    if "url" not in raw and provider == "http":
        raise ctx.fail(f"{where}.url", "missing; give the endpoint's URL")
    url = ctx.expand_env(ctx.string(raw.get("url", ""), f"{where}.url"), f"{where}.url")
    if url and not re.match(r"^https?://|^\$\{(sandbox|workerd|workerd_ondemand)\}", url):
        raise ctx.fail(f"{where}.url", f"must start with http:// or https://, got {url!r}")
    headers_raw = ctx.table(raw.get("headers", {}), f"{where}.headers")
    headers = tuple(
        (k, ctx.expand_env(ctx.string(v, f"{where}.headers.{k}"), f"{where}.headers.{k}"))
        for k, v in headers_raw.items()
    )
    body = _build_body(ctx, raw, where)
    if "json" in raw and not any(k.lower() == "content-type" for k, _ in headers):
        headers = (*headers, ("Content-Type", "application/json"))
    labels = ctx.table(raw.get("labels", {}), f"{where}.labels")
    option_keys = ("region", "profile", "invoke", "qualifier", "agent", "thresholds", "tls_verify",
                   "client")
    if "tls_verify" in raw:
        ctx.boolean(raw["tls_verify"], f"{where}.tls_verify")
    if "client" in raw:
        ctx.choice(raw["client"], f"{where}.client", HTTP_CLIENTS)
    options = {k: raw[k] for k in option_keys if k in raw}
    return TargetSpec(
        name=name,
        url=url,
        method=ctx.string(raw.get("method", "GET"), f"{where}.method").upper(),
        headers=headers,
        body=body,
        timeout_s=ctx.duration(raw.get("timeout", "30s"), f"{where}.timeout"),
        kind=ctx.choice(raw.get("kind", "serverless"), f"{where}.kind", TARGET_KINDS),
        labels=tuple((str(k), str(v)) for k, v in labels.items()),
        connection=ctx.choice(raw.get("connection", "fresh"), f"{where}.connection", CONNECTION_MODES),
        provider=provider,
        function=ctx.string(raw["function"], f"{where}.function") if "function" in raw else None,
        max_body_bytes=ctx.integer(raw.get("max_body_bytes", 1 << 20), f"{where}.max_body_bytes", 0),
        options=tuple(options.items()),
    )


def _build_body(ctx: _Ctx, raw: dict[str, Any], where: str) -> bytes | None:
    if "body" in raw and "json" in raw:
        raise ctx.fail(f"{where}.json", "give either body (text) or json, not both")
    if "json" in raw:
        return json.dumps(raw["json"], separators=(",", ":")).encode()
    if "body" in raw:
        text = ctx.string(raw["body"], f"{where}.body")
        return ctx.expand_env(text, f"{where}.body").encode()
    return None


def _build_scenario(ctx: _Ctx, raw: dict[str, Any], index: int, names: list[str]) -> ScenarioSpec:
    where = f"scenarios[{index}]"
    if "type" not in raw:
        raise ctx.fail(f"{where}.type", f"missing; one of {', '.join(SCENARIO_TYPES)}")
    kind = ctx.choice(raw["type"], f"{where}.type", SCENARIO_TYPES)
    name = ctx.string(raw.get("name", f"{kind}-{index}"), f"{where}.name")
    where = f"scenarios[{name}]"
    ctx.check_keys(raw, _SCENARIO_KEYS["common"] + _SCENARIO_KEYS[kind], where)
    targets = raw.get("targets", names)
    if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
        raise ctx.fail(f"{where}.targets", "expected an array of target names")
    for target in targets:
        if target not in names:
            hint = did_you_mean(target, names)
            raise ctx.fail(f"{where}.targets", f"no target named {target!r}{hint}")
    fields: dict[str, Any] = {"name": name, "type": kind, "targets": tuple(targets)}
    if "connection" in raw:
        fields["connection"] = ctx.choice(raw["connection"], f"{where}.connection", CONNECTION_MODES)
    if "client" in raw:
        fields["client"] = ctx.choice(raw["client"], f"{where}.client", HTTP_CLIENTS)
    fields.update(_scenario_fields(ctx, kind, raw, where))
    return ScenarioSpec(**fields)


def _scenario_fields(ctx: _Ctx, kind: str, raw: dict[str, Any], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if kind == "idle_gap":
        gaps = raw.get("gaps")
        if not isinstance(gaps, list) or not gaps:
            raise ctx.fail(f"{where}.gaps", 'missing or empty; e.g. gaps = ["500ms", "2s", "5s"]')
        out["gaps_s"] = tuple(ctx.duration(g, f"{where}.gaps[{i}]") for i, g in enumerate(gaps))
        out["shuffle"] = ctx.boolean(raw.get("shuffle", False), f"{where}.shuffle")
        out.update(_jitter(ctx, raw.get("jitter", 0), f"{where}.jitter"))
    if kind in ("idle_gap", "config_update"):
        out["repetitions"] = ctx.integer(raw.get("repetitions", 1), f"{where}.repetitions", 1)
    if kind == "burst":
        out["concurrency"] = ctx.integer(raw.get("concurrency", 1), f"{where}.concurrency", 1)
        out["rounds"] = ctx.integer(raw.get("rounds", 1), f"{where}.rounds", 1)
    if kind in ("burst", "warm", "config_update"):
        out["pause_s"] = ctx.duration(raw.get("pause", 0), f"{where}.pause")
    if kind == "warm":
        out["count"] = ctx.integer(raw.get("count", 10), f"{where}.count", 1)
    if kind in ("closed", "rate"):
        out.update(_load_fields(ctx, kind, raw, where))
    return out


def _load_fields(ctx: _Ctx, kind: str, raw: dict[str, Any], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "duration" not in raw and "count" not in raw:
        raise ctx.fail(f"{where}.duration", 'missing; give a duration such as "30s" (or a count)')
    if "duration" in raw:
        out["duration_s"] = ctx.duration(raw["duration"], f"{where}.duration")
    if "count" in raw:
        out["count"] = ctx.integer(raw["count"], f"{where}.count", 1)
    if kind == "closed":
        out["concurrency"] = ctx.integer(raw.get("concurrency", 1), f"{where}.concurrency", 1)
        return out
    if "rate" not in raw:
        raise ctx.fail(f"{where}.rate", "missing; requests per second, e.g. rate = 100")
    out["rate_per_s"] = ctx.number(raw["rate"], f"{where}.rate", 0.0)
    if out["rate_per_s"] <= 0:
        raise ctx.fail(f"{where}.rate", "must be > 0")
    if "duration_s" not in out:
        raise ctx.fail(f"{where}.duration", 'missing; a rate scenario needs a duration such as "30s"')
    out["arrivals"] = ctx.choice(raw.get("arrivals", "constant"), f"{where}.arrivals", ("constant", "poisson"))
    out["concurrency"] = ctx.integer(raw.get("max_concurrency", 1000), f"{where}.max_concurrency", 1)
    if "ramp" in raw:
        ctx.number(raw["ramp"], f"{where}.ramp", 0.0)
    if "max_lag" in raw:
        ctx.duration(raw["max_lag"], f"{where}.max_lag")
    if "steps" in raw:
        from coldbench.arrivals import parse_steps

        try:
            parse_steps(raw["steps"], f"{where}.steps")
        except ConfigError as exc:
            raise ConfigError(f"{ctx.source}: {exc}") from None
    options = {k: raw[k] for k in ("ramp", "steps", "max_lag") if k in raw}
    out["options"] = tuple(options.items())
    return out


def _jitter(ctx: _Ctx, value: Any, key: str) -> dict[str, float]:
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            fraction = float(value.strip()[:-1]) / 100.0
        except ValueError:
            raise ctx.fail(key, f'cannot read {value!r}; use e.g. "10%" or "100ms"') from None
        if not 0 <= fraction < 1:
            raise ctx.fail(key, "a percentage jitter must be between 0% and 100%")
        return {"jitter_fraction": fraction}
    return {"jitter_s": ctx.duration(value, key)}
