"""The strategy contract.

Every strategy is a module that registers a `StrategySpec` (see `registry.py`) with:
  - a frozen pydantic params model; each optimisable field declares its search range beside it via
    `json_schema_extra={"search": {...}}` (see `traderagent.config.models.search_space`);
  - the timeframes it reads (base first) and `warmup_bars(params)` in base bars;
  - a pure kernel (no I/O, no defaults, no hidden state).

Two families:
  - signal strategies (Trend-Follower, SMC): `signals(bars_by_tf, params) -> Signals`, arrays on the base
    index. Decisions are taken at bar t's close; the engine fills them no earlier than bar t+1's open.
  - order strategies (Grid, DCA, Hybrid): a numba state machine `step(state, bar, params) -> order intents`
    run by the order engine (`traderagent.backtest.orders`), and by the live runner on each closed bar.

Causality is tested for every registered strategy (`traderagent check`): the output at t on data cut
after t equals the output at t on the full data, and a run on the trailing `warmup_bars` window ending
at t gives the same last value.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Signals(NamedTuple):
    """Per-bar decisions of a signal strategy, all arrays of the base length n.

    entry_long / exit_long / entry_short / exit_short: bool, decided at the bar's close.
    stop / target: float prices for a position opened on this bar's entry signal (NaN = none).
    risk: float fraction of equity the position may lose at its stop (NaN = the params' default).
    """

    entry_long: np.ndarray
    exit_long: np.ndarray
    entry_short: np.ndarray
    exit_short: np.ndarray
    stop: np.ndarray
    target: np.ndarray
    risk: np.ndarray

    @classmethod
    def empty(cls, n: int) -> Signals:
        f = np.zeros(n, dtype=np.bool_)
        nan = np.full(n, np.nan)
        return cls(f, f.copy(), f.copy(), f.copy(), nan, nan.copy(), nan.copy())

    def as_matrix(self) -> np.ndarray:
        """All outputs stacked as float columns (n, 7): what the causality harness compares."""
        return np.column_stack([np.asarray(a, dtype=np.float64) for a in self])


def ohlc_arrays(bars) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(open, high, low, close) of a candle frame as float64 arrays."""
    return tuple(bars[c].to_numpy(np.float64) for c in ("open", "high", "low", "close"))
