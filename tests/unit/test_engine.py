"""The signal engine on hand-written candle tables: each test states the exact trades the table must produce.

Defaults unless a test says otherwise: 1h bars, initial equity 10 000, fees 0.1% per side, slippage 2 bps
(buys fill at ref x 1.0002, sells at ref x 0.9998), risk 2% of equity at the stop, capped at 3%.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from traderagent.backtest import BacktestResult, Costs, run_signals
from traderagent.backtest.result import canonical_sha256
from traderagent.config.models import RiskConfig
from traderagent.core.records import Reason
from traderagent.core.signals import Signals
from traderagent.errors import UserError

F, SL = 0.001, 0.0002
EQ = 10_000.0


def candles(rows: list[tuple[float, float, float, float]], freq: str = "1h") -> pd.DataFrame:
    """OHLC rows (open, high, low, close) on a UTC hourly index starting 2024-01-01 00:00."""
    idx = pd.date_range("2024-01-01", periods=len(rows), freq=freq, tz="UTC", name="timestamp")
    df = pd.DataFrame(rows, columns=["open", "high", "low", "close"], index=idx, dtype=float)
    df["volume"] = 1.0
    return df


def sig(n, el=(), xl=(), es=(), xs=(), stop=None, target=None, risk=None) -> Signals:
    """Signals with entries/exits at the given bars and stop/target/risk given as {bar: value}."""
    s = Signals.empty(n)
    for arr, bars in ((s.entry_long, el), (s.exit_long, xl), (s.entry_short, es), (s.exit_short, xs)):
        arr[list(bars)] = True
    for arr, values in ((s.stop, stop), (s.target, target), (s.risk, risk)):
        for bar, v in (values or {}).items():
            arr[bar] = v
    return s


def run(bars, signals, **kw) -> BacktestResult:
    return run_signals(bars, signals, "1h", **kw)


def one_trade(res: BacktestResult) -> dict:
    assert len(res.trades) == 1, res.trades
    return res.trades.iloc[0].to_dict()


def ts(bar: int) -> pd.Timestamp:
    return pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(hours=bar)


# A quiet table: every bar stays well inside 98..103, so no stop below 97 or target above 104 triggers.
QUIET = [
    (100.0, 101.0, 99.0, 100.0),  # 0: signal bar
    (100.0, 102.0, 99.5, 101.0),  # 1: entry fills at this open
    (101.0, 103.0, 100.0, 102.0),  # 2
    (102.0, 102.5, 101.0, 101.5),  # 3
    (101.5, 102.0, 101.0, 101.8),  # 4
    (101.8, 102.2, 101.2, 102.0),  # 5
]


def test_entry_at_next_open_and_exit_signal_at_next_open_with_costs_to_the_cent():
    res = run(candles(QUIET), sig(6, el=[0], xl=[2]))
    t = one_trade(res)
    # no stop: size = all the cash the fee allows: 10 000 / (100.02 x 1.001) = 99.88012 units
    assert t["entry_time"] == ts(1) and t["exit_time"] == ts(3)
    assert t["entry_price"] == pytest.approx(100.02, abs=1e-9)  # 100 x 1.0002
    assert t["exit_price"] == pytest.approx(101.9796, abs=1e-9)  # 102 x 0.9998
    assert t["size"] == pytest.approx(99.88012387532486, rel=1e-12)
    assert t["fees"] == pytest.approx(9.99 + 10.19, abs=0.01)  # entry 9.99, exit 10.19
    assert t["pnl"] == pytest.approx(175.55, abs=0.005)
    assert t["side"] == "long" and t["exit_reason"] == "signal"
    assert res.final_equity == pytest.approx(10_175.55, abs=0.005)
    f = res.fills
    assert list(f["bar"]) == [1, 3] and list(f["side"]) == [1, -1]
    assert f["fee"][0] == pytest.approx(9.99, abs=0.005) and f["fee"][1] == pytest.approx(10.19, abs=0.005)
    assert list(res.fill_signal_bar) == [0, 2]
    # the books: flat cash until the entry bar, then cash + position x close
    assert res.equity[0] == EQ and res.cash[1] == pytest.approx(0.0, abs=1e-9)
    assert res.equity[2] == pytest.approx(f["size"][0] * 102.0, rel=1e-12)
    assert res.integrity["ok"]
    # +1.8% in 6 hourly bars annualizes to an absurd Sharpe: flagged (not an error)
    assert [f[:9] for f in res.integrity["flags"]] == ["too good:"] and "Sharpe" in res.integrity["flags"][0]


def test_risk_sizing_loss_at_stop_is_risk_times_equity_including_costs():
    rows = QUIET[:2] + [(99.0, 99.5, 94.0, 96.0), (96.0, 97.0, 95.5, 96.5)]
    res = run(candles(rows), sig(4, el=[0], stop={0: 95.0}))
    t = one_trade(res)
    # loss per unit = 100.02 x 1.001 - 95 x 0.9998 x 0.999 = 5.234001 -> size = 200 / 5.234001
    assert t["size"] == pytest.approx(200.0 / 5.234001, rel=1e-9)
    assert t["exit_time"] == ts(2) and t["exit_reason"] == "stop"
    assert t["exit_price"] == pytest.approx(94.981, abs=1e-9)  # 95 x 0.9998, above the bar's low 94
    assert t["pnl"] == pytest.approx(-200.00, abs=1e-6)  # exactly 2% of 10 000, fees and slippage included
    assert res.final_equity == pytest.approx(9_800.00, abs=1e-6)


def test_target_hit_intrabar():
    rows = QUIET[:2] + [(105.0, 111.0, 104.0, 109.0), (109.0, 110.0, 108.0, 109.5)]
    res = run(candles(rows), sig(4, el=[0], stop={0: 95.0}, target={0: 110.0}))
    t = one_trade(res)
    assert t["exit_reason"] == "target" and t["exit_time"] == ts(2)
    assert t["exit_price"] == pytest.approx(109.978, abs=1e-9)  # 110 x 0.9998
    assert t["pnl"] == pytest.approx(372.49, abs=0.005)


def test_stop_and_target_in_the_same_bar_stop_wins():
    rows = QUIET[:2] + [(100.0, 111.0, 94.0, 105.0), (105.0, 106.0, 104.0, 105.0)]
    res = run(candles(rows), sig(4, el=[0], stop={0: 95.0}, target={0: 110.0}))
    t = one_trade(res)
    assert t["exit_reason"] == "stop" and t["exit_price"] == pytest.approx(94.981, abs=1e-9)
    assert t["pnl"] == pytest.approx(-200.00, abs=1e-6)


def test_gap_through_the_stop_fills_at_the_open_minus_slippage():
    rows = QUIET[:2] + [(93.0, 94.0, 92.0, 93.5), (93.5, 94.0, 93.0, 93.8)]
    res = run(candles(rows), sig(4, el=[0], stop={0: 95.0}))
    t = one_trade(res)
    assert t["exit_reason"] == "stop" and t["exit_time"] == ts(2)
    assert t["exit_price"] == pytest.approx(92.9814, abs=1e-9)  # 93 x 0.9998, not the stop price
    assert t["pnl"] == pytest.approx(-276.33, abs=0.005)  # worse than the planned 200: the gap


def test_gap_through_the_target_fills_at_the_open():
    rows = QUIET[:2] + [(112.0, 113.0, 94.0, 112.0), (112.0, 113.0, 111.0, 112.0)]
    res = run(candles(rows), sig(4, el=[0], stop={0: 95.0}, target={0: 110.0}))
    t = one_trade(res)
    # the open (first price of the bar) is beyond the target: the resting target fills there, before the low
    assert t["exit_reason"] == "target" and t["exit_price"] == pytest.approx(112 * 0.9998, abs=1e-9)


def test_stop_is_active_in_the_entry_bar():
    rows = [(100.0, 101.0, 99.0, 100.0), (100.0, 100.5, 94.0, 95.5), (95.5, 96.0, 95.0, 95.8)]
    res = run(candles(rows), sig(3, el=[0], stop={0: 95.0}))
    t = one_trade(res)
    assert t["entry_time"] == ts(1) and t["exit_time"] == ts(1)
    assert t["pnl"] == pytest.approx(-200.00, abs=1e-6)
    assert list(res.fills["bar"]) == [1, 1] and res.position[1] == 0.0
    # two fills in one bar are booked on two vectorbt rows and still agree bar for bar
    assert res.integrity["checks"]["vectorbt_ledger"]["ok"]
    assert len(res.portfolio.wrapper.index) == 4


def test_max_risk_per_trade_caps_the_signal_risk_at_3_percent():
    rows = QUIET[:2] + [(99.0, 99.5, 94.0, 96.0), (96.0, 97.0, 95.5, 96.5)]
    res = run(candles(rows), sig(4, el=[0], stop={0: 95.0}, risk={0: 0.10}))
    assert one_trade(res)["pnl"] == pytest.approx(-300.00, abs=1e-6)  # 3% of 10 000, not 10%
    res = run(candles(rows), sig(4, el=[0], stop={0: 95.0}, risk={0: 0.01}))
    assert one_trade(res)["pnl"] == pytest.approx(-100.00, abs=1e-6)  # the signal's own 1%


def test_exposure_and_cash_cap_a_tight_stop():
    rows = QUIET[:2] + [(100.0, 100.5, 99.0, 99.5), (99.5, 100.0, 99.0, 99.8)]
    # a stop 0.1% under the open would need ~40x equity to risk 2%: capped by cash (all in, fee included)
    res = run(candles(rows), sig(4, el=[0], stop={0: 99.9}))
    t = one_trade(res)
    assert t["size"] == pytest.approx(EQ / (100.02 * 1.001), rel=1e-12)
    res = run(candles(rows), sig(4, el=[0], stop={0: 99.9}), risk=RiskConfig(max_exposure=0.5, max_position=0.5))
    assert one_trade(res)["size"] * 100.02 == pytest.approx(5_000.0, rel=1e-12)


def test_no_stop_sizes_at_max_exposure_and_max_position():
    res = run(candles(QUIET), sig(6, el=[0], xl=[2]), risk=RiskConfig(max_exposure=0.25, max_position=0.25))
    assert one_trade(res)["size"] * 100.02 == pytest.approx(2_500.0, rel=1e-12)
    res = run(candles(QUIET), sig(6, el=[0], xl=[2]), risk=RiskConfig(max_position=0.4))
    assert one_trade(res)["size"] * 100.02 == pytest.approx(4_000.0, rel=1e-12)
    assert res.risk_events[0]["rule"] == "max_position" and res.risk_events[0]["action"] == "resized"


def test_short_only_when_allowed():
    rows = QUIET[:2] + [(99.0, 99.5, 97.0, 98.0), (98.0, 98.5, 97.5, 98.0), (98.0, 99.0, 97.0, 98.5)]
    s = sig(5, es=[0], xs=[2], stop={0: 105.0})
    assert run(candles(rows), s).trades.empty  # long-only by default
    t = one_trade(run(candles(rows), s, allow_short=True))
    assert t["side"] == "short" and t["entry_price"] == pytest.approx(99.98, abs=1e-9)  # 100 x 0.9998
    assert t["exit_price"] == pytest.approx(98.0196, abs=1e-9)  # 98 x 1.0002 at bar 3's open
    # risk: loss per unit at the stop = 105 x 1.0002 x 1.001 - 99.98 x 0.999 = 5.2496301
    loss = 105 * 1.0002 * 1.001 - 99.98 * 0.999
    assert t["size"] == pytest.approx(200.0 / loss, rel=1e-9)
    assert t["pnl"] == pytest.approx(t["size"] * (99.98 - 98.0196) - t["fees"], rel=1e-12)


def test_short_stop_hit_intrabar_loses_risk():
    rows = QUIET[:2] + [(101.0, 106.0, 100.5, 104.0), (104.0, 105.0, 103.0, 104.0)]
    res = run(candles(rows), sig(4, es=[0], stop={0: 105.0}), allow_short=True)
    t = one_trade(res)
    assert t["exit_reason"] == "stop" and t["exit_price"] == pytest.approx(105.021, abs=1e-9)
    assert t["pnl"] == pytest.approx(-200.00, abs=1e-6)


def test_opposite_entry_reverses_at_the_same_open():
    s = sig(6, el=[0], es=[2], stop={2: 110.0})
    res = run(candles(QUIET), s, allow_short=True)
    tr = res.trades
    assert list(tr["side"]) == ["long", "short"]
    assert list(tr["exit_reason"]) == ["signal", "end"]
    assert tr["exit_time"][0] == ts(3) and tr["entry_time"][1] == ts(3)
    assert tr["exit_price"][0] == pytest.approx(101.9796, abs=1e-9) and tr["entry_price"][1] == pytest.approx(101.9796)
    # without shorts the entry_short signal neither closes the long nor opens a short
    res = run(candles(QUIET), s)
    assert list(res.trades["exit_reason"]) == ["end"]


def test_position_open_at_the_end_is_marked_to_the_last_close():
    res = run(candles(QUIET), sig(6, el=[0]))
    t = one_trade(res)
    size = EQ / (100.02 * 1.001)
    assert t["exit_reason"] == "end" and t["exit_time"] == ts(5)
    assert t["exit_price"] == 102.0  # last close, no slippage: not a fill
    assert t["fees"] == pytest.approx(size * 100.02 * F, rel=1e-12)  # entry fee only
    assert t["pnl"] == pytest.approx(size * (102.0 - 100.02) - size * 100.02 * F, rel=1e-12)
    assert t["pnl"] == pytest.approx(res.final_equity - EQ, rel=1e-12)
    assert len(res.fills) == 1


def test_entries_with_the_stop_or_target_already_crossed_are_skipped():
    assert run(candles(QUIET), sig(6, el=[0], stop={0: 100.0})).trades.empty  # stop at the open
    assert run(candles(QUIET), sig(6, el=[0], stop={0: 100.01})).trades.empty  # above the open
    assert run(candles(QUIET), sig(6, el=[0], target={0: 99.0})).trades.empty
    res = run(candles(QUIET), sig(6, es=[0], stop={0: 99.0}), allow_short=True)
    assert res.trades.empty
    assert res.stats["total_return"] == 0.0 and res.integrity["ok"]


def test_conflicting_and_late_signals_do_nothing():
    assert run(candles(QUIET), sig(6, el=[0], xl=[0])).trades.empty  # entry and exit on one bar
    both = sig(6, el=[0], es=[0])
    assert run(candles(QUIET), both, allow_short=True).trades.empty  # long and short on one bar
    assert run(candles(QUIET), sig(6, el=[5])).trades.empty  # the last bar has no next open
    # an entry while already long is not pyramided
    assert len(run(candles(QUIET), sig(6, el=[0, 1, 2])).fills) == 1


def test_fill_prices_are_clamped_to_the_bar():
    rows = [(100.0, 101.0, 99.0, 100.0), (100.0, 100.0, 99.0, 99.5), (99.5, 100.0, 99.0, 99.8)]
    res = run(candles(rows), sig(3, el=[0]))
    # the open is the bar's high: 100 x 1.0002 would print above it, so the buy fills at the high
    assert res.fills["price"][0] == 100.0


def test_zero_costs_when_asked():
    res = run(candles(QUIET), sig(6, el=[0], xl=[2]), costs=Costs(fees=0.0, slippage=0.0))
    t = one_trade(res)
    assert t["entry_price"] == 100.0 and t["exit_price"] == 102.0 and t["fees"] == 0.0
    assert t["pnl"] == pytest.approx(200.0, rel=1e-12)  # 100 units x +2


def test_leverage_lets_a_long_borrow_and_vectorbt_still_agrees():
    res = run(candles(QUIET), sig(6, el=[0], xl=[3]), risk=RiskConfig(max_exposure=2.0, max_position=2.0),
              leverage=2.0)
    t = one_trade(res)
    assert t["size"] * 100.02 == pytest.approx(20_000.0 / 1.001, rel=1e-12)  # 2x equity, entry fee included
    assert res.cash[1] == pytest.approx(-10_000.0, rel=1e-12)  # borrowed
    assert res.integrity["ok"] and res.settings["vectorbt_credit"] > 10_000


def test_determinism_same_trades_hash():
    rows = [(100 + i % 3, 102 + i % 3, 98 + i % 3, 101 + i % 3) for i in range(15)]
    s = sig(15, el=[0, 6], xl=[3], stop={0: 97.0, 6: 97.5}, target={6: 103.5})
    a, b = run(candles(rows), s), run(candles(rows), s)
    assert len(a.trades) == 2
    assert a.trades_sha256 == b.trades_sha256
    ja = a.to_json_dict("test", "BTC/USDT", "1h", {"p": 1})
    assert ja["trades_sha256"] == a.trades_sha256
    assert ja["trades_sha256"] == canonical_sha256(json.loads(json.dumps(ja))["trades"])


def test_json_document_shape():
    res = run(candles(QUIET), sig(6, el=[0], xl=[2]))
    js = res.to_json_dict("trend_follower", "BTC/USDT", "1h", {"fast": 10, "x": float("nan")})
    assert list(js) == ["strategy", "symbol", "timeframe", "start", "end", "params", "initial_equity", "final_equity",
                        "stats", "integrity", "risk_blocks", "risk_events", "trades", "trades_sha256"]
    assert list(js["stats"]) == ["total_return", "cagr", "sharpe", "sortino", "max_drawdown", "win_rate",
                                 "profit_factor", "expectancy", "exposure", "trades"]
    assert js["start"] == "2024-01-01T00:00:00Z" and js["end"] == "2024-01-01T05:00:00Z"
    assert js["params"] == {"fast": 10, "x": None}
    assert js["stats"]["profit_factor"] is None  # no losing trade: inf -> null
    assert js["stats"]["win_rate"] == 1.0 and js["stats"]["trades"] == 1
    assert js["stats"]["total_return"] == pytest.approx(0.017555, abs=1e-6)  # a fraction, not a percent
    tr = js["trades"][0]
    assert list(tr) == ["entry_time", "exit_time", "side", "entry_price", "exit_price", "size", "pnl", "fees",
                        "exit_reason"]
    assert tr["entry_time"] == "2024-01-01T01:00:00Z" and tr["exit_reason"] == "signal"
    assert set(js["integrity"]) == {"ok", "checks", "flags"} and js["integrity"]["ok"] is True
    text = json.dumps(js, allow_nan=False)  # strict JSON: no NaN/inf anywhere
    assert "NaN" not in text and "Infinity" not in text


def test_reason_codes_of_fills():
    rows = QUIET[:2] + [(105.0, 111.0, 104.0, 109.0), (109.0, 110.0, 108.0, 109.5)]
    res = run(candles(rows), sig(4, el=[0], stop={0: 95.0}, target={0: 110.0}))
    assert list(res.fills["reason"]) == [Reason.signal, Reason.target]


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda b, s: (b.tz_localize(None), s), "UTC open time"),
        (lambda b, s: (b.iloc[::-1], s), "strictly increasing"),
        (lambda b, s: (b.assign(high=b["high"] - 5), s), r"bar 0 \(2024-01-01 00:00:00\+00:00\) is not a valid candle"),
        (lambda b, s: (b, s._replace(stop=s.stop[:-1])), "signals.stop has shape"),
        (lambda b, s: (b, s._replace(entry_long=s.entry_long.astype(int))), "signals.entry_long must be a bool"),
    ],
)
def test_bad_input_is_one_clear_user_error(mutate, match):
    bars, s = mutate(candles(QUIET), sig(6, el=[0]))
    with pytest.raises(UserError, match=match) as exc:
        run(bars, s)
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"risk": 0.03}, "RiskConfig"),
        ({"leverage": 0.5}, "leverage"),
        ({"default_risk": 2.0}, "default_risk"),
        ({"initial_equity": 0.0}, "initial_equity"),
    ],
)
def test_bad_settings_are_user_errors(kw, match):
    with pytest.raises(UserError, match=match):
        run(candles(QUIET), sig(6, el=[0]), **kw)


def test_costs_reject_percent_instead_of_fraction():
    with pytest.raises(UserError, match="not a percent"):
        Costs(fees=0.1 * 100)
    assert Costs() == Costs(fees=0.001, slippage=0.0002)


def test_stats_of_a_known_trade():
    res = run(candles(QUIET), sig(6, el=[0], xl=[2]))
    st = res.stats
    assert st["trades"] == 1 and st["win_rate"] == 1.0
    assert st["expectancy"] == pytest.approx(res.trades["pnl"][0], rel=1e-12)
    assert st["exposure"] == pytest.approx(3 / 6)  # bars 1, 2 held; bar 3 has the exit fill
    assert math.isfinite(st["sharpe"]) and st["total_return"] == pytest.approx(res.final_equity / EQ - 1)
    assert np.isfinite(res.equity).all()
