"""Market regime kernels: causal per-bar labels from ADX/±DI, Bollinger bandwidth rank and relative volume.

Raw label of a bar (all inputs at that bar, causal):
  high_volatility  bandwidth percentile rank >= hv_rank  and  volume ratio >= hv_volume
  uptrend          ADX >= adx_trend and +DI > -DI
  downtrend        ADX >= adx_trend and -DI > +DI
  sideways         otherwise (ADX below the threshold, or +DI = -DI)
Where several hold (high volatility overlaps a trend or a range), the first in `priority` wins. A bar whose
ADX/DI or bandwidth rank is not defined yet (warm-up, after a data hole) is UNKNOWN.

Confirmation (no flapping): a state (regime, candidate, count). Each raw label either extends the candidate's
run or starts a new one; when the candidate has been seen on `k` consecutive bars it becomes the regime.
UNKNOWN bars reset the run and keep the regime. `count` is capped at k, so two machines that agree on the
regime and on the last k raw labels are in the same state (what makes a saved state resumable exactly).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from traderagent.indicators.nb import adx_1d_nb, bandwidth_1d_nb, rolling_percentile_rank_1d_nb, sma_1d_nb


class RegimeT(NamedTuple):
    unknown: int = -1
    sideways: int = 0
    uptrend: int = 1
    downtrend: int = 2
    high_volatility: int = 3


Regime = RegimeT()
#: Names by code (0..3); UNKNOWN (-1) is "unknown".
REGIME_NAMES = ("sideways", "uptrend", "downtrend", "high_volatility")

#: The confirmation state. `last_time` is the open time (ns) of the last bar stepped (-1: none), so a machine
#: restored from bytes knows which bars of a recomputed window it has already seen.
CONFIRM_STATE_DTYPE = np.dtype(
    [("regime", np.int64), ("candidate", np.int64), ("count", np.int64), ("switches", np.int64),
     ("last_time", np.int64)],
    align=True,
)

#: Per-bar outputs of `regime_1d_nb` (the harness compares them).
OUTPUT_NAMES = ("regime", "raw", "adx", "plus_di", "minus_di", "bandwidth_rank", "volume_ratio")


def new_confirm_state() -> np.ndarray:
    """A fresh confirmation state (1-element CONFIRM_STATE_DTYPE array): regime unknown, nothing seen."""
    s = np.zeros(1, dtype=CONFIRM_STATE_DTYPE)
    s[0]["regime"] = Regime.unknown
    s[0]["candidate"] = Regime.unknown
    s[0]["last_time"] = -1
    return s


@njit(cache=True)
def volume_ratio_smooth_1d_nb(volume: np.ndarray, fast: int, slow: int) -> np.ndarray:
    """SMA(volume, fast) / SMA(volume, slow) (talib.SMA of each), NaN where the slow mean is 0 or undefined."""
    f = sma_1d_nb(volume, fast)
    s = sma_1d_nb(volume, slow)
    out = np.empty(volume.shape[0])
    for i in range(volume.shape[0]):
        out[i] = f[i] / s[i] if s[i] != 0.0 else np.nan
    return out


@njit(cache=True)
def regime_features_nb(high, low, close, volume, adx_period: int, bb_period: int, bb_nbdev: float,
                       bw_window: int, vol_fast: int, vol_slow: int):
    """(ADX, +DI, -DI, bandwidth percentile rank, volume ratio) per bar; each from indicators.nb, all causal."""
    adx, pdi, mdi = adx_1d_nb(high, low, close, adx_period)
    bw = bandwidth_1d_nb(close, bb_period, bb_nbdev)
    rank = rolling_percentile_rank_1d_nb(bw, bw_window)
    vr = volume_ratio_smooth_1d_nb(volume, vol_fast, vol_slow)
    return adx, pdi, mdi, rank, vr


@njit(cache=True)
def classify_nb(adx: float, pdi: float, mdi: float, rank: float, vr: float, adx_trend: float, hv_rank: float,
                hv_volume: float, priority: np.ndarray) -> int:
    """The raw label of one bar (module docstring); a NaN volume ratio only rules out high volatility."""
    if np.isnan(adx) or np.isnan(pdi) or np.isnan(mdi) or np.isnan(rank):
        return Regime.unknown
    trend = adx >= adx_trend
    for j in range(priority.shape[0]):
        r = priority[j]
        if r == Regime.high_volatility:
            if rank >= hv_rank and vr >= hv_volume:
                return r
        elif r == Regime.uptrend:
            if trend and pdi > mdi:
                return r
        elif r == Regime.downtrend:
            if trend and mdi > pdi:
                return r
        elif r == Regime.sideways:
            if not (trend and pdi != mdi):
                return r
    return Regime.sideways


@njit(cache=True)
def confirm_step_nb(state, raw: int, k: int) -> int:
    """Feed one raw label into the confirmation state; returns the (confirmed) regime after it."""
    if raw == Regime.unknown:
        state.candidate = Regime.unknown
        state.count = 0
        return state.regime
    if raw == state.candidate:
        state.count = min(state.count + 1, k)
    else:
        state.candidate = raw
        state.count = 1
    if state.count >= k and state.regime != raw:
        state.regime = raw
        state.switches += 1
    return state.regime


@njit(cache=True)
def confirm_1d_nb(raw: np.ndarray, k: int, state, times: np.ndarray, start: int) -> np.ndarray:
    """Regime per bar from raw labels, stepping `state` over bars start.. (earlier bars give UNKNOWN)."""
    n = raw.shape[0]
    out = np.full(n, Regime.unknown, dtype=np.int64)
    for i in range(start, n):
        out[i] = confirm_step_nb(state, raw[i], k)
        state.last_time = times[i]
    return out


@njit(cache=True)
def regime_1d_nb(high, low, close, volume, adx_period: int, adx_trend: float, bb_period: int, bb_nbdev: float,
                 bw_window: int, hv_rank: float, vol_fast: int, vol_slow: int, hv_volume: float,
                 priority: np.ndarray, k: int, state, times: np.ndarray, start: int):
    """Regime labels of a series: (regime, raw, adx, +DI, -DI, bandwidth rank, volume ratio), regime and raw
    as int64. Reference: the hand-built series of tests/unit/test_regime.py and `classify_nb` per bar."""
    adx, pdi, mdi, rank, vr = regime_features_nb(high, low, close, volume, adx_period, bb_period, bb_nbdev,
                                                 bw_window, vol_fast, vol_slow)
    n = close.shape[0]
    raw = np.empty(n, dtype=np.int64)
    for i in range(n):
        raw[i] = classify_nb(adx[i], pdi[i], mdi[i], rank[i], vr[i], adx_trend, hv_rank, hv_volume, priority)
    regime = confirm_1d_nb(raw, k, state, times, start)
    return regime, raw, adx, pdi, mdi, rank, vr
