"""Min/max downsampling for drawing (`traderagent.report.downsample`) against a brute-force reference."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from traderagent.report.downsample import (
    as_epoch_ms,
    bucket_of,
    downsample_figure,
    minmax_indices,
    ohlc_buckets,
)


def brute_force(x: np.ndarray, y: np.ndarray, buckets: int) -> set[int]:
    """The selection rule written out point by point: per (finite stretch, bucket) the first lowest and first
    highest point, every stretch's ends, the first NaN after each stretch, and the series' first and last point."""
    n = len(y)
    if n <= 2 * buckets + 2:
        return set(range(n))
    b = bucket_of(x, buckets)
    keep = {0, n - 1}
    groups: dict[tuple[int, int], list[int]] = {}
    stretch = -1
    for i in range(n):
        if np.isnan(y[i]):
            continue
        if i == 0 or np.isnan(y[i - 1]):
            stretch += 1
            keep.add(i)
        if i == n - 1 or np.isnan(y[i + 1]):
            keep.add(i)
            if i + 1 < n:
                keep.add(i + 1)
        groups.setdefault((stretch, int(b[i])), []).append(i)
    for members in groups.values():
        lo = min(members, key=lambda i: (y[i], i))
        hi = min(members, key=lambda i: (-y[i], i))
        keep.update((lo, hi))
    return keep


def series(n: int, seed: int, nan_runs: int = 0, spikes: int = 0, gaps_in_x: bool = False):
    rng = np.random.default_rng(seed)
    step = rng.integers(1, 4, n) * 900_000.0 if gaps_in_x else np.full(n, 900_000.0)
    x = 1.6e12 + np.cumsum(step)
    y = 100 + np.cumsum(rng.normal(0, 1, n))
    for _ in range(nan_runs):
        a = int(rng.integers(0, n - 50))
        y[a:a + int(rng.integers(1, 50))] = np.nan
    spike_at = rng.choice(n, spikes, replace=False) if spikes else np.array([], int)
    y[spike_at] = np.where(rng.random(spikes) < 0.5, 1e6, -1e6)
    return x, y, spike_at


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("buckets", [7, 50, 300])
def test_matches_the_brute_force_reference(seed, buckets):
    x, y, _ = series(5000 + 997 * seed, seed, nan_runs=seed * 3, spikes=seed, gaps_in_x=seed % 2 == 1)
    got = minmax_indices(x, y, buckets)
    assert set(got.tolist()) == brute_force(x, y, buckets)
    assert (np.diff(got) > 0).all()  # sorted, no repeats: x stays monotonic
    assert len(got) < len(y)


def test_spikes_kept():
    x, y, spikes = series(50_000, 11, spikes=25)
    got = minmax_indices(x, y, 200)
    assert set(spikes.tolist()) <= set(got.tolist())
    assert np.nanmax(y[got]) == np.nanmax(y) and np.nanmin(y[got]) == np.nanmin(y)
    # every bucket's extremes are drawn
    b = bucket_of(x, 200)
    for k in np.unique(b):
        sel = b == k
        assert np.nanmax(y[sel]) in y[got] and np.nanmin(y[sel]) in y[got]


def stretches(y: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) index of each run of finite values."""
    out, start = [], None
    for i, v in enumerate(y):
        if np.isfinite(v) and start is None:
            start = i
        if not np.isfinite(v) and start is not None:
            out.append((start, i - 1))
            start = None
    if start is not None:
        out.append((start, len(y) - 1))
    return out


def test_gaps_stay_gaps():
    """A grid overlay: levels rest for a while, then nothing (NaN), many times over."""
    n = 40_000
    x = np.arange(n, dtype=float) * 60_000
    y = np.full(n, np.nan)
    rng = np.random.default_rng(3)
    pos = 0
    while pos < n - 10:
        on = int(rng.integers(5, 900))
        y[pos:pos + on] = 100 + rng.normal(0, 1, min(on, n - pos))
        pos += on + int(rng.integers(1, 400))
    got = minmax_indices(x, y, 150)
    before, after = stretches(y), stretches(y[got])
    assert len(after) == len(before)  # no gap bridged, none invented
    assert [(x[a], x[b]) for a, b in before] == [(x[got][a], x[got][b]) for a, b in after]  # same extents


def test_short_series_untouched_and_ends_kept():
    x = np.arange(10.0)
    y = np.arange(10.0)
    assert minmax_indices(x, y, 100).tolist() == list(range(10))
    x, y, _ = series(10_000, 5, nan_runs=4)
    y[0] = np.nan
    got = minmax_indices(x, y, 100)
    assert got[0] == 0 and got[-1] == len(y) - 1


def test_ohlc_buckets_keep_the_extremes():
    x, c, _ = series(20_000, 8)
    o = np.r_[c[0], c[:-1]]
    h, lo = np.maximum(o, c) + 1, np.minimum(o, c) - 1
    bx, bo, bh, bl, bc = ohlc_buckets(x, o, h, lo, c, 400)
    assert len(bx) <= 400 and (np.diff(bx) > 0).all()
    assert bh.max() == h.max() and bl.min() == lo.min() and bo[0] == o[0] and bc[-1] == c[-1]
    b = bucket_of(x, 400)
    for k, (hh, ll) in enumerate(zip(bh, bl, strict=True)):
        sel = b == np.unique(b)[k]
        assert hh == h[sel].max() and ll == lo[sel].min()


def test_epoch_ms_of_the_forms_plotly_gets():
    idx = pd.date_range("2024-01-01", periods=3, freq="15min", tz="UTC")
    want = idx.as_unit("ms").asi8.astype(float)
    assert as_epoch_ms(idx).tolist() == want.tolist()
    assert as_epoch_ms(idx.tz_localize(None).to_numpy()).tolist() == want.tolist()
    assert as_epoch_ms(["2024-01-01 00:00", None, "2024-01-01T00:30:00Z"]).tolist()[::2] == want[::2].tolist()
    assert np.isnan(as_epoch_ms(["2024-01-01 00:00", None])[1])
    assert as_epoch_ms([1.0, 2.0]) is None and as_epoch_ms(["fold 1", "fold 2"]) is None


def test_figure_helper_covers_every_long_trace():
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    x, y, spikes = series(60_000, 2, nan_runs=5, spikes=3)
    t = pd.to_datetime(x, unit="ms", utc=True)
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True)
    fig.add_trace(go.Scattergl(x=t, y=y, mode="lines", name="webgl line"), row=1, col=1)
    fig.add_trace(go.Scatter(x=t[:50], y=y[:50], mode="markers", name="markers"), row=1, col=1)
    fig.add_trace(go.Candlestick(x=t, open=y, high=y + 1, low=y - 1, close=y), row=2, col=1)
    out = downsample_figure(fig, buckets=500)
    line, markers, candles = out.data
    assert line.type == "scatter" and len(line.x) < 2 * 500 + 100  # WebGL became SVG, and it is light
    assert np.nanmax(np.asarray(line.y, float)) == np.nanmax(y) and set(y[spikes]) <= set(np.asarray(line.y, float))
    assert len(markers.x) == 50  # events are never thinned
    assert len(candles.x) <= 500 and max(candles.high) == np.nanmax(y + 1)
    assert out.layout.xaxis.type == "date" and out.layout.xaxis2.type == "date"
    assert len(fig.data[0].x) == 60_000  # the caller's figure is left as it was
