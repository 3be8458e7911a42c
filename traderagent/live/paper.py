"""The paper exchange: an exchange port that fills the orders it holds by the backtest's intrabar fill rule.

Each closed candle (`process_bar`) is matched per strategy instance with `core.orders_nb.bar_events_nb` (the same
function the backtest kernels call) over that instance's open orders: events in path order, ties by tag. Where an
order's size is decided at its fill (a signal entry, an opening market buy the risk guard may cut, a sell of the
whole position) the instance's listener decides it at the fill price; a fill may cancel the rest of a group for the
bar (the listener says so); a bracket rests from its parent's fill on. So a replay through runner + paper exchange
reproduces the backtest's trades (`tests/integration/test_live_parity.py`).

It keeps balances (fees in the quote, as the backtest charges them), rejects what an exchange would (an order
under the minimum notional, a buy limit the free quote cannot pay, a fill the account cannot pay for, a client
order id it already accepted) and can fill limit orders partially (`partial`, a fraction per bar). Its state
commits in its own transactions (`commit`), like an exchange outside the runner's process.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import fields as dc_fields
from typing import Any, Protocol

import numpy as np
import sqlalchemy as sa

from traderagent.core.orders_nb import (
    BOOK_SUMMARY_DTYPE,
    FLAG_ALL,
    FLAG_OPEN,
    INTENT_DTYPE,
    add_intent_nb,
    bar_events_nb,
    clear_book_nb,
    event_buffers,
)
from traderagent.errors import UserError
from traderagent.live.ports import KINDS, Candle, ExchangeFill, ExchangeOrder, OrderRequest

TOL = 1e-9


class FillListener(Protocol):
    """What the paper exchange asks the instance that owns an order while it fills it."""

    def group(self, tag: int) -> int: ...

    def size_at_fill(self, order: ExchangeOrder, open_: float, price: float) -> tuple[float, float]: ...

    def on_fill(self, fill: ExchangeFill, open_: float) -> int: ...


class OrderRejected(UserError):
    """The exchange refused an order (`reason` in the message, as ccxt's InvalidOrder / InsufficientFunds)."""


def _fields(obj: Any) -> dict:
    return {f.name: getattr(obj, f.name) for f in dc_fields(obj)}


def base_quote(symbol: str) -> tuple[str, str]:
    base, _, quote = symbol.partition("/")
    return base, quote.split(":")[0]


class PaperExchange:
    """See the module docstring. `store`: a LiveStore to persist into (None: in memory only)."""

    def __init__(self, store: Any = None, name: str = "paper", balances: dict[str, float] | None = None,
                 fees: float = 0.001, slippage: float = 0.0002, min_notional: float = 5.0,
                 partial: float | None = None):
        self.name = name
        self.store = store
        self.fees = float(fees)
        self.slippage = float(slippage)
        self.min_notional = float(min_notional)
        self.partial = partial
        self.listeners: dict[str, FillListener] = {}
        self.orders: dict[str, ExchangeOrder] = {}  # open, pending and the last bar's closed ones
        self.balances: dict[str, float] = dict(balances or {"USDT": 10_000.0})
        self.fills: list[ExchangeFill] = []  # the last processed bar's fills (older ones were fetched)
        self.seq = 0
        self.last_bar: dict[str, int] = {}
        self.duplicates = 0
        self.rejections = 0
        self.version = 0
        self._accepted: list[str] = []  # client ids accepted since the last commit
        self._ever: set[str] = set()  # every client id accepted (persisted in paper_orders_sent)
        self.dirty = False  # changed since the last commit
        if store is not None:
            self._load()

    # ------------------------------------------------------------------ the port
    async def load_markets(self) -> dict[str, dict]:
        return {}

    async def fetch_balance(self) -> dict[str, float]:
        return dict(self.balances)

    async def fetch_order(self, client_id: str, symbol: str | None = None) -> ExchangeOrder | None:
        o = self.orders.get(client_id)
        if o is None and self._was_accepted(client_id):
            return ExchangeOrder(client_id, symbol or "", "", "", None, None, "closed")
        return o

    async def fetch_open_orders(self, symbol: str | None = None) -> list[ExchangeOrder]:
        return [o for o in self.orders.values() if o.status in ("open", "pending")
                and (symbol is None or o.symbol == symbol)]

    async def fetch_fills(self, since_seq: int = 0) -> list[ExchangeFill]:
        return [f for f in self.fills if f.seq > since_seq]

    async def create_order(self, req: OrderRequest) -> ExchangeOrder:
        return self.place(req)

    async def cancel_order(self, client_id: str, symbol: str | None = None) -> ExchangeOrder | None:
        return self.cancel(client_id)

    # ------------------------------------------------------------------ synchronous core
    def place(self, req: OrderRequest) -> ExchangeOrder:
        if req.kind not in KINDS:
            raise OrderRejected(f"{req.client_id}: unknown order kind {req.kind!r}")
        if req.client_id in self.orders or self._was_accepted(req.client_id):
            self.duplicates += 1
            raise OrderRejected(f"{req.client_id}: duplicate order sent (client order id already used)")
        base, quote = base_quote(req.symbol)
        if req.kind == "limit" and req.amount is not None and req.price is not None:
            notional = req.amount * req.price
            if notional < self.min_notional * (1 - TOL):
                self.rejections += 1
                raise OrderRejected(f"{req.client_id}: notional {notional:.8g} {quote} under the minimum "
                                    f"{self.min_notional:g}")
            if req.side == "buy" and notional * (1 + self.fees) > self._free_quote(quote) * (1 + TOL):
                self.rejections += 1
                raise OrderRejected(f"{req.client_id}: insufficient balance: {notional:.8g} {quote} needed, "
                                    f"{self._free_quote(quote):.8g} free")
        if req.kind == "market" and req.quote is not None and req.quote < self.min_notional * (1 - TOL):
            self.rejections += 1
            raise OrderRejected(f"{req.client_id}: notional {req.quote:.8g} {quote} under the minimum "
                                f"{self.min_notional:g}")
        o = ExchangeOrder(client_id=req.client_id, symbol=req.symbol, kind=req.kind, side=req.side,
                          amount=req.amount, price=req.price, status="pending" if req.parent else "open",
                          tag=req.tag, flags=req.flags, quote=req.quote, instance=req.instance, parent=req.parent,
                          exchange_id=f"{self.name}-{self.seq}-{len(self.orders)}")
        self.orders[req.client_id] = o
        self.dirty = True
        self._accepted.append(req.client_id)
        self._ever.add(req.client_id)
        return o

    def cancel(self, client_id: str) -> ExchangeOrder | None:
        o = self.orders.get(client_id)
        if o is None or o.status not in ("open", "pending"):
            return o
        self.dirty = True
        o.status = "canceled"
        for child in self.orders.values():
            if child.parent == client_id and child.status == "pending":
                child.status = "canceled"
        return o

    def _free_quote(self, quote: str) -> float:
        """The quote not promised to resting buy limits (market buys and triggers reserve nothing)."""
        held = sum(o.amount * o.price * (1 + self.fees) for o in self.orders.values()
                   if o.status == "open" and o.kind == "limit" and o.side == "buy" and o.amount is not None
                   and base_quote(o.symbol)[1] == quote)
        return self.balances.get(quote, 0.0) - held

    # ------------------------------------------------------------------ matching
    def process_bar(self, candle: Candle) -> list[ExchangeFill]:
        """Fill the orders resting at this candle's open, by the fill rule, instance by instance (name order).
        A candle already processed (a restart) changes nothing."""
        t = int(candle.time.value)
        key = f"{candle.symbol}|{candle.timeframe}"
        if self.last_bar.get(key, -1) >= t:
            return []
        self.last_bar[key] = t
        self.fills = [f for f in self.fills if f.time_ns >= t - 1]  # keep the previous bar's for a late reader
        self._forget_closed()
        out: list[ExchangeFill] = []
        names = sorted({o.instance for o in self.orders.values() if o.symbol == candle.symbol
                        and o.status == "open" and getattr(self.listeners.get(o.instance), "timeframe",
                                                           candle.timeframe) == candle.timeframe})
        for name in names:
            out += self._match_instance(name, candle)
        return out

    def _match_instance(self, instance: str, c: Candle) -> list[ExchangeFill]:
        listener = self.listeners.get(instance)
        resting = [o for o in self.orders.values() if o.instance == instance and o.symbol == c.symbol
                   and o.status == "open"]
        fills: list[ExchangeFill] = []
        cancelled = 0
        cancelled = self._match(resting, c, listener, fills, cancelled, first_phase=0)
        children = [o for o in self.orders.values() if o.status == "pending" and o.parent is not None
                    and self.orders.get(o.parent) is not None and self.orders[o.parent].status == "filled"
                    and o.instance == instance]
        for ch in children:
            ch.status = "open"
            ch.amount = self.orders[ch.parent].filled
        if children:
            self._match(children, c, listener, fills, cancelled, first_phase=1)
        return fills

    def _match(self, orders: list[ExchangeOrder], c: Candle, listener, fills: list, cancelled: int,
               first_phase: int) -> int:
        if not orders:
            return cancelled
        book = np.zeros(len(orders), dtype=INTENT_DTYPE)
        summary = np.zeros(1, dtype=BOOK_SUMMARY_DTYPE)
        clear_book_nb(summary[0])
        for o in orders:
            add_intent_nb(book, summary[0], KINDS.index(o.kind), 1 if o.side == "buy" else -1,
                          np.nan if o.price is None else o.price, o.amount or 0.0, o.quote or 0.0, o.tag, o.flags)
        ev = event_buffers(len(orders))
        m = bar_events_nb(book, summary[0], c.open, c.high, c.low, self.slippage, *ev)
        for e in range(m):
            if ev.phase[e] < first_phase:
                continue
            o = orders[int(ev.idx[e])]
            if o.status != "open":
                continue
            if listener is not None and listener.group(o.tag) & cancelled:
                continue
            price = float(ev.price[e])
            amount, quote = self._size(o, listener, c.open, price)
            if amount <= 0 and quote <= 0:
                o.status, o.reason = "canceled", "nothing to fill at this price"
                self.cancel(o.client_id)
                continue
            if amount <= 0:
                amount = quote / price
            if self.partial is not None and o.kind == "limit":  # a fraction per bar, the rest when it is small
                part = amount * self.partial
                amount = part if part * price >= self.min_notional else amount
            fill = self._execute(o, price, amount, c)
            if fill is None:
                continue
            fills.append(fill)
            if listener is not None:
                cancelled |= int(listener.on_fill(fill, c.open))
        return cancelled

    def _size(self, o: ExchangeOrder, listener, open_: float, price: float) -> tuple[float, float]:
        sized = (o.amount is None and o.quote is None) or (o.flags & FLAG_ALL) or (
            o.kind == "market" and o.flags & FLAG_OPEN and o.quote)
        if sized and listener is not None:
            return listener.size_at_fill(o, open_, price)
        if o.amount is not None:
            return o.amount - o.filled, 0.0
        return 0.0, float(o.quote or 0.0)

    def _execute(self, o: ExchangeOrder, price: float, amount: float, c: Candle) -> ExchangeFill | None:
        base, quote = base_quote(o.symbol)
        notional = price * amount
        fee = self.fees * notional
        if o.side == "buy":
            if notional + fee > self.balances.get(quote, 0.0) * (1 + TOL) + TOL:
                o.status, o.reason, self.dirty = "rejected", "insufficient balance at the fill", True
                self.rejections += 1
                return None
            self.balances[quote] = self.balances.get(quote, 0.0) - (notional + fee)
            self.balances[base] = self.balances.get(base, 0.0) + amount
        else:
            have = self.balances.get(base, 0.0)
            if amount > have * (1 + TOL) + TOL * max(amount, 1e-12):
                o.status, o.reason, self.dirty = "rejected", "insufficient balance at the fill", True
                self.rejections += 1
                return None
            self.balances[base] = have - amount
            self.balances[quote] = self.balances.get(quote, 0.0) + (notional - fee)
        self.dirty = True
        o.filled += amount
        o.fee += fee
        o.average = price if o.average is None else (o.average * (o.filled - amount) + notional) / o.filled
        if o.kind != "limit" or o.amount is None or o.filled >= o.amount * (1 - 1e-12):
            o.status = "filled"
        self.seq += 1
        f = ExchangeFill(seq=self.seq, client_id=o.client_id, trade_id=f"{self.name}-{self.seq}",
                         time_ns=int(c.time.value), symbol=o.symbol, side=o.side, price=price, amount=amount,
                         fee=fee, fee_currency=quote, tag=o.tag, instance=o.instance)
        self.fills.append(f)
        return f

    def _forget_closed(self) -> None:
        self.dirty = self.dirty or bool(self.fills)
        for cid in [k for k, o in self.orders.items() if o.status in ("filled", "canceled", "rejected")
                    and not any(ch.parent == k and ch.status == "pending" for ch in self.orders.values())]:
            del self.orders[cid]

    # ------------------------------------------------------------------ persistence
    def snapshot(self) -> bytes:
        return json.dumps({"orders": [vars(o) for o in self.orders.values()], "balances": self.balances,
                           "fills": [_fields(f) for f in self.fills], "seq": self.seq, "last_bar": self.last_bar,
                           "duplicates": self.duplicates, "rejections": self.rejections}).encode()

    def restore(self, data: bytes) -> None:
        d = json.loads(data)
        self.orders = {o["client_id"]: ExchangeOrder(**o) for o in d["orders"]}
        self.balances = {k: float(v) for k, v in d["balances"].items()}
        self.fills = [ExchangeFill(**f) for f in d["fills"]]
        self.seq, self.last_bar = int(d["seq"]), {k: int(v) for k, v in d["last_bar"].items()}
        self.duplicates, self.rejections = int(d["duplicates"]), int(d["rejections"])

    def _load(self) -> None:
        data, self.version = self.store.load_paper(self.name)
        if data is not None:
            self.restore(data)
        from traderagent.persistence.models import PaperOrderSent

        t = PaperOrderSent.__table__
        with self.store.engine.connect() as conn:
            self._ever = {r[0] for r in conn.execute(sa.select(t.c.client_order_id).where(t.c.exchange == self.name))}

    def commit(self, bar_time_ns: int | None = None) -> None:
        """Persist the state (and the client ids accepted since the last commit) in one transaction; nothing to do
        when nothing changed but the bar pointer (processing that bar again after a crash changes nothing)."""
        if self.store is None or not self.dirty:
            self._accepted.clear()
            return
        self.dirty = False
        self.version = self.store.save_paper(self.name, self.snapshot(), self.version, bar_time_ns,
                                             sent=list(self._accepted))
        self._accepted.clear()

    def _was_accepted(self, client_id: str) -> bool:
        return client_id in self._ever

    def sent_ids(self) -> Iterable[str]:
        """Every client order id this exchange accepted."""
        return set(self._ever)
