"""Latency-only cold/warm classification for black-box endpoints, per target.

Method (model and references in `coldbench.label.mixture`): fit a two-mode mixture to log
*server* time (time to first byte, so TCP/TLS set-up is never read as a cold start; with no
TTFB, latency minus DNS, connect and TLS), its mixing weight rising with the idle gap before
each probe, anchored by calibration probes when the suite has them.

It labels only when the two modes are separable, and says `unknown` otherwise. Separable means:

- Ashman's D >= 2 (Ashman, Bird & Zepf 1994, "Detecting bimodality in astronomical datasets",
  AJ 108:2348): below 2 the two fitted Gaussians merge into one hump;
- a BIC gain >= 10 for two modes over one (Kass & Raftery 1995, "Bayes factors", JASA
  90:773-795: "very strong" evidence);
- the data, not just the fit, have two modes: the dip/excess-mass test rejects a single mode
  at 5% (`coldbench.label.modality`; a flat hump such as an all-cold run passes D and BIC but
  not this), unless the modes lie D >= 5 apart (a handful of far-off cold starts among many
  warm samples is too little mass for any dip test);
- calibration probes (config_update = forced cold; back-to-back probes of a `warm` scenario =
  warm) agree with the fitted modes on >= 90% of them.

Per sample, the posterior must reach `min_confidence` (0.9); between the modes the answer is
`unknown`, never a coin toss presented as fact. Errors are never classified. Targets larger than
`max_fit_samples` are fitted on a seeded subsample and then classified in full.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from coldbench.label.mixture import (
    COLD,
    FREE,
    WARM,
    TwoModeFit,
    compute_posterior_cold,
    fit_two_modes,
)
from coldbench.label.modality import compute_modality_test

SCENARIO_TYPES = ("idle_gap", "burst", "warm", "config_update", "closed", "rate")
_TYPE_NAME_RE = re.compile(r"^(" + "|".join(SCENARIO_TYPES) + r")(?:-\d+)?$")


@dataclass(frozen=True, slots=True)
class HeuristicSettings:
    """Decision thresholds of the latency heuristic (defaults justified in the module doc)."""

    min_samples: int = 10
    min_ashman_d: float = 2.0
    min_bic_gain: float = 10.0
    min_confidence: float = 0.9
    min_calibration_agreement: float = 0.9
    distinct_ashman_d: float = 5.0  # modes this far apart need no modality test (rare colds)
    warm_calibration_max_gap_s: float = 1.0
    use_gap: bool = True
    max_fit_samples: int = 5_000
    seed: int = 0


@dataclass(frozen=True, slots=True)
class TargetModel:
    """What the heuristic concluded about one target: the fit, and whether it labels."""

    target: str
    samples: int
    fit: TwoModeFit | None
    separable: bool
    reason: str  # why it declined; "" when separable
    calibration_cold: int = 0
    calibration_warm: int = 0
    calibration_agreement: float | None = None
    threshold_ms: float | None = None  # where the latency modes are equally likely
    evidence: str = ""  # what shows two modes: "far apart" or "dip"
    excess_mass: float | None = None  # dip-test statistic and its 5% critical value
    excess_mass_critical: float | None = None


def numeric_column(frame: pd.DataFrame, name: str) -> pd.Series:
    """Column `name` as float64 (NaN where missing or not a number; all NaN if absent)."""
    if name not in frame:
        return pd.Series(np.nan, index=frame.index, dtype="float64")
    return pd.to_numeric(frame[name], errors="coerce").astype("float64")


def compute_server_ms(frame: pd.DataFrame) -> pd.Series:
    """Server time per sample: TTFB, else latency minus DNS, connect and TLS (NaN if unusable)."""
    setup = sum((numeric_column(frame, c).fillna(0.0) for c in ("dns_ms", "connect_ms", "tls_ms")),
                pd.Series(0.0, index=frame.index))
    ttfb = numeric_column(frame, "ttfb_ms")
    server = ttfb.where(ttfb > 0, numeric_column(frame, "latency_ms") - setup)
    return server.where(server > 0)


def infer_scenario_types(frame: pd.DataFrame, scenario_types: Mapping[str, str] | None) -> pd.Series:
    """Scenario type per sample: a `scenario_type` column, the mapping, or a default-style name."""
    if "scenario_type" in frame and frame["scenario_type"].notna().any():
        return frame["scenario_type"].astype("object")
    mapping = dict(scenario_types or {})

    def one(name: object) -> object:
        if name in mapping:
            return mapping[name]  # type: ignore[index]
        match = _TYPE_NAME_RE.match(str(name))
        return match.group(1) if match else None

    return frame["scenario"].map(one)


def build_calibration(
    frame: pd.DataFrame,
    scenario_types: Mapping[str, str] | None = None,
    settings: HeuristicSettings | None = None,
) -> pd.Series:
    """Calibration class per sample: 1 forced cold, 0 back-to-back warm, -1 none.

    Forced cold: `config_update` probes (the platform was made to start a new instance).
    Warm: user-phase probes of a `warm` scenario sent within `warm_calibration_max_gap_s` of the
    previous response (the scenario's first, priming probe runs in phase `forcing` and may be
    cold). First-in-burst probes are *not* used: they are cold only if the burst's pause
    outlasted the unknown keep-alive, and a wrong anchor is worse than none.
    """
    settings = settings or HeuristicSettings()
    kinds = infer_scenario_types(frame, scenario_types)
    phase = frame["phase"].fillna("user") if "phase" in frame else pd.Series("user", frame.index)
    gap = numeric_column(frame, "gap_s")
    cold = (kinds == "config_update") & (phase == "user")
    warm = (kinds == "warm") & (phase == "user") & ~(gap > settings.warm_calibration_max_gap_s)
    result = pd.Series(FREE, index=frame.index, dtype="int8")
    result[warm] = WARM
    result[cold] = COLD
    return result


def fit_target(
    target: str,
    server_ms: np.ndarray,
    gap_s: np.ndarray,
    calibration: np.ndarray,
    settings: HeuristicSettings,
) -> TargetModel:
    """Fit one target's samples (eligible ones only) and decide whether the modes separate."""
    n = int(server_ms.size)
    base = TargetModel(
        target, n, None, False, "", calibration_cold=int((calibration == COLD).sum()),
        calibration_warm=int((calibration == WARM).sum()),
    )
    if n < settings.min_samples:
        return dataclasses.replace(base, reason=f"too few samples ({n} < {settings.min_samples})")
    x, gap_log, clamp = _fit_subsample(np.log(server_ms), _log_gap(gap_s, settings), calibration, settings)
    fit = fit_two_modes(x, clamp, gap_log)
    if fit is None:
        return dataclasses.replace(base, reason="fewer than 3 distinct latencies")
    agreement = _calibration_agreement(fit, x, gap_log, clamp)
    model = dataclasses.replace(
        base, fit=fit, calibration_agreement=agreement, threshold_ms=compute_threshold_ms(fit),
        reason=_decline_reason(fit, agreement, settings),
    )
    if model.reason:
        return model
    model = _add_two_mode_evidence(model, fit, x, settings)
    return dataclasses.replace(model, separable=not model.reason)


def _add_two_mode_evidence(
    model: TargetModel, fit: TwoModeFit, x: np.ndarray, settings: HeuristicSettings
) -> TargetModel:
    """Two modes need more than a good two-component fit, which a flat hump also gives.

    Accepted: modes at least `distinct_ashman_d` apart (rare, far-off cold starts, too few for a
    dip), or a dip test rejecting a single mode at 5% (Mueller-Sawitzki excess mass, uniform
    null, so a flat hump, e.g. a run that is all cold starts, is not split in two).
    """
    if fit.ashman_d >= settings.distinct_ashman_d:
        return dataclasses.replace(model, evidence="far apart")
    delta, critical = compute_modality_test(x, seed=settings.seed)
    model = dataclasses.replace(model, excess_mass=delta, excess_mass_critical=critical)
    if delta > critical:
        return dataclasses.replace(model, evidence="dip")
    reason = f"one hump, not two modes (dip statistic {delta:.3f} <= {critical:.3f}, 5% critical)"
    return dataclasses.replace(model, reason=reason)


def _log_gap(gap_s: np.ndarray, settings: HeuristicSettings) -> np.ndarray | None:
    if not settings.use_gap:
        return None
    gap = np.asarray(gap_s, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(gap > 0, np.log(np.maximum(gap, 1e-3)), np.nan)


def _fit_subsample(
    x: np.ndarray, gap_log: np.ndarray | None, clamp: np.ndarray, settings: HeuristicSettings
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """All samples, or (beyond max_fit_samples) every calibration probe plus a seeded draw."""
    if x.size <= settings.max_fit_samples:
        return x, gap_log, clamp
    rng = np.random.default_rng(settings.seed)
    free = np.flatnonzero(clamp == FREE)
    fixed = np.flatnonzero(clamp != FREE)
    budget = max(settings.max_fit_samples - fixed.size, 0)
    chosen = np.sort(np.concatenate([fixed, rng.choice(free, min(budget, free.size), replace=False)]))
    return x[chosen], (gap_log[chosen] if gap_log is not None else None), clamp[chosen]


def _calibration_agreement(
    fit: TwoModeFit, x: np.ndarray, gap_log: np.ndarray | None, clamp: np.ndarray
) -> float | None:
    known = clamp != FREE
    if not known.any():
        return None
    posterior = compute_posterior_cold(fit, x[known], gap_log[known] if gap_log is not None else None)
    return float(np.mean((posterior >= 0.5) == (clamp[known] == COLD)))


def _decline_reason(fit: TwoModeFit, agreement: float | None, settings: HeuristicSettings) -> str:
    if agreement is not None and agreement < settings.min_calibration_agreement:
        return f"calibration probes disagree with the modes ({agreement:.0%} agree)"
    if fit.mean_cold <= fit.mean_warm:
        return "the slower mode is not slower than the faster one"
    if fit.ashman_d < settings.min_ashman_d:
        return f"modes overlap (Ashman's D {fit.ashman_d:.2f} < {settings.min_ashman_d:g})"
    if fit.bic_gain < settings.min_bic_gain:
        return f"no evidence of two modes (BIC gain {fit.bic_gain:.1f} < {settings.min_bic_gain:g})"
    return ""


def compute_threshold_ms(fit: TwoModeFit) -> float:
    """Server time (ms) at which the two latency modes are equally likely (even prior odds)."""
    even = dataclasses.replace(fit, gate_intercept=0.0, gate_slope=0.0)
    low, high = fit.mean_warm, fit.mean_cold
    for _ in range(60):  # bisection: the posterior is monotone between the means
        middle = 0.5 * (low + high)
        if compute_posterior_cold(even, np.array([middle]))[0] >= 0.5:
            high = middle
        else:
            low = middle
    return math.exp(0.5 * (low + high))


def classify_target(
    model: TargetModel, server_ms: np.ndarray, gap_s: np.ndarray, settings: HeuristicSettings
) -> tuple[np.ndarray, np.ndarray]:
    """Labels (cold/warm/unknown) and confidences for one target's eligible samples."""
    size = server_ms.size
    if not model.separable or model.fit is None:
        return np.full(size, "unknown", dtype=object), np.full(size, np.nan)
    posterior = compute_posterior_cold(model.fit, np.log(server_ms), _log_gap(gap_s, settings))
    confidence = np.maximum(posterior, 1.0 - posterior)
    labels = np.where(posterior >= 0.5, "cold", "warm").astype(object)
    labels[confidence < settings.min_confidence] = "unknown"
    return labels, confidence


def classify_frame(
    frame: pd.DataFrame,
    scenario_types: Mapping[str, str] | None = None,
    settings: HeuristicSettings | None = None,
) -> tuple[pd.DataFrame, dict[str, TargetModel]]:
    """Heuristic labels for every sample: columns heuristic_label, heuristic_confidence.

    Returns the two columns (aligned to `frame.index`) and each target's model.
    """
    settings = settings or HeuristicSettings()
    result = pd.DataFrame(
        {"heuristic_label": "unknown", "heuristic_confidence": np.nan}, index=frame.index
    )
    server = compute_server_ms(frame)
    errors = frame["error"].notna() if "error" in frame else pd.Series(False, frame.index)
    eligible = server.notna() & ~errors
    calibration = build_calibration(frame, scenario_types, settings)
    gap = numeric_column(frame, "gap_s")
    models: dict[str, TargetModel] = {}
    for target, rows in frame[eligible].groupby("target", sort=True).groups.items():
        index = pd.Index(rows)
        server_t, gap_t = server[index].to_numpy(), gap[index].to_numpy()
        model = fit_target(str(target), server_t, gap_t, calibration[index].to_numpy(), settings)
        models[str(target)] = model
        labels, confidence = classify_target(model, server_t, gap_t, settings)
        result.loc[index, "heuristic_label"] = labels
        result.loc[index, "heuristic_confidence"] = confidence
    return result, models
