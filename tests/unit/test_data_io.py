"""Reading and writing candle files: every format round-trips exactly; freqtrade's own layouts read as written."""

from __future__ import annotations

import gzip
import json
import os

import numpy as np
import pandas as pd
import pytest

from traderagent.data.io import infer_timeframe, parse_name, read_candles, write_candles
from traderagent.errors import DataError

FORMATS = [".csv", ".csv.gz", ".parquet", ".feather", ".json", ".json.gz"]


@pytest.fixture
def small(walk) -> pd.DataFrame:
    df = walk(40, seed=3)
    df = df.drop(df.index[[7, 8, 20]])  # gaps survive a round trip untouched
    df.index = df.index.as_unit("ns")
    return df


def assert_candles_equal(got: pd.DataFrame, want: pd.DataFrame) -> None:
    assert isinstance(got.index, pd.DatetimeIndex)
    assert str(got.index.dtype) == "datetime64[ns, UTC]" and got.index.name == "timestamp"
    assert list(got.columns) == ["open", "high", "low", "close", "volume"]
    assert all(got.dtypes == np.float64)
    pd.testing.assert_frame_equal(got, want[["open", "high", "low", "close", "volume"]], check_exact=True)


@pytest.mark.parametrize("ext", FORMATS)
def test_round_trip_every_format(tmp_path, small, ext):
    path = tmp_path / f"BTC_USDT-15m{ext}"
    assert write_candles(small, path) == path
    got = read_candles(path)
    assert_candles_equal(got, small)
    assert got.attrs == {"source": str(path), "symbol": "BTC/USDT", "timeframe": "15m"}
    assert sorted(os.listdir(tmp_path)) == [path.name]  # no temp file left behind


def test_csv_layout_is_the_documented_header(tmp_path, small):
    path = write_candles(small, tmp_path / "x.csv")
    lines = path.read_text().splitlines()
    assert lines[0] == "timestamp,open,high,low,close,volume"
    assert lines[1].split(",")[0] == "1704067200000"  # 2024-01-01 00:00 UTC in epoch ms


def test_freqtrade_json_as_freqtrade_writes_it(tmp_path):
    rows = [[1704067200000, 42283.58, 42554.57, 42261.02, 42475.23, 1271.68108], [1704068100000, 42475.23, 42475.23, 42431.65, 42453.49, 445.0]]  # fmt: skip
    path = tmp_path / "BTC_USDT-15m.json"
    path.write_text(json.dumps(rows))
    got = read_candles(path)
    assert list(got.index) == [
        pd.Timestamp("2024-01-01 00:00", tz="UTC"),
        pd.Timestamp("2024-01-01 00:15", tz="UTC"),
    ]
    assert got.iloc[0].tolist() == rows[0][1:]
    gz = tmp_path / "BTC_USDT-15m.json.gz"
    gz.write_bytes(gzip.compress(json.dumps(rows).encode()))
    assert_candles_equal(read_candles(gz), got)


def test_freqtrade_feather_as_freqtrade_writes_it(tmp_path, small):
    # freqtrade: columns date (datetime64[ms, UTC]), open, high, low, close, volume; default RangeIndex
    ft = small.reset_index(names="date")
    ft["date"] = ft["date"].dt.as_unit("ms")
    path = tmp_path / "ETH_USDT-1h.feather"
    ft.to_feather(path)
    with pytest.raises(DataError, match="off the 1h grid"):  # the name says 1h, the candles are 15m apart
        read_candles(path)
    got = read_candles(path, timeframe="15m")
    assert_candles_equal(got, small)
    assert got.attrs["symbol"] == "ETH/USDT" and got.attrs["timeframe"] == "15m"


def test_csv_with_iso_dates_and_a_date_column(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text(
        "Date,Open,High,Low,Close,Volume\n"
        "2024-01-01T00:00:00Z,1,2,0.5,1.5,3\n"
        "2024-01-01 01:00:00+01:00,1.5,2,1,1.2,4\n"  # 01:00 at UTC+1 is 00:00 UTC: the same candle again
    )
    with pytest.raises(DataError, match="already seen; first at row 2 .*same as row 1"):
        read_candles(path)
    path.write_text(
        "date,open,high,low,close,volume\n2024-01-01 00:00,1,2,0.5,1.5,3\n2024-01-01 02:00:00+01:00,1.5,2,1,1.2,4\n"
    )
    got = read_candles(path)  # naive times are UTC; offsets are converted
    assert list(got.index) == [
        pd.Timestamp("2024-01-01 00:00", tz="UTC"),
        pd.Timestamp("2024-01-01 01:00", tz="UTC"),
    ]
    assert got.attrs["timeframe"] == "1h"  # the only spacing there is


def test_parquet_with_datetime_index_and_extra_columns(tmp_path, small):
    extra = small.assign(quote_volume=1.0, trades=3)
    extra.to_parquet(tmp_path / "y.parquet")  # index stored as a datetime index, extra columns ignored
    assert_candles_equal(read_candles(tmp_path / "y.parquet"), small)


def test_headerless_csv(tmp_path, small):
    path = write_candles(small, tmp_path / "z.csv")
    path.write_text("\n".join(path.read_text().splitlines()[1:]) + "\n")
    assert_candles_equal(read_candles(path), small)


def test_write_replaces_existing_file_atomically(tmp_path, small):
    path = tmp_path / "BTC_USDT-15m.csv.gz"
    write_candles(small.iloc[:5], path)
    write_candles(small, path)
    assert_candles_equal(read_candles(path), small)
    with pytest.raises(DataError, match="missing"):
        write_candles(small.drop(columns="volume"), path)
    assert_candles_equal(read_candles(path), small)  # a failed write leaves the old file intact
    assert sorted(os.listdir(tmp_path)) == [path.name]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("BTC_USDT-15m.csv.gz", ("BTC/USDT", "15m")),
        ("data/ETH_USDT-1h.feather", ("ETH/USDT", "1h")),
        ("BTC_USDT_USDT-4h-futures.feather", ("BTC/USDT:USDT", "4h")),
        ("BTC_USDT-H4.parquet", ("BTC/USDT", "4h")),
        ("BTC_USDT-60m.json", ("BTC/USDT", "1h")),
        ("BTCUSDT_15m.parquet", ("BTCUSDT", "15m")),
        ("candles.csv", (None, None)),
    ],
)
def test_parse_name(name, expected):
    assert parse_name(name) == expected


def test_infer_timeframe_is_the_most_common_spacing(walk):
    df = walk(50, freq="4h")
    assert infer_timeframe(df) == "4h"
    assert infer_timeframe(df.drop(df.index[[3, 4, 10]])) == "4h"
    assert infer_timeframe(walk(5, freq="1D")) == "1d"
    assert infer_timeframe(walk(5, freq="1min")) == "1m"
    with pytest.raises(DataError, match="fewer than 2 candles"):
        infer_timeframe(df.iloc[:1])


def test_single_candle_file_reads(tmp_path):
    path = tmp_path / "one.csv"
    path.write_text("timestamp,open,high,low,close,volume\n1704067200000,1,2,0.5,1.5,3\n")
    got = read_candles(path)
    assert len(got) == 1 and got.attrs["timeframe"] is None


def test_bundled_btc_15m(btc_15m):
    assert len(btc_15m) == 114782
    assert str(btc_15m.index.dtype) == "datetime64[ns, UTC]" and btc_15m.index.name == "timestamp"
    assert btc_15m.index[0] == pd.Timestamp("2023-01-01 00:00", tz="UTC")
    assert btc_15m.index[-1] == pd.Timestamp("2026-04-10 16:30", tz="UTC")
    # the first candle as printed in the file and the provenance README's price sanity checks
    assert btc_15m.iloc[0].tolist() == [16541.77, 16544.76, 16520.0, 16520.69, 1172.53835]
    assert btc_15m.loc["2024-01-01 00:00+00:00", "open"] == 42283.58
    assert btc_15m.loc["2026-01-01 00:00+00:00", "open"] == 87648.21
    spacing = np.diff(btc_15m.index.asi8) // 60_000_000_000
    gaps = np.flatnonzero(spacing != 15)
    assert len(gaps) == 1  # one gap of 5 missing bars starting 2023-03-24 12:45 UTC
    k = gaps[0]
    assert btc_15m.index[k] + pd.Timedelta("15min") == pd.Timestamp("2023-03-24 12:45", tz="UTC")
    assert spacing[k] == 15 * 6
