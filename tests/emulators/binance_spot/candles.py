"""Market data of the emulator: candle series, the forming candle at the clock, klines rows and events.

A candle that has opened but not closed by the clock is served in its state at the clock: the bar's path is
taken as open -> low -> high -> close (the matching engine's path), each leg over a third of the bar, so a
forming candle never shows prices the path has not reached yet; its volume grows linearly. At its close the
candle is the registered row, exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from emulators.binance import INTERVAL_MS

FAR_FUTURE = 2**62


def num(v: float) -> str:
    return repr(float(v))  # shortest exact round trip, as Binance's decimal strings are for its own values


@dataclass
class Series:
    """One symbol's candles of one interval: open times (ms, ascending) and open/high/low/close/volume rows."""

    interval: str
    open_ms: np.ndarray
    values: np.ndarray

    @classmethod
    def from_frame(cls, interval: str, df: pd.DataFrame) -> Series:
        if interval not in INTERVAL_MS:
            raise ValueError(f"Binance has no {interval} interval")
        open_ms = (df.index.as_unit("ns").asi8 // 1_000_000).astype(np.int64)
        if len(open_ms) and not np.all(np.diff(open_ms) > 0):
            raise ValueError(f"{interval} candles must have unique ascending open times")
        return cls(interval, open_ms, df[["open", "high", "low", "close", "volume"]].to_numpy(np.float64))

    @property
    def step(self) -> int:
        return INTERVAL_MS[self.interval]

    def opened(self, now: int) -> int:
        """How many candles have opened by `now` (the last may still be forming)."""
        return int(np.searchsorted(self.open_ms, now, side="right"))

    def forming(self, now: int) -> int | None:
        """The candle whose [open, close) holds `now` (at a boundary: the one that starts there), if any."""
        i = self.opened(now) - 1
        return i if i >= 0 and now < self.open_ms[i] + self.step else None

    def next_open(self, t: int) -> int:
        """The first open time at or after `t` (FAR_FUTURE past the data)."""
        i = int(np.searchsorted(self.open_ms, t, side="left"))
        return int(self.open_ms[i]) if i < len(self.open_ms) else FAR_FUTURE

    def closing(self, t0: int, t1: int) -> range:
        """Indices of the candles whose close lies in (t0, t1]."""
        lo = int(np.searchsorted(self.open_ms, t0 - self.step, side="right"))
        hi = int(np.searchsorted(self.open_ms, t1 - self.step, side="right"))
        return range(lo, hi)

    def state(self, i: int, now: int) -> tuple[tuple[float, ...], bool]:
        """Candle i as seen at `now`: ((open, high, low, close, volume), closed)."""
        o, h, low, c, v = (float(x) for x in self.values[i])
        f = (now - int(self.open_ms[i])) / self.step
        if f >= 1.0:
            return (o, h, low, c, v), True
        f = max(f, 0.0)
        points = [o, low, h, c]
        leg = min(int(f * 3), 2)
        price = points[leg] + (points[leg + 1] - points[leg]) * (f * 3 - leg)
        seen = points[: leg + 1] + [price]
        return (o, max(seen), min(seen), round(price, 8), v * f), False

    def kline_row(self, i: int, now: int) -> list:
        (o, h, low, c, v), _ = self.state(i, now)
        t = int(self.open_ms[i])
        # open time, o, h, l, c, volume, close time, quote volume, trades, taker base, taker quote, ignore
        return [t, num(o), num(h), num(low), num(c), num(v), t + self.step - 1, num(v * c), 0, "0", "0", "0"]

    def kline_event(self, market_id: str, i: int, now: int) -> dict:
        (o, h, low, c, v), closed = self.state(i, now)
        t = int(self.open_ms[i])
        k = {"t": t, "T": t + self.step - 1, "s": market_id, "i": self.interval, "f": 0, "L": 0,
             "o": num(o), "c": num(c), "h": num(h), "l": num(low), "v": num(v), "n": 0, "x": closed,
             "q": num(v * c), "V": "0", "Q": "0", "B": "0"}  # fmt: skip
        return {"e": "kline", "E": now, "s": market_id, "k": k}

    def updates(self, t0: int, t1: int) -> list[tuple[int, int, int]]:
        """Kline updates due when the clock moves from t0 to t1, as (time, rank, candle index), in order.

        Each candle: one update at its open, the final one (x=true) at its close, and its state at t1 if it is
        still forming there. At one instant a close (rank 0) comes before an open (1), which comes before a
        mid-candle state (2).
        """
        out: list[tuple[int, int, int]] = []
        if t1 <= t0:
            return out
        lo = max(int(np.searchsorted(self.open_ms, t0 - self.step, side="right")), 0)
        hi = self.opened(t1)
        for i in range(lo, hi):
            t = int(self.open_ms[i])
            close = t + self.step
            if t0 < t:
                out.append((t, 1, i))
            if t0 < close <= t1:
                out.append((close, 0, i))
            elif close > t1 and t < t1:
                out.append((t1, 2, i))
        return sorted(out)
