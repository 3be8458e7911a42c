"""Numba pieces shared by the order strategies (grid, DCA): order intents, the intrabar fill rule, fill records.

An order strategy's state machine emits *intents*: the complete set of orders it wants resting (or to be
executed at the next open) after the bar it just stepped on. The engine (and the live adapter) treats that
set as the desired book: it replaces the previous one. Fills are fed back into the state machine one by one.

THE INTRABAR FILL RULE (one rule, for backtest and paper trading)
  1. Only orders in the book at the bar's open can fill during the bar. An order created because of a fill
     inside the bar (a grid counter-order, a re-sized take-profit) rests from the next bar on: OHLC data
     cannot tell whether price came back after the fill, so intrabar round trips are never assumed.
  2. The bar's path is taken as open -> low -> high -> close, whatever the candle's colour: for a long-only
     book this is the adverse path (stops and buys are reached before take-profits and sell levels).
  3. At the open, in book order: market orders fill at open x (1 +/- slippage); resting orders already
     marketable at the open (a buy limit at or above the open, a sell limit at or below it, a stop at or
     above it) fill at the open (limits without slippage, stops with it).
  4. On the way down (open -> low), in descending price order: a buy limit at p fills at p when the bar trades
     through it (low < p); a sell stop at s triggers when touched (low <= s) and fills at s x (1 - slippage).
     At equal prices a buy limit comes before a stop.
  5. On the way up (low -> high), in ascending price order: a sell limit at p fills at p when high > p.
  6. Every fill price is clamped to the bar's [low, high]; limits fill in full; fees are `fees x notional`.
  7. A fill may cancel the rest of the bar's book (a grid stop, a DCA exit): the strategy says so.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from traderagent.core.records import FILL_DTYPE


class OrderKindT(NamedTuple):
    market: int = 0  # executed at the next bar's open (with slippage)
    limit: int = 1  # resting; fills at its price when the bar trades through it
    stop: int = 2  # resting sell stop; triggers on touch, fills at its price with slippage


OrderKind = OrderKindT()

#: Intent flag: a sell that closes the whole position held at the moment it triggers (stops).
FLAG_ALL = 1

#: One order intent. `size` is in base units; a market buy with size 0 spends `quote` instead.
#: `tag` identifies the order inside its strategy (grid slot, safety order #k, ...): the live adapter
#: derives the client order id from it, and fills come back with it.
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

#: Summary of a book, kept beside it so a bar that cannot fill anything costs four comparisons.
BOOK_SUMMARY_DTYPE = np.dtype(
    [
        ("n", np.int64),
        ("n_market", np.int64),
        ("max_buy", np.float64),  # highest buy limit (-inf: none)
        ("min_sell", np.float64),  # lowest sell limit (+inf: none)
        ("max_stop", np.float64),  # highest sell stop (-inf: none)
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
    else:
        summary.max_stop = max(summary.max_stop, price)


@njit(cache=True)
def may_fill_nb(summary, high: float, low: float) -> bool:
    """Whether anything in the book can fill in a bar with this high and low."""
    return (summary.n_market > 0 or low < summary.max_buy or high > summary.min_sell
            or low <= summary.max_stop)


@njit(cache=True)
def clamp_nb(price: float, low: float, high: float) -> float:
    return min(max(price, low), high)


@njit(cache=True)
def _before(pa, ka, ra, sa, pb, kb, rb, sb) -> bool:
    """Lexicographic (phase, key, rank, seq) order of two events."""
    if pa != pb:
        return pa < pb
    if ka != kb:
        return ka < kb
    if ra != rb:
        return ra < rb
    return sa < sb


@njit(cache=True)
def bar_events_nb(book, summary, open_: float, high: float, low: float, slippage: float,
                  ev_idx: np.ndarray, ev_price: np.ndarray, ev_phase: np.ndarray, ev_key: np.ndarray,
                  ev_rank: np.ndarray) -> int:
    """Fills the book would get in one bar, in path order (module docstring rules 2-6); returns their count.

    ev_idx[e] is the book row of the e-th fill, ev_price[e] its price. Buffers are sized >= summary.n.
    """
    m = 0
    for j in range(summary.n):
        o = book[j]
        phase = -1
        key = 0.0
        rank = 0
        price = np.nan
        if o.kind == OrderKind.market:
            ref = open_ * (1.0 + slippage) if o.side > 0 else open_ * (1.0 - slippage)
            phase, price = 0, clamp_nb(ref, low, high)
        elif o.kind == OrderKind.limit:
            if o.side > 0 and low < o.price:
                if open_ <= o.price:
                    phase, price = 1, open_
                else:
                    phase, key, price = 2, -o.price, o.price
            elif o.side < 0 and high > o.price:
                if open_ >= o.price:
                    phase, price = 1, open_
                else:
                    phase, key, price = 3, o.price, o.price
        else:
            if low <= o.price:
                ref = min(o.price, open_) * (1.0 - slippage)
                if open_ <= o.price:
                    phase = 1
                else:
                    phase, key, rank = 2, -o.price, 1
                price = clamp_nb(ref, low, high)
        if phase < 0:
            continue
        # insertion sort by (phase, key, rank, book order)
        e = m
        while e > 0 and _before(phase, key, rank, j, ev_phase[e - 1], ev_key[e - 1], ev_rank[e - 1],
                                ev_idx[e - 1]):
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
