"""Per-function and sandbox-wide settings: loading, validation, keep-alive distributions.

A function is a directory `<functions_dir>/<name>/` holding a handler module and, optionally,
`coldbench.toml` with the keys of `FunctionSettings` (durations as "500ms", "4s", ...):

    handler = "handler.handler"        # module.function, as Lambda's Handler
    timeout = "3s"                     # function timeout (Lambda default 3 s)
    memory_mb = 128                    # reported in REPORT lines; RSS cap per instance
    keep_alive = "5min"                # or {dist="uniform", low="3s", high="6s"}
                                       # or {dist="exponential", mean="5s"}
    concurrency_per_instance = 1       # 1 = Lambda; N = Cloud Run style
    max_instances = 10                 # omit = only the sandbox-wide cap
    reserved_concurrency = 5           # in-flight cap -> 429 (PutFunctionConcurrency sets it)
    provisioned = 0                    # instances initialised ahead, never evicted
    environment = {KEY = "value"}
    init_delay_ms = 0                  # extra busy work in the runtime's init phase
    init_timeout = "10s"               # Lambda's init phase limit
    ground_truth_headers = true        # true | false | "instrumented" (see function_url)
    container_workers = 1              # always-on workers of container mode (0 = none)

Suite overrides (`[sandbox.overrides.<name>]`) use the same keys and win over the file.
Function names are checked against Lambda's character set, so no name can escape the
functions directory, and request paths are only ever looked up in the loaded table.
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from coldbench.errors import ConfigError
from coldbench.units import parse_duration_s

SETTINGS_FILE = "coldbench.toml"
FUNCTION_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
HANDLER_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$")
# Lambda's memory range; the upper bound is also the per-instance host-safety cap.
MEMORY_MB_MIN, MEMORY_MB_MAX = 128, 10240
MAX_CONCURRENCY_PER_INSTANCE = 64
MAX_CONTAINER_WORKERS = 16
HARD_MAX_TOTAL_INSTANCES = 256


@dataclass(frozen=True, slots=True)
class KeepAlive:
    """How long an idle instance survives: fixed, or drawn per idle period from a distribution."""

    dist: str = "fixed"  # fixed | uniform | exponential
    value_s: float = 300.0  # fixed value, or the mean of the exponential
    low_s: float = 0.0
    high_s: float = 0.0

    def draw_s(self, rng: random.Random) -> float:
        """Return one keep-alive in seconds (seeded `rng`, so runs are reproducible)."""
        if self.dist == "uniform":
            return rng.uniform(self.low_s, self.high_s)
        if self.dist == "exponential":
            return rng.expovariate(1.0 / self.value_s) if self.value_s > 0 else 0.0
        return self.value_s

    def describe(self) -> str | dict[str, Any]:
        """Return the spec in its file form (for /_sandbox/functions)."""
        if self.dist == "fixed":
            return f"{self.value_s:g}s"
        if self.dist == "uniform":
            return {"dist": "uniform", "low": f"{self.low_s:g}s", "high": f"{self.high_s:g}s"}
        return {"dist": "exponential", "mean": f"{self.value_s:g}s"}


@dataclass(frozen=True, slots=True)
class FunctionSettings:
    """Everything the sandbox needs to run one function (immutable; updates make a new one)."""

    name: str
    directory: Path
    handler: str = "handler.handler"
    timeout_s: float = 3.0
    memory_mb: int = 128
    keep_alive: KeepAlive = field(default_factory=KeepAlive)
    concurrency_per_instance: int = 1
    max_instances: int | None = None
    reserved_concurrency: int | None = None
    provisioned: int = 0
    environment: dict[str, str] = field(default_factory=dict)
    init_delay_ms: float = 0.0
    init_timeout_s: float = 10.0
    ground_truth_headers: bool | str = True
    container_workers: int = 1


@dataclass(frozen=True, slots=True)
class SandboxSettings:
    """Sandbox-wide settings: where functions live, the port, caps and the keep-alive seed."""

    functions_dir: Path
    port: int = 0
    seed: int = 0
    max_total_instances: int = 32
    max_total_memory_mb: int = 0  # 0 = half the host's RAM (see build_sandbox_settings)
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    echo_runtime_output: bool = False


def parse_keep_alive(value: object, where: str) -> KeepAlive:
    """Parse a keep-alive: a duration, or a table {dist=uniform|exponential|fixed, ...}."""
    if not isinstance(value, dict):
        return KeepAlive("fixed", parse_duration_s(value, where))
    dist = value.get("dist", "fixed")
    keys = set(value) - {"dist"}
    expected = {"fixed": {"value"}, "uniform": {"low", "high"}, "exponential": {"mean"}}
    if dist not in expected:
        raise ConfigError(f"{where}.dist: unknown distribution {dist!r}; use fixed, uniform or exponential")
    if keys != expected[dist]:
        raise ConfigError(f"{where}: dist={dist} needs exactly the keys {sorted(expected[dist])}")
    if dist == "uniform":
        low = parse_duration_s(value["low"], f"{where}.low")
        high = parse_duration_s(value["high"], f"{where}.high")
        if high < low:
            raise ConfigError(f"{where}: high must be >= low")
        return KeepAlive("uniform", (low + high) / 2, low, high)
    key = "mean" if dist == "exponential" else "value"
    return KeepAlive(dist, parse_duration_s(value[key], f"{where}.{key}"))


def _int_in(value: object, where: str, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        bound = f"{low}..{high}" if high is not None else f">= {low}"
        raise ConfigError(f"{where}: expected an integer {bound}, got {value!r}")
    return value


def _parse_environment(value: object, where: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a table of NAME = \"value\"")
    env: dict[str, str] = {}
    for key, item in value.items():
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", str(key)):
            raise ConfigError(f"{where}: invalid variable name {key!r}")
        env[str(key)] = item if isinstance(item, str) else str(item)
    return env


def _parse_headers_mode(value: object, where: str) -> bool | str:
    if isinstance(value, bool) or value == "instrumented":
        return value  # type: ignore[return-value]
    raise ConfigError(f"{where}: expected true, false or \"instrumented\", got {value!r}")


def _parse_handler(value: object, where: str) -> str:
    if not isinstance(value, str) or not HANDLER_RE.match(value):
        raise ConfigError(f"{where}: expected \"module.function\" (e.g. \"handler.handler\"), got {value!r}")
    return value


def _parse_init_delay_ms(value: object, where: str) -> float:
    """A number of milliseconds, or a duration string ("1.5s")."""
    if isinstance(value, str):
        return parse_duration_s(value, where) * 1000.0
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConfigError(f"{where}: expected milliseconds >= 0 or a duration, got {value!r}")
    return float(value)


# key in file -> (field name, parser(value, where))
_PARSERS: dict[str, tuple[str, Any]] = {
    "handler": ("handler", _parse_handler),
    "timeout": ("timeout_s", parse_duration_s),
    "memory_mb": ("memory_mb", lambda v, w: _int_in(v, w, MEMORY_MB_MIN, MEMORY_MB_MAX)),
    "keep_alive": ("keep_alive", parse_keep_alive),
    "concurrency_per_instance": (
        "concurrency_per_instance",
        lambda v, w: _int_in(v, w, 1, MAX_CONCURRENCY_PER_INSTANCE),
    ),
    "max_instances": ("max_instances", lambda v, w: _int_in(v, w, 1, HARD_MAX_TOTAL_INSTANCES)),
    "reserved_concurrency": ("reserved_concurrency", lambda v, w: _int_in(v, w, 0)),
    "provisioned": ("provisioned", lambda v, w: _int_in(v, w, 0, HARD_MAX_TOTAL_INSTANCES)),
    "environment": ("environment", _parse_environment),
    "init_delay_ms": ("init_delay_ms", _parse_init_delay_ms),
    "init_timeout": ("init_timeout_s", parse_duration_s),
    "ground_truth_headers": ("ground_truth_headers", _parse_headers_mode),
    "container_workers": ("container_workers", lambda v, w: _int_in(v, w, 0, MAX_CONTAINER_WORKERS)),
}


def apply_settings(base: FunctionSettings, table: dict[str, Any], where: str) -> FunctionSettings:
    """Return `base` updated by a settings table; `where` prefixes error messages (file or key)."""
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: expected a table of settings")
    changes: dict[str, Any] = {}
    for key, value in table.items():
        if key not in _PARSERS:
            raise ConfigError(f"{where}: unknown key {key!r}; known keys: {', '.join(sorted(_PARSERS))}")
        field_name, parse = _PARSERS[key]
        changes[field_name] = parse(value, f"{where}.{key}")
    if changes.get("timeout_s", base.timeout_s) <= 0:
        raise ConfigError(f"{where}.timeout: must be > 0")
    return replace(base, **changes)


def check_function_name(name: str, where: str = "function name") -> str:
    """Return `name` if it is a valid Lambda function name, else raise ConfigError."""
    if not isinstance(name, str) or not FUNCTION_NAME_RE.match(name):
        raise ConfigError(f"{where}: {name!r} is not a valid function name (letters, digits, - and _, at most 64)")
    return name


def load_function(functions_dir: Path, name: str, override: dict[str, Any] | None = None) -> FunctionSettings:
    """Load one function's settings from its directory, then apply a suite override."""
    check_function_name(name)
    root = functions_dir.resolve()
    directory = (root / name).resolve()
    if directory.parent != root or not directory.is_dir():
        raise ConfigError(f"function {name!r}: {directory} is not a directory inside {root}")
    settings = FunctionSettings(name=name, directory=directory)
    settings_file = directory / SETTINGS_FILE
    if settings_file.is_file():
        try:
            table = tomllib.loads(settings_file.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{settings_file}: invalid TOML: {exc}") from None
        settings = apply_settings(settings, table, str(settings_file))
    if override:
        settings = apply_settings(settings, override, f"[sandbox.overrides.{name}]")
    module_file = directory / (settings.handler.rsplit(".", 1)[0].replace(".", "/") + ".py")
    if not module_file.is_file() and not module_file.with_suffix("").is_dir():
        raise ConfigError(f"function {name!r}: handler module {module_file} not found (set 'handler' in {settings_file})")
    return settings


def discover_function_names(functions_dir: Path) -> list[str]:
    """Return the names of function directories (those with coldbench.toml or handler.py)."""
    if not functions_dir.is_dir():
        raise ConfigError(f"--functions: directory not found: {functions_dir}")
    names = []
    for entry in sorted(functions_dir.iterdir()):
        if entry.name.startswith((".", "_")) or not entry.is_dir():
            continue
        if (entry / SETTINGS_FILE).is_file() or (entry / "handler.py").is_file():
            names.append(check_function_name(entry.name, f"{functions_dir}/{entry.name}"))
    return names


def load_functions(settings: SandboxSettings) -> dict[str, FunctionSettings]:
    """Load every function under the functions directory, applying the suite's overrides."""
    names = discover_function_names(settings.functions_dir)
    unknown = sorted(set(settings.overrides) - set(names))
    if unknown:
        raise ConfigError(
            f"[sandbox.overrides]: no function named {unknown[0]!r} in {settings.functions_dir} "
            f"(found: {', '.join(names) or 'none'})"
        )
    return {name: load_function(settings.functions_dir, name, settings.overrides.get(name)) for name in names}


def default_total_memory_mb() -> int:
    """Half the host's physical memory: the default budget of summed instance memory sizes."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return 4096
    return max(MEMORY_MB_MAX // 4, int(total / 2**20 / 2))


def build_sandbox_settings(table: dict[str, Any], base_dir: Path, where: str = "[sandbox]") -> SandboxSettings:
    """Build SandboxSettings from a suite's `[sandbox]` table (paths relative to `base_dir`).

    Keys: functions (dir), port, seed, max_total_instances, max_total_memory_mb, echo_runtime_output,
    overrides = {<function> = {<setting> = ...}}.
    """
    known = {"functions", "port", "seed", "max_total_instances", "max_total_memory_mb", "overrides", "echo_runtime_output"}
    for key in table:
        if key not in known:
            raise ConfigError(f"{where}: unknown key {key!r}; known keys: {', '.join(sorted(known))}")
    functions_dir = Path(table.get("functions", "functions"))
    if not functions_dir.is_absolute():
        functions_dir = base_dir / functions_dir
    overrides = table.get("overrides", {})
    if not isinstance(overrides, dict) or not all(isinstance(v, dict) for v in overrides.values()):
        raise ConfigError(f"{where}.overrides: expected tables [sandbox.overrides.<function>]")
    for name in overrides:
        check_function_name(name, f"{where}.overrides")
    memory = table.get("max_total_memory_mb", 0)
    return SandboxSettings(
        functions_dir=functions_dir,
        port=_int_in(table.get("port", 0), f"{where}.port", 0, 65535),
        seed=_int_in(table.get("seed", 0), f"{where}.seed", 0),
        max_total_instances=_int_in(
            table.get("max_total_instances", 32), f"{where}.max_total_instances", 1, HARD_MAX_TOTAL_INSTANCES
        ),
        max_total_memory_mb=_int_in(memory, f"{where}.max_total_memory_mb", 0) or default_total_memory_mb(),
        overrides=overrides,
        echo_runtime_output=bool(table.get("echo_runtime_output", False)),
    )


def load_sandbox_table(path: Path) -> dict[str, Any]:
    """Read a sandbox config file (TOML or JSON); a suite file's `[sandbox]` table is used as is."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"--config: cannot read {path}: {exc.strerror}") from None
    try:
        table = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"--config: {path} is not valid {'JSON' if path.suffix == '.json' else 'TOML'}: {exc}") from None
    if not isinstance(table, dict):
        raise ConfigError(f"--config: {path} must hold a table")
    sandbox = table.get("sandbox", table)
    if not isinstance(sandbox, dict):
        raise ConfigError(f"--config: {path}: [sandbox] must be a table")
    return dict(sandbox)


def billed_ms(duration_ms: float) -> int:
    """Lambda bills in 1 ms increments, rounding up."""
    return max(1, math.ceil(duration_ms))
