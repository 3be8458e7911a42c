"""Steppers: every registered strategy, one closed bar at a time. The live runner's view of a strategy.

A stepper holds one strategy instance: its params, its state (the state machine's arrays and the risk guard's,
saved and restored as bytes) and its ledger (every fill, in the strategy's own books). Per base bar a driver calls

    begin_bar(time)                         the bar opens: the risk guard's UTC day
    size_at_fill(order, open_, price)       an order that sizes at its fill (a signal entry, an opening market buy):
                                            how much the risk guard lets it buy at that price (0: it does not fill)
    on_fill(tag, side, price, size, quote, open_)   a fill of one of its orders -> cancel mask (the rest of the
                                            bar's orders whose `group(tag)` is in the mask must not fill)
    end_bar(bars_by_tf)                     the bar closed: the decision on the trailing windows (`windows()` candles
                                            per timeframe, the one alignment function), the risk guard -> the orders

and rests `orders()` (INTENT_DTYPE rows: the guarded book) on its exchange. The vectorized backtest runs the same
numba functions over all bars at once (`backtest.engine` / `backtest.orders`); `fill_bar` is the exchange a
backtest assumes (the one intrabar fill rule), for tests and the paper exchange.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from traderagent.core import signal_nb as snb
from traderagent.core.orders_nb import (
    FLAG_OPEN,
    FLAG_SIZE_AT_FILL,
    OrderKind,
    bar_events_nb,
    empty_fills,
    event_buffers,
)
from traderagent.core.position import SignalState, signal_params
from traderagent.core.risk import risk_params
from traderagent.core.risk_nb import (
    levels_valid_nb,
    risk_close_nb,
    risk_entry_size_nb,
    risk_filter_nb,
    risk_market_quote_nb,
    risk_new_bar_nb,
)
from traderagent.core.risk_nb import risk_on_fill_nb as _risk_on_fill
from traderagent.core.state import grow, load_npz, savez

NS_PER_DAY = 86_400 * 1_000_000_000


class Stepper:
    """What every stepper has: params, costs, the risk section, the state, the ledger and the bar counter."""

    def __init__(self, spec: Any, params: Any, costs: Any, risk: Any, state: Any):
        self.spec = spec
        self.params = params
        self.costs = costs
        self.risk = risk
        self.state = state
        self.rp = risk_params(risk, costs)[0]
        self.fills = empty_fills(64)  # the ledger: every fill so far (FILL_DTYPE), rows [:n_fills]
        self.fsb = np.empty(64, dtype=np.int64)  # the bar whose decision each fill carried out
        self.n_fills = 0
        self.bar = 0  # index of the bar being filled / closed (0 = the first bar stepped)
        self.cancelled = 0  # cancel mask of the bar in progress
        self.entered = False  # an entry filled in the bar in progress (its bracket is active)

    # ------------------------------------------------------------------ the bar's protocol
    def windows(self) -> dict[str, int]:
        return self.spec.windows(self.params)

    def begin_bar(self, time: pd.Timestamp | int) -> None:
        ns = time.value if isinstance(time, pd.Timestamp) else int(time)
        risk_new_bar_nb(self.state.guard.risk[0], ns // NS_PER_DAY, self.cash())
        self.cancelled = 0
        self.entered = False

    def orders(self) -> np.ndarray:
        """The guarded book: what rests on (or is sent to) the exchange after the last close."""
        return self.state.guard.orders()

    def group(self, tag: int) -> int:
        return 1

    def contingent(self) -> np.ndarray:
        """Orders a fill in this bar activated at once (an entry's bracket); none for order strategies."""
        return self.orders()[:0]

    def ledger(self) -> tuple[np.ndarray, np.ndarray]:
        """(fills, decision bar of each fill) so far."""
        return self.fills[: self.n_fills], self.fsb[: self.n_fills]

    def blocks(self) -> np.ndarray:
        return self.state.guard.blocks()

    def cash(self) -> float:
        raise NotImplementedError

    def position(self) -> float:
        raise NotImplementedError

    def _record(self, n0: int, decided: int | None = None) -> None:
        """Feed fills n0.. to the guard and note their decision bar (the previous close for order strategies)."""
        if self.fsb.shape[0] < self.fills.shape[0]:
            self.fsb = np.resize(self.fsb, self.fills.shape[0])
        for k in range(n0, self.n_fills):
            f = self.fills[k]
            _risk_on_fill(self.state.guard.risk[0], int(f["side"]), float(f["price"]), float(f["size"]),
                          float(f["fee"]))
            if decided is not None:
                self.fsb[k] = decided

    def size_all(self, tag: int) -> float:
        """The size a sell of the whole position (FLAG_ALL) fills for, at its fill: the instance's position."""
        return abs(self.position())

    def add_cash(self, delta: float) -> float:
        """Give the instance more capital (delta > 0) or take some back (delta < 0, at most its free cash: what no
        resting buy needs). Returns the amount moved. The risk guard's equity references move with it, so a
        deposit is not a gain and a withdrawal not a loss."""
        hdr = self._cash_header()
        if delta < 0:
            free = max(float(hdr["cash"]) - self._reserved(), 0.0)
            delta = -min(-delta, free)
        hdr["cash"] = float(hdr["cash"]) + delta
        rs = self.state.guard.risk[0]
        for f in ("last_equity", "day_equity", "min_equity"):
            if np.isfinite(rs[f]):
                rs[f] = rs[f] + delta
        return float(delta)

    def _cash_header(self) -> Any:
        st = self.state
        if hasattr(st, "grid") and hasattr(st, "dca"):  # the hybrid: the machine in charge holds the free cash
            return st.dca.hdr[0] if int(st.hdr[0]["mode"]) == 2 else st.grid.hdr[0]
        return st.hdr[0]

    def _reserved(self) -> float:
        """Quote the resting buy orders may spend."""
        o = self.orders()
        buys = o[(o["side"] > 0)]
        return float(np.sum(buys["size"] * np.nan_to_num(buys["price"]) + buys["quote"]) * (1 + self.costs.fees))

    # ------------------------------------------------------------------ persistence
    def state_bytes(self) -> bytes:
        """The state and the bar counter (the ledger is stored row by row elsewhere)."""
        return savez(state=np.frombuffer(self.state.to_bytes(), np.uint8), bar=np.array([self.bar], dtype=np.int64))

    def load(self, data: bytes, fills: np.ndarray, decided: np.ndarray) -> None:
        """Restore from `state_bytes` and the stored ledger."""
        z = load_npz(data)
        self.state = type(self.state).from_bytes(z["state"].tobytes())
        self.bar = int(z["bar"][0])
        self.n_fills = len(fills)
        self.fills = grow(np.ascontiguousarray(fills))
        self.fsb = grow(np.ascontiguousarray(decided, dtype=np.int64))

    def to_bytes(self) -> bytes:
        return savez(state=np.frombuffer(self.state.to_bytes(), np.uint8), fills=self.fills[: self.n_fills],
                     fsb=self.fsb[: self.n_fills], bar=np.array([self.bar], dtype=np.int64))

    def restore(self, data: bytes) -> None:
        z = load_npz(data)
        self.state = type(self.state).from_bytes(z["state"].tobytes())
        self.n_fills = len(z["fills"])
        self.fills = grow(z["fills"])
        self.fsb = grow(z["fsb"])
        self.bar = int(z["bar"][0])


class SignalStepper(Stepper):
    """A signal strategy live: its decision function on the trailing windows, the signal position machine
    (`core.signal_nb`) and the risk guard."""

    def __init__(self, spec: Any, params: Any, costs: Any, risk: Any, initial_equity: float,
                 default_risk: float = 0.02, leverage: float = 1.0, allow_short: bool = False):
        super().__init__(spec, params, costs, risk, SignalState.new(float(initial_equity)))
        self.p = signal_params(costs, default_risk, leverage, allow_short)[0]
        self.last_decision: tuple | None = None
        self._cache: dict = {}

    def cash(self) -> float:
        return float(self.state.hdr[0]["cash"])

    def position(self) -> float:
        return float(self.state.hdr[0]["position"])

    def decide(self, bars_by_tf: dict) -> tuple:
        """The decision at the last base bar of the windows: (entry_long, exit_long, entry_short, exit_short, stop,
        target, risk), the last row of `spec.signals` on the windows."""
        if self.spec.extra.get("cacheable"):  # higher timeframes recomputed only when a candle of theirs closes
            sig = self.spec.signals(bars_by_tf, self.params, cache=self._cache)
        else:
            sig = self.spec.signals(bars_by_tf, self.params)
        return tuple(a[-1] for a in sig)

    def size_at_fill(self, order: Any, open_: float, price: float) -> tuple[float, float]:
        h = self.state.hdr[0]
        if not levels_valid_nb(int(order["side"]), open_, float(h["p_stop"]), float(h["p_target"])):
            return 0.0, 0.0
        g = self.state.guard
        size, g.log = risk_entry_size_nb(g.risk[0], self.rp, int(order["side"]), price, float(h["p_stop"]),
                                         float(h["p_risk"]), float(h["cash"]), float(self.p["leverage"]), self.bar,
                                         int(order["tag"]), g.log)
        return float(size), 0.0

    def on_fill(self, tag: int, side: int, price: float, size: float, quote: float = 0.0,
                open_: float = np.nan) -> int:
        n0 = self.n_fills
        self.fills, self.fsb, self.n_fills, cancel = snb.sig_on_fill_nb(
            self.state.hdr[0], self.p, self.fills, self.fsb, self.n_fills, self.bar, int(tag), int(side), float(price),
            float(size))
        self._record(n0)
        self.entered = self.entered or tag == snb.TAG_ENTRY
        if cancel:
            self.cancelled |= 1
        return 1 if cancel else 0

    def planned_bracket(self) -> np.ndarray:
        """The bracket the pending entry will get when it fills (stop, take-profit; sized at the fill), to be placed
        with the entry as orders contingent on it."""
        h = self.state.hdr[0]
        if int(h["p_dir"]) == 0:
            return np.zeros(0, dtype=self.state.book.dtype)
        book, summary = np.zeros(snb.BOOK_CAPACITY, dtype=self.state.book.dtype), np.zeros(1, self.state.summary.dtype)
        tmp = h.copy()
        tmp["position"] = float(h["p_dir"])  # the direction only: sizes come from the entry's fill
        tmp["stop"], tmp["target"] = h["p_stop"], h["p_target"]
        snb.sig_bracket_nb(tmp, book, summary[0])
        rows = book[: int(summary[0]["n"])].copy()
        rows["size"] = 0.0
        return rows

    def contingent(self) -> np.ndarray:
        """Orders an entry filled in this bar activates at once: the new position's bracket (stop, take-profit)."""
        book, summary = np.zeros(snb.BOOK_CAPACITY, dtype=self.state.book.dtype), np.zeros(1, self.state.summary.dtype)
        snb.sig_bracket_nb(self.state.hdr[0], book, summary[0])
        return book[: int(summary[0]["n"])]

    def end_bar(self, bars_by_tf: dict) -> np.ndarray:
        d = self.decide(bars_by_tf)
        self.last_decision = d
        base = bars_by_tf[self.spec.base_timeframe(self.params)]
        close = float(base["close"].iat[-1])
        self.close_with(d, close)
        return self.orders()

    def close_with(self, decision: tuple, close: float) -> None:
        """The close of the current bar with a decision already made (the vectorized run's row, in tests)."""
        h, g = self.state.hdr[0], self.state.guard
        el, xl, es, xs, stop, target, risk = decision
        snb.sig_step_nb(h, self.p, self.state.book, self.state.summary[0], self.bar, bool(el), bool(xl), bool(es),
                        bool(xs), float(stop), float(target), float(risk))
        eq = float(h["cash"]) + float(h["position"]) * close
        g.log = risk_close_nb(g.risk[0], self.rp, eq, self.bar, g.log)
        g.log = risk_filter_nb(g.risk[0], self.rp, self.state.book, self.state.summary[0], g.book, g.summary[0], eq,
                               close, self.bar, g.log)
        self.bar += 1


class OrderStepper(Stepper):
    """An order strategy live: its state machine (`OrderMachine.kernel`, the same numba functions as the
    vectorized loop), the risk guard, the features of the trailing windows."""

    def __init__(self, spec: Any, params: Any, costs: Any, risk: Any, initial_equity: float):
        m = spec.extra["machine"]
        params = m.as_params(params)
        if m.prepare is not None:
            params = m.prepare(params)
        super().__init__(spec, params, costs, risk, m.new_state(params, float(initial_equity)))
        self.machine = m
        self.kernel = m.kernel
        self.kp = self.kernel.kernel_params(params, costs)
        self._cache: dict = {}

    def cash(self) -> float:
        return float(_hdr_sum(self.state, "cash"))

    def position(self) -> float:
        return float(_hdr_sum(self.state, "position"))

    def group(self, tag: int) -> int:
        return self.kernel.group(int(tag))

    def size_all(self, tag: int) -> float:
        st = self.state
        if hasattr(st, "grid") and hasattr(st, "dca"):  # the hybrid: the position of the order's machine
            g = self.group(tag)
            return float((st.grid.hdr[0]["position"] if g & 1 else 0.0) + (st.dca.hdr[0]["position"] if g & 2 else 0.0))
        return abs(self.position())

    def size_at_fill(self, order: Any, open_: float, price: float) -> tuple[float, float]:
        """An opening market buy spends what the risk guard allows at its fill price; other orders their own."""
        if (int(order["kind"]) == OrderKind.market and int(order["flags"]) & FLAG_OPEN
                and float(order["size"]) <= 0 and float(order["quote"]) > 0):
            g = self.state.guard
            quote, g.log = risk_market_quote_nb(g.risk[0], self.rp, price, float(order["quote"]), self.cash(),
                                                self.bar, int(order["tag"]), g.log)
            return 0.0, float(quote)
        return float(order["size"]), float(order["quote"])

    def on_fill(self, tag: int, side: int, price: float, size: float, quote: float = 0.0,
                open_: float = np.nan) -> int:
        n0 = self.n_fills
        self.fills, self.n_fills, cancel = self.kernel.on_fill(self.state, self.kp, self.fills, self.n_fills,
                                                               self.bar, int(tag), int(side), float(price),
                                                               float(size), float(quote), float(open_))
        self._record(n0, decided=self.bar - 1)
        self.cancelled |= int(cancel)
        return int(cancel)

    def features(self, bars_by_tf: dict) -> tuple:
        m = self.machine
        if m.features_tf is not None:
            return m.features_tf(bars_by_tf, self.params, cache=self._cache)
        return m.features(bars_by_tf[self.spec.base_timeframe(self.params)], self.params)

    def end_bar(self, bars_by_tf: dict) -> np.ndarray:
        feats = self.features(bars_by_tf)
        j = len(feats[3]) - 1
        if self.machine.features_tf is not None:  # the hybrid relabels handed-over fills in the ledger
            self.kernel.close(self.state, self.kp, self.rp, self.bar, feats, j, self.fills, self.n_fills)
        else:
            self.kernel.close(self.state, self.kp, self.rp, self.bar, feats, j)
        self.bar += 1
        return self.orders()


def _hdr_sum(state: Any, field: str) -> float:
    """Cash or position of a state: its header's, or the sum of its machines' (the hybrid's one account)."""
    if hasattr(state, "grid") and hasattr(state, "dca"):
        return float(state.grid.hdr[0][field]) + float(state.dca.hdr[0][field])
    return float(state.hdr[0][field])


def stepper_for(spec: Any, params: Any, costs: Any, risk: Any, initial_equity: float, **signal_kw: Any) -> Stepper:
    """The stepper of a registered strategy (signal or order)."""
    if spec.kind == "signal":
        return SignalStepper(spec, params, costs, risk, initial_equity, **signal_kw)
    return OrderStepper(spec, params, costs, risk, initial_equity)


def fill_bar(stepper: Stepper, open_: float, high: float, low: float, slippage: float) -> int:
    """The bar's fills of the stepper's orders by the one intrabar rule (`core.orders_nb`), as a perfect exchange
    and the runner would produce them: events in path order, sizes decided at the fill where the order says so,
    the rest of a group cancelled when a fill says so, an entry's bracket active from its fill on. Returns the
    number of fills. The paper exchange does the same with orders it holds."""
    n0 = stepper.n_fills
    _fill_book(stepper, stepper.orders(), open_, high, low, slippage, first_phase=0)
    if stepper.entered:
        _fill_book(stepper, stepper.contingent(), open_, high, low, slippage, first_phase=1)
    return stepper.n_fills - n0


def _fill_book(stepper: Stepper, book: np.ndarray, open_: float, high: float, low: float, slippage: float,
               first_phase: int) -> None:
    if not len(book):
        return
    from traderagent.core.orders_nb import BOOK_SUMMARY_DTYPE, add_intent_nb, clear_book_nb

    summary = np.zeros(1, dtype=BOOK_SUMMARY_DTYPE)
    clear_book_nb(summary[0])
    rows = np.zeros(len(book), dtype=book.dtype)
    for r in book:
        add_intent_nb(rows, summary[0], r["kind"], r["side"], r["price"], r["size"], r["quote"], r["tag"],
                      r["flags"])
    ev = event_buffers(len(rows))
    m = bar_events_nb(rows, summary[0], open_, high, low, slippage, *ev)
    for e in range(m):
        if ev.phase[e] < first_phase:
            continue
        o = rows[ev.idx[e]]
        if stepper.group(int(o["tag"])) & stepper.cancelled:
            continue
        price = float(ev.price[e])
        size, quote = float(o["size"]), float(o["quote"])
        if int(o["flags"]) & FLAG_SIZE_AT_FILL or (int(o["kind"]) == OrderKind.market and int(o["flags"]) & FLAG_OPEN):
            size, quote = stepper.size_at_fill(o, open_, price)
            if size <= 0 and quote <= 0:
                continue
        stepper.on_fill(int(o["tag"]), int(o["side"]), price, size, quote, open_)

