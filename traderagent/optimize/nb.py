"""Numba kernels of the research layer: Monte Carlo resampling and combinatorially symmetric cross-validation.

Arrays in, arrays out; the wrappers are `montecarlo.py` and `overfitting.py`. Random kernels seed numba's
own generator (`np.random.seed` inside the kernel), so a seed gives the same draws on every run.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# ############# Monte Carlo ############# #


@njit(cache=True)
def trade_paths_nb(returns: np.ndarray, n_runs: int, seed: int, with_replacement: bool) -> np.ndarray:
    """Equity multiples (n_runs, m + 1) compounding `returns` in a random order: a permutation (shuffle) or
    m draws with replacement (bootstrap); column 0 is 1.0. Reference: numpy permutation/choice + cumprod."""
    np.random.seed(seed)
    m = returns.shape[0]
    out = np.empty((n_runs, m + 1))
    for r in range(n_runs):
        if with_replacement:
            idx = np.random.randint(0, m, m) if m > 0 else np.empty(0, dtype=np.int64)
        else:
            idx = np.random.permutation(m)
        eq = 1.0
        out[r, 0] = 1.0
        for j in range(m):
            eq *= 1.0 + returns[idx[j]]
            out[r, j + 1] = eq
    return out


@njit(cache=True)
def block_bootstrap_paths_nb(returns: np.ndarray, block: int, n_runs: int, seed: int) -> np.ndarray:
    """Equity multiples (n_runs, T + 1) of circular block bootstraps of `returns`: blocks of `block`
    consecutive returns (wrapping at the end) from uniform random starts until T are drawn; column 0 is
    1.0. Reference: Politis & Romano's circular block bootstrap with a fixed block length."""
    np.random.seed(seed)
    t = returns.shape[0]
    out = np.empty((n_runs, t + 1))
    for r in range(n_runs):
        eq = 1.0
        out[r, 0] = 1.0
        j = 0
        while j < t:
            s = np.random.randint(0, t)
            for b in range(block):
                if j >= t:
                    break
                eq *= 1.0 + returns[(s + b) % t]
                out[r, j + 1] = eq
                j += 1
    return out


@njit(cache=True)
def path_stats_nb(paths: np.ndarray):
    """(final return, max drawdown) of each row of equity multiples; the peak starts at the first column.
    Reference: `backtest.nb.drawdown_stats_1d_nb` per row."""
    n, m = paths.shape
    final = np.empty(n)
    mdd = np.empty(n)
    for r in range(n):
        peak = paths[r, 0]
        dd = 0.0
        for j in range(m):
            v = paths[r, j]
            if v > peak:
                peak = v
            elif peak > 0.0:
                dd = max(dd, 1.0 - v / peak)
        final[r] = paths[r, m - 1] / paths[r, 0] - 1.0
        mdd[r] = dd
    return final, mdd


# ############# CSCV ############# #


@njit(cache=True)
def _sharpe_from_sums_nb(s: float, sq: float, n: float) -> float:
    if n < 2.0:
        return 0.0
    mean = s / n
    var = (sq - n * mean * mean) / (n - 1.0)
    if not var > 1e-300:
        return 0.0
    return mean / np.sqrt(var)


@njit(cache=True)
def cscv_nb(block_sum: np.ndarray, block_sumsq: np.ndarray, block_n: np.ndarray, combos: np.ndarray):
    """Combinatorially symmetric cross-validation (Bailey, Borwein, López de Prado & Zhu 2017).

    block_sum/block_sumsq: (S, N) per-block sums of each configuration's returns and squared returns;
    block_n: (S,) rows per block; combos: (C, S/2) the IS blocks of each split (the rest is OOS).
    Performance is the Sharpe ratio (mean/std, ddof=1; 0 without deviation) over the union of blocks.
    Returns per split: the logit of the OOS relative rank of the IS-best configuration, its IS and its
    OOS performance, and its column. Relative rank = (rank among N, 1 = worst, ties averaged) / (N + 1).
    Reference: the hand-worked cases in tests/unit/test_overfitting.py.
    """
    s_blocks, n_cfg = block_sum.shape
    n_combos, half = combos.shape
    logit = np.empty(n_combos)
    best_is = np.empty(n_combos)
    best_oos = np.empty(n_combos)
    chosen = np.empty(n_combos, dtype=np.int64)
    in_is = np.zeros(s_blocks, dtype=np.bool_)
    perf_oos = np.empty(n_cfg)
    for c in range(n_combos):
        in_is[:] = False
        for h in range(half):
            in_is[combos[c, h]] = True
        top = -np.inf
        top_k = 0
        for k in range(n_cfg):
            si, qi, ni, so, qo, no = 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
            for b in range(s_blocks):
                if in_is[b]:
                    si += block_sum[b, k]
                    qi += block_sumsq[b, k]
                    ni += block_n[b]
                else:
                    so += block_sum[b, k]
                    qo += block_sumsq[b, k]
                    no += block_n[b]
            p_is = _sharpe_from_sums_nb(si, qi, ni)
            perf_oos[k] = _sharpe_from_sums_nb(so, qo, no)
            if p_is > top:
                top = p_is
                top_k = k
        x = perf_oos[top_k]
        below = 0.0
        ties = 0.0
        for k in range(n_cfg):
            if perf_oos[k] < x:
                below += 1.0
            elif perf_oos[k] == x and k != top_k:
                ties += 1.0
        w = (1.0 + below + 0.5 * ties) / (n_cfg + 1.0)
        logit[c] = np.log(w / (1.0 - w))
        best_is[c] = top
        best_oos[c] = x
        chosen[c] = top_k
    return logit, best_is, best_oos, chosen
