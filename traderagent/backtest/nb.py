"""Numba kernels of the backtest's bookkeeping: trade aggregation, ledger replay, metrics.

Fills come from the contract layer (`traderagent.core`): signal strategies through the signal position machine
(`core.signal_nb`, run by `engine.simulate_signals`), order strategies through their own state machines; both
fill by the one intrabar rule of `core.orders_nb` and pass the risk guard of `core.risk_nb`.
Every kernel takes and returns plain arrays; the pandas layer is `engine.py`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from traderagent.core.records import Reason

# ############# Trades and ledger ############# #


@njit(cache=True)
def trades_from_fills_nb(fills: np.ndarray, last_close: float, last_bar: int):
    """One row per trade id (reference: the hand-written trade tables in test_engine).

    Returns entry_bar, exit_bar, direction, entry_price, exit_price (size-weighted), size (entered units),
    pnl net of fees, fees, exit_reason. A trade with units still open is marked to `last_close` at
    `last_bar` with reason `end`; its pnl includes that unrealized part, so sum(pnl) = final - initial equity.
    """
    m = fills.shape[0]
    n_tr = 0
    for f in range(m):
        n_tr = max(n_tr, fills[f]["trade"] + 1)
    entry_bar = np.full(n_tr, -1, dtype=np.int64)
    exit_bar = np.full(n_tr, -1, dtype=np.int64)
    direction = np.zeros(n_tr, dtype=np.int8)
    in_size, in_value = np.zeros(n_tr), np.zeros(n_tr)
    out_size, out_value = np.zeros(n_tr), np.zeros(n_tr)
    fees, flow, net = np.zeros(n_tr), np.zeros(n_tr), np.zeros(n_tr)
    in_n, out_n = np.zeros(n_tr, dtype=np.int64), np.zeros(n_tr, dtype=np.int64)
    in_px, out_px = np.full(n_tr, np.nan), np.full(n_tr, np.nan)
    reason = np.full(n_tr, Reason.end, dtype=np.int8)
    for f in range(m):
        t = fills[f]["trade"]
        side, size, price = fills[f]["side"], fills[f]["size"], fills[f]["price"]
        if entry_bar[t] < 0:
            entry_bar[t] = fills[f]["bar"]
            direction[t] = side
        if side == direction[t]:
            in_size[t] += size
            in_value[t] += size * price
            in_n[t] += 1
            in_px[t] = price
        else:
            out_size[t] += size
            out_value[t] += size * price
            out_n[t] += 1
            out_px[t] = price
            exit_bar[t] = fills[f]["bar"]
            reason[t] = fills[f]["reason"]
        fees[t] += fills[f]["fee"]
        flow[t] -= side * size * price + fills[f]["fee"]
        net[t] += side * size
    pnl = np.empty(n_tr)
    for t in range(n_tr):
        pnl[t] = flow[t] + net[t] * last_close
        if abs(net[t]) > 1e-12 * in_size[t]:
            out_size[t] += abs(net[t])
            out_value[t] += abs(net[t]) * last_close
            out_n[t] += 1
            out_px[t] = last_close
            exit_bar[t] = last_bar
            reason[t] = Reason.end
        if in_n[t] > 1:  # a single fill keeps its exact price
            in_px[t] = in_value[t] / in_size[t]
        if out_n[t] > 1:
            out_px[t] = out_value[t] / out_size[t]
    return entry_bar, exit_bar, direction, in_px, out_px, in_size, pnl, fees, reason


@njit(cache=True)
def replay_ledger_nb(fills: np.ndarray, n: int, init_cash: float):
    """Cash and position recomputed from the fills alone: (cash per bar, position per bar, cash per fill,
    position per fill). Fills must be sorted by bar; reference: the engine's own cash arithmetic."""
    m = fills.shape[0]
    cash_bar, pos_bar = np.empty(n), np.empty(n)
    cash_fill, pos_fill = np.empty(m), np.empty(m)
    cash, pos, f = init_cash, 0.0, 0
    for i in range(n):
        while f < m and fills[f]["bar"] == i:
            side, size, price = fills[f]["side"], fills[f]["size"], fills[f]["price"]
            cash = cash - (side * size * price + fills[f]["fee"])
            pos = pos + side * size
            cash_fill[f] = cash
            pos_fill[f] = pos
            f += 1
        cash_bar[i] = cash
        pos_bar[i] = pos
    return cash_bar, pos_bar, cash_fill, pos_fill


# ############# Metrics ############# #


@njit(cache=True)
def bar_returns_1d_nb(equity: np.ndarray, init_cash: float) -> np.ndarray:
    """Simple return of each bar, the first against the initial equity; reference: vectorbt `pf.returns()`."""
    out = np.empty(equity.shape[0])
    prev = init_cash
    for i in range(equity.shape[0]):
        out[i] = equity[i] / prev - 1.0 if prev != 0.0 else np.nan
        prev = equity[i]
    return out


@njit(cache=True)
def sharpe_1d_nb(returns: np.ndarray, ann_factor: float) -> float:
    """mean / std (ddof=1) x sqrt(ann_factor), NaN when std is 0; reference: vectorbt `returns.sharpe_ratio()`."""
    n = returns.shape[0]
    if n < 2:
        return np.nan
    mean = returns.mean()
    var = ((returns - mean) ** 2).sum() / (n - 1)
    if not var > 0.0:
        return np.nan
    return mean / np.sqrt(var) * np.sqrt(ann_factor)


@njit(cache=True)
def sortino_1d_nb(returns: np.ndarray, ann_factor: float) -> float:
    """mean x ann / (sqrt(mean(min(r, 0)^2)) x sqrt(ann)), NaN without downside; reference: vectorbt `sortino_ratio()`."""
    n = returns.shape[0]
    if n < 2:
        return np.nan
    down = 0.0
    for r in returns:
        if r < 0.0:
            down += r * r
    if not down > 0.0:
        return np.nan
    return returns.mean() * ann_factor / (np.sqrt(down / n) * np.sqrt(ann_factor))


@njit(cache=True)
def drawdown_stats_1d_nb(equity: np.ndarray, init_cash: float):
    """(max drawdown as a positive fraction, longest run of bars below the running peak, bar of the max
    drawdown); the peak starts at `init_cash`. Reference: vectorbt `drawdowns.max_drawdown/max_duration`."""
    peak = init_cash
    max_dd = 0.0
    dd_bar = -1
    run = 0
    longest = 0
    for i in range(equity.shape[0]):
        v = equity[i]
        if v >= peak:
            peak = v
            run = 0
        else:
            run += 1
            longest = max(longest, run)
            dd = 1.0 - v / peak if peak > 0.0 else np.inf
            if dd > max_dd or not np.isfinite(dd):
                max_dd = dd
                dd_bar = i
    return max_dd, longest, dd_bar
