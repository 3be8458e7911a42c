"""Time the grid and DCA kernels and their end-to-end backtests (run on demand).

    .venv/bin/python bench/bench_orders.py [--repeat 5] [--bars 10000000]

Prints:
  - kernel alone: bars/s of `simulate_grid_nb` / `simulate_dca_nb` (intrabar fills + step + per-bar outputs;
    indicators precomputed), best of N, on the bundled BTC/USDT 15m candles and on a long random walk
    (mechanics only) of `--bars` bars, for the low/medium/high grid presets and the DCA defaults;
  - end to end, warm (numba cached, vectorbt imported): `backtest.orders.run_order` on the last year of the
    bundled BTC and ETH 15m candles (indicators, simulation, vectorbt booking, every integrity gate, stats).
Numba compilation and the vectorbt import are excluded (one warm-up call each).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import pandas as pd

from traderagent.backtest.orders import run_order
from traderagent.core.costs import Costs
from traderagent.data.io import read_candles
from traderagent.data.sample import ensure_sample, sample_path
from traderagent.strategies import dca, grid

YEAR_15M = 365 * 96


def best_s(fn: Callable[[], object], repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def walk(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 30_000.0 * np.exp(np.cumsum(rng.normal(0, 0.003, n)))
    open_ = np.r_[30_000.0, close[:-1]]
    wick = np.abs(rng.normal(0, 0.002, (2, n))) * close
    idx = pd.date_range("2000-01-01", periods=n, freq="15min", tz="UTC")
    return pd.DataFrame({"open": open_, "high": np.maximum(open_, close) + wick[0],
                         "low": np.minimum(open_, close) - wick[1], "close": close, "volume": 1.0}, index=idx)


def kernel_rate(module, params, bars: pd.DataFrame, repeat: int) -> tuple[float, int]:
    feats = module.features(bars, params)
    costs = Costs()
    state_cls = module.GridState if module is grid else module.DcaState
    n_out = len(feats[3])
    out = np.empty((n_out, len(module.gnb.OUTPUT_NAMES) if module is grid else len(module.dnb.OUTPUT_NAMES)))
    result = {}

    def once() -> None:
        st = state_cls.new(params, 10_000.0)
        result["nf"] = module.simulate(feats, params, costs, st, out=out)[1]

    s = best_s(once, repeat)
    return n_out / s, result["nf"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--bars", type=int, default=10_000_000)
    args = ap.parse_args()
    ensure_sample(download=False, log=lambda *_: None)
    real = {s: read_candles(sample_path(f"{s}_USDT-15m.csv.gz")) for s in ("BTC", "ETH")}
    long = walk(args.bars)
    print(f"kernel alone (bars/s, best of {args.repeat}; fills in the run)")
    cases = [(f"grid {p}", grid, grid.grid_params(preset=p)) for p in ("low", "medium", "high")]
    cases.append(("dca defaults", dca, dca.dca_params()))
    for name, module, params in cases:
        for label, bars in (("BTC 15m", real["BTC"]), (f"walk {len(long):,}", long)):
            rate, nf = kernel_rate(module, params, bars, args.repeat)
            print(f"  {name:14s} {label:16s} {rate / 1e6:8.1f} M bars/s   {nf:>9,} fills")
    import vectorbt  # noqa: F401 - warm: the import is not part of a backtest's time

    print(f"end to end, one year of 15m (s, best of {args.repeat})")
    for sym, bars in real.items():
        year = bars.iloc[-YEAR_15M:]
        for name, fn in (("grid", lambda b=year: run_order(grid.SPEC, b, grid.grid_params(), "15m")),
                         ("dca", lambda b=year: run_order(dca.SPEC, b, dca.dca_params(), "15m"))):
            s = best_s(fn, args.repeat)
            r = fn()
            print(f"  {name:5s} {sym}: {s:.3f} s  ({len(year):,} bars, {len(r.fills):,} fills, "
                  f"integrity {'ok' if r.integrity['ok'] else 'FAILED'}; "
                  + ", ".join(f"{k} {v:.3f}" for k, v in r.timings.items() if k != "vectorbt_import") + ")")


if __name__ == "__main__":
    main()
