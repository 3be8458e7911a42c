"""DCA: hand-written candle tables with the exact fills they must produce, the stop after averaging, save/restore.

Reference machine for the tables: entry "always", base order 10% of 1000 = 100 quote, 3 safety orders 2% apart
(98, 96, 94 below a base fill at 100) each spending 2x the previous (200, 400, 800 quote), take profit 3% above
the average, emergency stop 10%; fee 0.1%, no slippage. Capital per sequence 100%: the third safety order
(spend 100.1 + 200.2 + 400.4 + 800.8 > 1000) is not placed.
"""

from __future__ import annotations

import numpy as np
import pytest

from traderagent.backtest.orders import run_order
from traderagent.core.costs import Costs
from traderagent.core.orders_nb import same_arrays
from traderagent.core.records import FILL_DTYPE, Reason
from traderagent.errors import ConfigError
from traderagent.strategies import dca_nb as dnb
from traderagent.strategies.dca import (
    SPEC,
    DcaState,
    dca_params,
    features,
    kernel_params,
    ladder_table,
    outputs_matrix,
    run_dca_multi,
    simulate,
    window_replay,
)

FEE = 0.001
COSTS = Costs(fees=FEE, slippage=0.0)
BASE = dict(entry="always", base_order_size=0.1, max_safety_orders=3, safety_order_multiplier=2.0,
            price_deviation=0.02, step_scale=1.0, take_profit_percentage=3.0, stop_percentage=10.0,
            capital_per_sequence=1.0, max_position=1.0, cooldown_bars=2)
M, L, T, R = Reason.market, Reason.limit, Reason.target, Reason.risk
COL = {name: i for i, name in enumerate(dnb.OUTPUT_NAMES)}


def params(**kw):
    return dca_params(**{**BASE, **kw})


def run(rows, p, trend=None, costs=COSTS, cash=1000.0):
    a = np.array(rows, dtype=float)
    n = len(a)
    if trend is None:
        ind = [np.full(n, np.nan)] * 5
    else:  # trend[i] True -> EMA fast < slow, ADX 30, -DI > +DI
        t = np.asarray(trend, bool)
        ind = [np.where(t, 1.0, 2.0), np.full(n, 1.5), np.full(n, 30.0), np.full(n, 10.0), np.full(n, 20.0)]
    state = DcaState.new(p, cash)
    fills, nf, out = simulate((a[:, 0], a[:, 1], a[:, 2], a[:, 3], *ind), p, costs, state)
    return fills[:nf], state, out


def table(fills):
    return [(int(f["trade"]), int(f["bar"]), int(f["side"]), round(float(f["price"]), 9), round(float(f["size"]), 9),
             int(f["reason"])) for f in fills]


U1, U2, U3 = 200 / 98, 400 / 96, 800 / 94
FLAT = (100, 100, 100, 100)
ENTRY = [FLAT, (100, 100.5, 99.5, 100)]  # trigger at bar 0's close, base fill at bar 1's open


def test_safety_orders_then_take_profit_from_the_average():
    rows = ENTRY + [(100, 100, 97.5, 98), (98, 98.2, 95.5, 96.5), (96.5, 100.1, 96.4, 99.9)]
    fills, state, out = run(rows, params())
    units = 1 + U1 + U2
    avg = (100 + 200 + 400) / units
    assert table(fills) == [(0, 1, 1, 100.0, 1.0, M), (0, 2, 1, 98.0, round(U1, 9), L),
                            (0, 3, 1, 96.0, round(U2, 9), L), (0, 4, -1, round(avg * 1.03, 9), round(units, 9), T)]
    assert out[2, COL["avg_price"]] == pytest.approx(300 / (1 + U1), rel=1e-12)
    assert out[3, COL["tp_price"]] == pytest.approx(avg * 1.03, rel=1e-12)
    assert out[3, COL["safety_filled"]] == 2
    assert np.isnan(out[3, COL["next_safety"]])  # the 94 order was never placed: capital per sequence
    assert out[1, COL["next_safety"]] == 98.0
    pnl = avg * 1.03 * units - 700 - FEE * (700 + avg * 1.03 * units)
    assert out[4, COL["cash"]] == pytest.approx(1000 + pnl, rel=1e-12)
    assert out[4, COL["status"]] == dnb.ENTERING  # "always": the next base order goes at bar 5's open
    assert state.hdr[0]["cycles"] == 1


def test_several_safety_orders_fill_in_one_bar_top_down():
    rows = ENTRY + [(100, 100, 95.5, 96.5)]
    fills, _, out = run(rows, params())
    assert table(fills)[1:] == [(0, 2, 1, 98.0, round(U1, 9), L), (0, 2, 1, 96.0, round(U2, 9), L)]
    assert out[2, COL["safety_filled"]] == 2


def test_gap_below_a_safety_order_fills_at_the_open():
    rows = ENTRY + [(97, 97.5, 96.5, 97)]
    fills, _, _ = run(rows, params())
    assert table(fills)[1:] == [(0, 2, 1, 97.0, round(200 / 98, 9), L)]  # units laid at 98, bought at 97


def test_partial_exit_scales_out_then_take_profit_sells_the_rest():
    p = params(scale_out=((1.0, 0.5),))
    rows = ENTRY + [(100, 100, 97.5, 98), (98, 98.2, 95.5, 96.5), (96.5, 98.5, 96.4, 98.3),
                    (98.3, 100.2, 98.0, 100)]
    fills, _, out = run(rows, p)
    units = 1 + U1 + U2
    avg = 700 / units
    assert table(fills)[3:] == [(0, 4, -1, round(avg * 1.01, 9), round(units / 2, 9), L),
                                (0, 5, -1, round(avg * 1.03, 9), round(units / 2, 9), T)]
    assert out[4, COL["avg_price"]] == pytest.approx(avg, rel=1e-12)  # the average stays after a scale-out


def test_emergency_stop_from_the_first_entry_sells_everything():
    rows = ENTRY + [(100, 100, 97.5, 98), (98, 98.2, 95.5, 96.5), (96.5, 101, 89.0, 89.5), (89.5, 90, 89, 89.6),
                    (89.6, 90, 89, 89.7)]
    fills, state, out = run(rows, params())
    units = 1 + U1 + U2
    assert table(fills)[3:] == [(0, 4, -1, 90.0, round(units, 9), R)]  # the stop comes before the TP (path O-L-H)
    assert list(out[4:, COL["status"]]) == [dnb.COOLDOWN, dnb.COOLDOWN, dnb.ENTERING]
    assert state.hdr[0]["stops"] == 1
    assert list(out[1:4, COL["stop_price"]]) == [90.0, 90.0, 90.0]  # fixed: averaging never moves it


def test_stop_from_the_average_moves_down_with_each_safety_fill():
    p = params(stop_reference="average")
    rows = ENTRY + [(100, 100, 97.5, 98), (98, 98.2, 95.5, 96.5), (96.5, 97, 89.0, 89.5)]
    fills, _, out = run(rows, p)
    avg1, avg2 = 300 / (1 + U1), 700 / (1 + U1 + U2)
    np.testing.assert_allclose(out[1:4, COL["stop_price"]], [90.0, avg1 * 0.9, avg2 * 0.9], rtol=1e-12)
    assert not (fills["reason"] == R).any()  # low 89 is above 87.41: the widened stop holds
    assert out[4, COL["status"]] == dnb.IN


def test_cycle_drawdown_stop_is_the_higher_stop():
    p = params(max_cycle_drawdown=0.05)  # lose at most 5% of the 1000 capital per sequence
    rows = ENTRY + [(100, 100, 97.5, 98), (98, 98.2, 95.5, 96.5), (96.5, 97, 90.1, 90.5)]
    fills, _, out = run(rows, p)
    units = 1 + U1 + U2
    spent = 700 * (1 + FEE)
    dd_stop = (-50 + spent) / (units * (1 - FEE))  # the exit fee is part of the cycle's loss
    assert out[3, COL["stop_price"]] == pytest.approx(dd_stop, rel=1e-12) and dd_stop > 90
    assert table(fills)[3:] == [(0, 4, -1, round(dd_stop, 9), round(units, 9), R)]
    loss = spent - dd_stop * units * (1 - FEE)
    assert loss == pytest.approx(50, rel=1e-9)


def test_the_risk_guard_caps_the_cycle_drawdown_budget():
    """max_cycle_drawdown 5% of the capital per sequence, risk.max_loss_per_trade 3% of equity: the cycle's stop
    sits where it loses 3% (30 of 1000), exit fee included."""
    from traderagent.config.models import RiskConfig

    p = params(max_cycle_drawdown=0.05, max_safety_orders=0, stop_percentage=0.0, base_order_size=1.0)
    rows = ENTRY + [(100, 100, 98, 98.5), (98.5, 98.6, 90, 91)]
    a = np.array(rows, dtype=float)
    state = DcaState.new(p, 1000.0)
    risk = RiskConfig(max_loss_per_trade=0.03, daily_loss_limit=0, max_exposure=1.0, max_position=1.0)
    fills, nf, out = simulate((a[:, 0], a[:, 1], a[:, 2], a[:, 3], *[np.full(len(a), np.nan)] * 5), p, COSTS, state,
                              risk=risk)
    fills = fills[:nf]
    buy, sell = fills[0], fills[-1]
    assert sell["reason"] == R and sell["bar"] == 3
    pnl = sell["price"] * sell["size"] * (1 - FEE) - buy["price"] * buy["size"] * (1 + FEE)
    assert pnl == pytest.approx(-30.0, rel=1e-9)


def test_downtrend_trigger_waits_for_the_trend():
    rows = [FLAT] * 5
    fills, _, out = run(rows, params(entry="downtrend"), trend=[False, False, True, False, False])
    assert table(fills) == [(0, 3, 1, 100.0, 1.0, M)]
    assert list(out[:, COL["status"]]) == [dnb.IDLE, dnb.IDLE, dnb.ENTERING, dnb.IN, dnb.IN]


def test_downtrend_rule_needs_all_three_conditions():
    rec = kernel_params(params(entry="downtrend", adx_min=25.0), COSTS)[0]
    assert dnb.downtrend_nb(1.0, 2.0, 30.0, 10.0, 20.0, rec)
    assert not dnb.downtrend_nb(2.0, 1.0, 30.0, 10.0, 20.0, rec)  # EMA fast above slow
    assert not dnb.downtrend_nb(1.0, 2.0, 20.0, 10.0, 20.0, rec)  # weak trend
    assert not dnb.downtrend_nb(1.0, 2.0, 30.0, 20.0, 10.0, rec)  # +DI dominates
    assert not dnb.downtrend_nb(np.nan, 2.0, 30.0, 10.0, 20.0, rec)


def test_ladder_with_step_scale_and_max_position_cap():
    t = ladder_table(params(step_scale=1.5, max_safety_orders=3), 100.0)
    np.testing.assert_allclose(t["drop"], [0.02, 0.05, 0.095])
    np.testing.assert_allclose(t["price"], [98.0, 95.0, 90.5])
    fills, state, out = run(ENTRY, params(max_position=0.35))  # cost cap 350: 100 + 200 only
    assert list(state.ladder["placed"]) == [1, 0, 0]


def test_partial_safety_fill_keeps_the_rest_resting_and_re_averages():
    p = params()
    _, state, _ = run(ENTRY, p)
    rec = kernel_params(p, COSTS)[0]
    h = state.hdr[0]
    fills = np.empty(4, dtype=FILL_DTYPE)
    log = state.log
    fills, nf, log, nlog, cancel = dnb.dca_on_fill_nb(h, state.ladder, rec, fills, 0, log, state.n_log, 2, 0, 98.0,
                                                      1.0, 0.0)
    assert nf == 1 and not cancel and h["n_safety"] == 0
    assert h["avg"] == pytest.approx((100 + 98) / 2)
    dnb.dca_step_nb(h, state.ladder, state.book, state.summary[0], rec, 2, 98.5, np.nan, np.nan, np.nan, np.nan,
                    np.nan, 1)
    buys = {float(b["price"]): float(b["size"]) for b in state.intents() if b["side"] > 0}
    assert buys == {98.0: pytest.approx(U1 - 1.0), 96.0: pytest.approx(U2)}
    sells = [b for b in state.intents() if b["side"] < 0 and b["kind"] == 1]
    assert len(sells) == 1 and sells[0]["price"] == pytest.approx(99 * 1.03) and sells[0]["size"] == 2.0


@pytest.mark.parametrize(("kw", "message"), [
    ({"stop_reference": "entry"},
     "stop_reference: must be one of 'first_entry' or 'average' (got 'entry')"),
    ({"scale_out": ((1.0, 0.7), (2.0, 0.5))},
     "scale_out: fractions must add up to less than 100% (the take-profit sells the rest) (got 70% + 50%)"),
    ({"scale_out": ((4.0, 0.5),)},
     "scale_out: percentages must be above 0, rise, and stay below take_profit_percentage 3 (got 4)"),
    ({"scale_out": ((2.0, 0.2), (1.0, 0.2))},
     "scale_out: percentages must be above 0, rise, and stay below take_profit_percentage 3 (got 2, 1)"),
    ({"scale_out": ((1.0,),)}, "scale_out: step 1 must be [percentage, fraction], e.g. [1.5, '30%'] (got [1.0])"),
    ({"ema_fast": 50}, "ema_fast: must be less than ema_slow (got ema_fast 50, ema_slow 50)"),
])
def test_params_validation_messages(kw, message):
    with pytest.raises(ConfigError) as info:
        params(**kw)
    assert str(info.value) == f"dca params: strategies.dca.{message}"


def test_config_section_is_the_params():
    from traderagent.config.models import DcaConfig

    section = DcaConfig(max_safety_orders=7, take_profit_percentage="2%")
    assert dca_params(section) is section
    p = dca_params(section, entry="always")
    assert (p.max_safety_orders, p.take_profit_percentage, p.entry) == (7, 2.0, "always")
    assert dca_params().stop_percentage == DcaConfig.model_fields["stop_percentage"].default == 15.0


def test_max_concurrent_cycles_across_symbols(walk):
    bars = {f"S{k}": walk(1500, seed=10 + k, vol=0.006) for k in range(3)}
    p = dca_params(entry="always", max_concurrent_cycles=1, take_profit_percentage=1.0)
    active, frames = run_dca_multi(bars, p)
    assert active.max() == 1 and active.mean() > 0.5
    statuses = np.column_stack([f["status"].to_numpy() for f in frames.values()])
    busy = ((statuses == dnb.IN) | (statuses == dnb.ENTERING)).sum(axis=1)
    assert (busy <= 1).all()
    active3, _ = run_dca_multi(bars, dca_params(entry="always", max_concurrent_cycles=3))
    assert active3.max() == 3


def test_save_restore_round_trip_matches_an_uninterrupted_run(walk):
    bars = walk(3000, seed=4, vol=0.006)
    p = dca_params(scale_out=((1.0, 0.3),), stop_reference="average")
    feats = features(bars, p)
    full = DcaState.new(p, 10_000.0)
    f_full, nf_full, out_full = simulate(feats, p, Costs(), full)
    assert full.hdr[0]["cycles"] >= 3
    for cut in (800, 2100):
        a = DcaState.new(p, 10_000.0)
        f, nf, out = simulate(feats, p, Costs(), a, 0, cut)
        b = DcaState.from_bytes(a.to_bytes())
        assert b == a and b.hdr is not a.hdr
        f, nf, out = simulate(feats, p, Costs(), b, cut, None, f, nf, out)
        assert b == full
        assert same_arrays(f[:nf], f_full[:nf_full])
        np.testing.assert_array_equal(out, out_full)


def test_window_replay_reproduces_the_full_run(walk):
    bars = walk(2500, seed=6, vol=0.006)
    p = dca_params()
    full = outputs_matrix(bars, p)
    for t in (1300, 2499):
        np.testing.assert_allclose(window_replay(bars, p, t, 200), full[t], rtol=1e-12)


def test_run_dca_json_trades_list_fills_and_ladders(walk):
    bars = walk(2000, seed=8, vol=0.006)
    p = dca_params(entry="always")
    r = run_order(SPEC, bars, p, "15m", Costs(), 10_000.0, first=50)
    assert r.integrity["ok"]
    js = r.to_json_dict(strategy="dca", symbol="TEST/USDT", timeframe="15m", params=p)
    assert len(js["trades"]) == len(r.extra["ladders"])
    multi = [t for t in js["trades"] if sum(f["side"] == "buy" for f in t["fills"]) > 1]
    assert multi
    for t in js["trades"]:
        buys = [f for f in t["fills"] if f["side"] == "buy"]
        size = sum(f["size"] for f in buys)
        assert t["entry_price"] == pytest.approx(sum(f["price"] * f["size"] for f in buys) / size, rel=1e-12)
    lad = r.extra["ladders"][0]
    assert lad["base_price"] == js["trades"][0]["fills"][0]["price"]
    assert [s["k"] for s in lad["safety"]] == list(range(1, p.max_safety_orders + 1))


# ------------------------------------------------------------------------------------------ bundled data
@pytest.mark.parametrize("stop_reference", ["first_entry", "average"])
def test_bundled_btc_and_eth_pass_every_gate(btc_15m, eth_15m, stop_reference):
    import json

    p = dca_params(stop_reference=stop_reference, scale_out=((1.0, 0.3),))
    for bars in (btc_15m, eth_15m):
        r = run_order(SPEC, bars, p, "15m", Costs(), 10_000.0, first=1000)
        assert r.integrity["ok"] and all(c["ok"] for c in r.integrity["checks"].values())
        assert len(r.trades) > 50
        js = r.to_json_dict(strategy="dca", symbol="BTC/USDT", timeframe="15m", params=p)
        json.dumps(js, allow_nan=False)
        assert sum(t["pnl"] for t in js["trades"]) == pytest.approx(js["final_equity"] - 10_000.0, abs=1e-6)


def test_bundled_prefix_replay_rewrites_nothing(eth_15m):
    p = dca_params()
    bars = eth_15m.iloc[:20_000]
    full = outputs_matrix(bars, p)
    for t in (3000, 9999, 19_999):
        np.testing.assert_array_equal(outputs_matrix(bars.iloc[: t + 1], p)[t], full[t])
    np.testing.assert_allclose(window_replay(bars, p, 15_000, 2000), full[15_000], rtol=1e-9)
