"""The causality harness on every registered strategy, and proof that it catches lookahead."""

from __future__ import annotations

import numpy as np
import pytest

from traderagent.backtest.runner import params_for, to_timeframe
from traderagent.core.signals import Signals
from traderagent.data.io import infer_timeframe
from traderagent.strategies import registry
from traderagent.strategies.check import check_causality
from traderagent.strategies.registry import StrategySpec


@pytest.mark.parametrize("name", registry.names())
@pytest.mark.parametrize("market", ["btc_15m", "eth_15m"])
def test_registered_strategy_is_causal(name, market, request):
    base = request.getfixturevalue(market)
    spec = registry.get(name)
    _, params = params_for(spec)
    bars = to_timeframe(base, infer_timeframe(base), spec.base_timeframe(params))
    report = check_causality(spec, bars, params, points=50, seed=7)
    assert report.prefix_points == 50
    assert report.window_points == 50, "the sample is long enough for every window replay"
    assert report.rewritten == 0, report.first


def _leaky_spec(shift: int) -> StrategySpec:
    """A strategy that peeks `shift` bars ahead (shift=0 is honest): the harness must tell them apart."""

    def signals(bbt, params):
        close = bbt["1h"]["close"].to_numpy()
        s = Signals.empty(len(close))
        future = np.r_[close[shift:], np.full(shift, np.nan)] if shift else close
        s.stop[:] = future * 0.98
        return s

    return StrategySpec(name="leaky", kind="signal", params_model=dict, base_timeframe=lambda p: "1h",
                        timeframes=lambda p: ("1h",), warmup_bars=lambda p: 10, signals=signals)


def test_harness_catches_lookahead_and_names_it(walk):
    bars = walk(500, seed=3, freq="1h")
    honest = check_causality(_leaky_spec(0), bars, None, points=50)
    assert honest.rewritten == 0 and honest.ok
    leaky = check_causality(_leaky_spec(1), bars, None, points=50)
    assert leaky.rewritten_prefix == 50  # every replayed bar rewrites its stop reading
    assert not leaky.ok
    assert leaky.first.output == "stop" and leaky.first.replay == "prefix"
    assert np.isnan(leaky.first.replayed) and leaky.first.full == pytest.approx(bars["close"].iloc[leaky.first.bar + 1] * 0.98)


def test_harness_catches_insufficient_window(walk):
    """A cumulative output (depends on all history) fails window sufficiency with a short warmup."""
    bars = walk(600, seed=4, freq="1h")

    def signals(bbt, params):
        s = Signals.empty(len(bbt["1h"]))
        s.stop[:] = np.cumsum(bbt["1h"]["close"].to_numpy())
        return s

    spec = StrategySpec(name="cumulative", kind="signal", params_model=dict, base_timeframe=lambda p: "1h",
                        timeframes=lambda p: ("1h",), warmup_bars=lambda p: 20, signals=signals)
    report = check_causality(spec, bars, None, points=30)
    assert report.rewritten_prefix == 0
    assert report.rewritten_window == 30 and report.first.replay == "window"
