"""The SMC strategy's decision kernel: arrays in (entry-timeframe candles and aligned higher-timeframe state),
per-bar decisions out. Rules and the reference hand-built tables: docs/smc_strategy.md,
tests/unit/test_smc_strategy.py."""

from __future__ import annotations

import numpy as np
from numba import njit

#: Columns of the per-bar diagnostics the kernel returns beside the Signals (one row per bar).
FACTOR_NAMES = ("bias", "structure", "zone", "choch", "sweep", "pd", "score")


@njit(cache=True)
def _side_factor_nb(x: float, d: int) -> int:
    """+1 if a direction reading x agrees with d, -1 if it opposes it, 0 when unknown (NaN or 0)."""
    if np.isnan(x) or x == 0.0:
        return 0
    return 1 if x * d > 0 else -1


@njit(cache=True)
def _pd_factor_nb(pos: float, d: int) -> int:
    """Discount (pos < 0.5) agrees with a long, premium (pos > 0.5) with a short; 0 at 0.5 or unknown."""
    if np.isnan(pos) or pos == 0.5:
        return 0
    return 1 if (pos < 0.5) == (d > 0) else -1


@njit(cache=True)
def smc_signals_1d_nb(high, low, close, atr, choch, sweep_high, sweep_low, swing_high_idx, swing_low_idx,
                      bias, structure, pd_pos, bull_top_prev, bull_bot_prev, bear_top_prev, bear_bot_prev,
                      liq_high, liq_low, threshold, target_r, liquidity_target, stop_buffer_atr, max_leg, risk):
    """SMC confluence decisions per entry bar (reference: the hand-built candle tables in test_smc_strategy).

    A long setup at bar t needs a trigger on bar t (a bullish CHoCH or a sweep of a low) and a bullish zone
    traded into during the leg (a, t], where a is the newest confirmed swing high before t and t - a <= max_leg.
    Score = bias + structure + pd (each +1 agree / -1 oppose / 0 unknown) + zone + choch + sweep-in-leg.
    Shorts mirror this. Returns the 7 Signals arrays and a (n, 2, 7) factor table (long, short).
    """
    n = close.shape[0]
    entry_long = np.zeros(n, dtype=np.bool_)
    entry_short = np.zeros(n, dtype=np.bool_)
    exit_long = np.zeros(n, dtype=np.bool_)
    exit_short = np.zeros(n, dtype=np.bool_)
    stop = np.full(n, np.nan)
    target = np.full(n, np.nan)
    risk_out = np.full(n, np.nan)
    factors = np.zeros((n, 2, 7), dtype=np.int8)
    tap = np.full(2, -1, dtype=np.int64)  # last bar that traded into a bull (0) / bear (1) zone
    tap_edge = np.full(2, np.nan)  # that zone's far edge (bottom of a bull zone, top of a bear zone)
    swept = np.full(2, -1, dtype=np.int64)  # last bar that swept a low (0) / a high (1)
    for t in range(n):
        if not np.isnan(bull_top_prev[t]) and low[t] <= bull_top_prev[t] and high[t] >= bull_bot_prev[t]:
            tap[0] = t
            tap_edge[0] = bull_bot_prev[t]
        if not np.isnan(bear_bot_prev[t]) and high[t] >= bear_bot_prev[t] and low[t] <= bear_top_prev[t]:
            tap[1] = t
            tap_edge[1] = bear_top_prev[t]
        if sweep_low[t]:
            swept[0] = t
        if sweep_high[t]:
            swept[1] = t
        if t == 0:
            continue
        best = 0
        best_score = -100
        tie = False
        for k in range(2):
            d = 1 if k == 0 else -1
            trig_choch = choch[t] == d
            trig_sweep = sweep_low[t] if d > 0 else sweep_high[t]
            if not (trig_choch or trig_sweep):
                continue
            a = swing_high_idx[t - 1] if d > 0 else swing_low_idx[t - 1]
            if a < 0 or t - a > max_leg or tap[k] <= a:
                continue
            f = factors[t, k]
            f[0] = _side_factor_nb(bias[t], d)
            f[1] = _side_factor_nb(structure[t], d)
            f[2] = 1
            f[3] = 1 if trig_choch else 0
            f[4] = 1 if swept[k] > a else 0
            f[5] = _pd_factor_nb(pd_pos[t], d)
            score = f[0] + f[1] + f[2] + f[3] + f[4] + f[5]
            f[6] = score
            if score < threshold or np.isnan(atr[t]):
                continue
            if score > best_score:
                best, best_score, tie = d, score, False
            elif score == best_score:
                tie = True
        if best == 0 or tie:
            continue
        k = 0 if best > 0 else 1
        a = swing_high_idx[t - 1] if best > 0 else swing_low_idx[t - 1]
        if best > 0:
            extreme = np.min(low[a + 1:t + 1])
            level = min(extreme, tap_edge[k]) - stop_buffer_atr * atr[t]
        else:
            extreme = np.max(high[a + 1:t + 1])
            level = max(extreme, tap_edge[k]) + stop_buffer_atr * atr[t]
        dist = (close[t] - level) * best
        if not dist > 0.0:
            continue
        tgt = close[t] + best * target_r * dist
        liq = liq_high[t] if best > 0 else liq_low[t]
        if liquidity_target and not np.isnan(liq) and (liq - tgt) * best > 0.0:
            tgt = liq
        if best > 0:
            entry_long[t] = True
        else:
            entry_short[t] = True
        stop[t] = level
        target[t] = tgt
        risk_out[t] = risk
    return entry_long, exit_long, entry_short, exit_short, stop, target, risk_out, factors
