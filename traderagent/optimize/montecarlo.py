"""Monte Carlo robustness of a result: how different could the same edge have looked?

Three resamplings, each giving 5/50/95% bands of the final return and the maximum drawdown, plus the
percentile equity paths for a fan chart:

* `shuffle`: the trades' returns (P&L / equity before entry) compounded in random orders. The final
  return is the same in every order (products commute); the drawdown shows how bad the path could be.
* `bootstrap`: as many trades drawn with replacement: luckier and unluckier sets of the same trades.
* `block`: a circular block bootstrap of the daily returns (blocks keep volatility clusters and the
  serial dependence of open positions); the whole curve, flat days included.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from traderagent.optimize import nb

PERCENTILES = (5.0, 50.0, 95.0)


@dataclass(frozen=True)
class MonteCarloBand:
    """Percentiles of the final return and max drawdown over `runs` resampled paths, and the paths' bands."""

    method: str
    runs: int
    final_return: dict[str, float]  # {"p5": ..., "p50": ..., "p95": ...}
    max_drawdown: dict[str, float]
    paths: dict[str, list[float]]  # equity multiples per step at each percentile (for the fan chart)
    prob_loss: float  # share of paths that end below the start

    def as_dict(self) -> dict:
        return {"method": self.method, "runs": self.runs, "final_return": self.final_return,
                "max_drawdown": self.max_drawdown, "prob_loss": self.prob_loss, "paths": self.paths}


def _band(method: str, paths: np.ndarray, max_points: int = 400) -> MonteCarloBand:
    final, mdd = nb.path_stats_nb(paths)
    keys = [f"p{p:g}" for p in PERCENTILES]
    step = max(1, math.ceil(paths.shape[1] / max_points))
    cols = np.unique(np.r_[np.arange(0, paths.shape[1], step), paths.shape[1] - 1])
    bands = np.percentile(paths[:, cols], PERCENTILES, axis=0)
    return MonteCarloBand(
        method=method,
        runs=paths.shape[0],
        final_return=dict(zip(keys, map(float, np.percentile(final, PERCENTILES)), strict=True)),
        max_drawdown=dict(zip(keys, map(float, np.percentile(mdd, PERCENTILES)), strict=True)),
        paths={"step": cols.tolist(), **{k: bands[i].tolist() for i, k in enumerate(keys)}},
        prob_loss=float((final < 0).mean()),
    )


def trade_shuffle(trade_returns: np.ndarray, runs: int = 1000, seed: int = 0) -> MonteCarloBand:
    r = np.ascontiguousarray(trade_returns, dtype=np.float64)
    return _band("shuffle", nb.trade_paths_nb(r, runs, seed, False))


def trade_bootstrap(trade_returns: np.ndarray, runs: int = 1000, seed: int = 0) -> MonteCarloBand:
    r = np.ascontiguousarray(trade_returns, dtype=np.float64)
    return _band("bootstrap", nb.trade_paths_nb(r, runs, seed, True))


def block_bootstrap(returns: np.ndarray, block: int = 10, runs: int = 1000, seed: int = 0) -> MonteCarloBand:
    r = np.ascontiguousarray(returns, dtype=np.float64)
    if block < 1:
        raise ValueError(f"block length must be >= 1 (got {block})")
    return _band("block", nb.block_bootstrap_paths_nb(r, min(block, max(len(r), 1)), runs, seed))


def monte_carlo(trade_returns: np.ndarray, daily_returns: np.ndarray, runs: int = 1000, block: int = 10,
                seed: int = 0) -> dict[str, MonteCarloBand]:
    """All three resamplings (see the module docstring), keyed by method."""
    return {
        "shuffle": trade_shuffle(trade_returns, runs, seed),
        "bootstrap": trade_bootstrap(trade_returns, runs, seed + 1),
        "block": block_bootstrap(daily_returns, block, runs, seed + 2),
    }
