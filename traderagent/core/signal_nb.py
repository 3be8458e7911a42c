"""The signal position machine: how a signal strategy's decisions become orders, for every driver.

A signal strategy decides at each bar's close (`Signals`: entries and exits per direction, stop, target, risk).
This machine holds the position and turns the decision into the desired book of the contract
(`traderagent.core.orders_nb`), so the backtest and the live runner fill it by the one intrabar rule:
  - an exit (or a reversal): a market order for the whole position at the next open (tag TAG_EXIT);
  - an entry: a market order at the next open sized at its fill by the risk guard (`risk_entry_size_nb`: the
    stop-out loses `risk` of equity, capped by max_loss_per_trade, exposure and cash), refused when its stop or
    target is already beyond that open (TAG_ENTRY);
  - while a position is open: its bracket, a stop (TAG_SL) and a take-profit (TAG_TP) closing the whole position,
    resting from the entry's fill on (the entry bar included); the first to fill cancels the other.
Decisions at bar t's close never fill before bar t+1's open. Exits fill before entries (tags order ties).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from traderagent.core.orders_nb import (
    BOOK_SUMMARY_DTYPE,
    FLAG_ALL,
    FLAG_OPEN,
    FLAG_SIZE_AT_FILL,
    INTENT_DTYPE,
    OrderKind,
    add_intent_nb,
    bar_events_nb,
    clear_book_nb,
    may_fill_nb,
    push_fill_nb,
)
from traderagent.core.records import Reason
from traderagent.core.risk_nb import (
    TAG_FLATTEN,
    levels_valid_nb,
    risk_close_nb,
    risk_entry_size_nb,
    risk_filter_nb,
    risk_new_bar_nb,
    risk_on_fill_nb,
)

TAG_EXIT = -2
TAG_ENTRY = -1
TAG_SL = -3
TAG_TP = -4
BOOK_CAPACITY = 4

SIG_PARAMS_DTYPE = np.dtype(
    [
        ("fees", np.float64),
        ("slippage", np.float64),
        ("default_risk", np.float64),  # risk of an entry whose Signals.risk is NaN
        ("leverage", np.float64),
        ("allow_short", np.int64),
    ],
    align=True,
)

SIG_STATE_DTYPE = np.dtype(
    [
        ("bar", np.int64),  # last bar stepped (-1: none)
        ("cash", np.float64),
        ("position", np.float64),
        ("trade", np.int64),  # id of the open (or last) trade, -1 before the first
        ("next_trade", np.int64),
        ("stop", np.float64),  # the open position's bracket
        ("target", np.float64),
        ("sig_bar", np.int64),  # the bar whose decision opened it
        ("p_exit", np.int64),  # the pending decision (from the last close)
        ("p_dir", np.int64),
        ("p_stop", np.float64),
        ("p_target", np.float64),
        ("p_risk", np.float64),
        ("p_bar", np.int64),
    ],
    align=True,
)


@njit(cache=True)
def sig_new_state_nb(h, cash: float) -> None:
    h.bar = -1
    h.cash = cash
    h.position = 0.0
    h.trade = -1
    h.next_trade = 0
    h.stop = np.nan
    h.target = np.nan
    h.sig_bar = -1
    h.p_exit = 0
    h.p_dir = 0
    h.p_stop = np.nan
    h.p_target = np.nan
    h.p_risk = np.nan
    h.p_bar = -1


@njit(cache=True)
def sig_bracket_nb(h, book, summary) -> None:
    """The open position's stop and take-profit (an empty book when flat)."""
    clear_book_nb(summary)
    if h.position == 0.0:
        return
    d = 1 if h.position > 0.0 else -1
    if np.isfinite(h.stop):
        add_intent_nb(book, summary, OrderKind.stop, -d, h.stop, abs(h.position), 0.0, TAG_SL, FLAG_ALL)
    if np.isfinite(h.target):
        add_intent_nb(book, summary, OrderKind.take_profit, -d, h.target, abs(h.position), 0.0, TAG_TP, FLAG_ALL)


@njit(cache=True)
def sig_make_book_nb(h, book, summary) -> None:
    """The desired book after a step: the pending exit and entry, or the open position's bracket."""
    if h.p_exit == 0 and h.p_dir == 0:
        sig_bracket_nb(h, book, summary)
        return
    clear_book_nb(summary)
    if h.p_exit == 1:
        side = -1 if h.position > 0.0 else 1
        add_intent_nb(book, summary, OrderKind.market, side, np.nan, abs(h.position), 0.0, TAG_EXIT, FLAG_ALL)
    if h.p_dir != 0:
        add_intent_nb(book, summary, OrderKind.market, h.p_dir, np.nan, 0.0, 0.0, TAG_ENTRY,
                      FLAG_OPEN | FLAG_SIZE_AT_FILL)


@njit(cache=True)
def sig_step_nb(h, p, book, summary, bar: int, entry_long: bool, exit_long: bool, entry_short: bool,
                exit_short: bool, stop: float, target: float, risk: float) -> None:
    """The decision at bar `bar`'s close (after its fills) becomes the desired book."""
    h.bar = bar
    want_long = entry_long and not exit_long
    want_short = p.allow_short == 1 and entry_short and not exit_short
    if want_long and want_short:  # contradictory decision: do nothing new
        want_long = False
        want_short = False
    pos = h.position
    ex = (pos > 0.0 and (exit_long or want_short)) or (pos < 0.0 and (exit_short or want_long))
    h.p_exit = 1 if ex else 0
    h.p_dir = 0
    h.p_bar = bar
    if (pos == 0.0 or ex) and (want_long or want_short):
        h.p_dir = 1 if want_long else -1
        h.p_stop = stop
        h.p_target = target
        h.p_risk = risk if (np.isfinite(risk) and risk > 0.0) else p.default_risk
    sig_make_book_nb(h, book, summary)


@njit(cache=True)
def sig_on_fill_nb(h, p, fills, fsb, nf: int, bar: int, tag: int, side: int, price: float, size: float):
    """Book one fill (size already decided: an entry's by the risk guard, a close's = the whole position).

    Returns (fills, fsb, n_fills, cancel_rest): a stop, take-profit or flatten cancels the rest of the bar's book.
    `fsb[k]` is the bar whose decision the k-th fill carries out (the integrity gates check it is before it)."""
    reason = Reason.signal
    decided = h.p_bar
    cancel = False
    if tag == TAG_ENTRY:
        h.trade = h.next_trade
        h.next_trade += 1
        h.stop = h.p_stop
        h.target = h.p_target
        h.sig_bar = h.p_bar
    else:
        size = abs(h.position)
        if tag == TAG_SL or tag == TAG_TP:
            reason = Reason.stop if tag == TAG_SL else Reason.target
            decided = h.sig_bar
            cancel = True
        elif tag == TAG_FLATTEN:
            reason = Reason.flatten
            decided = bar - 1
            cancel = True
    fee = size * price * p.fees
    fills = push_fill_nb(fills, nf, h.trade, bar, side, price, size, fee, reason)
    if nf >= fsb.shape[0]:
        bigger = np.empty(fills.shape[0], dtype=np.int64)
        bigger[:nf] = fsb[:nf]
        fsb = bigger
    fsb[nf] = decided
    h.cash = h.cash - (side * size * price + fee)
    h.position = h.position + side * size
    if tag != TAG_ENTRY:
        h.position = 0.0
    return fills, fsb, nf + 1, cancel


@njit(cache=True)
def sig_fill_bar_nb(h, p, gbook, gsum, bracket, bsum, rp, rs, log, fills, fsb, nf: int, bar: int, open_: float,
                    high: float, low: float, ev_idx, ev_price, ev_phase, ev_key, ev_rank):
    """The bar's fills of the guarded book by the one intrabar rule: the market exit and entry at the open (the
    entry sized at its fill price by the risk guard, refused when its stop or target is already beyond the open),
    then the bracket of the position (an entry's bracket rests from its fill on).

    Returns (fills, fsb, n_fills, log)."""
    entered = False
    if may_fill_nb(gsum, high, low):
        m = bar_events_nb(gbook, gsum, open_, high, low, p.slippage, ev_idx, ev_price, ev_phase, ev_key, ev_rank)
        for e in range(m):
            row = gbook[ev_idx[e]]
            size = row.size
            price = ev_price[e]
            if row.tag == TAG_ENTRY:
                if not levels_valid_nb(row.side, open_, h.p_stop, h.p_target):
                    continue
                size, log = risk_entry_size_nb(rs, rp, row.side, price, h.p_stop, h.p_risk, h.cash, p.leverage,
                                               bar, row.tag, log)
                if size <= 0.0:
                    continue
                entered = True
            fills, fsb, nf, cancel = sig_on_fill_nb(h, p, fills, fsb, nf, bar, row.tag, row.side, price, size)
            risk_on_fill_nb(rs, row.side, price, fills[nf - 1].size, fills[nf - 1].fee)
            if cancel:
                break
    if entered:
        sig_bracket_nb(h, bracket, bsum)
        if may_fill_nb(bsum, high, low):
            m = bar_events_nb(bracket, bsum, open_, high, low, p.slippage, ev_idx, ev_price, ev_phase, ev_key,
                              ev_rank)
            for e in range(m):
                row = bracket[ev_idx[e]]
                fills, fsb, nf, cancel = sig_on_fill_nb(h, p, fills, fsb, nf, bar, row.tag, row.side, ev_price[e],
                                                        row.size)
                risk_on_fill_nb(rs, row.side, ev_price[e], fills[nf - 1].size, fills[nf - 1].fee)
                if cancel:
                    break
    return fills, fsb, nf, log


@njit(cache=True)
def simulate_signal_machine_nb(open_, high, low, close, entry_long, exit_long, entry_short, exit_short, stop, target,
                               risk, days, p, h, book, summary, rp, rs, gbook, gsum, log, start: int, end: int,
                               fills, fsb, nf: int, cash_out, pos_out, eq_out):
    """Bars start..end-1 of a signal strategy: the bar's fills, the decision at its close, the risk guard.

    State arrays are updated in place (a run can be continued); per-bar cash, position and equity after the bar's
    fills go to the *_out arrays. Returns (fills, fsb, n_fills, log)."""
    cap = max(book.shape[0], gbook.shape[0])
    ev_idx = np.empty(cap, dtype=np.int64)
    ev_price = np.empty(cap)
    ev_phase = np.empty(cap, dtype=np.int64)
    ev_key = np.empty(cap)
    ev_rank = np.empty(cap, dtype=np.int64)
    bracket = np.empty(BOOK_CAPACITY, dtype=INTENT_DTYPE)
    bsa = np.empty(1, dtype=BOOK_SUMMARY_DTYPE)
    bsum = bsa[0]
    for i in range(start, end):
        risk_new_bar_nb(rs, days[i], h.cash)
        fills, fsb, nf, log = sig_fill_bar_nb(h, p, gbook, gsum, bracket, bsum, rp, rs, log, fills, fsb, nf, i,
                                              open_[i], high[i], low[i], ev_idx, ev_price, ev_phase, ev_key, ev_rank)
        sig_step_nb(h, p, book, summary, i, entry_long[i], exit_long[i], entry_short[i], exit_short[i], stop[i],
                    target[i], risk[i])
        eq = h.cash + h.position * close[i]
        log = risk_close_nb(rs, rp, eq, i, log)
        log = risk_filter_nb(rs, rp, book, summary, gbook, gsum, eq, close[i], i, log)
        cash_out[i] = h.cash
        pos_out[i] = h.position
        eq_out[i] = eq
    return fills, fsb, nf, log
