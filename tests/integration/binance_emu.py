"""Helpers for the Binance emulator tests: a hand-written candle table, the emulator fixture, ccxt runners.

A test module makes its fixture with `yield from emulator()` (tests/ is on sys.path through tests/conftest.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pandas as pd
from emulators.binance_spot import BinanceSpotEmulator

M15 = 900_000
# 15m candles from 2024-01-01 00:00 UTC, written for exact fill prices (bar 3 gaps down at its open)
ROWS = [  # open, high, low, close
    (40000, 40400, 39800, 40200),
    (40200, 40600, 39600, 40100),
    (40100, 40300, 39000, 39200),
    (38800, 39500, 38500, 39400),
    (39400, 41000, 39300, 40900),
    (40900, 41200, 40700, 41000),
    (41000, 41100, 40900, 41000),
    (41000, 41100, 40900, 41050),
]
START = pd.Timestamp("2024-01-01", tz="UTC")
T0 = START.value // 1_000_000


def table() -> pd.DataFrame:
    idx = pd.date_range(START, periods=len(ROWS), freq="15min", tz="UTC", name="timestamp")
    df = pd.DataFrame(ROWS, index=idx, columns=["open", "high", "low", "close"], dtype="float64")
    df["volume"] = 10.0
    return df


def bar(i: int) -> int:
    """Open time (ms) of table row i."""
    return T0 + i * M15


def emulator() -> Iterator[BinanceSpotEmulator]:
    """A running emulator at the table's first open, serving it as BTC/USDT 15m; 10,000 USDT and 1 BTC."""
    with BinanceSpotEmulator(T0, balances={"USDT": "10000", "BTC": "1"}) as e:
        e.add_candles("BTC/USDT", "15m", table())
        yield e


def run(emu: BinanceSpotEmulator, body: Callable[[Any], Awaitable[Any]], pro: bool = False, **config: Any) -> Any:
    """Run `body(client)` with a fresh ccxt client of the emulator (closed afterwards), bounded in time."""

    async def main() -> Any:
        ex = emu.pro_client(**config) if pro else emu.rest_client(**config)
        try:
            return await body(ex)
        finally:
            await ex.close()

    return asyncio.run(asyncio.wait_for(main(), 30))


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait (yielding to the loop) until predicate() holds."""
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.005)


async def started(coro: Awaitable[Any]) -> asyncio.Task:
    """A task for `coro` that has run up to its first wait (a ccxt watch has registered its future)."""
    task = asyncio.ensure_future(coro)
    for _ in range(3):
        await asyncio.sleep(0)
    return task
