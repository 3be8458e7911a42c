"""Hybrid Grid + DCA: transitions as hand-written candle tables with their exact orders and fills.

The regime is set by hand (raw labels injected, confirmation 1 unless a test says otherwise), so each table
shows one transition: grid -> DCA by handover / close / keep, DCA -> grid by keep / close, the confirmation delay.
Grid: 3 arithmetic levels +-10% around the build close (90 / 100 / 110 at 100), 10% of capital per level.
DCA: base 10% of equity, 2 safety orders 5% apart (x2 each), take-profit 5% above the average, stop 20%.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from traderagent.backtest import orders
from traderagent.config import ConfigError, DcaConfig, GridConfig, validate
from traderagent.core.costs import Costs
from traderagent.core.records import Reason
from traderagent.strategies import hybrid as H
from traderagent.strategies import hybrid_nb as hnb
from traderagent.strategies.regime import RegimeConfig
from traderagent.strategies.regime_nb import Regime

S, UP, DN, HV, U = Regime.sideways, Regime.uptrend, Regime.downtrend, Regime.high_volatility, Regime.unknown
FEE = 0.001
GRID = GridConfig(timeframe="1h", range_percentage=10, grid_levels=3, risk_per_level=0.1, max_exposure=0.5,
                  spacing="arithmetic", recenter=False, stop_mode="none", adx_filter=False)
DCA = DcaConfig(timeframe="1h", base_order_size=0.1, max_safety_orders=2, safety_order_multiplier=2.0,
                take_profit_percentage=5, price_deviation=0.05, step_scale=1.0, stop_percentage=20, cooldown_bars=0)


def params(**kw) -> H.HybridConfig:
    base = dict(timeframe="1h", regime=RegimeConfig(timeframe="1h", confirmation_bars=1), grid=GRID, dca=DCA)
    return H.HybridConfig(**{**base, **kw})


def candles(rows: list[tuple[float, float, float, float]], freq: str = "1h") -> pd.DataFrame:
    o, h, lo, c = (np.array(x, dtype=np.float64) for x in zip(*rows, strict=True))
    idx = pd.date_range("2024-01-01", periods=len(rows), freq=freq, tz="UTC")
    return pd.DataFrame({"open": o, "high": h, "low": lo, "close": c, "volume": 1.0}, index=idx)


def run(bars: pd.DataFrame, raw: list[int], p: H.HybridConfig, slippage: float = 0.0, equity: float = 10_000.0):
    """The hybrid backtest with the regime's raw labels (on the regime timeframe's candles) given by hand."""

    def feats(b, prm):
        f = list(H.features(b, prm))
        assert len(f[11]) == len(raw), "one raw label per regime candle"
        f[11] = np.array(raw, dtype=np.int64)
        return tuple(f)

    p = p.resolved()
    return orders.run_order_strategy("hybrid", bars, p, "1h", Costs(fees=FEE, slippage=slippage), equity, 0,
                                     features=feats, new_state=H.HybridState.new, simulate=H.simulate,
                                     output_names=hnb.OUTPUT_NAMES, report_data=H.summary, risk=None)


def fills(result) -> list[tuple]:
    f = result.fills
    return [(int(f["bar"][k]), int(f["trade"][k]), int(f["side"][k]), float(f["price"][k]), float(f["size"][k]),
             int(f["reason"][k])) for k in range(len(f))]


#: bar 0 builds the grid at 100; bar 1 buys the sell slot's 10 units at the open (100); bar 2 trades through the
#: 90 buy level (1000 / 90 units) and closes at 89, where the test's regime turns.
OPENING = [(100, 100.5, 99.5, 100), (100, 101, 94, 95), (95, 95.5, 88.5, 89)]
Q0, Q1 = 1000 / 90, 10.0  # units of the buy slot (at 90) and of the sell slot (bought at the open)


def test_sideways_runs_the_grid_and_downtrend_hands_its_inventory_to_the_dca():
    bars = candles(OPENING + [(89, 90, 84, 85), (86, 95, 85.5, 94), (94, 94.5, 93.5, 94)])
    r = run(bars, [S, S, DN, DN, S, S], params(grid_exit="handover"))
    assert r.integrity["ok"]
    o = r.outputs
    assert o["mode"].tolist() == [hnb.GRID, hnb.GRID, hnb.DCA, hnb.DCA, hnb.GRID, hnb.GRID]
    assert r.extra["handovers"] == 1 and r.extra["switches"] == 3 and r.extra["switch_fees"] == 0.0
    # the handover at bar 2's close: no trade, the units and their cost move to a DCA cycle
    units = Q1 + Q0
    assert o["grid_position"].iloc[2] == 0.0 and o["dca_position"].iloc[2] == pytest.approx(units, rel=1e-12)
    cash2 = 10_000 - 1000 * (1 + FEE) - 1000 * (1 + FEE)
    assert o["grid_cash"].iloc[2] == 0.0 and o["dca_cash"].iloc[2] == pytest.approx(cash2, rel=1e-12)
    avg = 2000 / units
    equity2 = cash2 + units * 89
    base = 0.1 * equity2
    s1_price, s1_quote = 89 * 0.95, 2 * base  # ladder laid from the handover close
    avg3 = (2000 + s1_quote) / (units + s1_quote / s1_price)
    tp = avg3 * 1.05
    got = fills(r)
    assert [(b, t, side, reason) for b, t, side, _, _, reason in got[:4]] == [
        (1, 0, 1, Reason.market), (2, 0, 1, Reason.limit), (3, 0, 1, Reason.limit), (4, 0, -1, Reason.target)]
    assert [g[3] for g in got[:4]] == pytest.approx([100, 90, s1_price, tp], rel=1e-12)
    assert [g[4] for g in got[:4]] == pytest.approx([Q1, Q0, s1_quote / s1_price, units + s1_quote / s1_price],
                                                    rel=1e-12)
    # the grid's two cycles and the DCA's fills are one trade: bought by the grid, averaged and sold by the DCA
    t0 = r.trades.iloc[0]
    spent = 1000 + 1000 + s1_quote
    proceeds = tp * (units + s1_quote / s1_price)
    assert t0["exit_reason"] == "target" and t0["entry_price"] == pytest.approx(spent / (units + s1_quote / s1_price))
    assert t0["pnl"] == pytest.approx(proceeds - spent - FEE * (spent + proceeds), rel=1e-9)
    # back to sideways at bar 4: the DCA is idle, the grid rebuilds around 94 with all the cash (trade 1)
    assert got[4][:3] == (5, 1, 1) and got[4][5] == Reason.market
    assert r.trades.shape[0] == 2 and avg < 95


def test_the_book_after_a_handover_is_the_dca_ladder_take_profit_and_stop():
    r = run(candles(OPENING), [S, S, DN], params(grid_exit="handover"))
    book = r.state.intents()
    units = Q1 + Q0
    cash2 = 10_000 - 2000 * (1 + FEE)
    base = 0.1 * (cash2 + units * 89)
    rows = sorted((int(b["tag"]), int(b["kind"]), int(b["side"]), float(b["price"]), float(b["size"])) for b in book)
    want = sorted([
        (2 * 0 + 1, 1, 1, 89 * 0.95, 2 * base / (89 * 0.95)),  # safety 1: limit buy (DCA tags are 2t + 1)
        (2 * 1 + 1, 1, 1, 89 * 0.90, 4 * base / (89 * 0.90)),  # safety 2
        (2 * -4 + 1, 1, -1, 2000 / units * 1.05, units),  # take-profit above the inherited average
        (2 * -3 + 1, 2, -1, 89 * 0.80, units),  # emergency stop 20% below the handover close
    ])
    assert [w[:3] for w in rows] == [w[:3] for w in want]
    np.testing.assert_allclose([w[3:] for w in rows], [w[3:] for w in want], rtol=1e-12)
    assert r.state.grid.hdr[0]["status"] == 0 and len(r.state.grid.intents()) == 0  # the grid is flat, no orders


def test_close_sells_the_grid_at_the_next_open_and_pays_the_switch_costs():
    slip = 0.001
    bars = candles(OPENING + [(89, 90, 84, 85)])
    r = run(bars, [S, S, DN, DN], params(grid_exit="close"), slippage=slip)
    got = fills(r)
    # the build's market buy spends units x (close x (1 + slippage)) and fills at open x (1 + slippage)
    assert got[0][:3] == (1, 0, 1) and got[0][3] == pytest.approx(100 * (1 + slip))
    assert got[0][4] == pytest.approx(Q1, rel=1e-12) and got[1][3] == pytest.approx(90, rel=1e-12)
    units = got[0][4] + got[1][4]
    sales, base_buy = got[2:4], got[4]  # one switch sale per open grid cycle, at the open less slippage
    assert [(g[0], g[1], g[2], g[5]) for g in sales] == [(3, 1, -1, Reason.switch), (3, 0, -1, Reason.switch)]
    assert [g[3] for g in sales] == pytest.approx([89 * (1 - slip)] * 2, rel=1e-12)
    assert [g[4] for g in sales] == pytest.approx([Q0, Q1], rel=1e-12)
    assert base_buy[0] == 3 and base_buy[2] == 1 and base_buy[5] == Reason.market  # the DCA starts at the same open
    assert base_buy[3] == pytest.approx(89 * (1 + slip), rel=1e-12)
    assert r.extra["closes"] == 1 and r.extra["handovers"] == 0
    assert r.extra["switch_fees"] == pytest.approx(FEE * 89 * (1 - slip) * units, rel=1e-12)
    assert r.extra["switch_slippage"] == pytest.approx(units * 89 * slip, rel=1e-9)
    assert [t for t in r.trades["exit_reason"]] == ["switch", "switch", "end"]  # both grid cycles closed by it
    # the DCA's base order was sized on the cash the grid left (its units were still held at bar 2's close)
    cash2 = r.outputs["cash"].iloc[2]
    assert base_buy[3] * base_buy[4] == pytest.approx(0.1 * cash2, rel=1e-12)
    assert r.integrity["ok"]


def test_keep_withdraws_the_grid_buys_but_leaves_its_sells():
    r = run(candles(OPENING), [S, S, DN], params(grid_exit="keep"))
    book = r.state.intents()
    grid_rows = sorted((int(b["tag"]), int(b["side"]), float(b["price"]), float(b["size"])) for b in book
                       if int(b["tag"]) & 1 == 0)
    assert [row[:2] for row in grid_rows] == [(2 * 1, -1), (2 * 3, -1)]  # slot 0 sells at 100, slot 1 at 110
    np.testing.assert_allclose([row[2:] for row in grid_rows], [(100, Q0), (110, Q1)], rtol=1e-12)
    dca_rows = [b for b in book if int(b["tag"]) & 1 == 1]
    assert len(dca_rows) == 1 and int(dca_rows[0]["tag"]) == 2 * -1 + 1 and int(dca_rows[0]["kind"]) == 0  # base buy
    cash2 = 10_000 - 2000 * (1 + FEE)
    assert float(dca_rows[0]["quote"]) == pytest.approx(0.1 * cash2, rel=1e-12)  # the grid's free cash moved over
    o = r.state.grid.hdr[0]
    assert o["status"] == 2 and o["cash"] == 0.0 and o["armed_notional"] == 0.0


def test_kept_grid_sells_while_the_dca_runs_then_resumes_with_its_buys():
    # bar 3 trades up through 100 (the kept grid sells slot 0) while the DCA's base fills at the open (its
    # take-profit rests from bar 4 on: orders born inside a bar wait for the next one);
    # bar 4 turns sideways (DCA keeps its cycle), the grid is back in charge inside its range and re-arms 90
    bars = candles(OPENING + [(89, 101, 88.8, 99), (99, 99.5, 98.5, 99), (99, 99.5, 98.5, 99)])
    r = run(bars, [S, S, DN, DN, S, S], params(grid_exit="keep", dca_exit="keep"))
    got = fills(r)
    bar3 = [g for g in got if g[0] == 3]
    assert sorted((g[2], g[5]) for g in bar3) == [(-1, Reason.limit), (1, Reason.market)]
    sell = next(g for g in bar3 if g[5] == Reason.limit)
    assert sell[3] == pytest.approx(100, rel=1e-12) and sell[4] == pytest.approx(Q0, rel=1e-12)
    o = r.outputs
    assert o["mode"].tolist() == [hnb.GRID, hnb.GRID, hnb.DCA, hnb.DCA, hnb.GRID, hnb.GRID]
    assert o["grid_status"].iloc[3] == 2 and o["grid_status"].iloc[4] == 1  # paused while the DCA ran, then active
    buys = [b for b in r.state.intents() if int(b["tag"]) & 1 == 0 and int(b["side"]) == 1]
    assert len(buys) == 1 and float(buys[0]["price"]) == pytest.approx(90, rel=1e-12)  # re-armed at 90
    assert r.integrity["ok"]


def _dca_cycle_then_sideways(dca_exit: str, slippage: float = 0.0):
    # the DCA is in charge from bar 0 (downtrend): base at bar 1's open, safety 1 at bar 2; sideways at bar 2
    bars = candles([(100, 100.5, 99.5, 100), (100, 100.5, 96, 97), (97, 97.5, 94, 95), (95, 96, 94.5, 95.5),
                    (95.5, 96, 95, 95.5)])
    return run(bars, [DN, DN, S, S, S], params(dca_exit=dca_exit), slippage=slippage)


def test_dca_close_on_sideways_sells_at_the_next_open_then_the_grid_builds():
    slip = 0.001
    r = _dca_cycle_then_sideways("close", slip)
    got = fills(r)
    assert [(g[0], g[2], g[5]) for g in got[:3]] == [(1, 1, Reason.market), (2, 1, Reason.limit), (3, -1, Reason.switch)]
    units = got[0][4] + got[1][4]
    assert got[2][3] == pytest.approx(95 * (1 - slip), rel=1e-12) and got[2][4] == pytest.approx(units, rel=1e-12)
    o = r.outputs
    assert o["mode"].tolist() == [hnb.DCA, hnb.DCA, hnb.GRID, hnb.GRID, hnb.GRID]
    # bar 2's close: the DCA is still closing, so its cash is not swept and the grid (no cash) is not built;
    # bar 3's close: the sale's proceeds move to the grid, which builds around 95.5 (market buy at bar 4)
    assert o["grid_status"].tolist()[2:] == [0, 1, 1]
    assert got[3][0] == 4 and got[3][2] == 1 and got[3][5] == Reason.market
    assert r.extra["switch_fees"] == pytest.approx(FEE * got[2][3] * units, rel=1e-12)
    assert r.integrity["ok"]


def test_dca_keep_on_sideways_keeps_its_orders_and_cash_for_them():
    r = _dca_cycle_then_sideways("keep")
    o = r.outputs
    assert o["mode"].iloc[2] == hnb.GRID and o["dca_status"].iloc[2] == 2  # cycle still open
    st = r.state
    dca_book = [b for b in st.intents() if int(b["tag"]) & 1 == 1]
    kinds = sorted((int(b["tag"]) >> 1, int(b["side"])) for b in dca_book)
    assert kinds == [(-4, -1), (-3, -1), (1, 1)]  # take-profit, stop, and the unfilled safety order 2
    safety2 = next(b for b in dca_book if int(b["tag"]) >> 1 == 1)
    reserve = float(safety2["size"]) * float(safety2["price"]) * (1 + FEE) * (1 + 1e-9)
    # the DCA keeps exactly what its resting safety order needs; the rest went to the grid
    assert st.dca.hdr[0]["cash"] == pytest.approx(reserve, rel=1e-12)
    assert st.grid.hdr[0]["capital"] > 0 and st.grid.hdr[0]["status"] == 1
    assert r.integrity["ok"]


def test_unknown_regime_puts_nobody_in_charge():
    r = run(candles(OPENING), [U, U, U], params())
    assert len(r.fills) == 0 and r.outputs["mode"].tolist() == [hnb.NONE] * 3
    assert r.outputs["equity"].tolist() == [10_000.0] * 3


def test_confirmation_delays_the_switch_by_whole_regime_candles():
    """15m steps, 1h regime with confirmation 2: the DCA takes over at the 15m bar that closes the 2nd downtrend hour."""
    rows = [(100, 100.2, 99.8, 100)] * 16
    bars = candles(rows, freq="15min")
    p = params(timeframe="15m", regime=RegimeConfig(timeframe="1h", confirmation_bars=2),
               grid=GRID.model_copy(update={"timeframe": "15m"}), dca=DCA.model_copy(update={"timeframe": "15m"}))
    r = run(bars, [S, DN, DN, DN], p)
    mode = r.outputs["mode"].tolist()
    # hour 0 (sideways) completes at bar 3: 1 of 2, nothing confirmed; hour 1 (down) at bar 7 starts a new run
    # (1 of 2); hour 2 (down) at bar 11 confirms the downtrend. Nobody is in charge before that.
    assert mode[:11] == [hnb.NONE] * 11
    assert mode[11:] == [hnb.DCA] * 5  # hours 1 and 2 both downtrend: confirmed at the close of hour 2 (bar 11)
    assert r.outputs["regime"].iloc[11] == DN and r.outputs["regime"].iloc[10] == U


def test_state_round_trips_and_resumes_exactly(walk):
    bars = walk(1200, seed=9, freq="1h")
    p = params(grid=GRID.model_copy(update={"recenter": True}), regime=RegimeConfig(timeframe="1h", confirmation_bars=2))
    raw = np.array([S] * 300 + [DN] * 200 + [S] * 200 + [UP] * 100 + [DN] * 200 + [S] * 200, dtype=np.int64)
    f = list(H.features(bars, p.resolved()))
    f[11] = raw
    f = tuple(f)
    full_state = H.HybridState.new(p.resolved(), 10_000.0)
    full = H.simulate(f, p.resolved(), Costs(), full_state, compact=False)[2]
    st = H.HybridState.new(p.resolved(), 10_000.0)
    H.simulate(f, p.resolved(), Costs(), st, 0, 600, compact=False)
    st2 = H.HybridState.from_bytes(st.to_bytes())
    assert st2 == st
    out = H.simulate(f, p.resolved(), Costs(), st2, 600, len(bars), compact=False)[2]
    np.testing.assert_array_equal(out[600:], full[600:])
    assert st2 == full_state
    assert full[-1, 12] >= 1  # the path handed over at least once


def test_config_rejects_overlapping_regimes_and_bad_timeframes():
    with pytest.raises(ConfigError, match="dca_regimes: sideways also in grid_regimes"):
        validate(H.HybridConfig, {"dca_regimes": ["downtrend", "sideways"]}, "cfg.yaml", ("strategies", "hybrid"))
    with pytest.raises(ConfigError, match="regime.timeframe: must be a whole multiple of timeframe '1h'"):
        validate(H.HybridConfig, {"timeframe": "1h", "regime": {"timeframe": "15m"}}, "cfg.yaml")
    g, d = H.HybridConfig().machines()
    assert g.timeframe == d.timeframe == "15m" and d.entry == "always"
    assert H.HybridConfig(dca_entry="regime_and_trigger").machines()[1].entry == "downtrend"


def test_causality_harness_on_bundled_candles(btc_15m):
    from traderagent.strategies.check import check_causality

    bars = btc_15m.iloc[-12_000:]
    report = check_causality(H.SPEC, bars, H.HybridConfig(), points=8, seed=2)
    assert report.prefix_points == 8 and report.window_points == 8
    assert report.rewritten == 0, report.first


# ------------------------------------------------------------------------------- selector (signals)
def test_gate_signals_keeps_entries_in_the_regime_and_closes_when_asked():
    from traderagent.core.signals import Signals
    from traderagent.strategies.selector import active_mask, gate_signals

    codes = np.array([U, UP, UP, S, S, UP])
    active = active_mask(codes, ("uptrend",))
    assert active.tolist() == [False, True, True, False, False, True]
    sig = Signals.empty(6)
    sig.entry_long[:] = [True, True, False, True, False, True]
    sig.stop[:] = 90.0
    kept = gate_signals(sig, active, "keep")
    assert kept.entry_long.tolist() == [False, True, False, False, False, True]
    assert not kept.exit_long.any() and (kept.stop == 90.0).all()
    closed = gate_signals(sig, active, "close")
    assert closed.exit_long.tolist() == [False, False, False, True, False, False]  # first bar after the spell
    assert closed.exit_short.tolist() == closed.exit_long.tolist()


def test_single_machine_sleeves_route_one_machine():
    from traderagent.strategies.selector import SelectorConfig

    sel = SelectorConfig(grid_exit="handover", dca_exit="close", regime=RegimeConfig(timeframe="1h", confirmation_bars=1))
    g = H.single_machine("grid", GRID, sel)
    assert g.grid_regimes == ("sideways",) and g.dca_regimes == () and g.grid_exit == "keep"
    d = H.single_machine("dca", DCA, sel)
    assert d.dca_regimes == ("downtrend",) and d.grid_regimes == () and d.dca_exit == "close"
    assert d.machines()[1].entry == DCA.entry  # a routed DCA keeps its own entry rule on top of the regime
    r = run(candles(OPENING + [(89, 90, 84, 85)]), [S, S, DN, DN], g)
    assert r.outputs["mode"].tolist() == [hnb.GRID, hnb.GRID, hnb.NONE, hnb.NONE]
    assert r.outputs["grid_status"].iloc[2] == 2  # kept: paused with its sells
