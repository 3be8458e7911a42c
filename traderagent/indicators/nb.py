"""Numba kernels for the technical indicators: float64 1-D arrays in, float64 1-D arrays out.

Every kernel is `@njit(cache=True)`, so strategy kernels can call it from their own numba code. Each one
follows the TA-Lib function named in its docstring (same seeding, smoothing and order of operations), so
results agree with TA-Lib to rounding: tests/unit/test_indicators.py requires 1e-9 relative on the bundled
BTC/ETH 15m candles, with identical warm-up NaNs.

Conventions shared by all kernels:
- Causal: the value at t uses only inputs at or before t (cutting the input at t changes nothing up to t).
- Warm-up: the first `lookback` outputs of a series are NaN, exactly as in TA-Lib (EMA/SMA/BBANDS: n-1,
  true range: 1, ATR/RSI/+DI/-DI: n, ADX: 2n-1, volume ratio: n-1, percentile rank: window-1).
- NaN input means "no data": a bar is missing when any of its inputs is NaN. Every kernel runs on each
  stretch of consecutive complete bars as if it were a series of its own, so leading NaNs shift the
  warm-up (as TA-Lib's Python wrapper does), the output is NaN on a missing bar, and after an interior NaN
  the indicator warms up again from scratch (in TA-Lib one NaN turns every later value into NaN, or 0 for
  RSI).
- Zero tests are exact (`== 0.0`), so every kernel is scale-invariant: prices scaled by a power of two
  give the same RSI/DI/ADX and proportionally scaled bands (assets priced at 1e-8 work like BTC).
- Variance (Bollinger bands) is computed from running sums of deviations from an anchor inside the
  window, rebuilt when cancellation threatens, not as mean(x**2) - mean(x)**2: relative error ~1e-14
  against exact rational arithmetic, and exactly 0 on a flat window (see `rolling_var_1d_nb`).
- Recursive (Wilder, EMA) indicators depend on where the series starts, like TA-Lib with its default
  unstable period of 0: compute on the whole history and read the tail, not on a short window.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# ---------------------------------------------------------------------------------------------------------
# stretches of complete bars


@njit(cache=True)
def _segment_end(valid: np.ndarray, start: int) -> int:
    """Index one past the run of True in `valid` that begins at `start`."""
    i = start
    n = valid.shape[0]
    while i < n and valid[i]:
        i += 1
    return i


@njit(cache=True)
def _segment_start(valid: np.ndarray, start: int) -> int:
    """First index >= start where `valid` is True (len(valid) when none)."""
    i = start
    n = valid.shape[0]
    while i < n and not valid[i]:
        i += 1
    return i


@njit(cache=True)
def _valid1(x: np.ndarray) -> np.ndarray:
    return ~np.isnan(x)


@njit(cache=True)
def _valid3(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    return ~(np.isnan(a) | np.isnan(b) | np.isnan(c))


# ---------------------------------------------------------------------------------------------------------
# moving averages


@njit(cache=True)
def _sma_segment(x: np.ndarray, n: int, out: np.ndarray, s: int, e: int) -> None:
    if e - s < n:
        return
    total = 0.0
    for i in range(s, s + n - 1):
        total += x[i]
    trailing = s
    for i in range(s + n - 1, e):
        total += x[i]
        value = total
        total -= x[trailing]
        trailing += 1
        out[i] = value / n


@njit(cache=True)
def sma_1d_nb(x: np.ndarray, n: int) -> np.ndarray:
    """Simple moving average of the last n values; matches talib.SMA(x, n) (running sum)."""
    out = np.full(x.shape[0], np.nan)
    valid = _valid1(x)
    s = _segment_start(valid, 0)
    while s < x.shape[0]:
        e = _segment_end(valid, s)
        _sma_segment(x, n, out, s, e)
        s = _segment_start(valid, e)
    return out


@njit(cache=True)
def _ema_segment(x: np.ndarray, n: int, out: np.ndarray, s: int, e: int) -> None:
    if e - s < n:
        return
    k = 2.0 / (n + 1)
    total = 0.0
    for i in range(s, s + n):
        total += x[i]
    prev = total / n
    out[s + n - 1] = prev
    for i in range(s + n, e):
        prev = ((x[i] - prev) * k) + prev
        out[i] = prev


@njit(cache=True)
def ema_1d_nb(x: np.ndarray, n: int) -> np.ndarray:
    """Exponential moving average, k = 2/(n+1), seeded by the SMA of the first n values; matches talib.EMA."""
    out = np.full(x.shape[0], np.nan)
    valid = _valid1(x)
    s = _segment_start(valid, 0)
    while s < x.shape[0]:
        e = _segment_end(valid, s)
        _ema_segment(x, n, out, s, e)
        s = _segment_start(valid, e)
    return out


# ---------------------------------------------------------------------------------------------------------
# true range and ATR


@njit(cache=True)
def _true_range(high: float, low: float, prev_close: float) -> float:
    """max(high - low, |prev_close - high|, |prev_close - low|), in TA-Lib's order of operations."""
    greatest = high - low
    v = abs(prev_close - high)
    if v > greatest:
        greatest = v
    v = abs(prev_close - low)
    if v > greatest:
        greatest = v
    return greatest


@njit(cache=True)
def true_range_1d_nb(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    """True range max(h - l, |c[t-1] - h|, |c[t-1] - l|), NaN on the first bar; matches talib.TRANGE."""
    out = np.full(close.shape[0], np.nan)
    valid = _valid3(high, low, close)
    s = _segment_start(valid, 0)
    while s < close.shape[0]:
        e = _segment_end(valid, s)
        for i in range(s + 1, e):
            out[i] = _true_range(high[i], low[i], close[i - 1])
        s = _segment_start(valid, e)
    return out


@njit(cache=True)
def _atr_segment(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, n: int, out: np.ndarray, s: int, e: int
) -> None:
    if e - s <= n:
        return
    total = 0.0
    for i in range(s + 1, s + n + 1):
        total += _true_range(high[i], low[i], close[i - 1])
    prev = total / n
    out[s + n] = prev
    for i in range(s + n + 1, e):
        prev *= n - 1
        prev += _true_range(high[i], low[i], close[i - 1])
        prev /= n
        out[i] = prev


@njit(cache=True)
def atr_1d_nb(high: np.ndarray, low: np.ndarray, close: np.ndarray, n: int) -> np.ndarray:
    """Average true range, Wilder smoothing seeded by the mean of the first n true ranges; matches talib.ATR."""
    out = np.full(close.shape[0], np.nan)
    valid = _valid3(high, low, close)
    s = _segment_start(valid, 0)
    while s < close.shape[0]:
        e = _segment_end(valid, s)
        _atr_segment(high, low, close, n, out, s, e)
        s = _segment_start(valid, e)
    return out


# ---------------------------------------------------------------------------------------------------------
# RSI


@njit(cache=True)
def _rsi_value(gain: float, loss: float) -> float:
    total = gain + loss
    if total == 0.0:
        return 0.0  # TA-Lib's convention for a market that has not moved
    return 100.0 * (gain / total)


@njit(cache=True)
def _rsi_segment(x: np.ndarray, n: int, out: np.ndarray, s: int, e: int) -> None:
    if e - s <= n:
        return
    gain = 0.0
    loss = 0.0
    for i in range(s + 1, s + n + 1):
        d = x[i] - x[i - 1]
        if d < 0:
            loss -= d
        else:
            gain += d
    loss /= n
    gain /= n
    out[s + n] = _rsi_value(gain, loss)
    for i in range(s + n + 1, e):
        d = x[i] - x[i - 1]
        loss *= n - 1
        gain *= n - 1
        if d < 0:
            loss -= d
        else:
            gain += d
        loss /= n
        gain /= n
        out[i] = _rsi_value(gain, loss)


@njit(cache=True)
def rsi_1d_nb(x: np.ndarray, n: int) -> np.ndarray:
    """Relative strength index with Wilder-smoothed average gain/loss (first n changes averaged); matches talib.RSI."""
    out = np.full(x.shape[0], np.nan)
    valid = _valid1(x)
    s = _segment_start(valid, 0)
    while s < x.shape[0]:
        e = _segment_end(valid, s)
        _rsi_segment(x, n, out, s, e)
        s = _segment_start(valid, e)
    return out


# ---------------------------------------------------------------------------------------------------------
# ADX, +DI, -DI


@njit(cache=True)
def _adx_segment(
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    n: int,
    adx: np.ndarray,
    plus_di: np.ndarray,
    minus_di: np.ndarray,
    s: int,
    e: int,
) -> None:
    if e - s <= n:
        return
    plus_dm = 0.0
    minus_dm = 0.0
    tr = 0.0
    # first n-1 bars: plain sums of +DM, -DM and TR
    for i in range(s + 1, s + n):
        diff_p = high[i] - high[i - 1]
        diff_m = low[i - 1] - low[i]
        if diff_m > 0 and diff_p < diff_m:
            minus_dm += diff_m
        elif diff_p > 0 and diff_p > diff_m:
            plus_dm += diff_p
        tr += _true_range(high[i], low[i], close[i - 1])
    sum_dx = 0.0
    prev_adx = 0.0
    for i in range(s + n, e):
        diff_p = high[i] - high[i - 1]
        diff_m = low[i - 1] - low[i]
        minus_dm -= minus_dm / n
        plus_dm -= plus_dm / n
        if diff_m > 0 and diff_p < diff_m:
            minus_dm += diff_m
        elif diff_p > 0 and diff_p > diff_m:
            plus_dm += diff_p
        tr = tr - (tr / n) + _true_range(high[i], low[i], close[i - 1])
        has_dx = False
        dx = 0.0
        if tr != 0.0:
            mdi = 100.0 * (minus_dm / tr)
            pdi = 100.0 * (plus_dm / tr)
            di_sum = mdi + pdi
            if di_sum != 0.0:
                dx = 100.0 * (abs(mdi - pdi) / di_sum)
                has_dx = True
        else:
            mdi = 0.0
            pdi = 0.0
        plus_di[i] = pdi
        minus_di[i] = mdi
        k = i - s  # n .. : DX is averaged over bars n .. 2n-1, then Wilder-smoothed
        if k < 2 * n - 1:
            if has_dx:
                sum_dx += dx
        elif k == 2 * n - 1:
            if has_dx:
                sum_dx += dx
            prev_adx = sum_dx / n
            adx[i] = prev_adx
        else:
            if has_dx:
                prev_adx = ((prev_adx * (n - 1)) + dx) / n
            adx[i] = prev_adx


@njit(cache=True)
def adx_1d_nb(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ADX, +DI, -DI) with Wilder smoothing; match talib.ADX, talib.PLUS_DI and talib.MINUS_DI."""
    size = close.shape[0]
    adx = np.full(size, np.nan)
    plus_di = np.full(size, np.nan)
    minus_di = np.full(size, np.nan)
    valid = _valid3(high, low, close)
    s = _segment_start(valid, 0)
    while s < size:
        e = _segment_end(valid, s)
        _adx_segment(high, low, close, n, adx, plus_di, minus_di, s, e)
        s = _segment_start(valid, e)
    return adx, plus_di, minus_di


# ---------------------------------------------------------------------------------------------------------
# Bollinger bands


@njit(cache=True)
def _anchored_sums(x: np.ndarray, lo: int, hi: int, anchor: float) -> tuple[float, float]:
    """(sum(d), sum(d*d)) over x[lo:hi] with d = x - anchor."""
    s1 = 0.0
    s2 = 0.0
    for j in range(lo, hi):
        d = x[j] - anchor
        s1 += d
        s2 += d * d
    return s1, s2


@njit(cache=True)
def _rolling_var_segment(x: np.ndarray, n: int, out: np.ndarray, s: int, e: int) -> None:
    """Population variance of each full window of n in x[s:e], written to out.

    Running sums of deviations from an anchor (a value of the window) instead of raw squares, so the
    variance is never the difference of two numbers of size price**2. The sums are rebuilt from the window,
    anchored at the current value, every n bars and whenever the variance falls below 1e-4 of the largest
    mean squared deviation held since the last rebuild (rounding in the running sums scales with that
    peak). Anchored on its own value, a flat window gives exactly 0.
    """
    if e - s < n:
        return
    anchor = x[s]
    s1, s2 = _anchored_sums(x, s, s + n - 1, anchor)
    peak = s2
    since = 0
    for i in range(s + n - 1, e):
        d = x[i] - anchor
        s1 += d
        s2 += d * d
        if s2 > peak:
            peak = s2
        m1 = s1 / n
        var = s2 / n - m1 * m1
        since += 1
        if since >= n or var < 1e-4 * (peak / n):
            anchor = x[i]
            s1, s2 = _anchored_sums(x, i - n + 1, i + 1, anchor)
            m1 = s1 / n
            var = s2 / n - m1 * m1
            peak = s2
            since = 0
        out[i] = var if var > 0.0 else 0.0
        d = x[i - n + 1] - anchor
        s1 -= d
        s2 -= d * d


@njit(cache=True)
def rolling_var_1d_nb(x: np.ndarray, n: int) -> np.ndarray:
    """Population variance of the last n values (ddof=0); matches talib.VAR(x, n)."""
    out = np.full(x.shape[0], np.nan)
    valid = _valid1(x)
    s = _segment_start(valid, 0)
    while s < x.shape[0]:
        e = _segment_end(valid, s)
        _rolling_var_segment(x, n, out, s, e)
        s = _segment_start(valid, e)
    return out


@njit(cache=True)
def bbands_1d_nb(x: np.ndarray, n: int, nbdev: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(upper, middle, lower): SMA(n) +/- nbdev * population std of the last n; matches talib.BBANDS(matype=0)."""
    mid = sma_1d_nb(x, n)
    var = rolling_var_1d_nb(x, n)
    upper = np.full(x.shape[0], np.nan)
    lower = np.full(x.shape[0], np.nan)
    for i in range(x.shape[0]):
        if not np.isnan(var[i]):
            width = np.sqrt(var[i]) * nbdev
            upper[i] = mid[i] + width
            lower[i] = mid[i] - width
    return upper, mid, lower


@njit(cache=True)
def bandwidth_from_bands_1d_nb(upper: np.ndarray, mid: np.ndarray, lower: np.ndarray) -> np.ndarray:
    """Bollinger bandwidth (upper - lower) / middle, NaN where middle is 0 or NaN."""
    out = np.full(mid.shape[0], np.nan)
    for i in range(mid.shape[0]):
        if mid[i] != 0.0:  # NaN != 0 is True and propagates NaN
            out[i] = (upper[i] - lower[i]) / mid[i]
    return out


@njit(cache=True)
def bandwidth_1d_nb(x: np.ndarray, n: int, nbdev: float) -> np.ndarray:
    """Bollinger bandwidth (upper - lower) / middle of bbands_1d_nb(x, n, nbdev) (= 2*nbdev*std/SMA)."""
    upper, mid, lower = bbands_1d_nb(x, n, nbdev)
    return bandwidth_from_bands_1d_nb(upper, mid, lower)


# ---------------------------------------------------------------------------------------------------------
# volume and ranks


@njit(cache=True)
def volume_ratio_1d_nb(volume: np.ndarray, n: int) -> np.ndarray:
    """volume / sma_1d_nb(volume, n) (talib.SMA of volume), NaN where that mean is 0."""
    mean = sma_1d_nb(volume, n)
    out = np.full(volume.shape[0], np.nan)
    for i in range(volume.shape[0]):
        if mean[i] != 0.0:
            out[i] = volume[i] / mean[i]
    return out


@njit(cache=True)
def rolling_percentile_rank_1d_nb(x: np.ndarray, window: int) -> np.ndarray:
    """Fraction of the last `window` values (current included) <= the current one; = pandas rolling(window).rank(method="max", pct=True)."""
    out = np.full(x.shape[0], np.nan)
    valid = _valid1(x)
    s = _segment_start(valid, 0)
    while s < x.shape[0]:
        e = _segment_end(valid, s)
        for i in range(s + window - 1, e):
            cur = x[i]
            count = 0
            for j in range(i - window + 1, i + 1):
                if x[j] <= cur:
                    count += 1
            out[i] = count / window
        s = _segment_start(valid, e)
    return out
