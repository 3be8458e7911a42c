"""Performance metrics of a backtest, from plain arrays (equity per bar, trade P&Ls, fills, positions).

Definitions (all fractions, never percents; docs/engine.md repeats them):

* per-bar returns r_t = equity_t / equity_{t-1} - 1, with equity_{-1} = the initial equity;
* `total_return` = final / initial - 1; `cagr` = (final / initial) ** (bars_per_year / n_bars) - 1
  (-1 when equity ends at or below 0);
* `sharpe` = mean(r) / std(r, ddof=1) x sqrt(bars_per_year), risk-free rate 0; `sortino` = mean(r) x
  bars_per_year / (sqrt(mean(min(r, 0)^2)) x sqrt(bars_per_year)). Both NaN when undefined (fewer
  than 2 bars, zero deviation: e.g. a run without trades), where vectorbt returns inf;
* `max_drawdown` = max over t of 1 - equity_t / running peak (the peak starts at the initial equity);
  `max_drawdown_duration_days` = the longest run of bars spent below a previous peak, in days;
  `calmar` = cagr / max_drawdown (NaN without a drawdown);
* trade statistics over every trade of the trades table, including one still open at the end (marked
  to the last close): `win_rate` = share of trades with pnl > 0; `profit_factor` = gross profit /
  gross loss (inf without losing trades, NaN without trades); `expectancy` = mean pnl per trade in
  quote currency (= vectorbt's win_rate x avg_win - loss_rate x avg_loss); `trades` = the count;
* `exposure` = share of bars during which a position was open at some time (held at the close or
  filled in the bar).

Annualisation uses `traderagent.data.timeframes.bars_per_year` (365-day years: crypto trades around the
clock), i.e. vectorbt with `freq=<timeframe>` and `year_freq='365 days'`.
"""

from __future__ import annotations

import math

import numpy as np

from traderagent.backtest import nb
from traderagent.data import timeframes

#: The statistics that the JSON result carries, in order.
JSON_STATS = (
    "total_return",
    "cagr",
    "sharpe",
    "sortino",
    "max_drawdown",
    "win_rate",
    "profit_factor",
    "expectancy",
    "exposure",
    "trades",
)


def return_stats(equity: np.ndarray, init_cash: float, timeframe: str) -> dict[str, float]:
    """Return-based statistics of an equity curve (one value per bar, after that bar's fills)."""
    equity = np.ascontiguousarray(equity, dtype=np.float64)
    ann = timeframes.bars_per_year(timeframe)
    n = equity.shape[0]
    final = float(equity[-1]) if n else float(init_cash)
    rets = nb.bar_returns_1d_nb(equity, float(init_cash))
    max_dd, dd_bars, _ = nb.drawdown_stats_1d_nb(equity, float(init_cash))
    growth = final / init_cash
    cagr = growth ** (ann / n) - 1.0 if (n and growth > 0.0) else -1.0
    return {
        "total_return": growth - 1.0,
        "cagr": cagr,
        "sharpe": float(nb.sharpe_1d_nb(rets, ann)),
        "sortino": float(nb.sortino_1d_nb(rets, ann)),
        "max_drawdown": float(max_dd),
        "max_drawdown_duration_days": dd_bars * timeframes.seconds(timeframe) / 86400.0,
        "calmar": cagr / max_dd if max_dd > 0.0 else math.nan,
    }


def trade_stats(pnl: np.ndarray) -> dict[str, float]:
    """Win rate, profit factor, expectancy (mean pnl) and count of a set of trade P&Ls."""
    pnl = np.asarray(pnl, dtype=np.float64)
    n = pnl.shape[0]
    if n == 0:
        return {"win_rate": math.nan, "profit_factor": math.nan, "expectancy": math.nan, "trades": 0}
    gross_win = float(pnl[pnl > 0].sum())
    gross_loss = float(-pnl[pnl < 0].sum())
    if gross_loss > 0.0:
        pf = gross_win / gross_loss
    else:
        pf = math.inf if gross_win > 0.0 else math.nan
    return {
        "win_rate": float((pnl > 0).mean()),
        "profit_factor": pf,
        "expectancy": float(pnl.mean()),
        "trades": int(n),
    }


def exposure(position: np.ndarray, fill_bars: np.ndarray) -> float:
    """Share of bars with a position open at some time: held at the bar's close, or filled in the bar."""
    n = len(position)
    if n == 0:
        return math.nan
    held = np.asarray(position) != 0.0
    held[np.asarray(fill_bars, dtype=np.int64)] = True
    return float(held.mean())


def compute_stats(
    equity: np.ndarray,
    init_cash: float,
    timeframe: str,
    trade_pnl: np.ndarray,
    position: np.ndarray,
    fill_bars: np.ndarray,
) -> dict[str, float]:
    """All statistics of a run: the JSON set (`JSON_STATS`) plus max_drawdown_duration_days and calmar."""
    out: dict[str, float] = {}
    out.update(return_stats(equity, init_cash, timeframe))
    out.update(trade_stats(trade_pnl))
    out["exposure"] = exposure(position, fill_bars)
    return out
