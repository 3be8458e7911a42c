"""Trend-Follower: EMA fast/slow cross on its timeframe, optional higher-timeframe trend filter, ATR stop/target.

Decision at bar t's close (the engine fills at t+1's open):
  - long entry when EMA(fast) crosses above EMA(slow) at t (fast[t] > slow[t] and fast[t-1] <= slow[t-1]),
    and, with a trend filter, the last complete filter-timeframe close is above its EMA;
  - long exit when EMA(fast) crosses below EMA(slow); shorts mirror this (the engine takes them only
    when shorting is allowed);
  - stop = close[t] -/+ atr_stop_mult * ATR[t]; target = close[t] +/- atr_target_mult * ATR[t] (none if unset);
  - risk = risk_per_trade (fraction of equity lost at the stop; the engine caps it).
The higher timeframe comes through `traderagent.data.resample.align_indices` (completed candles only).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from traderagent.core.signals import Signals
from traderagent.core.spec import StrategySpec
from traderagent.data import timeframes
from traderagent.data.resample import align_indices
from traderagent.indicators.memory import memory_bars
from traderagent.indicators.nb import atr_1d_nb, ema_1d_nb


@njit(cache=True)
def trend_follower_signals_nb(high, low, close, ema_fast, ema_slow, atr_period, stop_mult, target_mult,
                              risk, filt_close, filt_ema):
    """EMA-cross decisions per bar; filt_close/filt_ema are the aligned filter series (NaN = no filter)."""
    n = close.shape[0]
    fast = ema_1d_nb(close, ema_fast)
    slow = ema_1d_nb(close, ema_slow)
    atr = atr_1d_nb(high, low, close, atr_period)
    entry_long = np.zeros(n, dtype=np.bool_)
    exit_long = np.zeros(n, dtype=np.bool_)
    entry_short = np.zeros(n, dtype=np.bool_)
    exit_short = np.zeros(n, dtype=np.bool_)
    stop = np.full(n, np.nan)
    target = np.full(n, np.nan)
    risk_out = np.full(n, np.nan)
    use_filter = filt_close.shape[0] == n
    for t in range(1, n):
        f0, s0, f1, s1 = fast[t - 1], slow[t - 1], fast[t], slow[t]
        if np.isnan(f0) or np.isnan(s0) or np.isnan(f1) or np.isnan(s1):
            continue
        up = f1 > s1 and f0 <= s0
        down = f1 < s1 and f0 >= s0
        exit_long[t] = down
        exit_short[t] = up
        ok_long = True
        ok_short = True
        if use_filter:
            fc, fe = filt_close[t], filt_ema[t]
            if np.isnan(fc) or np.isnan(fe):
                ok_long = False
                ok_short = False
            else:
                ok_long = fc > fe
                ok_short = fc < fe
        a = atr[t]
        if np.isnan(a):
            continue
        if up and ok_long:
            entry_long[t] = True
            stop[t] = close[t] - stop_mult * a
            if target_mult > 0:
                target[t] = close[t] + target_mult * a
            risk_out[t] = risk
        elif down and ok_short:
            entry_short[t] = True
            stop[t] = close[t] + stop_mult * a
            if target_mult > 0:
                target[t] = close[t] - target_mult * a
            risk_out[t] = risk
    return entry_long, exit_long, entry_short, exit_short, stop, target, risk_out


def _filter_tf(params) -> str | None:
    tf = getattr(params, "trend_filter_timeframe", None)
    return timeframes.normalize(tf) if tf else None


def base_timeframe(params) -> str:
    return timeframes.normalize(params.timeframe)


def strategy_timeframes(params) -> tuple[str, ...]:
    base = base_timeframe(params)
    ftf = _filter_tf(params)
    return (base,) if ftf is None or ftf == base else (base, ftf)


def warmup_bars(params) -> int:
    """Base bars a trailing window needs so its last decision equals the full-history one."""
    base = base_timeframe(params)
    need = max(memory_bars(2.0 / (params.ema_slow + 1)), memory_bars(1.0 / params.atr_period)) + 2
    ftf = _filter_tf(params)
    if ftf is not None:
        ratio = timeframes.check_multiple(base, ftf)
        need = max(need, (memory_bars(2.0 / (params.trend_filter_ema + 1)) + 2) * ratio)
    return need


def signals(bars_by_tf: dict, params) -> Signals:
    """The pure decision function: bars by timeframe (base = params.timeframe) -> Signals on the base index."""
    base_tf = base_timeframe(params)
    bars = bars_by_tf[base_tf]
    ftf = _filter_tf(params)
    filt_close = filt_ema = np.empty(0)
    if ftf is not None and ftf != base_tf:
        htf = bars_by_tf[ftf]
        hclose = htf["close"].to_numpy(np.float64)
        idx = align_indices(bars.index.as_unit("ns").asi8, base_tf, htf.index.as_unit("ns").asi8, ftf)
        hema = ema_1d_nb(hclose, int(params.trend_filter_ema)) if len(hclose) else hclose
        filt_close = np.where(idx >= 0, hclose[np.clip(idx, 0, None)] if len(hclose) else np.nan, np.nan)
        filt_ema = np.where(idx >= 0, hema[np.clip(idx, 0, None)] if len(hema) else np.nan, np.nan)
    out = trend_follower_signals_nb(
        bars["high"].to_numpy(np.float64),
        bars["low"].to_numpy(np.float64),
        bars["close"].to_numpy(np.float64),
        int(params.ema_fast),
        int(params.ema_slow),
        int(params.atr_period),
        float(params.atr_stop_mult),
        float(params.atr_target_mult or 0.0),
        float(params.risk_per_trade),
        filt_close,
        filt_ema,
    )
    return Signals(*out)


def _params_model():
    from traderagent.config.models import TrendFollowerConfig

    return TrendFollowerConfig


SPEC = StrategySpec(
    name="trend_follower",
    kind="signal",
    params_model=_params_model(),
    base_timeframe=base_timeframe,
    timeframes=strategy_timeframes,
    warmup_bars=warmup_bars,
    signals=signals,
    description="EMA fast/slow cross with optional higher-timeframe trend filter and ATR stop/target",
)
