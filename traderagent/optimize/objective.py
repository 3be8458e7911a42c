"""What a trial measures: one strategy on one window of bars, scored by a pluggable objective.

The optimizer's inner loop is the fast path: the strategy's pure `signals` on the bars up to the window's
end (so indicators warm up on everything before it and nothing after it exists), then the engine's fill
kernel `backtest.engine.simulate_signals` (the signal position machine and the risk guard) and `backtest.metrics.compute_stats` on the window, with no
vectorbt. `Evaluator.full_run` runs the same window through `backtest.engine.run_signals` (vectorbt
booking and every integrity gate); the walk-forward uses it for each fold's OOS run and the stitched
result, and checks that it agrees with the fast path.

Every window ends flat: the position is closed at the open of the window's last bar (an exit decided at
the close of the bar before), and no entry is taken in the last two bars. So each window's trades pay
both fees and nothing carries from one window into the next.

Objectives are maximized. A trial with fewer than `min_trades` trades, or whose metric is undefined
(e.g. a Sharpe ratio without any trade), scores `PENALTY`, below any real value, so a two-trade fluke
cannot win; the selection of a fold's best trial ignores such trials altogether.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from traderagent.backtest import nb
from traderagent.backtest.engine import DEFAULT_RISK, simulate_signals
from traderagent.backtest.metrics import compute_stats
from traderagent.core.costs import Costs
from traderagent.core.risk import day_numbers
from traderagent.core.signals import Signals
from traderagent.data.resample import bars_by_timeframe
from traderagent.errors import UserError

#: Score of a trial that breaks the minimum-trades rule or has an undefined metric.
PENALTY = -1000.0
#: Scores are clipped to (PENALTY, CAP]: a profit factor of inf (no losing trade) counts as CAP.
CAP = 1000.0
_NS_PER_DAY = 86_400 * 1_000_000_000


def _stat(name: str) -> Callable[[dict], float]:
    return lambda stats: float(stats.get(name, math.nan))


#: name -> function(stats) -> value to maximize. Stats are `backtest.metrics.compute_stats` output.
OBJECTIVES: dict[str, Callable[[dict], float]] = {
    "sharpe": _stat("sharpe"),
    "sortino": _stat("sortino"),
    "calmar": _stat("calmar"),
    "profit_factor": _stat("profit_factor"),
    "total_return": _stat("total_return"),
    "cagr": _stat("cagr"),
}


def register_objective(name: str, fn: Callable[[dict], float]) -> None:
    """Add an objective: `fn(stats) -> float` (higher is better); usable as `objective: <name>` in a study."""
    OBJECTIVES[name] = fn


def score(stats: dict, objective: str, min_trades: int) -> tuple[float, bool]:
    """(value to maximize, valid). Invalid = fewer than `min_trades` trades or an undefined (NaN) metric."""
    try:
        fn = OBJECTIVES[objective]
    except KeyError:
        raise UserError(f"objective: {objective!r} is unknown; choose one of {', '.join(OBJECTIVES)}") from None
    value = fn(stats)
    if int(stats.get("trades", 0)) < min_trades or math.isnan(value):
        return PENALTY, False
    return float(min(max(value, PENALTY + 1.0), CAP)), True


def daily_returns(equity: np.ndarray, index_ns: np.ndarray, init: float) -> np.ndarray:
    """Returns per UTC day of an equity curve (value at each day's last bar vs the day before; the first
    day against `init`)."""
    day = index_ns // _NS_PER_DAY
    last = np.flatnonzero(np.r_[day[1:] != day[:-1], True])
    eq = equity[last]
    prev = np.r_[init, eq[:-1]]
    return eq / prev - 1.0


def trade_returns(entry_bar: np.ndarray, pnl: np.ndarray, equity: np.ndarray, init: float) -> np.ndarray:
    """Each trade's P&L as a fraction of the equity at the close before its entry bar."""
    before = np.where(entry_bar > 0, equity[np.clip(entry_bar - 1, 0, None)], init)
    return pnl / before


@dataclass
class Evaluation:
    """One strategy run on a window `[start, end)` of the study's bars (fast path)."""

    start: int
    end: int
    init: float
    equity: np.ndarray
    stats: dict
    entry_bar: np.ndarray  # per trade, relative to `start`
    pnl: np.ndarray
    daily: np.ndarray  # returns per UTC day
    signals: Signals = field(repr=False, default=None)  # window signals (flattened at the end)

    @property
    def trade_returns(self) -> np.ndarray:
        return trade_returns(self.entry_bar, self.pnl, self.equity, self.init)


class Evaluator:
    """Runs a strategy with given params on windows of one market's bars (see module docstring).

    Signal strategies take the fast path. Order strategies (grid, DCA) run their own engine
    (`backtest.orders.run_order`: numba state machine, vectorbt booking, integrity gates; ~20 ms a year of 15m bars) on
    the bars up to the window's end, trading from its start; a position still open at the window's end
    is marked to its last close.
    """

    def __init__(self, spec, base_params, bars: pd.DataFrame, timeframe: str, costs: Costs = Costs(),  # noqa: B008
                 engine: dict | None = None, fixed: dict | None = None, source: str = "study"):
        if spec.kind not in ("signal", "order"):
            raise UserError(f"strategy {spec.name!r} is neither a signal nor an order strategy")
        self.spec = spec
        self.base_params = base_params
        self.bars = bars
        self.timeframe = timeframe
        self.costs = costs
        self.engine = {"initial_equity": 10_000.0, "default_risk": 0.02, "risk": DEFAULT_RISK, "leverage": 1.0,
                       "allow_short": False, **(engine or {})}
        self._days = day_numbers(bars.index)
        self.fixed = dict(fixed or {})
        self.source = source
        self._ns = bars.index.as_unit("ns").asi8
        self._ohlc = tuple(np.ascontiguousarray(bars[c].to_numpy(np.float64)) for c in ("open", "high", "low", "close"))
        self._bbt: dict[int, dict[str, pd.DataFrame]] = {}

    # ------------------------------------------------------------------ params and signals
    def make_params(self, values: dict[str, Any]):
        """The params model with the study's fixed values and `values`; ConfigValidationError if invalid."""
        from traderagent.config import replace

        return replace(self.base_params, source=self.source, prefix=("strategies", self.spec.name),
                       **{**self.fixed, **values})

    def _bars_until(self, end: int, tfs: tuple[str, ...]) -> dict[str, pd.DataFrame]:
        cache = self._bbt.setdefault(end, {})
        missing = [tf for tf in tfs if tf not in cache]
        if missing:
            cache.update(bars_by_timeframe(self.bars.iloc[:end], self.timeframe, missing))
        return cache

    def window_signals(self, params, start: int, end: int) -> Signals:
        """Signals computed on bars `[0, end)` (nothing after the window exists), cut to `[start, end)`
        and made to end flat."""
        if end - start < 3:
            raise UserError(f"a window needs at least 3 bars (got {end - start})")
        sig = self.spec.signals(self._bars_until(end, self.spec.timeframes(params)), params)
        el, xl, es, xs, stop, target, risk = (np.array(a[start:end]) for a in sig)
        el[-2:] = False
        es[-2:] = False
        xl[-2] = True
        xs[-2] = True
        return Signals(el, xl, es, xs, stop, target, risk)

    # ------------------------------------------------------------------ runs
    def evaluate(self, params, start: int, end: int, keep_signals: bool = False) -> Evaluation:
        """Fast path: fill kernel + metrics on `[start, end)` (order strategies: their engine run)."""
        if self.spec.kind == "order":
            r = self.full_run(params, start, end)
            entry = r.index.get_indexer(pd.DatetimeIndex(r.trades["entry_time"]))
            return Evaluation(start, end, r.initial_equity, r.equity, r.stats, entry, r.trades["pnl"].to_numpy(),
                              daily_returns(r.equity, self._ns[start:end], r.initial_equity))
        sig = self.window_signals(params, start, end)
        e = self.engine
        o, h, lo, c = (a[start:end] for a in self._ohlc)
        init = float(e["initial_equity"])
        run = simulate_signals(o, h, lo, c, tuple(sig), self._days[start:end], self.costs, init,
                               float(e["default_risk"]), float(e["leverage"]), bool(e["allow_short"]), e["risk"])
        fills, pos, equity = run["fills"], run["position"], run["equity"]
        tcols = nb.trades_from_fills_nb(fills, c[-1], len(c) - 1)
        stats = compute_stats(equity, init, self.timeframe, tcols[6], pos, fills["bar"])
        return Evaluation(start, end, init, equity, stats, tcols[0], tcols[6],
                          daily_returns(equity, self._ns[start:end], init), sig if keep_signals else None)

    def full_run(self, params, start: int, end: int, signals: Signals | None = None):
        """The engine's full run (vectorbt booking, integrity gates) on `[start, end)`: a BacktestResult."""
        from traderagent.backtest.engine import run_signals

        if self.spec.kind == "order":
            from traderagent.backtest.orders import run_order

            return run_order(self.spec, self.bars.iloc[:end], params, self.timeframe, costs=self.costs,
                             initial_equity=float(self.engine["initial_equity"]), first=start,
                             risk=self.engine["risk"])

        sig = signals if signals is not None else self.window_signals(params, start, end)
        e = self.engine
        return run_signals(self.bars.iloc[start:end], sig, self.timeframe, costs=self.costs,
                           initial_equity=float(e["initial_equity"]), default_risk=float(e["default_risk"]),
                           risk=e["risk"], leverage=float(e["leverage"]),
                           allow_short=bool(e["allow_short"]))
