"""Numba kernels of the fused EMA-cross parameter sweep (see `traderagent.backtest.sweep`).

One pass per (fast, slow) combo: crossover signals, a long-only all-in simulation filled at the next
bar's open with fees and slippage, and the metrics, without materializing any (bars x combos) array.
Every step replicates vectorbt 1.2's arithmetic (`vbt.MA.run(ewm=True)`, `crossed_above`,
`Portfolio.from_signals(size=inf, accumulate=False, upon_long_conflict='ignore')`, `total_return`,
`sharpe_ratio`, `max_drawdown`, `trades.win_rate`, `trades.profit_factor`), so results agree combo for
combo; `tests/unit/test_sweep.py` and `bench/bench_sweep.py` compare them.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

#: Column order of the metrics array returned by `ema_cross_sweep_nb`.
METRICS = ("total_return", "sharpe", "max_drawdown", "win_rate", "profit_factor", "n_trades")

# vectorbt.utils.math_ tolerances used by its order execution and bookkeeping.
_REL_TOL = 1e-9
_ABS_TOL = 1e-12


@njit(cache=True)
def is_close_nb(a: float, b: float) -> bool:
    """Match `vectorbt.utils.math_.is_close_nb` (rel 1e-9, abs 1e-12)."""
    if np.isnan(a) or np.isnan(b) or np.isinf(a) or np.isinf(b):
        return False
    if a == b:
        return True
    return abs(a - b) <= max(_REL_TOL * max(abs(a), abs(b)), _ABS_TOL)


@njit(cache=True)
def add_nb(a: float, b: float) -> float:
    """Match `vectorbt.utils.math_.add_nb`: a + b, snapped to 0.0 when it is zero within tolerance."""
    if np.sign(a) != np.sign(b):
        if is_close_nb(abs(a), abs(b)):
            return 0.0
    elif is_close_nb(a + b, 0.0):
        return 0.0
    return a + b


@njit(cache=True)
def ewm_mean_1d_nb(a: np.ndarray, span: int) -> np.ndarray:
    """Match `pd.Series(a).ewm(span=span, min_periods=span, adjust=False).mean()` (= vbt.MA ewm=True)."""
    n = a.shape[0]
    out = np.empty(n, dtype=np.float64)
    if n == 0:
        return out
    alpha = 1.0 / (1.0 + (span - 1) / 2.0)
    old_wt_factor = 1.0 - alpha
    avg = a[0]
    nobs = 1 if avg == avg else 0
    out[0] = avg if nobs >= span else np.nan
    old_wt = 1.0
    for i in range(1, n):
        cur = a[i]
        is_obs = cur == cur
        nobs += is_obs
        if avg == avg:
            old_wt *= old_wt_factor
            if is_obs:
                if avg != cur:  # as pandas: no update on a constant series (avoids rounding drift)
                    avg = ((old_wt * avg) + (alpha * cur)) / (old_wt + alpha)
                old_wt = 1.0
        elif is_obs:
            avg = cur
        out[i] = avg if nobs >= span else np.nan
    return out


@njit(cache=True)
def ewm_mean_windows_nb(a: np.ndarray, windows: np.ndarray) -> np.ndarray:
    """`ewm_mean_1d_nb` for each window: returns (len(windows), len(a)) (serial: ~0.2 ms per window)."""
    out = np.empty((windows.shape[0], a.shape[0]), dtype=np.float64)
    for k in range(windows.shape[0]):
        out[k] = ewm_mean_1d_nb(a, windows[k])
    return out


@njit(cache=True)
def cross_step_nb(x: float, y: float, was_below: bool, crossed_ago: int) -> tuple[bool, bool, int]:
    """One bar of `vectorbt.generic.nb.crossed_above_1d_nb(x, y, wait=0)`: (signal, was_below, crossed_ago)."""
    if np.isnan(x) or np.isnan(y):
        return False, False, -1
    if x > y:
        if was_below:
            crossed_ago += 1
            return crossed_ago == 0, True, crossed_ago
        return False, False, crossed_ago
    if x == y:
        return False, was_below, -1
    return False, True, -1


@njit(cache=True)
def sharpe_1d_nb(returns: np.ndarray, total: float, count: int, ann_factor: float) -> float:
    """Match `vectorbt.returns.nb.sharpe_ratio_1d_nb(risk_free=0, ddof=1)`; `total`/`count`: nansum/non-NaN count."""
    if returns.shape[0] < 2 or count < 2:
        return np.nan
    mean = total / count
    ssd = 0.0
    for i in range(returns.shape[0]):
        if not np.isnan(returns[i]):
            d = returns[i] - mean
            ssd += d * d
    std = np.sqrt(ssd / count * count / (count - 1))
    if std == 0.0:
        return np.inf
    return mean / std * np.sqrt(ann_factor)


@njit(cache=True)
def trade_pnl_nb(
    size: float, entry_price: float, entry_fees: float, exit_price: float, exit_fees: float
) -> float:
    """Match `vectorbt.portfolio.nb.get_trade_stats_nb` P&L of a long exit trade."""
    return add_nb(size * exit_price, -(size * entry_price)) - entry_fees - exit_fees


@njit(cache=True)
def buy_all_nb(cash: float, adj_price: float, fees: float, min_size: float) -> tuple[float, float]:
    """Match vectorbt's `buy_nb` for size=inf, long-only, no fixed fees, at the slipped price: (size, fees).

    Size 0 means no fill (NaN price, no cash, or below `min_size`)."""
    if is_close_nb(cash, 0.0):
        cash = 0.0
    if np.isnan(adj_price) or cash == 0.0:
        return 0.0, 0.0
    max_req_cash = add_nb(cash, -0.0) / (1 + fees)
    if max_req_cash <= 0:
        return 0.0, 0.0
    size = max_req_cash / adj_price
    if not is_close_nb(size, min_size) and size < min_size:
        return 0.0, 0.0
    return size, cash - max_req_cash


@njit(cache=True)
def sell_all_nb(position: float, adj_price: float, fees: float, min_size: float) -> tuple[float, float]:
    """Match vectorbt's `sell_nb` closing a long position at the slipped price: (size, fees); size 0: no fill."""
    if is_close_nb(position, 0.0):
        position = 0.0
    if np.isnan(adj_price) or position == 0.0:
        return 0.0, 0.0
    if not is_close_nb(position, min_size) and position < min_size:
        return 0.0, 0.0
    acq_cash = position * adj_price
    fees_paid = acq_cash * fees
    if add_nb(acq_cash, -fees_paid) < 0:
        return 0.0, 0.0
    return position, fees_paid


@njit(cache=True)
def fill_price_nb(ref: float, side: int, slippage: float, clamp: bool, low: float, high: float) -> float:
    """`ref` moved against the trader by `slippage` (as vectorbt), clamped to [low, high] if `clamp` (as our engine)."""
    px = ref * (1 + slippage) if side > 0 else ref * (1 - slippage)
    if clamp and not np.isnan(px):
        px = min(max(px, low), high)
    return px


@njit(cache=True)
def simulate_ema_cross_1d_nb(
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    fast: np.ndarray,
    slow: np.ndarray,
    fees: float,
    slippage: float,
    clamp: bool,
    init_cash: float,
    min_size: float,
    ann_factor: float,
    returns: np.ndarray,
) -> tuple[float, float, float, float, float, float]:
    """Match `Portfolio.from_signals(close, fshift(fast crosses above slow), fshift(... below), price=open)`.

    With `clamp`, slipped fill prices are clamped to the fill bar's [low, high] (our engine's rule; vectorbt
    matches it given those prices). Returns the `METRICS`; `returns` (len(close)) is scratch space that ends
    up holding `pf.returns()`.
    """
    n = close.shape[0]
    sim_cash, position = init_cash, 0.0  # the simulator's state
    cash, assets = init_cash, 0.0  # pf.cash() / pf.assets(), rebuilt from order records as vectorbt does
    tp_cash, tp_assets, n_orders = 0.0, 0.0, 0  # total_profit_nb's accumulators
    e_size, e_gross, e_fees = 0.0, 0.0, 0.0  # the open trade
    n_trades, n_wins, win_sum, loss_sum = 0, 0, 0.0, 0.0
    entry = exit_ = False
    up_below, up_ago, dn_below, dn_ago = False, -1, False, -1
    prev_value = init_cash
    r_sum, r_count, cumprod, peak, worst = 0.0, 0, 1.0, -np.inf, np.inf  # Sharpe and drawdown, streamed
    for i in range(n):
        size, flow = 0.0, 0.0
        if entry != exit_:  # both at once: ignored (upon_long_conflict='ignore')
            if entry and position == 0:
                price = fill_price_nb(open_[i], 1, slippage, clamp, low[i], high[i])
                size, fee = buy_all_nb(sim_cash, price, fees, min_size)
                if size > 0:
                    sim_cash, position = add_nb(sim_cash, -sim_cash), add_nb(position, size)
                    flow = -size * price - fee
                    e_size, e_gross, e_fees = size, size * price, fee
            elif exit_ and position > 0:
                price = fill_price_nb(open_[i], -1, slippage, clamp, low[i], high[i])
                size, fee = sell_all_nb(position, price, fees, min_size)
                if size > 0:
                    sim_cash, position = sim_cash + add_nb(size * price, -fee), add_nb(position, -size)
                    flow = size * price - fee
                    size = -size
                    exit_size = e_size if is_close_nb(-size, e_size) else -size
                    pnl = trade_pnl_nb(exit_size, e_gross / e_size, exit_size / e_size * e_fees, price, fee)
                    n_trades += 1
                    n_wins, win_sum, loss_sum = _tally_nb(pnl, n_wins, win_sum, loss_sum)
                    e_size = 0.0
            if size != 0:
                n_orders += 1
                cash = add_nb(cash, add_nb(0.0, flow))
                assets = add_nb(assets, add_nb(0.0, size))
                tp_cash = add_nb(tp_cash, flow)
                tp_assets = add_nb(tp_assets, size)
        value = cash + close[i] * assets
        ret = _return_nb(prev_value, value)
        returns[i] = ret
        prev_value = value
        if not np.isnan(ret):  # vectorbt's nanmean and cum_returns_1d_nb skip NaN returns
            r_sum += ret
            r_count += 1
            cumprod *= ret + 1
        peak, worst = _drawdown_step_nb(cumprod * 100.0, peak, worst)
        entry, up_below, up_ago = cross_step_nb(fast[i], slow[i], up_below, up_ago)
        exit_, dn_below, dn_ago = cross_step_nb(slow[i], fast[i], dn_below, dn_ago)
    if e_size > 0 and not is_close_nb(-e_size, 0.0):  # still open: marked to the last close
        pnl = trade_pnl_nb(e_size, e_gross / e_size, e_fees, close[n - 1], 0.0)
        n_trades += 1
        n_wins, win_sum, loss_sum = _tally_nb(pnl, n_wins, win_sum, loss_sum)
    total_profit = tp_cash + tp_assets * close[n - 1] if n_orders > 0 else 0.0
    win_rate = n_wins / n_trades if n_trades > 0 else np.nan
    profit_factor = _divide_nb(win_sum, abs(loss_sum)) if n_trades > 0 else np.nan
    return (
        total_profit / init_cash,
        sharpe_1d_nb(returns, r_sum, r_count, ann_factor),
        worst,
        win_rate,
        profit_factor,
        float(n_trades),
    )


@njit(cache=True)
def _drawdown_step_nb(value: float, peak: float, worst: float) -> tuple[float, float]:
    """One bar of `vectorbt.returns.nb.max_drawdown_1d_nb`: value / running max - 1, its minimum so far."""
    if value > peak:
        peak = value
    dd = value / peak - 1
    return peak, dd if dd < worst else worst


@njit(cache=True)
def _tally_nb(pnl: float, n_wins: int, win_sum: float, loss_sum: float) -> tuple[int, float, float]:
    if pnl > 0:
        return n_wins + 1, win_sum + pnl, loss_sum
    if pnl < 0:
        return n_wins, win_sum, loss_sum + pnl
    return n_wins, win_sum, loss_sum


@njit(cache=True)
def _return_nb(input_value: float, output_value: float) -> float:
    """Match `vectorbt.returns.nb.get_return_nb`."""
    if input_value == 0:
        if output_value == 0:
            return 0.0
        return np.inf * np.sign(output_value)
    ret = (output_value - input_value) / input_value
    if input_value < 0:
        ret *= -1
    return ret


@njit(cache=True)
def _divide_nb(a: float, b: float) -> float:
    """NumPy division semantics (x/0 = ±inf, 0/0 = nan) without numba's ZeroDivisionError."""
    if b == 0.0:
        if a == 0.0 or np.isnan(a):
            return np.nan
        return np.inf if a > 0 else -np.inf
    return a / b


@njit(cache=True, parallel=True)
def ema_cross_sweep_nb(
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    emas: np.ndarray,
    fast_idx: np.ndarray,
    slow_idx: np.ndarray,
    fees: float,
    slippage: float,
    clamp: bool,
    init_cash: float,
    min_size: float,
    ann_factor: float,
) -> np.ndarray:
    """`simulate_ema_cross_1d_nb` for each combo (rows of `emas` picked by fast_idx/slow_idx), in parallel."""
    n_combos = fast_idx.shape[0]
    out = np.empty((n_combos, len(METRICS)), dtype=np.float64)
    for c in prange(n_combos):
        buf = np.empty(close.shape[0], dtype=np.float64)
        res = simulate_ema_cross_1d_nb(
            open_,
            high,
            low,
            close,
            emas[fast_idx[c]],
            emas[slow_idx[c]],
            fees,
            slippage,
            clamp,
            init_cash,
            min_size,
            ann_factor,
            buf,
        )
        for k in range(len(METRICS)):
            out[c, k] = res[k]
    return out
