"""Shared fixtures: the bundled sample candles (never skipped under CI=true) and random walks for mechanics."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from traderagent.data.sample import ensure_sample, sample_path

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _sample(name: str) -> pd.DataFrame:
    try:
        ensure_sample(download=False, log=lambda *_: None)
    except Exception as exc:  # a missing sample fails CI, and only skips on a developer's machine
        if IN_CI:
            pytest.fail(f"bundled sample missing under CI: {exc}")
        pytest.skip(f"bundled sample not available: {exc}")
    from traderagent.data.io import read_candles

    return read_candles(sample_path(name))


@pytest.fixture(scope="session")
def btc_15m() -> pd.DataFrame:
    return _sample("BTC_USDT-15m.csv.gz")


@pytest.fixture(scope="session")
def eth_15m() -> pd.DataFrame:
    return _sample("ETH_USDT-15m.csv.gz")


@pytest.fixture(scope="session")
def btc_1m() -> pd.DataFrame:
    return _sample("BTC_USDT-1m.csv.gz")


def random_walk(n: int, seed: int = 0, start: str = "2024-01-01", freq: str = "15min", vol: float = 0.004):
    """Random-walk OHLCV candles for mechanics tests only (never for claims about strategies)."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0, vol, n)))
    open_ = np.r_[100.0, close[:-1]]
    spread = np.abs(rng.normal(0, vol, n)) * close
    high = np.maximum(open_, close) + spread
    low = np.minimum(open_, close) - spread
    volume = rng.lognormal(3, 0.5, n)
    idx = pd.date_range(start, periods=n, freq=freq, tz="UTC", name="timestamp")
    return pd.DataFrame({"open": open_, "high": high, "low": low, "close": close, "volume": volume}, index=idx)


@pytest.fixture
def walk():
    return random_walk
