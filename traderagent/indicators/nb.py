"""Numba kernels for the technical indicators: float64 1-D arrays in, float64 1-D arrays out.

Every kernel is `@njit(cache=True)`, so strategy kernels can call it from their own numba code. Each one
follows the TA-Lib function named in its docstring (same seeding, smoothing and warm-up), so results agree
with TA-Lib to rounding: tests/unit/test_indicators.py requires 1e-9 relative on the bundled BTC/ETH 15m
candles, with identical NaN masks. SMA, EMA and true range repeat TA-Lib's operations and match it bit for
bit; Wilder smoothing (ATR, RSI, ADX) multiplies by precomputed (n-1)/n and 1/n instead of dividing on every
bar (3x faster, ~1e-15 apart from TA-Lib). No fastmath: results are bit-identical on every machine.

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
# Runs of complete bars. Each public kernel applies its `_..._run` to every run of bars without NaN, passing
# views that start at 0: loops over them have non-negative indices numba can vectorize.


@njit(cache=True)
def _nan_count(x: np.ndarray) -> int:
    count = 0
    for i in range(x.shape[0]):
        count += x[i] != x[i]
    return count


@njit(cache=True)
def _runs_of(valid: np.ndarray) -> np.ndarray:
    """(start, end) rows of the runs of True in `valid`."""
    size = valid.shape[0]
    runs = np.empty((size // 2 + 1, 2), dtype=np.int64)
    k = 0
    i = 0
    while i < size:
        while i < size and not valid[i]:
            i += 1
        j = i
        while j < size and valid[j]:
            j += 1
        if j > i:
            runs[k, 0] = i
            runs[k, 1] = j
            k += 1
        i = j
    return runs[:k]


@njit(cache=True)
def _whole(size: int) -> np.ndarray:
    runs = np.empty((1, 2), dtype=np.int64)
    runs[0, 0] = 0
    runs[0, 1] = size
    return runs


@njit(cache=True)
def _runs1(x: np.ndarray) -> np.ndarray:
    """Runs of non-NaN values of x (one run covering everything in the common case of no NaN)."""
    if _nan_count(x) == 0:
        return _whole(x.shape[0])
    return _runs_of(~np.isnan(x))


@njit(cache=True)
def _runs3(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Runs of bars where none of a, b, c is NaN."""
    if _nan_count(a) + _nan_count(b) + _nan_count(c) == 0:
        return _whole(c.shape[0])
    return _runs_of(~(np.isnan(a) | np.isnan(b) | np.isnan(c)))


@njit(cache=True)
def _check_window(n: int) -> None:
    if n < 1:
        raise ValueError("indicator window must be >= 1")


# ---------------------------------------------------------------------------------------------------------
# moving averages


@njit(cache=True)
def _sma_run(x: np.ndarray, n: int, out: np.ndarray) -> None:
    if x.shape[0] < n:
        return
    total = 0.0
    for i in range(n - 1):
        total += x[i]
    for i in range(n - 1, x.shape[0]):
        total += x[i]
        value = total
        total -= x[i - n + 1]
        out[i] = value / n


@njit(cache=True)
def sma_1d_nb(x: np.ndarray, n: int) -> np.ndarray:
    """Simple moving average of the last n values; matches talib.SMA(x, n) (running sum)."""
    _check_window(n)
    out = np.full(x.shape[0], np.nan)
    runs = _runs1(x)
    for r in range(runs.shape[0]):
        s, e = runs[r, 0], runs[r, 1]
        _sma_run(x[s:e], n, out[s:e])
    return out


@njit(cache=True)
def _ema_run(x: np.ndarray, n: int, out: np.ndarray) -> None:
    if x.shape[0] < n:
        return
    k = 2.0 / (n + 1)
    total = 0.0
    for i in range(n):
        total += x[i]
    prev = total / n
    out[n - 1] = prev
    for i in range(n, x.shape[0]):
        prev = ((x[i] - prev) * k) + prev
        out[i] = prev


@njit(cache=True)
def ema_1d_nb(x: np.ndarray, n: int) -> np.ndarray:
    """Exponential moving average, k = 2/(n+1), seeded by the SMA of the first n values; matches talib.EMA."""
    _check_window(n)
    out = np.full(x.shape[0], np.nan)
    runs = _runs1(x)
    for r in range(runs.shape[0]):
        s, e = runs[r, 0], runs[r, 1]
        _ema_run(x[s:e], n, out[s:e])
    return out


# ---------------------------------------------------------------------------------------------------------
# true range and ATR


@njit(cache=True)
def _true_range(high: float, low: float, prev_close: float) -> float:
    """max(high - low, |prev_close - high|, |prev_close - low|), in TA-Lib's order of comparisons."""
    greatest = high - low
    v = abs(prev_close - high)
    greatest = v if v > greatest else greatest
    v = abs(prev_close - low)
    return v if v > greatest else greatest


@njit(cache=True)
def _true_range_run(high: np.ndarray, low: np.ndarray, close: np.ndarray, out: np.ndarray) -> None:
    for i in range(1, close.shape[0]):
        out[i] = _true_range(high[i], low[i], close[i - 1])


@njit(cache=True)
def true_range_1d_nb(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    """True range max(h - l, |c[t-1] - h|, |c[t-1] - l|), NaN on the first bar; matches talib.TRANGE."""
    out = np.full(close.shape[0], np.nan)
    runs = _runs3(high, low, close)
    for r in range(runs.shape[0]):
        s, e = runs[r, 0], runs[r, 1]
        _true_range_run(high[s:e], low[s:e], close[s:e], out[s:e])
    return out


@njit(cache=True)
def _atr_run(high: np.ndarray, low: np.ndarray, close: np.ndarray, n: int, out: np.ndarray) -> None:
    if close.shape[0] <= n:
        return
    total = 0.0
    for i in range(1, n + 1):
        total += _true_range(high[i], low[i], close[i - 1])
    prev = total / n
    out[n] = prev
    keep = (n - 1) / n  # Wilder: prev * (n-1)/n + tr / n, multiplied rather than divided (no divide per bar)
    part = 1.0 / n
    for i in range(n + 1, close.shape[0]):
        prev = prev * keep + _true_range(high[i], low[i], close[i - 1]) * part
        out[i] = prev


@njit(cache=True)
def atr_1d_nb(high: np.ndarray, low: np.ndarray, close: np.ndarray, n: int) -> np.ndarray:
    """Average true range, Wilder smoothing seeded by the mean of the first n true ranges; matches talib.ATR."""
    _check_window(n)
    out = np.full(close.shape[0], np.nan)
    runs = _runs3(high, low, close)
    for r in range(runs.shape[0]):
        s, e = runs[r, 0], runs[r, 1]
        _atr_run(high[s:e], low[s:e], close[s:e], n, out[s:e])
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
def _rsi_run(x: np.ndarray, n: int, out: np.ndarray) -> None:
    if x.shape[0] <= n:
        return
    gain = 0.0
    loss = 0.0
    for i in range(1, n + 1):
        d = x[i] - x[i - 1]
        if d < 0:
            loss -= d
        else:
            gain += d
    loss /= n
    gain /= n
    out[n] = _rsi_value(gain, loss)
    keep = (n - 1) / n
    part = 1.0 / n
    for i in range(n + 1, x.shape[0]):
        d = x[i] - x[i - 1]
        up = d if d > 0.0 else 0.0
        down = -d if d < 0.0 else 0.0
        gain = gain * keep + up * part
        loss = loss * keep + down * part
        out[i] = _rsi_value(gain, loss)


@njit(cache=True)
def rsi_1d_nb(x: np.ndarray, n: int) -> np.ndarray:
    """Relative strength index with Wilder-smoothed average gain/loss (first n changes averaged); matches talib.RSI."""
    _check_window(n)
    out = np.full(x.shape[0], np.nan)
    runs = _runs1(x)
    for r in range(runs.shape[0]):
        s, e = runs[r, 0], runs[r, 1]
        _rsi_run(x[s:e], n, out[s:e])
    return out


# ---------------------------------------------------------------------------------------------------------
# ADX, +DI, -DI


@njit(cache=True)
def _directional_moves(high: np.ndarray, low: np.ndarray, i: int) -> tuple[float, float]:
    """(+DM, -DM) of bar i: the larger of the up-move and down-move if positive, the other 0."""
    up = high[i] - high[i - 1]
    down = low[i - 1] - low[i]
    if down > 0 and up < down:
        return 0.0, down
    if up > 0 and up > down:
        return up, 0.0
    return 0.0, 0.0


@njit(cache=True)
def _adx_run(
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    n: int,
    adx: np.ndarray,
    plus_di: np.ndarray,
    minus_di: np.ndarray,
) -> None:
    if close.shape[0] <= n:
        return
    plus_dm = 0.0
    minus_dm = 0.0
    tr = 0.0
    for i in range(1, n):  # first n-1 bars: plain sums of +DM, -DM and TR
        p, m = _directional_moves(high, low, i)
        plus_dm += p
        minus_dm += m
        tr += _true_range(high[i], low[i], close[i - 1])
    keep = (n - 1) / n
    part = 1.0 / n
    sum_dx = 0.0
    prev_adx = 0.0
    for i in range(n, close.shape[0]):  # Wilder sums x*(n-1)/n + new; DX averaged over bars n..2n-1
        p, m = _directional_moves(high, low, i)
        plus_dm = plus_dm * keep + p
        minus_dm = minus_dm * keep + m
        tr = tr * keep + _true_range(high[i], low[i], close[i - 1])
        has_dx = False
        dx = 0.0
        if tr != 0.0:
            scale = 100.0 / tr
            plus_di[i] = plus_dm * scale
            minus_di[i] = minus_dm * scale
            dm_sum = plus_dm + minus_dm
            if dm_sum != 0.0:
                dx = 100.0 * (abs(plus_dm - minus_dm) / dm_sum)
                has_dx = True
        else:
            plus_di[i] = 0.0
            minus_di[i] = 0.0
        if i < 2 * n - 1:
            if has_dx:
                sum_dx += dx
        elif i == 2 * n - 1:
            if has_dx:
                sum_dx += dx
            prev_adx = sum_dx / n
            adx[i] = prev_adx
        else:
            if has_dx:
                prev_adx = prev_adx * keep + dx * part
            adx[i] = prev_adx


@njit(cache=True)
def adx_1d_nb(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ADX, +DI, -DI) with Wilder smoothing; match talib.ADX, talib.PLUS_DI and talib.MINUS_DI."""
    _check_window(n)
    size = close.shape[0]
    adx = np.full(size, np.nan)
    plus_di = np.full(size, np.nan)
    minus_di = np.full(size, np.nan)
    runs = _runs3(high, low, close)
    for r in range(runs.shape[0]):
        s, e = runs[r, 0], runs[r, 1]
        _adx_run(high[s:e], low[s:e], close[s:e], n, adx[s:e], plus_di[s:e], minus_di[s:e])
    return adx, plus_di, minus_di


# ---------------------------------------------------------------------------------------------------------
# variance and Bollinger bands


@njit(cache=True)
def _anchored_sums(w: np.ndarray, anchor: float) -> tuple[float, float]:
    """(sum(d), sum(d*d)) over the window w with d = w - anchor."""
    s1 = 0.0
    s2 = 0.0
    for j in range(w.shape[0]):
        d = w[j] - anchor
        s1 += d
        s2 += d * d
    return s1, s2


@njit(cache=True)
def _rolling_var_run(x: np.ndarray, n: int, out: np.ndarray) -> None:
    """Population variance of each full window of n, written to out.

    Running sums of deviations from an anchor (a value of the window) instead of raw squares, so the
    variance is never the difference of two numbers of size price**2. The sums are rebuilt from the window,
    anchored at the current value, every n bars and whenever the variance falls below 1e-4 of the largest
    mean squared deviation held since the last rebuild (rounding in the running sums scales with that
    peak). Anchored on its own value, a flat window gives exactly 0.
    """
    if x.shape[0] < n:
        return
    inv = 1.0 / n
    anchor = x[0]
    s1, s2 = _anchored_sums(x[: n - 1], anchor)
    peak = s2
    since = 0
    for i in range(n - 1, x.shape[0]):
        d = x[i] - anchor
        s1 += d
        s2 += d * d
        peak = s2 if s2 > peak else peak
        m1 = s1 * inv
        var = s2 * inv - m1 * m1
        since += 1
        if since >= n or var < 1e-4 * (peak * inv):
            anchor = x[i]
            s1, s2 = _anchored_sums(x[i - n + 1 : i + 1], anchor)
            m1 = s1 * inv
            var = s2 * inv - m1 * m1
            peak = s2
            since = 0
        out[i] = var if var > 0.0 else 0.0
        d = x[i - n + 1] - anchor
        s1 -= d
        s2 -= d * d


@njit(cache=True)
def rolling_var_1d_nb(x: np.ndarray, n: int) -> np.ndarray:
    """Population variance of the last n values (ddof=0); matches talib.VAR(x, n)."""
    _check_window(n)
    out = np.full(x.shape[0], np.nan)
    runs = _runs1(x)
    for r in range(runs.shape[0]):
        s, e = runs[r, 0], runs[r, 1]
        _rolling_var_run(x[s:e], n, out[s:e])
    return out


@njit(cache=True)
def _mid_and_var(x: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(SMA, population variance) of the last n values, NaN in warm-up and on missing bars."""
    _check_window(n)
    mid = np.full(x.shape[0], np.nan)
    var = np.full(x.shape[0], np.nan)
    runs = _runs1(x)
    for r in range(runs.shape[0]):
        s, e = runs[r, 0], runs[r, 1]
        _sma_run(x[s:e], n, mid[s:e])
        _rolling_var_run(x[s:e], n, var[s:e])
    return mid, var


@njit(cache=True)
def bbands_1d_nb(x: np.ndarray, n: int, nbdev: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(upper, middle, lower): SMA(n) +/- nbdev * population std of the last n; matches talib.BBANDS(matype=0)."""
    mid, upper = _mid_and_var(x, n)  # `upper` holds the variance until it is overwritten with the band
    lower = np.full(x.shape[0], np.nan)
    for i in range(x.shape[0]):
        width = np.sqrt(upper[i]) * nbdev  # NaN stays NaN
        upper[i] = mid[i] + width
        lower[i] = mid[i] - width
    return upper, mid, lower


@njit(cache=True)
def bandwidth_from_bands_1d_nb(upper: np.ndarray, mid: np.ndarray, lower: np.ndarray) -> np.ndarray:
    """Bollinger bandwidth (upper - lower) / middle, NaN where middle is 0 or NaN."""
    out = np.empty(mid.shape[0])
    for i in range(mid.shape[0]):
        out[i] = (upper[i] - lower[i]) / mid[i] if mid[i] != 0.0 else np.nan
    return out


@njit(cache=True)
def bandwidth_1d_nb(x: np.ndarray, n: int, nbdev: float) -> np.ndarray:
    """Bollinger bandwidth (upper - lower) / middle of bbands_1d_nb(x, n, nbdev) (= 2*nbdev*std/SMA)."""
    mid, out = _mid_and_var(
        x, n
    )  # same arithmetic as bbands_1d_nb + bandwidth_from_bands_1d_nb, fewer arrays
    for i in range(x.shape[0]):
        width = np.sqrt(out[i]) * nbdev
        out[i] = ((mid[i] + width) - (mid[i] - width)) / mid[i] if mid[i] != 0.0 else np.nan
    return out


# ---------------------------------------------------------------------------------------------------------
# volume and ranks


@njit(cache=True)
def volume_ratio_1d_nb(volume: np.ndarray, n: int) -> np.ndarray:
    """volume / sma_1d_nb(volume, n) (talib.SMA of volume), NaN where that mean is 0."""
    out = sma_1d_nb(volume, n)
    for i in range(volume.shape[0]):
        out[i] = volume[i] / out[i] if out[i] != 0.0 else np.nan
    return out


@njit(cache=True)
def _percentile_rank_run(x: np.ndarray, window: int, out: np.ndarray) -> None:
    for i in range(window - 1, x.shape[0]):
        w = x[i - window + 1 : i + 1]
        cur = x[i]
        count = 0
        for j in range(window):
            count += w[j] <= cur
        out[i] = count / window


@njit(cache=True)
def rolling_percentile_rank_1d_nb(x: np.ndarray, window: int) -> np.ndarray:
    """Fraction of the last `window` values (current included) <= the current one; = pandas rolling(window).rank(method="max", pct=True)."""
    _check_window(window)
    out = np.full(x.shape[0], np.nan)
    runs = _runs1(x)
    for r in range(runs.shape[0]):
        s, e = runs[r, 0], runs[r, 1]
        _percentile_rank_run(x[s:e], window, out[s:e])
    return out
