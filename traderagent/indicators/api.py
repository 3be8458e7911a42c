"""Pandas wrappers over the indicator kernels in `nb.py`.

Each wrapper validates its arguments (bad ones raise `UserError` with one line naming the function, the
argument and the fix), runs the kernel on a float64 copy of the input and returns the result on the
input's index. Semantics (warm-up NaNs, NaN inputs, TA-Lib agreement) are those of the kernels; see
`traderagent.indicators.nb`.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np
import pandas as pd

from traderagent.errors import UserError
from traderagent.indicators import nb

__all__ = [
    "adx",
    "atr",
    "bbands",
    "ema",
    "percentile_rank",
    "rsi",
    "sma",
    "true_range",
    "volume_mean",
    "volume_ratio",
]


def _window(func: str, value: object, arg: str = "n", minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or int(value) < minimum:
        need = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise UserError(f"{func}: {arg} must be {need} (a number of bars), got {value!r}")
    return int(value)


def _nbdev(func: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value) or value < 0:
        raise UserError(f"{func}: nbdev must be a finite number >= 0 (e.g. 2.0), got {value!r}")
    return float(value)


def _to_f64(func: str, what: str, values: pd.Series) -> np.ndarray:
    try:
        return values.to_numpy(dtype=np.float64, na_value=np.nan, copy=True)
    except (TypeError, ValueError) as exc:
        raise UserError(f"{func}: {what} must be numeric (float) values, got dtype {values.dtype}") from exc


def _series(func: str, series: object) -> np.ndarray:
    if not isinstance(series, pd.Series):
        hint = "; pass one column, e.g. df['close']" if isinstance(series, pd.DataFrame) else ""
        raise UserError(f"{func}: expected a pandas Series, got {type(series).__name__}{hint}")
    return _to_f64(func, "the series", series)


def _columns(func: str, df: object, names: tuple[str, ...]) -> list[np.ndarray]:
    if not isinstance(df, pd.DataFrame):
        raise UserError(
            f"{func}: expected a candle DataFrame with columns {', '.join(names)}, got {type(df).__name__}"
        )
    missing = [c for c in names if c not in df.columns]
    if missing:
        raise UserError(
            f"{func}: the DataFrame has no {'column' if len(missing) == 1 else 'columns'} "
            f"{', '.join(repr(c) for c in missing)} "
            f"(it has {', '.join(map(str, df.columns))}); pass candles with columns {', '.join(names)}"
        )
    return [_to_f64(func, f"column {c!r}", df[c]) for c in names]


def sma(series: pd.Series, n: int) -> pd.Series:
    """Simple moving average over n bars (talib.SMA)."""
    n = _window("sma", n)
    return pd.Series(nb.sma_1d_nb(_series("sma", series), n), index=series.index, name="sma")


def ema(series: pd.Series, n: int) -> pd.Series:
    """Exponential moving average, k = 2/(n+1), seeded by the first n-bar SMA (talib.EMA)."""
    n = _window("ema", n)
    return pd.Series(nb.ema_1d_nb(_series("ema", series), n), index=series.index, name="ema")


def rsi(series: pd.Series, n: int) -> pd.Series:
    """Wilder RSI over n bars, 0..100 (talib.RSI)."""
    n = _window("rsi", n, minimum=2)
    return pd.Series(nb.rsi_1d_nb(_series("rsi", series), n), index=series.index, name="rsi")


def true_range(df: pd.DataFrame) -> pd.Series:
    """True range of each candle against the previous close; NaN on the first bar (talib.TRANGE)."""
    high, low, close = _columns("true_range", df, ("high", "low", "close"))
    return pd.Series(nb.true_range_1d_nb(high, low, close), index=df.index, name="true_range")


def atr(df: pd.DataFrame, n: int) -> pd.Series:
    """Wilder average true range over n bars, in price units (talib.ATR)."""
    n = _window("atr", n)
    high, low, close = _columns("atr", df, ("high", "low", "close"))
    return pd.Series(nb.atr_1d_nb(high, low, close, n), index=df.index, name="atr")


def adx(df: pd.DataFrame, n: int) -> pd.DataFrame:
    """Columns adx, plus_di, minus_di (talib.ADX, PLUS_DI, MINUS_DI); ADX warms up 2n-1 bars, the DIs n."""
    n = _window("adx", n, minimum=2)
    high, low, close = _columns("adx", df, ("high", "low", "close"))
    adx_, plus_di, minus_di = nb.adx_1d_nb(high, low, close, n)
    return pd.DataFrame({"adx": adx_, "plus_di": plus_di, "minus_di": minus_di}, index=df.index)


def bbands(series: pd.Series, n: int, nbdev: float) -> pd.DataFrame:
    """Columns upper, middle, lower (talib.BBANDS, population std) and bandwidth = (upper - lower) / middle."""
    n = _window("bbands", n, minimum=2)
    nbdev = _nbdev("bbands", nbdev)
    upper, middle, lower = nb.bbands_1d_nb(_series("bbands", series), n, nbdev)
    bandwidth = nb.bandwidth_from_bands_1d_nb(upper, middle, lower)
    return pd.DataFrame(
        {"upper": upper, "middle": middle, "lower": lower, "bandwidth": bandwidth}, index=series.index
    )


def volume_mean(df: pd.DataFrame, n: int) -> pd.Series:
    """Mean volume over the last n bars (talib.SMA of volume)."""
    n = _window("volume_mean", n)
    (volume,) = _columns("volume_mean", df, ("volume",))
    return pd.Series(nb.sma_1d_nb(volume, n), index=df.index, name="volume_mean")


def volume_ratio(df: pd.DataFrame, n: int) -> pd.Series:
    """volume / its n-bar mean (1.0 = an average bar); NaN where that mean is 0."""
    n = _window("volume_ratio", n)
    (volume,) = _columns("volume_ratio", df, ("volume",))
    return pd.Series(nb.volume_ratio_1d_nb(volume, n), index=df.index, name="volume_ratio")


def percentile_rank(series: pd.Series, window: int) -> pd.Series:
    """Fraction of the last `window` values (current included) <= the current one, in (0, 1]."""
    window = _window("percentile_rank", window, "window")
    values = _series("percentile_rank", series)
    return pd.Series(
        nb.rolling_percentile_rank_1d_nb(values, window), index=series.index, name="percentile_rank"
    )
