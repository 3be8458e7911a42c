"""Numba kernels of the signal backtest: the one fill scheduler, trade aggregation, ledger replay, metrics.

`simulate_signals_nb` is the ONLY place where a signal strategy's decisions become fills. Its rules
(docs/engine.md has the long form):

* A decision taken at bar t's close is filled at bar t+1's open: signal exits (and reversals) first,
  then the entry. Nothing is ever filled in the bar that produced the signal.
* Every fill price is the reference price moved against the trader by the slippage and clamped to
  the bar's [low, high]; the fee is `fees x price x size`.
* An open position's stop and target rest from the bar of its entry fill on (the entry bar included):
  the open is checked first (a gap through the stop or the target fills at the open), then the bar's
  low/high; when one bar touches both, the stop wins.
* Entries are sized so that a stop-out loses `risk` of equity including both legs' fees and slippage,
  capped by `max_risk`, `max_exposure`, the leverage and the cash.

Every kernel takes and returns plain arrays; the pandas layer is `engine.py`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from traderagent.core.records import FILL_DTYPE, Reason

# ############# Filling ############# #


@njit(cache=True)
def fill_price_nb(ref: float, side: int, slippage: float, low: float, high: float) -> float:
    """Fill price: `ref` moved against the trader (buy up, sell down) by `slippage`, clamped to [low, high]."""
    if side > 0:
        px = ref * (1.0 + slippage)
    else:
        px = ref * (1.0 - slippage)
    return min(max(px, low), high)


@njit(cache=True)
def levels_valid_nb(direction: int, open_: float, stop: float, target: float) -> bool:
    """False when the stop or target is at or beyond the entry bar's open (it would trigger at once)."""
    if direction > 0:
        if np.isfinite(stop) and stop >= open_:
            return False
        if np.isfinite(target) and target <= open_:
            return False
    else:
        if np.isfinite(stop) and stop <= open_:
            return False
        if np.isfinite(target) and target >= open_:
            return False
    return True


@njit(cache=True)
def entry_size_nb(
    direction: int,
    price: float,
    stop: float,
    equity: float,
    cash: float,
    risk: float,
    fees: float,
    slippage: float,
    max_exposure: float,
    leverage: float,
) -> float:
    """Units to trade so a stop-out loses `risk` x equity (fees and slippage of both legs included), capped.

    Caps: notional <= min(max_exposure, leverage) x equity; a long's cost incl. fee <= cash + (leverage-1)
    x equity. Without a finite stop the size is the exposure cap. Returns 0.0 when nothing can be traded.
    """
    if equity <= 0.0 or price <= 0.0:
        return 0.0
    size = min(max_exposure, leverage) * equity / price
    if np.isfinite(stop):
        if direction > 0:
            loss = price * (1.0 + fees) - stop * (1.0 - slippage) * (1.0 - fees)
        else:
            loss = stop * (1.0 + slippage) * (1.0 + fees) - price * (1.0 - fees)
        if not loss > 0.0:
            return 0.0
        size = min(size, risk * equity / loss)
    if direction > 0:
        size = min(size, (cash + (leverage - 1.0) * equity) / (price * (1.0 + fees)))
    if not (size > 0.0 and np.isfinite(size)):
        return 0.0
    return size


@njit(cache=True)
def stop_target_nb(direction: int, open_: float, high: float, low: float, stop: float, target: float):
    """The resting exit a bar triggers for a position of `direction` (+1 long, -1 short): (reason, ref price).

    The open comes first (gap through the stop or the target fills at the open), then low/high with the
    stop winning when both are touched. Returns (-1, nan) when neither triggers.
    """
    has_stop = np.isfinite(stop)
    has_target = np.isfinite(target)
    if direction > 0:
        if has_stop and open_ <= stop:
            return Reason.stop, open_
        if has_target and open_ >= target:
            return Reason.target, open_
        if has_stop and low <= stop:
            return Reason.stop, stop
        if has_target and high >= target:
            return Reason.target, target
    else:
        if has_stop and open_ >= stop:
            return Reason.stop, open_
        if has_target and open_ <= target:
            return Reason.target, open_
        if has_stop and high >= stop:
            return Reason.stop, stop
        if has_target and low <= target:
            return Reason.target, target
    return -1, np.nan


@njit(cache=True)
def book_fill_nb(fills, fill_signal_bar, k, trade, bar, side, price, size, fees, reason, signal_bar, cash, position):
    """Append fill k and return (k + 1, cash, position) after it; cash -= side x size x price + fee."""
    fee = size * price * fees
    rec = fills[k]
    rec["trade"] = trade
    rec["bar"] = bar
    rec["side"] = side
    rec["price"] = price
    rec["size"] = size
    rec["fee"] = fee
    rec["reason"] = reason
    fill_signal_bar[k] = signal_bar
    return k + 1, cash - (side * size * price + fee), position + side * size


@njit(cache=True)
def simulate_signals_nb(
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    entry_long: np.ndarray,
    exit_long: np.ndarray,
    entry_short: np.ndarray,
    exit_short: np.ndarray,
    stop: np.ndarray,
    target: np.ndarray,
    risk: np.ndarray,
    init_cash: float,
    fees: float,
    slippage: float,
    default_risk: float,
    max_risk: float,
    max_exposure: float,
    leverage: float,
    allow_short: bool,
):
    """Fill signals bar by bar (rules in the module docstring); reference: the hand-written tables in test_engine.

    Returns (fills as FILL_DTYPE, decision bar of each fill, cash, position, equity per bar after its fills).
    """
    n = close.shape[0]
    fills = np.empty(3 * n, dtype=FILL_DTYPE)
    fill_signal_bar = np.empty(3 * n, dtype=np.int64)
    cash_out = np.empty(n)
    pos_out = np.empty(n)
    eq_out = np.empty(n)
    cash = init_cash
    pos = 0.0
    k = 0
    trade = -1
    t_stop = np.nan
    t_target = np.nan
    t_sig = -1
    for i in range(n):
        o, h, lo = open_[i], high[i], low[i]
        if i > 0:
            j = i - 1
            want_long = entry_long[j] and not exit_long[j]
            want_short = allow_short and entry_short[j] and not exit_short[j]
            if want_long and want_short:  # contradictory decision: do nothing new
                want_long = False
                want_short = False
            if (pos > 0.0 and (exit_long[j] or want_short)) or (pos < 0.0 and (exit_short[j] or want_long)):
                side = -1 if pos > 0.0 else 1
                px = fill_price_nb(o, side, slippage, lo, h)
                k, cash, pos = book_fill_nb(
                    fills, fill_signal_bar, k, trade, i, side, px, abs(pos), fees, Reason.signal, j, cash, pos
                )
            if pos == 0.0 and (want_long or want_short):
                d = 1 if want_long else -1
                if levels_valid_nb(d, o, stop[j], target[j]):
                    px = fill_price_nb(o, d, slippage, lo, h)
                    r = risk[j] if (np.isfinite(risk[j]) and risk[j] > 0.0) else default_risk
                    size = entry_size_nb(
                        d, px, stop[j], cash, cash, min(r, max_risk), fees, slippage, max_exposure, leverage
                    )
                    if size > 0.0:
                        trade += 1
                        k, cash, pos = book_fill_nb(
                            fills, fill_signal_bar, k, trade, i, d, px, size, fees, Reason.signal, j, cash, pos
                        )
                        t_stop, t_target, t_sig = stop[j], target[j], j
        if pos != 0.0:
            d = 1 if pos > 0.0 else -1
            reason, ref = stop_target_nb(d, o, h, lo, t_stop, t_target)
            if reason >= 0:
                px = fill_price_nb(ref, -d, slippage, lo, h)
                k, cash, pos = book_fill_nb(
                    fills, fill_signal_bar, k, trade, i, -d, px, abs(pos), fees, reason, t_sig, cash, pos
                )
        cash_out[i] = cash
        pos_out[i] = pos
        eq_out[i] = cash + pos * close[i]
    return fills[:k].copy(), fill_signal_bar[:k].copy(), cash_out, pos_out, eq_out


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
