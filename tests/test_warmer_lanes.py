"""Binding strategies to function copies: URLs, providers, ground truth, budgets (no network)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from coldbench.errors import ConfigError
from coldbench.sample import Sample
from coldbench.suite import TargetSpec, parse_suite
from coldbench.warmer.config import build_warmer_config
from coldbench.warmer.experiment import check_warm_budget, plan_warm
from coldbench.warmer.lanes import (
    apply_truth,
    build_live_lanes,
    copy_name,
    copy_url,
    sandbox_function_of,
)
from coldbench.warmer.live import build_ping_target

HTTP_SUITE = """
[suite]
name = "w"
[[targets]]
name = "fn"
url = "https://example.invalid/"
[[scenarios]]
type = "warm"
[warmer]
strategies = [{ type = "none" }, STRATEGY]
[warmer.workload]
type = "poisson"
rate = 1
duration = "10s"
"""


def suite_with(strategy: str, extra: str = ""):  # type: ignore[no-untyped-def]
    return parse_suite(HTTP_SUITE.replace("STRATEGY", strategy) + extra, source="s.toml")


def test_copies_get_valid_names_and_urls() -> None:
    target = TargetSpec(name="hello", url="${sandbox}/fn/hello/path?x=1", function="hello")
    assert copy_name("hello", "ping4") == "hello-ping4"
    assert len(copy_name("f" * 64, "s" * 40)) <= 64
    assert copy_url(target, "hello", "hello-ping", "http://127.0.0.1:5/") == \
        "http://127.0.0.1:5/fn/hello-ping/path?x=1"
    bare = dataclasses.replace(target, url="")
    assert copy_url(bare, "hello", "hello-x", "http://h") == "http://h/fn/hello-x/"
    assert sandbox_function_of(dataclasses.replace(target, function=None)) == "hello"
    with pytest.raises(ConfigError, match=r"targets\[hello\].function: missing"):
        sandbox_function_of(TargetSpec(name="hello", url="http://h/other"))


def test_ping_target_carries_the_warmer_headers() -> None:
    ping = build_ping_target(TargetSpec(name="t", url="http://h/", headers=(("A", "1"),)), 150.0)
    assert ping.headers == (("A", "1"), ("X-Coldbench-Warmer", "1"), ("X-Coldbench-Hold-Ms", "150"))


def test_platform_truth_labels_a_provisioned_first_invocation_warm() -> None:
    sample = Sample(probe_id=1, target="p", scenario="workload", seq=0, started_at="2026-01-01T00:00:00+00:00",
                    latency_ms=3.0, label="cold", label_source="instrumented", invocation_n=1,
                    headers={"x-amzn-RequestId": "r1"})
    truth = {"r1": {"request_id": "r1", "instance_id": "p-1", "cold": False, "invocation_n": 1,
                    "init_ms": None, "duration_ms": 1.2}}
    labelled = apply_truth(sample, truth)
    assert (labelled.label, labelled.label_source, labelled.instance_id) == ("warm", "platform", "p-1")
    assert labelled.billed_ms == 2.0 and labelled.init_ms is None
    assert apply_truth(sample, {}) is sample


def test_outside_the_sandbox_every_strategy_needs_its_own_copy() -> None:
    suite = suite_with('{ name = "ping", type = "ping", interval = "1s" }')
    config = build_warmer_config(suite)
    with pytest.raises(ConfigError, match=r"warmer.strategies\[0\].url: missing"):
        build_live_lanes(suite, config, np.array([1.0]), 10.0, None, {})
    suite = suite_with('{ name = "p", type = "provisioned", count = 1, url = "https://b.invalid/" }')
    suite = dataclasses.replace(suite, tables={**suite.tables, "warmer": {
        **suite.tables["warmer"], "strategies": [{"type": "none", "url": "https://a.invalid/"},
                                                 suite.tables["warmer"]["strategies"][1]]}})
    with pytest.raises(ConfigError, match=r"warmer.strategies\[1\]: provisioned concurrency"):
        build_live_lanes(suite, build_warmer_config(suite), np.array([1.0]), 10.0, None, {})


def test_one_strategy_may_use_the_target_itself() -> None:
    suite = parse_suite(HTTP_SUITE.replace(', STRATEGY', ''), source="s.toml")
    lanes = build_live_lanes(suite, build_warmer_config(suite), np.array([1.0]), 10.0, None, {})
    assert lanes[0].target.url == "https://example.invalid/" and lanes[0].provider is None


def test_budget_refuses_a_too_big_experiment() -> None:
    suite = suite_with('{ name = "ping", type = "ping", interval = "10ms", fan_out = 10 }',
                       "[budget]\nmax_requests = 500\n")
    config, workload, _seed = plan_warm(suite, None)
    with pytest.raises(ConfigError, match="budget.max_requests: the warm experiment plans"):
        check_warm_budget(suite, config, workload)
