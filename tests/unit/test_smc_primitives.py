"""SMC primitives: a hand-checked candle table, independent oracles (pandas / brute force), and real data."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from traderagent.errors import ConfigError, DataError
from traderagent.indicators import smc, smc_nb

# -- a 12-bar table worked out by hand with swing_length=1 (derivations in the comments) ----------------
#        open   high   low    close
TABLE = [
    (10.0, 11.0, 9.0, 10.5),  # 0
    (10.5, 12.0, 10.0, 11.5),  # 1
    (11.5, 13.0, 11.0, 12.5),  # 2  swing high 13.0 (12 < 13 >= 12.8), confirmed at 3
    (12.5, 12.8, 11.5, 11.8),  # 3  bearish
    (11.8, 12.0, 10.5, 10.8),  # 4  bearish; swing low 10.5 (11.5 > 10.5 <= 10.7), confirmed at 5
    (10.8, 12.5, 10.7, 12.4),  # 5  bullish middle candle: FVG up, high[4]=12 < low[6]=12.3
    (12.4, 13.6, 12.3, 13.5),  # 6  close 13.5 > 13.0: bullish BOS of swing 2; OB = bar 4 [10.5, 12]
    (13.5, 13.55, 12.0, 12.2),  # 7  bearish; confirms swing high 13.6 at bar 6
    (12.2, 12.4, 10.0, 10.2),  # 8  close 10.2 < 10.5: bearish CHoCH of swing 4; OB = bar 6 [12.3, 13.6]
    (10.2, 10.8, 10.1, 10.6),  # 9  confirms swing low 10.0 at 8; bearish FVG at 8: low[7]=12 > high[9]=10.8
    (10.6, 13.8, 10.5, 13.4),  # 10 high 13.8 > 13.6 but close 13.4 < 13.6: sweep of swing high 6
    (13.4, 13.55, 12.9, 13.0),  # 11 confirms swing high 13.8 at 10; bullish FVG at 10: high[9] < low[11]
]


def table() -> pd.DataFrame:
    idx = pd.date_range("2024-01-01", periods=len(TABLE), freq="15min", tz="UTC", name="timestamp")
    return pd.DataFrame(TABLE, columns=["open", "high", "low", "close"], index=idx).assign(volume=1.0)


def rows(ev: pd.DataFrame, *cols: str) -> list[tuple]:
    return [tuple(r) for r in ev[list(cols)].itertuples(index=False)]


def test_table_swings():
    ev = smc.swings(table(), swing_length=1)
    assert rows(ev, "kind", "anchor_idx", "confirm_idx", "level") == [
        ("swing_high", 2, 3, 13.0),
        ("swing_low", 4, 5, 10.5),
        ("swing_high", 6, 7, 13.6),
        ("swing_low", 8, 9, 10.0),
        ("swing_high", 10, 11, 13.8),
    ]
    st = smc.state(table(), swing_length=1)
    assert st["swing_high"].iloc[:3].isna().all()
    assert st["swing_high"].iloc[3:].tolist() == [13.0] * 4 + [13.6] * 4 + [13.8]
    assert st["swing_high_idx"].tolist() == [-1, -1, -1, 2, 2, 2, 2, 6, 6, 6, 6, 10]
    assert st["swing_low_idx"].tolist() == [-1] * 5 + [4] * 4 + [8] * 3


def test_table_structure_by_close_and_by_wick():
    ev = smc.structure(table(), swing_length=1)
    assert rows(ev, "kind", "direction", "anchor_idx", "confirm_idx", "level") == [
        ("bos", 1, 2, 6, 13.0),
        ("choch", -1, 4, 8, 10.5),
    ]
    st = smc.state(table(), swing_length=1)
    assert st["trend"].tolist() == [0] * 6 + [1, 1] + [-1] * 4
    assert st["bos"].tolist() == [0] * 6 + [1] + [0] * 5
    assert st["choch"].tolist() == [0] * 8 + [-1] + [0] * 3
    wick = smc.structure(table(), swing_length=1, break_on="wick")
    # by wick bar 10 (high 13.8 > 13.6) breaks swing 6 against the bearish trend
    assert rows(wick, "kind", "direction", "anchor_idx", "confirm_idx") == [
        ("bos", 1, 2, 6), ("choch", -1, 4, 8), ("choch", 1, 6, 10)
    ]


@pytest.mark.parametrize(
    "mode, bull_mitigated, bear_mitigated",
    [("close", 8, -1), ("wick", 8, 10), ("touch", 7, 10)],
)
def test_table_order_blocks_and_mitigation(mode, bull_mitigated, bear_mitigated):
    ev = smc.order_blocks(table(), swing_length=1, ob_mitigation=mode)
    assert rows(ev, "direction", "anchor_idx", "confirm_idx", "top", "bottom", "mitigated_idx") == [
        (1, 4, 6, 12.0, 10.5, bull_mitigated),
        (-1, 6, 8, 13.6, 12.3, bear_mitigated),
    ]
    st = smc.state(table(), swing_length=1, ob_mitigation=mode)
    active_bull = (np.arange(12) >= 6) & ((np.arange(12) < bull_mitigated) | (bull_mitigated < 0))
    assert (st["n_bull_ob"].to_numpy() == active_bull).all()
    assert st["bull_ob_top"].to_numpy()[active_bull].tolist() == [12.0] * int(active_bull.sum())


@pytest.mark.parametrize("mode, bull_mitigated", [("close", 8), ("wick", 8), ("touch", 7)])
def test_table_fvgs(mode, bull_mitigated):
    ev = smc.fair_value_gaps(table(), swing_length=1, fvg_mitigation=mode)
    assert rows(ev, "direction", "anchor_idx", "confirm_idx", "top", "bottom", "mitigated_idx") == [
        (1, 5, 6, 12.3, 12.0, bull_mitigated),
        (-1, 8, 9, 12.0, 10.8, 10),
        (1, 10, 11, 12.9, 10.8, -1),
    ]
    st = smc.state(table(), swing_length=1, fvg_mitigation=mode)
    assert st["bear_fvg_top"].iloc[9] == 12.0 and np.isnan(st["bear_fvg_top"].iloc[10])


def test_table_liquidity_and_premium_discount():
    st = smc.state(table(), swing_length=1)
    assert st["sweep_high"].tolist() == [False] * 10 + [True, False]
    assert st["sweep_high_level"].iloc[10] == 13.6
    assert not st["sweep_low"].any()  # bar 8 took the 10.5 low but closed below it: a break, not a sweep
    ev = smc.liquidity(table(), swing_length=1)
    assert rows(ev, "kind", "anchor_idx", "confirm_idx", "level") == [("sweep_high", 6, 10, 13.6)]
    # bar 9: range from swing high 6 (13.6) and swing low 8 (10.0); bar 10 extends the top to 13.8
    assert st["range_high"].iloc[9] == 13.6 and st["range_low"].iloc[9] == 10.0
    assert st["pd_position"].iloc[9] == pytest.approx((10.6 - 10.0) / 3.6)
    assert st["pd_position"].iloc[10] == pytest.approx((13.4 - 10.0) / 3.8)
    assert st["pd_position"].iloc[:5].isna().all()


def test_equal_highs_pair_and_its_sweep():
    # swing highs 100.0 (bar 2) and 100.05 (bar 6) are equal within 0.1%; bar 6 pokes 100.0 (a sweep of the
    # single high), the pair's pool is 100.05; bar 9 wicks to 100.2 and closes 99.5: a sweep of equal highs.
    # lows 97 at bars 4 and 8 are an exact equal-lows pair.
    hi = [98, 99, 100.0, 99, 98, 99, 100.05, 99, 98, 100.2, 99]
    lo = [h - 1.0 for h in hi]
    cl = [h - 0.45 for h in hi]
    cl[9] = 99.5
    idx = pd.date_range("2024-01-01", periods=len(hi), freq="1h", tz="UTC")
    df = pd.DataFrame({"open": cl, "high": hi, "low": lo, "close": cl}, index=idx)
    ev = smc.liquidity(df, swing_length=1, eq_tolerance=0.001)
    assert rows(ev, "kind", "anchor_idx", "confirm_idx", "ref_idx", "level", "equal") == [
        ("sweep_high", 2, 6, -1, 100.0, False),
        ("equal_highs", 6, 7, 2, 100.05, True),
        ("sweep_high", 6, 9, -1, 100.05, True),
        ("equal_lows", 8, 9, 4, 97.0, True),
    ]
    st = smc.state(df, swing_length=1, eq_tolerance=0.001)
    assert np.isnan(st["eqh"].iloc[6]) and st["eqh"].iloc[7] == 100.05 and np.isnan(st["eqh"].iloc[9])
    assert st["sweep_high_level"].iloc[9] == 100.05 and st["sweep_high_eq"].iloc[9]
    assert st["sweep_high"].iloc[6] and not st["sweep_high_eq"].iloc[6]
    assert st["eql"].iloc[9] == 97.0 and np.isnan(st["eql"].iloc[8])
    assert smc.liquidity(df, swing_length=1, eq_tolerance=0.0001).query("kind == 'equal_highs'").empty


# -- oracles on random walks (mechanics) and real candles ---------------------------------------------


def swing_oracle(high: pd.Series, low: pd.Series, L: int) -> tuple[np.ndarray, np.ndarray]:
    left_max = high.shift(1).rolling(L, min_periods=L).max()
    right_max = high[::-1].shift(1).rolling(L, min_periods=L).max()[::-1]
    left_min = low.shift(1).rolling(L, min_periods=L).min()
    right_min = low[::-1].shift(1).rolling(L, min_periods=L).min()[::-1]
    return ((high > left_max) & (high >= right_max)).to_numpy(), ((low < left_min) & (low <= right_min)).to_numpy()


@pytest.mark.parametrize("L", [1, 3, 10])
def test_swings_match_rolling_window_oracle(btc_15m, L):
    df = btc_15m.iloc[:20000]
    sh, sl = smc_nb.find_swings_1d_nb(df["high"].to_numpy(), df["low"].to_numpy(), L, L)
    exp_h, exp_l = swing_oracle(df["high"], df["low"], L)
    assert (sh == exp_h).all() and (sl == exp_l).all()
    assert sh.sum() > 100 and sl.sum() > 100


def structure_oracle(df: pd.DataFrame, L: int) -> list[tuple]:
    """Each swing is watched from its confirmation until the next same-side swing is confirmed; its first
    close beyond it in that window is a break; BOS/CHoCH follows from the previous break's direction."""
    c = df["close"].to_numpy()
    sh, sl = swing_oracle(df["high"], df["low"], L)
    breaks = []
    for flags, price, d in ((sh, df["high"].to_numpy(), 1), (sl, df["low"].to_numpy(), -1)):
        anchors = np.flatnonzero(flags)
        for k, a in enumerate(anchors):
            end = anchors[k + 1] + L if k + 1 < len(anchors) else len(c)
            hit = np.flatnonzero(d * (c[a + L:end] - price[a]) > 0)
            if hit.size:
                breaks.append((a + L + hit[0], d, a, price[a]))
    out, trend = [], 0
    for t, d, a, level in sorted(breaks, key=lambda b: (b[0], -b[1])):
        out.append(("choch" if trend == -d else "bos", d, a, t, level))
        trend = d
    return out


def test_structure_matches_oracle_on_real_candles(btc_15m):
    df = btc_15m.iloc[:30000]
    ev = smc.structure(df, swing_length=5)
    got = [(k, d, a, t, lv) for k, d, a, t, lv in rows(ev, "kind", "direction", "anchor_idx", "confirm_idx", "level")]
    assert sorted(got, key=lambda r: (r[3], -r[1])) == structure_oracle(df, 5)
    assert len(got) > 300


def ob_oracle(df: pd.DataFrame, brk: pd.DataFrame) -> list[tuple]:
    o, h, lo, c = (df[k].to_numpy() for k in ("open", "high", "low", "close"))
    out, used = [], set()
    for d, a, t in brk[["direction", "anchor_idx", "confirm_idx"]].itertuples(index=False):
        seg = np.arange(a + 1, t)
        ext_vals = lo[seg] if d > 0 else -h[seg]
        m = seg[np.flatnonzero(ext_vals == ext_vals.min())[-1]]
        opp = [i for i in range(m, a, -1) if (c[i] < o[i] if d > 0 else c[i] > o[i])]
        if opp and (d, opp[0]) not in used:
            used.add((d, opp[0]))
            out.append((d, opp[0], t, h[opp[0]], lo[opp[0]]))
    return out


def test_order_blocks_match_oracle(btc_15m):
    df = btc_15m.iloc[:30000]
    brk = smc.structure(df, swing_length=5)
    ev = smc.order_blocks(df, swing_length=5)
    got = rows(ev.sort_values(["confirm_idx", "direction"], ascending=[True, False]),
               "direction", "anchor_idx", "confirm_idx", "top", "bottom")
    assert got == ob_oracle(df, brk.sort_values(["confirm_idx", "direction"], ascending=[True, False]))
    assert len(got) > 0.8 * len(brk)


def test_fvgs_match_shift_oracle(btc_15m):
    df = btc_15m.iloc[:30000]
    ev = smc.fair_value_gaps(df)
    h, lo, o, c = df["high"], df["low"], df["open"], df["close"]
    bull = (h.shift(1) < lo.shift(-1)) & (c > o)
    bear = (lo.shift(1) > h.shift(-1)) & (c < o)
    exp = np.flatnonzero((bull | bear).to_numpy())
    assert ev["anchor_idx"].tolist() == exp.tolist()
    assert (ev["confirm_idx"] == ev["anchor_idx"] + 1).all()
    top = np.where(bull, lo.shift(-1), lo.shift(1))[exp]
    bottom = np.where(bull, h.shift(1), h.shift(-1))[exp]
    assert np.array_equal(ev["top"].to_numpy(), top) and np.array_equal(ev["bottom"].to_numpy(), bottom)
    big = smc.fair_value_gaps(df, fvg_min_size=0.002)
    assert 0 < len(big) < len(ev) and ((big.top - big.bottom) >= 0.002 * df.close.to_numpy()[big.confirm_idx]).all()


MITIGATES = {  # (direction, mode) -> does bar (h, l, c) mitigate zone (top, bottom)
    (1, "touch"): lambda top, bot, h, lo, c: lo <= top,
    (1, "wick"): lambda top, bot, h, lo, c: lo < bot,
    (1, "close"): lambda top, bot, h, lo, c: c < bot,
    (-1, "touch"): lambda top, bot, h, lo, c: h >= bot,
    (-1, "wick"): lambda top, bot, h, lo, c: h > top,
    (-1, "close"): lambda top, bot, h, lo, c: c > top,
}


def zone_oracle(h, lo, c, zones, mode, max_age=0):
    """Brute force: first bar after confirmation (and before expiry) that mitigates, then the nearest
    active zone per bar."""
    mit, end = [], []
    for _a, cf, d, top, bot in zones:
        hit = MITIGATES[(d, mode)]
        stop = min(len(c), cf + max_age) if max_age else len(c)
        mit.append(next((s for s in range(cf + 1, stop) if hit(top, bot, h[s], lo[s], c[s])), -1))
        end.append(mit[-1] if mit[-1] >= 0 else stop)
    bull_top = np.full(len(c), np.nan)
    bear_bottom = np.full(len(c), np.nan)
    n_bull = np.zeros(len(c), dtype=int)
    for t in range(len(c)):
        act = [(z[3], z[4], z[0], z[2]) for z, e in zip(zones, end, strict=True) if z[1] <= t < e]
        bulls = [(top, a) for top, _, a, d in act if d > 0]
        bears = [(-bot, a) for _, bot, a, d in act if d < 0]
        n_bull[t] = len(bulls)
        if bulls:
            bull_top[t] = max(bulls)[0]
        if bears:
            bear_bottom[t] = -max(bears)[0]
    return np.array(mit), bull_top, bear_bottom, n_bull


@pytest.mark.parametrize("max_age", [0, 40])
@pytest.mark.parametrize("mode", ["touch", "wick", "close"])
def test_zone_tracking_matches_brute_force(walk, mode, max_age):
    df = walk(800, seed=3)
    h, lo, c, o = (df[k].to_numpy() for k in ("high", "low", "close", "open"))
    zones = smc_nb.detect_fvg_1d_nb(o, h, lo, c, 0.0)
    got = smc_nb.track_zones_1d_nb(h, lo, c, *zones, getattr(smc_nb.Mitigation, mode), max_age)
    mit, bull_top, bear_bottom, n_bull = zone_oracle(h, lo, c, list(zip(*zones, strict=True)), mode, max_age)
    assert np.array_equal(got[0], mit)
    assert np.array_equal(got[1], bull_top, equal_nan=True)
    assert np.array_equal(got[6], bear_bottom, equal_nan=True)
    assert np.array_equal(got[4], n_bull)
    assert (mit[mit >= 0] > zones[1][mit >= 0]).all() and len(zones[0]) > 50


def liquidity_oracle(df: pd.DataFrame, L: int, tol: float, max_age: int = 0):
    h, lo, c = (df[k].to_numpy() for k in ("high", "low", "close"))
    sh, sl = swing_oracle(df["high"], df["low"], L)
    live = {1: [], -1: []}  # entries [level, anchor, equal]
    taken = {1: [], -1: []}  # (bar, entry)
    sweeps, pairs, liq_high, eqh, eql = [], [], [], [], []
    for t in range(len(c)):
        for d in (1, -1):
            live[d] = [x for x in live[d] if not max_age or x[1] + L + max_age > t]
        for d, px in ((1, h[t]), (-1, lo[t])):
            for e in [x for x in live[d] if d * (px - x[0]) > 0]:
                live[d].remove(e)
                taken[d].append((t, e))
                if d * (c[t] - e[0]) < 0:
                    sweeps.append((d, e[1], t, e[0], e[2]))
        a = t - L
        for d, flags, price in ((1, sh, h), (-1, sl, lo)):
            if a >= 0 and flags[a]:
                new = [price[a], a, False]
                cands = live[d] + [e for b, e in taken[d] if b >= a]
                near = [x for x in cands if abs(x[0] - price[a]) <= tol * price[a]]
                live[d].append(new)
                if near:
                    ref = max(near, key=lambda x: x[1])
                    pairs.append((d, a, t, ref[1]))
                    for e, other in ((ref, new), (new, ref)):
                        if d * (e[0] - other[0]) >= 0 and any(e is x for x in live[d]):
                            e[2] = True
        liq_high.append(min((x[0] for x in live[1]), default=np.nan))
        eqh.append(min((x[0] for x in live[1] if x[2]), default=np.nan))
        eql.append(max((x[0] for x in live[-1] if x[2]), default=np.nan))
    return sorted(sweeps), sorted(pairs), np.array(liq_high), np.array(eqh), np.array(eql)


@pytest.mark.parametrize("max_age", [0, 200])
def test_liquidity_matches_brute_force(btc_15m, max_age):
    df = btc_15m.iloc[:8000]
    ev = smc.liquidity(df, swing_length=3, eq_tolerance=0.0005, max_age=max_age)
    st = smc.state(df, swing_length=3, eq_tolerance=0.0005, max_age=max_age)
    sweeps, pairs, liq_high, eqh, eql = liquidity_oracle(df, 3, 0.0005, max_age)
    sw = ev[ev.kind.str.startswith("sweep")]
    assert sorted(rows(sw, "direction", "anchor_idx", "confirm_idx", "level", "equal")) == sweeps
    eq = ev[ev.kind.str.startswith("equal")]
    assert sorted(rows(eq, "direction", "anchor_idx", "confirm_idx", "ref_idx")) == pairs
    assert np.array_equal(st["liq_high"].to_numpy(), liq_high, equal_nan=True)
    assert np.array_equal(st["eqh"].to_numpy(), eqh, equal_nan=True)
    assert np.array_equal(st["eql"].to_numpy(), eql, equal_nan=True)
    assert len(sweeps) > 50 and len(pairs) > 20


def test_premium_discount_matches_oracle(btc_15m):
    df = btc_15m.iloc[:5000]
    st = smc.state(df, swing_length=5)
    h, lo, c = (df[k].to_numpy() for k in ("high", "low", "close"))
    for t in range(0, len(df), 7):
        a_h, a_l = st["swing_high_idx"].iloc[t], st["swing_low_idx"].iloc[t]
        if a_h < 0 or a_l < 0:
            assert np.isnan(st["pd_position"].iloc[t])
            continue
        top, bot = h[a_h:t + 1].max(), lo[a_l:t + 1].min()
        assert st["range_high"].iloc[t] == top and st["range_low"].iloc[t] == bot
        assert st["pd_position"].iloc[t] == pytest.approx((c[t] - bot) / (top - bot))
    assert st["pd_position"].between(0, 1).sum() == st["pd_position"].notna().sum() > 4900


def test_displacement_filter_uses_atr(btc_15m):
    df = btc_15m.iloc[:20000]
    every = smc.order_blocks(df)
    strong = smc.order_blocks(df, displacement_atr=1.0)
    assert 0 < len(strong) < len(every)
    assert set(strong["confirm_idx"]) <= set(every["confirm_idx"])
    from traderagent.indicators.nb import atr_1d_nb

    atr = atr_1d_nb(df.high.to_numpy(), df.low.to_numpy(), df.close.to_numpy(), 14)
    body = (df.close.to_numpy() - df.open.to_numpy())[strong.confirm_idx] * strong.direction.to_numpy()
    assert (body >= atr[strong.confirm_idx]).all()
    assert smc.order_blocks(df, displacement_atr=1000.0).empty


# -- the event frame and the errors a user sees ---------------------------------------------------------

DELAY = {"swing_high": 5, "swing_low": 5, "equal_highs": 5, "equal_lows": 5, "fvg": 1,
         "bos": 6, "choch": 6, "sweep_high": 6, "sweep_low": 6, "order_block": 1}


def test_event_frame_on_real_candles(eth_15m):
    df = eth_15m.iloc[:20000]
    ev = smc.events(df)
    assert list(ev.columns) == list(smc.EVENT_COLUMNS)
    assert set(ev["kind"]) == set(smc.EVENT_KINDS)
    delay = ev["confirm_idx"] - ev["anchor_idx"]
    exact = ev["kind"].isin(["swing_high", "swing_low", "equal_highs", "equal_lows", "fvg"])
    assert (delay[exact] == ev["kind"][exact].map(DELAY)).all()
    assert (delay >= ev["kind"].map(DELAY)).all()
    assert (ev["anchor_time"] == df.index[ev["anchor_idx"]]).all()
    assert (ev["confirm_time"] == df.index[ev["confirm_idx"]]).all()
    zones = ev[ev.kind.isin(["order_block", "fvg"])]
    done = zones[zones.mitigated_idx >= 0]
    assert (done["mitigated_idx"] > done["confirm_idx"]).all()
    assert (done["mitigated_time"] == df.index[done["mitigated_idx"]]).all()
    assert zones.loc[zones.mitigated_idx < 0, "mitigated_time"].isna().all()
    assert (zones["top"] > zones["bottom"]).all()
    assert ev["confirm_idx"].is_monotonic_increasing


def test_state_columns_and_index(btc_15m):
    df = btc_15m.iloc[:3000]
    st = smc.state(df)
    assert list(st.columns) == list(smc.STATE_COLUMNS) and st.index.equals(df.index)
    assert set(np.unique(st["trend"])) <= {-1, 0, 1}


def test_combined_zone_is_the_nearer_of_ob_and_fvg(btc_15m):
    st = smc.state(btc_15m.iloc[:20000])
    ob, fvg, zone = st["bull_ob_top"], st["bull_fvg_top"], st["bull_zone_top"]
    assert zone.equals(pd.concat([ob, fvg], axis=1).max(axis=1).rename("bull_zone_top"))
    from_fvg = fvg.notna() & ~(fvg <= ob)
    assert (st["bull_zone_bottom"][from_fvg] == st["bull_fvg_bottom"][from_fvg]).all()
    assert (st["bull_zone_bottom"][~from_fvg].fillna(-1) == st["bull_ob_bottom"][~from_fvg].fillna(-1)).all()
    bear = pd.concat([st["bear_ob_bottom"], st["bear_fvg_bottom"]], axis=1).min(axis=1)
    assert st["bear_zone_bottom"].equals(bear.rename("bear_zone_bottom"))
    assert from_fvg.any() and (~from_fvg & ob.notna()).any()


def test_bad_settings_and_bad_candles_name_the_problem(btc_15m):
    with pytest.raises(ConfigError, match="ob_mitigation='body'.*'touch', 'wick' or 'close'"):
        smc.SMCSettings(ob_mitigation="body")
    with pytest.raises(ConfigError, match="swing_length=0"):
        smc.state(btc_15m.iloc[:50], swing_length=0)
    with pytest.raises(ConfigError, match="unknown smc setting 'swing_len'"):
        smc.events(btc_15m.iloc[:50], swing_len=3)
    bad = btc_15m.iloc[:50].copy()
    bad.iloc[7, bad.columns.get_loc("low")] = np.nan
    with pytest.raises(DataError, match=f"column low .* at row {re.escape(str(bad.index[7]))}"):
        smc.state(bad)
    with pytest.raises(DataError, match="missing close"):
        smc.state(bad.drop(columns="close"))


def test_tiny_inputs_give_empty_events():
    df = table().iloc[:2]
    assert smc.events(df).empty and len(smc.state(df)) == 2
    assert smc.events(table().iloc[:0]).empty


def test_max_age_expires_zones_unmitigated():
    # close rule: the bullish OB (confirmed at 6) would be mitigated at 8; with max_age=2 it expires at 8 first
    st = smc.state(table(), swing_length=1, max_age=2)
    assert st["n_bull_ob"].tolist() == [0] * 6 + [1, 1] + [0] * 4
    ev = smc.order_blocks(table(), swing_length=1, max_age=2)
    assert ev["mitigated_idx"].tolist() == [-1, -1]
    assert smc.order_blocks(table(), swing_length=1, max_age=3)["mitigated_idx"].tolist() == [8, -1]
    with pytest.raises(ConfigError, match="max_age=-1"):
        smc.SMCSettings(max_age=-1)
