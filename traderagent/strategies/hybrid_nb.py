"""Hybrid Grid + DCA: one order strategy that runs the grid and the DCA state machines side by side, routed by
the market regime, with explicit transitions. Numba over plain structured arrays (state saves and restores).

State: the grid's arrays (grid_nb), the DCA's arrays (dca_nb), a hybrid header (HYB_STATE_DTYPE), the regime
confirmation state (regime_nb.CONFIRM_STATE_DTYPE) and the combined book. Each machine keeps its own cash and
position in its header; the hybrid's cash is their sum (one account). The combined book is the grid's book
(tag 2 x t) plus the DCA's book (tag 2 x t + 1): `owner = tag & 1`, `machine tag = tag >> 1`.

Each bar (the intrabar rule of orders_nb applies to the combined book):
  1. fills: each fill goes to its machine; a fill that cancels the rest of the bar cancels only its machine's
     remaining orders (a grid stop does not cancel a DCA safety order);
  2. regime: every regime-timeframe candle that completed by this bar's close steps the confirmation state;
  3. route: the confirmed regime picks the machine in charge (grid, DCA or none, from the params' bit masks);
  4. transitions, when the machine in charge changes:
       grid leaves (grid_exit): CLOSE -> its inventory is sold at the next open (reason switch); KEEP -> buy
       levels withdrawn, held units keep their sells and the stop (as a paused grid); HANDOVER (only when the
       DCA takes over and is free) -> the grid's units and their cost move to a new DCA cycle at this close (no
       trade: one account), its fills are relabelled to that cycle's trade id, the safety ladder is laid from
       the close and the take-profit sits above the inherited average;
       DCA leaves (dca_exit): a pending base order is cancelled; KEEP -> an open cycle runs on to its take-profit
       or stop, and no new cycle starts; CLOSE -> its position is sold at the next open (reason switch);
  5. capital: cash nobody has committed moves to the machine in charge (a grid without buy orders, a DCA
     without a cycle give theirs up); a machine keeps the cash its own open orders need;
  6. steps: the machine in charge steps normally (the DCA may start cycles); the other only counts down its
     cooldown (and the grid its calm bars) and keeps its remaining orders;
  7. the combined book is rebuilt.
Switching costs are real fills: the fee and the slippage of every switch sale are paid (and totalled).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from traderagent.core.orders_nb import (
    FLAG_ALL,
    OrderKind,
    add_intent_nb,
    bar_events_nb,
    clear_book_nb,
    may_fill_nb,
    push_fill_nb,
)
from traderagent.core.records import Reason, Side
from traderagent.core.risk_nb import (
    TAG_FLATTEN,
    risk_close_nb,
    risk_fill_quote_nb,
    risk_filter_nb,
    risk_new_bar_nb,
    risk_on_fills_nb,
)
from traderagent.strategies import dca_nb as dnb
from traderagent.strategies import grid_nb as gnb
from traderagent.strategies.regime_nb import confirm_step_nb

NONE, GRID, DCA = 0, 1, 2  # machine in charge
CLOSE, KEEP, HANDOVER = 0, 1, 2  # exit policies
TAG_SWITCH = -50  # DCA switch sale (machine tag)

HYB_PARAMS_DTYPE = np.dtype(
    [
        ("grid_mask", np.int64),  # bit r set: the grid is in charge in regime r (0 sideways .. 3 high volatility)
        ("dca_mask", np.int64),
        ("grid_exit", np.int64),  # CLOSE, KEEP, HANDOVER
        ("dca_exit", np.int64),  # CLOSE, KEEP
        ("confirm", np.int64),  # confirmation bars of the regime
    ],
    align=True,
)

HYB_STATE_DTYPE = np.dtype(
    [
        ("mode", np.int64),
        ("grid_closing", np.int64),
        ("dca_closing", np.int64),
        ("switches", np.int64),
        ("handovers", np.int64),
        ("closes", np.int64),
        ("switch_fees", np.float64),
        ("switch_slippage", np.float64),  # quote lost to slippage on switch sales
        ("bar", np.int64),
    ],
    align=True,
)

OUTPUT_NAMES = ("cash", "position", "equity", "regime", "mode", "grid_status", "dca_status", "grid_position",
                "dca_position", "grid_cash", "dca_cash", "switches", "handovers", "switch_fees")
N_OUT = len(OUTPUT_NAMES)
EPS = 1e-12


@njit(cache=True)
def _sync_trades(gh, dh) -> None:
    nt = max(gh.next_trade, dh.next_trade)
    gh.next_trade = nt
    dh.next_trade = nt


@njit(cache=True)
def _switch_cost(hh, fills, n0: int, n1: int, open_: float) -> None:
    for f in range(n0, n1):
        hh.switch_fees += fills[f].fee
        hh.switch_slippage += fills[f].size * (open_ - fills[f].price)


@njit(cache=True)
def flatten_nb(gh, slots, gp, dh, dp, fills, nf: int, i: int, price: float):
    """The risk guard's flatten: both machines sell everything they hold at `price` and cool down as after a stop."""
    fills, nf = gnb._sell_all(gh, slots, gp, fills, nf, i, price, Reason.flatten)
    if gh.status == gnb.ACTIVE or gh.status == gnb.PAUSED or gh.status == gnb.LIQUIDATING:
        gh.status = gnb.STOPPED
        gh.cooldown = gp.stop_cooldown_bars + 1
    gh.stop_price = 0.0
    gh.dirty = 1
    if dh.position > 0:
        size = dh.position
        fee = dp.fees * price * size
        fills = push_fill_nb(fills, nf, dh.trade, i, Side.sell, price, size, fee, Reason.flatten)
        nf += 1
        dnb._book_cash(dh, Side.sell, price, size, fee)
        dnb._end_cycle(dh, dp, True)
    elif dh.status == dnb.ENTERING:
        dh.status = dnb.IDLE
    dh.dirty = 1
    return fills, nf


#: Cancel masks a fill returns: the rest of the bar's orders of the grid, of the DCA, or of both are cancelled.
CANCEL_GRID, CANCEL_DCA = 1, 2


@njit(cache=True)
def hybrid_on_fill_nb(hh, gh, slots, levels, gp, dh, ladder, dp, fills, nf: int, log, nlog: int, i: int, tag: int,
                      side: int, price: float, size: float, quote: float, open_: float):
    """One fill of the combined book fed to its machine (module docstring, step 1). `tag` is the combined tag
    (2 x t for the grid, 2 x t + 1 for the DCA, or the risk guard's TAG_FLATTEN); `open_` is the bar's open (the
    reference of the switch costs). Returns (fills, nf, log, nlog, cancel mask: CANCEL_GRID | CANCEL_DCA)."""
    if tag == TAG_FLATTEN:
        fills, nf = flatten_nb(gh, slots, gp, dh, dp, fills, nf, i, price)
        _sync_trades(gh, dh)
        return fills, nf, log, nlog, CANCEL_GRID | CANCEL_DCA
    owner = tag & 1
    t = tag >> 1
    cancel = 0
    if owner == 0:
        if t == gnb.TAG_LIQ and hh.grid_closing == 1:
            n0 = nf
            fills, nf = gnb._sell_all(gh, slots, gp, fills, nf, i, price, Reason.switch)
            _switch_cost(hh, fills, n0, nf, open_)
            gh.status = gnb.FLAT
            gh.stop_price = 0.0
            gh.dirty = 1
            hh.grid_closing = 0
            cancel = CANCEL_GRID
        else:
            fills, nf, stop = gnb.grid_on_fill_nb(gh, slots, levels, gp, fills, nf, i, t, side, price, size, quote)
            cancel = CANCEL_GRID if stop else 0
    else:
        if t == TAG_SWITCH:
            size = dh.position
            if size > 0:
                fee = dp.fees * price * size
                fills = push_fill_nb(fills, nf, dh.trade, i, Side.sell, price, size, fee, Reason.switch)
                nf += 1
                _switch_cost(hh, fills, nf - 1, nf, open_)
                dnb._book_cash(dh, Side.sell, price, size, fee)
            dnb._end_cycle(dh, dp, False)
            dh.dirty = 1
            hh.dca_closing = 0
            cancel = CANCEL_DCA
        else:
            fills, nf, log, nlog, stop = dnb.dca_on_fill_nb(dh, ladder, dp, fills, nf, log, nlog, i, t, price, size,
                                                             quote)
            cancel = CANCEL_DCA if stop else 0
    _sync_trades(gh, dh)
    return fills, nf, log, nlog, cancel


@njit(cache=True)
def group_of_nb(tag: int) -> int:
    """The cancel group of a combined-book order (CANCEL_GRID or CANCEL_DCA; the flatten belongs to both)."""
    if tag == TAG_FLATTEN:
        return CANCEL_GRID | CANCEL_DCA
    return CANCEL_DCA if (tag & 1) == 1 else CANCEL_GRID


@njit(cache=True)
def dispatch_fills_nb(hh, gh, slots, levels, gp, dh, ladder, dp, cbook, csum, rp, rs, rlog, fills, nf, log, nlog,
                      i: int, o: float, hi: float, lo: float, ev_idx, ev_price, ev_phase, ev_key, ev_rank):
    """The bar's fills of the guarded combined book, each fed to its machine and to the risk guard; a fill that
    cancels a machine's rest skips its remaining orders this bar. Returns (fills, nf, log, nlog, rlog)."""
    if not may_fill_nb(csum, hi, lo):
        return fills, nf, log, nlog, rlog
    m = bar_events_nb(cbook, csum, o, hi, lo, gp.slippage, ev_idx, ev_price, ev_phase, ev_key, ev_rank)
    cancelled = 0
    for e in range(m):
        row = cbook[ev_idx[e]]
        if group_of_nb(row.tag) & cancelled:
            continue
        price = ev_price[e]
        quote, rlog = risk_fill_quote_nb(rs, rp, row, price, gh.cash + dh.cash, i, rlog)
        if row.quote > 0 and quote <= 0:
            continue
        n0 = nf
        fills, nf, log, nlog, cancel = hybrid_on_fill_nb(hh, gh, slots, levels, gp, dh, ladder, dp, fills, nf, log,
                                                         nlog, i, row.tag, row.side, price, row.size, quote, o)
        risk_on_fills_nb(rs, fills, n0, nf)
        cancelled |= cancel
    return fills, nf, log, nlog, rlog


@njit(cache=True)
def _withdraw_buys(gh, slots, levels, gp) -> None:
    """Cancel the grid's resting buys and a pending build buy; held units keep their counter-sells."""
    for k in range(gp.n_levels - 1):
        s = slots[k]
        s.pending = 0.0
        s.want = 0.0
        if s.held <= 0:
            gnb._clear_slot(s)
            s.armed = 0
    gh.armed_notional = 0.0
    gh.init_quote = 0.0


@njit(cache=True)
def _clear_grid(gh, slots, gp) -> None:
    for k in range(gp.n_levels - 1):
        gnb._clear_slot(slots[k])
        slots[k].armed = 0
    gh.held_cost = 0.0
    gh.armed_notional = 0.0
    gh.init_quote = 0.0
    gh.stop_price = 0.0
    gh.status = gnb.FLAT
    gh.dirty = 1


@njit(cache=True)
def handover_nb(hh, gh, slots, gp, dh, ladder, dp, fills, nf: int, log, nlog: int, bar: int, c: float):
    """The grid's inventory becomes a new DCA cycle at close c (module docstring, step 4). Returns (log, nlog)."""
    units = gh.position
    cost = 0.0
    fees = 0.0
    new = max(gh.next_trade, dh.next_trade)
    old = np.zeros(new, dtype=np.bool_)
    for k in range(gp.n_levels - 1):
        s = slots[k]
        if s.held > 0 and s.trade >= 0:
            cost += s.held * (s.buy_value / s.bought)
            fees += s.buy_fee * (s.held / s.bought)
            old[s.trade] = True
    for f in range(nf):
        if fills[f].trade < new and old[fills[f].trade]:
            fills[f].trade = new
    gh.next_trade = new + 1
    dh.next_trade = new + 1
    gh.cash, dh.cash = 0.0, dh.cash + gh.cash  # the DCA is in charge now: the grid's free cash goes with it
    dh.position += units
    gh.position = 0.0
    _clear_grid(gh, slots, gp)
    equity = dh.cash + dh.position * c
    dh.trade = new
    dh.first_price = c
    dh.cost_basis = cost
    dh.avg = cost / dh.position
    dh.spent = cost + fees
    dh.cycle_cash0 = dh.cash + cost + fees
    dh.seq_capital = min(dp.capital_fraction * equity, dh.spent + dh.cash * (1.0 - 1e-12))
    dh.max_cost = dp.max_position_fraction * equity
    dh.base_quote = dp.base_fraction * equity
    dh.n_safety = 0
    for j in range(dnb.MAX_SCALE):
        dh.scale_done[j] = 0
    dh.status = dnb.IN
    dh.dirty = 1
    hh.handovers += 1
    return dnb._lay_ladder(dh, ladder, dp, log, nlog, bar)


@njit(cache=True)
def grid_leave_nb(hh, hp, gh, slots, levels, gp, dh, ladder, dp, fills, nf: int, log, nlog: int, bar: int,
                  c: float, to_dca: bool):
    """The grid stops being in charge (module docstring, step 4). Returns (log, nlog)."""
    st = gh.status
    if st != gnb.ACTIVE and st != gnb.PAUSED:
        return log, nlog  # flat, stopped, or already liquidating
    has_units = gh.position > EPS * max(gh.capital, 1.0) / max(c, EPS)
    policy = hp.grid_exit
    if policy == HANDOVER:
        if to_dca and (dh.status == dnb.IDLE or dh.status == dnb.COOLDOWN) and hh.dca_closing == 0 and has_units:
            return handover_nb(hh, gh, slots, gp, dh, ladder, dp, fills, nf, log, nlog, bar, c)
        policy = KEEP
    if not has_units:
        _clear_grid(gh, slots, gp)
    elif policy == CLOSE:
        _withdraw_buys(gh, slots, levels, gp)
        gh.status = gnb.LIQUIDATING
        hh.grid_closing = 1
        hh.closes += 1
    else:
        _withdraw_buys(gh, slots, levels, gp)
        gh.status = gnb.PAUSED
    gh.dirty = 1
    return log, nlog


@njit(cache=True)
def dca_leave_nb(hh, hp, dh) -> None:
    """The DCA stops being in charge: a pending base order is cancelled; an open cycle is kept or closed."""
    if dh.status == dnb.ENTERING:
        dh.status = dnb.IDLE
        dh.dirty = 1
    elif dh.status == dnb.IN and hp.dca_exit == CLOSE:
        hh.dca_closing = 1
        hh.closes += 1


@njit(cache=True)
def dca_reserve_nb(dh, ladder, dp) -> float:
    """Cash the DCA's own open orders need: its pending base order, or the unfilled placed safety orders (+ fees)."""
    if dh.status == dnb.ENTERING:
        return dh.base_quote * (1.0 + dp.fees)
    if dh.status != dnb.IN:
        return 0.0
    need = 0.0
    for k in range(dp.max_safety):
        r = ladder[k]
        if r.placed == 1 and r.filled == 0 and r.qty > 0:
            need += r.qty * r.price * (1.0 + dp.fees)
    return need * (1.0 + 1e-9)


@njit(cache=True)
def sweep_cash_nb(hh, gh, dh, ladder, dp) -> float:
    """Cash nobody has committed goes to the machine in charge (module docstring, step 5); returns the amount."""
    free = 0.0
    if hh.mode == GRID:
        free = 0.0 if hh.dca_closing == 1 else dh.cash - dca_reserve_nb(dh, ladder, dp)
        if free > 0:
            gh.cash += free
            dh.cash -= free
    elif hh.mode == DCA:
        if gh.status != gnb.ACTIVE and gh.cash > 0:
            free = gh.cash
            dh.cash += free
            gh.cash = 0.0
    return max(free, 0.0)


@njit(cache=True)
def grid_idle_step_nb(gh, slots, levels, gbook, gsum, gp, bar: int, adx: float) -> None:
    """The grid while another machine is in charge: calm bars and the stop cooldown count, orders stay."""
    gh.bar = bar
    if gp.adx_filter == 1:
        gh.calm = gh.calm + 1 if adx < gp.adx_reactivate else 0
    if gh.status == gnb.STOPPED:
        gh.cooldown -= 1
        if gh.cooldown <= 0:
            gh.status = gnb.FLAT
    if gh.status == gnb.PAUSED and gh.armed_notional > 0:
        _withdraw_buys(gh, slots, levels, gp)  # a completed cycle re-armed its buy: not while another is in charge
    if gh.dirty == 1:
        gnb.grid_make_book_nb(gh, slots, levels, gbook, gsum, gp)
        gh.dirty = 0


@njit(cache=True)
def merge_books_nb(hh, dh, gbook, gsum, dbook, dsum, cbook, csum) -> None:
    """The combined book: the grid's intents (tag 2t), then the DCA's (tag 2t + 1) or its switch sale."""
    clear_book_nb(csum)
    for j in range(gsum.n):
        r = gbook[j]
        add_intent_nb(cbook, csum, r.kind, r.side, r.price, r.size, r.quote, 2 * r.tag, r.flags)
    if hh.dca_closing == 1:
        add_intent_nb(cbook, csum, OrderKind.market, Side.sell, np.nan, dh.position, 0.0, 2 * TAG_SWITCH + 1,
                      FLAG_ALL)
        return
    for j in range(dsum.n):
        r = dbook[j]
        add_intent_nb(cbook, csum, r.kind, r.side, r.price, r.size, r.quote, 2 * r.tag + 1, r.flags)


@njit(cache=True)
def route_nb(hp, regime: int) -> int:
    if regime < 0:
        return NONE
    if (hp.grid_mask >> regime) & 1:
        return GRID
    if (hp.dca_mask >> regime) & 1:
        return DCA
    return NONE


@njit(cache=True)
def hybrid_close_nb(hh, hp, rs, gh, slots, levels, gbook, gsum, gp, dh, ladder, dbook, dsum, dp, fills, nf, log,
                    nlog, i: int, c: float, atr: float, gadx: float, ema_f: float, ema_s: float, dadx: float,
                    pdi: float, mdi: float):
    """Steps 3-6 at bar i's close (the regime state `rs` already stepped). Returns (log, nlog)."""
    mode = route_nb(hp, rs.regime)
    if mode != hh.mode:
        if hh.mode == GRID:
            log, nlog = grid_leave_nb(hh, hp, gh, slots, levels, gp, dh, ladder, dp, fills, nf, log, nlog, i, c,
                                      mode == DCA)
        elif hh.mode == DCA:
            dca_leave_nb(hh, hp, dh)
        hh.switches += 1
        hh.mode = mode
    moved = sweep_cash_nb(hh, gh, dh, ladder, dp)
    if mode == GRID and moved > 0 and gh.status == gnb.ACTIVE:
        gh.dirty = 1  # new cash: the grid re-arms idle buy levels that now fit (grid_step_nb)
    if mode == GRID and hh.grid_closing == 0 and not (gh.status == gnb.FLAT and gh.cash <= 0.0):  # no build on nothing
        before = gh.status
        gnb.grid_step_nb(gh, slots, levels, gbook, gsum, gp, i, c, atr, gadx)
        if before == gnb.PAUSED and gh.status == gnb.ACTIVE:  # back in charge: re-arm the withdrawn buy levels
            gnb._rearm_idle(gh, slots, levels, gp, c)
            gnb.grid_make_book_nb(gh, slots, levels, gbook, gsum, gp)
    else:
        grid_idle_step_nb(gh, slots, levels, gbook, gsum, gp, i, gadx)
    if hh.dca_closing == 0:
        free = 1 if mode == DCA else 0
        dnb.dca_step_nb(dh, ladder, dbook, dsum, dp, i, c, ema_f, ema_s, dadx, pdi, mdi, free)
    return log, nlog


@njit(cache=True)
def hybrid_bar_close_nb(hh, hp, rs_regime, raw, rtimes, nxt: int, vis_i: int, gh, slots, levels, gbook, gsum, gp, dh,
                        ladder, dbook, dsum, dp, cbook, csum, rp, rs, obook, osum, rlog, fills, nf: int, log,
                        nlog: int, i: int, c: float, atr: float, gadx: float, ema_f: float, ema_s: float, dadx: float,
                        pdi: float, mdi: float):
    """Bar i's close: every regime candle complete by now steps the confirmation (from `nxt`, up to `vis_i`), the
    machines step (module docstring, steps 3-7), then the risk guard turns the combined book into the guarded one.
    A handover relabels the handed-over fills among fills[:nf]. Returns (nxt, log, nlog, rlog)."""
    while nxt <= vis_i:
        confirm_step_nb(rs_regime, raw[nxt], hp.confirm)
        rs_regime.last_time = rtimes[nxt]
        nxt += 1
    dh.guard_loss = rp.max_loss if rp.enabled == 1 else 0.0
    log, nlog = hybrid_close_nb(hh, hp, rs_regime, gh, slots, levels, gbook, gsum, gp, dh, ladder, dbook, dsum, dp,
                                fills, nf, log, nlog, i, c, atr, gadx, ema_f, ema_s, dadx, pdi, mdi)
    _sync_trades(gh, dh)
    merge_books_nb(hh, dh, gbook, gsum, dbook, dsum, cbook, csum)
    hh.bar = i
    eq = gh.cash + dh.cash + (gh.position + dh.position) * c
    rlog = risk_close_nb(rs, rp, eq, i, rlog)
    rlog = risk_filter_nb(rs, rp, cbook, csum, obook, osum, eq, c, i, rlog)
    return nxt, log, nlog, rlog


@njit(cache=True)
def simulate_hybrid_nb(open_, high, low, close, atr, gadx, ema_f, ema_s, dadx, pdi, mdi, raw, rtimes, vis, days,
                       next_regime: int, hp, gp, dp, hh, rs_regime, gh, slots, levels, gbook, gsum, dh, ladder, dbook,
                       dsum, cbook, csum, rp, rs, obook, osum, rlog, start: int, end: int, fills, nf: int, log,
                       nlog: int, out):
    """Run bars start..end-1 (state updated in place; per-bar outputs in out[i]). `raw`/`rtimes` are the regime
    timeframe's raw labels and open times, `vis[i]` the newest of them complete at bar i's close (-1: none),
    `next_regime` the first one not yet stepped. The combined book `cbook` passes the risk guard into `obook`, which
    is what fills. Returns (fills, n_fills, log, n_log, guard log)."""
    cap = obook.shape[0]
    ev_idx = np.empty(cap, dtype=np.int64)
    ev_price = np.empty(cap)
    ev_phase = np.empty(cap, dtype=np.int64)
    ev_key = np.empty(cap)
    ev_rank = np.empty(cap, dtype=np.int64)
    nxt = next_regime
    for i in range(start, end):
        risk_new_bar_nb(rs, days[i], gh.cash + dh.cash)
        fills, nf, log, nlog, rlog = dispatch_fills_nb(hh, gh, slots, levels, gp, dh, ladder, dp, obook, osum, rp, rs,
                                                       rlog, fills, nf, log, nlog, i, open_[i], high[i], low[i],
                                                       ev_idx, ev_price, ev_phase, ev_key, ev_rank)
        nxt, log, nlog, rlog = hybrid_bar_close_nb(hh, hp, rs_regime, raw, rtimes, nxt, vis[i], gh, slots, levels,
                                                   gbook, gsum, gp, dh, ladder, dbook, dsum, dp, cbook, csum, rp, rs,
                                                   obook, osum, rlog, fills, nf, log, nlog, i, close[i], atr[i],
                                                   gadx[i], ema_f[i], ema_s[i], dadx[i], pdi[i], mdi[i])
        _record(out, i, hh, rs_regime, gh, dh, close[i])
    return fills, nf, log, nlog, rlog


@njit(cache=True)
def _record(out, i: int, hh, rs, gh, dh, c: float) -> None:
    out[i, 0] = gh.cash + dh.cash
    out[i, 1] = gh.position + dh.position
    out[i, 2] = out[i, 0] + out[i, 1] * c
    out[i, 3] = rs.regime
    out[i, 4] = hh.mode
    out[i, 5] = gh.status
    out[i, 6] = dh.status
    out[i, 7] = gh.position
    out[i, 8] = dh.position
    out[i, 9] = gh.cash
    out[i, 10] = dh.cash
    out[i, 11] = hh.switches
    out[i, 12] = hh.handovers
    out[i, 13] = hh.switch_fees
