"""Do the latencies have two modes, or one hump? The dip / excess-mass test of unimodality.

A two-component fit always finds two components, and on a flat or skewed single hump it can
even report them far apart (splitting a uniform distribution in halves gives Ashman's D = 3.5).
Whether the data themselves have two modes is a separate question, answered here with the
excess-mass statistic for two modes (Mueller & Sawitzki 1991, "Excess mass estimates and tests
for multimodality", JASA 86:738-746)::

    E_m(lambda) = max over m disjoint intervals C_j of  sum_j [P_n(C_j) - lambda * |C_j|]
    Delta       = max over lambda of  E_2(lambda) - E_1(lambda)

which is twice Hartigan's dip (Hartigan & Hartigan 1985, "The dip test of unimodality", Ann.
Statist. 13:70-84). As for the dip, the null distribution is the uniform, the least favourable
unimodal law, so a flat hump is not mistaken for two modes. Critical values come from the
table below, simulated with `simulate_null_quantile` (seeded; 2,000 uniform samples per size up
to 300, 1,000 above); beyond 1,000 samples sqrt(n) * Delta is constant to three digits.

Pure numpy; E_1 and E_2 are computed by a Kadane-style scan vectorised over lambda.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

# n -> 95% quantile of Delta for n uniform samples (seed 20261204 + n).
NULL_QUANTILE_95: dict[int, float] = {
    10: 0.28082, 15: 0.2342, 20: 0.2108, 30: 0.17534, 50: 0.14128, 75: 0.11674,
    100: 0.10139, 150: 0.08356, 200: 0.07423, 300: 0.06047, 500: 0.04737, 1000: 0.03342,
}
MAX_TEST_SAMPLES = 2000


def _scan(u: FloatArray, lambdas: FloatArray) -> FloatArray:
    """E_2 - E_1 for each lambda, on sorted points u in [0, 1]."""
    mass = 1.0 / u.size
    gaps = np.diff(u)
    end_one = np.full(lambdas.size, mass)  # best single interval ending at the current point
    best_one = end_one.copy()  # best single interval ending at or before it
    end_two = np.full(lambdas.size, -np.inf)  # best pair whose second interval ends here
    best_two = best_one.copy()
    for gap in gaps:
        cost = lambdas * gap
        end_two = np.maximum(best_one + mass, end_two - cost + mass)
        end_one = np.maximum(mass, end_one - cost + mass)
        best_one = np.maximum(best_one, end_one)
        best_two = np.maximum(best_two, end_two)
    return np.maximum(best_two, best_one) - best_one


def compute_excess_mass(x: FloatArray, grid_points: int = 200, refinements: int = 2) -> float:
    """The two-mode excess-mass difference Delta of `x` (0 for a perfectly unimodal sample).

    The maximum over lambda is found on a log grid, then refined twice around the best point.
    """
    x = np.sort(np.asarray(x, dtype=np.float64))
    x = x[np.isfinite(x)]
    if x.size < 3 or x[-1] == x[0]:
        return 0.0
    u = (x - x[0]) / (x[-1] - x[0])
    lambdas = np.geomspace(0.5, 2.0 * x.size, grid_points)
    delta = _scan(u, lambdas)
    for _ in range(refinements):
        best = int(np.argmax(delta))
        low, high = lambdas[max(best - 1, 0)], lambdas[min(best + 1, lambdas.size - 1)]
        lambdas = np.linspace(low, high, 50)
        delta = _scan(u, lambdas)
    return float(delta.max())


def critical_excess_mass(n: int) -> float:
    """The 5% critical value of Delta for n samples (interpolated in log n on sqrt(n) * Delta)."""
    sizes = sorted(NULL_QUANTILE_95)
    scaled = [math.sqrt(s) * NULL_QUANTILE_95[s] for s in sizes]
    n = max(n, sizes[0])
    if n >= sizes[-1]:
        return scaled[-1] / math.sqrt(n)
    value = float(np.interp(math.log(n), [math.log(s) for s in sizes], scaled))
    return value / math.sqrt(n)


def compute_modality_test(x: FloatArray, *, seed: int = 0) -> tuple[float, float]:
    """(Delta, 5% critical value) for `x`; Delta above the critical value rejects one mode.

    Samples beyond MAX_TEST_SAMPLES are subsampled (seeded) to keep the scan fast.
    """
    x = np.asarray(x, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size > MAX_TEST_SAMPLES:
        x = np.random.default_rng(seed).choice(x, MAX_TEST_SAMPLES, replace=False)
    return compute_excess_mass(x), critical_excess_mass(int(x.size))


def simulate_null_quantile(n: int, quantile: float = 0.95, draws: int = 2000, seed: int = 0) -> float:
    """Quantile of Delta over `draws` uniform samples of size n (how the table was made)."""
    rng = np.random.default_rng(seed)
    values = [compute_excess_mass(rng.uniform(size=n)) for _ in range(draws)]
    return float(np.quantile(values, quantile))
