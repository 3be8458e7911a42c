"""DCA state machine: numba kernels over plain structured arrays (state saves and restores as bytes).

State (see `traderagent.strategies.dca` for the wrapper):
  hdr[0]   DCA_STATE_DTYPE  status, cash, position, average, cycle bookkeeping, counters
  ladder   LADDER_DTYPE (max_safety_orders)  the current cycle's safety orders
  book, summary            the desired orders after the last step (see orders_nb)

Cycle: IDLE -> (entry trigger at a close) ENTERING: market buy of the base order at the next open -> IN:
the safety ladder rests below the base fill price; each safety fill re-averages the entry; sells rest above
the average (optional scale-outs, then the take-profit for the rest); an emergency stop (from the first
entry or from the average, per `stop_ref`) and a per-cycle drawdown stop sell everything. A cycle ends when
the position is gone: take-profit -> IDLE, stop -> COOLDOWN for `cooldown_bars` bars. One trade id per cycle.

Ladder: safety order k (1-based) sits at first x (1 - d_k), d_k = step x (1 + s + ... + s^(k-1)) with s =
step_scale, and spends base x multiplier^k of quote; orders that would take the cycle's spend (with fees)
above `capital per sequence` or its position cost above `max position` are not placed.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from traderagent.core.orders_nb import (
    FLAG_ALL,
    FLAG_OPEN,
    FLAG_STOP_AVG,
    OrderKind,
    add_intent_nb,
    bar_events_nb,
    clear_book_nb,
    may_fill_nb,
    push_fill_nb,
)
from traderagent.core.records import FILL_DTYPE, Reason, Side
from traderagent.core.risk_nb import (
    TAG_FLATTEN,
    risk_close_nb,
    risk_fill_quote_nb,
    risk_filter_nb,
    risk_new_bar_nb,
    risk_on_fills_nb,
)

IDLE = 0
ENTERING = 1
IN = 2
COOLDOWN = 3

TAG_BASE = -1
TAG_STOP = -3
TAG_TP = -4
TAG_SCALE = -10  # scale-out i has tag TAG_SCALE - i
MAX_SCALE = 3

DCA_PARAMS_DTYPE = np.dtype(
    [
        ("entry_mode", np.int64),  # 0: downtrend trigger, 1: whenever idle
        ("adx_min", np.float64),  # downtrend: ADX >= adx_min ...
        ("require_di", np.int64),  # ... and -DI > +DI when set (EMA fast < EMA slow always)
        ("base_fraction", np.float64),  # base order quote / equity at the trigger
        ("capital_fraction", np.float64),  # capital per sequence / equity at the trigger
        ("max_position_fraction", np.float64),  # position cost cap / equity at the trigger
        ("max_safety", np.int64),
        ("safety_mult", np.float64),
        ("step", np.float64),
        ("step_scale", np.float64),
        ("tp", np.float64),
        ("n_scale", np.int64),
        ("scale_pct", np.float64, (MAX_SCALE,)),
        ("scale_frac", np.float64, (MAX_SCALE,)),
        ("stop_fraction", np.float64),  # emergency stop distance (0: none)
        ("stop_ref", np.int64),  # 0: from the first entry (fixed), 1: from the current average
        ("max_cycle_drawdown", np.float64),  # loss limit per cycle / capital per sequence (0: none)
        ("cooldown_bars", np.int64),
        ("fees", np.float64),
        ("slippage", np.float64),
    ],
    align=True,
)

DCA_STATE_DTYPE = np.dtype(
    [
        ("status", np.int64),
        ("bar", np.int64),
        ("cash", np.float64),
        ("position", np.float64),
        ("cycle_cash0", np.float64),  # cash when the cycle was triggered
        ("seq_capital", np.float64),
        ("max_cost", np.float64),
        ("base_quote", np.float64),
        ("first_price", np.float64),
        ("cost_basis", np.float64),  # average x position (fees excluded)
        ("avg", np.float64),
        ("spent", np.float64),  # quote spent on the cycle's buys, fees included
        ("n_safety", np.int64),  # safety orders filled this cycle
        ("trade", np.int64),
        ("next_trade", np.int64),
        ("scale_done", np.int64, (MAX_SCALE,)),
        ("cooldown", np.int64),
        ("cycles", np.int64),
        ("stops", np.int64),
        ("tp_price", np.float64),
        ("stop_price", np.float64),
        ("dirty", np.int64),
        ("guard_loss", np.float64),  # the risk guard's max_loss_per_trade (0: off), set before each close
        ("dd_loss", np.float64),  # the cycle's loss budget in quote (max_cycle_drawdown, capped by the guard)
    ],
    align=True,
)

LADDER_DTYPE = np.dtype(
    [("price", np.float64), ("qty", np.float64), ("quote", np.float64), ("placed", np.int64), ("filled", np.int64)],
    align=True,
)

#: One row per safety order laid (for the report's ladder per cycle).
LADDER_LOG_DTYPE = np.dtype(
    [("trade", np.int64), ("bar", np.int64), ("k", np.int64), ("price", np.float64), ("quote", np.float64),
     ("placed", np.int64)],
    align=True,
)

OUTPUT_NAMES = ("cash", "position", "equity", "status", "avg_price", "tp_price", "stop_price", "next_safety",
                "safety_filled", "cycles")
N_OUT = len(OUTPUT_NAMES)
EPS = 1e-12


@njit(cache=True)
def downtrend_nb(ema_fast: float, ema_slow: float, adx: float, plus_di: float, minus_di: float, p) -> bool:
    """EMA fast below EMA slow, ADX >= adx_min and (if required) -DI above +DI; NaN inputs give False."""
    if not ema_fast < ema_slow:
        return False
    if not adx >= p.adx_min:
        return False
    if p.require_di == 1 and not minus_di > plus_di:
        return False
    return True


@njit(cache=True)
def safety_deviation_nb(k: int, step: float, scale: float) -> float:
    """Drop from the first entry of safety order k (1-based): step x (1 + scale + ... + scale^(k-1))."""
    d = 0.0
    term = step
    for _ in range(k):
        d += term
        term *= scale
    return d


@njit(cache=True)
def _lay_ladder(h, ladder, p, log, nlog: int, bar: int):
    spend = h.spent
    cost = h.cost_basis
    for k in range(p.max_safety):
        r = ladder[k]
        d = safety_deviation_nb(k + 1, p.step, p.step_scale)
        r.price = h.first_price * (1.0 - d)
        r.quote = h.base_quote * p.safety_mult ** (k + 1)
        r.filled = 0
        r.placed = 0
        if r.price > 0:
            r.qty = r.quote / r.price
            if (spend + r.quote * (1.0 + p.fees) <= h.seq_capital * (1.0 + 1e-12)
                    and cost + r.quote <= h.max_cost * (1.0 + 1e-12)):
                r.placed = 1
                spend += r.quote * (1.0 + p.fees)
                cost += r.quote
        else:
            r.qty = 0.0
        if nlog >= log.shape[0]:
            bigger = np.empty(max(16, 2 * log.shape[0]), dtype=log.dtype)
            bigger[:nlog] = log[:nlog]
            log = bigger
        log[nlog].trade = h.trade
        log[nlog].bar = bar
        log[nlog].k = k + 1
        log[nlog].price = r.price
        log[nlog].quote = r.quote
        log[nlog].placed = r.placed
        nlog += 1
    return log, nlog


@njit(cache=True)
def _book_cash(h, side: int, price: float, size: float, fee: float) -> None:
    h.cash = h.cash - (side * size * price + fee)
    h.position = h.position + side * size


@njit(cache=True)
def _end_cycle(h, p, stopped: bool) -> None:
    h.cycles += 1
    h.cost_basis = 0.0
    h.avg = np.nan
    h.n_safety = 0
    h.trade = -1
    for i in range(MAX_SCALE):
        h.scale_done[i] = 0
    if stopped:
        h.stops += 1
        h.status = COOLDOWN
        h.cooldown = p.cooldown_bars + 1  # counted down from the stop bar's own close
    else:
        h.status = IDLE


@njit(cache=True)
def dca_on_fill_nb(h, ladder, p, fills, nf: int, log, nlog: int, bar: int, tag: int, price: float,
                   size: float, quote: float):
    """Feed one fill (full or partial) into the state. Returns (fills, n_fills, log, n_log, cancel_rest)."""
    h.dirty = 1
    if tag == TAG_BASE:
        size = quote / price
        fee = p.fees * price * size
        h.trade = h.next_trade
        h.next_trade += 1
        fills = push_fill_nb(fills, nf, h.trade, bar, Side.buy, price, size, fee, Reason.market)
        _book_cash(h, Side.buy, price, size, fee)
        h.first_price = price
        h.cost_basis = price * size
        h.avg = price
        h.spent = price * size + fee
        h.status = IN
        log, nlog = _lay_ladder(h, ladder, p, log, nlog, bar)
        return fills, nf + 1, log, nlog, False
    if tag >= 0:  # safety order k (0-based); a partial fill leaves the rest resting
        r = ladder[tag]
        size = min(size, r.qty)
        fee = p.fees * price * size
        fills = push_fill_nb(fills, nf, h.trade, bar, Side.buy, price, size, fee, Reason.limit)
        _book_cash(h, Side.buy, price, size, fee)
        h.cost_basis += price * size
        h.avg = h.cost_basis / h.position
        h.spent += price * size + fee
        r.qty -= size
        if r.qty <= EPS * (r.quote / r.price):
            r.qty = 0.0
            r.filled = 1
            h.n_safety += 1
        return fills, nf + 1, log, nlog, False
    if tag == TAG_STOP or tag == TAG_FLATTEN:  # the emergency stop, or the risk guard's flatten
        size = h.position
        reason = Reason.risk if tag == TAG_STOP else Reason.flatten
    else:
        size = min(size, h.position)
        reason = Reason.target if tag == TAG_TP else Reason.limit
    if size > 0:
        fee = p.fees * price * size
        fills = push_fill_nb(fills, nf, h.trade, bar, Side.sell, price, size, fee, reason)
        nf += 1
        _book_cash(h, Side.sell, price, size, fee)
        h.cost_basis = h.avg * h.position
    if tag <= TAG_SCALE:
        h.scale_done[TAG_SCALE - tag] = 1
    if tag == TAG_STOP or tag == TAG_FLATTEN or h.position <= EPS * max(h.cost_basis / max(h.avg, EPS), 1.0):
        _end_cycle(h, p, tag == TAG_STOP or tag == TAG_FLATTEN)
        return fills, nf, log, nlog, True
    return fills, nf, log, nlog, False


@njit(cache=True)
def dca_stop_price_nb(h, p) -> float:
    """The stop that sells everything: the higher of the emergency stop and the cycle drawdown stop (0: none)."""
    stop = 0.0
    if p.stop_fraction > 0:
        ref = h.avg if p.stop_ref == 1 else h.first_price
        stop = ref * (1.0 - p.stop_fraction)
    if p.max_cycle_drawdown > 0 and h.position > 0:
        # cycle P&L when the position is sold at x: (cash - cash at the trigger) + position x (1-slip)(1-fee);
        # stop where it reaches -budget
        keep = (1.0 - p.slippage) * (1.0 - p.fees)
        dd = (-h.dd_loss - (h.cash - h.cycle_cash0)) / (h.position * keep)
        stop = max(stop, dd)
    return stop


@njit(cache=True)
def dca_make_book_nb(h, ladder, book, summary, p) -> None:
    """Desired orders: base market buy (ENTERING); safety ladder, scale-outs, take-profit, stop (IN)."""
    clear_book_nb(summary)
    h.tp_price = np.nan
    h.stop_price = np.nan
    if h.status == ENTERING:  # the stop laid after the base fill is announced to the risk guard (price field)
        flags = FLAG_OPEN | (FLAG_STOP_AVG if p.stop_fraction > 0 else 0)
        add_intent_nb(book, summary, OrderKind.market, Side.buy, p.stop_fraction, 0.0, h.base_quote, TAG_BASE, flags)
        return
    if h.status != IN:
        return
    for k in range(p.max_safety):
        r = ladder[k]
        if r.placed == 1 and r.filled == 0 and r.qty > 0:
            add_intent_nb(book, summary, OrderKind.limit, Side.buy, r.price, r.qty, 0.0, k, FLAG_OPEN)
    rest = h.position
    for i in range(p.n_scale):
        if h.scale_done[i] == 0:
            size = p.scale_frac[i] * h.position
            rest -= size
            add_intent_nb(book, summary, OrderKind.limit, Side.sell, h.avg * (1.0 + p.scale_pct[i]), size, 0.0,
                          TAG_SCALE - i, 0)
    h.tp_price = h.avg * (1.0 + p.tp)
    add_intent_nb(book, summary, OrderKind.limit, Side.sell, h.tp_price, rest, 0.0, TAG_TP, 0)
    stop = dca_stop_price_nb(h, p)
    if stop > 0:
        h.stop_price = stop
        if p.stop_ref == 1 and p.stop_fraction > 0:  # follows the average: the guard prices it after averaging
            add_intent_nb(book, summary, OrderKind.stop, Side.sell, stop, h.position, p.stop_fraction, TAG_STOP,
                          FLAG_ALL | FLAG_STOP_AVG)
        else:
            add_intent_nb(book, summary, OrderKind.stop, Side.sell, stop, h.position, 0.0, TAG_STOP, FLAG_ALL)


@njit(cache=True)
def dca_step_nb(h, ladder, book, summary, p, bar: int, c: float, ema_fast: float, ema_slow: float, adx: float,
                plus_di: float, minus_di: float, slots_free: int) -> bool:
    """The decision at bar `bar`'s close (after its fills). `slots_free`: cycles that may still start across
    symbols (max concurrent DCA cycles minus the active ones). Returns whether the book changed."""
    h.bar = bar
    if h.status == COOLDOWN:
        h.cooldown -= 1
        if h.cooldown <= 0:
            h.status = IDLE
    if h.status == IDLE and slots_free > 0:
        if p.entry_mode == 1 or downtrend_nb(ema_fast, ema_slow, adx, plus_di, minus_di, p):
            equity = h.cash + h.position * c
            h.seq_capital = p.capital_fraction * equity
            h.dd_loss = p.max_cycle_drawdown * h.seq_capital
            if h.guard_loss > 0:  # the guard's max_loss_per_trade binds the cycle's loss budget too
                h.dd_loss = min(h.dd_loss, h.guard_loss * equity)
            h.max_cost = p.max_position_fraction * equity
            base = min(p.base_fraction * equity, h.seq_capital / (1.0 + p.fees), h.max_cost)
            base = min(base, h.cash / (1.0 + p.fees) * (1.0 - 1e-12))
            if base > 0:
                h.base_quote = base
                h.cycle_cash0 = h.cash
                h.spent = 0.0
                h.status = ENTERING
                h.dirty = 1
    if h.dirty == 1:
        dca_make_book_nb(h, ladder, book, summary, p)
        h.dirty = 0
        return True
    return False


@njit(cache=True)
def dca_bar_nb(h, ladder, book, summary, p, fills, nf: int, log, nlog: int, i: int, o: float, hi: float,
               lo: float, c: float, ema_fast: float, ema_slow: float, adx: float, plus_di: float,
               minus_di: float, slots_free: int, ev_idx, ev_price, ev_phase, ev_key, ev_rank):
    """One bar without the risk guard (the multi-symbol concurrency check of `simulate_dca_multi_nb`): fills of the
    desired book by the intrabar rule, then the step at the close."""
    if may_fill_nb(summary, hi, lo):
        m = bar_events_nb(book, summary, o, hi, lo, p.slippage, ev_idx, ev_price, ev_phase, ev_key, ev_rank)
        for e in range(m):
            b = book[ev_idx[e]]
            fills, nf, log, nlog, cancel = dca_on_fill_nb(h, ladder, p, fills, nf, log, nlog, i, b.tag,
                                                          ev_price[e], b.size, b.quote)
            if cancel:
                break
    dca_step_nb(h, ladder, book, summary, p, i, c, ema_fast, ema_slow, adx, plus_di, minus_di, slots_free)
    return fills, nf, log, nlog


@njit(cache=True)
def _record(out, i: int, h, ladder, p, c: float) -> None:
    out[i, 0] = h.cash
    out[i, 1] = h.position
    out[i, 2] = h.cash + h.position * c
    out[i, 3] = h.status
    out[i, 4] = h.avg if h.status == IN else np.nan
    out[i, 5] = h.tp_price
    out[i, 6] = h.stop_price
    nxt = np.nan
    if h.status == IN:
        for k in range(p.max_safety):
            if ladder[k].placed == 1 and ladder[k].filled == 0:
                nxt = ladder[k].price
                break
    out[i, 7] = nxt
    out[i, 8] = h.n_safety
    out[i, 9] = h.cycles


@njit(cache=True)
def dca_fill_bar_nb(h, ladder, p, gbook, gsum, rp, rs, rlog, fills, nf: int, log, nlog: int, bar: int, o: float,
                    hi: float, lo: float, ev_idx, ev_price, ev_phase, ev_key, ev_rank):
    """The bar's fills of the guarded book by the intrabar rule, each fed to the machine and the risk guard; the base
    order spends what the guard allows at its fill. Returns (fills, nf, log, nlog, rlog)."""
    if not may_fill_nb(gsum, hi, lo):
        return fills, nf, log, nlog, rlog
    m = bar_events_nb(gbook, gsum, o, hi, lo, p.slippage, ev_idx, ev_price, ev_phase, ev_key, ev_rank)
    for e in range(m):
        b = gbook[ev_idx[e]]
        quote, rlog = risk_fill_quote_nb(rs, rp, b, ev_price[e], h.cash, bar, rlog)
        if b.quote > 0 and quote <= 0:
            continue
        n0 = nf
        fills, nf, log, nlog, cancel = dca_on_fill_nb(h, ladder, p, fills, nf, log, nlog, bar, b.tag, ev_price[e],
                                                      b.size, quote)
        risk_on_fills_nb(rs, fills, n0, nf)
        if cancel:
            break
    return fills, nf, log, nlog, rlog


@njit(cache=True)
def dca_close_nb(h, ladder, book, summary, p, gbook, gsum, rp, rs, rlog, bar: int, c: float, ema_fast: float,
                 ema_slow: float, adx: float, plus_di: float, minus_di: float, slots_free: int):
    """The step at bar `bar`'s close, then the risk guard (desired book -> guarded book). Returns the guard's log."""
    h.guard_loss = rp.max_loss if rp.enabled == 1 else 0.0
    dca_step_nb(h, ladder, book, summary, p, bar, c, ema_fast, ema_slow, adx, plus_di, minus_di, slots_free)
    eq = h.cash + h.position * c
    rlog = risk_close_nb(rs, rp, eq, bar, rlog)
    return risk_filter_nb(rs, rp, book, summary, gbook, gsum, eq, c, bar, rlog)


@njit(cache=True)
def simulate_dca_nb(open_, high, low, close, ema_fast, ema_slow, adx, plus_di, minus_di, days, p, h, ladder, book,
                    summary, rp, rs, gbook, gsum, rlog, start: int, end: int, fills, nf: int, log, nlog: int, out):
    """Run bars start..end-1 for one symbol (state updated in place, outputs in out[i]): the guarded book's fills,
    the step at the close, the risk guard. Returns (fills, n_fills, ladder log, n_log, guard log)."""
    cap = gbook.shape[0]
    ev_idx = np.empty(cap, dtype=np.int64)
    ev_price = np.empty(cap)
    ev_phase = np.empty(cap, dtype=np.int64)
    ev_key = np.empty(cap)
    ev_rank = np.empty(cap, dtype=np.int64)
    for i in range(start, end):
        risk_new_bar_nb(rs, days[i], h.cash)
        fills, nf, log, nlog, rlog = dca_fill_bar_nb(h, ladder, p, gbook, gsum, rp, rs, rlog, fills, nf, log, nlog, i,
                                                     open_[i], high[i], low[i], ev_idx, ev_price, ev_phase, ev_key,
                                                     ev_rank)
        rlog = dca_close_nb(h, ladder, book, summary, p, gbook, gsum, rp, rs, rlog, i, close[i], ema_fast[i],
                            ema_slow[i], adx[i], plus_di[i], minus_di[i], 1)
        _record(out, i, h, ladder, p, close[i])
    return fills, nf, log, nlog, rlog


@njit(cache=True)
def simulate_dca_multi_nb(open_, high, low, close, ema_fast, ema_slow, adx, plus_di, minus_di, p, hdrs, ladders,
                          books, summaries, max_concurrent: int, out):
    """Several symbols on one clock (arrays (n, s)), each with its own state and cash; at most `max_concurrent`
    cycles open at once: symbols are stepped in column order and a trigger needs a free slot.

    Returns per-bar active cycle counts; fills are not recorded (this run checks the concurrency rule and
    gives per-symbol outputs in out[i, s, :]).
    """
    n, s = close.shape
    cap = books.shape[1]
    ev_idx = np.empty(cap, dtype=np.int64)
    ev_price = np.empty(cap)
    ev_phase = np.empty(cap, dtype=np.int64)
    ev_key = np.empty(cap)
    ev_rank = np.empty(cap, dtype=np.int64)
    active = np.zeros(n, dtype=np.int64)
    fills = np.empty(16, dtype=FILL_DTYPE)
    log = np.empty(16, dtype=LADDER_LOG_DTYPE)
    for i in range(n):
        for j in range(s):
            h = hdrs[j]
            nf = 0
            nlog = 0
            busy = 0
            for q in range(s):
                if hdrs[q].status == ENTERING or hdrs[q].status == IN:
                    busy += 1
            fills, nf, log, nlog = dca_bar_nb(h, ladders[j], books[j], summaries[j], p, fills, nf, log, nlog, i,
                                              open_[i, j], high[i, j], low[i, j], close[i, j], ema_fast[i, j],
                                              ema_slow[i, j], adx[i, j], plus_di[i, j], minus_di[i, j],
                                              max_concurrent - busy, ev_idx, ev_price, ev_phase, ev_key, ev_rank)
            _record(out[:, j, :], i, h, ladders[j], p, close[i, j])
        for q in range(s):
            if hdrs[q].status == ENTERING or hdrs[q].status == IN:
                active[i] += 1
    return active
