"""The `[warmer]` and `[pricing]` tables: schema, defaults, and errors that name the key."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from coldbench.errors import ConfigError
from coldbench.suite import load_suite, parse_suite
from coldbench.warmer.config import build_pricing, build_warmer_config
from coldbench.warmer.cost import Pricing
from coldbench.warmer.strategies import PingWarming, PredictiveWarming, ProvisionedWarming

ROOT = Path(__file__).resolve().parent.parent
BASE = """
[suite]
name = "w"
[[targets]]
name = "hello"
url = "http://127.0.0.1:9/fn/hello/"
[[scenarios]]
type = "warm"
"""


def config_of(warmer: str, pricing: str = ""):  # type: ignore[no-untyped-def]
    return build_warmer_config(parse_suite(BASE + warmer + pricing, source="suite.toml"))


def error_of(warmer: str, pricing: str = "") -> str:
    with pytest.raises(ConfigError) as info:
        config_of(warmer, pricing)
    return str(info.value)


GOOD = """
[warmer]
warmup = "2s"
strategies = [
  { type = "none" },
  { name = "ping", type = "ping", interval = "4s", fan_out = 2, hold = "150ms" },
  { name = "prov", type = "provisioned", schedule = [{ start = "10s", end = "20s", count = 2 }] },
  { type = "predictive", keep_alive = "5s", low = 10, high = 95 },
]
[warmer.workload]
type = "bursty"
rate = 2
on = "5s"
off = "10s"
duration = "60s"
[warmer.simulate]
curve = { keep_alive = "5s" }
replicates = 50
"""


def test_full_table_builds_typed_strategies() -> None:
    config = config_of(GOOD)
    none, ping, prov, predictive = config.strategies
    assert none.name == "none" and config.target == "hello" and config.warmup_s == 2.0
    assert ping == PingWarming("ping", 4.0, 2, 150.0)
    assert isinstance(prov, ProvisionedWarming) and prov.count_at(15) == 2 and prov.count_at(25) == 0
    assert isinstance(predictive, PredictiveWarming) and predictive.low_pct == 10
    assert config.workload.kind == "bursty" and config.workload.on_s == 5.0
    assert config.simulate.curve is not None and config.simulate.curve.keep_alive_s == 5.0
    assert config.simulate.replicates == 50 and config.pricing == Pricing()


@pytest.mark.parametrize(("fragment", "expected"), [
    ('{ type = "ping", interval = "soon" }', "suite.toml: warmer.strategies[1].interval: cannot read"),
    ('{ type = "ping" }', "warmer.strategies[1].interval: missing"),
    ('{ type = "ping", interval = "4s", fan_out = 0 }', "warmer.strategies[1].fan_out: expected an integer >= 1"),
    ('{ type = "pings", interval = "4s" }', "warmer.strategies[1].type: must be one of none, ping, provisioned, predictive, got 'pings'; did you mean 'ping'?"),
    ('{ type = "ping", interval = "4s", intervall = "2s" }', "warmer.strategies[1].intervall: unknown key; did you mean 'interval'?"),
    ('{ type = "provisioned" }', "warmer.strategies[1].count: give either count"),
    ('{ type = "provisioned", schedule = [{ start = "5s", end = "2s", count = 1 }] }', "warmer.strategies[1].schedule[0].end: must be after start"),
    ('{ type = "predictive" }', "warmer.strategies[1].keep_alive: missing"),
    ('{ type = "predictive", keep_alive = "5s", refresh = "6s" }', "warmer.strategies[1].refresh: must be below keep_alive"),
    ('{ type = "none" }', "warmer.strategies[1].name: duplicate strategy name 'none'"),
    ('{ type = "none", name = "a b" }', "warmer.strategies[1].name: 'a b': use letters"),
])
def test_strategy_errors_name_the_key(fragment: str, expected: str) -> None:
    warmer = f"""
[warmer]
strategies = [{{ type = "none" }}, {fragment}]
[warmer.workload]
type = "poisson"
rate = 1
duration = "10s"
"""
    assert expected in error_of(warmer)


@pytest.mark.parametrize(("workload", "expected"), [
    ('type = "poisson"\nduration = "10s"', "warmer.workload.rate: missing"),
    ('type = "poisson"\nrate = -1\nduration = "10s"', "warmer.workload.rate: must be > 0"),
    ('type = "bursty"\nrate = 1\nduration = "10s"', "warmer.workload.on: missing"),
    ('type = "trace"', "warmer.workload.path: missing"),
    ('type = "trace"\npath = "x.csv"\nformat = "azure2020"', "warmer.workload.format: must be one of azure2019, azure2021"),
    ('type = "trace"\npath = "x.csv"\ncompression = 0', "warmer.workload.compression: must be > 0"),
    ('type = "replay"', "warmer.workload.type: must be one of poisson, bursty, trace"),
    ('type = "poisson"\nrate = 1\nduration = "9s"\ndeploys = ["soon"]', "warmer.workload.deploys[0]: cannot read"),
])
def test_workload_errors_name_the_key(workload: str, expected: str) -> None:
    warmer = f'[warmer]\nstrategies = [{{ type = "none" }}]\n[warmer.workload]\n{workload}\n'
    assert expected in error_of(warmer)


def test_missing_tables_and_unknown_target() -> None:
    assert "warmer: missing" in error_of("")
    assert "warmer.workload: missing" in error_of('[warmer]\nstrategies = [{ type = "none" }]\n')
    assert "warmer.target: no target named 'helo'; did you mean 'hello'?" in error_of(
        '[warmer]\ntarget = "helo"\nstrategies = [{ type = "none" }]\n')
    assert "warmer.strategies: missing or empty" in error_of("[warmer]\nstrategies = []\n")


def test_simulate_curve_forms() -> None:
    head = '[warmer]\nstrategies = [{ type = "none" }]\n[warmer.workload]\ntype = "poisson"\nrate = 1\nduration = "9s"\n'
    calibrate = config_of(head + '[warmer.simulate]\ncurve = "calibrate"\ncalibration_gaps = ["1s", "2s"]\n'
                          'prior = { published = "p.json" }\nmodel = "logistic"\n')
    assert calibrate.simulate.curve is not None and calibrate.simulate.curve.gaps_s == (1.0, 2.0)
    assert calibrate.simulate.prior is not None and calibrate.simulate.prior.path is not None
    assert calibrate.simulate.prior.path.name == "p.json" and calibrate.simulate.model == "logistic"
    assert "calibration_gaps: missing" in error_of(head + '[warmer.simulate]\ncurve = "calibrate"\n')
    assert "warmer.simulate.curve: give one of" in error_of(
        head + '[warmer.simulate]\ncurve = { keep_alive = "5s", run = "x" }\n')
    assert "warmer.simulate.model: must be one of isotonic, logistic" in error_of(
        head + '[warmer.simulate]\nmodel = "spline"\n')


def test_pricing_defaults_and_overrides() -> None:
    default = build_pricing({}, "s.toml")
    assert default.request_usd_per_million == 0.20 and default.gb_second_usd == 0.0000166667
    assert default.container_usd_per_hour == pytest.approx(0.25 * 0.04048 + 0.5 * 0.004445)
    assert "aws.amazon.com/lambda/pricing" in default.source
    custom = build_pricing({"memory_mb": 1024, "bill_init": False, "container_usd_per_hour": 0.05}, "s.toml")
    assert custom.memory_gb == 1.0 and not custom.bill_init and custom.container_usd_per_hour == 0.05
    assert "[pricing] table" in custom.source
    with pytest.raises(ConfigError, match=r"s.toml: pricing.gb_second_usd: expected a number"):
        build_pricing({"gb_second_usd": "cheap"}, "s.toml")
    with pytest.raises(ConfigError, match=r"pricing.requests: unknown key"):
        build_pricing({"requests": 1}, "s.toml")
    with pytest.raises(ConfigError, match=r"pricing.memory_mb: must be > 0"):
        build_pricing({"memory_mb": 0}, "s.toml")
    assert math.isclose(custom.billed_ms(1.2)[()], 2.0)


def test_example_suite_is_valid() -> None:
    config = build_warmer_config(load_suite(ROOT / "targets" / "warm-local.toml"))
    kinds = [s.kind for s in config.strategies]
    assert kinds == ["none", "ping", "ping", "provisioned", "predictive"]
    assert config.workload.kind == "poisson" and config.simulate.curve is not None
    assert config.simulate.curve.kind == "calibrate" and 5.0 not in config.simulate.curve.gaps_s
