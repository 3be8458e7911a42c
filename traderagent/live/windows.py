"""Trailing candle windows per timeframe, grown one closed base candle at a time.

A higher-timeframe candle is built by `data.resample.resample` from the base candles of its period (the one
resample code, so its values equal the backtest's to the bit) and becomes visible at the first base candle that
closes at or after its close (the one alignment rule of `data.resample.align_indices`): normally the period's last
base candle; after a gap, the first candle of a later period. Candles are refused here when they are not the next
one (duplicate, out of order); gaps are allowed (they are the exchange's) and reported by the runner.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from traderagent.data import timeframes
from traderagent.data.resample import _WEEK_ORIGIN_NS, OHLCV, resample

COLUMNS = pd.Index(list(OHLCV), dtype=object)


class _Rows:
    """A growing table of candles (open time ns, open, high, low, close, volume, n_bars) kept in numpy buffers;
    old rows are dropped once the buffer holds twice the window."""

    def __init__(self, size: int):
        self.size = size
        self.times = np.empty(max(2 * size + 8, 16), dtype=np.int64)
        self.vals = np.empty((len(self.times), 6), dtype=np.float64)
        self.n = 0

    def resize(self, size: int) -> None:
        if size > self.size:
            self.size = size
            if 2 * size + 8 > len(self.times):
                times, vals = np.empty(2 * size + 8, dtype=np.int64), np.empty((2 * size + 8, 6))
                times[: self.n], vals[: self.n] = self.times[: self.n], self.vals[: self.n]
                self.times, self.vals = times, vals

    def append(self, t: int, row: tuple) -> None:
        if self.n == len(self.times):
            keep = self.size
            self.times[:keep] = self.times[self.n - keep: self.n]
            self.vals[:keep] = self.vals[self.n - keep: self.n]
            self.n = keep
        self.times[self.n] = t
        self.vals[self.n] = row
        self.n += 1

    def last(self) -> tuple:
        return (int(self.times[self.n - 1]), *self.vals[self.n - 1])

    def tail(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        lo = max(0, self.n - k)
        return self.times[lo: self.n], self.vals[lo: self.n]


class WindowBook:
    """Base candles and the higher timeframes' complete candles, each trimmed to its window size."""

    def __init__(self, base_tf: str, sizes: dict[str, int]):
        self.base_tf = timeframes.normalize(base_tf)
        self.sizes: dict[str, int] = {}
        self.rows: dict[str, _Rows] = {}
        self.pending: dict[str, list] = {}
        self._frames: dict[str, pd.DataFrame] = {}
        self.base_ns = timeframes.nanos(self.base_tf)
        self.last_ns: int | None = None
        self.grow({self.base_tf: 2, **sizes})

    def grow(self, sizes: dict[str, int]) -> None:
        for tf, n in sizes.items():
            tf = timeframes.normalize(tf)
            self.sizes[tf] = max(self.sizes.get(tf, 0), int(n))
            if tf in self.rows:
                self.rows[tf].resize(self.sizes[tf])
            else:
                self.rows[tf] = _Rows(self.sizes[tf])
            if tf != self.base_tf:
                self.pending.setdefault(tf, [])

    def _key(self, tf: str, t: int) -> int:
        origin = _WEEK_ORIGIN_NS if tf.endswith("w") else 0
        return (t - origin) // timeframes.nanos(tf)

    def push(self, time_ns: int, o: float, h: float, lo: float, c: float, v: float) -> None:
        """Add the next closed base candle (its open time after the last one's)."""
        if self.last_ns is not None and time_ns <= self.last_ns:
            raise ValueError(f"candle {pd.Timestamp(time_ns, tz='UTC')} is not after the last one")
        self.last_ns = time_ns
        row = (time_ns, o, h, lo, c, v)
        self._append(self.base_tf, time_ns, (o, h, lo, c, v, 1.0))
        close = time_ns + self.base_ns
        for tf, pend in self.pending.items():
            if pend and self._key(tf, pend[-1][0]) != self._key(tf, time_ns):
                self._emit(tf, pend)  # a gap ended the previous period: visible now
                pend.clear()
            pend.append(row)
            period = timeframes.nanos(tf)
            start = self._key(tf, time_ns) * period + (_WEEK_ORIGIN_NS if tf.endswith("w") else 0)
            if start + period <= close:
                self._emit(tf, pend)
                pend.clear()

    def _emit(self, tf: str, rows: list) -> None:
        """The candle of one finished period, aggregated exactly as `resample` does (the same numpy reductions
        over the same segment, so the floats are the same to the bit; a test compares them)."""
        a = np.asarray(rows, dtype=np.float64)
        start = [0]
        origin = _WEEK_ORIGIN_NS if tf.endswith("w") else 0
        period = timeframes.nanos(tf)
        open_ns = self._key(tf, int(rows[0][0])) * period + origin
        self._append(tf, open_ns, (float(a[0, 1]), float(np.maximum.reduceat(a[:, 2], start)[0]),
                                   float(np.minimum.reduceat(a[:, 3], start)[0]), float(a[-1, 4]),
                                   float(np.add.reduceat(a[:, 5], start)[0]), float(len(rows))))

    def _append(self, tf: str, t: int, row: tuple) -> None:
        self.rows[tf].append(t, row)
        self._frames.pop(tf, None)

    def count(self, tf: str) -> int:
        return min(self.rows[tf].n, self.sizes[tf])

    def frame(self, tf: str) -> pd.DataFrame:
        """The window of `tf` (cached until a candle of it is added)."""
        f = self._frames.get(tf)
        if f is None:
            times, vals = self.rows[tf].tail(self.sizes[tf])
            idx = pd.DatetimeIndex(times.view("M8[ns]"), name="timestamp").tz_localize("UTC")
            f = pd.DataFrame(vals[:, :5], index=idx, columns=COLUMNS)
            if tf != self.base_tf:
                f["n_bars"] = vals[:, 5].astype(np.int64)
            self._frames[tf] = f
        return f

    def frames(self, tfs=None) -> dict[str, pd.DataFrame]:
        return {tf: self.frame(tf) for tf in (tfs or self.sizes)}

    def open_of(self, time_ns: int) -> float | None:
        """The open of the last base candle if it opened at `time_ns`."""
        r = self.rows[self.base_tf]
        if r.n and int(r.times[r.n - 1]) == time_ns:
            return float(r.vals[r.n - 1, 0])
        return None

    def seed(self, bars: pd.DataFrame) -> None:
        """Push historical base candles (a warm-up), oldest first: the higher timeframes' finished candles in one
        `resample` each, the unfinished last period left pending."""
        if not len(bars):
            return
        ns = bars.index.as_unit("ns").asi8
        vals = bars[list(OHLCV)].to_numpy(np.float64)
        keep = self.sizes[self.base_tf]
        for k in range(max(0, len(ns) - keep), len(ns)):
            self._append(self.base_tf, int(ns[k]), (*vals[k], 1.0))
        for tf in self.pending:
            done = resample(bars, self.base_tf, tf)
            t_done = done.index.as_unit("ns").asi8
            for j in range(max(0, len(done) - self.sizes[tf]), len(done)):
                r = done.iloc[j]
                self._append(tf, int(t_done[j]), (float(r["open"]), float(r["high"]), float(r["low"]),
                                                  float(r["close"]), float(r["volume"]), float(r["n_bars"])))
            end = (t_done[-1] + timeframes.nanos(tf)) if len(done) else -1
            self.pending[tf] = [(int(ns[k]), *vals[k]) for k in range(len(ns)) if ns[k] >= end]
        self.last_ns = int(ns[-1])
