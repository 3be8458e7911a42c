"""Draw long series light: min/max per display bucket, so a 115k-bar page stays small and spikes stay visible.

`minmax_indices(x, y, buckets)` picks which points of a line to draw. The x range is cut into `buckets` equal
widths (display columns); inside each bucket, and separately for each stretch of finite values, the points
holding the lowest and the highest value are kept, together with every stretch's first and last point, the
series' first and last point, and one NaN point after every stretch (a NaN gap in a line means "nothing there",
e.g. no grid resting: it stays a gap, never bridged). The kept indices come back sorted, so x stays monotonic.

`ohlc_buckets` does the same for candles: one candle per bucket (first open, highest high, lowest low, last close).

`downsample_figure(fig)` applies both to every long line and candle trace of a plotly figure, whoever drew it
(the report's own traces and the strategies' overlays alike), and stores times as epoch milliseconds (plotly
draws them on a date axis; as float arrays they serialise as compact binary instead of text). WebGL traces
become SVG traces: after downsampling they are small, and SVG draws where WebGL is missing (headless browsers,
many laptops, pages with more figures than the browser's WebGL contexts). The full data stays in the run's JSON.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

#: Display buckets across a chart's width (a 1280 px page draws ~1,200 columns; up to two points per bucket).
BUCKETS = 1500
#: Points one figure may draw across all its long lines (x and y of a point cost ~21 bytes as binary arrays):
#: a figure with many long curves gets fewer buckets per curve, never fewer than MIN_BUCKETS.
POINT_BUDGET = 40_000
MIN_BUCKETS = 300
_ARRAY_ATTRS = ("text", "hovertext", "customdata")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


def bucket_of(x: np.ndarray, buckets: int) -> np.ndarray:
    """Bucket number (0 .. buckets-1) of each x: equal widths from x[0] to x[-1] (by position if x is flat)."""
    n = len(x)
    span = float(x[-1] - x[0]) if n else 0.0
    if n == 0:
        return np.zeros(0, np.int64)
    if not np.isfinite(span) or span <= 0.0:
        return np.minimum(np.arange(n, dtype=np.int64) * buckets // max(n, 1), buckets - 1)
    b = np.floor((x - x[0]) * (buckets / span)).astype(np.int64)
    return np.clip(b, 0, buckets - 1)


def _first_per_group(keys: np.ndarray, values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Position (into keys) of the smallest value of each group of equal consecutive keys, earliest on ties."""
    order = np.lexsort((np.arange(len(keys)), values, keys))
    return order[starts]


def minmax_indices(x: np.ndarray, y: np.ndarray, buckets: int = BUCKETS, y_high: np.ndarray | None = None) -> np.ndarray:
    """Sorted indices of the points to draw (see the module docstring). `x` must be finite and non-decreasing.

    With `y_high`, the minimum is taken on `y` and the maximum on `y_high` (a band or a candle's low/high)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    hi = y if y_high is None else np.asarray(y_high, dtype=np.float64)
    n = len(y)
    if n <= 2 * buckets + 2:
        return np.arange(n, dtype=np.int64)
    valid = np.isfinite(y) & np.isfinite(hi)
    prev = np.r_[False, valid[:-1]]
    nxt = np.r_[valid[1:], False]
    run_start = np.flatnonzero(valid & ~prev)
    run_end = np.flatnonzero(valid & ~nxt)
    keep = [np.array([0, n - 1]), run_start, run_end]
    gaps = run_end + 1
    keep.append(gaps[gaps < n])  # the first NaN after each stretch keeps the gap a gap
    pos = np.flatnonzero(valid)
    if len(pos):
        run_id = np.cumsum(valid & ~prev)[pos] - 1
        keys = run_id * buckets + bucket_of(x, buckets)[pos]
        starts = np.r_[0, np.flatnonzero(np.diff(keys)) + 1]
        keep.append(pos[_first_per_group(keys, y[pos], starts)])
        keep.append(pos[_first_per_group(keys, -hi[pos], starts)])
    return np.unique(np.concatenate(keep)).astype(np.int64)


def ohlc_buckets(x: np.ndarray, open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray,
                 buckets: int = BUCKETS) -> tuple[np.ndarray, ...]:
    """One candle per bucket: (x of its first bar, first open, highest high, lowest low, last close)."""
    x = np.asarray(x, dtype=np.float64)
    if len(x) <= buckets:
        return x, np.asarray(open_, float), np.asarray(high, float), np.asarray(low, float), np.asarray(close, float)
    b = bucket_of(x, buckets)
    starts = np.r_[0, np.flatnonzero(np.diff(b)) + 1]
    ends = np.r_[starts[1:], len(x)] - 1
    return (x[starts], np.asarray(open_, float)[starts], np.fmax.reduceat(np.asarray(high, float), starts),
            np.fmin.reduceat(np.asarray(low, float), starts), np.asarray(close, float)[ends])


# --------------------------------------------------------------------------------------------- plotly figures
def as_epoch_ms(x) -> np.ndarray | None:
    """Times (datetime64, Timestamps, ISO strings, None for gaps) as float epoch milliseconds (UTC), NaN for
    gaps; None when `x` is not a time axis (numbers, categories)."""
    if x is None or isinstance(x, (str, dict)):
        return None
    arr = np.asarray(x)
    if arr.dtype.kind in "fiubc" or arr.ndim != 1:
        return None
    if arr.dtype.kind == "M":
        idx = pd.DatetimeIndex(arr)
    else:
        sample = next((v for v in arr.tolist() if v is not None), None)
        if isinstance(sample, str) and not _DATE.match(sample):
            return None
        if not isinstance(sample, (str, pd.Timestamp, np.datetime64)):
            return None
        try:
            idx = pd.DatetimeIndex(pd.to_datetime(pd.Series(arr, dtype=object), utc=True, format="mixed"))
        except (ValueError, TypeError):
            return None
    idx = idx.tz_localize("UTC") if idx.tz is None else idx.tz_convert("UTC")
    ms = idx.as_unit("ms").asi8.astype(np.float64)
    ms[np.asarray(idx.isna())] = np.nan
    return ms


def _floats(values) -> np.ndarray:
    return np.asarray([np.nan if v is None else v for v in values], dtype=np.float64) \
        if not isinstance(values, np.ndarray) else values.astype(np.float64)


def _is_line(trace: dict) -> bool:
    mode = trace.get("mode")
    return mode is None or "lines" in mode


def _monotonic(x: np.ndarray) -> bool:
    return bool(np.isfinite(x).all() and (np.diff(x) >= 0).all())


def _subset(trace: dict, rows: np.ndarray, n: int) -> None:
    for attr in _ARRAY_ATTRS:
        v = trace.get(attr)
        if v is not None and not isinstance(v, str) and len(v) == n:
            trace[attr] = np.asarray(v, dtype=object)[rows].tolist()


def _scatter(trace: dict, buckets: int) -> bool:
    """Downsample one scatter trace (a dict) in place; True when its x became epoch milliseconds."""
    ms = as_epoch_ms(trace.get("x"))
    if ms is not None:
        trace["x"] = ms
    if trace.get("y") is None or trace.get("x") is None:
        return ms is not None
    y = _floats(trace["y"])
    x = np.asarray(trace["x"])
    x = x.astype(np.float64) if x.dtype.kind in "fiu" else None
    if x is not None and _is_line(trace) and len(y) == len(x) and len(y) > 2 * buckets + 2 and _monotonic(x):
        rows = minmax_indices(x, y, buckets)
        _subset(trace, rows, len(y))
        trace["x"], y = x[rows], y[rows]
    trace["y"] = y
    return ms is not None


def _candles(trace: dict, buckets: int) -> bool:
    ms = as_epoch_ms(trace.get("x"))
    x = ms if ms is not None else np.asarray(trace["x"], dtype=np.float64)
    if len(x) > buckets and _monotonic(x):
        x, o, h, lo, c = ohlc_buckets(x, trace["open"], trace["high"], trace["low"], trace["close"], buckets)
        trace.update(open=o, high=h, low=lo, close=c)
    trace["x"] = x
    return ms is not None


def _long_lines(data: list[dict]) -> int:
    return sum(1 for t in data if t.get("type") in ("scatter", "scattergl") and _is_line(t)
               and t.get("y") is not None and len(t["y"]) > 2 * MIN_BUCKETS + 2)


def downsample_figure(fig, buckets: int = BUCKETS, point_budget: int = POINT_BUDGET):
    """A copy of `fig` with every long line and candle trace downsampled (see the module docstring). The
    buckets per line shrink when the figure has many long lines, so the figure draws at most ~point_budget points."""
    import plotly.graph_objects as go

    data = [t.to_plotly_json() for t in fig.data]
    layout = fig.layout.to_plotly_json()
    n_long = _long_lines(data)
    if n_long:
        buckets = max(MIN_BUCKETS, min(buckets, point_budget // (2 * n_long)))
    date_axes: set[str] = set()
    for trace in data:
        if trace.get("type") == "scattergl":
            trace["type"] = "scatter"
        if trace.get("type") == "scatter":
            is_date = _scatter(trace, buckets)
        elif trace.get("type") in ("candlestick", "ohlc"):
            is_date = _candles(trace, buckets)
        else:
            continue
        if is_date:
            date_axes.add(trace.get("xaxis") or "x")
    for axis in date_axes:
        name = "xaxis" if axis == "x" else f"xaxis{axis[1:]}"
        layout.setdefault(name, {})["type"] = "date"
    return go.Figure(data=data, layout=layout)
