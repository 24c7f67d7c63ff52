"""Regression gate: compare two runs metric by metric and decide regressed/improved/unchanged.

Per target, for cold and warm latencies (p50, p90, p99) and per target for the cold-start rate,
the error rate and the keep-alive estimate, `compare_runs` reports both values, the ratio
new/base with an interval, a p-value and a verdict.

A change counts only when it is *significant* and *large* (asv's rule, not a bare percentage):

- significant: the test rejects at `alpha` (Mann-Whitney U for latencies, Fisher's exact test for
  rates, a z-test on the log ratio for the keep-alive) **and** the interval of the ratio
  (`ci_level`, 99%; seeded bootstrap for latencies and rates) excludes 1. Requiring both keeps a
  median shift from flagging a p99 whose own interval is wide, and a wide-tailed p99 from
  flagging alone.
- beyond run-to-run noise: samples of one run are not independent draws; the host, the
  platform's placement and the time of night move whole stretches of a run together, and two
  runs differ by more than their sample counts suggest (seen on the sandbox: warm p50 ×1.5
  between unchanged runs, with Mann-Whitney p < 1e-6). Each run's *drift* is measured from
  itself: its samples, in time order, are cut into consecutive blocks, and the variance of the
  blocks' log medians beyond what shuffling the same samples into blocks gives is the drift
  variance τ² (a method-of-moments random effect, as in DerSimonian & Laird, Control. Clin.
  Trials 1986). The ratio's bootstrap draws are widened by N(0, τ²_base + τ²_new) on the log
  scale, so the interval (and with it the verdict) carries the noise of two runs, not of two
  samples. Two runs are assumed to differ by as much as two stretches of one run do, and by
  at least `run_noise` (σ = log 1.10 on the log scale, i.e. 10%, per run): a whole run can be offset with
  no drift inside it (measured on the sandbox over 12 unchanged runs: between-run SD of log warm
  p50 0.138, of which sampling explains 0.057, leaving 0.126; cold 0.04). Cloud benchmarks see
  the same or more between trials (Laaber, Scheuner & Leitner, "Software microbenchmarking in
  the cloud. How bad is it really?", Empirical Software Engineering 24, 2019). Set it lower on a
  quiet, dedicated host; 0 (with `account_for_drift=False`) treats samples as independent.
  With several base runs (`BASE_RUN_COLUMN`, at least `MIN_BASELINE_RUNS`; asv and Mozilla's
  Perfherder likewise judge against replicates), run noise is *measured* instead: per metric,
  the interval is the classic prediction interval for one more run, from the spread of the k
  base runs' log percentiles (Student t with k-1 degrees of freedom, × sqrt(1 + 1/k)), which
  holds sampling and run-to-run noise together.
- large: the ratio is beyond the metric's minimum effect (default x1.10; shorter keep-alive is
  worse, so there the ratio must fall below 1/x), and latency changes also exceed `min_delta_ms`
  (loopback latencies of a few ms drift by more than 10% between nights for no reason).

Pure: DataFrames and manifests in, dataclasses out; no files, no clock.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from coldbench.errors import ConfigError
from coldbench.keepalive import KeepAliveEstimate, compute_keep_alive_estimate
from coldbench.stats import compute_percentile, draw_bootstrap_quantiles

PERCENTILES: dict[str, float] = {"p50": 50.0, "p90": 90.0, "p99": 99.0}
LATENCY_LABELS = ("cold", "warm")
RATE_METRICS = ("cold_rate", "error_rate")
VERDICTS = ("regressed", "improved", "unchanged", "insufficient")
DEFAULT_MIN_EFFECT = 1.10
MIN_GROUP_SIZE = 5  # fewer samples than this in either run: no verdict
DRIFT_MAX_BLOCKS = 8  # time blocks per run for the drift estimate
DRIFT_MIN_BLOCK = 4  # samples per block at least (fewer blocks when a run has few samples)
DRIFT_PERMUTATIONS = 200
DRIFT_MAX_VALUES = 4096  # longer series are thinned (the shuffles hold permutations × values)
DRIFT_EVIDENCE = 0.99  # drift counts when the blocks vary more than 99% of shuffles do
MIN_BASELINE_RUNS = 3  # from this many base runs on, run noise is measured, not assumed
BASE_RUN_COLUMN = "base_run"  # which base run a sample came from (several base runs)
DEFAULT_RUN_NOISE = float(np.log(1.10))  # 10% per run; the module doc has the measurement


@dataclass(frozen=True, slots=True)
class CompareConfig:
    """Knobs of the gate; every comparison is reproducible from these and the two runs."""

    min_effect: Mapping[str, float] = field(default_factory=dict)  # "cold.p99" or "p99" -> x
    default_min_effect: float = DEFAULT_MIN_EFFECT
    # Per test. Five test families per target (cold, warm, cold rate, keep-alive, errors), so an
    # unchanged target raises a false alarm on at most 5 x 0.0005 = 0.25% of nights (Bonferroni);
    # measured on simulated unchanged pairs: 2 in 2,500. asv uses 0.002 per benchmark.
    alpha: float = 0.0005
    ci_level: float = 0.99
    n_boot: int = 2000
    seed: int = 0
    min_delta_ms: float = 1.0
    account_for_drift: bool = True  # widen latency intervals by each run's own drift
    run_noise: float = DEFAULT_RUN_NOISE  # σ of a whole run's log offset, at least (per run)

    def effect_for(self, key: str) -> float:
        """Minimum effect for `key`: exact key, then the metric alone ("p99"), then default."""
        metric = key.split(".", 1)[-1]
        return self.min_effect.get(key, self.min_effect.get(metric, self.default_min_effect))


@dataclass(frozen=True, slots=True)
class MetricComparison:
    """One metric of one target in both runs, with the evidence for its verdict."""

    target: str
    key: str  # "cold.p99", "warm.p50", "cold_rate", "error_rate", "keep_alive"
    unit: str  # "ms" | "fraction" | "s"
    higher_is_worse: bool
    base_value: float | None
    new_value: float | None
    base_n: int
    new_n: int
    ratio: float | None  # new / base
    ratio_low: float | None
    ratio_high: float | None
    p_value: float | None
    test: str
    min_effect: float
    verdict: str
    note: str = ""
    run_noise_factor: float | None = None  # exp(σ) of the run-to-run noise in the interval


@dataclass(frozen=True, slots=True)
class CompareResult:
    """All comparisons of two runs plus warnings (environment differences, missing targets)."""

    comparisons: tuple[MetricComparison, ...]
    warnings: tuple[str, ...]
    config: CompareConfig
    base_name: str = "base"  # how reports name the runs (their paths, from the CLI)
    new_name: str = "new"

    @property
    def regressed(self) -> tuple[MetricComparison, ...]:
        """The comparisons whose verdict is `regressed`."""
        return tuple(c for c in self.comparisons if c.verdict == "regressed")

    @property
    def exit_status(self) -> int:
        """1 when anything regressed, else 0 (the CLI's contract)."""
        return 1 if self.regressed else 0


# --- selecting samples ---------------------------------------------------------------------

def user_samples(frame: pd.DataFrame, target: str | None = None) -> pd.DataFrame:
    """User-phase samples (not warming/forcing probes), optionally of one target."""
    rows = frame[frame["phase"].fillna("user") == "user"]
    return rows if target is None else rows[rows["target"] == target]


def select_latencies_ms(frame: pd.DataFrame, label: str) -> np.ndarray:
    """Latencies of successful user samples with `label` ("all" = every label), in the order
    they were sent (the drift estimate reads them as a time series)."""
    rows = frame[frame["error"].isna()]
    if label != "all":
        rows = rows[rows["label"] == label]
    values = _in_time_order(rows)["latency_ms"].to_numpy(dtype=float)
    return values[np.isfinite(values)]


def count_cold(frame: pd.DataFrame) -> tuple[int, int]:
    """(cold, labelled) among successful samples; `unknown` labels are left out."""
    labels = frame.loc[frame["error"].isna(), "label"]
    return int((labels == "cold").sum()), int(labels.isin(["cold", "warm"]).sum())


def count_errors(frame: pd.DataFrame) -> tuple[int, int]:
    """(errors, all) samples."""
    return int(frame["error"].notna().sum()), len(frame)


def select_idle_gaps(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(gap_s, is_cold) of successful samples labelled cold or warm, for the keep-alive fit."""
    rows = frame[frame["error"].isna() & frame["label"].isin(["cold", "warm"])]
    return rows["gap_s"].to_numpy(dtype=float), (rows["label"] == "cold").to_numpy(dtype=bool)


# --- statistics ----------------------------------------------------------------------------

def derive_rng(seed: int, *parts: str) -> np.random.Generator:
    """A generator seeded by `seed` and a stable hash of `parts` (not Python's salted hash)."""
    return np.random.default_rng([seed, zlib.crc32("/".join(parts).encode())])


def ratio_interval(ratios: np.ndarray, level: float) -> tuple[float | None, float | None]:
    """Percentile interval of bootstrap ratios (no interpolation, so infinities stay exact)."""
    finite_or_inf = ratios[~np.isnan(ratios)]
    if finite_or_inf.size < 0.9 * ratios.size or finite_or_inf.size == 0:
        return None, None
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(finite_or_inf, [tail, 1.0 - tail], method="inverted_cdf")
    return float(low), float(high)


def estimate_drift_variance(logs_in_time_order: np.ndarray, rng: np.random.Generator,
                            n_permutations: int = DRIFT_PERMUTATIONS) -> float:
    """τ²: how much the medians of consecutive blocks of a run's log latencies vary beyond chance.

    The values (log latencies, in time order) are cut into up to `DRIFT_MAX_BLOCKS` consecutive
    blocks of at least `DRIFT_MIN_BLOCK`; the variance of the blocks' medians is compared with
    its mean over random shuffles of the same values (what sampling alone gives), and the
    excess is the drift variance. 0.0 when the observed variance is within what 99% of the
    shuffles give (no evidence of drift: a steady run keeps its full power) or when there are
    too few values for two blocks."""
    logs = np.asarray(logs_in_time_order, dtype=float)
    logs = logs[np.isfinite(logs)]
    if logs.size > DRIFT_MAX_VALUES:  # a load run's millions: every k-th, still in time order
        logs = logs[:: -(-logs.size // DRIFT_MAX_VALUES)]
    blocks = min(DRIFT_MAX_BLOCKS, logs.size // DRIFT_MIN_BLOCK)
    if blocks < 2:
        return 0.0
    usable = logs[: blocks * (logs.size // blocks)]  # equal blocks; the last few values wait
    observed = float(np.var(np.median(usable.reshape(blocks, -1), axis=1), ddof=1))
    shuffled = rng.permuted(np.tile(usable, (n_permutations, 1)), axis=1)
    by_chance = np.var(np.median(shuffled.reshape(n_permutations, blocks, -1), axis=2),
                       axis=1, ddof=1)
    if observed <= float(np.quantile(by_chance, DRIFT_EVIDENCE)):
        return 0.0
    return observed - float(by_chance.mean())


def _in_time_order(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows sorted by `started_at` (stable; unchanged without that column)."""
    if "started_at" not in rows or rows["started_at"].isna().any() or rows.empty:
        return rows
    started = pd.to_datetime(rows["started_at"], utc=True, format="ISO8601").to_numpy()
    return rows.iloc[np.argsort(started, kind="stable")]


def predict_run_spread(sorted_runs: Sequence[np.ndarray], q: float) -> float:
    """How far one more run's log q-quantile may fall from the mean of `sorted_runs`' (a
    prediction's standard error: the runs' standard deviation × sqrt(1 + 1/k), sampling and
    run-to-run noise together)."""
    logs = [np.log(compute_percentile(run, q).value) for run in sorted_runs]
    return float(np.std(logs, ddof=1) * np.sqrt(1 + 1 / len(logs)))


def run_noise_variance(drift_variance: float, config: CompareConfig) -> float:
    """One run's offset variance on the log scale: its drift, but at least `run_noise`²."""
    drift = drift_variance if config.account_for_drift else 0.0
    return max(drift, config.run_noise ** 2)


def widen_ratios(ratios: np.ndarray, noise_variance: float,
                 rng: np.random.Generator) -> np.ndarray:
    """Bootstrap ratios with run-to-run noise added on the log scale (N(0, noise_variance))."""
    if noise_variance <= 0:
        return ratios
    noise = rng.normal(0.0, np.sqrt(noise_variance), size=ratios.shape)
    with np.errstate(over="ignore"):
        return ratios * np.exp(noise)


def safe_ratio(new: np.ndarray | float, base: np.ndarray | float) -> np.ndarray:
    """new / base with 0/0 = 1 and x/0 = inf: "no errors in either run" is no change."""
    new_a, base_a = np.asarray(new, dtype=float), np.asarray(base, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = new_a / base_a
    return np.where((new_a == 0) & (base_a == 0), 1.0, ratio)


def decide_verdict(ratio: float | None, low: float | None, high: float | None,
                   p_value: float | None, *, min_effect: float, alpha: float,
                   higher_is_worse: bool = True, big_enough: bool = True) -> str:
    """regressed / improved / unchanged / insufficient, by significance and minimum effect."""
    if ratio is None or low is None or high is None or p_value is None or np.isnan(ratio):
        return "insufficient"
    significant = p_value < alpha and (low > 1.0 or high < 1.0)
    if not (significant and big_enough):
        return "unchanged"
    up, down = ratio >= min_effect, ratio <= 1.0 / min_effect
    if up or down:
        return "regressed" if up == higher_is_worse else "improved"
    return "unchanged"


# --- metric families -----------------------------------------------------------------------

def compare_latencies(target: str, label: str, base: np.ndarray, new: np.ndarray,
                      config: CompareConfig, noise_variance: float | None = None,
                      base_runs: Sequence[np.ndarray] = ()) -> list[MetricComparison]:
    """p50/p90/p99 of one target x label: bootstrap ratio intervals and a Mann-Whitney U test.

    `noise_variance` is the run-to-run variance of the log ratio (see `target_noise_variance`);
    without it, it is estimated from these latencies (given in time order) alone. With
    `base_runs` (each base run's latencies; `base` is their union) of at least
    `MIN_BASELINE_RUNS` runs, the run noise of each percentile is measured from them instead.

    Percentiles are coldbench.stats' order statistics (the report's definition); the bootstrap
    draws each replicate's order statistic exactly from a Beta distribution (no resampling)."""
    keys = [f"{label}.{name}" for name in PERCENTILES]
    if base.size < MIN_GROUP_SIZE or new.size < MIN_GROUP_SIZE:
        note = f"fewer than {MIN_GROUP_SIZE} {label} samples in a run"
        return [_insufficient(target, key, "ms", base.size, new.size, config, note) for key in keys]
    rng = derive_rng(config.seed, target, label)
    base_sorted, new_sorted = np.sort(base), np.sort(new)
    p_value = float(stats.mannwhitneyu(new, base, alternative="two-sided").pvalue)
    noise = noise_variance
    if noise is None:
        noise = (run_noise_variance(estimate_drift_variance(np.log(base), rng), config)
                 + run_noise_variance(estimate_drift_variance(np.log(new), rng), config))
    noise_factor = float(np.exp(np.sqrt(noise)))
    runs = [np.sort(r) for r in base_runs if r.size >= MIN_GROUP_SIZE]
    out = []
    for key, q in zip(keys, PERCENTILES.values(), strict=True):
        base_q = compute_percentile(base_sorted, q / 100).value
        new_q = compute_percentile(new_sorted, q / 100).value
        ratio = float(safe_ratio(new_q, base_q))
        low: float | None
        high: float | None
        if len(runs) >= MIN_BASELINE_RUNS:  # a prediction interval from the base runs
            spread = predict_run_spread(runs, q / 100)
            half = float(stats.t.ppf(0.5 + config.ci_level / 2, len(runs) - 1)) * spread
            low, high = ratio * float(np.exp(-half)), ratio * float(np.exp(half))
            noise_factor = float(np.exp(spread))
        else:
            ratios = safe_ratio(draw_bootstrap_quantiles(new_sorted, q / 100, config.n_boot, rng),
                                draw_bootstrap_quantiles(base_sorted, q / 100, config.n_boot, rng))
            low, high = ratio_interval(widen_ratios(ratios, noise, rng), config.ci_level)
        big = abs(new_q - base_q) >= config.min_delta_ms
        effect = config.effect_for(key)
        verdict = decide_verdict(ratio, low, high, p_value, min_effect=effect,
                                 alpha=config.alpha, big_enough=big)
        out.append(MetricComparison(
            target, key, "ms", True, base_q, new_q, int(base.size), int(new.size), ratio, low,
            high, p_value, "mann-whitney-u", effect, verdict,
            _percentile_note(key, min(base.size, new.size)), noise_factor))
    return out


def _percentile_note(key: str, n: int) -> str:
    """Warn when a tail percentile rests on too few samples to be more than the maximum."""
    q = PERCENTILES[key.split(".")[1]]
    return f"{key} from {n} samples is near the maximum" if n * (100 - q) / 100 < 1 else ""


def compare_rate(target: str, key: str, base: tuple[int, int], new: tuple[int, int],
                 config: CompareConfig) -> MetricComparison:
    """A proportion (cold or error rate): Fisher's exact test and a bootstrap ratio interval."""
    (base_k, base_n), (new_k, new_n) = base, new
    if base_n == 0 or new_n == 0:
        return _insufficient(target, key, "fraction", base_n, new_n, config, "no samples")
    base_rate, new_rate = base_k / base_n, new_k / new_n
    p_value = float(stats.fisher_exact([[new_k, new_n - new_k], [base_k, base_n - base_k]])[1])
    rng = derive_rng(config.seed, target, key)
    base_boot = rng.binomial(base_n, base_rate, size=config.n_boot) / base_n
    new_boot = rng.binomial(new_n, new_rate, size=config.n_boot) / new_n
    low, high = ratio_interval(safe_ratio(new_boot, base_boot), config.ci_level)
    ratio = float(safe_ratio(new_rate, base_rate))
    effect = config.effect_for(key)
    verdict = decide_verdict(ratio, low, high, p_value, min_effect=effect, alpha=config.alpha)
    return MetricComparison(target, key, "fraction", True, base_rate, new_rate, base_n, new_n,
                            ratio, low, high, p_value, "fisher-exact", effect, verdict)


def compare_cold_rate(target: str, base: pd.DataFrame, new: pd.DataFrame,
                      config: CompareConfig) -> MetricComparison:
    """The cold-start rate, tested within idle-gap strata when both runs have them.

    Cold rates depend on the idle gap before each probe, so pooling a run's samples mixes gaps
    that are always cold with gaps that never are, and hides a shifted keep-alive in noise. The
    Cochran–Mantel–Haenszel test (Mantel & Haenszel, J. Natl Cancer Inst. 1959) compares cold
    rates within each planned gap and combines the strata; the ratio's interval comes from a
    bootstrap that resamples within strata. Runs without planned gaps fall back to Fisher's test.
    """
    base_strata, new_strata = count_cold_by_gap(base), count_cold_by_gap(new)
    shared = sorted(set(base_strata) & set(new_strata))
    if not any(key >= 0 for key in shared):
        return compare_rate(target, "cold_rate", count_cold(base), count_cold(new), config)
    (base_k, base_n), (new_k, new_n) = count_cold(base), count_cold(new)
    if base_n == 0 or new_n == 0:
        return _insufficient(target, "cold_rate", "fraction", base_n, new_n, config, "no samples")
    p_value = cmh_p_value([(new_strata[k], base_strata[k]) for k in shared])
    rng = derive_rng(config.seed, target, "cold_rate")
    base_boot = _stratified_rate_draws(base_strata, rng, config.n_boot)
    new_boot = _stratified_rate_draws(new_strata, rng, config.n_boot)
    low, high = ratio_interval(safe_ratio(new_boot, base_boot), config.ci_level)
    base_rate, new_rate = base_k / base_n, new_k / new_n
    ratio = float(safe_ratio(new_rate, base_rate))
    effect = config.effect_for("cold_rate")
    verdict = decide_verdict(ratio, low, high, p_value, min_effect=effect, alpha=config.alpha)
    return MetricComparison(target, "cold_rate", "fraction", True, base_rate, new_rate, base_n,
                            new_n, ratio, low, high, p_value, "cmh-by-gap", effect, verdict)


def count_cold_by_gap(frame: pd.DataFrame) -> dict[float, tuple[int, int]]:
    """(cold, labelled) per planned idle gap, in half-octave bins (a suite's `jitter` makes
    every planned gap unique; ±10% of 6 s stays in one or two bins, 2 s and 6 s never share
    one); samples without a planned gap under key -1."""
    rows = frame[frame["error"].isna() & frame["label"].isin(["cold", "warm"])]
    if "planned_gap_s" in rows:
        gaps = rows["planned_gap_s"].astype(float)
        binned = np.exp2(np.round(2 * np.log2(gaps.where(gaps > 0))) / 2)
        gaps = binned.where(gaps > 0, gaps).fillna(-1.0).round(6)
    else:
        gaps = pd.Series(-1.0, index=rows.index)
    out: dict[float, tuple[int, int]] = {}
    for gap, labels in rows["label"].groupby(gaps):
        out[float(gap)] = (int((labels == "cold").sum()), int(len(labels)))
    return out


def cmh_p_value(strata: list[tuple[tuple[int, int], tuple[int, int]]]) -> float:
    """Two-sided Cochran–Mantel–Haenszel p-value (continuity-corrected) for 2×2 strata given as
    ((new_cold, new_n), (base_cold, base_n)); strata that carry no information are skipped."""
    deviation = variance = 0.0
    for (a, n1), (c, n0) in strata:
        total = n1 + n0
        cold = a + c
        if total < 2 or cold in (0, total):
            continue
        deviation += a - n1 * cold / total
        variance += n1 * n0 * cold * (total - cold) / (total**2 * (total - 1))
    if variance <= 0:
        return 1.0
    statistic = max(0.0, abs(deviation) - 0.5) ** 2 / variance
    return float(stats.chi2.sf(statistic, df=1))


def _stratified_rate_draws(strata: dict[float, tuple[int, int]], rng: np.random.Generator,
                           n_boot: int) -> np.ndarray:
    """Bootstrap draws of the pooled rate, resampling each stratum's cold count on its own."""
    total = sum(n for _k, n in strata.values())
    draws = np.zeros(n_boot)
    for cold, n in strata.values():
        draws += rng.binomial(n, cold / n, size=n_boot)
    return draws / total


def compare_keep_alive(target: str, base: pd.DataFrame, new: pd.DataFrame,
                       config: CompareConfig) -> MetricComparison:
    """Keep-alive estimates (coldbench.keepalive: Firth logistic of P(cold) on log gap, profile
    intervals); shorter is worse. Refitting that model thousands of times would cost seconds,
    so the ratio's interval and p-value combine the two runs' intervals on the log scale
    (normal approximation) instead of a bootstrap."""
    base_est = compute_keep_alive_estimate(*select_idle_gaps(base))
    new_est = compute_keep_alive_estimate(*select_idle_gaps(new))
    effect = config.effect_for("keep_alive")
    base_log, new_log = _log_estimate(base_est), _log_estimate(new_est)
    values = (_finite_or_none(base_est.keep_alive_s), _finite_or_none(new_est.keep_alive_s))
    if base_log is None or new_log is None:
        note = base_est.note or new_est.note or "keep-alive interval is open-ended or extrapolated"
        return MetricComparison(target, "keep_alive", "s", False, *values, base_est.n, new_est.n,
                                None, None, None, None, "log-normal", effect, "insufficient", note)
    log_ratio, spread = new_log[0] - base_log[0], float(np.hypot(base_log[1], new_log[1]))
    half = float(stats.norm.ppf(0.5 + config.ci_level / 2)) * spread
    low, high = float(np.exp(log_ratio - half)), float(np.exp(log_ratio + half))
    if spread > 0:
        p_value = float(2 * stats.norm.sf(abs(log_ratio) / spread))
    else:
        p_value = 1.0 if log_ratio == 0 else 0.0
    ratio = float(np.exp(log_ratio))
    verdict = decide_verdict(ratio, low, high, p_value, min_effect=effect, alpha=config.alpha,
                             higher_is_worse=False)
    return MetricComparison(target, "keep_alive", "s", False, *values, base_est.n, new_est.n,
                            ratio, low, high, p_value, "log-normal", effect, verdict)


def _log_estimate(estimate: KeepAliveEstimate) -> tuple[float, float] | None:
    """(log keep-alive, its standard error from the interval), or None when not bounded."""
    crossing = estimate.crossing(0.5)
    bounded = 0 < crossing.low_s <= crossing.gap_s <= crossing.high_s < np.inf
    if not bounded or crossing.extrapolated:
        return None
    z = float(stats.norm.ppf(0.5 + estimate.confidence / 2))
    return float(np.log(crossing.gap_s)), float(np.log(crossing.high_s / crossing.low_s)) / (2 * z)


def _finite_or_none(value: float) -> float | None:
    """A float, or None for NaN/inf (JSON and tables show "-")."""
    return float(value) if np.isfinite(value) else None


def _insufficient(target: str, key: str, unit: str, base_n: int, new_n: int,
                  config: CompareConfig, note: str) -> MetricComparison:
    """A comparison that cannot be made, saying why."""
    return MetricComparison(target, key, unit, True, None, None, int(base_n), int(new_n), None,
                            None, None, None, "", config.effect_for(key), "insufficient", note)


# --- whole runs ----------------------------------------------------------------------------

def compare_target(target: str, base: pd.DataFrame, new: pd.DataFrame,
                   config: CompareConfig) -> list[MetricComparison]:
    """Every metric of one target; `base`/`new` are that target's user samples."""
    out: list[MetricComparison] = []
    noise = target_noise_variance(target, base, new, config)
    for label in LATENCY_LABELS:
        runs = []
        if BASE_RUN_COLUMN in base and base[BASE_RUN_COLUMN].nunique() > 1:
            runs = [select_latencies_ms(rows, label) for _, rows in base.groupby(BASE_RUN_COLUMN)]
        out += compare_latencies(target, label, select_latencies_ms(base, label),
                                 select_latencies_ms(new, label), config, noise, runs)
    out.append(compare_cold_rate(target, base, new, config))
    out.append(compare_keep_alive(target, base, new, config))
    out.append(compare_rate(target, "error_rate", count_errors(base), count_errors(new), config))
    return out


def target_noise_variance(target: str, base: pd.DataFrame, new: pd.DataFrame,
                          config: CompareConfig) -> float:
    """Run-to-run variance of one target's log ratios, summed over the two runs: each run's
    drift or the `run_noise` floor, whichever is larger. A run's drift is the largest that any
    of its labels' own series shows: suites run scenarios one after another, so cold probes
    often sit in one stretch of a run, and only the warm series spans the run (the host's
    drift moves both; centring labels and pooling them would hide it)."""
    total = 0.0
    rng = derive_rng(config.seed, target, "drift")
    for frame in (base, new):
        drift = 0.0
        if config.account_for_drift:
            drift = max(estimate_drift_variance(np.log(select_latencies_ms(frame, label)), rng)
                        for label in LATENCY_LABELS)
        total += run_noise_variance(drift, config)
    return total


def compare_frames(base: pd.DataFrame, new: pd.DataFrame, config: CompareConfig | None = None,
                   targets: Iterable[str] | None = None) -> list[MetricComparison]:
    """Compare the targets present in both sample frames (or just `targets`)."""
    config = config or CompareConfig()
    base_u, new_u = user_samples(base), user_samples(new)
    shared = sorted(set(base_u["target"]) & set(new_u["target"]))
    chosen = shared if targets is None else [t for t in shared if t in set(targets)]
    out: list[MetricComparison] = []
    for target in chosen:
        out += compare_target(target, base_u[base_u["target"] == target],
                              new_u[new_u["target"] == target], config)
    return out


def pool_targets(frame: pd.DataFrame, pools: Mapping[str, str]) -> pd.DataFrame:
    """Rename targets matching a pool's glob to the pool's name, e.g. {"hello": "hello#*"}:
    function copies (coldbench.providers.copies) measure one function's behaviour in parallel,
    and their samples together are what a comparison should judge."""
    if not pools or frame.empty:
        return frame
    names = frame["target"].astype(str)
    renamed = names.copy()
    for pool, pattern in pools.items():
        renamed[names.map(lambda name, p=pattern: fnmatch.fnmatchcase(name, p))] = pool
    return frame.assign(target=renamed)


def parse_pools(items: Iterable[str]) -> dict[str, str]:
    """Parse ["hello=hello*"] into {"hello": "hello*"}; ConfigError names the flag."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, pattern = (part.strip() for part in item.partition("="))
        if not sep or not name or not pattern:
            raise ConfigError(f"--pool {item!r}: expected NAME=GLOB, e.g. hello=hello#*")
        out[name] = pattern
    return out


def combine_base_runs(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Several base runs as one frame, each sample tagged with its run (`BASE_RUN_COLUMN`)."""
    return pd.concat([frame.assign(**{BASE_RUN_COLUMN: index}) for index, frame in
                      enumerate(frames)], ignore_index=True)


def compare_runs(base: pd.DataFrame, new: pd.DataFrame, config: CompareConfig | None = None, *,
                 base_manifest: Mapping | None = None, new_manifest: Mapping | None = None,
                 targets: Iterable[str] | None = None, base_name: str = "base",
                 new_name: str = "new") -> CompareResult:
    """Compare two runs: metric comparisons plus warnings about what makes them less comparable."""
    config = config or CompareConfig()
    comparisons = compare_frames(base, new, config, targets)
    warnings = build_target_warnings(base, new, targets)
    if base_manifest is not None and new_manifest is not None:
        warnings = build_environment_warnings(base_manifest, new_manifest) + warnings
        comparisons = set_aside_busy_host(comparisons, base_manifest, new_manifest)
    return CompareResult(tuple(comparisons), tuple(warnings), config, base_name, new_name)


def build_target_warnings(base: pd.DataFrame, new: pd.DataFrame,
                          targets: Iterable[str] | None = None) -> list[str]:
    """Name targets that only one run measured (they cannot be compared)."""
    base_t, new_t = set(user_samples(base)["target"]), set(user_samples(new)["target"])
    wanted = set(targets) if targets is not None else base_t | new_t
    out = []
    for target in sorted(wanted):
        if target not in base_t and target not in new_t:
            out.append(f"target {target!r} is in neither run")
        elif target not in new_t:
            out.append(f"target {target!r} is only in the base run; not compared")
        elif target not in base_t:
            out.append(f"target {target!r} is only in the new run; not compared")
    return out


_FINGERPRINT_FIELDS = (("host", "host"), ("python", "Python"),
                       ("implementation", "Python implementation"),
                       ("coldbench", "coldbench version"))


def build_environment_warnings(base_manifest: Mapping, new_manifest: Mapping) -> list[str]:
    """Differences in host, Python, coldbench version, suite, or run status, as warnings."""
    out = []
    base_env, new_env = base_manifest.get("environment") or {}, new_manifest.get("environment") or {}
    for name, title in _FINGERPRINT_FIELDS:
        if base_env.get(name) != new_env.get(name):
            out.append(f"{title} differs: base {base_env.get(name)!r}, new {new_env.get(name)!r}")
    if _canonical(base_manifest.get("suite")) != _canonical(new_manifest.get("suite")):
        out.append("suite differs between the runs (targets, scenarios or thresholds changed)")
    for side, manifest in (("base", base_manifest), ("new", new_manifest)):
        if host_was_busy(manifest):
            out.append(f"{side} run shared its host: other work used "
                       f"{other_host_cores(manifest):.2f} CPU cores while it measured; its "
                       "latencies are not judged (rerun on a quiet host)")
    base_load, new_load = _host_load(base_manifest), _host_load(new_manifest)
    if base_load is not None and new_load is not None and abs(new_load - base_load) > HOST_LOAD_WARN:
        out.append(f"host load differed (load average {base_load:.1f} vs {new_load:.1f}): other "
                   "work on the measuring host shifts latencies, warm ones most; rerun on a quiet host")
    for side, manifest in (("base", base_manifest), ("new", new_manifest)):
        status = manifest.get("status")
        if status not in (None, "complete"):
            out.append(f"{side} run status is {status!r}, not complete")
    return out


HOST_LOAD_WARN = 0.75  # load-average difference (cores busy) worth a warning
# Share of the host's CPUs that other work (coldbench.hostload) used during a run from which its
# latencies are not judged (half a core on a 2-core host): on the sandbox, runs that shared the
# host with a load generator came out ×2 slower throughout, cold and warm alike, with no drift
# inside them to show it.
HOST_BUSY_FRACTION = 0.25


def other_host_cores(manifest: Mapping) -> float | None:
    """CPU cores other processes used on the host during the run (None: not recorded)."""
    value = (manifest.get("host_cpu") or {}).get("other_cores")
    return float(value) if isinstance(value, int | float) else None


def host_was_busy(manifest: Mapping) -> bool:
    """Whether other work used at least `HOST_BUSY_FRACTION` of the host's CPUs during the run."""
    other = other_host_cores(manifest)
    cores = (manifest.get("host_cpu") or {}).get("cores") or 1
    return other is not None and other >= HOST_BUSY_FRACTION * float(cores)


def set_aside_busy_host(comparisons: Iterable[MetricComparison], base_manifest: Mapping,
                        new_manifest: Mapping) -> list[MetricComparison]:
    """Latency verdicts become `insufficient` when either run shared its host with other work
    (`HOST_BUSY_FRACTION`): a busy host slows a whole run evenly, which no statistic of the run
    can tell from a slower function. Rates, keep-alive and errors are kept."""
    busy = [side for side, m in (("base", base_manifest), ("new", new_manifest))
            if host_was_busy(m)]
    if not busy:
        return list(comparisons)
    note = f"not judged: the {' and '.join(busy)} run shared its host with other work"
    return [dataclasses.replace(c, verdict="insufficient", note=note) if c.unit == "ms" else c
            for c in comparisons]


def _host_load(manifest: Mapping) -> float | None:
    """The larger of the host's 1-minute load average at the start and end of a run."""
    start = (manifest.get("environment") or {}).get("load_avg_1m")
    values = [v for v in (start, manifest.get("load_avg_1m_at_end")) if isinstance(v, int | float)]
    return max(values) if values else None


def _canonical(value: object) -> str:
    """Order-independent JSON text of a manifest fragment, for equality checks."""
    return json.dumps(value, sort_keys=True, default=str)


def metric_keys() -> list[str]:
    """Every metric key a comparison reports, e.g. "cold.p99", "cold_rate", "keep_alive"."""
    keys = [f"{label}.{name}" for label in LATENCY_LABELS for name in PERCENTILES]
    return keys + ["cold_rate", "keep_alive", "error_rate"]


def parse_min_effects(items: Iterable[str], flag: str = "--min-effect") -> dict[str, float]:
    """Parse ["cold.p99=1.2", "p99=20%"] into {key: factor}; ConfigError names the flag."""
    known = set(metric_keys()) | set(PERCENTILES)
    out: dict[str, float] = {}
    for item in items:
        key, sep, text = (part.strip() for part in item.partition("="))
        if key not in known:
            raise ConfigError(f"{flag} {item!r}: unknown metric {key!r}; "
                              f"use one of {', '.join(sorted(known))}")
        try:
            factor = 1 + float(text[:-1]) / 100 if text.endswith("%") else float(text)
        except ValueError:
            factor = float("nan")
        if not sep or not factor > 1.0 or not np.isfinite(factor):
            raise ConfigError(f"{flag} {item!r}: expected KEY=FACTOR with FACTOR > 1, "
                              "e.g. cold.p99=1.2 or p99=20%")
        out[key] = factor
    return out
