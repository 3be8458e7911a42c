"""Grid state machine: numba kernels over plain structured arrays (no objects), so state saves and restores.

State (all numpy, see `traderagent.strategies.grid` for the wrapper):
  hdr[0]   GRID_STATE_DTYPE  status, cash, position, range, stop, capital, exposure bookkeeping, counters
  slots    SLOT_DTYPE (n_levels - 1)  slot k trades between levels[k] (buy) and levels[k + 1] (sell)
  levels   float64 (n_levels)         the current price levels, ascending
  book     INTENT_DTYPE               the desired orders after the last step (see orders_nb)
  summary  BOOK_SUMMARY_DTYPE (1)

A slot alternates: armed with `pending` units to buy at levels[k] -> on a buy fill the units are `held` and
the counter-order (a sell of the held units) rests one level up, at levels[k + 1] -> when all are sold the
cycle is complete (profit = sells - buys - fees, one trade id per cycle) and the slot re-arms its buy.
Partial fills move units from pending to held (and held to sold) pro rata; nothing else changes.

Building (around close c): levels from `range_fraction` (c x (1 -/+ r)) or ATR (c -/+ mult x ATR), spaced
arithmetically or geometrically; the level nearest c stays empty; slots below it are buy slots, slots above
it are sell slots whose units are bought with one market order at the next open. Slots are funded nearest
first while `held cost + armed buy notional <= max_exposure x capital` and cash covers them with fees.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from traderagent.core.orders_nb import (
    FLAG_ALL,
    FLAG_OPEN,
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

# status codes
FLAT = 0  # not built (waiting for calm ADX / first bar)
ACTIVE = 1  # levels live
PAUSED = 2  # trend detected: buy levels withdrawn, sells and stop stay
STOPPED = 3  # grid stop hit: cooling down
LIQUIDATING = 4  # market sell of all inventory at the next open, then rebuild (recentre / ATR resize)

TAG_INIT = -1  # market buy of the sell slots' units at build
TAG_LIQ = -2  # market sell of everything before a rebuild
TAG_STOP = -3  # grid stop: sell everything held when triggered

GRID_PARAMS_DTYPE = np.dtype(
    [
        ("n_levels", np.int64),
        ("geometric", np.int64),
        ("range_mode", np.int64),  # 0 = range_fraction around the price, 1 = ATR multiple
        ("range_fraction", np.float64),
        ("range_atr_mult", np.float64),
        ("atr_hysteresis", np.float64),  # rebuild when |ATR / ATR at build - 1| exceeds this (<= 0: never)
        ("recenter", np.int64),
        ("recenter_threshold", np.float64),  # close beyond the range by this fraction -> re-centre
        ("level_fraction", np.float64),  # risk_per_level: quote per level / capital
        ("max_exposure", np.float64),  # cap on held cost + armed buys, fraction of capital
        ("stop_mode", np.int64),  # 0 none, 1 fraction below the lower level, 2 ATR multiple below it
        ("stop_fraction", np.float64),
        ("stop_atr_mult", np.float64),
        ("adx_filter", np.int64),
        ("adx_threshold", np.float64),  # ADX above -> pause (trend)
        ("adx_reactivate", np.float64),  # ADX below this for reactivate_bars bars -> (re)build / resume
        ("reactivate_bars", np.int64),
        ("stop_cooldown_bars", np.int64),
        ("fees", np.float64),
        ("slippage", np.float64),
    ],
    align=True,
)

GRID_STATE_DTYPE = np.dtype(
    [
        ("status", np.int64),
        ("bar", np.int64),  # last bar stepped (-1: none)
        ("cash", np.float64),
        ("position", np.float64),
        ("ref", np.float64),
        ("lower", np.float64),
        ("upper", np.float64),
        ("atr_build", np.float64),
        ("stop_price", np.float64),
        ("capital", np.float64),
        ("cap", np.float64),
        ("held_cost", np.float64),  # cost of the units held (sum over slots)
        ("armed_notional", np.float64),  # sum of pending x buy level over slots
        ("init_quote", np.float64),  # quote of the build's market buy still to fill
        ("next_trade", np.int64),
        ("calm", np.int64),  # consecutive bars with ADX below adx_reactivate
        ("cooldown", np.int64),
        ("cycles", np.int64),
        ("cycle_profit", np.float64),
        ("builds", np.int64),
        ("stops", np.int64),
        ("dirty", np.int64),
    ],
    align=True,
)

SLOT_DTYPE = np.dtype(
    [
        ("armed", np.int64),
        ("want", np.float64),  # units a sell slot waits for from the build's market buy
        ("qty", np.float64),  # units per cycle
        ("pending", np.float64),  # units still to buy at levels[k]
        ("held", np.float64),  # units to sell at levels[k + 1]
        ("bought", np.float64),
        ("buy_value", np.float64),
        ("buy_fee", np.float64),
        ("sold", np.float64),
        ("sell_value", np.float64),
        ("sell_fee", np.float64),
        ("trade", np.int64),  # -1 until the cycle's first fill
    ],
    align=True,
)

#: Per-bar outputs (after the bar's fills and the step at its close): what the harness and the report read.
OUTPUT_NAMES = ("cash", "position", "equity", "status", "lower", "upper", "stop", "best_buy", "best_sell",
                "exposure", "cap", "cycles")
N_OUT = len(OUTPUT_NAMES)
EPS = 1e-12


@njit(cache=True)
def grid_levels_nb(lower: float, upper: float, n: int, geometric: bool, out: np.ndarray) -> None:
    """n levels from lower to upper: equal steps, or equal ratios (reference: numpy linspace / geomspace)."""
    if geometric:
        ratio = (upper / lower) ** (1.0 / (n - 1))
        for i in range(n):
            out[i] = lower * ratio ** i
    else:
        step = (upper - lower) / (n - 1)
        for i in range(n):
            out[i] = lower + step * i
    out[n - 1] = upper


@njit(cache=True)
def _clear_slot(s) -> None:
    s.pending = 0.0
    s.held = 0.0
    s.want = 0.0
    s.bought = 0.0
    s.buy_value = 0.0
    s.buy_fee = 0.0
    s.sold = 0.0
    s.sell_value = 0.0
    s.sell_fee = 0.0
    s.trade = -1


@njit(cache=True)
def _try_arm(h, s, price: float, p) -> bool:
    """Arm a buy of s.qty at `price` if the exposure cap and free cash allow it."""
    notional = s.qty * price
    if h.held_cost + h.armed_notional + h.init_quote + notional > h.cap * (1.0 + 1e-12):
        return False
    if (h.armed_notional + h.init_quote + notional) * (1.0 + p.fees) > h.cash * (1.0 - 1e-12):
        return False
    s.pending = s.qty
    s.armed = 1
    h.armed_notional += notional
    return True


@njit(cache=True)
def _nearest_level(levels, n: int, c: float) -> int:
    j = 0
    best = abs(levels[0] - c)
    for i in range(1, n):
        d = abs(levels[i] - c)
        if d < best:
            best = d
            j = i
    return j


@njit(cache=True)
def grid_build_nb(h, slots, levels, p, c: float, atr: float) -> bool:
    """Lay the grid around close c (module docstring); False when it cannot be built (no ATR yet, bad range)."""
    n = p.n_levels
    if p.range_mode == 1:
        if not atr > 0:
            return False
        lower, upper = c - p.range_atr_mult * atr, c + p.range_atr_mult * atr
    else:
        lower, upper = c * (1.0 - p.range_fraction), c * (1.0 + p.range_fraction)
    if not (lower > 0 and upper > lower):
        return False
    grid_levels_nb(lower, upper, n, p.geometric == 1, levels)
    h.ref, h.lower, h.upper, h.atr_build = c, lower, upper, atr
    if p.stop_mode == 1:
        h.stop_price = lower * (1.0 - p.stop_fraction)
    elif p.stop_mode == 2 and atr > 0:
        h.stop_price = lower - p.stop_atr_mult * atr
    else:
        h.stop_price = 0.0
    h.capital = h.cash + h.position * c
    h.cap = p.max_exposure * h.capital
    h.armed_notional = 0.0
    h.init_quote = 0.0
    per_level = p.level_fraction * h.capital
    for k in range(n - 1):
        _clear_slot(slots[k])
        slots[k].armed = 0
        slots[k].qty = per_level / levels[k]
    j = _nearest_level(levels, n, c)
    est = c * (1.0 + p.slippage)  # market price estimate for the sell slots' units
    for d in range(n):  # nearest first: sell slot j + d, buy slot j - 1 - d
        k = j + d
        if k < n - 1:
            s = slots[k]
            cost = s.qty * est
            room = h.cap - (h.held_cost + h.armed_notional + h.init_quote)
            need = (h.armed_notional + h.init_quote + cost) * (1.0 + p.fees)
            if cost <= room * (1.0 + 1e-12) and need <= h.cash * (1.0 - 1e-12):
                s.want = s.qty
                s.armed = 1
                h.init_quote += cost
        k = j - 1 - d
        if k >= 0:
            _try_arm(h, slots[k], levels[k], p)
    h.builds += 1
    h.status = ACTIVE
    h.dirty = 1
    return True


@njit(cache=True)
def grid_make_book_nb(h, slots, levels, book, summary, p) -> None:
    """Desired orders from the state: build market buy, buy levels (not while paused), sells, stop."""
    clear_book_nb(summary)
    if h.status == LIQUIDATING:
        add_intent_nb(book, summary, OrderKind.market, Side.sell, np.nan, h.position, 0.0, TAG_LIQ, FLAG_ALL)
        return
    if h.status != ACTIVE and h.status != PAUSED:
        return
    if h.init_quote > 0:
        add_intent_nb(book, summary, OrderKind.market, Side.buy, np.nan, 0.0, h.init_quote, TAG_INIT, FLAG_OPEN)
    for k in range(p.n_levels - 1):
        s = slots[k]
        if s.pending > EPS * s.qty and h.status == ACTIVE:
            add_intent_nb(book, summary, OrderKind.limit, Side.buy, levels[k], s.pending, 0.0, 2 * k, FLAG_OPEN)
        if s.held > EPS * s.qty:
            add_intent_nb(book, summary, OrderKind.limit, Side.sell, levels[k + 1], s.held, 0.0, 2 * k + 1, 0)
    if h.stop_price > 0:
        add_intent_nb(book, summary, OrderKind.stop, Side.sell, h.stop_price, h.position, 0.0, TAG_STOP, FLAG_ALL)


@njit(cache=True)
def _book_cash(h, side: int, price: float, size: float, fee: float) -> None:
    """Cash and position after one fill, in the same arithmetic as the ledger replay."""
    h.cash = h.cash - (side * size * price + fee)
    h.position = h.position + side * size


@njit(cache=True)
def _sell_all(h, slots, p, fills, nf: int, bar: int, price: float, reason: int):
    """Sell every slot's held units at `price` (one fill per open cycle); close those cycles."""
    for k in range(p.n_levels - 1):
        s = slots[k]
        if s.held > 0:
            size = s.held
            fee = p.fees * price * size
            fills = push_fill_nb(fills, nf, s.trade, bar, Side.sell, price, size, fee, reason)
            nf += 1
            _book_cash(h, Side.sell, price, size, fee)
            profit = s.sell_value + price * size - s.buy_value - s.buy_fee - s.sell_fee - fee
            h.cycle_profit += profit
            h.cycles += 1
        _clear_slot(s)
        s.armed = 0
    h.held_cost = 0.0
    h.armed_notional = 0.0
    h.init_quote = 0.0
    return fills, nf


@njit(cache=True)
def _fill_init(h, slots, p, fills, nf: int, bar: int, price: float, quote: float):
    """The build's market buy: `quote` spent at `price`, units shared pro rata among the waiting sell slots."""
    total_want = 0.0
    for k in range(p.n_levels - 1):
        total_want += slots[k].want
    units = quote / price
    for k in range(p.n_levels - 1):
        s = slots[k]
        if s.want <= 0:
            continue
        size = units * (s.want / total_want)
        fee = p.fees * price * size
        s.trade = h.next_trade
        h.next_trade += 1
        fills = push_fill_nb(fills, nf, s.trade, bar, Side.buy, price, size, fee, Reason.market)
        nf += 1
        _book_cash(h, Side.buy, price, size, fee)
        s.held += size
        s.bought += size
        s.buy_value += price * size
        s.buy_fee += fee
        h.held_cost += price * size
        s.want = 0.0
    h.init_quote = 0.0
    return fills, nf


@njit(cache=True)
def _fill_slot(h, slots, levels, p, fills, nf: int, bar: int, tag: int, price: float, size: float):
    """A (possibly partial) fill of slot k's buy (tag 2k) or its counter sell (tag 2k + 1)."""
    k = tag // 2
    s = slots[k]
    fee = p.fees * price * size
    if tag % 2 == 0:
        size = min(size, s.pending)
        fee = p.fees * price * size
        if s.trade < 0:
            s.trade = h.next_trade
            h.next_trade += 1
        fills = push_fill_nb(fills, nf, s.trade, bar, Side.buy, price, size, fee, Reason.limit)
        nf += 1
        _book_cash(h, Side.buy, price, size, fee)
        s.pending -= size
        s.held += size
        s.bought += size
        s.buy_value += price * size
        s.buy_fee += fee
        h.armed_notional -= size * levels[k]
        h.held_cost += price * size
        if s.pending <= EPS * s.qty:
            h.armed_notional -= s.pending * levels[k]
            s.pending = 0.0
        return fills, nf
    size = min(size, s.held)
    fee = p.fees * price * size
    fills = push_fill_nb(fills, nf, s.trade, bar, Side.sell, price, size, fee, Reason.limit)
    nf += 1
    _book_cash(h, Side.sell, price, size, fee)
    h.held_cost -= size * (s.buy_value / s.bought)
    s.held -= size
    s.sold += size
    s.sell_value += price * size
    s.sell_fee += fee
    if s.held <= EPS * s.qty and s.pending <= EPS * s.qty:  # cycle complete
        h.cycle_profit += s.sell_value - s.buy_value - s.buy_fee - s.sell_fee
        h.cycles += 1
        _clear_slot(s)
        s.armed = 0
        if h.held_cost < 0 and h.held_cost > -1e-9 * h.capital:
            h.held_cost = 0.0
        _try_arm(h, s, levels[k], p)
    return fills, nf


@njit(cache=True)
def grid_on_fill_nb(h, slots, levels, p, fills, nf: int, bar: int, tag: int, side: int, price: float,
                    size: float, quote: float):
    """Feed one fill (full or partial) into the state. Returns (fills, n_fills, cancel_rest_of_bar)."""
    h.dirty = 1
    if tag == TAG_INIT:
        fills, nf = _fill_init(h, slots, p, fills, nf, bar, price, quote)
        return fills, nf, False
    if tag == TAG_STOP or tag == TAG_LIQ or tag == TAG_FLATTEN:
        reason = Reason.risk if tag == TAG_STOP else (Reason.flatten if tag == TAG_FLATTEN else Reason.market)
        fills, nf = _sell_all(h, slots, p, fills, nf, bar, price, reason)
        if tag != TAG_LIQ:  # the grid stop, or the risk guard's flatten: cool down like a stop
            h.status = STOPPED
            h.cooldown = p.stop_cooldown_bars + 1  # counted down from the stop bar's own close
            h.stops += 1
        else:
            h.status = FLAT
        h.stop_price = 0.0
        return fills, nf, True
    fills, nf = _fill_slot(h, slots, levels, p, fills, nf, bar, tag, price, size)
    return fills, nf, False


@njit(cache=True)
def _rearm_idle(h, slots, levels, p, c: float) -> None:
    """Arm idle slots whose buy level is below the close, nearest first (room freed by completed cycles)."""
    n = p.n_levels
    j = _nearest_level(levels, n, c)
    for d in range(n):
        k = j - 1 - d
        if k < 0:
            break
        s = slots[k]
        if s.armed == 0 and s.held <= 0 and s.pending <= 0 and s.want <= 0 and levels[k] < c:
            _try_arm(h, s, levels[k], p)


@njit(cache=True)
def _leave(h, c: float) -> None:
    """Close the grid before a rebuild: sell everything at the next open, or rebuild at once when flat."""
    if h.position > EPS * max(h.capital, 1.0) / max(c, EPS):
        h.status = LIQUIDATING
    else:
        h.status = FLAT
    h.dirty = 1


@njit(cache=True)
def grid_step_nb(h, slots, levels, book, summary, p, bar: int, c: float, atr: float, adx: float) -> bool:
    """The decision at bar `bar`'s close (after its fills were fed in). Returns whether the book changed."""
    h.bar = bar
    if p.adx_filter == 1:
        h.calm = h.calm + 1 if adx < p.adx_reactivate else 0
        calm = h.calm >= p.reactivate_bars
        trend = adx > p.adx_threshold
    else:
        calm = True
        trend = False
    st = h.status
    if st == STOPPED:
        h.cooldown -= 1
        if h.cooldown <= 0:
            h.status = FLAT
            st = FLAT
    if st == ACTIVE:
        if trend:
            h.status = PAUSED
            h.dirty = 1
        elif p.recenter == 1 and (c > h.upper * (1.0 + p.recenter_threshold)
                                  or c < h.lower * (1.0 - p.recenter_threshold)):
            _leave(h, c)
        elif p.range_mode == 1 and p.atr_hysteresis > 0 and abs(atr / h.atr_build - 1.0) > p.atr_hysteresis:
            _leave(h, c)
        elif h.dirty == 1 and h.cap - (h.held_cost + h.armed_notional + h.init_quote) >= p.level_fraction * h.capital:
            _rearm_idle(h, slots, levels, p, c)  # only when a whole level's notional fits under the cap
    elif st == PAUSED:
        if calm and not trend:
            if h.lower <= c <= h.upper:
                h.status = ACTIVE
                h.dirty = 1
            else:
                _leave(h, c)
    if h.status == FLAT and calm:
        grid_build_nb(h, slots, levels, p, c, atr)
    if h.dirty == 1:
        grid_make_book_nb(h, slots, levels, book, summary, p)
        h.dirty = 0
        return True
    return False


@njit(cache=True)
def grid_fill_bar_nb(h, slots, levels, p, gbook, gsum, rp, rs, log, fills, nf: int, bar: int, open_: float,
                     high: float, low: float, ev_idx, ev_price, ev_phase, ev_key, ev_rank):
    """The bar's fills of the guarded book by the intrabar rule (core.orders_nb), each fed to the state machine and
    the risk guard; an opening market buy spends what the guard allows at its fill. Returns (fills, nf, log)."""
    if not may_fill_nb(gsum, high, low):
        return fills, nf, log
    m = bar_events_nb(gbook, gsum, open_, high, low, p.slippage, ev_idx, ev_price, ev_phase, ev_key, ev_rank)
    for e in range(m):
        o = gbook[ev_idx[e]]
        quote, log = risk_fill_quote_nb(rs, rp, o, ev_price[e], h.cash, bar, log)
        if o.quote > 0 and quote <= 0:
            continue
        n0 = nf
        fills, nf, cancel = grid_on_fill_nb(h, slots, levels, p, fills, nf, bar, o.tag, o.side, ev_price[e], o.size,
                                            quote)
        risk_on_fills_nb(rs, fills, n0, nf)
        if cancel:
            break
    return fills, nf, log


@njit(cache=True)
def grid_close_nb(h, slots, levels, book, summary, p, gbook, gsum, rp, rs, log, bar: int, c: float, atr: float,
                  adx: float):
    """The step at bar `bar`'s close, then the risk guard: the desired book becomes the guarded book. Returns log."""
    grid_step_nb(h, slots, levels, book, summary, p, bar, c, atr, adx)
    eq = h.cash + h.position * c
    log = risk_close_nb(rs, rp, eq, bar, log)
    return risk_filter_nb(rs, rp, book, summary, gbook, gsum, eq, c, bar, log)


@njit(cache=True)
def simulate_grid_nb(open_, high, low, close, atr, adx, days, p, h, slots, levels, book, summary, rp, rs, gbook, gsum,
                     log, start: int, end: int, fills, nf: int, out):
    """Run bars start..end-1: the guarded book's fills by the intrabar rule (core.orders_nb), then the step at the
    close and the risk guard (core.risk_nb).

    State arrays are updated in place (so a run can be continued); per-bar outputs go to out[i].
    Returns (fills, n_fills, log).
    """
    cap = gbook.shape[0]
    ev_idx = np.empty(cap, dtype=np.int64)
    ev_price = np.empty(cap)
    ev_phase = np.empty(cap, dtype=np.int64)
    ev_key = np.empty(cap)
    ev_rank = np.empty(cap, dtype=np.int64)
    for i in range(start, end):
        risk_new_bar_nb(rs, days[i], h.cash)
        fills, nf, log = grid_fill_bar_nb(h, slots, levels, p, gbook, gsum, rp, rs, log, fills, nf, i, open_[i],
                                          high[i], low[i], ev_idx, ev_price, ev_phase, ev_key, ev_rank)
        log = grid_close_nb(h, slots, levels, book, summary, p, gbook, gsum, rp, rs, log, i, close[i], atr[i], adx[i])
        out[i, 0] = h.cash
        out[i, 1] = h.position
        out[i, 2] = h.cash + h.position * close[i]
        out[i, 3] = h.status
        out[i, 4] = h.lower
        out[i, 5] = h.upper
        out[i, 6] = h.stop_price
        out[i, 7] = summary.max_buy
        out[i, 8] = summary.min_sell
        out[i, 9] = h.held_cost
        out[i, 10] = h.cap
        out[i, 11] = h.cycles
    return fills, nf, log
