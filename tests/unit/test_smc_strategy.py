"""The SMC strategy: hand-built candle tables through the decision kernel (where the confluence fires and where
it does not), stop/target placement, mirror symmetry for shorts, the wrapper's alignment against a pandas
oracle, roles, the report overlay, and the CLI end to end on bundled BTC."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from traderagent.config.models import SmcConfig
from traderagent.data.resample import align, bars_by_timeframe
from traderagent.indicators import smc as smc_ind
from traderagent.strategies import registry
from traderagent.strategies import smc as strat
from traderagent.strategies.smc_nb import FACTOR_NAMES, smc_signals_1d_nb

# ------------------------------------------------------------------------------------- hand-built table
# A long setup on the entry timeframe. The newest confirmed swing high is bar 2 (high 106), known from bar 4.
# Price falls into the bullish zone [95, 97] (bar 6 trades into it), then bar 9 closes above 106: a CHoCH.
#        bar:    0      1      2      3      4      5     6     7      8      9      10     11
HIGH = [104.0, 105.0, 106.0, 105.0, 103.0, 101.0, 99.0, 100.0, 103.0, 107.0, 108.0, 108.0]
LOW = [102.0, 103.0, 104.0, 102.0, 100.0, 98.0, 96.5, 97.5, 99.0, 102.0, 106.0, 106.0]
CLOSE = [103.0, 104.0, 105.0, 102.5, 100.5, 98.5, 97.5, 99.5, 102.5, 106.5, 107.0, 107.0]
N = len(CLOSE)
PARAMS = dict(threshold=3, target_r=2.0, liquidity_target=True, stop_buffer_atr=0.25, max_leg=200, risk=0.02)


def table(**over) -> dict:
    """Kernel inputs (smc.INPUT_NAMES) for the long table; keyword overrides replace whole arrays."""
    nan = np.full(N, np.nan)
    x = {
        "high": np.array(HIGH), "low": np.array(LOW), "close": np.array(CLOSE), "atr": np.full(N, 2.0),
        "choch": np.zeros(N, np.int8), "sweep_high": np.zeros(N, bool), "sweep_low": np.zeros(N, bool),
        "swing_high_idx": np.array([-1] * 4 + [2] * (N - 4), dtype=np.int64),
        "swing_low_idx": np.full(N, -1, dtype=np.int64),
        "bias": np.ones(N), "structure": np.ones(N), "pd_position": np.full(N, 0.3),
        "bull_zone_top_prev": np.full(N, 97.0), "bull_zone_bottom_prev": np.full(N, 95.0),
        "bear_zone_top_prev": nan.copy(), "bear_zone_bottom_prev": nan.copy(),
        "liq_high": np.full(N, 120.0), "liq_low": nan.copy(),
    }
    x["choch"][9] = 1
    x.update(over)
    return x


def run(x: dict, **over):
    p = {**PARAMS, **over}
    out = smc_signals_1d_nb(*(x[k] for k in strat.INPUT_NAMES), p["threshold"], p["target_r"],
                            p["liquidity_target"], p["stop_buffer_atr"], p["max_leg"], p["risk"])
    return out[:7], out[7]


def factors(fac: np.ndarray, t: int, side: int = 0) -> dict:
    return dict(zip(FACTOR_NAMES, fac[t, side].tolist(), strict=True))


def test_choch_after_a_zone_tap_with_bias_and_structure_enters_long_with_stop_beyond_the_zone():
    (el, xl, es, xs, stop, target, risk), fac = run(table())
    assert np.flatnonzero(el).tolist() == [9] and not es.any() and not xl.any() and not xs.any()
    assert factors(fac, 9) == dict(bias=1, structure=1, zone=1, choch=1, sweep=0, pd=1, score=5)
    # stop: the farther of the leg's low (96.5, bar 6) and the zone's bottom (95), minus 0.25 ATR (2)
    assert stop[9] == pytest.approx(95.0 - 0.5)
    # target: 2R from the close (106.5 + 2 * 12 = 130.5); the liquidity at 120 is nearer, so 2R stands
    assert target[9] == pytest.approx(130.5)
    assert risk[9] == 0.02
    assert np.isnan(stop[:9]).all() and np.isnan(stop[10:]).all()


def test_target_extends_to_opposing_liquidity_beyond_the_r_multiple_unless_disabled():
    x = table(liq_high=np.full(N, 140.0))
    assert run(x)[0][5][9] == pytest.approx(140.0)
    assert run(x, liquidity_target=False)[0][5][9] == pytest.approx(130.5)
    assert run(x, target_r=3.0, liquidity_target=False)[0][5][9] == pytest.approx(106.5 + 3 * 12)


def test_stop_beyond_the_swing_when_the_leg_went_below_the_zone():
    low = np.array(LOW)
    low[7] = 93.0  # a wick below the zone's bottom during the leg
    (_, _, _, _, stop, _, _), _ = run(table(low=low))
    assert stop[9] == pytest.approx(93.0 - 0.5)
    (_, _, _, _, stop, _, _), _ = run(table(low=low), stop_buffer_atr=0.0)
    assert stop[9] == pytest.approx(93.0)


def test_zone_against_bias_and_structure_does_not_fire():
    (el, *_), fac = run(table(bias=np.full(N, -1.0), structure=np.full(N, -1.0)))
    assert not el.any()
    assert factors(fac, 9) == dict(bias=-1, structure=-1, zone=1, choch=1, sweep=0, pd=1, score=1)


def test_no_zone_traded_into_during_the_leg_means_no_setup():
    x = table(bull_zone_top_prev=np.full(N, 92.0), bull_zone_bottom_prev=np.full(N, 90.0))
    (el, *_), fac = run(x)
    assert not el.any() and fac[9, 0, 6] == 0  # no candidate: the score is not even computed
    # a tap before the broken swing (bar 1, before anchor 2) belongs to an earlier leg
    top, bot = np.full(N, np.nan), np.full(N, np.nan)
    top[1], bot[1] = 103.5, 102.5
    (el, *_), _ = run(table(bull_zone_top_prev=top, bull_zone_bottom_prev=bot))
    assert not el.any()
    # the same zone tapped on bar 3 (after the anchor) is inside the leg
    top[3], bot[3] = 102.5, 101.0
    (el, *_), _ = run(table(bull_zone_top_prev=top, bull_zone_bottom_prev=bot))
    assert np.flatnonzero(el).tolist() == [9]


def test_leg_older_than_max_age_is_stale():
    assert not run(table(), max_leg=6)[0][0].any()  # 9 - 2 = 7 bars
    assert run(table(), max_leg=7)[0][0][9]


def test_threshold_counts_net_agreement():
    # no bias yet (0), structure agrees (+1), price in premium (-1): 0 + 1 + 1 + 1 + 0 - 1 = 2
    x = table(bias=np.zeros(N), pd_position=np.full(N, 0.7))
    (el, *_), fac = run(x)
    assert not el.any() and fac[9, 0, 6] == 2
    assert run(x, threshold=2)[0][0][9]
    assert not run(table(), threshold=6)[0][0].any()  # score 5
    # unknown readings (NaN) count 0
    x = table(bias=np.full(N, np.nan), structure=np.full(N, np.nan), pd_position=np.full(N, np.nan))
    assert factors(run(x)[1], 9)["score"] == 2


def test_sweep_and_reclaim_inside_the_zone_is_a_trigger_and_counts_for_a_later_choch():
    sweep = np.zeros(N, bool)
    sweep[6] = True  # bar 6 took a swing low inside the zone and closed back above it
    (el, _, _, _, stop, target, _), fac = run(table(sweep_low=sweep))
    assert np.flatnonzero(el).tolist() == [6, 9]  # the engine ignores the second while the first is open
    assert factors(fac, 6) == dict(bias=1, structure=1, zone=1, choch=0, sweep=1, pd=1, score=5)
    assert stop[6] == pytest.approx(94.5) and target[6] == pytest.approx(120.0)  # 2R = 103.5 < liquidity 120
    assert factors(fac, 9)["sweep"] == 1 and factors(fac, 9)["score"] == 6


def test_no_entry_while_atr_is_unknown():
    atr = np.full(N, 2.0)
    atr[9] = np.nan
    assert not run(table(atr=atr))[0][0].any()


def mirror(x: dict, c: float = 220.0) -> dict:
    """The same table upside down: every long reading becomes the matching short one."""
    return {
        "high": c - x["low"], "low": c - x["high"], "close": c - x["close"], "atr": x["atr"],
        "choch": (-x["choch"]).astype(np.int8), "sweep_high": x["sweep_low"], "sweep_low": x["sweep_high"],
        "swing_high_idx": x["swing_low_idx"], "swing_low_idx": x["swing_high_idx"],
        "bias": -x["bias"], "structure": -x["structure"], "pd_position": 1.0 - x["pd_position"],
        "bull_zone_top_prev": c - x["bear_zone_bottom_prev"], "bull_zone_bottom_prev": c - x["bear_zone_top_prev"],
        "bear_zone_top_prev": c - x["bull_zone_bottom_prev"], "bear_zone_bottom_prev": c - x["bull_zone_top_prev"],
        "liq_high": c - x["liq_low"], "liq_low": c - x["liq_high"],
    }


@pytest.mark.parametrize("over", [{}, {"liq_high": np.full(N, 140.0)}, {"bias": np.full(N, -1.0)},
                                  {"pd_position": np.full(N, 0.7)}])
def test_shorts_mirror_longs(over):
    (el, _, _, _, stop, target, risk), fac = run(table(**over))
    (_, _, es, _, stop_s, target_s, risk_s), fac_s = run(mirror(table(**over)))
    assert np.array_equal(el, es)
    np.testing.assert_allclose(220.0 - stop, stop_s)
    np.testing.assert_allclose(220.0 - target, target_s)
    np.testing.assert_array_equal(risk, risk_s)
    np.testing.assert_array_equal(fac[:, 0], fac_s[:, 1])


def test_opposite_setups_on_one_bar_higher_score_wins_tie_does_nothing():
    sweep_high = np.zeros(N, bool)
    sweep_high[9] = True  # bar 9 also took a swing high (leg from swing low at bar 6) inside a bearish zone
    x = table(sweep_high=sweep_high, swing_low_idx=np.array([-1] * 8 + [6] * (N - 8), dtype=np.int64),
              bear_zone_top_prev=np.full(N, 108.0), bear_zone_bottom_prev=np.full(N, 106.8),
              bias=np.zeros(N), structure=np.zeros(N), pd_position=np.full(N, np.nan))
    (el, _, es, *_), fac = run(x, threshold=2)
    assert fac[9, 0, 6] == 2 and fac[9, 1, 6] == 2
    assert not el[9] and not es[9]
    (el, _, es, _, stop, _, _), _ = run({**x, "bias": np.full(N, -1.0)}, threshold=2)
    assert es[9] and not el[9] and stop[9] == pytest.approx(108.0 + 0.5)


# ------------------------------------------------------------------------------------ wrapper and data
@pytest.fixture(scope="module")
def btc_bbt(btc_15m):
    spec = registry.get("smc")
    return bars_by_timeframe(btc_15m, "15m", spec.timeframes(SmcConfig()))


def test_kernel_inputs_equal_the_pandas_oracle_through_align(btc_15m, btc_bbt):
    """Each higher-timeframe reading is smc.state on that timeframe's candles, moved onto 15m by `align`
    (completed candles only); zones are the ones known at the previous 15m bar's close."""
    p = SmcConfig()
    x = strat.kernel_inputs(btc_bbt, p)
    s = strat.settings(p)
    idx = btc_15m.index

    def oracle(tf, col, lag=0):
        st = smc_ind.state(btc_bbt[tf], s)
        return align(st[col].astype(float), tf, idx, "15m").shift(lag).to_numpy()

    np.testing.assert_array_equal(x["bias"], oracle("1d", "trend"))
    np.testing.assert_array_equal(x["structure"], oracle("4h", "trend"))
    np.testing.assert_array_equal(x["pd_position"], oracle("4h", "pd_position"))
    for col in ("bull_zone_top", "bull_zone_bottom", "bear_zone_top", "bear_zone_bottom"):
        np.testing.assert_array_equal(x[f"{col}_prev"], oracle("1h", col, lag=1))
    np.testing.assert_array_equal(x["liq_high"], oracle("1h", "liq_high"))
    m15 = smc_ind.state(btc_15m, s)
    np.testing.assert_array_equal(x["choch"], m15["choch"].to_numpy())
    # the first 1d reading appears on the 15m bar that closes at the day's end (23:45 opens, closes 00:00)
    first = int(np.flatnonzero(~np.isnan(x["bias"]))[0])
    assert idx[first].strftime("%H:%M") == "23:45"


def test_signals_on_btc_respect_the_rules(btc_15m, btc_bbt):
    p = SmcConfig()
    dec = strat.decide(btc_bbt, p)
    sig = dec.signals
    close = btc_15m["close"].to_numpy()
    years = len(close) / (96 * 365.25)
    for side, mask, d in (("long", sig.entry_long, 1), ("short", sig.entry_short, -1)):
        k = 0 if d > 0 else 1
        assert 10 * years < mask.sum() < 1000 * years, side
        assert (d * (close[mask] - sig.stop[mask]) > 0).all(), f"{side} stop on the wrong side"
        reward = d * (sig.target[mask] - close[mask])
        assert (reward >= 2.0 * d * (close[mask] - sig.stop[mask]) * (1 - 1e-12)).all(), "target below 2R"
        assert (dec.factors[mask, k, 6] >= p.confluence_threshold).all()
        assert (dec.factors[mask, k, 2] == 1).all(), "every entry needs a zone"
        assert (dec.factors[mask, k, 3] + dec.factors[mask, k, 4] >= 1).all(), "every entry needs a trigger"
        assert (sig.risk[mask] == p.risk_per_trade).all()
    off = ~(sig.entry_long | sig.entry_short)
    assert np.isnan(sig.stop[off]).all() and np.isnan(sig.target[off]).all()
    assert not sig.exit_long.any() and not sig.exit_short.any()
    frame = strat.factor_frame(btc_bbt, p)
    assert list(frame.columns[:7]) == [f"long_{f}" for f in FACTOR_NAMES] and frame.index.equals(btc_15m.index)


def test_roles_collapse_onto_the_longest_timeframe(walk):
    p = SmcConfig(timeframes=["H4", "M15"])
    assert p.roles == {"entry": "15m", "zone": "4h", "structure": "4h", "bias": "4h"}
    assert strat.strategy_timeframes(p) == ("15m", "4h")
    assert SmcConfig(timeframes=["4h", "1h", "15m"]).roles["zone"] == "1h"
    bars = walk(3000, seed=5)
    sig = strat.signals(bars_by_timeframe(bars, "15m", ["4h"]), p)
    assert len(sig.stop) == 3000
    assert strat.warmup_bars(SmcConfig()) >= 30 * 10 * 96  # D1 structure memory, in 15m bars


def test_partial_first_higher_timeframe_candle_is_dropped(btc_15m):
    p = SmcConfig()
    cut = btc_15m.iloc[37:5000]  # starts at 09:15: the first 1h/4h/1d candles are partial
    bbt = bars_by_timeframe(cut, "15m", strat.strategy_timeframes(p))
    states = strat.timeframe_states(bbt, p)
    assert states["1d"][0][0] == pd.Timestamp("2023-01-02", tz="UTC")
    assert states["1h"][0][0] == pd.Timestamp("2023-01-01 10:00", tz="UTC")
    assert states["15m"][0][0] == cut.index[0]


def test_overlay_draws_zones_breaks_and_sweeps_known_at_their_time(btc_bbt):
    from plotly.subplots import make_subplots

    from traderagent.report import smc_overlay

    until = btc_bbt["15m"].index[-1] + pd.Timedelta("15min")
    from traderagent.strategies import smc as smc_strategy

    data = smc_strategy.chart_data(btc_bbt, SmcConfig(), until, days=30)
    z, b, sw = data["zones"], data["breaks"], data["sweeps"]
    assert len(z) and len(b) and len(sw)
    assert (z["top"] > z["bottom"]).all() and (z["start"] <= z["end"]).all() and (z["end"] <= until).all()
    assert (z["start"].dt.minute == 0).all(), "1h zones appear at an hour's close"
    assert (b["swing"] < b["time"]).all() and set(b["kind"]) <= {"bos", "choch"}
    assert (sw["time"] >= data["since"]).all()
    fig = make_subplots(rows=1, cols=1)
    for draw in smc_overlay.figure_overlays(data, 30):
        draw(fig, 1)
    names = [t.name for t in fig.data]
    assert any("OB/FVG" in n for n in names) and any("CHOCH" in n or "BOS" in n for n in names)
    assert any("swept" in n for n in names)


def test_cli_backtest_json_on_btc_trades_with_integrity(capsys):
    from traderagent.cli import main
    from traderagent.data.sample import sample_path

    code = main(["backtest", "--strategy", "smc", "--data", str(sample_path("BTC_USDT-15m.csv.gz")),
                 "--json", "--report", "none"])
    assert code == 0
    js = json.loads(capsys.readouterr().out)
    assert js["strategy"] == "smc" and js["timeframe"] == "15m"
    assert js["integrity"]["ok"] is True
    assert js["stats"]["trades"] > 0 and len(js["trades"]) == js["stats"]["trades"]
    assert js["params"]["confluence_threshold"] == 3


@pytest.mark.parametrize("break_on", ["close", "wick"])
def test_entry_state_equals_the_full_primitives(btc_15m, break_on):
    s = strat.settings(SmcConfig(break_on=break_on))
    ohlc = [btc_15m[c].to_numpy() for c in ("open", "high", "low", "close")]
    full = smc_ind.compute_arrays(*ohlc, s)[0]
    part = strat.entry_state(*ohlc, s)
    assert set(part) == set(strat.ENTRY_COLUMNS)
    for col in strat.ENTRY_COLUMNS:
        np.testing.assert_array_equal(part[col], full[col], err_msg=col)
    assert part["choch"].any() and part["sweep_low"].any()
