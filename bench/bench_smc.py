"""Time every SMC primitive on the bundled BTC/USDT 15m candles and their 1h/4h/1d resamples (on demand).

    .venv/bin/python bench/bench_smc.py [--repeat 20] [--budget-ms 200]

Prints the best-of-N warm wall time (numba compilation excluded by a warm-up call) of
  - kernels: `smc.compute_arrays` (all primitives: swings, BOS/CHoCH, order blocks, FVGs, liquidity,
    premium/discount, per-bar state and raw events) on each timeframe, and their sum;
  - frames: the pandas views `smc.state` + `smc.events` on each timeframe, and their sum.
Exits 1 if the kernels' sum exceeds the budget (the issue's target: 200 ms for all four timeframes).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from traderagent.data.io import read_candles
from traderagent.data.resample import bars_by_timeframe
from traderagent.data.sample import ensure_sample, sample_path
from traderagent.indicators import smc

sys.path.insert(0, str(Path(__file__).resolve().parent))
from targets import verdict  # noqa: E402 - bench/ is not a package


def best_ms(fn: Callable[[], object], repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times) * 1e3


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--budget-ms", type=float, default=200.0)
    args = ap.parse_args(argv)
    ensure_sample(download=False, log=lambda *_: None)
    base = read_candles(sample_path("BTC_USDT-15m.csv.gz"))
    frames = bars_by_timeframe(base, "15m", ["1h", "4h", "1d"])
    settings = smc.SMCSettings()
    print(f"SMC primitives, settings {settings}")
    print(f"{'timeframe':>9} {'bars':>8} {'kernels ms':>11} {'frames ms':>10} {'events':>8}")
    total_k = total_f = 0.0
    total_bars = 0
    for tf, df in frames.items():
        arrays = tuple(df[k].to_numpy(np.float64) for k in ("open", "high", "low", "close"))
        k_ms = best_ms(lambda a=arrays: smc.compute_arrays(*a, settings), args.repeat)
        f_ms = best_ms(lambda d=df: (smc.state(d, settings), smc.events(d, settings)), max(3, args.repeat // 4))
        n_events = len(smc.events(df, settings))
        print(f"{tf:>9} {len(df):>8} {k_ms:>11.1f} {f_ms:>10.1f} {n_events:>8}")
        total_k += k_ms
        total_f += f_ms
        total_bars += len(df)
    print(f"{'all':>9} {total_bars:>8} {total_k:>11.1f} {total_f:>10.1f}")
    ok, line = verdict("SMC primitives, all timeframes, warm", total_k, args.budget_ms, unit=" ms")
    print(line)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
