"""Workloads: Poisson, bursty on/off, and replay of the two Azure trace formats."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from coldbench.errors import ConfigError
from coldbench.warmer.traces import (
    cut_trace,
    load_trace,
    parse_azure2019_trace,
    parse_azure2021_trace,
)
from coldbench.warmer.workloads import (
    WorkloadSpec,
    build_bursty_workload,
    build_poisson_workload,
    build_trace_workload,
    build_workload,
    shift_workload,
)

TRACES = Path(__file__).parent / "data" / "traces"
AZURE2019 = TRACES / "azure2019_example_invocations.csv"
AZURE2021 = TRACES / "azure2021_sample_200.csv"


def test_poisson_workload_is_seeded_with_the_right_rate() -> None:
    one, two = build_poisson_workload(2.0, 500.0, 1), build_poisson_workload(2.0, 500.0, 1)
    assert np.array_equal(one.arrivals_s, two.arrivals_s)
    assert abs(len(one.arrivals_s) - 1000) < 100 and one.arrivals_s.max() < 500.0
    assert not np.array_equal(one.arrivals_s, build_poisson_workload(2.0, 500.0, 2).arrivals_s)


def test_bursty_workload_is_silent_in_off_periods() -> None:
    workload = build_bursty_workload(5.0, on_s=10.0, off_s=20.0, duration_s=90.0, seed=3)
    phase = workload.arrivals_s % 30.0
    assert len(workload.arrivals_s) > 100 and phase.max() < 10.0
    assert np.all(np.diff(workload.arrivals_s) >= 0) and workload.details["periods"] == 3


def test_azure2019_picks_the_busiest_function_and_spreads_minutes() -> None:
    trace = load_trace(AZURE2019, "azure2019", seed=1)
    assert trace.function.startswith("c13acdc7") and trace.trigger == "queue"
    assert len(trace.arrivals_s) == 1150 and trace.span_s == 86400.0
    assert trace.mean_duration_ms == 100.0  # from the durations file beside it
    per_minute = np.bincount((trace.arrivals_s // 60).astype(int), minlength=1440)
    assert per_minute.max() == 5 and np.all(np.diff(trace.arrivals_s) >= 0)


def test_azure2019_selects_by_hash_prefix() -> None:
    trace = load_trace(AZURE2019, "azure2019", function="ae8a1640")
    assert trace.trigger == "timer" and len(trace.arrivals_s) == 1125
    with pytest.raises(ConfigError, match="no function whose hash starts with 'ffff'"):
        load_trace(AZURE2019, "azure2019", function="ffff")


def test_azure2021_arrival_is_end_minus_duration() -> None:
    text = ("app,func,end_timestamp,duration\n"
            "a,f,10.0,2.0\na,f,5.0,1.0\nb,g,3.0,0.5\na,f,20.5,0.5\n")
    trace = parse_azure2021_trace(text)
    assert trace.function == "a/f" and trace.arrivals_s.tolist() == [4.0, 8.0, 20.0]
    assert trace.mean_duration_ms == pytest.approx(1000 * 3.5 / 3)
    assert parse_azure2021_trace(text, function="g").arrivals_s.tolist() == [2.5]


def test_azure2021_sample_loads() -> None:
    trace = load_trace(AZURE2021, "azure2021")
    assert len(trace.arrivals_s) == 32 and 1199 < trace.span_s < 1300
    assert trace.arrivals_s.min() >= 0


def test_wrong_format_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="missing column 'app'"):
        load_trace(AZURE2019, "azure2021")
    with pytest.raises(ConfigError, match="cannot read trace"):
        load_trace(TRACES / "missing.csv", "azure2019")
    with pytest.raises(ConfigError, match="counts must be integers"):
        parse_azure2019_trace("HashOwner,HashApp,HashFunction,Trigger,1\na,b,c,http,x\n")


def test_compression_plays_a_day_in_minutes() -> None:
    trace = load_trace(AZURE2019, "azure2019", seed=1)
    workload = build_trace_workload(trace, compression=360.0)
    assert workload.duration_s == pytest.approx(240.0) and workload.span_s == pytest.approx(86400.0)
    assert np.allclose(workload.arrivals_s * 360.0, trace.arrivals_s)
    assert workload.service_ms == 100.0 and "compressed ×360" in workload.description


def test_cut_trace_rebases_a_window() -> None:
    trace = load_trace(AZURE2019, "azure2019", seed=1)
    part = cut_trace(trace, 3600.0, 7200.0)
    assert part.span_s == 7200.0 and part.arrivals_s.min() >= 0 and part.arrivals_s.max() < 7200.0
    expected = ((trace.arrivals_s >= 3600) & (trace.arrivals_s < 10800)).sum()
    assert len(part.arrivals_s) == expected


def test_build_workload_from_spec_and_warm_up() -> None:
    spec = WorkloadSpec("trace", trace_path=AZURE2019, compression=60.0, span_s=3600.0)
    workload = build_workload(spec, seed=1)
    assert workload.duration_s == pytest.approx(60.0)
    shifted = shift_workload(workload, 5.0)
    assert shifted.duration_s == pytest.approx(65.0)
    assert np.allclose(shifted.arrivals_s, workload.arrivals_s + 5.0)
    assert shifted.details["warmup_s"] == 5.0 and shift_workload(workload, 0.0) is workload
    deployed = shift_workload(dataclasses.replace(workload, deploys_s=(30.0,)), 5.0)
    assert deployed.deploys_s == (30.0,)  # deploys are on the experiment clock already
