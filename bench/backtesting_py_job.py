"""The demo job written for backtesting.py (kernc/backtesting.py), run as its own fresh process by
bench/bench_vs_backtesting.py: Trend-Follower EMA 12/26 with an ATR(14) stop at 2 ATR and a target at 3 ATR,
long only, on BTC/USDT 1h candles resampled from the bundled 15m file, fees and slippage on.

    .venv/bin/python bench/backtesting_py_job.py [CANDLES.csv.gz] [--fees 0.001] [--slippage 0.0002]

The rules are TraderAgent's (traderagent/strategies/trend_follower.py, docs/engine.md): decide at bar t's
close, fill at bar t+1's open; EMAs seeded by the SMA of their first n values and Wilder's ATR (TA-Lib's
definitions); an entry risks 2% of equity at the stop, capped by the cash; the stop and target rest from
the entry bar on. Two documented differences in backtesting.py's broker: slippage is its `spread`, charged
on the entry only (TraderAgent charges it on every fill), and an entry whose next open already gaps through
its stop is taken and stopped out at once (TraderAgent skips it). Sizes are whole satoshis
(`FractionalBacktest`). Prints one line of JSON: trades, final equity, wall seconds inside the process.
"""

from __future__ import annotations

import argparse
import json
import time

T0 = time.perf_counter()

import numpy as np  # noqa: E402 - the process's own start-up is part of what the benchmark times
import pandas as pd  # noqa: E402
from backtesting import Strategy  # noqa: E402
from backtesting.lib import FractionalBacktest  # noqa: E402

FAST, SLOW, ATR_N, STOP_ATR, TARGET_ATR, RISK = 12, 26, 14, 2.0, 3.0, 0.02


def ema(x: np.ndarray, n: int) -> np.ndarray:
    """EMA with k = 2/(n+1), seeded by the SMA of the first n values (TA-Lib's EMA)."""
    out = np.full(len(x), np.nan)
    if len(x) < n:
        return out
    k = 2.0 / (n + 1)
    out[n - 1] = x[:n].mean()
    for i in range(n, len(x)):
        out[i] = out[i - 1] + k * (x[i] - out[i - 1])
    return out


def atr(high: np.ndarray, low: np.ndarray, close: np.ndarray, n: int) -> np.ndarray:
    """Wilder's ATR seeded by the mean of the first n true ranges (TA-Lib's ATR)."""
    tr = np.maximum(high[1:] - low[1:], np.maximum(np.abs(close[:-1] - high[1:]), np.abs(close[:-1] - low[1:])))
    out = np.full(len(close), np.nan)
    if len(tr) < n:
        return out
    out[n] = tr[:n].mean()
    for i in range(n + 1, len(close)):
        out[i] = (out[i - 1] * (n - 1) + tr[i - 1]) / n
    return out


class TrendFollower(Strategy):
    fees = 0.001
    slippage = 0.0002

    def init(self) -> None:
        close = np.asarray(self.data.Close, dtype=float)
        self.fast = self.I(ema, close, FAST)
        self.slow = self.I(ema, close, SLOW)
        self.atr = self.I(atr, np.asarray(self.data.High, float), np.asarray(self.data.Low, float), close, ATR_N)

    def next(self) -> None:
        f0, f1, s0, s1, a = self.fast[-2], self.fast[-1], self.slow[-2], self.slow[-1], self.atr[-1]
        if np.isnan(f0) or np.isnan(s0):
            return
        up, down = f1 > s1 and f0 <= s0, f1 < s1 and f0 >= s0
        if down and self.position.is_long:
            self.position.close()
        elif up and not self.position and not np.isnan(a):
            close = self.data.Close[-1]
            stop, target = close - STOP_ATR * a, close + TARGET_ATR * a
            price = close * (1 + self.slippage)  # the fill is at the next open; the close is the estimate
            loss = price * (1 + self.fees) - stop * (1 - self.slippage) * (1 - self.fees)
            # a fraction of the equity, which the broker turns into whole units at the fill price (capped by the
            # cash, as TraderAgent's engine caps it), so a gap up at the open cannot overdraw the account
            fraction = min(RISK / loss * price, 0.999999)
            self.buy(size=fraction, sl=stop, tp=target)


def hourly(path: str) -> pd.DataFrame:
    """The 15m candle file resampled to complete 1h candles, in backtesting.py's column names."""
    raw = pd.read_csv(path)
    raw.index = pd.to_datetime(raw.pop("timestamp"), unit="ms", utc=True)
    agg = raw.resample("1h", label="left", closed="left").agg(
        {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"})
    count = raw["close"].resample("1h", label="left", closed="left").count()
    agg = agg[count > 0].dropna()
    agg = agg.iloc[:-1] if count.iloc[-1] < 4 else agg  # drop the unfinished last hour, as TraderAgent does
    agg.columns = ["Open", "High", "Low", "Close", "Volume"]
    return agg


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("candles", nargs="?", default="data/BTC_USDT-15m.csv.gz")
    ap.add_argument("--fees", type=float, default=0.001)
    ap.add_argument("--slippage", type=float, default=0.0002)
    args = ap.parse_args()
    data = hourly(args.candles)
    unit = 1e-8
    bt = FractionalBacktest(data, TrendFollower, cash=10_000.0, commission=args.fees, spread=args.slippage,
                            exclusive_orders=False, finalize_trades=True, fractional_unit=unit)
    stats = bt.run(fees=args.fees, slippage=args.slippage)
    print(json.dumps({"trades": int(stats["# Trades"]), "final_equity": float(stats["Equity Final [$]"]),
                      "bars": len(data), "wall_in_process": time.perf_counter() - T0}))


if __name__ == "__main__":
    main()
