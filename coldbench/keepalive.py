"""Cold-start probability as a function of idle gap, and the keep-alive estimate.

Pure functions over numpy arrays; no pandas, no I/O.

Model: logit P(cold | gap) = β0 + β1·log(gap). A platform reclaims an idle instance after some
keep-alive time; across probes that time varies (or the gap is measured with jitter), giving a
sigmoid in the gap. The log scale suits gaps that span seconds to hours, and P(cold) is near 0
for short gaps and near 1 for long ones, so two parameters are enough.

The fit is Firth's penalised maximum likelihood (Jeffreys-prior penalty). Plain maximum
likelihood has no finite answer when the data separate perfectly (every probe below K warm,
every probe above K cold: exactly what a platform with a fixed keep-alive produces); Firth's
estimate stays finite and nearly unbiased. Intervals for the gap at which P(cold) crosses a
level (50% = the keep-alive estimate; also 5% and 95%) are profile penalised-likelihood
intervals (Heinze & Schemper 2002): the set of crossing gaps whose best fit is within the
chi-square(1) cut-off of the overall best. They are asymmetric on the gap scale, remain
meaningful under separation (they span at least the gap between the last warm and first cold
probe), and run open-ended when the data cannot bound a side.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import optimize, special
from scipy import stats as sps

from coldbench.stats import DEFAULT_CONFIDENCE, compute_wilson_interval

MIN_GAP_S = 1e-3  # log scale: gaps below a millisecond are treated as one millisecond
CROSSING_LEVELS = (0.05, 0.5, 0.95)
_LOG_SLOPE_BOUNDS = (-8.0, 12.0)  # slope search range, standardised log-gap units (log b)

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class GapCrossing:
    """The idle gap at which P(cold) crosses `level`, with its interval (seconds)."""

    level: float
    gap_s: float  # NaN when the fit has no increasing relation
    low_s: float  # 0.0 when the data cannot bound it from below
    high_s: float  # inf when the data cannot bound it from above
    extrapolated: bool  # the estimate lies outside the measured gaps


@dataclass(frozen=True, slots=True)
class KeepAliveEstimate:
    """Fitted P(cold | gap) curve and where it crosses 5%, 50% (keep-alive) and 95%."""

    intercept: float  # β0 on log(gap_s)
    slope: float  # β1 on log(gap_s)
    crossings: tuple[GapCrossing, ...]
    n: int
    n_cold: int
    min_gap_s: float
    max_gap_s: float
    confidence: float = DEFAULT_CONFIDENCE
    note: str = ""
    method: str = "Firth logistic on log(gap); profile penalised-likelihood intervals"
    extra: dict[str, float] = field(default_factory=dict)

    def crossing(self, level: float) -> GapCrossing:
        """Return the crossing at `level` (one of 0.05, 0.5, 0.95)."""
        for item in self.crossings:
            if abs(item.level - level) < 1e-9:
                return item
        raise KeyError(level)

    @property
    def keep_alive_s(self) -> float:
        """Gap at which P(cold) reaches 50%."""
        return self.crossing(0.5).gap_s

    @property
    def low_s(self) -> float:
        """Lower end of the keep-alive interval."""
        return self.crossing(0.5).low_s

    @property
    def high_s(self) -> float:
        """Upper end of the keep-alive interval."""
        return self.crossing(0.5).high_s

    def predict_p_cold(self, gaps_s: ArrayLike) -> FloatArray:
        """Fitted P(cold) at each gap (NaN if there is no fit)."""
        x = np.log(np.maximum(np.asarray(gaps_s, dtype=np.float64), MIN_GAP_S))
        return special.expit(self.intercept + self.slope * x)


@dataclass(frozen=True, slots=True)
class BinnedColdProbability:
    """Observed P(cold) per gap bin with Wilson intervals (for plotting the data)."""

    gap_s: FloatArray  # median measured gap in the bin
    gap_low_s: FloatArray
    gap_high_s: FloatArray
    n: NDArray[np.int64]
    n_cold: NDArray[np.int64]
    p: FloatArray
    low: FloatArray
    high: FloatArray


class _PenalisedLogistic:
    """Firth-penalised log-likelihood of a two-parameter logistic model, on standardised x."""

    def __init__(self, x: FloatArray, y: FloatArray) -> None:
        self.x, self.y = x, y

    def value(self, beta0: float, beta1: float) -> float:
        eta = beta0 + beta1 * self.x
        loglik = float(np.sum(self.y * eta - np.logaddexp(0.0, eta)))
        w = special.expit(eta) * special.expit(-eta)
        sw, swx, swxx = w.sum(), (w * self.x).sum(), (w * self.x * self.x).sum()
        det = sw * swxx - swx * swx
        return loglik + 0.5 * float(np.log(max(det, 1e-300)))

    def fit(self) -> tuple[float, float]:
        """Newton iterations on Firth's modified score, with step halving."""
        beta = np.array([special.logit(np.clip(self.y.mean(), 0.02, 0.98)), 0.0])
        current = self.value(*beta)
        design = np.column_stack([np.ones_like(self.x), self.x])
        for _ in range(200):
            p = special.expit(design @ beta)
            w = p * (1 - p)
            info = design.T @ (design * w[:, None])
            inv = np.linalg.pinv(info)
            hat = w * np.einsum("ij,jk,ik->i", design, inv, design)
            step = inv @ (design.T @ (self.y - p + hat * (0.5 - p)))
            for _half in range(40):
                candidate = beta + step
                value = self.value(*candidate)
                if value >= current - 1e-12:
                    break
                step = step / 2
            beta, improvement, current = candidate, value - current, value
            if np.max(np.abs(step)) < 1e-10 or abs(improvement) < 1e-12:
                break
        return float(beta[0]), float(beta[1])

    def profile(self, centre: float, level_logit: float) -> float:
        """Best penalised log-likelihood among fits crossing `level` at standardised x=centre."""
        objective = lambda log_b: -self.value(  # noqa: E731
            level_logit - np.exp(log_b) * centre, np.exp(log_b)
        )
        result = optimize.minimize_scalar(objective, bounds=_LOG_SLOPE_BOUNDS, method="bounded",
                                          options={"xatol": 1e-6})
        return float(-result.fun)


def _prepare(gaps_s: ArrayLike, is_cold: ArrayLike) -> tuple[FloatArray, FloatArray]:
    gaps = np.asarray(gaps_s, dtype=np.float64)
    cold = np.asarray(is_cold, dtype=np.float64)
    keep = np.isfinite(gaps) & np.isfinite(cold)
    return np.maximum(gaps[keep], MIN_GAP_S), cold[keep]


def _crossing_interval(
    model: _PenalisedLogistic, centre: float, best: float, level_logit: float,
    cutoff: float, span: tuple[float, float],
) -> tuple[float, float]:
    """Solve profile deviance = cutoff on each side of `centre` (standardised log gap)."""
    deviance = lambda m: 2 * (best - model.profile(m, level_logit)) - cutoff  # noqa: E731
    ends = []
    for edge in span:
        if deviance(edge) <= 0:
            ends.append(-np.inf if edge < centre else np.inf)
            continue
        if deviance(centre) >= 0:  # optimiser noise at the very centre
            ends.append(centre)
            continue
        ends.append(optimize.brentq(deviance, min(centre, edge), max(centre, edge), xtol=1e-6))
    return ends[0], ends[1]


def compute_keep_alive_estimate(
    gaps_s: ArrayLike, is_cold: ArrayLike, confidence: float = DEFAULT_CONFIDENCE
) -> KeepAliveEstimate:
    """Fit P(cold | idle gap) and estimate where it crosses 5%, 50% (keep-alive) and 95%.

    `gaps_s` are measured idle gaps (seconds) and `is_cold` booleans, one per probe; exclude
    probes with unknown labels or errors before calling. Samples with NaN are ignored.
    """
    gaps, cold = _prepare(gaps_s, is_cold)
    n, n_cold = int(gaps.size), int(cold.sum())
    bounds = (float(gaps.min()) if n else np.nan, float(gaps.max()) if n else np.nan)
    if n_cold == 0 or n_cold == n:
        return _degenerate_estimate(n, n_cold, bounds, confidence)
    log_gap = np.log(gaps)
    mean, sd = float(log_gap.mean()), float(log_gap.std()) or 1.0
    model = _PenalisedLogistic((log_gap - mean) / sd, cold)
    beta0, beta1 = model.fit()
    if beta1 <= 0:
        return _degenerate_estimate(n, n_cold, bounds, confidence, (beta0, beta1, mean, sd))
    best = model.value(beta0, beta1)
    cutoff = float(sps.chi2.ppf(confidence, 1))
    x_min, x_max = float(model.x.min()), float(model.x.max())
    reach = max(x_max - x_min, 1.0)
    crossings = []
    for level in CROSSING_LEVELS:
        level_logit = float(special.logit(level))
        centre = (level_logit - beta0) / beta1
        span = (min(x_min - reach, centre - 1.0), max(x_max + reach, centre + 1.0))
        low, high = _crossing_interval(model, centre, best, level_logit, cutoff, span)
        to_s = lambda z: float(np.exp(mean + sd * z))  # noqa: E731
        crossings.append(GapCrossing(
            level, to_s(centre), to_s(low) if np.isfinite(low) else 0.0,
            to_s(high) if np.isfinite(high) else np.inf, not x_min <= centre <= x_max,
        ))
    return KeepAliveEstimate(
        intercept=beta0 - beta1 * mean / sd,
        slope=beta1 / sd, crossings=tuple(crossings), n=n, n_cold=n_cold,
        min_gap_s=bounds[0], max_gap_s=bounds[1], confidence=confidence,
    )


def _degenerate_estimate(
    n: int, n_cold: int, bounds: tuple[float, float], confidence: float,
    fit: tuple[float, float, float, float] | None = None,
) -> KeepAliveEstimate:
    """No usable curve: all warm, all cold, no data, or P(cold) not rising with the gap."""
    if n == 0:
        note = "no idle-gap samples with a cold/warm label"
    elif n_cold == 0:
        note = f"no cold starts: P(cold) stays below 50% up to the longest gap ({bounds[1]:g} s)"
    elif n_cold == n:
        note = f"every probe was cold: keep-alive is below the shortest gap ({bounds[0]:g} s)"
    else:
        note = "P(cold) does not rise with the idle gap: no keep-alive to estimate"
    nan_crossings = tuple(GapCrossing(lv, np.nan, np.nan, np.nan, False) for lv in CROSSING_LEVELS)
    intercept, slope = np.nan, np.nan
    if fit is not None:
        beta0, beta1, mean, sd = fit
        intercept, slope = beta0 - beta1 * mean / sd, beta1 / sd
    return KeepAliveEstimate(intercept, slope, nan_crossings, n, n_cold, bounds[0], bounds[1],
                             confidence, note)


def compute_binned_cold_probability(
    gaps_s: ArrayLike,
    is_cold: ArrayLike,
    bin_keys: ArrayLike | None = None,
    max_bins: int = 12,
    confidence: float = DEFAULT_CONFIDENCE,
) -> BinnedColdProbability:
    """Observed P(cold) per gap bin with Wilson intervals.

    Bins are the distinct `bin_keys` (e.g. planned gaps) when given, else equal-count bins of
    the measured gaps (at least ~10 probes each, at most `max_bins`).
    """
    gaps, cold = _prepare(gaps_s, is_cold)
    if bin_keys is not None:
        keys = np.asarray(bin_keys, dtype=np.float64)
        keys = keys[np.isfinite(np.asarray(gaps_s, dtype=np.float64))
                    & np.isfinite(np.asarray(is_cold, dtype=np.float64))]
        _uniq, codes = np.unique(np.nan_to_num(keys, nan=-1.0), return_inverse=True)
    else:
        n_bins = int(np.clip(gaps.size // 10, 1, max_bins))
        edges = np.quantile(gaps, np.linspace(0, 1, n_bins + 1)) if gaps.size else np.array([0.0])
        codes = np.clip(np.searchsorted(edges, gaps, side="right") - 1, 0, max(n_bins - 1, 0))
    rows = []
    for code in np.unique(codes):
        member = codes == code
        rows.append((np.median(gaps[member]), gaps[member].min(), gaps[member].max(),
                     int(member.sum()), int(cold[member].sum())))
    rows.sort()
    arr = np.array(rows, dtype=np.float64).reshape(-1, 5)
    n_arr, k_arr = arr[:, 3].astype(np.int64), arr[:, 4].astype(np.int64)
    p, low, high = compute_wilson_interval(k_arr, n_arr, confidence)
    return BinnedColdProbability(arr[:, 0], arr[:, 1], arr[:, 2], n_arr, k_arr, p, low, high)
