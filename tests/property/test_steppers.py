"""The kernel half of backtest = live parity: every registered strategy's stepper, driven bar by bar over a year of
the bundled data with only trailing windows (the candles `spec.windows()` asks for, higher timeframes aligned by
the one alignment function), gives the vectorized run's decisions and orders on every bar, bit for bit, and the
same ledger at the end. The fills between bars come from `core.stepper.fill_bar` (the one intrabar rule, as the
paper exchange applies it).
"""

from __future__ import annotations

import os
import time

import numpy as np
import pandas as pd
import pytest

from traderagent.backtest.engine import simulate_signals
from traderagent.backtest.runner import params_for, to_timeframe
from traderagent.core.costs import Costs
from traderagent.core.orders_nb import same_arrays
from traderagent.core.risk import day_numbers
from traderagent.core.stepper import OrderStepper, SignalStepper, fill_bar
from traderagent.data import timeframes
from traderagent.data.resample import align_indices, resample
from traderagent.strategies import registry

YEAR = ("2025-01-01", "2025-12-31")
#: Bars of the year each strategy is stepped through in CI (all of them; `STEPPER_BARS` trims it on demand).
LIMIT = int(os.environ.get("STEPPER_BARS", "0")) or None


class Windows:
    """Trailing windows per timeframe ending at base bar i: the base candles, and each higher timeframe's candles
    complete at bar i's close (resampled from the base candles and aligned by `align_indices`)."""

    def __init__(self, bars: pd.DataFrame, base_tf: str, sizes: dict[str, int]):
        self.bars, self.base_tf, self.sizes = bars, base_tf, sizes
        ns = bars.index.as_unit("ns").asi8
        self.htf = {}
        for tf in sizes:
            if tf == base_tf:
                continue
            h = resample(bars, base_tf, tf)
            self.htf[tf] = (h, align_indices(ns, base_tf, h.index.as_unit("ns").asi8, tf))

    def at(self, i: int) -> dict[str, pd.DataFrame]:
        out = {self.base_tf: self.bars.iloc[max(0, i + 1 - self.sizes[self.base_tf]): i + 1]}
        for tf, (h, idx) in self.htf.items():
            k = int(idx[i])
            out[tf] = h.iloc[max(0, k + 1 - self.sizes[tf]): k + 1]
        return out


def _setup(name: str, btc_15m: pd.DataFrame):
    spec = registry.get(name)
    cfg, params = params_for(spec)
    tf = spec.base_timeframe(params)
    bars = to_timeframe(btc_15m, "15m", tf)
    bars = bars[bars.index < pd.Timestamp(YEAR[1], tz="UTC") + pd.Timedelta(days=1)]
    first = int(bars.index.searchsorted(pd.Timestamp(YEAR[0], tz="UTC")))
    end = len(bars) if LIMIT is None else min(len(bars), first + LIMIT)
    return spec, cfg, params, tf, bars.iloc[:end], first


@pytest.mark.slow
@pytest.mark.parametrize("name", ["trend_follower", "smc"])
def test_signal_stepper_decides_and_fills_like_the_vectorized_run(name, btc_15m):
    spec, cfg, params, tf, bars, first = _setup(name, btc_15m)
    costs = Costs(cfg.backtest.fees, cfg.backtest.slippage)
    from traderagent.data.resample import bars_by_timeframe

    full = spec.signals(bars_by_timeframe(bars, tf, spec.timeframes(params)), params)
    sig = tuple(np.ascontiguousarray(a[first:]) for a in full)
    o, h, lo, c = (bars[k].to_numpy(np.float64)[first:] for k in ("open", "high", "low", "close"))
    run = simulate_signals(o, h, lo, c, sig, day_numbers(bars.index[first:]), costs, 10_000.0, risk=cfg.risk)

    st = SignalStepper(spec, params, costs, cfg.risk, 10_000.0)
    win = Windows(bars, tf, st.windows())
    t0 = time.perf_counter()
    n = len(bars) - first
    for j in range(n):
        i = first + j
        st.begin_bar(bars.index[i])
        fill_bar(st, o[j], h[j], lo[j], costs.slippage)
        st.end_bar(win.at(i))
        want = tuple(a[j] for a in sig)
        got = st.last_decision
        assert np.array_equal(np.array(got, float), np.array(want, float), equal_nan=True), (name, bars.index[i])
        assert st.cash() == run["cash"][j] and st.position() == run["position"][j], (name, bars.index[i])
    fills, fsb = st.ledger()
    assert same_arrays(fills, run["fills"]) and np.array_equal(fsb, run["fill_signal_bar"])
    assert st.state == run["state"]
    print(f"{name}: {n} bars stepped, {len(fills)} fills, mismatches 0, {time.perf_counter() - t0:.1f} s")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["grid", "dca", "hybrid"])
def test_order_stepper_gives_the_vectorized_orders_on_every_bar(name, btc_15m):
    spec, cfg, params, tf, bars, first = _setup(name, btc_15m)
    costs = Costs(cfg.backtest.fees, cfg.backtest.slippage)
    st = OrderStepper(spec, params, costs, cfg.risk, 10_000.0)
    st.bar = first  # number bars as the vectorized run does (its bar indices count the warm-up bars too)
    m = st.machine
    p = st.params
    # the vectorized run: features on all bars up to the end, the kernel one bar at a time from `first`
    feats = m.features(bars, p)
    days = day_numbers(bars.index)
    vec = m.new_state(p, 10_000.0)
    vfills, nvf, out = None, 0, np.full((len(bars), len(m.output_names)), np.nan)
    win = Windows(bars, tf, st.windows())
    o, h, lo = (bars[k].to_numpy(np.float64) for k in ("open", "high", "low"))
    t0 = time.perf_counter()
    for i in range(first, len(bars)):
        vfills, nvf, _ = m.simulate(feats, p, costs, vec, i, i + 1, vfills, nvf, out, risk=cfg.risk, days=days,
                                    compact=False)
        st.begin_bar(bars.index[i])
        fill_bar(st, o[i], h[i], lo[i], costs.slippage)
        st.end_bar(win.at(i))
        assert same_arrays(st.orders(), vec.guard.orders()), (name, bars.index[i])
    fills, _ = st.ledger()
    assert same_arrays(fills, vfills[:nvf])
    if name == "hybrid":  # the regime's lifetime switch counter counts only the candles the stepper's window held
        assert st.state.regime["switches"][0] < vec.regime["switches"][0]
        st.state.regime["switches"] = vec.regime["switches"]
    diff = [k for k, (a, b) in enumerate(zip(st.state.arrays(), vec.arrays(), strict=True)) if not same_arrays(a, b)]
    assert not diff, [(st.state.arrays()[k].tolist(), vec.arrays()[k].tolist()) for k in diff]
    print(f"{name}: {len(bars) - first} bars stepped, {len(fills)} fills, mismatches 0, "
          f"{time.perf_counter() - t0:.1f} s")


def test_windows_are_what_the_strategies_ask_for():
    spec = registry.get("smc")
    _, p = params_for(spec)
    w = spec.windows(p)
    assert set(w) == set(spec.timeframes(p)) and all(v > 0 for v in w.values())
    tf = registry.get("trend_follower")
    _, tp = params_for(tf)
    assert tf.windows(tp) == {"1h": tf.warmup_bars(tp)}
    hy = registry.get("hybrid")
    _, hp = params_for(hy)
    hw = hy.windows(hp)
    assert hw["15m"] < hy.warmup_bars(hp) and set(hw) == {"15m", "1h"}  # each timeframe counts its own candles
    assert timeframes.normalize("H1") == "1h"
