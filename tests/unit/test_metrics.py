"""Metrics against vectorbt's own figures (pf.stats / returns accessor, freq = timeframe, year_freq = 365 days)
and against hand-computed fixtures."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pandas as pd
import pytest

from traderagent.backtest import run_signals
from traderagent.backtest.metrics import compute_stats, exposure, return_stats, trade_stats
from traderagent.core.signals import Signals

EQ = 10_000.0


def random_signals(n: int, seed: int, stops: bool) -> Signals:
    rng = np.random.default_rng(seed)
    s = Signals.empty(n)
    s.entry_long[:] = rng.random(n) < 0.03
    s.exit_long[:] = rng.random(n) < 0.03
    if stops:
        s.stop[:] = np.nan
        s.target[:] = np.nan
    return s


@pytest.fixture
def one_fill_per_bar_run(walk):
    """Long-only entries and exit signals, no stops: at most one fill per bar, the position open at the end."""
    bars = walk(3000, seed=11)
    s = random_signals(3000, seed=5, stops=False)
    s.entry_long[-40] = True  # make sure a trade is still open at the end
    s.exit_long[-40:] = False
    res = run_signals(bars, s, "15m")
    assert res.trades["exit_reason"].iloc[-1] == "end"
    assert len(res.portfolio.wrapper.index) == len(bars)  # booked bar for bar
    return res


def test_stats_match_vectorbt_pf_stats(one_fill_per_bar_run):
    res = one_fill_per_bar_run
    pf = res.portfolio
    vs = pf.stats(settings=dict(incl_open=True, year_freq="365 days"))
    st = res.stats
    assert st["trades"] == vs["Total Trades"] > 20
    assert res.final_equity == pytest.approx(vs["End Value"], rel=1e-12)
    assert st["total_return"] == pytest.approx(vs["Total Return [%]"] / 100, rel=1e-9)
    assert st["max_drawdown"] == pytest.approx(vs["Max Drawdown [%]"] / 100, rel=1e-9)
    assert pd.Timedelta(days=st["max_drawdown_duration_days"]) == vs["Max Drawdown Duration"]
    assert st["win_rate"] == pytest.approx(vs["Win Rate [%]"] / 100, rel=1e-12)
    assert st["profit_factor"] == pytest.approx(vs["Profit Factor"], rel=1e-9)
    assert st["expectancy"] == pytest.approx(vs["Expectancy"], rel=1e-9)
    assert st["sharpe"] == pytest.approx(vs["Sharpe Ratio"], rel=1e-9)
    assert st["sortino"] == pytest.approx(vs["Sortino Ratio"], rel=1e-9)
    assert st["calmar"] == pytest.approx(vs["Calmar Ratio"], rel=1e-9)
    assert st["cagr"] == pytest.approx(pf.annualized_return(year_freq="365 days"), rel=1e-9)


def test_trade_pnls_match_vectorbt_trades(one_fill_per_bar_run):
    res = one_fill_per_bar_run
    vt = res.portfolio.trades.records
    np.testing.assert_allclose(res.trades["pnl"].to_numpy(), vt["pnl"], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(res.trades["size"].to_numpy(), vt["size"], rtol=1e-12)
    np.testing.assert_allclose(res.trades["entry_price"].to_numpy(), vt["entry_price"], rtol=1e-12)
    np.testing.assert_allclose(res.trades["exit_price"].to_numpy(), vt["exit_price"], rtol=1e-12)
    np.testing.assert_allclose(res.trades["fees"].to_numpy(), vt["entry_fees"] + vt["exit_fees"], rtol=1e-12)
    assert (res.index[vt["entry_idx"]] == res.trades["entry_time"]).all()


def test_return_metrics_match_vectorbt_returns_accessor_with_same_bar_stops(walk):
    """Entry-bar stops put two fills in one bar (vectorbt books them on extra rows); the per-bar returns
    still give vectorbt's figures, and vectorbt's trades give the same pnls."""
    bars = walk(2500, seed=3)
    s = random_signals(2500, seed=8, stops=True)
    c = bars["close"].to_numpy()
    s.stop[:] = c * 0.997
    s.target[:] = c * 1.006
    res = run_signals(bars, s, "15m")
    assert len(res.portfolio.wrapper.index) > len(bars)  # some bar had entry + exit
    idx = bars.index.tz_localize(None)
    rets = pd.Series(res.equity, index=idx).vbt.to_returns()
    rets.iloc[0] = res.equity[0] / EQ - 1
    acc = rets.vbt.returns(freq="15min", year_freq="365 days")
    st = res.stats
    assert st["sharpe"] == pytest.approx(acc.sharpe_ratio(), rel=1e-9)
    assert st["sortino"] == pytest.approx(acc.sortino_ratio(), rel=1e-9)
    assert st["cagr"] == pytest.approx(acc.annualized(), rel=1e-9)
    assert st["max_drawdown"] == pytest.approx(-acc.max_drawdown(), rel=1e-9)
    assert st["calmar"] == pytest.approx(acc.calmar_ratio(), rel=1e-9)
    vt = res.portfolio.trades.records
    np.testing.assert_allclose(res.trades["pnl"].to_numpy(), vt["pnl"], rtol=1e-9, atol=1e-9)
    assert st["win_rate"] == pytest.approx(res.portfolio.trades.win_rate(), rel=1e-12)


def test_hand_computed_fixture():
    equity = np.array([10_100.0, 9_999.0, 10_200.0, 10_200.0])
    r = [0.01, 9_999 / 10_100 - 1, 10_200 / 9_999 - 1, 0.0]
    ann = 365.0  # daily bars
    st = return_stats(equity, EQ, "1d")
    assert st["total_return"] == pytest.approx(0.02, rel=1e-12)
    assert st["cagr"] == pytest.approx(1.02 ** (365 / 4) - 1, rel=1e-12)
    assert st["sharpe"] == pytest.approx(statistics.mean(r) / statistics.stdev(r) * math.sqrt(ann), rel=1e-12)
    downside = math.sqrt(sum(min(x, 0.0) ** 2 for x in r) / 4)
    assert st["sortino"] == pytest.approx(statistics.mean(r) * ann / (downside * math.sqrt(ann)), rel=1e-12)
    assert st["max_drawdown"] == pytest.approx(1 - 9_999 / 10_100, rel=1e-12)
    assert st["max_drawdown_duration_days"] == 1.0  # one day under water, recovered on day 3
    assert st["calmar"] == pytest.approx(st["cagr"] / st["max_drawdown"], rel=1e-12)
    ts = trade_stats(np.array([10.0, -5.0, 0.0, 20.0]))
    assert ts == {"win_rate": 0.5, "profit_factor": 6.0, "expectancy": 6.25, "trades": 4}
    assert exposure(np.array([0.0, 1.0, 0.0, 0.0]), np.array([1, 2])) == 0.5  # held bar 1, exit fill in bar 2


def test_drawdown_duration_of_an_unrecovered_drawdown_runs_to_the_end():
    st = return_stats(np.array([10_000.0, 11_000.0, 10_500.0, 10_400.0, 10_900.0]), EQ, "1h")
    assert st["max_drawdown"] == pytest.approx(1 - 10_400 / 11_000, rel=1e-12)
    assert st["max_drawdown_duration_days"] == pytest.approx(3 / 24)


def test_undefined_metrics_are_nan_not_inf():
    flat = np.full(10, EQ)
    st = compute_stats(flat, EQ, "1h", np.zeros(0), np.zeros(10), np.zeros(0, dtype=np.int64))
    assert st["total_return"] == 0.0 and st["max_drawdown"] == 0.0 and st["trades"] == 0 and st["exposure"] == 0.0
    for k in ("sharpe", "sortino", "calmar", "win_rate", "profit_factor", "expectancy"):
        assert math.isnan(st[k]), k
    assert trade_stats(np.array([5.0, 1.0]))["profit_factor"] == math.inf  # no losing trade
    assert return_stats(np.array([5_000.0, 0.0]), EQ, "1d")["cagr"] == -1.0
