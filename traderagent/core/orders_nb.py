"""Order intents, the desired book and THE intrabar fill rule: numba, shared by every driver.

A strategy's state machine emits *intents*: the complete set of orders it wants resting (or executed at the next
open) after the bar it just stepped on. Drivers treat that set as the desired book: it replaces the previous one
(the backtest kernels swap it in; the live runner reconciles the exchange's open orders against it). Fills are fed
back into the state machine one by one. Signal strategies reach the same book through the signal position machine
(`traderagent.core.signal_nb`): a market entry sized at its fill, a stop and a take-profit, a market exit.

THE INTRABAR FILL RULE (one rule, for the backtest, the paper exchange and the order engine alike)
  1. Only orders in the book at the bar's open can fill during the bar. An order created because of a fill
     inside the bar rests from the next bar on (OHLC data cannot tell whether price came back after the fill, so
     intrabar round trips are never assumed). The one exception is the bracket of an entry (its stop and
     take-profit), which rests from the entry's fill on.
  2. The bar's path is taken as the adverse one for the book: open -> low -> high -> close, unless the book holds
     a buy stop or a buy take-profit (it protects a short), then open -> high -> low -> close. Stops are reached
     before take-profits either way.
  3. At the open: market orders fill at open x (1 +/- slippage); then resting orders already marketable at the
     open (a buy limit at or above the open, a sell limit at or below it: at the open, no slippage; a stop or a
     take-profit already beyond its trigger: at the open with slippage).
  4. On the way down, in descending price order: a buy limit at p fills at p when the bar trades through it
     (low < p); a sell stop at s triggers when touched (low <= s) and fills at s x (1 - slippage); a buy
     take-profit at p triggers when low <= p and fills at p x (1 + slippage). At equal prices limits come first.
  5. On the way up, in ascending price order: a sell limit at p fills at p when high > p; a buy stop at s triggers
     when high >= s (fills at s x (1 + slippage)); a sell take-profit at p when high >= p (p x (1 - slippage)).
  6. Every fill price is clamped to the bar's [low, high]; limits fill in full (a paper exchange may be set to
     fill partially); fees are `fees x notional`, charged by the strategy's own books.
  7. Orders that fill at the same step of the path (the same phase and price) fill in the order of their tags.
  8. A fill may cancel the rest of the bar's book (a grid stop, a DCA exit, the other leg of a bracket): the
     strategy says so.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from traderagent.core.records import FILL_DTYPE


class OrderKindT(NamedTuple):
    market: int = 0  # executed at the next bar's open (with slippage)
    limit: int = 1  # resting; fills at its price when the bar trades through it
    stop: int = 2  # resting stop (sell: below the price, buy: above it); triggers on touch, fills with slippage
    take_profit: int = 3  # resting take-profit (sell: above, buy: below); triggers on touch, fills with slippage


OrderKind = OrderKindT()

#: Intent flags (bits).
FLAG_ALL = 1  # a closing order for the whole position held when it fills (stops, exits)
FLAG_OPEN = 2  # opens or adds to a position: what the risk guard limits and the daily loss limit blocks
FLAG_SIZE_AT_FILL = 4  # size decided at the fill price by the risk guard (`size`/`quote` unused)
FLAG_STOP_AVG = 8  # a stop that follows the average entry: at average x (1 - quote) (the guard's loss model); on an
#                   opening market order: the stop laid after its fill, `price` (unused by a market) = its distance

#: One order intent. `size` is in base units; a market buy with size 0 spends `quote` instead.
#: `tag` identifies the order inside its strategy (grid slot, safety order #k, ...): the live adapter
#: derives the client order id from it, fills come back with it, and ties in the fill rule go by it.
INTENT_DTYPE = np.dtype(
    [
        ("kind", np.int8),
        ("side", np.int8),
        ("flags", np.int8),
        ("price", np.float64),
        ("size", np.float64),
        ("quote", np.float64),
        ("tag", np.int64),
    ],
    align=True,
)

#: Summary of a book, kept beside it so a bar that cannot fill anything costs a few comparisons.
BOOK_SUMMARY_DTYPE = np.dtype(
    [
        ("n", np.int64),
        ("n_market", np.int64),
        ("max_buy", np.float64),  # highest buy limit (-inf: none)
        ("min_sell", np.float64),  # lowest sell limit (+inf: none)
        ("max_stop", np.float64),  # highest sell stop (-inf: none)
        ("min_bstop", np.float64),  # lowest buy stop (+inf: none)
        ("min_stp", np.float64),  # lowest sell take-profit (+inf: none)
        ("max_btp", np.float64),  # highest buy take-profit (-inf: none)
    ],
    align=True,
)


@njit(cache=True)
def clear_book_nb(summary) -> None:
    """Empty the book (its entries are ignored past summary.n)."""
    summary.n = 0
    summary.n_market = 0
    summary.max_buy = -np.inf
    summary.min_sell = np.inf
    summary.max_stop = -np.inf
    summary.min_bstop = np.inf
    summary.min_stp = np.inf
    summary.max_btp = -np.inf


@njit(cache=True)
def add_intent_nb(book, summary, kind, side, price, size, quote, tag, flags) -> None:
    """Append one intent to the book and update its summary (the book is sized for the strategy's maximum)."""
    k = summary.n
    book[k].kind = kind
    book[k].side = side
    book[k].flags = flags
    book[k].price = price
    book[k].size = size
    book[k].quote = quote
    book[k].tag = tag
    summary.n = k + 1
    if kind == OrderKind.market:
        summary.n_market += 1
    elif kind == OrderKind.limit:
        if side > 0:
            summary.max_buy = max(summary.max_buy, price)
        else:
            summary.min_sell = min(summary.min_sell, price)
    elif kind == OrderKind.stop:
        if side < 0:
            summary.max_stop = max(summary.max_stop, price)
        else:
            summary.min_bstop = min(summary.min_bstop, price)
    else:
        if side < 0:
            summary.min_stp = min(summary.min_stp, price)
        else:
            summary.max_btp = max(summary.max_btp, price)


@njit(cache=True)
def copy_intent_nb(src, dst, summary) -> None:
    """Append intent row `src` to the book `dst` (summary updated)."""
    add_intent_nb(dst, summary, src.kind, src.side, src.price, src.size, src.quote, src.tag, src.flags)


@njit(cache=True)
def may_fill_nb(summary, high: float, low: float) -> bool:
    """Whether anything in the book can fill in a bar with this high and low."""
    return (summary.n_market > 0 or low < summary.max_buy or high > summary.min_sell or low <= summary.max_stop
            or high >= summary.min_bstop or high >= summary.min_stp or low <= summary.max_btp)


@njit(cache=True)
def up_first_nb(summary) -> bool:
    """Rule 2: the path goes up first when the book protects a short (a buy stop or a buy take-profit)."""
    return summary.min_bstop < np.inf or summary.max_btp > -np.inf


@njit(cache=True)
def clamp_nb(price: float, low: float, high: float) -> float:
    return min(max(price, low), high)


@njit(cache=True)
def _before(pa, ka, ra, sa, pb, kb, rb, sb) -> bool:
    """Lexicographic (phase, key, rank, tag) order of two events."""
    if pa != pb:
        return pa < pb
    if ka != kb:
        return ka < kb
    if ra != rb:
        return ra < rb
    return sa < sb


@njit(cache=True)
def order_event_nb(o, open_: float, high: float, low: float, slippage: float, down: int, up: int):
    """Where one order fills in a bar (rules 3-6): (phase, key, rank, price); phase -1 when it does not fill.

    `down`/`up` are the phases of the way down and the way up (2 and 3, or 3 and 2 when the path goes up first).
    """
    if o.kind == OrderKind.market:
        ref = open_ * (1.0 + slippage) if o.side > 0 else open_ * (1.0 - slippage)
        return 0, 0.0, 0, clamp_nb(ref, low, high)
    p = o.price
    if o.kind == OrderKind.limit:
        if o.side > 0 and low < p:
            if open_ <= p:
                return 1, 0.0, 0, open_
            return down, -p, 0, p
        if o.side < 0 and high > p:
            if open_ >= p:
                return 1, 0.0, 0, open_
            return up, p, 0, p
        return -1, 0.0, 0, np.nan
    stop = o.kind == OrderKind.stop
    if (stop and o.side < 0) or (not stop and o.side > 0):  # triggers on the way down
        if low <= p:
            ref = min(p, open_) * (1.0 - slippage) if o.side < 0 else min(p, open_) * (1.0 + slippage)
            if open_ <= p:
                return 1, 0.0, 0, clamp_nb(ref, low, high)
            return down, -p, 1, clamp_nb(ref, low, high)
        return -1, 0.0, 0, np.nan
    if high >= p:  # triggers on the way up: a buy stop, a sell take-profit
        ref = max(p, open_) * (1.0 + slippage) if o.side > 0 else max(p, open_) * (1.0 - slippage)
        if open_ >= p:
            return 1, 0.0, 0, clamp_nb(ref, low, high)
        return up, p, 1, clamp_nb(ref, low, high)
    return -1, 0.0, 0, np.nan


@njit(cache=True)
def bar_events_nb(book, summary, open_: float, high: float, low: float, slippage: float,
                  ev_idx: np.ndarray, ev_price: np.ndarray, ev_phase: np.ndarray, ev_key: np.ndarray,
                  ev_rank: np.ndarray) -> int:
    """Fills the book would get in one bar, in path order (module docstring rules 2-7); returns their count.

    ev_idx[e] is the book row of the e-th fill, ev_price[e] its price, ev_phase[e] its phase (0 market, 1 at the
    open, 2 and 3 the two legs of the path). Buffers are sized >= summary.n.
    """
    if up_first_nb(summary):
        down, up = 3, 2
    else:
        down, up = 2, 3
    m = 0
    for j in range(summary.n):
        o = book[j]
        phase, key, rank, price = order_event_nb(o, open_, high, low, slippage, down, up)
        if phase < 0:
            continue
        # insertion sort by (phase, key, rank, tag)
        e = m
        while e > 0 and _before(phase, key, rank, o.tag, ev_phase[e - 1], ev_key[e - 1], ev_rank[e - 1],
                                book[ev_idx[e - 1]].tag):
            ev_idx[e] = ev_idx[e - 1]
            ev_price[e] = ev_price[e - 1]
            ev_phase[e] = ev_phase[e - 1]
            ev_key[e] = ev_key[e - 1]
            ev_rank[e] = ev_rank[e - 1]
            e -= 1
        ev_idx[e] = j
        ev_price[e] = price
        ev_phase[e] = phase
        ev_key[e] = key
        ev_rank[e] = rank
        m += 1
    return m


@njit(cache=True)
def push_fill_nb(fills: np.ndarray, n: int, trade: int, bar: int, side: int, price: float, size: float,
                 fee: float, reason: int) -> np.ndarray:
    """Append a fill record at row n, growing the buffer (doubling) when full; returns the buffer."""
    if n >= fills.shape[0]:
        bigger = np.empty(max(16, 2 * fills.shape[0]), dtype=fills.dtype)
        bigger[:n] = fills[:n]
        fills = bigger
    fills[n].trade = trade
    fills[n].bar = bar
    fills[n].side = side
    fills[n].price = price
    fills[n].size = size
    fills[n].fee = fee
    fills[n].reason = reason
    return fills


class EventBuffers(NamedTuple):
    """Scratch arrays for `bar_events_nb` (one set per book capacity)."""

    idx: np.ndarray
    price: np.ndarray
    phase: np.ndarray
    key: np.ndarray
    rank: np.ndarray


def event_buffers(capacity: int) -> EventBuffers:
    return EventBuffers(np.empty(capacity, np.int64), np.empty(capacity), np.empty(capacity, np.int64),
                        np.empty(capacity), np.empty(capacity, np.int64))


def same_arrays(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal shapes and values field by field (NaN equals NaN; padding bytes of aligned records ignored)."""
    if a.shape != b.shape or a.dtype.names != b.dtype.names:
        return False
    if a.dtype.names is None:
        return bool(np.array_equal(a, b, equal_nan=a.dtype.kind == "f"))
    return all(same_arrays(a[name], b[name]) for name in a.dtype.names)


def empty_fills(capacity: int = 256) -> np.ndarray:
    return np.empty(capacity, dtype=FILL_DTYPE)


def book_arrays(capacity: int) -> tuple[np.ndarray, np.ndarray]:
    """A fresh empty book (intents, summary) with room for `capacity` intents."""
    book = np.zeros(capacity, dtype=INTENT_DTYPE)
    summary = np.zeros(1, dtype=BOOK_SUMMARY_DTYPE)
    clear_book_nb(summary[0])
    return book, summary
