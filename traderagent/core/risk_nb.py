"""The risk guard: one numba implementation, configured by the config's `risk` section, called by every driver.

The signal engine, the order engines, the portfolio's sleeves and the live runner all pass a strategy's desired
book through `risk_filter_nb` after each step, size signal entries with `risk_entry_size_nb` at their fill, cap
opening market buys with `risk_market_quote_nb` at their fill, and feed every fill to `risk_on_fill_nb`. Limits are
fractions of the strategy instance's own equity (its allocation, in a portfolio).

Rules (docs/risk.md has the long form):
  max_loss_per_trade  An entry is sized so that a stop-out loses at most this fraction of equity, fees and
                      slippage included. For an order book: if every opening order above the book's stop filled
                      and the stop then triggered, the loss on everything held (from its cost) stays within the
                      limit of the lowest closing equity since the position opened. Opening orders are taken in the
                      order they would fill (market first, then buys from the highest price down); a resting order
                      that does not fit whole is refused (no partial orders, so no dust and no half-placed slots);
                      a market buy is cut to what fits at its fill price. A book without a stop is capped by
                      max_position only.
  daily_loss_limit    Once the UTC day's loss (realized plus open, from the equity at the day's first open)
                      reaches the limit at a bar's close, opening orders are refused until the next UTC day; with
                      `daily_loss_action: flatten` the position is also closed at the next bar's open (tag
                      TAG_FLATTEN, which every state machine handles like its own stop).
  max_exposure,       Position notional (valued at the higher of the close and the order's price) plus the
  max_position        approved opening orders stays within min(max_exposure, max_position) x equity (one instance
                      trades one market, so its exposure is its position; a portfolio's exposure is then within the
                      same cap). Entries sized at their fill use the fill price.
Every refusal or resize is logged (BLOCK_DTYPE): bar, rule, action, side, orders, notional refused, first tag.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from traderagent.core.orders_nb import (
    FLAG_OPEN,
    FLAG_SIZE_AT_FILL,
    FLAG_STOP_AVG,
    OrderKind,
    add_intent_nb,
    clear_book_nb,
    copy_intent_nb,
)


class RuleT(NamedTuple):
    max_loss_per_trade: int = 0
    daily_loss_limit: int = 1
    max_exposure: int = 2
    max_position: int = 3


Rule = RuleT()
RULE_NAMES = tuple(Rule._fields)


class ActionT(NamedTuple):
    refused: int = 0  # opening orders removed from the book
    resized: int = 1  # an opening order (or an entry at its fill) made smaller
    flattened: int = 2  # the position closed at the next open (daily loss limit, action flatten)
    reached: int = 3  # the daily loss limit was reached at this bar's close (amount = the day's loss fraction)


Action = ActionT()
ACTION_NAMES = tuple(Action._fields)

#: Tag of the guard's own order (the daily flatten); state machines treat it like their stop.
TAG_FLATTEN = -999

RISK_PARAMS_DTYPE = np.dtype(
    [
        ("enabled", np.int64),  # 0: the guard passes everything through (mechanics tests only)
        ("max_loss", np.float64),
        ("daily_limit", np.float64),  # 0: no daily limit
        ("flatten", np.int64),
        ("max_exposure", np.float64),
        ("max_position", np.float64),
        ("fees", np.float64),
        ("slippage", np.float64),
    ],
    align=True,
)

RISK_STATE_DTYPE = np.dtype(
    [
        ("day", np.int64),  # UTC day number of the bar being filled (-1: none yet)
        ("day_equity", np.float64),  # equity at the previous day's last close
        ("last_equity", np.float64),  # equity at the last close the guard saw (NaN: none yet)
        ("blocked", np.int64),  # the daily loss limit was reached today
        ("units", np.float64),  # position units (signed), from the fills
        ("cost", np.float64),  # quote paid for the units held, buy fees included (average-cost accounting)
        ("cost_nf", np.float64),  # the same without fees
        ("min_equity", np.float64),  # lowest closing equity since the position opened (reset when flat)
        ("loss_ref", np.float64),  # max_loss x the equity reference of the last filter
        ("has_stop", np.int64),  # the last filtered book had a sell stop
        ("stop", np.float64),  # its lowest fixed sell stop (+inf: none)
        ("stop_frac", np.float64),  # or the fraction below the average of a FLAG_STOP_AVG stop (NaN: none)
        ("lim_notional", np.float64),  # approved resting opening limit buys: notional
        ("lim_units", np.float64),  # ... and units
        ("n_log", np.int64),  # rows used in the block log
        ("last", np.int64, (4, 2)),  # per rule, the row of its last refusal / resize (-1: none), to extend it
    ],
    align=True,
)

BLOCK_DTYPE = np.dtype(
    [
        ("bar", np.int64),  # first bar at whose close it happened
        ("until", np.int64),  # last such bar of an unbroken run (the same orders refused bar after bar: one block)
        ("rule", np.int8),
        ("action", np.int8),
        ("side", np.int8),
        ("n", np.int64),  # orders refused or resized
        ("amount", np.float64),  # notional refused (quote, the largest of the run); for `reached`, the day's loss
        ("tag", np.int64),  # the first order's tag
    ],
    align=True,
)

EPS = 1e-12


@njit(cache=True)
def new_risk_state_nb(rs) -> None:
    rs.day = -1
    rs.day_equity = np.nan
    rs.last_equity = np.nan
    rs.blocked = 0
    rs.units = 0.0
    rs.cost = 0.0
    rs.cost_nf = 0.0
    rs.min_equity = np.inf
    rs.loss_ref = np.inf
    rs.has_stop = 0
    rs.stop = np.inf
    rs.stop_frac = np.nan
    rs.lim_notional = 0.0
    rs.lim_units = 0.0
    rs.n_log = 0
    for r in range(4):
        rs.last[r, 0] = -1
        rs.last[r, 1] = -1


@njit(cache=True)
def log_block_nb(rs, log, bar: int, rule: int, action: int, side: int, n: int, amount: float, tag: int):
    """Record one block (the buffer doubles when full); returns the buffer. A refusal or resize of the same orders
    (rule, first tag, count) as at the previous bar extends that record instead of adding one."""
    if action <= Action.resized:
        j = rs.last[rule, action]
        if j >= 0 and log[j].until == bar - 1 and log[j].tag == tag and log[j].n == n and log[j].side == side:
            log[j].until = bar
            log[j].amount = max(log[j].amount, amount)
            return log
    k = rs.n_log
    if k >= log.shape[0]:
        bigger = np.empty(max(16, 2 * log.shape[0]), dtype=log.dtype)
        bigger[:k] = log[:k]
        log = bigger
    log[k].bar = bar
    log[k].until = bar
    log[k].rule = rule
    log[k].action = action
    log[k].side = side
    log[k].n = n
    log[k].amount = amount
    log[k].tag = tag
    rs.n_log = k + 1
    if action <= Action.resized:
        rs.last[rule, action] = k
    return log


@njit(cache=True)
def risk_new_bar_nb(rs, day: int, cash: float) -> None:
    """Before a bar's fills: a new UTC day starts from the equity at the last close (`cash`, the starting equity,
    before the first close) and unblocks."""
    if day != rs.day:
        rs.day = day
        rs.day_equity = cash if np.isnan(rs.last_equity) else rs.last_equity
        rs.blocked = 0


@njit(cache=True)
def risk_on_fill_nb(rs, side: int, price: float, size: float, fee: float) -> None:
    """Track the position's units and cost from a fill (average cost; a reduction keeps the average)."""
    u = rs.units
    if u == 0.0 or (u > 0.0) == (side > 0):
        rs.units = u + side * size
        rs.cost += price * size + fee
        rs.cost_nf += price * size
        return
    held = abs(u)
    part = min(size / held, 1.0)
    rs.cost *= 1.0 - part
    rs.cost_nf *= 1.0 - part
    rs.units = u + side * size
    if abs(rs.units) <= EPS * held or part >= 1.0:
        rest = size - held
        rs.units = 0.0
        rs.cost = 0.0
        rs.cost_nf = 0.0
        if rest > EPS * held:  # a fill that flips the position opens the rest the other way
            rs.units = side * rest
            rs.cost = price * rest + fee * rest / size
            rs.cost_nf = price * rest


@njit(cache=True)
def risk_close_nb(rs, rp, equity: float, bar: int, log):
    """At a bar's close (after its fills): the loss reference and the daily loss check. Returns the log."""
    rs.last_equity = equity
    if abs(rs.units) <= 0.0:
        rs.min_equity = equity
    else:
        rs.min_equity = min(rs.min_equity, equity)
    if rp.enabled == 1 and rp.daily_limit > 0 and rs.blocked == 0 and rs.day_equity > 0:
        loss = rs.day_equity - equity
        if loss >= rp.daily_limit * rs.day_equity:
            rs.blocked = 1
            log = log_block_nb(rs, log, bar, Rule.daily_loss_limit, Action.reached, 0, 0,
                               loss / rs.day_equity, 0)
    return log


@njit(cache=True)
def _book_stop_nb(rs, book, n: int) -> None:
    """The sell stop that would close the book's long position: the lowest fixed stop and/or a FLAG_STOP_AVG one;
    without a resting stop, the stop an opening market order announces (FLAG_STOP_AVG: `price` = its distance
    below the fill, e.g. a DCA base order whose emergency stop is laid from its fill price)."""
    rs.has_stop = 0
    rs.stop = np.inf
    rs.stop_frac = np.nan
    for j in range(n):
        o = book[j]
        if (o.kind == OrderKind.market and o.side > 0 and (o.flags & FLAG_STOP_AVG) != 0
                and (o.flags & FLAG_OPEN) != 0 and o.price > 0):
            rs.has_stop = 1
            rs.stop_frac = o.price if np.isnan(rs.stop_frac) else max(rs.stop_frac, o.price)
        if o.kind == OrderKind.stop and o.side < 0:
            rs.has_stop = 1
            if o.flags & FLAG_STOP_AVG:
                f = o.quote
                rs.stop_frac = f if np.isnan(rs.stop_frac) else max(rs.stop_frac, f)
            else:
                rs.stop = min(rs.stop, o.price)


@njit(cache=True)
def stop_loss_nb(rs, rp, units: float, cost: float, cost_nf: float) -> float:
    """Loss if `units` bought for `cost` (`cost_nf` without fees) were sold at the book's stop (0: no stop)."""
    if rs.has_stop == 0:
        return 0.0
    keep = (1.0 - rp.slippage) * (1.0 - rp.fees)
    if not np.isnan(rs.stop_frac):
        loss = cost - cost_nf * (1.0 - rs.stop_frac) * keep
        if rs.stop < np.inf:
            loss = max(loss, cost - units * rs.stop * keep)
        return loss
    return cost - units * rs.stop * keep


@njit(cache=True)
def _room_loss_nb(rs, rp, units, cost, cost_nf, price: float) -> float:
    """Most notional a buy at `price` may add before the stop-out loss reaches the limit (inf: no limit)."""
    if rs.has_stop == 0 or not np.isfinite(rs.loss_ref):
        return np.inf
    keep = (1.0 - rp.slippage) * (1.0 - rp.fees)
    now = stop_loss_nb(rs, rp, units, cost, cost_nf)
    if not np.isnan(rs.stop_frac):
        per = (1.0 + rp.fees) - (1.0 - rs.stop_frac) * keep  # per unit of notional
    else:
        if price * (1.0 - rp.slippage) <= rs.stop:  # at or below the stop: it cannot fill before the stop does
            return np.inf
        per = (1.0 + rp.fees) - rs.stop * keep / price
    if not per > 0:
        return np.inf
    return max(rs.loss_ref - now, 0.0) / per


@njit(cache=True)
def _cap_frac(rp) -> float:
    return min(rp.max_exposure, rp.max_position)


@njit(cache=True)
def _cap_rule(rp) -> int:
    return Rule.max_position if rp.max_position < rp.max_exposure else Rule.max_exposure


@njit(cache=True)
def risk_filter_nb(rs, rp, book, summary, out, osum, equity: float, close: float, bar: int, log):
    """The guarded book `out` from the desired `book` at bar `bar`'s close (module docstring). Returns the log."""
    clear_book_nb(osum)
    n = summary.n
    rs.lim_notional = 0.0
    rs.lim_units = 0.0
    if rp.enabled != 1:
        for j in range(n):
            copy_intent_nb(book[j], out, osum)
        return log
    if rs.blocked == 1 and rp.flatten == 1 and rs.units != 0.0:
        side = -1 if rs.units > 0 else 1
        add_intent_nb(out, osum, OrderKind.market, side, np.nan, abs(rs.units), 0.0, TAG_FLATTEN, 1)
        return log_block_nb(rs, log, bar, Rule.daily_loss_limit, Action.flattened, side, 1,
                            abs(rs.units) * close, TAG_FLATTEN)
    _book_stop_nb(rs, book, n)
    ref = min(equity, rs.min_equity) if abs(rs.units) > 0 else equity
    rs.loss_ref = rp.max_loss * ref
    # opening orders in the order they would fill: markets (book order), then limits from the highest price down
    order = np.empty(n, dtype=np.int64)
    m = 0
    for j in range(n):
        o = book[j]
        if (o.flags & FLAG_OPEN) == 0 or (o.flags & FLAG_SIZE_AT_FILL) != 0:
            if (o.flags & FLAG_OPEN) != 0 and rs.blocked == 1:
                log = log_block_nb(rs, log, bar, Rule.daily_loss_limit, Action.refused, o.side, 1, 0.0, o.tag)
                continue
            copy_intent_nb(o, out, osum)
            continue
        if o.kind == OrderKind.market:
            order[m] = j
            m += 1
    n_mkt = m
    for j in range(n):
        o = book[j]
        if (o.flags & FLAG_OPEN) != 0 and (o.flags & FLAG_SIZE_AT_FILL) == 0 and o.kind != OrderKind.market:
            e = m
            while e > n_mkt and book[order[e - 1]].price < o.price:
                order[e] = order[e - 1]
                e -= 1
            order[e] = j
            m += 1
    if m == 0:
        return log
    cap = _cap_frac(rp)
    cap_e = cap * equity
    units, cost, cost_nf = rs.units, rs.cost, rs.cost_nf
    added = 0.0
    # one record per rule and action for the bar: counts and notional
    n_ref = np.zeros(4, dtype=np.int64)
    a_ref = np.zeros(4)
    t_ref = np.zeros(4, dtype=np.int64)
    n_rsz = np.zeros(4, dtype=np.int64)
    a_rsz = np.zeros(4)
    t_rsz = np.zeros(4, dtype=np.int64)
    for q in range(m):
        o = book[order[q]]
        market = o.kind == OrderKind.market
        p = close * (1.0 + rp.slippage) if market else o.price
        want = o.quote if (market and o.size <= 0) else o.size * p
        if rs.blocked == 1:
            rule, allowed = Rule.daily_loss_limit, 0.0
        else:
            v = max(close, p)
            room_x = (cap_e - abs(rs.units) * v - added) / (1.0 + cap * rp.fees)  # held units + approved notional
            room_l = _room_loss_nb(rs, rp, units, cost, cost_nf, p)
            allowed = min(want, max(room_x, 0.0), room_l)
            rule = Rule.max_loss_per_trade if room_l < room_x else _cap_rule(rp)
        if allowed >= want * (1.0 - 1e-12):
            allowed = want
        elif allowed <= want * 1e-9 or not market:  # a resting order that does not fit whole is refused whole
            allowed = 0.0
        if allowed < want:
            if allowed > 0:
                if n_rsz[rule] == 0:
                    t_rsz[rule] = o.tag
                n_rsz[rule] += 1
                a_rsz[rule] += want - allowed
            else:
                if n_ref[rule] == 0:
                    t_ref[rule] = o.tag
                n_ref[rule] += 1
                a_ref[rule] += want
        if allowed <= 0:
            continue
        if market and o.size <= 0:
            add_intent_nb(out, osum, o.kind, o.side, o.price, 0.0, allowed, o.tag, o.flags)
        else:
            add_intent_nb(out, osum, o.kind, o.side, o.price, allowed / p, o.quote, o.tag, o.flags)
            if not market:
                rs.lim_notional += allowed
                rs.lim_units += allowed / p
        added += allowed
        units += allowed / p
        cost += allowed * (1.0 + rp.fees)
        cost_nf += allowed
    for r in range(4):
        if n_ref[r] > 0:
            log = log_block_nb(rs, log, bar, r, Action.refused, 1, n_ref[r], a_ref[r], t_ref[r])
        if n_rsz[r] > 0:
            log = log_block_nb(rs, log, bar, r, Action.resized, 1, n_rsz[r], a_rsz[r], t_rsz[r])
    return log


@njit(cache=True)
def risk_market_quote_nb(rs, rp, price: float, quote: float, cash: float, bar: int, tag: int, log):
    """The quote an opening market buy may spend when it fills at `price` (module docstring); returns (quote, log).

    The resting opening limits the last filter approved keep their room; the market order takes what is left."""
    if rp.enabled != 1:
        return quote, log
    units = abs(rs.units)
    cap = _cap_frac(rp)
    equity = cash + rs.units * price
    room_x = (cap * equity - units * price - rs.lim_notional) / (1.0 + cap * rp.fees)
    room_l = np.inf
    if rs.has_stop == 1 and np.isfinite(rs.loss_ref):
        keep = (1.0 - rp.slippage) * (1.0 - rp.fees)
        cost = rs.cost + rs.lim_notional * (1.0 + rp.fees)
        cost_nf = rs.cost_nf + rs.lim_notional
        now = stop_loss_nb(rs, rp, units + rs.lim_units, cost, cost_nf)
        if not np.isnan(rs.stop_frac):
            per = (1.0 + rp.fees) - (1.0 - rs.stop_frac) * keep
        elif price * (1.0 - rp.slippage) > rs.stop:
            per = (1.0 + rp.fees) - rs.stop * keep / price
        else:
            per = 0.0
        if per > 0:
            room_l = max(rs.loss_ref - now, 0.0) / per
    allowed = min(quote, max(room_x, 0.0), room_l)
    if allowed >= quote * (1.0 - 1e-12):
        return quote, log
    rule = Rule.max_loss_per_trade if room_l < room_x else _cap_rule(rp)
    if allowed <= quote * 1e-9:
        allowed = 0.0
    action = Action.resized if allowed > 0 else Action.refused
    log = log_block_nb(rs, log, bar, rule, action, 1, 1, quote - allowed, tag)
    return allowed, log


@njit(cache=True)
def levels_valid_nb(direction: int, open_: float, stop: float, target: float) -> bool:
    """False when the stop or target is at or beyond the entry bar's open (it would trigger at once)."""
    if direction > 0:
        if np.isfinite(stop) and stop >= open_:
            return False
        if np.isfinite(target) and target <= open_:
            return False
    else:
        if np.isfinite(stop) and stop <= open_:
            return False
        if np.isfinite(target) and target >= open_:
            return False
    return True


@njit(cache=True)
def risk_entry_size_nb(rs, rp, direction: int, price: float, stop: float, risk: float, cash: float,
                       leverage: float, bar: int, tag: int, log):
    """Units of a signal entry filled at `price` with `cash` (flat, so equity = cash); returns (size, log).

    A stop-out loses min(risk, max_loss_per_trade) of equity, fees and slippage of both legs included; the notional
    stays within min(max_exposure, max_position, leverage) x equity, and a long's cost within the cash (plus the
    credit of leverage). 0.0 when nothing can be traded. A guard rule that cut the size is logged."""
    equity = cash
    if equity <= 0.0 or price <= 0.0:
        return 0.0, log
    on = rp.enabled == 1
    cap = min(_cap_frac(rp), leverage) if on else leverage
    size = cap * equity / price
    free = leverage * equity / price
    loss = np.nan
    if np.isfinite(stop):
        if direction > 0:
            loss = price * (1.0 + rp.fees) - stop * (1.0 - rp.slippage) * (1.0 - rp.fees)
        else:
            loss = stop * (1.0 + rp.slippage) * (1.0 + rp.fees) - price * (1.0 - rp.fees)
        if not loss > 0.0:
            return 0.0, log
        r = min(risk, rp.max_loss) if on else risk
        size = min(size, r * equity / loss)
        free = min(free, risk * equity / loss)
    if direction > 0:
        cash_cap = (cash + (leverage - 1.0) * equity) / (price * (1.0 + rp.fees))
        size = min(size, cash_cap)
        free = min(free, cash_cap)
    if not (size > 0.0 and np.isfinite(size)):
        return 0.0, log
    if on and size < free * (1.0 - 1e-12):
        by_loss = np.isfinite(loss) and risk > rp.max_loss and rp.max_loss * equity / loss <= cap * equity / price
        rule = Rule.max_loss_per_trade if by_loss else _cap_rule(rp)
        log = log_block_nb(rs, log, bar, rule, Action.resized, direction, 1, (free - size) * price, tag)
    return size, log


@njit(cache=True)
def risk_fill_quote_nb(rs, rp, order, price: float, cash: float, bar: int, log):
    """The quote an order of the guarded book spends at its fill: an opening market buy's is capped by
    `risk_market_quote_nb`; every other order's is its own. Returns (quote, log)."""
    if order.kind == OrderKind.market and (order.flags & FLAG_OPEN) != 0 and order.size <= 0 and order.quote > 0:
        return risk_market_quote_nb(rs, rp, price, order.quote, cash, bar, order.tag, log)
    return order.quote, log


@njit(cache=True)
def risk_on_fills_nb(rs, fills, n0: int, n1: int) -> None:
    """`risk_on_fill_nb` for the fill records n0..n1-1 a state machine just wrote."""
    for k in range(n0, n1):
        risk_on_fill_nb(rs, fills[k].side, fills[k].price, fills[k].size, fills[k].fee)
