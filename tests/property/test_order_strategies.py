"""Properties of the grid and DCA machines on random paths (mechanics only, never claims about strategies).

For any path and parameters: the exposure cap is never exceeded (checked after every fill), no spot sale
ever exceeds the inventory, cash never goes negative, every fill prints inside its bar, each completed grid
cycle's profit is (sell - buy) x qty - fees, and the whole backtest pipeline passes every integrity gate.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from traderagent.backtest import nb as engine_nb
from traderagent.backtest.orders import run_order
from traderagent.core.costs import Costs
from traderagent.core.records import Reason
from traderagent.strategies import dca as dca_mod
from traderagent.strategies import dca_nb as dnb
from traderagent.strategies import grid as grid_mod
from traderagent.strategies import grid_nb as gnb
from traderagent.strategies.dca import DcaState, dca_params
from traderagent.strategies.dca import features as dca_features
from traderagent.strategies.dca import simulate as dca_simulate
from traderagent.strategies.grid import GridState, grid_params
from traderagent.strategies.grid import features as grid_features
from traderagent.strategies.grid import simulate as grid_simulate

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TOL = 1e-9


def path(seed: int, n: int, vol: float, drift: float, jump: float) -> pd.DataFrame:
    """Random candles with drift and occasional jumps (gaps between close and next open included)."""
    rng = np.random.default_rng(seed)
    ret = rng.normal(drift, vol, n) + np.where(rng.random(n) < 0.01, rng.normal(0, jump, n), 0.0)
    close = 100.0 * np.exp(np.cumsum(ret))
    open_ = np.r_[100.0, close[:-1]] * np.exp(np.where(rng.random(n) < 0.02, rng.normal(0, vol, n), 0.0))
    wick = np.abs(rng.normal(0, vol, (2, n))) * close
    high = np.maximum(open_, close) + wick[0]
    low = np.maximum(np.minimum(open_, close) - wick[1], 1e-6)
    idx = pd.date_range("2024-01-01", periods=n, freq="15min", tz="UTC")
    return pd.DataFrame({"open": open_, "high": high, "low": low, "close": close, "volume": 1.0}, index=idx)


paths = st.builds(path, st.integers(0, 2**31), st.integers(300, 1500), st.floats(0.001, 0.02),
                  st.floats(-0.002, 0.002), st.floats(0.0, 0.1))
costs = st.builds(Costs, st.sampled_from([0.0, 0.0005, 0.001]), st.sampled_from([0.0, 0.0002, 0.002]))
grids = st.fixed_dictionaries({
    "spacing": st.sampled_from(["arithmetic", "geometric"]),
    "grid_levels": st.integers(2, 30),
    "range_mode": st.sampled_from(["percentage", "atr"]),
    "range_percentage": st.floats(0.3, 20.0),
    "range_atr_mult": st.floats(1.0, 15.0),
    "atr_hysteresis": st.sampled_from([0.0, 0.2, 0.5]),
    "recenter": st.booleans(),
    "recenter_percentage": st.floats(0.0, 5.0),
    "risk_per_level": st.floats(0.005, 0.5),
    "max_exposure": st.floats(0.05, 1.0),
    "stop_mode": st.sampled_from(["none", "percentage", "atr"]),
    "stop_percentage": st.floats(0.5, 10.0),
    "adx_filter": st.booleans(),
    "reactivate_bars": st.integers(1, 10),
    "stop_cooldown_bars": st.integers(0, 50),
})


def held_cost_after_each_fill(fills: np.ndarray) -> np.ndarray:
    """Cost of the units held after each fill: per trade, remaining units x that trade's average buy price."""
    bought_units: dict[int, float] = {}
    bought_value: dict[int, float] = {}
    held: dict[int, float] = {}
    out = np.empty(len(fills))
    total = 0.0
    for k, f in enumerate(fills):
        t, size, price = int(f["trade"]), float(f["size"]), float(f["price"])
        before = held.get(t, 0.0) * bought_value.get(t, 0.0) / max(bought_units.get(t, 0.0), 1e-300)
        if f["side"] > 0:
            bought_units[t] = bought_units.get(t, 0.0) + size
            bought_value[t] = bought_value.get(t, 0.0) + size * price
            held[t] = held.get(t, 0.0) + size
        else:
            held[t] = held.get(t, 0.0) - size
        after = held[t] * bought_value[t] / bought_units[t]
        total += after - before
        out[k] = total
    return out


def common_invariants(bars: pd.DataFrame, fills: np.ndarray, init: float) -> None:
    n = len(bars)
    cash_b, pos_b, cash_f, pos_f = engine_nb.replay_ledger_nb(fills, n, init)
    scale = float(fills["size"].max()) if len(fills) else 1.0
    assert (pos_f >= -TOL * scale).all(), "a spot sale exceeded the inventory"
    assert (cash_f >= -TOL * init).all(), "cash went negative"
    bar = fills["bar"]
    lo, hi = bars["low"].to_numpy()[bar], bars["high"].to_numpy()[bar]
    assert ((fills["price"] >= lo) & (fills["price"] <= hi)).all(), "a fill printed outside its bar"
    assert (np.diff(bar) >= 0).all() and (fills["size"] > 0).all()


@SETTINGS
@given(bars=paths, kw=grids, c=costs)
def test_grid_invariants_on_random_paths(bars, kw, c):
    p = grid_params(preset="medium", **kw)
    init = 10_000.0
    state = GridState.new(p, init)
    fills, nf, out = grid_simulate(grid_features(bars, p), p, c, state)
    fills = fills[:nf]
    common_invariants(bars, fills, init)
    cap = out[:, gnb.OUTPUT_NAMES.index("cap")]
    held = held_cost_after_each_fill(fills)
    in_force = cap[np.maximum(fills["bar"] - 1, 0)]  # the cap of the grid laid at the previous close
    assert (held <= in_force * (1 + TOL) + TOL).all(), "exposure cap exceeded"
    # each completed cycle: profit = (sell - buy) x qty - fees, and the kernel's running total agrees
    tcols = engine_nb.trades_from_fills_nb(fills, bars["close"].iloc[-1], len(bars) - 1)
    entry_px, exit_px, size, pnl, fees, reason = tcols[3], tcols[4], tcols[5], tcols[6], tcols[7], tcols[8]
    closed = reason != Reason.end
    np.testing.assert_allclose(pnl[closed], ((exit_px - entry_px) * size - fees)[closed], rtol=1e-9, atol=1e-9)
    assert state.hdr[0]["cycle_profit"] == np_approx(pnl[closed].sum())
    # a plain limit-to-limit cycle sells exactly one level above its buy (no gap: both at their levels)
    for t in np.flatnonzero(closed & (reason == Reason.limit)):
        f = fills[fills["trade"] == t]
        if len(f) == 2 and (f["reason"] == Reason.limit).all() and f["price"][1] > f["price"][0]:
            assert pnl[t] == np_approx((f["price"][1] - f["price"][0]) * f["size"][0] - f["fee"].sum())


def np_approx(x: float):
    import pytest

    return pytest.approx(x, rel=1e-9, abs=1e-9)


dcas = st.fixed_dictionaries({
    "entry": st.sampled_from(["downtrend", "always"]),
    "base_order_size": st.floats(0.01, 0.5),
    "max_safety_orders": st.integers(0, 8),
    "safety_order_multiplier": st.floats(1.0, 2.5),
    "price_deviation": st.floats(0.003, 0.05),
    "step_scale": st.floats(1.0, 2.0),
    "take_profit_percentage": st.floats(0.3, 8.0),
    "capital_per_sequence": st.floats(0.1, 1.0),
    "max_position": st.floats(0.1, 1.0),
    "scale_out": st.sampled_from([(), ((0.2, 0.5),), ((0.1, 0.2), (0.25, 0.3))]),
    "stop_percentage": st.sampled_from([0.0, 3.0, 10.0, 30.0]),
    "stop_reference": st.sampled_from(["first_entry", "average"]),
    "max_cycle_drawdown": st.sampled_from([0.0, 0.05, 0.3]),
    "cooldown_bars": st.integers(0, 30),
})


@SETTINGS
@given(bars=paths, kw=dcas, c=costs)
def test_dca_invariants_on_random_paths(bars, kw, c):
    p = dca_params(**kw)
    init = 10_000.0
    state = DcaState.new(p, init)
    fills, nf, out = dca_simulate(dca_features(bars, p), p, c, state)
    fills = fills[:nf]
    common_invariants(bars, fills, init)
    equity = out[:, dnb.OUTPUT_NAMES.index("equity")]
    for t in np.unique(fills["trade"]):
        f = fills[fills["trade"] == t]
        buys = f[f["side"] > 0]
        at_trigger = equity[buys["bar"][0] - 1]  # the base order is decided at the previous close
        spent = float((buys["price"] * buys["size"] + buys["fee"]).sum())
        assert spent <= p.capital_per_sequence * at_trigger * (1 + 1e-9) * (1 + c.slippage), "capital per sequence"
        cost = np.cumsum(buys["price"] * buys["size"])
        assert (cost <= p.max_position * at_trigger * (1 + 1e-9) * (1 + c.slippage)).all(), "max position"
        assert len(buys) <= 1 + p.max_safety_orders
        sold = float(f[f["side"] < 0]["size"].sum())
        assert sold <= float(buys["size"].sum()) * (1 + 1e-12)
    assert (np.diff(np.unique(fills["trade"])) == 1).all() if len(fills) else True


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bars=paths, gkw=grids, dkw=dcas, c=costs)
def test_full_pipeline_passes_every_integrity_gate(bars, gkw, dkw, c):
    g = run_order(grid_mod.SPEC, bars, grid_params(preset="low", **gkw), "15m", c, 10_000.0, first=10)
    d = run_order(dca_mod.SPEC, bars, dca_params(**dkw), "15m", c, 10_000.0, first=10)
    for r in (g, d):
        assert r.integrity["ok"], r.integrity
        assert set(r.integrity["checks"]) >= {"ledger", "cash_exposure", "fills_in_range", "no_lookahead",
                                              "vectorbt_ledger", "spot_inventory"}
