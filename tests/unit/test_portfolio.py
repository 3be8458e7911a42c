"""Portfolio accounting: the plan (allocation, skips, max concurrent), marking sleeves on one clock, the gates."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from traderagent.backtest import portfolio as pf
from traderagent.config import load_config, parse_config
from traderagent.core.records import FILL_DTYPE


def _cfg(alloc: dict, enabled: dict, max_concurrent: int = 4, equity: float = 10_000.0):
    return parse_config({
        "strategies": {name: {"enabled": True, "pairs": list(pairs)} for name, pairs in enabled.items()},
        "orchestrator": {"max_concurrent_strategies": max_concurrent, "capital_allocation": alloc},
        "backtest": {"initial_equity": equity},
    })


# ----------------------------------------------------------------------------------------------- plan
def test_plan_of_the_packaged_config_splits_each_allocation_across_pairs():
    plans, notes = pf.plan_sleeves(load_config(None), registered=["grid", "dca", "smc", "trend_follower"])
    got = {(p.strategy, p.symbol): (p.allocation, p.initial_equity) for p in plans}
    assert got == {
        ("grid", "BTC/USDT"): (0.15, 1500.0), ("grid", "ETH/USDT"): (0.15, 1500.0),
        ("dca", "BTC/USDT"): (0.125, 1250.0), ("dca", "ETH/USDT"): (0.125, 1250.0),
        ("smc", "BTC/USDT"): (0.125, 1250.0), ("smc", "ETH/USDT"): (0.125, 1250.0),
        ("trend_follower", "BTC/USDT"): (0.1, 1000.0), ("trend_follower", "ETH/USDT"): (0.1, 1000.0),
    }
    assert notes == []


def test_unregistered_strategy_is_skipped_with_a_note():
    plans, notes = pf.plan_sleeves(load_config(None), registered=["grid", "dca", "trend_follower"])
    assert {p.strategy for p in plans} == {"grid", "dca", "trend_follower"}
    assert notes == ["smc: enabled in the config but not a registered strategy yet; skipped, its 25% allocation "
                     "stays in cash"]


def test_max_concurrent_keeps_the_largest_allocations_and_says_so():
    cfg = _cfg({"grid": "30%", "dca": "25%", "smc": "25%", "trend_follower": "20%"},
               {"grid": ["BTC/USDT"], "dca": ["BTC/USDT"], "smc": ["BTC/USDT"], "trend_follower": ["BTC/USDT"]},
               max_concurrent=2)
    plans, notes = pf.plan_sleeves(cfg, registered=["grid", "dca", "smc", "trend_follower"])
    assert [p.strategy for p in plans] == ["grid", "dca"]  # dca before smc at equal allocation: config order
    assert notes == [
        "smc: max_concurrent_strategies is 2; skipped (smaller allocation), its 25% allocation stays in cash",
        "trend_follower: max_concurrent_strategies is 2; skipped (smaller allocation), its 20% allocation stays in cash",
    ]


def test_enabled_without_allocation_and_allocation_without_enable_are_noted():
    cfg = _cfg({"grid": "50%", "dca": "10%"}, {"grid": ["BTC/USDT"], "trend_follower": ["BTC/USDT"]})
    plans, notes = pf.plan_sleeves(cfg, registered=["grid", "dca", "trend_follower"])
    assert [(p.strategy, p.initial_equity) for p in plans] == [("grid", 5000.0)]
    assert notes == ["trend_follower: enabled but orchestrator.capital_allocation gives it no capital; skipped",
                     "dca: has a 10% allocation but is not enabled; that capital stays in cash"]


# ------------------------------------------------------------------------------------- hand-built marks
def _hand_sleeve():
    """A 1h sleeve with 1000 of capital: buys 1 unit at 100 in its bar 0 (fee 0.5), sells it at 104 in bar 1."""
    index = pd.date_range("2024-01-01", periods=2, freq="1h", tz="UTC")
    fills = np.zeros(2, dtype=FILL_DTYPE)
    fills[0] = (0, 0, 1, 100.0, 1.0, 0.5, 0)
    fills[1] = (0, 1, -1, 104.0, 1.0, 0.5, 0)
    result = SimpleNamespace(index=index, cash=np.array([899.5, 1003.0]), position=np.array([1.0, 0.0]),
                             fills=fills, initial_equity=1000.0, final_equity=1003.0,
                             integrity={"ok": True, "checks": {"cash_exposure": {"ok": True, "detail": ""}},
                                        "flags": []},
                             trades=pd.DataFrame({"pnl": [3.0]}))
    plan = pf.SleevePlan("hand", "X/USDT", 0.5, 1000.0)
    return pf.Sleeve(plan, result, None, "1h")


def test_a_1h_sleeve_is_marked_on_the_15m_clock_by_its_completed_bars():
    s = _hand_sleeve()
    clock = pd.date_range("2024-01-01", periods=8, freq="15min", tz="UTC")
    price = np.array([100.0, 101, 102, 103, 104, 105, 106, 107])
    equity, cash, pos, row = pf.mark_on_clock(s.result, "1h", clock, "15m", price, 1000.0)
    # 00:00-00:30 close before the first hour does: the sleeve is still its starting cash
    # 00:45 closes with hour 0 (cash 899.5 + 1 unit); 01:45 closes with hour 1 (sold)
    assert row.tolist() == [-1, -1, -1, 0, 0, 0, 0, 1]
    assert equity.tolist() == [1000.0, 1000.0, 1000.0, 899.5 + 103, 899.5 + 104, 899.5 + 105, 899.5 + 106, 1003.0]
    s.equity, s.cash, s.position = equity, cash, pos
    total, reserve = 2000.0, 1000.0
    port = reserve + equity
    prices = {"X/USDT": price}
    gates = pf.portfolio_integrity([s], clock, "15m", prices, total, reserve, port, pf._concurrency([s]), 1)
    assert gates["ok"], gates
    assert gates["checks"]["sleeves_sum"]["detail"].startswith("2 fills of 1 sleeves replayed as one account")
    assert pf._concurrency([s]).tolist() == [0, 0, 0, 1, 1, 1, 1, 0]


def test_gates_fire_on_their_bugs():
    s = _hand_sleeve()
    clock = pd.date_range("2024-01-01", periods=8, freq="15min", tz="UTC")
    price = np.array([100.0, 101, 102, 103, 104, 105, 106, 107])
    s.equity, s.cash, s.position, _ = pf.mark_on_clock(s.result, "1h", clock, "15m", price, 1000.0)
    prices = {"X/USDT": price}

    def verdict(sleeves, port, cap=1, total=2000.0, reserve=1000.0):
        return pf.portfolio_integrity(sleeves, clock, "15m", prices, total, reserve, port, pf._concurrency(sleeves),
                                      cap)["checks"]

    # a portfolio that is not the sum of its sleeves (an equity credited twice at bar 5)
    bad = 1000.0 + s.equity
    bad[5] += 104.0
    c = verdict([s], bad)
    assert not c["sleeves_sum"]["ok"] and c["sleeves_sum"]["detail"].startswith("bar 5 (2024-01-01T01:15:00Z)")
    # a sleeve whose fills spend more than its own capital
    fills = s.result.fills.copy()
    fills["size"] = 20.0  # 20 units at 100 = 2000 > its 1000
    s2 = pf.Sleeve(s.plan, SimpleNamespace(**{**vars(s.result), "fills": fills}), None, "1h")
    s2.equity, s2.cash, s2.position = s.equity, s.cash, s.position
    c = verdict([s2], 1000.0 + s.equity)
    assert not c["own_capital"]["ok"] and c["own_capital"]["detail"].startswith("hand:X/USDT: cash -1000.5 < 0")
    # a sleeve that does not start with its allocation
    s3 = pf.Sleeve(pf.SleevePlan("hand", "X/USDT", 0.4, 1000.0), s.result, None, "1h")
    s3.equity, s3.cash, s3.position = s.equity, s.cash, s.position
    c = verdict([s3], 1000.0 + s.equity)
    assert not c["allocation"]["ok"] and c["allocation"]["detail"] == "hand:X/USDT: starts with 1000, its allocation is 800"
    # two strategies in the market with max concurrent 1
    other = pf.Sleeve(pf.SleevePlan("other", "X/USDT", 0.5, 1000.0), s.result, None, "1h")
    other.equity, other.cash, other.position = s.equity, s.cash, s.position
    c = verdict([s, other], s.equity * 2, cap=1, reserve=0.0)
    assert not c["max_concurrent"]["ok"] and c["max_concurrent"]["detail"].startswith("bar 3 (2024-01-01T00:45:00Z): 2")
    assert verdict([s, other], s.equity * 2, cap=2, reserve=0.0)["max_concurrent"]["ok"]


# ------------------------------------------------------------------------------------------ real run
@pytest.fixture(scope="module")
def small_portfolio(btc_15m, eth_15m):
    cfg = _cfg({"grid": "40%", "trend_follower": "20%"},
               {"grid": ["BTC/USDT", "ETH/USDT"], "trend_follower": ["BTC/USDT"]})
    bases = {"BTC/USDT": btc_15m.loc["2024-09-01":"2024-12-31"], "ETH/USDT": eth_15m.loc["2024-09-01":"2024-12-31"]}
    return pf.run_portfolio(cfg, bases=bases, start="2024-11-01", end="2024-12-31")


def test_portfolio_on_bundled_candles_respects_allocation_and_sums(small_portfolio):
    p = small_portfolio
    assert [(s.name, s.plan.initial_equity, s.result.initial_equity) for s in p.sleeves] == [
        ("grid:BTC/USDT", 2000.0, 2000.0), ("grid:ETH/USDT", 2000.0, 2000.0),
        ("trend_follower:BTC/USDT", 2000.0, 2000.0)]
    assert p.reserve == 4000.0
    assert p.index[0] == pd.Timestamp("2024-11-01", tz="UTC") and p.index[-1] == pd.Timestamp("2024-12-31 23:45", tz="UTC")
    assert p.integrity["ok"], p.integrity
    np.testing.assert_allclose(p.equity, p.reserve + sum(s.equity for s in p.sleeves), rtol=0, atol=1e-9)
    # every sleeve's mark equals its own equity at the clock bar that closes with its bar
    tf = p.sleeves[2]
    assert tf.timeframe == "1h"
    at_close = p.index.minute == 45
    np.testing.assert_array_equal(tf.equity[at_close], tf.result.equity[: int(at_close.sum())])
    grid = p.sleeves[0]
    np.testing.assert_array_equal(grid.equity, grid.result.equity)  # same clock: identical
    assert p.equity[-1] == pytest.approx(4000.0 + sum(s.result.final_equity for s in p.sleeves), rel=1e-12)
    assert int(p.concurrency.max()) <= 2


def test_portfolio_json_correlation_and_regimes(small_portfolio):
    js = json.loads(json.dumps(small_portfolio.to_json_dict(), allow_nan=False))
    assert js["integrity"]["ok"] and set(js["integrity"]["checks"]) == set(pf.PORTFOLIO_GATES)
    corr = np.array(js["correlation"]["matrix"])
    assert js["correlation"]["sleeves"] == ["grid:BTC/USDT", "grid:ETH/USDT", "trend_follower:BTC/USDT"]
    np.testing.assert_allclose(np.diag(corr), 1.0)
    np.testing.assert_allclose(corr, corr.T)
    assert js["strategies"]["grid"]["initial_equity"] == 4000.0
    reg = js["regimes"]["BTC/USDT"]
    assert sum(reg["distribution"].values()) == pytest.approx(1.0)
    assert set(reg["per_regime"]) == {"buy_and_hold", "grid", "trend_follower"}
    bh = js["references"][0]
    assert bh["name"] == "buy_and_hold" and bh["symbol"] == "BTC/USDT"
    # per-regime returns compound back to the whole run's return
    rows = reg["per_regime"]["grid"]
    total = np.prod([1 + r["return"] for r in rows]) - 1
    assert total == pytest.approx(small_portfolio.sleeves[0].result.stats["total_return"], rel=1e-9)


def test_comparison_page(small_portfolio, tmp_path):
    from traderagent.report.compare import frame, render_comparison

    path = render_comparison(small_portfolio, tmp_path / "cmp.html")
    text = path.read_text()
    assert (tmp_path / "plotly.min.js").exists()
    for needle in ("grid:BTC/USDT", "trend_follower", "buy_and_hold", "all gates passed", "sleeves_sum",
                   "BTC/USDT: regimes", "Performance by regime", "Correlation of daily sleeve returns"):
        assert needle in text, needle
    table = frame(small_portfolio)
    port = table[table["strategy"] == "portfolio"].iloc[0]
    assert port["final"] == pytest.approx(float(small_portfolio.equity[-1]))
    assert port["allocation"] == pytest.approx(0.6)


# ------------------------------------------------------------------------------------------ adaptive
def test_adaptive_portfolio_takes_positions_only_in_routed_regimes(btc_15m):
    from traderagent.strategies import hybrid_nb as hnb
    from traderagent.strategies.regime import regime_on_base
    from traderagent.strategies.regime_nb import Regime
    from traderagent.strategies.selector import SelectorConfig

    cfg = _cfg({"grid": "50%", "trend_follower": "50%"}, {"grid": ["BTC/USDT"], "trend_follower": ["BTC/USDT"]})
    base = btc_15m.loc["2024-08-01":"2024-12-31"]
    p = pf.run_portfolio(cfg, bases={"BTC/USDT": base}, start="2024-10-01", end="2024-12-31",
                         selector=SelectorConfig())
    assert p.integrity["ok"], p.integrity
    grid, tf = p.sleeves
    # the grid sleeve is the hybrid kernel with only the grid: every buy was decided on a bar it was in charge
    out = grid.result.outputs
    buys = grid.result.fills[grid.result.fills["side"] == 1]
    assert len(buys) > 0
    assert (out["mode"].to_numpy()[buys["bar"] - 1] == hnb.GRID).all()
    assert set(np.unique(out["regime"].to_numpy()[out["mode"].to_numpy() == hnb.GRID])) == {Regime.sideways}
    # the trend follower entered only on bars whose regime (known at the decision close) was an uptrend
    from traderagent.backtest.runner import to_timeframe

    h1 = regime_on_base(to_timeframe(base, "15m", "1h"), "1h")
    hourly = tf.result.index
    decided = [hourly[hourly.get_loc(t) - 1] for t in tf.result.trades["entry_time"]]
    assert len(decided) > 0 and all(h1.loc[d] == Regime.uptrend for d in decided)
    js = p.to_json_dict()
    assert js["selector"]["routes"]["sideways"] == "grid" and js["notes"] == []
