"""A two-mode mixture on log latency, fitted by (semi-supervised) EM. Pure numpy.

Model, per sample i with server time x_i (log ms) and idle gap g_i (log s, optional)::

    P(cold_i)          = sigmoid(a + b * z_i),  z_i = standardised g_i,  b >= 0
    x_i | warm         ~ Normal(mean_warm, sd_warm)
    x_i | cold         ~ Normal(mean_cold, sd_cold),  sd_cold >= sd_warm

- The mixing weight may depend on the idle gap: a concomitant-variable mixture (Dayton &
  Macready 1988, "Concomitant-variable latent-class models", JASA 83:173-178), the gate being
  the logistic "mixture of experts" of Jacobs et al. 1991. The slope is constrained to b >= 0
  (an instance idle longer is never *less* likely to have been reclaimed) and shrunk by a
  N(0, 1/gate_ridge) prior, so the gap only tips samples whose latency is ambiguous; with no
  gap variation the model is the plain two-component mixture.
- sd_cold >= sd_warm: a cold start is the warm path plus initialisation, which only adds
  spread. Unconstrained maximum likelihood tends to carve a tight cluster out of a multimodal
  cold tail instead (on Shilkov's AWS data: a confident, wrong split with 28% agreement).
- Samples of known class (calibration probes) keep their responsibility fixed at 0 or 1, the
  usual EM treatment of partly labelled data (Nigam, McCallum, Thrun & Mitchell 2000, Machine
  Learning 39:103-134); they are left out of the gate, as their gaps were not chosen by idling.

Starts are deterministic (the optimal two-means split and fixed quantile splits), so the same
input always gives the same fit; there is no random state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
ClampArray = npt.NDArray[np.int8]  # -1 free, 0 known warm, 1 known cold

FREE, WARM, COLD = -1, 0, 1
_START_QUANTILES = (0.25, 0.5, 0.75)
_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


@dataclass(frozen=True, slots=True)
class TwoModeFit:
    """A fitted two-mode model on log(ms), with its logistic gate on standardised log gap."""

    n: int
    weight_cold: float  # average prior P(cold) over the fitted samples
    mean_warm: float
    sd_warm: float
    mean_cold: float
    sd_cold: float
    gate_intercept: float
    gate_slope: float  # per standard deviation of log gap; 0 when no gap information
    gap_center: float
    gap_scale: float
    log_likelihood: float  # of all samples under the mixture (clamps ignored)
    one_mode_log_likelihood: float  # of all samples under a single Gaussian
    parameters: int  # free parameters of the mixture (5, or 6 with a gate slope)

    @property
    def ashman_d(self) -> float:
        """Ashman's D: mode separation in units of pooled spread; D > 2 means clean bimodality."""
        spread = math.sqrt(self.sd_warm**2 + self.sd_cold**2)
        return math.sqrt(2.0) * abs(self.mean_cold - self.mean_warm) / spread

    @property
    def bic_gain(self) -> float:
        """BIC(one mode) - BIC(two modes); > 10 is very strong evidence for two (Kass-Raftery)."""
        extra = self.parameters - 2
        return 2.0 * (self.log_likelihood - self.one_mode_log_likelihood) - extra * math.log(self.n)

    @property
    def overlap(self) -> float:
        """Bayes error of the latency modes alone: the share a latency rule must misclassify."""
        return compute_overlap(self)


def _log_normal_pdf(x: FloatArray, mean: float, sd: float) -> FloatArray:
    z = (x - mean) / sd
    return -0.5 * z * z - math.log(sd) - _LOG_SQRT_2PI


def _log_sigmoid(eta: FloatArray) -> FloatArray:
    return -np.logaddexp(0.0, -eta)


def standardise_gap(fit: TwoModeFit, gap_log: FloatArray | None, size: int) -> FloatArray:
    """Standardise log gaps as the fit did; missing gaps sit at the centre (no gate effect)."""
    if gap_log is None:
        return np.zeros(size)
    z = (np.asarray(gap_log, dtype=np.float64) - fit.gap_center) / fit.gap_scale
    return np.where(np.isfinite(z), z, 0.0)


def compute_posterior_cold(
    fit: TwoModeFit, x: FloatArray, gap_log: FloatArray | None = None
) -> FloatArray:
    """P(cold | x, gap) under `fit`, monotone in x.

    With unequal spreads the wider Gaussian wins in *both* tails, which would call a very fast
    sample cold. Between the two means the log-odds are monotone (the quadratic's vertex lies
    outside them), so clipping x into [mean_warm, mean_cold] gives a monotone rule.
    """
    x = np.asarray(x, dtype=np.float64)
    low, high = sorted((fit.mean_warm, fit.mean_cold))
    clipped = np.clip(x, low, high)
    eta = fit.gate_intercept + fit.gate_slope * standardise_gap(fit, gap_log, x.size)
    log_odds = (
        eta
        + _log_normal_pdf(clipped, fit.mean_cold, fit.sd_cold)
        - _log_normal_pdf(clipped, fit.mean_warm, fit.sd_warm)
    )
    return np.asarray(1.0 / (1.0 + np.exp(-np.clip(log_odds, -700.0, 700.0))))


def compute_overlap(fit: TwoModeFit, points: int = 4001) -> float:
    """Integrate min(w0 f0, w1 f1) numerically, with the average mixing weight."""
    low = min(fit.mean_warm - 8 * fit.sd_warm, fit.mean_cold - 8 * fit.sd_cold)
    high = max(fit.mean_warm + 8 * fit.sd_warm, fit.mean_cold + 8 * fit.sd_cold)
    grid = np.linspace(low, high, points)
    weight = min(max(fit.weight_cold, 1e-12), 1 - 1e-12)
    warm = math.log(1 - weight) + _log_normal_pdf(grid, fit.mean_warm, fit.sd_warm)
    cold = math.log(weight) + _log_normal_pdf(grid, fit.mean_cold, fit.sd_cold)
    return float(np.sum(np.exp(np.minimum(warm, cold))) * (grid[1] - grid[0]))


def find_two_means_split(sorted_x: FloatArray) -> float:
    """The threshold maximising between-class variance (exact 1-D two-means, Otsu's method)."""
    n = sorted_x.size
    counts = np.arange(1, n, dtype=np.float64)
    sums = np.cumsum(sorted_x)[:-1]
    between = counts * (n - counts) * (sums / counts - (sorted_x.sum() - sums) / (n - counts)) ** 2
    i = int(np.argmax(between))
    return float(0.5 * (sorted_x[i] + sorted_x[i + 1]))


def fit_gate(
    z: FloatArray, r_cold: FloatArray, start: tuple[float, float], ridge: float
) -> tuple[float, float]:
    """Weighted logistic regression of responsibilities on z (Newton), slope >= 0, ridge prior."""
    design = np.column_stack([np.ones_like(z), z])
    penalty = np.diag([1e-6, ridge])
    beta = np.array(start, dtype=np.float64)
    for _ in range(8):  # warm-started by the caller: a few Newton steps suffice (generalised EM)
        p = 1.0 / (1.0 + np.exp(-np.clip(design @ beta, -700, 700)))
        gradient = design.T @ (r_cold - p) - penalty @ beta
        hessian = design.T @ (design * (p * (1 - p))[:, None]) + penalty
        step = np.linalg.solve(hessian, gradient)
        beta = beta + step
        if float(np.max(np.abs(step))) < 1e-8:
            break
    if beta[1] < 0 or not np.all(np.isfinite(beta)):
        share = min(max(float(r_cold.mean()), 1e-9), 1 - 1e-9)
        return math.log(share / (1 - share)), 0.0
    return float(beta[0]), float(beta[1])


@dataclass(frozen=True, slots=True)
class _Inputs:
    x: FloatArray
    clamp: ClampArray
    z: FloatArray
    gated: bool
    sd_floor: float
    gate_ridge: float
    max_iter: int
    tolerance: float = 1e-7  # nats per sample


def _m_step(inputs: _Inputs, r_cold: FloatArray) -> tuple[float, float, float, float] | None:
    x = inputs.x
    n_cold = float(r_cold.sum())
    n_warm = float(x.size - n_cold)
    if n_cold < 1e-6 or n_warm < 1e-6:
        return None
    mean_cold = float(np.dot(r_cold, x) / n_cold)
    mean_warm = float(np.dot(1.0 - r_cold, x) / n_warm)
    var_cold = float(np.dot(r_cold, (x - mean_cold) ** 2) / n_cold)
    var_warm = float(np.dot(1.0 - r_cold, (x - mean_warm) ** 2) / n_warm)
    if var_cold < var_warm:  # constrained optimum lies on the boundary: one pooled spread
        var_cold = var_warm = (var_cold * n_cold + var_warm * n_warm) / x.size
    floor = inputs.sd_floor
    return mean_warm, max(math.sqrt(var_warm), floor), mean_cold, max(math.sqrt(var_cold), floor)


def _run_em(inputs: _Inputs, r_cold: FloatArray) -> tuple[tuple[float, ...], float] | None:
    known = inputs.clamp >= 0
    free = ~known
    x_size = inputs.x.size
    gate = (0.0, 0.0)
    objective = -math.inf
    params: tuple[float, ...] = ()
    for _ in range(inputs.max_iter):
        r_cold = np.where(known, inputs.clamp.astype(np.float64), r_cold)
        moments = _m_step(inputs, r_cold)
        if moments is None:
            return None
        fit_z = inputs.z[free] if inputs.gated else np.zeros(int(free.sum()))
        gate = fit_gate(fit_z, r_cold[free], gate, inputs.gate_ridge) if free.any() else gate
        eta = gate[0] + gate[1] * inputs.z
        warm = _log_sigmoid(-eta) + _log_normal_pdf(inputs.x, moments[0], moments[1])
        cold = _log_sigmoid(eta) + _log_normal_pdf(inputs.x, moments[2], moments[3])
        total = np.logaddexp(warm, cold)
        r_cold = np.exp(cold - total)
        params = (*moments, *gate)
        new_objective = float(np.sum(np.where(known, np.where(inputs.clamp == 1, cold, warm), total)))
        converged = abs(new_objective - objective) < inputs.tolerance * x_size
        objective = new_objective
        if converged:
            break
    return params, objective


def fit_two_modes(
    x: FloatArray,
    clamp: ClampArray | None = None,
    gap_log: FloatArray | None = None,
    *,
    sd_floor: float = 0.02,
    gate_ridge: float = 1.0,
    max_iter: int = 300,
) -> TwoModeFit | None:
    """Fit the two-mode model to `x` (log ms); None when fewer than 3 distinct values.

    `clamp` marks calibration samples (0 warm, 1 cold, -1 unknown); `gap_log` is each sample's
    log idle gap (NaN when unknown). `sd_floor` (log units, 2%) keeps a mode from collapsing
    onto one value, which would make the likelihood unbounded.
    """
    x = np.asarray(x, dtype=np.float64)
    clamp = np.full(x.size, FREE, np.int8) if clamp is None else np.asarray(clamp, np.int8)
    if np.unique(x).size < 3:
        return None
    center, scale, z = _standardise(gap_log, clamp, x.size)
    inputs = _Inputs(x, clamp, z, scale > 0, sd_floor, gate_ridge, max_iter)
    sorted_x = np.sort(x)
    thresholds = [find_two_means_split(sorted_x)]
    thresholds += [float(np.quantile(sorted_x, q)) for q in _START_QUANTILES]
    if (clamp == COLD).any() and (clamp == WARM).any():
        thresholds.append(0.5 * float(x[clamp == COLD].mean() + x[clamp == WARM].mean()))
    best: tuple[tuple[float, ...], float] | None = None
    for threshold in thresholds:
        result = _run_em(inputs, (x > threshold).astype(np.float64))
        if result is not None and (best is None or result[1] > best[1]):
            best = result
    if best is None:
        return None
    return _build_fit(inputs, best[0], center, scale or 1.0)


def _standardise(
    gap_log: FloatArray | None, clamp: ClampArray, size: int
) -> tuple[float, float, FloatArray]:
    if gap_log is None:
        return 0.0, 0.0, np.zeros(size)
    g = np.asarray(gap_log, dtype=np.float64)
    usable = np.isfinite(g) & (clamp < 0)
    if usable.sum() < 3 or float(np.std(g[usable])) < 1e-9:
        return 0.0, 0.0, np.zeros(size)
    center, scale = float(np.mean(g[usable])), float(np.std(g[usable]))
    z = (g - center) / scale
    return center, scale, np.where(np.isfinite(z), z, 0.0)


def _build_fit(
    inputs: _Inputs, params: tuple[float, ...], center: float, scale: float
) -> TwoModeFit:
    mean_warm, sd_warm, mean_cold, sd_cold, intercept, slope = params
    x = inputs.x
    eta = intercept + slope * inputs.z
    log_likelihood = float(np.sum(np.logaddexp(
        _log_sigmoid(-eta) + _log_normal_pdf(x, mean_warm, sd_warm),
        _log_sigmoid(eta) + _log_normal_pdf(x, mean_cold, sd_cold),
    )))
    sd_one = max(float(x.std()), inputs.sd_floor)
    one_mode = float(np.sum(_log_normal_pdf(x, float(x.mean()), sd_one)))
    return TwoModeFit(
        n=int(x.size), weight_cold=float(np.mean(1 / (1 + np.exp(-eta)))),
        mean_warm=mean_warm, sd_warm=sd_warm, mean_cold=mean_cold, sd_cold=sd_cold,
        gate_intercept=intercept, gate_slope=slope, gap_center=center, gap_scale=scale,
        log_likelihood=log_likelihood, one_mode_log_likelihood=one_mode,
        parameters=6 if inputs.gated else 5,
    )
