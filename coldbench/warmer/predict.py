"""From a suite's `[warmer.simulate]` table to predictions: curve, service model, simulation.

The curve comes from the experiment itself (`calibrate`: the idle-gap probes of the
calibration lane; `none`: the baseline strategy's user requests, whose idle gaps spread around
the keep-alive when traffic is Poisson) or from outside it (`keep_alive`, `published`, `run`).
The service model (how long invocations keep an instance busy) is measured when a run is at
hand, else taken from the table (or from a trace's mean execution time).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from coldbench.errors import ConfigError
from coldbench.warmer.config import CurveSpec, SimulateSpec, WarmerConfig
from coldbench.warmer.curves import ColdCurve, fit_curve_from_samples, load_configured_curve
from coldbench.warmer.lanes import CALIBRATION
from coldbench.warmer.live import LiveLane
from coldbench.warmer.outcome import StrategyOutcome
from coldbench.warmer.simulator import ServiceModel, simulate_strategy
from coldbench.warmer.workloads import Workload


def resolve_curve(spec: CurveSpec, frame: pd.DataFrame | None,
                  model: str = "isotonic") -> tuple[ColdCurve | None, str]:
    """The P(cold | gap) curve a spec names, and a note when a measured one cannot be fitted."""
    if spec.kind not in ("calibrate", "none"):
        return load_configured_curve(spec.kind, spec.keep_alive_s, spec.path, model), ""
    if frame is None:
        return load_configured_curve(spec.kind), ""
    if spec.kind == "calibrate":
        probes = frame[frame["target"].eq(CALIBRATION) & frame["phase"].eq("user")]
        source = "calibration lane (idle-gap probes)"
    else:
        probes = frame[frame["target"].eq("none") & frame["phase"].eq("user")]
        source = "the none strategy's user requests"
    try:
        return fit_curve_from_samples(probes, source, model), ""
    except ConfigError as exc:
        return None, f"no prediction: {exc}"


def estimate_service_model(frame: pd.DataFrame | None, spec: SimulateSpec,
                           lanes: Sequence[LiveLane], trace_service_ms: float | None = None
                           ) -> ServiceModel:
    """Busy times measured from a run where possible: the platform's own duration and init
    time when it reports them (billed_ms, init_ms), else the client's service time."""
    warm_ms = trace_service_ms if trace_service_ms is not None else spec.warm_ms
    init_ms, ping_ms = spec.init_ms, spec.ping_ms
    if frame is not None and not frame.empty:
        ok = frame[frame["error"].isna() & frame["phase"].eq("user")]
        busy = ok["billed_ms"].fillna(ok["service_ms"]).fillna(ok["latency_ms"])
        warm = busy[ok["label"].eq("warm")].median()
        cold = ok[ok["label"].eq("cold")]
        if np.isfinite(warm):
            warm_ms = float(warm)
        init = cold["init_ms"].median()
        if not np.isfinite(init) and np.isfinite(warm):
            init = busy[ok["label"].eq("cold")].median() - warm_ms
        if np.isfinite(init):
            init_ms = max(0.0, float(init))
        ping_ms = _measured_ping_overhead(frame, lanes, ping_ms)
    ready = [r.seconds_to_ready for lane in lanes for r in lane.provisions
             if r.at_s > 0 and r.count > 0 and r.seconds_to_ready is not None]
    ready_delay = float(np.median(ready)) if ready else spec.ready_delay_s
    return ServiceModel(warm_ms, init_ms, ping_ms, ready_delay)


def _measured_ping_overhead(frame: pd.DataFrame, lanes: Sequence[LiveLane], default: float) -> float:
    """Median warm ping busy time beyond its hold (ms)."""
    overheads = []
    for lane in lanes:
        holds = {a.round: a.hold_ms for a in lane.actions if a.kind == "ping"}
        pings = frame[frame["target"].eq(lane.strategy.name) & frame["phase"].eq("warming")
                      & frame["label"].eq("warm") & frame["error"].isna()]
        if holds and not pings.empty:
            busy = pings["billed_ms"].fillna(pings["latency_ms"])
            overheads += (busy - pings["seq"].map(holds).fillna(0.0)).clip(lower=0.0).tolist()
    return float(np.median(overheads)) if overheads else default


def predict_outcomes(config: WarmerConfig, workload: Workload, curve: ColdCurve,
                     service: ServiceModel, seed: int) -> tuple[list[StrategyOutcome], pd.DataFrame]:
    """Simulated outcomes of every strategy, and each arrival's simulated P(cold)."""
    outcomes, parts = [], []
    for strategy in config.strategies:
        result = simulate_strategy(strategy, workload, curve, service, config.pricing,
                                   config.simulate.replicates, seed)
        outcomes.append(result.outcome)
        parts.append(pd.DataFrame({"strategy": strategy.name, "source": "simulated",
                                   "t_s": np.asarray(workload.arrivals_s, dtype=np.float64),
                                   "cold": result.p_cold_per_arrival}))
    timeline = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=["strategy", "source", "t_s", "cold"])
    return outcomes, timeline


def compare_prediction(measured: StrategyOutcome, simulated: StrategyOutcome,
                       tolerance: float = 0.03) -> tuple[float, bool]:
    """(predicted − measured cold rate, agrees): agrees within `tolerance` (absolute), within one
    request of the measurement (its resolution: 1/n is 3.2 pp at n = 31, so a tighter check
    would turn a single cold start into a disagreement), or inside the measured Wilson interval."""
    difference = simulated.cold_rate - measured.cold_rate
    if math.isnan(difference):
        return difference, False
    inside = measured.cold_low <= simulated.cold_rate <= measured.cold_high
    resolution = 1.0 / measured.user_labelled if measured.user_labelled else 0.0
    return difference, abs(difference) <= max(tolerance, resolution) + 1e-12 or inside
