"""The latency heuristic: agreement with truth when the modes separate, `unknown` when not."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from label_synthetic import build_frame, build_keepalive_samples, truth_labels

from coldbench.label import build_labels, label_frame
from coldbench.label.heuristic import (
    HeuristicSettings,
    build_calibration,
    classify_frame,
    compute_server_ms,
)
from coldbench.label.mixture import compute_posterior_cold, fit_two_modes
from coldbench.label.modality import compute_modality_test, critical_excess_mass
from coldbench.sample import Sample


def agreement(frame: pd.DataFrame) -> float:
    return float((frame["label"] == truth_labels(frame)).mean())


@pytest.mark.parametrize("seed", range(5))
def test_sandbox_like_run_agrees_with_truth_at_99_percent(seed: int) -> None:
    # keep-alive 5 s, gaps 1/3/8/12 s x 20; warm TTFB ~2 ms, cold 60-200 ms; truth hidden.
    frame = build_frame(build_keepalive_samples(seed=seed))
    hidden = label_frame(frame, hide_truth=True)
    assert agreement(hidden) >= 0.99
    assert set(hidden["label_source"]) <= {"heuristic", "none"}
    assert hidden["instance_id"].isna().all() and hidden["invocation_n"].isna().all()


@pytest.mark.parametrize("seed", range(5))
def test_overlapping_cold_and_warm_latencies_give_unknown(seed: int) -> None:
    # Cold adds 10-60 ms to a 100 ms +-30% warm path: the modes overlap.
    frame = build_frame(build_keepalive_samples(seed=seed, warm_ms=100, warm_sigma=0.3,
                                                cold_extra_ms=(10, 60)))
    result = build_labels(frame, hide_truth=True)
    assert (result.frame["label"] == "unknown").all()
    assert (result.frame["label_source"] == "none").all()
    assert not result.models["fn"].separable and result.models["fn"].reason


@pytest.mark.parametrize("seed", [0, 1, 2, 7, 12])
def test_all_cold_run_is_not_split_in_two(seed: int) -> None:
    # Every gap outlasts the keep-alive: one flat hump of cold starts, no warm mode.
    frame = build_frame(build_keepalive_samples(seed=seed, gaps_s=(6, 8, 10, 12)))
    result = build_labels(frame, hide_truth=True)
    assert (result.frame["label"] == "unknown").all()
    assert not result.models["fn"].separable


def test_a_flat_hump_that_fits_two_modes_is_stopped_by_the_dip_test() -> None:
    frame = build_frame(build_keepalive_samples(seed=7, gaps_s=(6, 8, 10, 12)))
    model = build_labels(frame, hide_truth=True).models["fn"]
    assert model.fit is not None and model.fit.ashman_d >= 2 and model.fit.bic_gain >= 10
    assert "one hump" in model.reason


def test_connection_setup_is_not_mistaken_for_a_cold_start() -> None:
    # Fresh TLS handshakes of 50-150 ms on every probe: total latency looks cold, TTFB does not.
    frame = build_frame(build_keepalive_samples(seed=3, tls_ms=(50, 150)))
    assert agreement(label_frame(frame, hide_truth=True)) >= 0.99


def test_server_time_falls_back_to_latency_minus_setup() -> None:
    frame = build_frame([
        Sample(probe_id=0, target="t", scenario="s", seq=0, started_at="2026-01-01T00:00:00+00:00",
               latency_ms=120.0, dns_ms=5.0, connect_ms=10.0, tls_ms=25.0),
        Sample(probe_id=1, target="t", scenario="s", seq=1, started_at="2026-01-01T00:00:01+00:00",
               latency_ms=120.0, ttfb_ms=70.0, connect_ms=10.0),
        Sample(probe_id=2, target="t", scenario="s", seq=2, started_at="2026-01-01T00:00:02+00:00",
               latency_ms=5.0, connect_ms=10.0),
    ])
    assert compute_server_ms(frame).tolist()[:2] == [80.0, 70.0]
    assert np.isnan(compute_server_ms(frame).iloc[2])


def test_errors_are_never_classified_by_the_heuristic() -> None:
    samples = build_keepalive_samples(seed=2)
    samples = [dataclasses.replace(s, error="http_5xx", status=503, headers={}) if s.seq % 10 == 0 else s
               for s in samples]
    labelled = label_frame(build_frame(samples))
    errors = labelled[labelled["error"].notna()]
    assert len(errors) > 0
    assert (errors["heuristic_label"] == "unknown").all()
    assert (errors["label"] == "unknown").all() and (errors["label_source"] == "none").all()


def test_rare_far_off_cold_starts_are_still_found() -> None:
    # Only the priming probe is cold: too little mass for a dip test, but 50x slower.
    frame = build_frame(build_keepalive_samples(seed=4, gaps_s=(1, 2, 3, 4)))
    hidden = label_frame(frame, hide_truth=True)
    assert agreement(hidden) == 1.0 and (hidden["label"] == "cold").sum() == 1


def test_too_few_samples_decline() -> None:
    frame = build_frame(build_keepalive_samples(gaps_s=(1, 8), repetitions=2))
    result = build_labels(frame, hide_truth=True)
    assert "too few samples" in result.models["fn"].reason


def test_calibration_probes_anchor_the_modes() -> None:
    user = build_keepalive_samples(seed=5)
    forced = build_keepalive_samples(seed=6, gaps_s=(9.0,), repetitions=8, scenario="force",
                                     probe_offset=1000)
    warm = build_keepalive_samples(seed=7, gaps_s=(0.01,), repetitions=8, scenario="b2b",
                                   probe_offset=2000)
    frame = build_frame(user + forced[1:] + warm[1:])
    types = {"force": "config_update", "b2b": "warm", "idle_gap-0": "idle_gap"}
    calibration = build_calibration(frame, types)
    assert (calibration == 1).sum() == 8 and (calibration == 0).sum() == 8
    result = build_labels(frame, hide_truth=True, scenario_types=types)
    model = result.models["fn"]
    assert model.calibration_cold == 8 and model.calibration_warm == 8
    assert model.calibration_agreement == 1.0 and model.separable
    assert agreement(result.frame) >= 0.99


def test_calibration_that_contradicts_the_modes_declines() -> None:
    # "Forced cold" probes that were in fact warm (the force action failed).
    user = build_keepalive_samples(seed=5)
    failed = build_keepalive_samples(seed=6, gaps_s=(0.5,), repetitions=30, scenario="force",
                                     probe_offset=1000)
    frame = build_frame(user + failed[1:])
    result = build_labels(frame, hide_truth=True, scenario_types={"force": "config_update"})
    assert not result.models["fn"].separable
    assert "calibration" in result.models["fn"].reason


def test_default_scenario_names_reveal_their_type() -> None:
    frame = build_frame(build_keepalive_samples(scenario="config_update-2", repetitions=3))
    assert (build_calibration(frame) == 1).all()
    frame = build_frame(build_keepalive_samples(scenario="my-scenario", repetitions=3))
    assert (build_calibration(frame) == -1).all()


def test_heuristic_is_deterministic_and_order_independent() -> None:
    frame = build_frame(build_keepalive_samples(seed=8))
    first, _ = classify_frame(frame)
    shuffled = frame.sample(frac=1.0, random_state=3)
    second, _ = classify_frame(shuffled)
    pd.testing.assert_frame_equal(first, second.loc[first.index])


@settings(max_examples=15, deadline=None)
@given(scale=st.floats(0.01, 100.0), seed=st.integers(0, 50))
def test_labels_do_not_depend_on_the_unit_of_time(scale: float, seed: int) -> None:
    frame = build_frame(build_keepalive_samples(seed=seed, repetitions=6))
    scaled = frame.copy()
    for column in ("latency_ms", "ttfb_ms", "connect_ms", "transfer_ms"):
        scaled[column] = scaled[column] * scale
    base, _ = classify_frame(frame)
    other, _ = classify_frame(scaled)
    assert (base["heuristic_label"] == other["heuristic_label"]).all()


def test_posterior_is_monotone_in_latency() -> None:
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(1.0, 0.1, 60), rng.normal(4.5, 0.6, 40)])
    fit = fit_two_modes(x)
    assert fit is not None
    grid = np.linspace(-5, 10, 500)
    posterior = compute_posterior_cold(fit, grid)
    assert np.all(np.diff(posterior) >= -1e-12)
    assert posterior[0] < 0.01 and posterior[-1] > 0.99  # a very fast sample is never cold


def test_modality_test_separates_one_hump_from_two() -> None:
    rng = np.random.default_rng(1)
    delta, critical = compute_modality_test(rng.uniform(size=200))
    assert delta <= critical
    two = np.concatenate([rng.normal(0, 1, 100), rng.normal(6, 1, 100)])
    delta, critical = compute_modality_test(two)
    assert delta > 2 * critical
    assert critical_excess_mass(100) == pytest.approx(0.10139)
    assert critical_excess_mass(5000) < critical_excess_mass(1000)


def test_settings_can_switch_off_the_idle_gap() -> None:
    frame = build_frame(build_keepalive_samples(seed=9))
    _, models = classify_frame(frame, settings=HeuristicSettings(use_gap=False))
    assert models["fn"].fit is not None and models["fn"].fit.gate_slope == 0.0
    assert models["fn"].separable
