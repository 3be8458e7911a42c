"""Grid: hand-written candle tables with the exact fills they must produce, the calculator, save/restore.

Reference grid for the tables: arithmetic, 5 levels, +-2% around 100 -> levels 98, 99, 100, 101, 102;
100 quote per level on 1000 capital; fee 0.1%, no slippage (limits never slip; market orders here fill at
the open exactly). The level nearest the price (100) stays empty: buy slots 98->99 and 99->100, sell slots
100->101 and 101->102 whose units (1 and 100/101) are bought at the next open with one market order.
"""

from __future__ import annotations

from typing import get_args

import numpy as np
import pandas as pd
import pytest

from traderagent.backtest.orders import run_order
from traderagent.core.costs import Costs
from traderagent.core.orders_nb import INTENT_DTYPE, OrderKind, same_arrays
from traderagent.core.records import Reason
from traderagent.errors import ConfigError
from traderagent.strategies import grid_nb as gnb
from traderagent.strategies.grid import (
    SPEC,
    GridState,
    density_levels,
    grid_params,
    kernel_params,
    levels_matrix,
    max_levels_for_fees,
    presets,
    simulate,
    window_replay,
)

FEE = 0.001
COSTS = Costs(fees=FEE, slippage=0.0)
BASE = dict(spacing="arithmetic", grid_levels=5, range_mode="percentage", range_percentage=2.0, risk_per_level=0.1,
            max_exposure=1.0, recenter=False, stop_mode="none", adx_filter=False)
M, L, S = Reason.market, Reason.limit, Reason.risk


def params(**kw):
    return grid_params(preset="low", **{**BASE, **kw})


def run(rows, p, adx=None, atr=None, costs=COSTS, cash=1000.0):
    a = np.array(rows, dtype=float)
    n = len(a)
    feats = (a[:, 0], a[:, 1], a[:, 2], a[:, 3], np.full(n, np.nan) if atr is None else np.asarray(atr, float),
             np.full(n, np.nan) if adx is None else np.asarray(adx, float))
    state = GridState.new(p, cash)
    fills, nf, out = simulate(feats, p, costs, state)
    return fills[:nf], state, out


def table(fills):
    """(trade, bar, side, price, size, reason) rows, sizes rounded to 1e-9."""
    return [(int(f["trade"]), int(f["bar"]), int(f["side"]), float(f["price"]), round(float(f["size"]), 9),
             int(f["reason"])) for f in fills]


def q(price):
    return round(100.0 / price, 9)


FLAT_BAR = (100, 100, 100, 100)


def test_build_and_counter_order_one_level_away_with_several_fills_in_one_bar():
    rows = [FLAT_BAR,
            (100, 100.5, 99.5, 100),  # market buy of the sell slots' units at the open; 99 not traded through
            (100, 100.2, 98.8, 99),  # buy 99 fills; its sell at 100 rests from the NEXT bar (high 100.2 ignored)
            (99, 100.5, 98.9, 100.3),  # counter sell at 100 fills: cycle 99 -> 100 complete, buy 99 re-armed
            (100.3, 101.5, 97.5, 100.8)]  # down leg: buys 99 then 98; up leg: sell 101
    fills, state, out = run(rows, params())
    units_101 = q(101)  # the 101->102 slot's units, 100 quote worth at level 101
    assert table(fills) == [
        (0, 1, 1, 100.0, 1.0, M), (1, 1, 1, 100.0, units_101, M),
        (2, 2, 1, 99.0, q(99), L),
        (2, 3, -1, 100.0, q(99), L),
        (3, 4, 1, 99.0, q(99), L), (4, 4, 1, 98.0, q(98), L), (0, 4, -1, 101.0, 1.0, L),
    ]
    np.testing.assert_allclose(state.levels, [98, 99, 100, 101, 102])
    book = {(int(b["side"]), float(b["price"])): round(float(b["size"]), 9) for b in state.intents()}
    # each filled buy has its sell one level up; the sold 100->101 slot buys again at 100
    assert book == {(-1, 99.0): q(98), (-1, 100.0): q(99), (1, 100.0): 1.0, (-1, 102.0): units_101}
    cycle = (100 - 99) * 100 / 99 - FEE * (99 + 100) * 100 / 99
    assert state.hdr[0]["cycles"] == 2
    assert state.hdr[0]["cycle_profit"] == pytest.approx(cycle + (101 - 100) * 1.0 - FEE * (100 + 101))
    assert out[-1, gnb.OUTPUT_NAMES.index("position")] == pytest.approx(units_101 + q(99) + q(98))


def test_limit_needs_trade_through_and_fills_at_open_when_gapped():
    rows = [FLAT_BAR, (100, 100.5, 99.0, 99.5),  # low == 99: touching is not a fill
            (97.5, 98.2, 97.2, 98)]  # opens below 99 and 98: both buys fill at the open 97.5, in book order
    fills, _, _ = run(rows, params())
    assert table(fills)[2:] == [(2, 2, 1, 97.5, q(98), L), (3, 2, 1, 97.5, q(99), L)]


def test_rebalance_when_price_leaves_the_range_up_rebuilds_around_the_close():
    rows = [FLAT_BAR, (100, 100.5, 99.5, 100), (100, 103.6, 99.9, 103.5), (103.5, 103.6, 103.4, 103.5)]
    fills, state, out = run(rows, params(recenter=True, recenter_percentage=1.0))
    # bar 2: both sells fill; close 103.5 > 102 x 1.01 and nothing is held -> rebuilt at once around 103.5
    assert table(fills)[2:4] == [(0, 2, -1, 101.0, 1.0, L), (1, 2, -1, 102.0, q(101), L)]
    np.testing.assert_allclose(state.levels, 103.5 * np.array([0.98, 0.99, 1.0, 1.01, 1.02]))
    capital = 1000 - 100 - 100 / 101 * 100 - FEE * 100 * (1 + 100 / 101) + 101 + 102 * 100 / 101 \
        - FEE * (101 + 102 * 100 / 101)
    new_sell = [f for f in table(fills) if f[1] == 3]
    assert new_sell and all(f[3] == 103.5 and f[5] == M for f in new_sell)  # the new grid's market buy
    assert sum(f[4] for f in new_sell) == pytest.approx(0.1 * capital / 103.5 + 0.1 * capital / 104.535,
                                                        rel=1e-9)
    assert out[2, gnb.OUTPUT_NAMES.index("lower")] == pytest.approx(103.5 * 0.98)


def test_rebalance_down_with_inventory_sells_at_the_next_open_then_rebuilds():
    rows = [FLAT_BAR, (100, 100.5, 99.5, 100), (100, 100, 96.5, 96.8), (96.7, 97, 96.5, 96.9)]
    fills, state, out = run(rows, params(recenter=True, recenter_percentage=1.0))
    t = table(fills)
    assert t[2:4] == [(2, 2, 1, 99.0, q(99), L), (3, 2, 1, 98.0, q(98), L)]
    assert out[2, gnb.OUTPUT_NAMES.index("status")] == gnb.LIQUIDATING  # close 96.8 < 98 x 0.99
    sells = [f for f in t if f[1] == 3 and f[2] == -1]
    assert sells == [(3, 3, -1, 96.7, q(98), M), (2, 3, -1, 96.7, q(99), M), (0, 3, -1, 96.7, 1.0, M),
                     (1, 3, -1, 96.7, q(101), M)]
    assert out[3, gnb.OUTPUT_NAMES.index("status")] == gnb.ACTIVE
    np.testing.assert_allclose(state.levels, 96.9 * np.array([0.98, 0.99, 1.0, 1.01, 1.02]))


def test_grid_stop_sells_everything_and_cancels_the_rest_of_the_bar():
    p = params(stop_mode="percentage", stop_percentage=1.0, stop_cooldown_bars=2)
    rows = [FLAT_BAR, (100, 100.5, 99.5, 100),
            (100, 103, 96.5, 97),  # buys 99, 98 on the way down, stop 97.02 touched: sell all; 101/102 never
            (97, 97.5, 96.8, 97.2), (97.2, 97.5, 97.0, 97.3), (97.3, 97.4, 97.1, 97.2)]
    fills, state, out = run(rows, p)
    stop = 98 * 0.99
    assert [f for f in table(fills) if f[1] == 2] == [
        (2, 2, 1, 99.0, q(99), L), (3, 2, 1, 98.0, q(98), L),  # one stop fill per open cycle, slot order
        (3, 2, -1, stop, q(98), S), (2, 2, -1, stop, q(99), S), (0, 2, -1, stop, 1.0, S), (1, 2, -1, stop, q(101), S),
    ]
    status = out[:, gnb.OUTPUT_NAMES.index("status")]
    assert list(status[2:]) == [gnb.STOPPED, gnb.STOPPED, gnb.ACTIVE, gnb.ACTIVE]  # rebuilt 2 closes later
    assert state.hdr[0]["stops"] == 1
    np.testing.assert_allclose(out[2, 1], 0.0, atol=1e-12)


def test_stop_with_slippage_is_clamped_to_the_bar_low():
    p = params(stop_mode="percentage", stop_percentage=1.0)
    rows = [FLAT_BAR, (100, 100.5, 99.5, 100), (100, 100, 97.02, 97.5)]
    fills, _, _ = run(rows, p, costs=Costs(fees=FEE, slippage=0.01))
    stops = fills[fills["reason"] == S]
    assert len(stops) == 4 and (stops["price"] == 97.02).all()  # 97.02 x 0.99 would print below the low


def test_adx_trend_pauses_buys_keeps_sells_and_reactivates_after_calm_bars():
    p = params(adx_filter=True, adx_threshold=30.0, adx_reactivate=25.0, reactivate_bars=2)
    rows = [FLAT_BAR] * 3 + [(100, 100.5, 99.5, 100)] + [(100, 100.2, 98.5, 99.5)] * 4
    adx = [20, 20, 20, 35, 35, 20, 20, 20]  # built at bar 1 (2 calm bars); trend at bar 3's close
    fills, state, out = run(rows, p, adx=adx)
    status = out[:, gnb.OUTPUT_NAMES.index("status")]
    assert list(status) == [gnb.FLAT, gnb.ACTIVE, gnb.ACTIVE, gnb.PAUSED, gnb.PAUSED, gnb.PAUSED, gnb.ACTIVE,
                            gnb.ACTIVE]
    buys = [f for f in table(fills) if f[2] == 1 and f[5] == L]
    assert [f[1] for f in buys] == [7]  # no buy level rests while paused (bars 4-6); back at bar 7
    assert np.isinf(out[4, gnb.OUTPUT_NAMES.index("best_buy")])
    assert out[4, gnb.OUTPUT_NAMES.index("best_sell")] == 101.0


def test_exposure_cap_funds_the_nearest_slots_first():
    p = params(max_exposure=0.25)  # 250 of 1000: the 100 -> 101 sell slot and the 99 buy slot only
    fills, state, _ = run([FLAT_BAR, (100, 100.5, 99.5, 100)], p)
    assert table(fills) == [(0, 1, 1, 100.0, 1.0, M)]
    book = sorted((int(b["side"]), float(b["price"])) for b in state.intents())
    assert book == [(-1, 101.0), (1, 99.0)]


def test_partial_fills_move_units_and_place_the_counter_for_the_filled_part():
    p = params()
    state = GridState.new(p, 1000.0)
    rows = [FLAT_BAR, (100, 100.5, 99.5, 100)]
    a = np.array(rows, float)
    simulate((a[:, 0], a[:, 1], a[:, 2], a[:, 3], np.full(2, np.nan), np.full(2, np.nan)), p, COSTS, state)
    rec = kernel_params(p, COSTS)[0]
    fills = np.empty(8, dtype=gnb_fill_dtype())
    h, slots = state.hdr[0], state.slots
    fills, nf, cancel = gnb.grid_on_fill_nb(h, slots, state.levels, rec, fills, 0, 2, 2, 1, 99.0, 0.4, 0.0)
    assert nf == 1 and not cancel
    assert slots[1]["pending"] == pytest.approx(q(99) - 0.4) and slots[1]["held"] == pytest.approx(0.4)
    gnb.grid_step_nb(h, slots, state.levels, state.book, state.summary[0], rec, 2, 99.5, np.nan, np.nan)
    book = {(int(b["side"]), float(b["price"])): float(b["size"]) for b in state.intents()}
    assert book[(1, 99.0)] == pytest.approx(q(99) - 0.4) and book[(-1, 100.0)] == pytest.approx(0.4)
    # the held part sells in two pieces; the cycle completes only when the buy is done and all is sold
    fills, nf, _ = gnb.grid_on_fill_nb(h, slots, state.levels, rec, fills, nf, 3, 3, -1, 100.0, 0.4, 0.0)
    assert h["cycles"] == 0 and slots[1]["sold"] == pytest.approx(0.4)
    rest = 100 / 99 - 0.4
    fills, nf, _ = gnb.grid_on_fill_nb(h, slots, state.levels, rec, fills, nf, 4, 2, 1, 99.0, rest, 0.0)
    fills, nf, _ = gnb.grid_on_fill_nb(h, slots, state.levels, rec, fills, nf, 5, 3, -1, 100.0, rest, 0.0)
    assert h["cycles"] == 1
    assert h["cycle_profit"] == pytest.approx((100 - 99) * 100 / 99 - FEE * (99 + 100) * 100 / 99, rel=1e-9)
    assert len({int(f["trade"]) for f in fills[:nf]}) == 1


def gnb_fill_dtype():
    from traderagent.core.records import FILL_DTYPE

    return FILL_DTYPE


def test_intent_layout_is_what_the_live_adapter_reads():
    assert INTENT_DTYPE.names == ("kind", "side", "flags", "price", "size", "quote", "tag")
    fills, state, _ = run([FLAT_BAR], params(stop_mode="percentage", stop_percentage=1.0))
    kinds = sorted(int(b["kind"]) for b in state.intents())
    assert kinds == [OrderKind.market, OrderKind.limit, OrderKind.limit, OrderKind.stop]


# --------------------------------------------------------------------------------------------- calculator
def test_levels_arithmetic_and_geometric_match_numpy():
    out = np.empty(7)
    gnb.grid_levels_nb(90.0, 110.0, 7, False, out)
    np.testing.assert_allclose(out, np.linspace(90, 110, 7), rtol=1e-15)
    gnb.grid_levels_nb(90.0, 110.0, 7, True, out)
    np.testing.assert_allclose(out, np.geomspace(90, 110, 7), rtol=1e-13)


def test_atr_range_and_atr_stop():
    p = params(range_mode="atr", range_atr_mult=2.0, stop_mode="atr", stop_atr_mult=1.0)
    _, state, out = run([FLAT_BAR], p, atr=[1.5])
    np.testing.assert_allclose(state.levels, [97, 98.5, 100, 101.5, 103])
    assert out[0, gnb.OUTPUT_NAMES.index("stop")] == pytest.approx(97 - 1.5)


def test_atr_resize_with_hysteresis():
    p = params(range_mode="atr", range_atr_mult=2.0, atr_hysteresis=0.25)
    rows = [FLAT_BAR] * 4
    # +20%: kept; +30% at bar 2: inventory sold at bar 3's open, rebuilt at bar 3's close with ATR 1.3
    _, _, out = run(rows, p, atr=[1.0, 1.2, 1.3, 1.3])
    lower = out[:, gnb.OUTPUT_NAMES.index("lower")]
    assert list(lower) == [98.0, 98.0, 98.0, 100 - 2 * 1.3]
    assert list(out[:, gnb.OUTPUT_NAMES.index("status")]) == [gnb.ACTIVE, gnb.ACTIVE, gnb.LIQUIDATING, gnb.ACTIVE]


def test_density_levels_clear_fees_by_the_margin():
    n = max_levels_for_fees(95.0, 105.0, True, 0.001, 0.5)
    lv = np.geomspace(95, 105, n)
    gross = lv[1:] / lv[:-1] - 1
    fees = 0.001 * (1 + lv[1:] / lv[:-1])
    assert (gross >= 1.5 * fees - 1e-15).all()
    lv2 = np.geomspace(95, 105, n + 1)
    assert not (lv2[1:] / lv2[:-1] - 1 >= 1.5 * 0.001 * (1 + lv2[1:] / lv2[:-1])).all()
    n = max_levels_for_fees(95.0, 105.0, False, 0.001, 0.5)
    lv = np.linspace(95, 105, n)
    assert ((lv[1:] - lv[:-1]) >= 1.5 * 0.001 * (lv[1:] + lv[:-1]) - 1e-12).all()
    lv2 = np.linspace(95, 105, n + 1)
    assert not ((lv2[1:] - lv2[:-1]) >= 1.5 * 0.001 * (lv2[1:] + lv2[:-1])).all()
    assert density_levels(params(range_percentage=5.0), 100.0, COSTS, 0.5) == max_levels_for_fees(
        95.0, 105.0, False, 0.001, 0.5)


def test_presets_load_and_validate():
    from traderagent.config.models import GridConfig, GridPreset

    assert set(presets()) == set(get_args(GridPreset)) == {"low", "medium", "high"}
    for name, table in presets().items():
        p = grid_params(preset=name)
        assert set(table) <= set(GridConfig.model_fields)  # every preset key is a schema field
        assert {k: getattr(p, k) for k in table} == table
        assert p.adx_reactivate <= p.adx_threshold
    with pytest.raises(ConfigError) as info:
        grid_params(preset="extreme")
    assert str(info.value) == ("grid params: strategies.grid.preset: must be one of 'low', 'medium' or 'high' "
                               "(got 'extreme')")
    with pytest.raises(ConfigError) as info:
        grid_params(spacing="log")
    assert str(info.value) == ("grid params: strategies.grid.spacing: must be one of 'arithmetic' or 'geometric' "
                               "(got 'log')")


def test_config_section_is_the_params_and_a_preset_fills_only_unset_fields():
    from traderagent.config.models import GridConfig

    section = GridConfig(grid_levels=7, range_percentage="3%")
    assert grid_params(section) is section  # no copy: the section is the params model
    assert section.stop_mode == GridConfig.model_fields["stop_mode"].default  # the schema's default, no preset
    p = grid_params(section, preset="high")  # with a preset, only explicitly set fields override it
    assert p.grid_levels == 7 and p.range_percentage == 3.0
    assert p.range_mode == "atr" and p.spacing == presets()["high"]["spacing"]
    assert p.model_fields_set == {"grid_levels", "range_percentage", "preset"}
    q = grid_params(p, adx_filter=False)  # overrides keep the section's preset and explicit fields
    assert (q.preset, q.grid_levels, q.range_mode, q.adx_filter) == ("high", 7, "atr", False)


# ---------------------------------------------------------------------------------------- save / restore
def test_save_restore_round_trip_matches_an_uninterrupted_run(walk):
    bars = walk(3000, seed=3, vol=0.006)
    p = grid_params(preset="medium", adx_filter=True)
    from traderagent.strategies.grid import features

    feats = features(bars, p)
    full = GridState.new(p, 10_000.0)
    f_full, nf_full, out_full = simulate(feats, p, Costs(), full)
    for cut in (500, 1700):
        a = GridState.new(p, 10_000.0)
        f, nf, out = simulate(feats, p, Costs(), a, 0, cut)
        b = GridState.from_bytes(a.to_bytes())  # a fresh structure: no reference to a's arrays
        assert b == a and b.hdr is not a.hdr
        f, nf, out = simulate(feats, p, Costs(), b, cut, None, f, nf, out)
        assert b == full
        assert same_arrays(f[:nf], f_full[:nf_full])
        np.testing.assert_array_equal(out, out_full)
    assert nf_full > 20


def test_window_replay_reproduces_the_full_run(walk):
    bars = walk(2500, seed=5, vol=0.006)
    p = grid_params(preset="medium")
    from traderagent.strategies.grid import outputs_matrix

    full = outputs_matrix(bars, p)
    for t in (1200, 2499):
        np.testing.assert_allclose(window_replay(bars, p, t, 300), full[t], rtol=1e-12)


def test_run_grid_result_carries_fills_per_trade_and_levels(walk):
    bars = walk(1500, seed=2, vol=0.006)
    p = grid_params(preset="low", adx_filter=False)
    r = run_order(SPEC, bars, p, "15m", Costs(), 10_000.0, first=100)
    assert r.integrity["ok"] and r.integrity["checks"]["spot_inventory"]["ok"]
    js = r.to_json_dict(strategy="grid", symbol="TEST/USDT", timeframe="15m", params=p)
    closed = [t for t in js["trades"] if t["exit_reason"] != "end"]
    assert closed
    for t in js["trades"]:
        buys = [f for f in t["fills"] if f["side"] == "buy"]
        sells = [f for f in t["fills"] if f["side"] == "sell"]
        size = sum(f["size"] for f in buys)
        assert t["size"] == pytest.approx(size, rel=1e-12)
        assert t["entry_price"] == pytest.approx(sum(f["price"] * f["size"] for f in buys) / size, rel=1e-12)
        if t["exit_reason"] != "end":
            assert t["exit_price"] == pytest.approx(
                sum(f["price"] * f["size"] for f in sells) / sum(f["size"] for f in sells), rel=1e-12)
            assert t["pnl"] == pytest.approx(sum(f["price"] * f["size"] * (1 if f["side"] == "sell" else -1)
                                                 - f["fee"] for f in t["fills"]), rel=1e-9, abs=1e-9)
        assert t["fills"][0]["time"] == t["entry_time"]
    lv = levels_matrix(r, p)
    assert lv.shape == (len(r.index), p.grid_levels)
    built = ~np.isnan(lv[:, 0])
    np.testing.assert_allclose(lv[built, 0], r.outputs["lower"].to_numpy()[built])
    assert isinstance(r.outputs, pd.DataFrame) and list(r.outputs.columns) == list(gnb.OUTPUT_NAMES)


# ------------------------------------------------------------------------------------------ bundled data
@pytest.mark.parametrize("preset", ["low", "medium", "high"])
def test_bundled_btc_and_eth_pass_every_gate(btc_15m, eth_15m, preset):
    import json

    p = grid_params(preset=preset)
    for bars in (btc_15m, eth_15m):
        r = run_order(SPEC, bars, p, "15m", Costs(), 10_000.0, first=1000)
        assert r.integrity["ok"] and all(c["ok"] for c in r.integrity["checks"].values())
        assert len(r.trades) > 100 and r.state.hdr[0]["cycles"] > 100
        js = r.to_json_dict(strategy="grid", symbol="BTC/USDT", timeframe="15m", params=p)
        json.dumps(js, allow_nan=False)
        assert sum(t["pnl"] for t in js["trades"]) == pytest.approx(js["final_equity"] - 10_000.0, abs=1e-6)


def test_bundled_prefix_replay_rewrites_nothing(btc_15m):
    from traderagent.strategies.grid import outputs_matrix

    p = grid_params(preset="medium")
    bars = btc_15m.iloc[:20_000]
    full = outputs_matrix(bars, p)
    for t in (3000, 9999, 19_999):
        np.testing.assert_array_equal(outputs_matrix(bars.iloc[: t + 1], p)[t], full[t])
    np.testing.assert_allclose(window_replay(bars, p, 15_000, 2000), full[15_000], rtol=1e-9)


def test_state_restored_in_another_process_continues_identically(tmp_path):
    """Save after bar t here, continue in a fresh interpreter, compare with the uninterrupted run."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent("""
        import sys
        from pathlib import Path
        import numpy as np, pandas as pd
        from traderagent.core.costs import Costs
        from traderagent.strategies.grid import GridState, features, grid_params, simulate

        def bars():
            rng = np.random.default_rng(11)
            c = 100 * np.exp(np.cumsum(rng.normal(0, 0.006, 2000)))
            o = np.r_[100.0, c[:-1]]
            w = np.abs(rng.normal(0, 0.004, (2, 2000))) * c
            idx = pd.date_range("2024-01-01", periods=2000, freq="15min", tz="UTC")
            return pd.DataFrame({"open": o, "high": np.maximum(o, c) + w[0], "low": np.minimum(o, c) - w[1],
                                 "close": c}, index=idx)

        p = grid_params(preset="low", adx_filter=False)
        feats = features(bars(), p)
        mode, path, cut = sys.argv[1], sys.argv[2], int(sys.argv[3])
        if mode == "first":
            s = GridState.new(p, 10_000.0)
            simulate(feats, p, Costs(), s, 0, cut)
            Path(path).write_bytes(s.to_bytes())
        else:
            s = GridState.from_bytes(Path(path).read_bytes())
            f, nf, out = simulate(feats, p, Costs(), s, cut)
            np.savez(path + ".out.npz", fills=f[:nf], out=out[cut:])
            Path(path + ".final").write_bytes(s.to_bytes())
        """)
    (tmp_path / "cont.py").write_text(script)
    path = str(tmp_path / "state.bin")
    for mode in ("first", "rest"):
        subprocess.run([sys.executable, str(tmp_path / "cont.py"), mode, path, "1200"], check=True, timeout=300)
    ns: dict = {}
    exec(compile(script.split("p = grid_params")[0], "bars", "exec"), ns)
    p = grid_params(preset="low", adx_filter=False)
    from traderagent.strategies.grid import features

    full = GridState.new(p, 10_000.0)
    f, nf, out = simulate(features(ns["bars"](), p), p, Costs(), full)
    with np.load(path + ".out.npz") as z:
        np.testing.assert_array_equal(z["out"], out[1200:])
        rest = f[:nf][f[:nf]["bar"] >= 1200]
        assert len(rest) > 10 and same_arrays(z["fills"], rest)
    from pathlib import Path

    assert GridState.from_bytes(Path(path + ".final").read_bytes()) == full
