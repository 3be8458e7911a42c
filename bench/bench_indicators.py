"""Time the indicator kernels against TA-Lib on the bundled BTC/USDT 15m candles (run on demand).

    .venv/bin/python bench/bench_indicators.py [--repeat 30]

Prints, per indicator: the best-of-N wall time of our numba kernel and of the reference on the same arrays
in the same run, the ratio (ours / reference; below 1 is faster), and the largest relative difference
between the two outputs. Numba compilation is excluded (one warm-up call each).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import pandas as pd
import talib

from traderagent.data.io import read_candles
from traderagent.data.sample import ensure_sample, sample_path
from traderagent.indicators import nb


def best_ms(fn: Callable[[], object], repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times) * 1e3


def max_rel_diff(ours: object, ref: object) -> float:
    ours_t = ours if isinstance(ours, tuple) else (ours,)
    ref_t = ref if isinstance(ref, tuple) else (ref,)
    worst = 0.0
    for o, r in zip(ours_t, ref_t, strict=True):
        o, r = np.asarray(o, dtype=np.float64), np.asarray(r, dtype=np.float64)
        if not np.array_equal(np.isnan(o), np.isnan(r)):
            return float("inf")
        mask = ~np.isnan(r) & (r != 0)
        if np.any(o[~np.isnan(r) & (r == 0)] != 0):
            return float("inf")
        if mask.any():
            worst = max(worst, float(np.max(np.abs(o[mask] - r[mask]) / np.abs(r[mask]))))
    return worst


def cases(df: pd.DataFrame) -> list[tuple[str, Callable[[], object], Callable[[], object], str]]:
    h, lo, c, v = (df[k].to_numpy(np.float64) for k in ("high", "low", "close", "volume"))
    bw = nb.bandwidth_1d_nb(c, 20, 2.0)

    def talib_bandwidth() -> np.ndarray:
        upper, mid, lower = talib.BBANDS(c, 20, 2.0, 2.0, 0)
        return (upper - lower) / mid

    return [
        ("SMA(20)", lambda: nb.sma_1d_nb(c, 20), lambda: talib.SMA(c, 20), "talib.SMA"),
        ("EMA(20)", lambda: nb.ema_1d_nb(c, 20), lambda: talib.EMA(c, 20), "talib.EMA"),
        ("EMA(200)", lambda: nb.ema_1d_nb(c, 200), lambda: talib.EMA(c, 200), "talib.EMA"),
        ("true range", lambda: nb.true_range_1d_nb(h, lo, c), lambda: talib.TRANGE(h, lo, c), "talib.TRANGE"),
        ("ATR(14)", lambda: nb.atr_1d_nb(h, lo, c, 14), lambda: talib.ATR(h, lo, c, 14), "talib.ATR"),
        ("RSI(14)", lambda: nb.rsi_1d_nb(c, 14), lambda: talib.RSI(c, 14), "talib.RSI"),
        (
            "ADX,+DI,-DI(14)",
            lambda: nb.adx_1d_nb(h, lo, c, 14),
            lambda: (talib.ADX(h, lo, c, 14), talib.PLUS_DI(h, lo, c, 14), talib.MINUS_DI(h, lo, c, 14)),
            "talib.ADX+PLUS_DI+MINUS_DI",
        ),
        (
            "BBANDS(20,2)",
            lambda: nb.bbands_1d_nb(c, 20, 2.0),
            lambda: talib.BBANDS(c, 20, 2.0, 2.0, 0),
            "talib.BBANDS",
        ),
        (
            "BBANDS(200,2)",
            lambda: nb.bbands_1d_nb(c, 200, 2.0),
            lambda: talib.BBANDS(c, 200, 2.0, 2.0, 0),
            "talib.BBANDS",
        ),
        (
            "bandwidth(20,2)",
            lambda: nb.bandwidth_1d_nb(c, 20, 2.0),
            talib_bandwidth,
            "talib.BBANDS + formula",
        ),
        ("volume mean(20)", lambda: nb.sma_1d_nb(v, 20), lambda: talib.SMA(v, 20), "talib.SMA"),
        (
            "volume ratio(20)",
            lambda: nb.volume_ratio_1d_nb(v, 20),
            lambda: v / talib.SMA(v, 20),
            "v / talib.SMA",
        ),
        (
            "pct rank(100) of bandwidth",
            lambda: nb.rolling_percentile_rank_1d_nb(bw, 100),
            lambda: pd.Series(bw).rolling(100).rank(method="max", pct=True).to_numpy(),
            "pandas rolling rank",  # talib.PERCENTRANK counts earlier values strictly below: other definition
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30, help="timed runs per function (best is kept)")
    args = parser.parse_args()
    ensure_sample(download=False, log=lambda *_: None)
    df = read_candles(sample_path("BTC_USDT-15m.csv.gz"))
    print(f"BTC/USDT 15m, {len(df)} bars, best of {args.repeat}; ratio = ours / reference\n")
    header = f"{'indicator':<28}{'ours ms':>9}{'ref ms':>9}{'ratio':>7}  {'max rel diff':>12}  reference"
    print(header)
    print("-" * len(header))
    for name, ours, ref, ref_name in cases(df):
        t_ours, t_ref = best_ms(ours, args.repeat), best_ms(ref, args.repeat)
        diff = max_rel_diff(ours(), ref())
        print(f"{name:<28}{t_ours:>9.3f}{t_ref:>9.3f}{t_ours / t_ref:>7.2f}  {diff:>12.1e}  {ref_name}")


if __name__ == "__main__":
    main()
