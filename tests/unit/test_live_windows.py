"""The live runner's windows: higher-timeframe candles built one base candle at a time equal `resample` over the
whole history to the bit, become visible exactly where `align_indices` says (gaps included), and candles out of
order are refused."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from traderagent.data.resample import align_indices, resample
from traderagent.live.windows import WindowBook

TFS = ("1h", "4h", "1d")


@pytest.mark.parametrize("split", [0, 5000])
def test_higher_timeframes_equal_resample_and_appear_when_align_says(btc_15m, split):
    bars = btc_15m[(btc_15m.index >= "2023-03-20") & (btc_15m.index < "2023-04-20")]  # holds the 5-bar gap
    assert (np.diff(bars.index.as_unit("ns").asi8) > 900e9).any()
    w = WindowBook("15m", {"15m": 50, **{tf: 10_000 for tf in TFS}})
    w.seed(bars.iloc[:split])
    full = {tf: resample(bars, "15m", tf) for tf in TFS}
    ns = bars.index.as_unit("ns").asi8
    idx = {tf: align_indices(ns, "15m", full[tf].index.as_unit("ns").asi8, tf) for tf in TFS}
    for i in range(split, len(bars)):
        r = bars.iloc[i]
        w.push(int(ns[i]), r["open"], r["high"], r["low"], r["close"], r["volume"])
        if i % 37 == 0 or i == len(bars) - 1:
            for tf in TFS:
                got = w.frame(tf)
                k = int(idx[tf][i])
                assert len(got) == min(k + 1, 10_000) and (k < 0 or got.index[-1] == full[tf].index[k]), (tf, i)
    for tf in TFS:
        got, want = w.frame(tf), full[tf]
        want = want.iloc[-len(got):] if split == 0 else want[want.index >= got.index[0]]
        pd.testing.assert_frame_equal(got, want, check_exact=True, check_freq=False, check_names=False,
                                      check_column_type=False)
    assert (w.frame("1h")["n_bars"] < 4).any()  # the gap left a short candle, as resample builds it


def test_refuses_a_candle_that_is_not_after_the_last():
    w = WindowBook("15m", {"15m": 5})
    t = pd.Timestamp("2024-01-01", tz="UTC").value
    w.push(t, 1, 2, 0.5, 1.5, 10)
    for bad in (t, t - 900_000_000_000):
        with pytest.raises(ValueError, match="not after the last one"):
            w.push(bad, 1, 2, 0.5, 1.5, 10)
