"""Resample base candles to higher timeframes and align them back onto the base index.

This module holds the project's ONLY alignment code (`align_indices`). Everything that lets a
base bar see a higher-timeframe value goes through it, so the no-lookahead rule lives in one place:

    base bar t (open time o_t, close time o_t + base) sees the newest higher-timeframe candle whose
    close time (open + higher) is <= o_t + base.

Example with 15m base and 1h higher: the 15m bar opening 10:45 closes 11:00 and sees the 1h candle
opened 10:00 (closed 11:00); the bar opening 10:30 closes 10:45 and still sees the candle opened 09:00.

Gaps: a higher-timeframe candle whose period has ended is final even when base candles inside it are
missing (an exchange outage); it is built from the base candles that exist and carries `n_bars` < the
expected count so callers can tell (`resample(...)["n_bars"]`). It becomes visible at the first base
bar that closes at or after its close time. A candle whose period has not ended by the last base
candle's close is unknowable and is not emitted.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from traderagent.data import timeframes
from traderagent.errors import DataError

OHLCV = ("open", "high", "low", "close", "volume")
_WEEK_ORIGIN_NS = 4 * 86400 * 1_000_000_000  # 1970-01-05 was a Monday; exchanges open weeks on Monday


def _ns(index: pd.DatetimeIndex) -> np.ndarray:
    return index.as_unit("ns").asi8


def resample(base: pd.DataFrame, base_tf: str, tf: str) -> pd.DataFrame:
    """Aggregate base OHLCV candles into `tf` candles keyed by their open time (UTC).

    Columns: open, high, low, close, volume and n_bars (base candles that went into the candle).
    Only candles whose period ended by the close of the last base candle are returned.
    """
    base_tf, tf = timeframes.normalize(base_tf), timeframes.normalize(tf)
    timeframes.check_multiple(base_tf, tf)
    if not isinstance(base.index, pd.DatetimeIndex):
        raise DataError("resample: candles must be indexed by their open time (a DatetimeIndex)")
    if tf == base_tf:
        out = base.loc[:, list(OHLCV)].copy()
        out["n_bars"] = np.ones(len(out), dtype=np.int64)
        return out
    period = timeframes.nanos(tf)
    origin = _WEEK_ORIGIN_NS if tf.endswith("w") else 0
    ts = _ns(base.index)
    if len(ts) == 0:
        empty = base.loc[:, list(OHLCV)].iloc[:0].copy()
        empty["n_bars"] = np.zeros(0, dtype=np.int64)
        return empty
    keys = (ts - origin) // period
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    o = base["open"].to_numpy(np.float64)
    h = base["high"].to_numpy(np.float64)
    lo = base["low"].to_numpy(np.float64)
    c = base["close"].to_numpy(np.float64)
    v = base["volume"].to_numpy(np.float64)
    ends = np.r_[starts[1:], len(ts)] - 1
    open_ns = keys[starts] * period + origin
    out = pd.DataFrame(
        {
            "open": o[starts],
            "high": np.maximum.reduceat(h, starts),
            "low": np.minimum.reduceat(lo, starts),
            "close": c[ends],
            "volume": np.add.reduceat(v, starts),
            "n_bars": (ends - starts + 1).astype(np.int64),
        },
        index=pd.DatetimeIndex(pd.to_datetime(open_ns, unit="ns", utc=True), name=base.index.name),
    )
    last_close = ts[-1] + timeframes.nanos(base_tf)
    return out[open_ns + period <= last_close]


def align_indices(base_open_ns: np.ndarray, base_tf: str, htf_open_ns: np.ndarray, htf_tf: str) -> np.ndarray:
    """For each base bar, the row of the newest higher-timeframe candle complete at the bar's close.

    Returns int64 positions into the higher-timeframe rows, -1 where no candle is complete yet.
    Both inputs are open times in ns, sorted ascending. This is the project's one alignment rule.
    """
    base_close = np.asarray(base_open_ns, dtype=np.int64) + timeframes.nanos(base_tf)
    htf_close = np.asarray(htf_open_ns, dtype=np.int64) + timeframes.nanos(htf_tf)
    return np.searchsorted(htf_close, base_close, side="right").astype(np.int64) - 1


def align(htf: pd.DataFrame | pd.Series, htf_tf: str, base_index: pd.DatetimeIndex, base_tf: str):
    """Forward-fill higher-timeframe values onto the base index without lookahead (see `align_indices`).

    Rows of the base index that precede the first complete higher-timeframe candle get NaN.
    """
    idx = align_indices(_ns(base_index), base_tf, _ns(htf.index), htf_tf)
    values = htf.to_numpy()
    if values.dtype.kind in "iub":
        values = values.astype(np.float64)
    taken = values[np.clip(idx, 0, None)] if len(values) else np.full((len(idx),) + values.shape[1:], np.nan)
    taken = np.array(taken, dtype=np.float64 if values.dtype.kind == "f" or values.dtype.kind in "iub" else object)
    taken[idx < 0] = np.nan
    if isinstance(htf, pd.Series):
        return pd.Series(taken, index=base_index, name=htf.name)
    return pd.DataFrame(taken, index=base_index, columns=htf.columns)


def bars_by_timeframe(base: pd.DataFrame, base_tf: str, tfs) -> dict[str, pd.DataFrame]:
    """Resample `base` to every timeframe in `tfs` (canonical names as keys; the base included as is)."""
    base_tf = timeframes.normalize(base_tf)
    out = {base_tf: base}
    for tf in tfs:
        tf = timeframes.normalize(tf)
        if tf not in out:
            out[tf] = resample(base, base_tf, tf)
    return out
