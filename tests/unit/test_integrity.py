"""Integrity gates: each one fires on the accounting or causality bug it exists for, and holds on honest runs.

Broken ledgers are built here by tampering with an honest run's records (never by a switch in production
code). The first one is the bug behind a reported "Sharpe 19.41": crediting the whole entry value back
to cash on every exit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from traderagent.backtest import Costs, IntegrityError, check_integrity, run_signals
from traderagent.backtest import nb as bnb
from traderagent.config.models import RiskConfig
from traderagent.core.records import FILL_DTYPE
from traderagent.core.signals import Signals
from traderagent.errors import UserError

EQ = 10_000.0


def candles(closes: list[float], freq: str = "1h") -> pd.DataFrame:
    """Candles opening at the previous close, 1% wide around open/close."""
    c = np.asarray(closes, dtype=float)
    o = np.r_[c[0], c[:-1]]
    idx = pd.date_range("2024-01-01", periods=len(c), freq=freq, tz="UTC", name="timestamp")
    return pd.DataFrame(
        {"open": o, "high": np.maximum(o, c) * 1.01, "low": np.minimum(o, c) * 0.99, "close": c, "volume": 1.0},
        index=idx,
    )


def honest_run():
    """Two round trips on 10 hourly bars: long 1 -> 3 (win), long 5 -> 8 (win)."""
    bars = candles([100, 101, 102, 104, 103, 103, 104, 106, 107, 108])
    s = Signals.empty(10)
    s.entry_long[[0, 4]] = True
    s.exit_long[[2, 7]] = True
    res = run_signals(bars, s, "1h")
    return bars, res


def gate_inputs(bars: pd.DataFrame, res) -> dict:
    return dict(
        open_=bars["open"].to_numpy(), high=bars["high"].to_numpy(), low=bars["low"].to_numpy(),
        close=bars["close"].to_numpy(), fills=res.fills.copy(), fill_signal_bar=res.fill_signal_bar.copy(),
        equity=res.equity.copy(), cash=res.cash.copy(), position=res.position.copy(), init_cash=EQ,
        reference_equity=res.equity.copy(), timeframe="1h", index=bars.index, risk=RiskConfig(), costs=Costs(),
        risk_events=res.risk_events,
    )


def consistent(kw: dict, fills: np.ndarray) -> dict:
    """Inputs whose cash/position/equity (and reference) are replayed from `fills`: only the gate under test fails."""
    cash, pos, _, _ = bnb.replay_ledger_nb(fills, len(kw["close"]), EQ)
    eq = cash + pos * kw["close"]
    return {**kw, "fills": fills, "cash": cash, "position": pos, "equity": eq, "reference_equity": eq.copy()}


def failing(report: dict) -> list[str]:
    return [k for k, v in report["checks"].items() if not v["ok"]]


def test_honest_run_passes_every_gate_with_details():
    bars, res = honest_run()
    assert res.integrity["ok"]
    assert set(res.integrity["checks"]) == {"ledger", "cash_exposure", "drawdown", "no_trade_no_return",
                                           "fills_in_range", "no_lookahead", "vectorbt_ledger", "risk_limits"}
    gain = res.final_equity - EQ
    assert f"= {gain:.10g}" in res.integrity["checks"]["ledger"]["detail"]
    assert res.trades["pnl"].sum() == pytest.approx(gain, rel=1e-12)
    # the same gates from plain arrays (how the order engine calls them)
    again = check_integrity(**gate_inputs(bars, res))
    assert again["checks"] == res.integrity["checks"]


def test_ledger_crediting_the_entry_value_back_on_exit_is_caught():
    bars, res = honest_run()
    kw = gate_inputs(bars, res)
    f = res.fills
    # the broken books: on each exit, cash receives the proceeds AND the entry value again
    cash, pos = EQ, 0.0
    entry_value = {}
    broken_cash, broken_pos = np.empty(len(bars)), np.empty(len(bars))
    k = 0
    for i in range(len(bars)):
        while k < len(f) and f["bar"][k] == i:
            value = f["size"][k] * f["price"][k]
            if f["side"][k] > 0:
                cash -= value + f["fee"][k]
                entry_value[f["trade"][k]] = value
            else:
                cash += value - f["fee"][k] + entry_value[f["trade"][k]]  # the bug
            pos += f["side"][k] * f["size"][k]
            k += 1
        broken_cash[i], broken_pos[i] = cash, pos
    broken_equity = broken_cash + broken_pos * kw["close"]
    assert broken_equity[-1] > 2 * EQ  # what the buggy backtester would have reported
    kw.update(cash=broken_cash, equity=broken_equity, position=broken_pos)
    report = check_integrity(**kw, raise_on_fail=False)
    assert failing(report) == ["ledger", "vectorbt_ledger"]
    assert report["checks"]["ledger"]["detail"].startswith("bar 3 (2024-01-01T03:00:00Z), trade 0: reported cash")
    with pytest.raises(IntegrityError, match=r"integrity gate 'ledger' failed: bar 3 .*trade 0") as exc:
        check_integrity(**kw)
    assert not isinstance(exc.value, UserError)  # an internal error, not bad input
    assert exc.value.report["ok"] is False


def test_ledger_catches_a_final_equity_that_does_not_match_the_trades():
    bars, res = honest_run()
    kw = gate_inputs(bars, res)
    kw["equity"] = kw["equity"].copy()
    kw["equity"][-1] += 50.0  # 50 of profit no trade made
    report = check_integrity(**kw, raise_on_fail=False)
    assert "ledger" in failing(report)
    assert "bar 9" in report["checks"]["ledger"]["detail"] and "equity" in report["checks"]["ledger"]["detail"]


def test_ledger_catches_unpaid_fees():
    bars, res = honest_run()
    kw = gate_inputs(bars, res)
    fills = kw["fills"].copy()
    fills["fee"][2] = 0.0  # the books paid it, the fill record says it was free
    report = check_integrity(**{**kw, "fills": fills}, raise_on_fail=False)
    assert failing(report) == ["ledger"]
    assert "trade 1" in report["checks"]["ledger"]["detail"]


def test_ledger_rejects_malformed_fills():
    bars, res = honest_run()
    kw = gate_inputs(bars, res)
    fills = kw["fills"][::-1].copy()
    report = check_integrity(**{**kw, "fills": fills}, raise_on_fail=False)
    assert "fills not sorted by bar" in report["checks"]["ledger"]["detail"]


def test_negative_cash_without_leverage_is_caught():
    bars, res = honest_run()
    kw = gate_inputs(bars, res)
    fills = kw["fills"].copy()
    fills["size"][0] *= 1.5  # spends 150% of the cash
    fills["size"][1] *= 1.5
    fills["fee"][[0, 1]] *= 1.5
    report = check_integrity(**consistent(kw, fills), raise_on_fail=False)
    assert failing(report) == ["cash_exposure", "risk_limits"]  # the guard's 100% cap is broken too
    assert "bar 1 (2024-01-01T01:00:00Z), trade 0: cash" in report["checks"]["cash_exposure"]["detail"]
    assert "> 1 x equity" in report["checks"]["risk_limits"]["detail"]
    # the same books are fine when 2x leverage is configured and the risk section allows 200%
    two = RiskConfig(max_exposure=2.0, max_position=2.0)
    assert check_integrity(**{**consistent(kw, fills), "risk": two}, leverage=2.0)["ok"]


def test_exposure_above_leverage_is_caught():
    bars, res = honest_run()
    kw = gate_inputs(bars, res)
    fills = kw["fills"].copy()
    fills["size"][[0, 1]] *= 3.0
    fills["fee"][[0, 1]] *= 3.0
    two = RiskConfig(max_exposure=2.0, max_position=2.0)
    report = check_integrity(**{**consistent(kw, fills), "risk": two}, leverage=2.0, raise_on_fail=False)
    assert failing(report) == ["cash_exposure", "risk_limits"]
    assert "fill 0 (trade 0" in report["checks"]["cash_exposure"]["detail"] and "> leverage 2" in (
        report["checks"]["cash_exposure"]["detail"])


def test_short_exposure_is_checked_at_the_fill():
    bars = candles([100, 101, 100, 99, 98, 99])
    kw = dict(open_=bars["open"].to_numpy(), high=bars["high"].to_numpy(), low=bars["low"].to_numpy(),
              close=bars["close"].to_numpy(), fill_signal_bar=np.array([0, 2]), init_cash=EQ, timeframe="1h")
    fills = np.zeros(2, dtype=FILL_DTYPE)
    fills[0] = (0, 1, -1, 100.0, 250.0, 25.0, 0)  # short 25 000 of notional on 10 000 of equity
    fills[1] = (0, 3, 1, 99.0, 250.0, 24.75, 0)
    report = check_integrity(**consistent(kw, fills), raise_on_fail=False)
    assert failing(report) == ["cash_exposure"]  # cash stays positive: only the exposure check sees it


def test_equity_below_zero_fails_the_drawdown_gate():
    bars = candles([100, 100, 80, 70, 72])
    kw = dict(open_=bars["open"].to_numpy(), high=bars["high"].to_numpy(), low=bars["low"].to_numpy(),
              close=bars["close"].to_numpy(), fill_signal_bar=np.array([0]), init_cash=EQ, timeframe="1h")
    fills = np.zeros(1, dtype=FILL_DTYPE)
    fills[0] = (0, 1, 1, 100.0, 400.0, 40.0, 0)  # 4x leveraged long
    report = check_integrity(**consistent(kw, fills), leverage=5.0, raise_on_fail=False)
    assert failing(report) == ["drawdown"]
    assert report["checks"]["drawdown"]["detail"].startswith("bar 3, trade 0: equity -2040")


def test_return_without_trades_is_caught():
    bars, _ = honest_run()
    n = len(bars)
    drift = EQ * 1.001 ** np.arange(n)  # equity grows with no fill at all
    kw = dict(open_=bars["open"].to_numpy(), high=bars["high"].to_numpy(), low=bars["low"].to_numpy(),
              close=bars["close"].to_numpy(), fills=np.zeros(0, dtype=FILL_DTYPE),
              fill_signal_bar=np.zeros(0, dtype=np.int64), equity=drift, cash=drift, position=np.zeros(n),
              init_cash=EQ, reference_equity=drift, timeframe="1h")
    report = check_integrity(**kw, raise_on_fail=False)
    assert "no_trade_no_return" in failing(report)
    assert report["checks"]["no_trade_no_return"]["detail"].startswith("bar 1: no fills but equity 10010")
    flat = np.full(n, EQ)
    assert check_integrity(**{**kw, "equity": flat, "cash": flat, "reference_equity": flat})["ok"]


def test_fill_outside_the_bar_range_is_caught():
    bars, res = honest_run()
    kw = gate_inputs(bars, res)
    fills = kw["fills"].copy()
    fills["price"][1] = bars["high"].iloc[3] + 1.0  # sold above the bar's high
    report = check_integrity(**consistent(kw, fills), raise_on_fail=False)
    assert failing(report) == ["fills_in_range"]
    assert report["checks"]["fills_in_range"]["detail"].startswith("fill 1 (trade 0, bar 3 (2024-01-01T03:00:00Z))")


def test_fill_in_its_own_signal_bar_is_lookahead():
    bars, res = honest_run()
    kw = gate_inputs(bars, res)
    kw["fill_signal_bar"] = kw["fill_signal_bar"].copy()
    kw["fill_signal_bar"][2] = kw["fills"]["bar"][2]  # the entry of trade 1 decided at the close of its own bar
    report = check_integrity(**kw, raise_on_fail=False)
    assert failing(report) == ["no_lookahead"]
    with pytest.raises(IntegrityError, match="'no_lookahead' failed: fill 2 \\(trade 1\\) at bar 5"):
        check_integrity(**kw)


def test_disagreement_with_vectorbt_is_caught():
    bars, res = honest_run()
    kw = gate_inputs(bars, res)
    kw["reference_equity"] = kw["reference_equity"].copy()
    kw["reference_equity"][4] *= 1 + 1e-7
    report = check_integrity(**kw, raise_on_fail=False)
    assert failing(report) == ["vectorbt_ledger"]
    assert report["checks"]["vectorbt_ledger"]["detail"].startswith("bar 4 (2024-01-01T04:00:00Z)")
    kw["reference_equity"][4] = res.equity[4] * (1 + 1e-11)  # within 1e-9 relative
    assert check_integrity(**kw)["ok"]


def test_too_good_flags():
    # a steady 0.2%/day climb for 60 days: Sharpe far above 4 and drawdown under 1%
    n = 60
    eq = EQ * 1.002 ** np.arange(1, n + 1)
    eq[10] = eq[9] * 0.999
    fills = np.zeros(1, dtype=FILL_DTYPE)
    from traderagent.backtest.integrity import too_good_flags

    flags = too_good_flags(eq, EQ, "1d", n_fills=len(fills))
    assert len(flags) == 2 and all(f.startswith("too good: check for lookahead or accounting errors") for f in flags)
    assert "Sharpe" in flags[0] and "over 60 days" in flags[1]
    assert too_good_flags(eq, EQ, "1d", n_fills=0) == []  # no trades: nothing to be suspicious of
    assert too_good_flags(eq[:20], EQ, "1d", n_fills=1)[1:] == []  # 20 days: too short for the drawdown flag
    rng = np.random.default_rng(0)
    ordinary = EQ * np.cumprod(1 + rng.normal(0.0002, 0.02, 400))
    assert too_good_flags(ordinary, EQ, "1d", n_fills=10) == []


@pytest.mark.parametrize("seed", range(12))
def test_random_signals_on_random_walks_keep_integrity(walk, seed):
    """Property: any signals on any walk give books that pass every gate, and no stop-out loses over the cap."""
    rng = np.random.default_rng(seed)
    n = 1500
    bars = walk(n, seed=seed, vol=0.003 + 0.004 * rng.random())
    c = bars["close"].to_numpy()
    p = 0.01 + 0.05 * rng.random()
    s = Signals(
        entry_long=rng.random(n) < p, exit_long=rng.random(n) < p, entry_short=rng.random(n) < p,
        exit_short=rng.random(n) < p,
        stop=np.where(rng.random(n) < 0.8, c * (1 + rng.choice([-1, 1], n) * rng.uniform(0.002, 0.03, n)), np.nan),
        target=np.where(rng.random(n) < 0.5, c * (1 + rng.choice([-1, 1], n) * rng.uniform(0.002, 0.05, n)), np.nan),
        risk=np.where(rng.random(n) < 0.3, rng.uniform(0.001, 0.1, n), np.nan),
    )
    leverage = float(rng.choice([1.0, 1.0, 2.0]))
    costs = Costs(fees=float(rng.choice([0.0, 0.001])), slippage=float(rng.choice([0.0, 0.0002, 0.001])))
    cap = leverage * float(rng.uniform(0.3, 1.0))
    risk = RiskConfig(max_exposure=cap, max_position=cap, max_loss_per_trade=float(rng.uniform(0.005, 0.05)),
                      daily_loss_limit=float(rng.choice([0.0, 0.01, 0.05])),
                      daily_loss_action=str(rng.choice(["block", "flatten"])))
    res = run_signals(bars, s, "15m", costs=costs, allow_short=bool(seed % 2), leverage=leverage, risk=risk)
    assert res.integrity["ok"], res.integrity
    assert len(res.trades) > 5
    assert (res.fills["bar"] >= res.fill_signal_bar + 1).all()
    if not seed % 2:
        assert (res.trades["side"] == "long").all()
    # a stop-out (the walk never gaps: each open is the previous close) loses at most 3% of the equity before it
    stops = res.trades[res.trades["exit_reason"] == "stop"]
    before = res.equity[res.index.get_indexer(stops["entry_time"]) - 1]
    assert (-stops["pnl"].to_numpy() <= 0.03 * before * (1 + 1e-9)).all()
    assert res.trades["pnl"].sum() == pytest.approx(res.final_equity - EQ, rel=1e-9, abs=1e-6)
