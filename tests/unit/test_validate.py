"""Every bad candle file gives one DataError line naming the file, the first offending row and the problem."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest

from traderagent.data.io import read_candles
from traderagent.data.validate import check_candles, find_gaps, report
from traderagent.errors import DataError, UserError

HEADER = "timestamp,open,high,low,close,volume"
# four good 15m candles from 2024-01-01 00:00 UTC (1704067200000 ms)
R1 = "1704067200000,100,101,99,100.5,10"
R2 = "1704068100000,100.5,102,100,101,12"
R3 = "1704069000000,101,101.5,100.2,100.8,9"
R4 = "1704069900000,100.8,101,100,100.2,11"
T3 = "2024-01-01 00:30:00+00:00"

# name -> (file name, file text, message after "<path>: ")
BAD_INPUTS = {
    "unsorted": (
        "BTC.csv",
        [HEADER, R1, R3, R2, R4],
        "1 row has a timestamp earlier than the row before; first at row 3 (2024-01-01 00:15:00+00:00): "
        "row 2 is 2024-01-01 00:30:00+00:00 (sort the file by timestamp)",
    ),
    "duplicate": (
        "BTC.csv",
        [HEADER, R1, R2, R2, R3, R3],
        "2 rows have a timestamp already seen; first at row 3 (2024-01-01 00:15:00+00:00): same as row 2 "
        "(drop the repeated rows)",
    ),
    "nan_empty_field": (
        "BTC.csv",
        [HEADER, R1, R2, "1704069000000,101,101.5,100.2,,9", R4],
        f"1 row has a missing value; first at row 3 ({T3}): close is empty or NaN (fill or drop those rows in the source)",
    ),
    "nan_literal": (
        "BTC.csv",
        [HEADER, R1, R2, "1704069000000,101,101.5,100.2,100.8,NaN", R4],
        f"1 row has a missing value; first at row 3 ({T3}): volume is empty or NaN (fill or drop those rows in the source)",
    ),
    "high_below_low": (
        "BTC.csv",
        [HEADER, R1, R2, "1704069000000,101,99,100.2,100.8,9", R4],
        f"1 row has high < low; first at row 3 ({T3}): high=99.0 < low=100.2",
    ),
    "high_below_open": (
        "BTC.csv",
        [HEADER, R1, R2, "1704069000000,101,100.9,100.2,100.8,9", R4],
        f"1 row has high < max(open, close); first at row 3 ({T3}): high=100.9 < open=101.0",
    ),
    "high_below_close_3_rows": (
        "BTC.csv",
        [
            HEADER,
            R1,
            "1704068100000,100.5,100.9,100,101,12",
            "1704069000000,101,100.7,100.2,100.8,9",
            "1704069900000,100.8,100.9,100,101,11",
        ],
        "3 rows have high < max(open, close); first at row 2 (2024-01-01 00:15:00+00:00): high=100.9 < close=101.0",
    ),
    "low_above_close": (
        "BTC.csv",
        [HEADER, R1, R2, "1704069000000,101,101.5,100.9,100.8,9", R4],
        f"1 row has low > min(open, close); first at row 3 ({T3}): low=100.9 > close=100.8",
    ),
    "negative_volume": (
        "BTC.csv",
        [HEADER, R1, R2, "1704069000000,101,101.5,100.2,100.8,-9", R4],
        f"1 row has volume < 0; first at row 3 ({T3}): volume=-9.0",
    ),
    "missing_column": (
        "BTC.csv",
        ["timestamp,open,high,low,close", "1704067200000,100,101,99,100.5"],
        f"missing column volume; the header must be {HEADER} (found: timestamp,open,high,low,close)",
    ),
    "missing_time_column": (
        "BTC.csv",
        ["open,high,low,close,volume", "100,101,99,100.5,10"],
        f"missing column timestamp; the header must be {HEADER} (found: open,high,low,close,volume)",
    ),
    "non_numeric": (
        "BTC.csv",
        [HEADER, R1, R2, "1704069000000,101,101.5,abc,100.8,9", R4],
        f"1 row has a non-numeric low; first at row 3 ({T3}): low='abc'",
    ),
    "empty_file": (
        "BTC.csv",
        [],
        f"no candles (the file is empty; expected a header {HEADER} and one row per candle)",
    ),
    "header_only": ("BTC.csv", [HEADER], "no candles (only a header; expected one row per candle)"),
    "seconds_not_ms": (
        "BTC.csv",
        [HEADER, R1, "1704068100,100.5,102,100,101,12"],
        "1 row has a timestamp that is not epoch milliseconds; first at row 2: timestamp=1704068100 "
        "(expected 13 digits like 1704067200000 for 2024-01-01; convert seconds or microseconds)",
    ),
    "bad_iso_time": (
        "BTC.csv",
        [HEADER, "2024-01-01T00:00:00Z,100,101,99,100.5,10", "2024-13-01,100.5,102,100,101,12"],
        "1 row has an unreadable timestamp; first at row 2: timestamp='2024-13-01' "
        "(use epoch milliseconds or ISO 8601 like 2024-01-01T00:00:00Z)",
    ),
    "off_grid": (
        "BTC_USDT-15m.csv",
        [HEADER, R1, "1704067620000,100.5,102,100,101,12", R3],
        "1 row has a timestamp off the 15m grid; first at row 2 (2024-01-01 00:07:00+00:00): 15m candles open at "
        "multiples of 15m since 1970-01-01 00:00 UTC (is the timeframe right?)",
    ),
    "unsupported_type": (
        "BTC.txt",
        [HEADER, R1],
        "unsupported file type; use one of .csv.gz, .json.gz, .csv, .parquet, .feather, .json",
    ),
}


def write_bad(folder, name: str) -> str:
    fname, lines, _ = BAD_INPUTS[name]
    path = folder / name / fname
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines))
    return str(path)


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_input_raises_one_exact_line(tmp_path, name):
    path = write_bad(tmp_path, name)
    with pytest.raises(DataError) as err:
        read_candles(path)
    msg = str(err.value)
    assert msg == f"{path}: {BAD_INPUTS[name][2]}"
    assert "\n" not in msg


def test_missing_file(tmp_path):
    path = tmp_path / "nope" / "BTC_USDT-15m.csv"
    with pytest.raises(DataError) as err:
        read_candles(path)
    assert str(err.value) == f"{path}: file not found"


def test_corrupt_gzip(tmp_path):
    path = tmp_path / "BTC.csv.gz"
    path.write_bytes(b"not gzip at all\n")
    with pytest.raises(DataError) as err:
        read_candles(path)
    assert str(err.value).startswith(f"{path}: cannot read it as .csv.gz: ")
    assert "\n" not in str(err.value)


def test_gzip_of_empty_text_is_empty_file(tmp_path):
    path = tmp_path / "BTC.csv.gz"
    path.write_bytes(gzip.compress(b""))
    with pytest.raises(DataError, match="no candles"):
        read_candles(path)


def test_data_error_is_a_user_error():
    assert issubclass(DataError, UserError)  # the CLI turns it into exit code 2 and one stderr line


def _frame(rows, start="2024-01-01", freq="15min"):
    idx = pd.date_range(start, periods=len(rows), freq=freq, tz="UTC", name="timestamp")
    return pd.DataFrame(rows, columns=["open", "high", "low", "close", "volume"], index=idx, dtype=float)


def test_check_candles_accepts_valid_and_returns_same_frame():
    df = _frame([[1, 2, 0.5, 1.5, 0], [1.5, 1.5, 1.5, 1.5, 3]])  # flat candle and zero volume are valid
    assert check_candles(df, "x", "15m") is df


def test_check_candles_empty_frame_and_missing_column():
    with pytest.raises(DataError, match=r"^mem: no candles"):
        check_candles(_frame([]), "mem")
    with pytest.raises(DataError, match=r"^mem: missing column volume;"):
        check_candles(_frame([[1, 2, 0.5, 1.5, 1]]).drop(columns="volume"), "mem")


def test_find_gaps_reports_runs_of_missing_candles():
    idx = pd.DatetimeIndex(
        ["2024-01-01 00:00", "2024-01-01 00:15", "2024-01-01 01:00", "2024-01-01 01:15", "2024-01-01 01:45"],
        tz="UTC",
    )
    df = pd.DataFrame(np.ones((5, 5)), index=idx, columns=["open", "high", "low", "close", "volume"])
    assert find_gaps(df, "15m") == [
        (pd.Timestamp("2024-01-01 00:30", tz="UTC"), 2),  # 00:30 and 00:45 missing
        (pd.Timestamp("2024-01-01 01:30", tz="UTC"), 1),
    ]
    assert find_gaps(df.iloc[:2], "15m") == []
    assert find_gaps(df.iloc[:1], "15m") == []


def test_report_of_a_small_frame_with_a_gap(walk):
    df = walk(8 * 24, start="2024-01-01")  # 2 days of 15m candles
    df = df.drop(df.index[10:14])  # 02:30 .. 03:15 missing
    df.loc[df.index[20], "volume"] = 0.0
    r = report(df, "15m", source="mem", symbol="X/Y")
    assert r.rows == 8 * 24 - 4
    assert r.gaps == ((pd.Timestamp("2024-01-01 02:30", tz="UTC"), 4),)
    assert (r.missing_bars, r.largest_gap) == (4, (pd.Timestamp("2024-01-01 02:30", tz="UTC"), 4))
    assert r.zero_volume == 1
    # 48 hours: hours 02:00 and 03:00 keep 2 of 4 candles each; every 4h and 1d period has candles
    assert r.bars == {"15m": 188, "1h": 48, "4h": 12, "1d": 2}
    assert r.incomplete == {"15m": 0, "1h": 2, "4h": 1, "1d": 1}
    d = r.to_dict()
    assert d["gaps"] == {
        "count": 1,
        "missing_bars": 4,
        "largest": {"start": "2024-01-01T02:30:00+00:00", "bars": 4},
        "all": [{"start": "2024-01-01T02:30:00+00:00", "bars": 4}],
    }
    text = r.format()
    assert "largest 4 bars from 2024-01-01 02:30 UTC" in text
    assert "2024-01-01 00:00 -> 2024-01-02 23:45 UTC" in text


def test_report_on_bundled_btc_15m(btc_15m):
    r = report(btc_15m)
    assert (r.timeframe, r.rows, r.symbol) == ("15m", 114782, "BTC/USDT")
    assert r.gaps == ((pd.Timestamp("2023-03-24 12:45", tz="UTC"), 5),)
    assert r.zero_volume == 5  # the 2023-03-24 halt left 5 flat zero-volume candles before the gap
    # 2023-01-01 00:00 .. 2026-04-10 16:30 (last open) is 1195 days + 16.5 h. Complete periods:
    #   1d: 1195 days; 4h: 1195*6 + 4 (00-04 .. 12-16) = 7174; 1h: 1195*24 + 16 = 28696 hours minus the
    #   hour 13:00 of 2023-03-24, which has no candle at all (the gap is 12:45 .. 13:45) = 28695.
    assert r.bars == {"15m": 114782, "1h": 28695, "4h": 7174, "1d": 1195}
    # the hour 12:00 keeps 3 candles; the 4h block 12:00-16:00 and the day keep the rest
    assert r.incomplete == {"15m": 0, "1h": 1, "4h": 1, "1d": 1}
