"""Pinned rows for the one alignment rule: base bar t sees the newest higher-timeframe candle closed by t's close."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from traderagent.data.resample import align, align_indices, bars_by_timeframe, resample

UTC = "UTC"


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz=UTC)


@pytest.fixture
def base(walk) -> pd.DataFrame:
    df = walk(96 * 3, start="2024-01-01")  # 3 days of 15m candles from Monday 2024-01-01 00:00 UTC
    df.index = df.index.as_unit("ns")
    return df


def seen(base: pd.DataFrame, htf: pd.DataFrame, htf_tf: str, at: str) -> pd.Timestamp | None:
    """Open time of the higher-timeframe candle the base bar opening at `at` sees (None: none yet)."""
    pos = base.index.get_loc(ts(at))
    k = align_indices(base.index.asi8, "15m", htf.index.asi8, htf_tf)[pos]
    return None if k < 0 else htf.index[k]


@pytest.mark.parametrize(
    ("htf_tf", "bar", "sees"),
    [
        ("1h", "2024-01-01 10:45", "2024-01-01 10:00"),  # closes 11:00 = the 10:00 hour's close
        ("1h", "2024-01-01 10:30", "2024-01-01 09:00"),  # closes 10:45: the 10:00 hour is still open
        ("1h", "2024-01-01 11:00", "2024-01-01 10:00"),
        ("1h", "2024-01-01 00:30", None),  # nothing has closed yet
        ("1h", "2024-01-01 00:45", "2024-01-01 00:00"),
        ("4h", "2024-01-01 07:45", "2024-01-01 04:00"),
        ("4h", "2024-01-01 07:30", "2024-01-01 00:00"),
        ("4h", "2024-01-01 03:30", None),
        ("4h", "2024-01-01 03:45", "2024-01-01 00:00"),
        ("1d", "2024-01-01 23:30", None),
        ("1d", "2024-01-01 23:45", "2024-01-01 00:00"),
        ("1d", "2024-01-02 23:30", "2024-01-01 00:00"),
        ("1d", "2024-01-02 23:45", "2024-01-02 00:00"),
    ],
)
def test_alignment_pinned_rows(base, htf_tf, bar, sees):
    htf = resample(base, "15m", htf_tf)
    assert seen(base, htf, htf_tf, bar) == (None if sees is None else ts(sees))


def test_aligned_values_are_those_of_the_closed_candle(base):
    h1 = resample(base, "15m", "1h")
    aligned = align(h1, "1h", base.index, "15m")
    # at 10:45 the 1h candle 10:00-11:00 has just closed: its close is this bar's close, its high the max of 4 bars
    assert aligned.loc[ts("2024-01-01 10:45"), "close"] == base.loc[ts("2024-01-01 10:45"), "close"]
    assert (
        aligned.loc[ts("2024-01-01 10:45"), "high"]
        == base.loc[ts("2024-01-01 10:00") : ts("2024-01-01 10:45"), "high"].max()
    )
    assert aligned.loc[ts("2024-01-01 10:45"), "open"] == base.loc[ts("2024-01-01 10:00"), "open"]
    # at 10:30 it still shows the 09:00 hour, whose close is the 09:45 bar's close
    assert aligned.loc[ts("2024-01-01 10:30"), "close"] == base.loc[ts("2024-01-01 09:45"), "close"]
    assert aligned.loc[: ts("2024-01-01 00:30")].isna().all().all()  # no hour closed yet: NaN, never a guess
    series = align(h1["close"], "1h", base.index, "15m")
    assert (
        series.name == "close"
        and series.loc[ts("2024-01-01 10:45")] == aligned.loc[ts("2024-01-01 10:45"), "close"]
    )


def test_gap_leaves_an_incomplete_candle_visible_at_its_close(base):
    gappy = base.drop([ts("2024-01-01 10:15"), ts("2024-01-01 10:30"), ts("2024-01-01 10:45")])
    h1 = resample(gappy, "15m", "1h")
    row = h1.loc[ts("2024-01-01 10:00")]
    assert row["n_bars"] == 1  # built from the one candle that exists, flagged by n_bars < 4
    assert row["open"] == base.loc[ts("2024-01-01 10:00"), "open"]
    assert row["close"] == base.loc[ts("2024-01-01 10:00"), "close"]
    assert row["high"] == base.loc[ts("2024-01-01 10:00"), "high"]
    assert h1["n_bars"].drop(ts("2024-01-01 10:00")).eq(4).all()
    # the bar before the gap (10:00, closes 10:15) still sees 09:00; the first bar after the gap (11:00,
    # closes 11:15) is the first that closes at or after 11:00, so it sees the incomplete 10:00 candle
    assert seen(gappy, h1, "1h", "2024-01-01 10:00") == ts("2024-01-01 09:00")
    assert seen(gappy, h1, "1h", "2024-01-01 11:00") == ts("2024-01-01 10:00")
    assert seen(gappy, h1, "1h", "2024-01-01 11:45") == ts("2024-01-01 11:00")


def test_an_hour_with_no_candle_is_not_invented(base):
    gappy = base.drop(base.loc[ts("2024-01-01 10:00") : ts("2024-01-01 10:45")].index)
    h1 = resample(gappy, "15m", "1h")
    assert ts("2024-01-01 10:00") not in h1.index
    assert seen(gappy, h1, "1h", "2024-01-01 11:00") == ts("2024-01-01 09:00")
    assert seen(gappy, h1, "1h", "2024-01-01 11:45") == ts("2024-01-01 11:00")


@pytest.mark.parametrize(
    ("last_bar", "last_hour"),
    [("2024-01-01 10:30", "2024-01-01 09:00"), ("2024-01-01 10:45", "2024-01-01 10:00")],
)
def test_unfinished_last_candle_is_not_emitted(base, last_bar, last_hour):
    cut = base.loc[: ts(last_bar)]
    assert resample(cut, "15m", "1h").index[-1] == ts(last_hour)


def test_unfinished_last_candle_with_a_gap_at_the_end_is_not_emitted(base):
    cut = base.loc[: ts("2024-01-01 10:15")].drop(ts("2024-01-01 10:15"))  # last bar 10:00, closes 10:15
    assert resample(cut, "15m", "1h").index[-1] == ts("2024-01-01 09:00")


def test_weeks_open_on_monday(walk):
    df = walk(96 * 16, start="2024-01-03")  # Wednesday 3rd .. Thursday 18th
    w = resample(df, "15m", "1w")
    # the week of Monday 1st has 5 days of candles; the week of the 15th has not ended, so it is not emitted
    assert list(w.index) == [ts("2024-01-01"), ts("2024-01-08")]
    assert list(w["n_bars"]) == [96 * 5, 96 * 7]


def test_first_partial_period_is_emitted_with_its_count(walk):
    df = walk(12, start="2024-01-01 00:30")  # the hour 00:00 only has 00:30 and 00:45
    h1 = resample(df, "15m", "1h")
    assert h1.index[0] == ts("2024-01-01 00:00") and h1["n_bars"].iloc[0] == 2


def test_same_timeframe_is_a_copy_with_n_bars_1(base):
    out = resample(base, "M15", "15m")
    assert out[["open", "high", "low", "close", "volume"]].equals(base) and (out["n_bars"] == 1).all()


def test_bars_by_timeframe_keys(base):
    got = bars_by_timeframe(base, "M15", ["H1", "4h", "D1"])
    assert list(got) == ["15m", "1h", "4h", "1d"] and got["15m"] is base
    assert len(got["1d"]) == 3 and len(got["4h"]) == 18 and len(got["1h"]) == 72


def test_bundled_btc_1h_matches_pandas_on_complete_hours(btc_15m):
    ours = resample(btc_15m, "15m", "1h")
    g = btc_15m.resample("1h", label="left", closed="left")
    ref = pd.DataFrame(
        {
            "open": g["open"].first(),
            "high": g["high"].max(),
            "low": g["low"].min(),
            "close": g["close"].last(),
            "volume": g["volume"].sum(),
            "n": g["open"].count(),
        }
    )
    ref = ref[ref["n"] == 4]
    mine = ours[ours["n_bars"] == 4]
    assert len(mine) == len(ref) == len(ours) - 1  # one hour (2023-03-24 12:00) is incomplete
    assert mine.index.equals(ref.index)
    for col in ("open", "high", "low", "close"):
        np.testing.assert_array_equal(mine[col].to_numpy(), ref[col].to_numpy())
    np.testing.assert_allclose(mine["volume"].to_numpy(), ref["volume"].to_numpy(), rtol=1e-12)
    assert ours.index[ours["n_bars"] < 4].tolist() == [ts("2023-03-24 12:00")]


def test_bundled_btc_1m_to_15m_reproduces_the_15m_file(btc_1m, btc_15m):
    # the provenance README: the 1m sample aggregated to 15 minutes reproduces the 15m file exactly
    m15 = resample(btc_1m, "1m", "15m")
    ref = btc_15m.loc[m15.index]
    for col in ("open", "high", "low", "close"):
        np.testing.assert_array_equal(m15[col].to_numpy(), ref[col].to_numpy())
    np.testing.assert_allclose(m15["volume"].to_numpy(), ref["volume"].to_numpy(), rtol=1e-12)
    assert len(m15) == 28 * 96 and (m15["n_bars"] == 15).all()
