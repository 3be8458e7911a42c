"""How likely a backtest result is to be luck: the deflated Sharpe ratio and the probability of backtest
overfitting.

Sharpe ratios here are per observation (not annualized): mean / std (ddof=1) of the returns the test is
about (the walk-forward uses daily returns). Skewness and kurtosis are the sample moments (biased, and
the kurtosis is NOT excess: a normal distribution has 3), as in the papers.

* `probabilistic_sharpe_ratio(sr, n_obs, skew, kurt, sr_benchmark)` (Bailey & López de Prado 2012):
  P(true SR > benchmark) = Phi((sr - sr0) sqrt(T - 1) / sqrt(1 - skew sr + (kurt - 1) / 4 sr^2)).
* `expected_max_sharpe(sr_var, n_trials)`: the Sharpe ratio the best of N zero-skill trials reaches
  on average, sqrt(V) ((1 - g) Phi^-1(1 - 1/N) + g Phi^-1(1 - 1/(N e))), g = Euler-Mascheroni.
* `deflated_sharpe_ratio(...)` (Bailey & López de Prado 2014): the PSR against that benchmark. Their worked
  example (annual SR 2.5 over 1250 days, N = 100, annual V = 0.5, skew -3, kurtosis 10) gives 0.90.
* `pbo(returns_matrix, n_blocks)`: combinatorially symmetric cross-validation (Bailey, Borwein,
  López de Prado & Zhu 2017). The T x N matrix of returns of N configurations is cut into S contiguous
  blocks; for each of the C(S, S/2) ways to call half the blocks in-sample, the configuration with the
  best IS Sharpe is located in the OOS ranking; PBO is the share of splits where it lands at or below the
  OOS median (logit <= 0).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from traderagent.optimize import nb

EULER_GAMMA = 0.5772156649015329
_N = NormalDist()


def sharpe(returns: np.ndarray) -> float:
    """Per-observation Sharpe ratio mean / std (ddof=1); NaN with fewer than 2 values or no deviation."""
    r = np.asarray(returns, dtype=np.float64)
    if r.size < 2:
        return math.nan
    sd = float(r.std(ddof=1))
    return float(r.mean()) / sd if sd > 0 else math.nan


def moments(returns: np.ndarray) -> tuple[float, float]:
    """(skewness, kurtosis) as biased sample moments; kurtosis is not excess (normal = 3)."""
    r = np.asarray(returns, dtype=np.float64)
    d = r - r.mean()
    m2 = float((d**2).mean())
    if not m2 > 0:
        return 0.0, 3.0
    return float((d**3).mean()) / m2**1.5, float((d**4).mean()) / m2**2


def probabilistic_sharpe_ratio(sr: float, n_obs: int, skew: float = 0.0, kurt: float = 3.0,
                               sr_benchmark: float = 0.0) -> float:
    """P(true Sharpe > sr_benchmark) given an observed per-observation `sr` over `n_obs` returns."""
    if n_obs < 2 or not math.isfinite(sr):
        return math.nan
    denom = 1.0 - skew * sr + (kurt - 1.0) / 4.0 * sr * sr
    if not denom > 0:
        return math.nan
    return _N.cdf((sr - sr_benchmark) * math.sqrt(n_obs - 1) / math.sqrt(denom))


def expected_max_sharpe(sr_var: float, n_trials: int) -> float:
    """Expected maximum per-observation Sharpe of `n_trials` zero-skill trials whose Sharpes vary by `sr_var`."""
    if n_trials <= 1 or not sr_var > 0:
        return 0.0
    z1 = _N.inv_cdf(1.0 - 1.0 / n_trials)
    z2 = _N.inv_cdf(1.0 - 1.0 / (n_trials * math.e))
    return math.sqrt(sr_var) * ((1.0 - EULER_GAMMA) * z1 + EULER_GAMMA * z2)


def deflated_sharpe_ratio(sr: float, n_obs: int, n_trials: int, sr_var: float, skew: float = 0.0,
                          kurt: float = 3.0) -> float:
    """P(true Sharpe > 0) after deflating `sr` for having been the best of `n_trials` (DSR, 2014)."""
    return probabilistic_sharpe_ratio(sr, n_obs, skew, kurt, expected_max_sharpe(sr_var, n_trials))


@dataclass(frozen=True)
class PBOResult:
    """Outcome of CSCV: PBO plus what it was computed from."""

    pbo: float  # share of splits whose IS-best configuration ranks at or below the OOS median
    logits: np.ndarray  # per split
    is_perf: np.ndarray  # IS Sharpe of the IS-best configuration, per split
    oos_perf: np.ndarray  # its OOS Sharpe, per split
    n_configs: int  # distinct configurations (identical return columns count once)
    n_blocks: int
    n_splits: int

    @property
    def prob_oos_loss(self) -> float:
        """Share of splits where the IS-best configuration has a negative OOS Sharpe."""
        return float((self.oos_perf < 0).mean()) if self.n_splits else math.nan

    @property
    def degradation_slope(self) -> float:
        """Slope of OOS on IS Sharpe of the selected configurations (negative = IS edge does not carry)."""
        if self.n_splits < 2 or np.ptp(self.is_perf) == 0:
            return math.nan
        return float(np.polyfit(self.is_perf, self.oos_perf, 1)[0])

    def as_dict(self) -> dict:
        return {"pbo": self.pbo, "n_configs": self.n_configs, "n_blocks": self.n_blocks, "n_splits": self.n_splits,
                "prob_oos_loss": self.prob_oos_loss, "degradation_slope": self.degradation_slope,
                "median_logit": float(np.median(self.logits)) if self.n_splits else math.nan}


def distinct_columns(matrix: np.ndarray) -> np.ndarray:
    """Column positions of the first occurrence of each distinct column."""
    seen: dict[bytes, int] = {}
    for j in range(matrix.shape[1]):
        seen.setdefault(np.ascontiguousarray(matrix[:, j]).tobytes(), j)
    return np.array(sorted(seen.values()), dtype=np.int64)


def pbo(returns: np.ndarray, n_blocks: int = 16) -> PBOResult:
    """Probability of backtest overfitting by CSCV over a (T observations x N configurations) matrix.

    Rows are cut into `n_blocks` (even) contiguous blocks of T // n_blocks rows (the oldest T % n_blocks
    rows are dropped); identical columns count once. Needs at least 2 distinct configurations.
    """
    m = np.asarray(returns, dtype=np.float64)
    if m.ndim != 2:
        raise ValueError("pbo: returns must be a 2-D (observations x configurations) matrix")
    if n_blocks < 2 or n_blocks % 2:
        raise ValueError(f"pbo: n_blocks must be an even number >= 2 (got {n_blocks})")
    m = m[:, distinct_columns(m)]
    t, n = m.shape
    size = t // n_blocks
    if n < 2 or size < 2:
        nan = np.array([])
        return PBOResult(math.nan, nan, nan, nan, n, n_blocks, 0)
    m = m[t - size * n_blocks:].reshape(n_blocks, size, n)
    bsum = np.ascontiguousarray(m.sum(axis=1))
    bsq = np.ascontiguousarray((m * m).sum(axis=1))
    bn = np.full(n_blocks, float(size))
    combos = np.array(list(itertools.combinations(range(n_blocks), n_blocks // 2)), dtype=np.int64)
    logits, is_perf, oos_perf, _ = nb.cscv_nb(bsum, bsq, bn, combos)
    return PBOResult(float((logits <= 0).mean()), logits, is_perf, oos_perf, n, n_blocks, len(combos))


def pooled_pbo(results: list[PBOResult]) -> float:
    """PBO over the splits of several CSCV runs together (e.g. every walk-forward fold's IS window)."""
    logits = [r.logits for r in results if r.n_splits]
    if not logits:
        return math.nan
    return float((np.concatenate(logits) <= 0).mean())
