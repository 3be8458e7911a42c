"""`download` with the real ccxt Binance client over HTTP to the local emulator (no mocking of ccxt)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from emulators.binance import BinanceEmulator  # tests/ is on sys.path through tests/conftest.py

from traderagent.data import store
from traderagent.data.download import download, download_to_file, download_to_store
from traderagent.data.io import read_candles
from traderagent.errors import DataError, UserError

N_SERVED = 2501  # candles 0..2500 have opened by the emulator's clock; 2500 is still forming
MIN15 = 15 * 60_000


@pytest.fixture
def candles(walk) -> pd.DataFrame:
    df = walk(2600, seed=7, start="2024-01-01")
    df.index = df.index.as_unit("ns")
    return df


@pytest.fixture
def emu(candles):
    now = candles.index[N_SERVED - 1].value // 1_000_000 + 7 * 60_000  # 7 minutes into candle 2500
    with BinanceEmulator(now_ms=now) as e:
        e.add_candles("BTC/USDT", "15m", candles)
        yield e


@pytest.fixture
def ex(emu):
    client = emu.client()
    yield client
    client.close()


def get(ex, **kw) -> pd.DataFrame:
    kw.setdefault("since", "2024-01-01")
    return download("binance", "BTC/USDT", "15m", exchange=ex, progress=False, backoff=0.01, **kw)


def test_paging_reproduces_the_served_candles_and_drops_the_forming_one(emu, ex, candles):
    got = get(ex, limit=200)
    closed = candles.iloc[: N_SERVED - 1]
    pd.testing.assert_frame_equal(got, closed, check_exact=True, check_freq=False)
    # 2501 served candles in pages of 200: 12 full pages and a 13th of 101 ending with the forming candle
    assert emu.count("/api/v3/klines") == 13
    assert [int(q["startTime"]) for p, q in emu.requests if p == "/api/v3/klines"][:3] == [
        candles.index[0].value // 1_000_000 + k * 200 * MIN15 for k in range(3)
    ]
    # the forming candle really was served; download left it out
    served = ex.fetch_ohlcv("BTC/USDT", "15m", since=int(candles.index[2490].value // 1_000_000), limit=50)
    assert pd.Timestamp(served[-1][0], unit="ms", tz="UTC") == candles.index[N_SERVED - 1]
    assert got.index[-1] == candles.index[N_SERVED - 2]
    assert got.attrs == {"source": "binance BTC/USDT 15m", "symbol": "BTC/USDT", "timeframe": "15m"}


def test_gaps_in_the_exchange_data_are_kept_not_filled(emu, ex, candles):
    holes = candles.drop(candles.index[[10, 11, 12, 500, 1999, 2000]])
    emu.add_candles("BTC/USDT", "15m", holes)
    got = get(ex, limit=1000)
    pd.testing.assert_frame_equal(got, holes[holes.index < candles.index[N_SERVED - 1]], check_freq=False)


def test_since_and_until_bound_open_times(ex, candles):
    got = get(ex, since="2024-01-02 00:05", until="2024-01-03")  # since is not on the grid
    assert got.index[0] == pd.Timestamp("2024-01-02 00:15", tz="UTC")
    assert got.index[-1] == pd.Timestamp("2024-01-02 23:45", tz="UTC")  # until is exclusive
    pd.testing.assert_frame_equal(got, candles.loc["2024-01-02 00:15":"2024-01-02 23:45"], check_freq=False)


@pytest.mark.parametrize(
    "fault",
    [
        {"status": 503},  # gateway: ccxt raises ExchangeNotAvailable
        {"status": 429},  # rate limit: ccxt raises a DDoSProtection/RateLimitExceeded
        {"delay": 1.0},  # slower than the client's timeout: RequestTimeout
    ],
)
def test_transient_failures_are_retried(emu, ex, candles, fault):
    ex.timeout = 300  # ms
    if "status" in fault:
        emu.fail_next(fault["status"])
    else:
        emu.delay_next(fault["delay"])
    got = get(ex, limit=1000)
    pd.testing.assert_frame_equal(got, candles.iloc[: N_SERVED - 1], check_freq=False)
    assert emu.count("/api/v3/klines") == 3 + 1  # 3 pages plus the one retried request


def test_retries_are_bounded(emu, ex):
    emu.fail_next(503, times=10)
    with pytest.raises(UserError) as err:
        get(ex, retries=2)
    msg = str(err.value)
    assert msg.startswith("binance BTC/USDT 15m: no answer after 3 attempts (ExchangeNotAvailable: ")
    assert msg.endswith("; check the connection or try again later") and "\n" not in msg
    assert emu.count("/api/v3/klines") == 3


def test_bad_symbol_is_one_line(emu, ex):
    with pytest.raises(UserError) as err:
        download("binance", "FOO/USDT", "15m", since="2024-01-01", exchange=ex, progress=False)
    assert str(err.value) == "unknown symbol FOO/USDT on binance (symbols look like BTC/USDT)"
    assert emu.count("/api/v3/klines") == 0


def test_unsupported_timeframe_and_bad_dates(ex):
    with pytest.raises(UserError, match=r"^binance has no 7m candles; it offers .*\b15m\b"):
        download("binance", "BTC/USDT", "7m", since="2024-01-01", exchange=ex, progress=False)
    with pytest.raises(UserError, match=r"^since '2024-13-45' is not a date; use YYYY-MM-DD"):
        download("binance", "BTC/USDT", "15m", since="2024-13-45", exchange=ex, progress=False)
    with pytest.raises(UserError, match=r"^until \(2024-01-01\) must be after since \(2024-01-02\)$"):
        download(
            "binance", "BTC/USDT", "15m", since="2024-01-02", until="2024-01-01", exchange=ex, progress=False
        )


def test_unknown_exchange():
    with pytest.raises(UserError, match=r"^unknown exchange 'nosuchex'; use a ccxt exchange id"):
        download("nosuchex", "BTC/USDT", "15m", since="2024-01-01", progress=False)


def test_download_to_file(tmp_path, ex, candles):
    path = download_to_file(
        "binance", "BTC/USDT", "15m", "2024-01-01", "2024-01-05", tmp_path / "x.csv.gz", ex, False
    )
    pd.testing.assert_frame_equal(read_candles(path), candles.loc[:"2024-01-04 23:45"], check_freq=False)


def test_appending_to_the_store_merges_without_duplicates(tmp_path, emu, ex, candles):
    path1, first = download_to_store(
        "binance", "BTC/USDT", "15m", "2024-01-01", "2024-01-10", ex, False, tmp_path
    )
    assert path1 == tmp_path / "BTC_USDT-15m.parquet" and len(first) == 9 * 96
    path2, second = download_to_store("binance", "BTC/USDT", "15m", "2024-01-05", None, ex, False, tmp_path)
    assert path2 == path1 and second.index[0] == pd.Timestamp("2024-01-05", tz="UTC")  # 5 days overlap
    stored = store.load("BTC/USDT", "15m", root=tmp_path)
    pd.testing.assert_frame_equal(stored, candles.iloc[: N_SERVED - 1], check_freq=False)
    assert stored.index.is_unique

    # the exchange now serves a different close for a stored candle: refused, file untouched
    before = path1.read_bytes()
    changed = candles.copy()
    changed.iloc[100, changed.columns.get_loc("close")] += 1.0
    changed.iloc[100, changed.columns.get_loc("high")] += 1.0
    emu.add_candles("BTC/USDT", "15m", changed)
    with pytest.raises(DataError) as err:
        download_to_store("binance", "BTC/USDT", "15m", "2024-01-01", "2024-01-03", ex, False, tmp_path)
    old, new = candles.iloc[100], changed.iloc[100]
    assert str(err.value) == (
        f"{path1}: 1 of 192 overlapping candles disagree with the stored ones; first at {candles.index[100]}: "
        f"high stored={float(old['high'])!r} new={float(new['high'])!r} (stored file left unchanged; delete it to re-download "
        "from scratch)"
    )
    assert path1.read_bytes() == before


def test_store_append_keeps_an_existing_files_format(tmp_path, candles):
    csv = tmp_path / "BTC_USDT-15m.csv.gz"
    from traderagent.data.io import write_candles

    write_candles(candles.iloc[:100], csv)
    assert store.append(candles.iloc[50:300], "BTC/USDT", "15m", root=tmp_path) == csv
    assert sorted(p.name for p in tmp_path.iterdir()) == ["BTC_USDT-15m.csv.gz"]
    pd.testing.assert_frame_equal(read_candles(csv), candles.iloc[:300], check_freq=False)
    other = store.append(candles.iloc[:10], "BTC/USDT", "15m", exchange="kraken", root=tmp_path)
    assert other == tmp_path / "kraken" / "BTC_USDT-15m.parquet"
    with pytest.raises(DataError, match=r"^no ETH/USDT 1h candles in .* run `traderagent data download"):
        store.load("ETH/USDT", "1h", root=tmp_path)
    assert np.array_equal(
        store.load("BTC/USDT", "15m", "kraken", tmp_path).to_numpy(), candles.iloc[:10].to_numpy()
    )
