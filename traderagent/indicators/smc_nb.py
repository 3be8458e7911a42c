"""Smart Money Concepts primitives as causal numba kernels (arrays in, arrays out).

Every event has an anchor index (the bar it describes) and a confirmation index (the first bar at whose
close it is knowable). Every per-bar ("as of t") output at t is computed from bars 0..t only, so running a
kernel on `data[:t+1]` gives the same value at t as running it on the full data (tested on random cuts).

Rule delays (confirmation - anchor):
  swing            = `right` (the fractal's right-hand window)
  fair value gap   = 1 (anchored at the middle candle, confirmed by the third)
  BOS / CHoCH      >= right + 1 (anchored at the broken swing, confirmed at the breaking bar)
  order block      >= 1 (anchored at the OB candle, confirmed at the breaking bar)
  equal high / low = right (anchored at the second swing, confirmed with it)
  sweep            >= right + 1 (anchored at the swept swing, confirmed at the sweeping bar)
Zone mitigation at bar s is decided from bar s alone, for s > confirmation.

Definitions are documented beside each kernel and in docs/smc.md.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit


class MitigationT(NamedTuple):
    touch: int  # a wick reaches the zone's near edge (bullish: low <= top; bearish: high >= bottom)
    wick: int  # a wick goes strictly beyond the far edge (bullish: low < bottom; bearish: high > top)
    close: int  # a close strictly beyond the far edge (bullish: close < bottom; bearish: close > top)


Mitigation = MitigationT(0, 1, 2)


class BreakOnT(NamedTuple):
    close: int  # a break needs the close strictly beyond the swing level
    wick: int  # a break needs the high (low) strictly beyond the swing level


BreakOn = BreakOnT(0, 1)


class StructureKindT(NamedTuple):
    bos: int
    choch: int


StructureKind = StructureKindT(1, 2)


@njit(cache=True)
def find_swings_1d_nb(high, low, left, right):
    """Fractal swings (Williams fractal, ties to the first bar): confirmed at anchor + right.

    Swing high at i: high[i] > max(high[i-left:i]) and high[i] >= max(high[i+1:i+right+1]).
    Swing low at i:  low[i]  < min(low[i-left:i])  and low[i]  <= min(low[i+1:i+right+1]).
    Bars without a full window on both sides are never swings. Returns bool arrays at anchor positions.
    """
    n = high.shape[0]
    is_sh = np.zeros(n, dtype=np.bool_)
    is_sl = np.zeros(n, dtype=np.bool_)
    for i in range(left, n - right):
        h = high[i]
        lo = low[i]
        ok_h = True
        ok_l = True
        for j in range(i - left, i):
            if high[j] >= h:
                ok_h = False
            if low[j] <= lo:
                ok_l = False
        for j in range(i + 1, i + right + 1):
            if high[j] > h:
                ok_h = False
            if low[j] < lo:
                ok_l = False
        is_sh[i] = ok_h
        is_sl[i] = ok_l
    return is_sh, is_sl


@njit(cache=True)
def last_swings_1d_nb(high, low, is_sh, is_sl, right):
    """As-of swings: price and anchor of the newest swing high/low whose confirmation (anchor + right) <= t.

    Returns (sh_level, sh_idx, sl_level, sl_idx); NaN / -1 before the first confirmed swing.
    """
    n = high.shape[0]
    sh_level = np.full(n, np.nan)
    sl_level = np.full(n, np.nan)
    sh_idx = np.full(n, -1, dtype=np.int64)
    sl_idx = np.full(n, -1, dtype=np.int64)
    cur_h = np.nan
    cur_l = np.nan
    cur_hi = -1
    cur_li = -1
    for t in range(n):
        a = t - right
        if a >= 0:
            if is_sh[a]:
                cur_h = high[a]
                cur_hi = a
            if is_sl[a]:
                cur_l = low[a]
                cur_li = a
        sh_level[t] = cur_h
        sh_idx[t] = cur_hi
        sl_level[t] = cur_l
        sl_idx[t] = cur_li
    return sh_level, sh_idx, sl_level, sl_idx


@njit(cache=True)
def detect_structure_1d_nb(high, low, close, is_sh, is_sl, right, break_on):
    """BOS / CHoCH (LuxAlgo-style market structure): breaks of the newest confirmed swing, by close or wick.

    The watched swing high is the newest confirmed one (confirmed at anchor + right); it is broken at the
    first later bar t with close[t] (or high[t] if break_on == wick) strictly above it, and then stops being
    watched. A bullish break is a CHoCH when the trend before it was bearish, otherwise a BOS (the first break
    in the data is a BOS); the trend becomes +1. Mirror for bearish breaks of swing lows.

    Per-bar: trend[t] (+1/-1/0 after bar t), bos[t] and choch[t] (+1/-1 on the breaking bar, else 0),
    break_level[t] (the broken level, NaN elsewhere).
    Events (in confirmation order): anchor (broken swing), confirm (breaking bar), direction, kind
    (StructureKind), level.
    """
    n = close.shape[0]
    trend = np.zeros(n, dtype=np.int8)
    bos = np.zeros(n, dtype=np.int8)
    choch = np.zeros(n, dtype=np.int8)
    break_level = np.full(n, np.nan)
    ev_anchor = np.empty(n, dtype=np.int64)
    ev_confirm = np.empty(n, dtype=np.int64)
    ev_dir = np.empty(n, dtype=np.int8)
    ev_kind = np.empty(n, dtype=np.int8)
    ev_level = np.empty(n)
    m = 0
    sh_level = 0.0
    sl_level = 0.0
    sh_idx = -1
    sl_idx = -1
    cur = 0
    for t in range(n):
        a = t - right
        if a >= 0:
            if is_sh[a]:
                sh_level = high[a]
                sh_idx = a
            if is_sl[a]:
                sl_level = low[a]
                sl_idx = a
        up = high[t] if break_on == BreakOn.wick else close[t]
        dn = low[t] if break_on == BreakOn.wick else close[t]
        if sh_idx >= 0 and up > sh_level:
            kind = StructureKind.choch if cur == -1 else StructureKind.bos
            if kind == StructureKind.choch:
                choch[t] = 1
            else:
                bos[t] = 1
            break_level[t] = sh_level
            ev_anchor[m] = sh_idx
            ev_confirm[m] = t
            ev_dir[m] = 1
            ev_kind[m] = kind
            ev_level[m] = sh_level
            m += 1
            cur = 1
            sh_idx = -1
        if sl_idx >= 0 and dn < sl_level:
            kind = StructureKind.choch if cur == 1 else StructureKind.bos
            if kind == StructureKind.choch:
                choch[t] = -1
            else:
                bos[t] = -1
            break_level[t] = sl_level
            ev_anchor[m] = sl_idx
            ev_confirm[m] = t
            ev_dir[m] = -1
            ev_kind[m] = kind
            ev_level[m] = sl_level
            m += 1
            cur = -1
            sl_idx = -1
        trend[t] = cur
    return (trend, bos, choch, break_level,
            ev_anchor[:m], ev_confirm[:m], ev_dir[:m], ev_kind[:m], ev_level[:m])


@njit(cache=True)
def detect_order_blocks_1d_nb(open_, high, low, close, brk_anchor, brk_confirm, brk_dir, atr, displacement_atr):
    """Order blocks: the last opposite candle at or before the leg's extreme, for each structure break.

    For a bullish break at bar t of the swing high anchored at a: m = the lowest low in [a+1, t-1] (last bar on
    ties); the OB is the last bearish candle (close < open) in [a+1, m], zone [low, high] of that candle.
    Mirror for bearish breaks (highest high, last bullish candle). A break counts only if its candle's body in
    the break's direction is >= displacement_atr * atr[t] (0 disables the filter; NaN ATR rejects). The same
    candle never yields two OBs of one direction. Events sorted by confirmation: anchor, confirm (= t),
    direction, top, bottom.
    """
    n = close.shape[0]
    k = brk_anchor.shape[0]
    used_bull = np.zeros(n, dtype=np.bool_)
    used_bear = np.zeros(n, dtype=np.bool_)
    ev_anchor = np.empty(k, dtype=np.int64)
    ev_confirm = np.empty(k, dtype=np.int64)
    ev_dir = np.empty(k, dtype=np.int8)
    ev_top = np.empty(k)
    ev_bottom = np.empty(k)
    m = 0
    for e in range(k):
        a = brk_anchor[e]
        t = brk_confirm[e]
        d = brk_dir[e]
        if displacement_atr > 0.0:
            body = (close[t] - open_[t]) * d
            if not body >= displacement_atr * atr[t]:
                continue
        if t - 1 < a + 1:
            continue
        ext = a + 1
        for i in range(a + 1, t):
            if (d > 0 and low[i] <= low[ext]) or (d < 0 and high[i] >= high[ext]):
                ext = i
        j = -1
        for i in range(ext, a, -1):
            if (d > 0 and close[i] < open_[i]) or (d < 0 and close[i] > open_[i]):
                j = i
                break
        if j < 0:
            continue
        if d > 0:
            if used_bull[j]:
                continue
            used_bull[j] = True
        else:
            if used_bear[j]:
                continue
            used_bear[j] = True
        ev_anchor[m] = j
        ev_confirm[m] = t
        ev_dir[m] = d
        ev_top[m] = high[j]
        ev_bottom[m] = low[j]
        m += 1
    return ev_anchor[:m], ev_confirm[:m], ev_dir[:m], ev_top[:m], ev_bottom[:m]


@njit(cache=True)
def detect_fvg_1d_nb(open_, high, low, close, min_size):
    """Fair value gaps (three-candle imbalance), anchored at the middle candle a, confirmed at a + 1.

    Bullish: high[a-1] < low[a+1] and close[a] > open[a]; zone bottom = high[a-1], top = low[a+1].
    Bearish: low[a-1] > high[a+1] and close[a] < open[a]; zone top = low[a-1], bottom = high[a+1].
    Gaps with (top - bottom) < min_size * close[a+1] are ignored (0 keeps all).
    Events in anchor (= confirmation) order: anchor, confirm, direction, top, bottom.
    """
    n = close.shape[0]
    cap = max(n - 2, 0)
    ev_anchor = np.empty(cap, dtype=np.int64)
    ev_dir = np.empty(cap, dtype=np.int8)
    ev_top = np.empty(cap)
    ev_bottom = np.empty(cap)
    m = 0
    for a in range(1, n - 1):
        bot = np.nan
        top = np.nan
        d = 0
        if high[a - 1] < low[a + 1] and close[a] > open_[a]:
            d = 1
            bot = high[a - 1]
            top = low[a + 1]
        elif low[a - 1] > high[a + 1] and close[a] < open_[a]:
            d = -1
            top = low[a - 1]
            bot = high[a + 1]
        if d != 0 and top - bot >= min_size * close[a + 1]:
            ev_anchor[m] = a
            ev_dir[m] = d
            ev_top[m] = top
            ev_bottom[m] = bot
            m += 1
    return ev_anchor[:m], ev_anchor[:m] + 1, ev_dir[:m], ev_top[:m], ev_bottom[:m]


@njit(cache=True)
def is_mitigated_nb(direction, top, bottom, high, low, close, mode):
    """Whether one bar (its high, low, close) mitigates a zone, by the Mitigation rule `mode`."""
    if direction > 0:
        if mode == Mitigation.touch:
            return low <= top
        if mode == Mitigation.wick:
            return low < bottom
        return close < bottom
    if mode == Mitigation.touch:
        return high >= bottom
    if mode == Mitigation.wick:
        return high > top
    return close > top


@njit(cache=True)
def _trigger_key_nb(direction, top, bottom, mode):
    """The zone edge whose crossing mitigates it under `mode` (see is_mitigated_nb)."""
    if direction > 0:
        return top if mode == Mitigation.touch else bottom
    return bottom if mode == Mitigation.touch else top


@njit(cache=True)
def _heap_gt_nb(v1, t1, v2, t2):
    return v1 > v2 or (v1 == v2 and t1 > t2)


@njit(cache=True)
def _heap_push_nb(hv, ht, hi, size, v, tie, ident):
    """Push (v, tie) -> ident on a binary max-heap ordered by (v, tie); returns the new size."""
    i = size
    hv[i] = v
    ht[i] = tie
    hi[i] = ident
    while i > 0:
        p = (i - 1) >> 1
        if not _heap_gt_nb(hv[i], ht[i], hv[p], ht[p]):
            break
        hv[i], hv[p] = hv[p], hv[i]
        ht[i], ht[p] = ht[p], ht[i]
        hi[i], hi[p] = hi[p], hi[i]
        i = p
    return size + 1


@njit(cache=True)
def _heap_pop_nb(hv, ht, hi, size):
    """Remove the top of a max-heap; returns the new size."""
    size -= 1
    hv[0] = hv[size]
    ht[0] = ht[size]
    hi[0] = hi[size]
    i = 0
    while True:
        m = i
        for c in (2 * i + 1, 2 * i + 2):
            if c < size and _heap_gt_nb(hv[c], ht[c], hv[m], ht[m]):
                m = c
        if m == i:
            return size
        hv[i], hv[m] = hv[m], hv[i]
        ht[i], ht[m] = ht[m], ht[i]
        hi[i], hi[m] = hi[m], hi[i]
        i = m


@njit(cache=True)
def track_zones_1d_nb(high, low, close, z_anchor, z_confirm, z_dir, z_top, z_bottom, mode, max_age):
    """Mitigation and as-of state of zones (OBs or FVGs) given in confirmation order.

    A zone is active from its confirmation bar c through the bar before its mitigation bar s (first s > c
    with is_mitigated_nb true); with max_age > 0 it also expires (unmitigated) at bar c + max_age. Returns mitigated (bar index per zone, -1 = still active) and per bar t,
    after bar t: the nearest active bullish zone (highest top; newest anchor on ties) as bull_top,
    bull_bottom, bull_anchor, the nearest active bearish zone (lowest bottom) as bear_*, and the counts
    n_bull, n_bear of active zones.
    """
    n = close.shape[0]
    k = z_anchor.shape[0]
    mitigated = np.full(k, -1, dtype=np.int64)
    alive = np.zeros(k, dtype=np.bool_)
    tops = np.full((2, n), np.nan)
    bottoms = np.full((2, n), np.nan)
    anchors = np.full((2, n), -1, dtype=np.int64)
    counts = np.zeros((2, n), dtype=np.int64)
    # per side: a heap of trigger keys (mitigation order) and a heap of nearness (lazy deletion)
    tv = np.empty((2, k))
    tt = np.empty((2, k), dtype=np.int64)
    ti = np.empty((2, k), dtype=np.int64)
    nv = np.empty((2, k))
    nt = np.empty((2, k), dtype=np.int64)
    ni = np.empty((2, k), dtype=np.int64)
    tsize = np.zeros(2, dtype=np.int64)
    nsize = np.zeros(2, dtype=np.int64)
    cnt = np.zeros(2, dtype=np.int64)
    nxt = 0
    ex = 0
    for t in range(n):
        while max_age > 0 and ex < nxt and z_confirm[ex] + max_age <= t:
            if alive[ex]:
                alive[ex] = False
                cnt[0 if z_dir[ex] > 0 else 1] -= 1
            ex += 1
        for side in range(2):
            d = 1 if side == 0 else -1
            while tsize[side] > 0:
                z = ti[side, 0]
                if not alive[z]:  # expired: drop lazily
                    tsize[side] = _heap_pop_nb(tv[side], tt[side], ti[side], tsize[side])
                    continue
                if not is_mitigated_nb(d, z_top[z], z_bottom[z], high[t], low[t], close[t], mode):
                    break
                tsize[side] = _heap_pop_nb(tv[side], tt[side], ti[side], tsize[side])
                alive[z] = False
                mitigated[z] = t
                cnt[side] -= 1
        while nxt < k and z_confirm[nxt] <= t:
            z = nxt
            side = 0 if z_dir[z] > 0 else 1
            d = 1 if side == 0 else -1
            key = d * _trigger_key_nb(d, z_top[z], z_bottom[z], mode)
            tsize[side] = _heap_push_nb(tv[side], tt[side], ti[side], tsize[side], key, z_anchor[z], z)
            near = z_top[z] if d > 0 else -z_bottom[z]
            nsize[side] = _heap_push_nb(nv[side], nt[side], ni[side], nsize[side], near, z_anchor[z], z)
            alive[z] = True
            cnt[side] += 1
            nxt += 1
        for side in range(2):
            while nsize[side] > 0 and not alive[ni[side, 0]]:
                nsize[side] = _heap_pop_nb(nv[side], nt[side], ni[side], nsize[side])
            counts[side, t] = cnt[side]
            if nsize[side] > 0:
                z = ni[side, 0]
                tops[side, t] = z_top[z]
                bottoms[side, t] = z_bottom[z]
                anchors[side, t] = z_anchor[z]
    return (mitigated, tops[0], bottoms[0], anchors[0], counts[0],
            tops[1], bottoms[1], anchors[1], counts[1])


@njit(cache=True)
def _unlist_nb(live, where, nlive, alive, side, j):
    """Mark slot j dead and swap-remove it from the compact live list of its side."""
    alive[side, j] = False
    nlive[side] -= 1
    last = live[side, nlive[side]]
    live[side, where[side, j]] = last
    where[side, last] = where[side, j]


@njit(cache=True)
def detect_liquidity_1d_nb(high, low, close, is_sh, is_sl, right, tol, max_age):
    """Liquidity at swing points: equal highs/lows within a relative tolerance, and sweeps.

    Each confirmed swing high (at anchor + right) becomes a live level; it stays live until the first later
    bar whose high is strictly above it (it is "taken"). When taken by a bar whose close is strictly back
    below it, that bar sweeps it (wick through, close back inside). With max_age > 0 a level confirmed at c
    also expires (untaken) at bar c + max_age.
    Equal highs: a new swing high at anchor a pairs with the newest earlier swing high p that was still live
    when bar a opened (a may itself have taken p) and lies within tol * price of it. The pair's pool level is
    the higher of the two; that (live) level is flagged "equal", so its later sweep is a sweep of equal highs.
    Mirror for lows.
    Per bar t (after bar t): sweep_high[t] / sweep_low[t], the swept level (the highest swept high, lowest
    swept low; NaN if none), whether it was an equal level, liq_high[t] / liq_low[t] (nearest live level
    above / below) and eqh[t] / eql[t] (nearest live equal level).
    Events: sweeps (anchor = swept swing, confirm = t, side +1 high / -1 low, level, equal flag) and equal
    pairs (anchor = second swing, confirm = its confirmation, side, ref_anchor = first swing, top, bottom).
    """
    n = close.shape[0]
    lv = np.empty((2, n))  # per side, slot = order of confirmation
    an = np.empty((2, n), dtype=np.int64)
    eq = np.zeros((2, n), dtype=np.bool_)
    alive = np.zeros((2, n), dtype=np.bool_)
    live = np.empty((2, n), dtype=np.int64)  # compact list of live slots
    where = np.empty((2, n), dtype=np.int64)  # position of a slot in `live`
    nlive = np.zeros(2, dtype=np.int64)
    nslot = np.zeros(2, dtype=np.int64)
    taken = np.empty((2, n), dtype=np.int64)  # slots in the order they were taken, and when
    taken_at = np.empty((2, n), dtype=np.int64)
    ntaken = np.zeros(2, dtype=np.int64)
    hv = np.empty((4, n))  # heaps: 0/1 live levels (highs/lows), 2/3 equal levels (lazy deletion)
    ht = np.empty((4, n), dtype=np.int64)
    hs = np.empty((4, n), dtype=np.int64)
    hsize = np.zeros(4, dtype=np.int64)
    sweep = np.zeros((2, n), dtype=np.bool_)
    sweep_level = np.full((2, n), np.nan)
    sweep_eq = np.zeros((2, n), dtype=np.bool_)
    nearest = np.full((2, n), np.nan)
    nearest_eq = np.full((2, n), np.nan)
    sw = np.empty((4, 2 * n), dtype=np.int64)  # sweep events: anchor, confirm, side, equal
    sw_level = np.empty(2 * n)
    eqe = np.empty((4, 2 * n), dtype=np.int64)  # equal pairs: anchor, confirm, side, ref anchor
    eqe_px = np.empty((2, 2 * n))  # top, bottom
    ms = 0
    me = 0
    ex = np.zeros(2, dtype=np.int64)
    for t in range(n):
        for side in range(2):
            while max_age > 0 and ex[side] < nslot[side] and an[side, ex[side]] + right + max_age <= t:
                j = ex[side]
                if alive[side, j]:
                    _unlist_nb(live, where, nlive, alive, side, j)
                ex[side] += 1
        for side in range(2):
            d = 1 if side == 0 else -1
            px = high[t] if d > 0 else low[t]
            while hsize[side] > 0:
                j = hs[side, 0]
                if alive[side, j] and not d * (px - lv[side, j]) > 0.0:
                    break
                hsize[side] = _heap_pop_nb(hv[side], ht[side], hs[side], hsize[side])
                if not alive[side, j]:  # expired: drop lazily
                    continue
                _unlist_nb(live, where, nlive, alive, side, j)
                taken[side, ntaken[side]] = j
                taken_at[side, ntaken[side]] = t
                ntaken[side] += 1
                level = lv[side, j]
                if d * (close[t] - level) < 0.0:
                    sw[0, ms] = an[side, j]
                    sw[1, ms] = t
                    sw[2, ms] = d
                    sw[3, ms] = 1 if eq[side, j] else 0
                    sw_level[ms] = level
                    ms += 1
                    if not sweep[side, t] or d * (level - sweep_level[side, t]) > 0.0:
                        sweep[side, t] = True
                        sweep_level[side, t] = level
                        sweep_eq[side, t] = eq[side, j]
        a = t - right
        for side in range(2):
            if a < 0 or not (is_sh[a] if side == 0 else is_sl[a]):
                continue
            d = 1 if side == 0 else -1
            level = high[a] if d > 0 else low[a]
            ref = -1
            for q in range(nlive[side]):
                j = live[side, q]
                if abs(lv[side, j] - level) <= tol * level and (ref < 0 or an[side, j] > an[side, ref]):
                    ref = j
            q = ntaken[side] - 1
            while q >= 0 and taken_at[side, q] >= a:  # taken at bar a or later: live when bar a opened
                j = taken[side, q]
                if abs(lv[side, j] - level) <= tol * level and (ref < 0 or an[side, j] > an[side, ref]):
                    ref = j
                q -= 1
            j = nslot[side]
            nslot[side] += 1
            lv[side, j] = level
            an[side, j] = a
            alive[side, j] = True
            live[side, nlive[side]] = j
            where[side, j] = nlive[side]
            nlive[side] += 1
            hsize[side] = _heap_push_nb(hv[side], ht[side], hs[side], hsize[side], -d * level, a, j)
            if ref >= 0:
                for e in (ref, j):  # flag the pool level: the higher high (lower low); both on a tie
                    other = j if e == ref else ref
                    if d * (lv[side, e] - lv[side, other]) >= 0.0 and alive[side, e] and not eq[side, e]:
                        eq[side, e] = True
                        hsize[2 + side] = _heap_push_nb(hv[2 + side], ht[2 + side], hs[2 + side],
                                                        hsize[2 + side], -d * lv[side, e], an[side, e], e)
                eqe[0, me] = a
                eqe[1, me] = t
                eqe[2, me] = d
                eqe[3, me] = an[side, ref]
                eqe_px[0, me] = max(level, lv[side, ref])
                eqe_px[1, me] = min(level, lv[side, ref])
                me += 1
        for side in range(2):
            while hsize[side] > 0 and not alive[side, hs[side, 0]]:
                hsize[side] = _heap_pop_nb(hv[side], ht[side], hs[side], hsize[side])
            if hsize[side] > 0:
                nearest[side, t] = lv[side, hs[side, 0]]
            h2 = 2 + side
            while hsize[h2] > 0 and not alive[side, hs[h2, 0]]:
                hsize[h2] = _heap_pop_nb(hv[h2], ht[h2], hs[h2], hsize[h2])
            if hsize[h2] > 0:
                nearest_eq[side, t] = lv[side, hs[h2, 0]]
    return (sweep[0], sweep_level[0], sweep_eq[0], sweep[1], sweep_level[1], sweep_eq[1],
            nearest[0], nearest[1], nearest_eq[0], nearest_eq[1],
            sw[0, :ms], sw[1, :ms], sw[2, :ms].astype(np.int8), sw_level[:ms], sw[3, :ms] == 1,
            eqe[0, :me], eqe[1, :me], eqe[2, :me].astype(np.int8), eqe[3, :me], eqe_px[0, :me], eqe_px[1, :me])


@njit(cache=True)
def compute_premium_discount_1d_nb(high, low, close, sh_idx, sl_idx):
    """Premium/discount in the dealing range from the newest confirmed swing high and low (as of t).

    range_high[t] = max(high[sh_idx[t]..t]), range_low[t] = min(low[sl_idx[t]..t]) (the swings extended by
    any later extreme, so the close is always inside); position[t] = (close - range_low) / (range_high -
    range_low) in [0, 1] (> 0.5 premium, < 0.5 discount); NaN before both swings exist or for a zero range.
    """
    n = close.shape[0]
    rh = np.full(n, np.nan)
    rl = np.full(n, np.nan)
    pos = np.full(n, np.nan)
    cur_h = -1
    cur_l = -1
    run_h = np.nan
    run_l = np.nan
    for t in range(n):
        if sh_idx[t] != cur_h:
            cur_h = sh_idx[t]
            run_h = np.nan
            if cur_h >= 0:
                run_h = high[cur_h]
                for i in range(cur_h + 1, t + 1):
                    run_h = max(run_h, high[i])
        elif cur_h >= 0:
            run_h = max(run_h, high[t])
        if sl_idx[t] != cur_l:
            cur_l = sl_idx[t]
            run_l = np.nan
            if cur_l >= 0:
                run_l = low[cur_l]
                for i in range(cur_l + 1, t + 1):
                    run_l = min(run_l, low[i])
        elif cur_l >= 0:
            run_l = min(run_l, low[t])
        rh[t] = run_h
        rl[t] = run_l
        if cur_h >= 0 and cur_l >= 0 and run_h > run_l:
            pos[t] = (close[t] - run_l) / (run_h - run_l)
    return rh, rl, pos
