"""Candle validation and data reports.

Every failure raises `DataError` with ONE line: the source (file name), how many rows are affected, the
first offending row and its timestamp, and what is wrong, e.g.

    BTC.csv: 3 rows have high < max(open, close); first at row 17 (2024-01-01 04:00:00+00:00): high=99.5 < close=100.2

"row N" is the N-th candle in the file, counting from 1 (the header is not a row).

Gaps (missing candles) are not errors: `find_gaps` and `DataReport` report them, nothing fills them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from traderagent.data import timeframes
from traderagent.errors import DataError

PRICE = ("open", "high", "low", "close")
OHLCV = ("open", "high", "low", "close", "volume")
HEADER = "timestamp,open,high,low,close,volume"
_WEEK_ORIGIN_NS = 4 * 86400 * 1_000_000_000  # 1970-01-05, a Monday


def _rows(n: int) -> str:
    return f"{n} row has" if n == 1 else f"{n} rows have"


def _num(v: float) -> str:
    return repr(float(v))


def row_error(
    source: str, mask: np.ndarray, what: str, detail, index: pd.DatetimeIndex | None = None, hint: str = ""
) -> DataError:
    """The one-line error for rows where `mask` is true: count, first row (1-based), its time, detail(i)."""
    bad = np.flatnonzero(mask)
    i = int(bad[0])
    when = f" ({index[i]})" if index is not None else ""
    tail = f" ({hint})" if hint else ""
    return DataError(f"{source}: {_rows(len(bad))} {what}; first at row {i + 1}{when}: {detail(i)}{tail}")


def check_columns(columns, source: str, time_columns=("timestamp", "date")) -> None:
    """DataError unless the OHLCV columns (and, when `time_columns`, a time column) are present."""
    cols = [str(c) for c in columns]
    missing = [c for c in OHLCV if c not in cols]
    if time_columns and not any(t in cols for t in time_columns):
        missing.insert(0, time_columns[0])
    if missing:
        found = ",".join(cols) if cols else "nothing"
        s = "s" if len(missing) > 1 else ""
        raise DataError(
            f"{source}: missing column{s} {', '.join(missing)}; the header must be {HEADER} (found: {found})"
        )


def grid_origin(tf: str) -> int:
    """Epoch offset (ns) of the timeframe's candle grid: weeks open on Monday, everything else on epoch multiples."""
    return _WEEK_ORIGIN_NS if timeframes.normalize(tf).endswith("w") else 0


def check_candles(df: pd.DataFrame, source: str = "candles", timeframe: str | None = None) -> pd.DataFrame:
    """Validate candles in file order (UTC DatetimeIndex of open times, float OHLCV); return `df` unchanged.

    Checks, in order: non-empty, columns, NaN, duplicate timestamps, order, the timeframe grid (when
    `timeframe` is given), high >= low, high >= max(open, close), low <= min(open, close), volume >= 0.
    """
    if len(df) == 0:
        raise DataError(
            f"{source}: no candles (the file is empty; expected a header {HEADER} and one row per candle)"
        )
    check_columns(df.columns, source, time_columns=())
    idx = df.index
    if not isinstance(idx, pd.DatetimeIndex):
        raise DataError(f"{source}: candles must be indexed by their open time (a DatetimeIndex)")
    values = {c: df[c].to_numpy(np.float64) for c in OHLCV}
    nan_cols = np.column_stack([np.isnan(values[c]) for c in OHLCV])
    if idx.hasnans:
        raise row_error(source, np.asarray(idx.isna()), "no timestamp", lambda i: "timestamp is empty")
    if nan_cols.any():
        raise row_error(
            source,
            nan_cols.any(axis=1),
            "a missing value",
            lambda i: f"{OHLCV[int(np.argmax(nan_cols[i]))]} is empty or NaN",
            idx,
            "fill or drop those rows in the source",
        )
    _check_order(idx, source)
    if timeframe is not None:
        _check_grid(idx, source, timeframe)
    o, h, lo, c, v = (values[k] for k in OHLCV)
    checks = (
        (h < lo, "high < low", lambda i: f"high={_num(h[i])} < low={_num(lo[i])}"),
        (h < np.maximum(o, c), "high < max(open, close)", lambda i: _vs("high", h[i], "<", o[i], c[i], max)),
        (lo > np.minimum(o, c), "low > min(open, close)", lambda i: _vs("low", lo[i], ">", o[i], c[i], min)),
        (v < 0, "volume < 0", lambda i: f"volume={_num(v[i])}"),
    )
    for mask, what, detail in checks:
        if mask.any():
            raise row_error(source, mask, what, detail, idx)
    return df


def _vs(name: str, x: float, op: str, o: float, c: float, pick) -> str:
    other, val = ("close", c) if pick(o, c) == c else ("open", o)
    return f"{name}={_num(x)} {op} {other}={_num(val)}"


def _check_order(idx: pd.DatetimeIndex, source: str) -> None:
    ns = idx.as_unit("ns").asi8
    dup = pd.Index(ns).duplicated(keep="first")
    if dup.any():
        first_seen = {t: k for k, t in reversed(list(enumerate(ns)))}
        raise row_error(
            source,
            dup,
            "a timestamp already seen",
            lambda i: f"same as row {first_seen[ns[i]] + 1}",
            idx,
            "drop the repeated rows",
        )
    back = np.r_[False, ns[1:] < ns[:-1]]
    if back.any():
        raise row_error(
            source,
            back,
            "a timestamp earlier than the row before",
            lambda i: f"row {i} is {idx[i - 1]}",
            idx,
            "sort the file by timestamp",
        )


def _check_grid(idx: pd.DatetimeIndex, source: str, timeframe: str) -> None:
    tf = timeframes.normalize(timeframe)
    if tf.endswith("w"):
        return  # weekly candles open on different weekdays across sources; no grid to enforce
    off = (idx.as_unit("ns").asi8 - grid_origin(tf)) % timeframes.nanos(tf) != 0
    if off.any():
        raise row_error(
            source,
            off,
            f"a timestamp off the {tf} grid",
            lambda i: f"{tf} candles open at multiples of {tf} since 1970-01-01 00:00 UTC",
            idx,
            "is the timeframe right?",
        )


def find_gaps(df: pd.DataFrame, timeframe: str) -> list[tuple[pd.Timestamp, int]]:
    """Runs of missing candles as (open time of the first missing candle, number missing), oldest first."""
    step = timeframes.nanos(timeframe)
    ns = df.index.as_unit("ns").asi8
    if len(ns) < 2:
        return []
    d = np.diff(ns)
    at = np.flatnonzero(d > step)
    return [(pd.Timestamp(int(ns[k]) + step, unit="ns", tz="UTC"), int(d[k] // step) - 1) for k in at]


@dataclass(frozen=True)
class DataReport:
    """What `traderagent data inspect` shows about one candle file."""

    source: str
    symbol: str | None
    timeframe: str
    rows: int
    first: pd.Timestamp  # open time of the first candle
    last: pd.Timestamp  # open time of the last candle
    gaps: tuple[tuple[pd.Timestamp, int], ...]
    zero_volume: int
    bars: dict[str, int] = field(default_factory=dict)  # candles per timeframe after resampling
    incomplete: dict[str, int] = field(default_factory=dict)  # of those, built from fewer base candles

    @property
    def missing_bars(self) -> int:
        return sum(n for _, n in self.gaps)

    @property
    def largest_gap(self) -> tuple[pd.Timestamp, int] | None:
        return max(self.gaps, key=lambda g: g[1]) if self.gaps else None

    def to_dict(self) -> dict:
        """JSON-ready: times as ISO 8601 UTC strings."""
        largest = self.largest_gap
        return {
            "source": self.source,
            "symbol": self.symbol,
            "timeframe": self.timeframe,
            "rows": self.rows,
            "first": self.first.isoformat(),
            "last": self.last.isoformat(),
            "gaps": {
                "count": len(self.gaps),
                "missing_bars": self.missing_bars,
                "largest": None if largest is None else {"start": largest[0].isoformat(), "bars": largest[1]},
                "all": [{"start": t.isoformat(), "bars": n} for t, n in self.gaps],
            },
            "zero_volume_bars": self.zero_volume,
            "bars_per_timeframe": dict(self.bars),
            "incomplete_per_timeframe": dict(self.incomplete),
        }

    def format(self, max_gaps: int = 10) -> str:
        """Human-readable, a few lines."""
        fmt = "%Y-%m-%d %H:%M"
        days = (
            self.last - self.first + pd.Timedelta(seconds=timeframes.seconds(self.timeframe))
        ) / pd.Timedelta(days=1)
        lines = [
            f"{self.source}  {self.symbol or '?'} {self.timeframe}",
            f"  span         {self.first:{fmt}} -> {self.last:{fmt}} UTC (candle open times; {days:.1f} days)",
            f"  rows         {self.rows}",
        ]
        if self.gaps:
            t, n = self.largest_gap  # type: ignore[misc]
            lines.append(
                f"  gaps         {len(self.gaps)} ({self.missing_bars} missing bars); largest {n} bars from {t:{fmt}} UTC"
            )
            where = ", ".join(f"{t:{fmt}} ({n})" for t, n in self.gaps[:max_gaps])
            more = f", ... {len(self.gaps) - max_gaps} more" if len(self.gaps) > max_gaps else ""
            lines.append(f"  gaps at      {where}{more}")
        else:
            lines.append("  gaps         none")
        lines.append(f"  zero volume  {self.zero_volume} bars")
        bars = " | ".join(f"{tf} {n}" for tf, n in self.bars.items())
        inc = ", ".join(f"{tf} {n}" for tf, n in self.incomplete.items() if n)
        lines.append(f"  bars         {bars}" + (f"  (incomplete, from gaps: {inc})" if inc else ""))
        return "\n".join(lines)


def report(
    df: pd.DataFrame, timeframe: str | None = None, source: str | None = None, symbol: str | None = None
) -> DataReport:
    """Summarize validated candles: span, rows, gaps, zero-volume bars, bars per standard timeframe."""
    from traderagent.data.resample import resample
    from traderagent.data.timeframes import infer_timeframe

    tf = timeframes.normalize(timeframe or df.attrs.get("timeframe") or infer_timeframe(df))
    bars: dict[str, int] = {}
    incomplete: dict[str, int] = {}
    base_s = timeframes.seconds(tf)
    for htf in timeframes.STANDARD:
        if timeframes.seconds(htf) < base_s or timeframes.seconds(htf) % base_s:
            continue
        res = resample(df, tf, htf)
        bars[htf] = len(res)
        incomplete[htf] = int((res["n_bars"] < timeframes.check_multiple(tf, htf)).sum())
    return DataReport(
        source=source or str(df.attrs.get("source", "candles")),
        symbol=symbol or df.attrs.get("symbol"),
        timeframe=tf,
        rows=len(df),
        first=df.index[0],
        last=df.index[-1],
        gaps=tuple(find_gaps(df, tf)),
        zero_volume=int((df["volume"].to_numpy() == 0).sum()),
        bars=bars,
        incomplete=incomplete,
    )
