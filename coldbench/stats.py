"""Latency statistics: percentiles with confidence intervals, Wilson proportions, cold penalty.

Pure functions over numpy arrays; no pandas, no I/O, no clock.

Percentiles are *order statistics*: the reported p-th percentile of n samples is the
ceil(p·n)-th smallest observed latency (Hyndman–Fan type 1), never an interpolation between
two samples, so every number in a report is a latency that was actually measured.

Confidence intervals for a percentile are distribution-free order-statistic intervals: the
number of samples below the true quantile ξ_q is Binomial(n, q), so the pair of order
statistics (x_(l), x_(u)) with P(l ≤ B ≤ u-1) ≥ 1-α covers ξ_q with at least that probability
for any continuous distribution. We chose them over a bootstrap because they are exact (no
resampling noise, coverage ≥ nominal at every n), deterministic, and cost one partial sort,
which keeps summaries of ten million samples within seconds. They also say plainly when a
sample cannot support a percentile: if u would exceed n (p99 from 30 samples), the interval
has no upper end and the estimate is flagged `supported=False`.

Differences and ratios of percentiles from two samples (the cold penalty, serverless vs
container) use a seeded bootstrap that is exact and vectorised: the k-th order statistic of a
resample of n sorted values is x_(ceil(n·U)) with U ~ Beta(k, n-k+1), so each replicate costs
two Beta draws instead of a resample of n values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special
from scipy import stats as sps

# (column key, quantile, display name); q = 1.0 is the sample maximum (no interval exists).
PERCENTILES: tuple[tuple[str, float, str], ...] = (
    ("p50", 0.50, "p50"),
    ("p90", 0.90, "p90"),
    ("p95", 0.95, "p95"),
    ("p99", 0.99, "p99"),
    ("p99_9", 0.999, "p99.9"),
    ("max", 1.0, "max"),
)
DEFAULT_QS: tuple[float, ...] = tuple(q for _key, q, _display in PERCENTILES)
DEFAULT_CONFIDENCE = 0.95
DEFAULT_BOOTSTRAP_REPLICATES = 4000
DEFAULT_SEED = 20210611

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class PercentileEstimate:
    """One percentile of one sample: value, interval, sample count, and whether n supports it."""

    q: float
    value: float  # NaN when n == 0
    low: float  # -inf/NaN when the sample cannot bound it from below
    high: float  # +inf when the sample cannot bound it from above
    n: int
    supported: bool  # False: the interval runs off the sample (too few samples for this q)
    confidence: float = DEFAULT_CONFIDENCE


@dataclass(frozen=True, slots=True)
class ProportionEstimate:
    """A proportion k/n with its Wilson score interval."""

    successes: int
    n: int
    p: float
    low: float
    high: float


@dataclass(frozen=True, slots=True)
class QuantileContrast:
    """A difference (a - b) or ratio (a / b) of the q-quantiles of two samples, with interval."""

    q: float
    value: float
    low: float
    high: float
    n_a: int
    n_b: int
    supported: bool  # both quantiles supported by their samples


def compute_order_statistic_ranks(
    n: ArrayLike, q: float, confidence: float = DEFAULT_CONFIDENCE
) -> tuple[IntArray, IntArray, IntArray]:
    """Return 1-based ranks (point, low, high) of the q-quantile estimate and its interval.

    Vectorised over `n`. A low rank < 1 or a high rank > n means the sample cannot bound the
    quantile on that side. For q == 1 (the maximum) low and high equal the point rank.
    """
    n_arr = np.asarray(n, dtype=np.int64)
    point = np.clip(np.ceil(q * n_arr - 1e-9).astype(np.int64), 1, np.maximum(n_arr, 1))
    if q >= 1.0:
        return point, point.copy(), point.copy()
    low, high = _equal_tailed_ranks(n_arr, q, 1.0 - confidence)
    low, high = _shrink_ranks(n_arr, q, 1.0 - confidence, low, high)
    return point, low, high


def _equal_tailed_ranks(n: IntArray, q: float, alpha: float) -> tuple[IntArray, IntArray]:
    # B = #samples below the true quantile ~ Binomial(n, q); the interval [x_(l), x_(u)]
    # covers it when l <= B <= u-1. Equal tails: P(B <= l-1) <= alpha/2, P(B >= u) <= alpha/2.
    low = sps.binom.ppf(alpha / 2, n, q)
    low = np.where(sps.binom.cdf(low, n, q) <= alpha / 2, low + 1, low)
    high = sps.binom.ppf(1 - alpha / 2, n, q) + 1
    return np.nan_to_num(low, nan=0).astype(np.int64), np.nan_to_num(high).astype(np.int64)


def _shrink_ranks(
    n: IntArray, q: float, alpha: float, low: IntArray, high: IntArray
) -> tuple[IntArray, IntArray]:
    # Equal tails waste coverage through discreteness (p99 from 200 samples covers 98.4%).
    # Pull in whichever end costs less mass while total miss stays <= alpha: coverage stays
    # >= nominal and lands within ~2 points of it. A side that is off the sample stays off.
    cdf = sps.binom.cdf
    for _ in range(64):
        miss_low, miss_high = cdf(low - 1, n, q), 1 - cdf(high - 1, n, q)
        next_low, next_high = cdf(low, n, q), 1 - cdf(high - 2, n, q)
        can_low = (next_low + miss_high <= alpha) & (low + 1 < high) & (low >= 1)
        can_high = (miss_low + next_high <= alpha) & (high - 1 > low) & (high <= n)
        pick_low = can_low & (~can_high | (next_low - miss_low <= next_high - miss_high))
        pick_high = can_high & ~pick_low
        if not (pick_low.any() or pick_high.any()):
            break
        low, high = low + pick_low, high - pick_high
    return low, high


def compute_interval_coverage(n: int, q: float, confidence: float = DEFAULT_CONFIDENCE) -> float:
    """Exact coverage probability of the order-statistic interval for the q-quantile at n."""
    _point, low, high = compute_order_statistic_ranks(np.array([n]), q, confidence)
    lo, hi = int(low[0]), int(high[0])
    return float(sps.binom.cdf(hi - 1, n, q) - sps.binom.cdf(lo - 1, n, q))


def compute_min_supported_n(q: float, confidence: float = DEFAULT_CONFIDENCE) -> int:
    """Smallest sample count whose order-statistic interval for the q-quantile is two-sided."""
    if q >= 1.0:
        return 1
    start = 1
    while start < 10**9:
        n = np.arange(start, start * 4 + 64, dtype=np.int64)
        _p, low, high = compute_order_statistic_ranks(n, q, confidence)
        ok = np.flatnonzero((low >= 1) & (high <= n))
        if ok.size:
            return int(n[ok[0]])
        start = int(n[-1]) + 1
    return start


def select_order_statistics(sorted_values: FloatArray, ranks: IntArray) -> FloatArray:
    """Return sorted_values[rank-1], NaN where a 1-based rank is below 1 (or +inf above n)."""
    n = sorted_values.shape[0]
    out = np.full(ranks.shape, np.nan)
    inside = (ranks >= 1) & (ranks <= n)
    out[inside] = sorted_values[ranks[inside] - 1]
    out[ranks > n] = np.inf
    out[ranks < 1] = -np.inf if n else np.nan
    return out


def compute_percentile(
    values: ArrayLike, q: float, confidence: float = DEFAULT_CONFIDENCE
) -> PercentileEstimate:
    """Return the q-quantile of `values` (NaNs dropped) with its order-statistic interval."""
    return compute_percentiles(values, (q,), confidence)[0]


def compute_percentiles(
    values: ArrayLike,
    qs: tuple[float, ...] = DEFAULT_QS,
    confidence: float = DEFAULT_CONFIDENCE,
) -> list[PercentileEstimate]:
    """Return one PercentileEstimate per q for a single sample (NaNs dropped)."""
    data = np.asarray(values, dtype=np.float64)
    data = np.sort(data[~np.isnan(data)])
    n = data.shape[0]
    results = []
    for q in qs:
        if n == 0:
            results.append(PercentileEstimate(q, np.nan, np.nan, np.nan, 0, False, confidence))
            continue
        ranks = compute_order_statistic_ranks(np.array([n]), q, confidence)
        point, low, high = (float(select_order_statistics(data, r)[0]) for r in ranks)
        if q >= 1.0:
            low = high = np.nan
        supported = bool(q >= 1.0 or (ranks[1][0] >= 1 and ranks[2][0] <= n))
        results.append(PercentileEstimate(q, point, low, high, n, supported, confidence))
    return results


def compute_grouped_percentiles(
    values: FloatArray,
    group_codes: IntArray,
    n_groups: int,
    qs: tuple[float, ...],
    confidence: float = DEFAULT_CONFIDENCE,
) -> dict[str, FloatArray]:
    """Percentiles with intervals for many groups at once (the fast path for big runs).

    `values` are latencies (NaN = excluded), `group_codes` in [0, n_groups). Returns arrays of
    length n_groups: "n", and for each q index i: "value_i", "low_i", "high_i", "supported_i".
    Cost: one stable sort of the codes plus one partition per group.
    """
    # Excluded (NaN) values go to an extra group that is never read. One stable sort by code
    # (radix sort when codes fit 16 bits) lays every group out contiguously.
    codes = np.where(np.isnan(values), n_groups, group_codes)
    codes = codes.astype(np.uint16 if n_groups < 2**16 - 1 else np.int64)
    order = np.argsort(codes, kind="stable")
    vals = values[order]
    counts = np.bincount(codes, minlength=n_groups + 1)[:n_groups].astype(np.int64)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    rank_sets = [compute_order_statistic_ranks(counts, q, confidence) for q in qs]
    out: dict[str, FloatArray] = {"n": counts.astype(np.float64)}
    picked = {(i, j): np.full(n_groups, np.nan) for i in range(len(qs)) for j in range(3)}
    for g in np.flatnonzero(counts):
        n = int(counts[g])
        chunk = vals[starts[g] : starts[g] + n]
        wanted = {int(r[j][g]) for r in rank_sets for j in range(3)}
        kth = sorted(k - 1 for k in wanted if 1 <= k <= n)
        part = np.partition(chunk, kth) if kth else chunk
        for i, ranks in enumerate(rank_sets):
            for j in range(3):
                k = int(ranks[j][g])
                picked[i, j][g] = part[k - 1] if 1 <= k <= n else (np.inf if k > n else -np.inf)
    for i, q in enumerate(qs):
        low_ok = rank_sets[i][1] >= 1
        high_ok = rank_sets[i][2] <= counts
        out[f"value_{i}"] = picked[i, 0]
        out[f"low_{i}"] = picked[i, 1] if q < 1 else np.full(n_groups, np.nan)
        out[f"high_{i}"] = picked[i, 2] if q < 1 else np.full(n_groups, np.nan)
        supported = (counts > 0) & (low_ok & high_ok if q < 1 else True)
        out[f"supported_{i}"] = supported.astype(np.float64)
    return out


def compute_wilson_interval(
    successes: ArrayLike, n: ArrayLike, confidence: float = DEFAULT_CONFIDENCE
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Return (p, low, high) Wilson score intervals, vectorised; NaN where n == 0."""
    k = np.asarray(successes, dtype=np.float64)
    total = np.asarray(n, dtype=np.float64)
    z = special.ndtri(0.5 + confidence / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / total
        denom = 1 + z**2 / total
        centre = (p + z**2 / (2 * total)) / denom
        half = z * np.sqrt(p * (1 - p) / total + z**2 / (4 * total**2)) / denom
    low = np.where(k <= 0, 0.0, np.clip(centre - half, 0, 1))
    high = np.where(k >= total, 1.0, np.clip(centre + half, 0, 1))
    nan = total <= 0
    return np.where(nan, np.nan, p), np.where(nan, np.nan, low), np.where(nan, np.nan, high)


def compute_proportion(
    successes: int, n: int, confidence: float = DEFAULT_CONFIDENCE
) -> ProportionEstimate:
    """Return k/n with its Wilson interval as a ProportionEstimate."""
    p, low, high = compute_wilson_interval(successes, n, confidence)
    return ProportionEstimate(int(successes), int(n), float(p), float(low), float(high))


def draw_bootstrap_quantiles(
    sorted_values: FloatArray, q: float, replicates: int, rng: np.random.Generator
) -> FloatArray:
    """Exact bootstrap replicates of the type-1 q-quantile of a sorted sample (Beta trick)."""
    n = sorted_values.shape[0]
    k = min(max(int(np.ceil(q * n - 1e-9)), 1), n)
    u = rng.beta(k, n - k + 1, size=replicates)
    idx = np.clip(np.ceil(n * u).astype(np.int64) - 1, 0, n - 1)
    return sorted_values[idx]


def compute_quantile_contrast(
    a: ArrayLike,
    b: ArrayLike,
    q: float,
    *,
    ratio: bool = False,
    confidence: float = DEFAULT_CONFIDENCE,
    replicates: int = DEFAULT_BOOTSTRAP_REPLICATES,
    seed: int = DEFAULT_SEED,
) -> QuantileContrast:
    """Return q-quantile(a) - q-quantile(b) (or a/b) with a seeded percentile-bootstrap interval."""
    xa, xb = (np.sort(np.asarray(v, dtype=np.float64)) for v in (a, b))
    xa, xb = xa[~np.isnan(xa)], xb[~np.isnan(xb)]
    if xa.size == 0 or xb.size == 0:
        return QuantileContrast(q, np.nan, np.nan, np.nan, xa.size, xb.size, False)
    rng = np.random.default_rng(seed)
    boot_a = draw_bootstrap_quantiles(xa, q, replicates, rng)
    boot_b = draw_bootstrap_quantiles(xb, q, replicates, rng)
    pa = compute_percentile(xa, q, confidence)
    pb = compute_percentile(xb, q, confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = pa.value / pb.value if ratio else pa.value - pb.value
        boot = boot_a / boot_b if ratio else boot_a - boot_b
    alpha = 1.0 - confidence
    low, high = np.quantile(boot, [alpha / 2, 1 - alpha / 2])
    supported = pa.supported and pb.supported
    return QuantileContrast(q, float(value), float(low), float(high), xa.size, xb.size, supported)


def compute_cold_penalty(
    cold_ms: ArrayLike,
    warm_ms: ArrayLike,
    qs: tuple[float, ...] = (0.5, 0.99),
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = DEFAULT_SEED,
) -> list[QuantileContrast]:
    """Cold penalty: q-quantile(cold) − q-quantile(warm) for each q, with bootstrap intervals."""
    return [
        compute_quantile_contrast(cold_ms, warm_ms, q, confidence=confidence, seed=seed)
        for q in qs
    ]
