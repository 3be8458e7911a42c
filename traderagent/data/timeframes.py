"""Timeframe names and durations.

Canonical names are ccxt-style (`1m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d 1w`); the seed plan's aliases
`M1 M5 M15 M30 H1 H2 H4 H6 H8 H12 D1 W1` are accepted everywhere a timeframe is read.
A candle is keyed by its open time (UTC) and is complete at open + duration.
"""

from __future__ import annotations

import functools
import re

import numpy as np

from traderagent.errors import DataError, UserError

_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 604800}
_CANONICAL = re.compile(r"^(\d+)([mhdw])$")
_ALIAS = re.compile(r"^([MHDW])(\d+)$")

#: The timeframes the product is built around (base first).
STANDARD = ("15m", "1h", "4h", "1d")


def normalize(tf: str) -> str:
    """Return the canonical name of a timeframe (`'H1'` -> `'1h'`), or raise UserError."""
    if not isinstance(tf, str):
        raise UserError(f"timeframe must be a string like '15m' or 'H1' (got {tf!r})")
    return _normalize(tf)


@functools.lru_cache(maxsize=512)
def _normalize(tf: str) -> str:
    text = tf.strip()
    m = _ALIAS.match(text)
    if m:
        text = f"{int(m.group(2))}{m.group(1).lower()}"
    m = _CANONICAL.match(text)
    if not m or int(m.group(1)) <= 0:
        raise UserError(
            f"unknown timeframe {tf!r}: use one of 1m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d 1w or an alias M15 H1 H4 D1"
        )
    n, unit = int(m.group(1)), m.group(2)
    if unit == "m" and n >= 60 and n % 60 == 0:
        return normalize(f"{n // 60}h")
    if unit == "h" and n >= 24 and n % 24 == 0:
        return normalize(f"{n // 24}d")
    return f"{n}{unit}"


@functools.lru_cache(maxsize=512)
def seconds(tf: str) -> int:
    """Duration of one candle in seconds."""
    m = _CANONICAL.match(normalize(tf))
    assert m is not None
    return int(m.group(1)) * _UNIT_SECONDS[m.group(2)]


def nanos(tf: str) -> int:
    """Duration of one candle in nanoseconds (the unit of pandas' datetime64[ns])."""
    return seconds(tf) * 1_000_000_000


def pandas_freq(tf: str) -> str:
    """The pandas offset alias for a timeframe (`'1h'` -> `'1h'`, `'15m'` -> `'15min'`)."""
    m = _CANONICAL.match(normalize(tf))
    assert m is not None
    n, unit = m.group(1), m.group(2)
    return f"{n}{ {'m': 'min', 'h': 'h', 'd': 'D', 'w': 'W'}[unit] }".replace(" ", "")


def bars_per_year(tf: str) -> float:
    """Number of candles in a 365-day year (crypto trades around the clock)."""
    return 365.0 * 86400.0 / seconds(tf)


def check_multiple(base: str, higher: str) -> int:
    """How many `base` candles make one `higher` candle; UserError unless it is a whole number >= 1."""
    b, h = seconds(base), seconds(higher)
    if h < b or h % b:
        raise UserError(f"timeframe {higher} is not a whole multiple of the base timeframe {base}")
    return h // b


def infer_timeframe(df) -> str:
    """The timeframe of candles: their most common spacing (DataError if fewer than 2 or not whole minutes)."""
    ns = df.index.as_unit("ns").asi8
    d = np.diff(ns)
    d = d[d > 0]
    if len(d) == 0:
        raise DataError("cannot infer the timeframe from fewer than 2 candles; pass the timeframe explicitly")
    vals, counts = np.unique(d, return_counts=True)
    secs = int(vals[int(np.argmax(counts))] // 1_000_000_000)
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if secs % size == 0:
            return normalize(f"{secs // size}{unit}")
    raise DataError(f"candles are {secs}s apart; only whole-minute timeframes are supported")
