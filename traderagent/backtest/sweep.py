"""Fast parameter sweep of the EMA-cross rule: one row of metrics per (fast, slow) combo.

The rule, as the product fills it: long when the fast EMA crosses above the slow EMA at bar t's close,
flat when it crosses below; orders fill at bar t+1's open, all-in (all cash), with fees and slippage on
every fill, the slipped price clamped to the fill bar's [low, high] as our engine does (`clamp=False`:
vectorbt's plain `from_signals`, which does not clamp). Metrics are vectorbt's: total return, Sharpe (annualized over 365 days), max drawdown, win
rate and profit factor of exit trades (an open trade at the end counts, marked to the last close).

`ema_cross_sweep` runs a fused numba kernel (`sweep_nb`), parallel over combos, that never builds a
(bars x combos) array; `ema_cross_sweep_vectorbt` is the straightforward vectorbt pipeline (MA.run,
crossed signals shifted one bar, Portfolio.from_signals at the open, its metrics) that it must match
combo for combo: with `clamp=False` bit for bit against vectorbt's numba engine, and within a few ulps
(1e-13 relative) against its Rust engine or with clamped prices.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

import numpy as np
import pandas as pd

from traderagent.data import timeframes
from traderagent.errors import DataError, UserError

#: Metric columns of the result, in order.
METRIC_COLUMNS = ("total_return", "sharpe", "max_drawdown", "win_rate", "profit_factor", "n_trades")
#: vectorbt's `settings['returns']['year_freq']`: Sharpe is annualized over 365 days of bars.
YEAR_SECONDS = 365 * 86_400
#: vectorbt's default `min_size`: a fill smaller than this is rejected.
MIN_SIZE = 1e-8


class CostsLike(Protocol):
    """Anything with per-side `fees` and `slippage` fractions (e.g. `traderagent.core.costs.Costs`)."""

    fees: float
    slippage: float


def ema_grid(fast_windows: Iterable[int], slow_windows: Iterable[int]) -> tuple[np.ndarray, np.ndarray]:
    """Every (fast, slow) pair of the two ranges with fast < slow, fast-major: (fast array, slow array)."""
    pairs = [(f, s) for f in _windows(fast_windows, "fast") for s in _windows(slow_windows, "slow") if f < s]
    if not pairs:
        raise UserError("EMA sweep: no (fast, slow) pair with fast < slow; widen the window ranges")
    fast, slow = zip(*pairs, strict=True)
    return np.asarray(fast, dtype=np.int64), np.asarray(slow, dtype=np.int64)


def ema_cross_sweep(
    bars: pd.DataFrame,
    fast_windows: Iterable[int],
    slow_windows: Iterable[int],
    costs: CostsLike,
    init_cash: float,
    *,
    pairs: bool = False,
    timeframe: str | None = None,
    clamp: bool = True,
) -> pd.DataFrame:
    """Metrics of the EMA-cross rule for each combo: a frame indexed by (fast, slow) with `METRIC_COLUMNS`.

    By default the combos are the grid of `ema_grid(fast_windows, slow_windows)`; with `pairs=True` the
    two sequences are zipped into explicit combos (each with fast < slow). `bars` needs a UTC
    DatetimeIndex and float `open`/`high`/`low`/`close` columns (`open`/`close` with `clamp=False`);
    `timeframe` (e.g. "15m") sets the bar length for annualizing, inferred from the index when omitted.
    """
    fast, slow = _combos(fast_windows, slow_windows, pairs)
    open_, high, low, close = _prices(bars, clamp)
    fees, slippage = _costs(costs)
    if not (np.isfinite(init_cash) and init_cash > 0):
        raise UserError(f"EMA sweep: init_cash must be a positive amount (got {init_cash!r})")
    ann_factor = YEAR_SECONDS / _bar_seconds(bars.index, timeframe)

    from traderagent.backtest import sweep_nb

    windows = np.unique(np.concatenate([fast, slow]))
    emas = sweep_nb.ewm_mean_windows_nb(close, windows)
    out = sweep_nb.ema_cross_sweep_nb(
        open_,
        high,
        low,
        close,
        emas,
        np.searchsorted(windows, fast),
        np.searchsorted(windows, slow),
        fees,
        slippage,
        clamp,
        float(init_cash),
        MIN_SIZE,
        ann_factor,
    )
    return _frame(out, fast, slow)


def ema_cross_sweep_vectorbt(
    bars: pd.DataFrame,
    fast: Sequence[int],
    slow: Sequence[int],
    costs: CostsLike,
    init_cash: float,
    *,
    timeframe: str | None = None,
    clamp: bool = True,
    chunk: int = 100,
) -> pd.DataFrame:
    """The reference: the straightforward vectorbt pipeline over explicit (fast[i], slow[i]) combos.

    `vbt.MA.run(ewm=True)` for both windows, `ma_crossed_above/below` shifted one bar (decide at the
    close, fill at the next open), `Portfolio.from_signals(price=open)` and its metrics, `chunk` combos
    at a time to bound memory. With `clamp`, the price passed on a fill bar whose slipped open falls
    outside [low, high] is the bound divided by the slippage factor, so vectorbt fills at the bound.
    Slow (it materializes every array); used to check `ema_cross_sweep`.
    """
    from traderagent.backtest.vbt import load

    vbt = load()

    fast_a, slow_a = _combos(fast, slow, pairs=True)
    o, high, low, _ = _prices(bars, clamp)
    fees, slippage = _costs(costs)
    buy, sell = _clamped_refs(o, high, low, slippage)
    freq = pd.Timedelta(seconds=_bar_seconds(bars.index, timeframe))
    close, open_ = bars["close"].astype(float), bars["open"].astype(float)
    parts = []
    for start in range(0, len(fast_a), chunk):
        f, s = list(fast_a[start : start + chunk]), list(slow_a[start : start + chunk])
        fast_ma = vbt.MA.run(close, window=f, ewm=True, short_name="fast")
        slow_ma = vbt.MA.run(close, window=s, ewm=True, short_name="slow")
        entries = fast_ma.ma_crossed_above(slow_ma).vbt.signals.fshift(1)
        exits = fast_ma.ma_crossed_below(slow_ma).vbt.signals.fshift(1)
        price = open_
        if clamp:
            en, ex = entries.vbt.to_2d_array(), exits.vbt.to_2d_array()
            price = entries.vbt.wrapper.wrap(
                np.where(en, buy[:, None], np.where(ex, sell[:, None], o[:, None]))
            )
        pf = vbt.Portfolio.from_signals(
            close, entries, exits, price=price, fees=fees, slippage=slippage, init_cash=init_cash, freq=freq
        )
        trades = pf.trades
        cols = (pf.total_return(), pf.sharpe_ratio(), pf.max_drawdown(), trades.win_rate())
        cols += (trades.profit_factor(), trades.count())
        parts.append(np.column_stack([np.asarray(c, dtype=np.float64) for c in cols]))
    return _frame(np.concatenate(parts), fast_a, slow_a)


def _clamped_refs(
    o: np.ndarray, h: np.ndarray, lo: np.ndarray, slippage: float
) -> tuple[np.ndarray, np.ndarray]:
    """Reference prices that vectorbt turns into the clamped buy / sell fill prices (open where no clamp binds)."""
    up, down = 1 + slippage, 1 - slippage
    buy = np.where(o * up > h, h / up, np.where(o * up < lo, lo / up, o))
    sell = np.where(o * down < lo, lo / down, np.where(o * down > h, h / down, o))
    return buy, sell


def _frame(out: np.ndarray, fast: np.ndarray, slow: np.ndarray) -> pd.DataFrame:
    index = pd.MultiIndex.from_arrays([fast, slow], names=["fast", "slow"])
    df = pd.DataFrame(out, index=index, columns=list(METRIC_COLUMNS))
    df["n_trades"] = df["n_trades"].astype(np.int64)
    return df


def _windows(values: Iterable[int], name: str) -> list[int]:
    out = []
    for v in values:
        if isinstance(v, bool) or not float(v).is_integer() or int(v) < 1:
            raise UserError(f"EMA sweep: {name} window {v!r} is not a whole number of bars >= 1")
        out.append(int(v))
    if not out:
        raise UserError(f"EMA sweep: no {name} windows given")
    return out


def _combos(
    fast_windows: Iterable[int], slow_windows: Iterable[int], pairs: bool
) -> tuple[np.ndarray, np.ndarray]:
    if not pairs:
        return ema_grid(fast_windows, slow_windows)
    fast, slow = _windows(fast_windows, "fast"), _windows(slow_windows, "slow")
    if len(fast) != len(slow):
        raise UserError(
            f"EMA sweep: {len(fast)} fast windows but {len(slow)} slow windows; pairs need equal counts"
        )
    bad = next(((f, s) for f, s in zip(fast, slow, strict=True) if f >= s), None)
    if bad:
        raise UserError(f"EMA sweep: pair (fast={bad[0]}, slow={bad[1]}) needs fast < slow")
    return np.asarray(fast, dtype=np.int64), np.asarray(slow, dtype=np.int64)


def _prices(bars: pd.DataFrame, clamp: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(open, high, low, close) as float arrays; high and low are the open when not clamping."""
    need = ("open", "high", "low", "close") if clamp else ("open", "close")
    missing = [c for c in need if c not in getattr(bars, "columns", ())]
    if missing:
        raise DataError(f"EMA sweep: bars lack column(s) {', '.join(missing)}; pass OHLCV candles")
    if len(bars) < 2:
        raise DataError(f"EMA sweep: need at least 2 bars (got {len(bars)})")
    cols = [np.ascontiguousarray(bars[c].to_numpy(dtype=np.float64)) for c in need]
    if not clamp:
        cols = [cols[0], cols[0], cols[0], cols[1]]
    return cols[0], cols[1], cols[2], cols[3]


def _costs(costs: CostsLike) -> tuple[float, float]:
    fees, slippage = float(costs.fees), float(costs.slippage)
    if not (0 <= fees < 1 and 0 <= slippage < 1):
        raise UserError(f"EMA sweep: fees and slippage are fractions in [0, 1) (got {fees!r}, {slippage!r})")
    return fees, slippage


def _bar_seconds(index: pd.Index, timeframe: str | None) -> float:
    if timeframe is not None:
        return float(timeframes.seconds(timeframe))
    if not isinstance(index, pd.DatetimeIndex) or len(index) < 2:
        raise DataError(
            "EMA sweep: bars need a DatetimeIndex to infer the bar length; pass timeframe='15m' etc."
        )
    step = np.diff(index.asi8)
    unit = pd.Timedelta(1, unit=index.unit).total_seconds()
    return float(np.median(step)) * unit
