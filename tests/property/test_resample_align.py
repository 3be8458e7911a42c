"""Resampling and alignment on random candles with random gaps: consistent aggregates, no lookahead."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from traderagent.data import timeframes
from traderagent.data.resample import align, align_indices, resample

BASE = "15m"
STEP = timeframes.nanos(BASE)


@st.composite
def candles(draw) -> pd.DataFrame:
    """Random 15m OHLCV (consistent high/low) starting at a random quarter hour, with random holes."""
    seed = draw(st.integers(0, 2**32 - 1))
    n = draw(st.integers(1, 700))
    offset = draw(st.integers(0, 96 * 7))  # start anywhere in the first week of 2024
    drop = draw(st.sampled_from([0.0, 0.05, 0.3, 0.7]))
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.r_[100.0, close[:-1]]
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.01, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.01, n))
    volume = rng.uniform(0, 10, n)
    keep = rng.uniform(size=n) >= drop
    keep[0] = True
    start = pd.Timestamp("2024-01-01", tz="UTC").value + offset * STEP
    idx = pd.DatetimeIndex(pd.to_datetime(start + np.arange(n) * STEP, unit="ns", utc=True), name="timestamp")
    df = pd.DataFrame({"open": open_, "high": high, "low": low, "close": close, "volume": volume}, index=idx)
    return df[keep]


TFS = st.sampled_from(["1h", "4h", "1d"])


@settings(max_examples=150, deadline=None)
@given(candles(), TFS)
def test_aggregates_are_consistent_and_complete(base, tf):
    htf = resample(base, BASE, tf)
    period = timeframes.nanos(tf)
    t = base.index.asi8
    last_close = t[-1] + STEP
    cols = {c: base[c].to_numpy() for c in ("open", "high", "low", "close", "volume")}
    for open_t, row in zip(htf.index.asi8, htf.itertuples(), strict=True):
        inside = np.flatnonzero((t >= open_t) & (t < open_t + period))
        assert open_t % period == 0 and open_t + period <= last_close
        assert row.n_bars == len(inside) > 0
        assert row.open == cols["open"][inside[0]] and row.close == cols["close"][inside[-1]]
        assert row.high == cols["high"][inside].max() and row.low == cols["low"][inside].min()
        assert np.isclose(row.volume, cols["volume"][inside].sum(), rtol=1e-12, atol=0)
    # every period that has candles and has ended is emitted, and nothing else
    periods = np.unique(t // period * period)
    assert htf.index.asi8.tolist() == [p for p in periods if p + period <= last_close]


@settings(max_examples=150, deadline=None)
@given(candles(), TFS)
def test_alignment_uses_the_newest_closed_candle_only(base, tf):
    htf = resample(base, BASE, tf)
    idx = align_indices(base.index.asi8, BASE, htf.index.asi8, tf)
    base_close = base.index.asi8 + STEP
    htf_close = htf.index.asi8 + timeframes.nanos(tf)
    for k, close_t in zip(idx, base_close, strict=True):
        closed = np.flatnonzero(htf_close <= close_t)
        assert k == (closed[-1] if len(closed) else -1)  # never a candle closing later, always the newest
        if k >= 0:
            assert htf_close[k] <= close_t


@settings(max_examples=100, deadline=None)
@given(candles(), TFS, st.floats(0, 1))
def test_no_lookahead_cutting_the_data_changes_nothing_before_the_cut(base, tf, where):
    cut = int(where * (len(base) - 1))
    full = align(resample(base, BASE, tf), tf, base.index, BASE)
    part = base.iloc[: cut + 1]
    partial = align(resample(part, BASE, tf), tf, part.index, BASE)
    pd.testing.assert_frame_equal(partial, full.iloc[: cut + 1], check_exact=True)
