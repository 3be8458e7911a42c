"""One strategy instance live: its stepper, the orders it knows, reconciliation against the exchange, and the
transaction of each closed bar.

Per bar the runner calls `begin_bar`, lets the exchange fill (the paper exchange calls `size_at_fill` / `on_fill`
back; a real exchange's fills arrive through `apply_fill`), then `close` (the stepper's decision and the risk guard
give the desired orders; reconciliation keeps the orders that match, cancels the rest and plans the missing ones
with deterministic client ids) and `commit` (state, ledger, equity, new order rows, fills: one transaction) and
only then `send`. Orders are matched by tag: same kind, side, price and size (a sell of the whole position by kind,
side and price) is kept; anything else is cancel + place.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from traderagent.core.orders_nb import FLAG_ALL, FLAG_OPEN, FLAG_SIZE_AT_FILL, INTENT_DTYPE, OrderKind
from traderagent.core.records import Reason
from traderagent.core.risk_nb import ACTION_NAMES, RULE_NAMES
from traderagent.live.ids import client_order_id, short_name
from traderagent.live.ports import DB_TYPES, KINDS, SIDES, Event, ExchangeFill, ExchangeOrder, OrderRequest
from traderagent.persistence.live import BarCommit, OrderRow

log = logging.getLogger("traderagent.live")

OPEN_STATUSES = ("new", "open", "pending", "partially_filled")
REASON_NAMES = tuple(Reason._fields)
DAY_NS = 86_400_000_000_000


@dataclass
class Planned:
    """What one close decided: orders to cancel (client ids) and to place."""

    cancels: list[str] = field(default_factory=list)
    places: list[OrderRequest] = field(default_factory=list)


class Instance:
    """See the module docstring. `stepper` is a `core.stepper` stepper; `store` a LiveStore."""

    def __init__(self, name: str, spec: Any, params: Any, symbol: str, stepper: Any, store: Any, notifier: Any,
                 account: str = "ta", exchange_name: str = "paper", status: str = "active"):
        self.name = name
        self.short = short_name(name, 12)
        self.timeframe = spec.base_timeframe(params)
        self.spec = spec
        self.params = params
        self.symbol = symbol
        self.stepper = stepper
        self.store = store
        self.notifier = notifier
        self.account = account
        self.exchange_name = exchange_name
        self.status = status
        self.orders: dict[str, OrderRow] = {}
        self.fill_seq = 0
        self.bar_time_ns: int | None = None
        self.committed = 0  # ledger rows already stored
        self.meta: dict = {}
        self._fills: list[dict] = []  # exchange fills of the bar, for the commit
        self._updates: set[str] = set()  # client ids whose rows changed since the commit
        self._quotes: dict[str, float] = {}  # quote decided at the fill, by client id
        self._trades_before: np.ndarray | None = None
        self.planned = Planned()
        # tag -> (kind, side, price, bar time) of an order the exchange rejected: not sent again while the same
        # intent is desired, until a fill changes the book or a day has passed (no rejection storm every bar)
        self.rejected: dict[int, tuple] = {}

    # ------------------------------------------------------------------ restore
    def restore(self) -> bool:
        """Load the stored state, ledger and open orders; False when the instance is new."""
        self.store.ensure_instance(self.name, self.spec.name, {"symbol": self.symbol, "strategy": self.spec.name},
                                   status=self.status)
        got = self.store.load_instance(self.name)
        self.meta = got["meta"]
        self.orders = {o.client_id: o for o in got["orders"]}
        if got["state"] is None:
            return False
        self.stepper.load(got["state"], got["ledger"], got["decided"])
        self.committed = len(got["ledger"])
        self.fill_seq = int(self.meta.get("fill_seq", 0))
        self.bar_time_ns = self.meta.get("bar_time_ns")
        self.status = got["status"] if got["status"] in ("active", "paused", "stopped", "idle") else self.status
        return True

    # ------------------------------------------------------------------ fills (FillListener)
    def begin_bar(self, time: pd.Timestamp) -> None:
        self.stepper.begin_bar(time)

    def group(self, tag: int) -> int:
        return self.stepper.group(tag)

    def size_at_fill(self, order: ExchangeOrder, open_: float, price: float) -> tuple[float, float]:
        intent = _intent_row(order)
        if order.flags & FLAG_ALL and not order.flags & FLAG_SIZE_AT_FILL:
            return self.stepper.size_all(order.tag), 0.0
        size, quote = self.stepper.size_at_fill(intent, open_, price)
        if quote > 0:
            self._quotes[order.client_id] = quote
        return size, quote

    def on_fill(self, fill: ExchangeFill, open_: float) -> int:
        """A fill of one of this instance's orders (the paper exchange calls it while it matches)."""
        quote = self._quotes.pop(fill.client_id, 0.0)
        side = 1 if fill.side == "buy" else -1
        n0 = self.stepper.n_fills
        pos0 = self.stepper.position()
        mask = self.stepper.on_fill(fill.tag, side, fill.price, fill.amount, quote, open_)
        pos1 = self.stepper.position()
        self.fill_seq = max(self.fill_seq, fill.seq)
        self.rejected.clear()
        self._fills.append({"client_id": fill.client_id, "trade_id": fill.trade_id, "time_ns": fill.time_ns,
                            "price": fill.price, "amount": fill.amount, "fee": fill.fee,
                            "fee_currency": fill.fee_currency})
        row = self.orders.get(fill.client_id)
        if row is not None:
            row.filled += fill.amount
            full = row.intent.get("sized") or row.amount <= 0 or row.filled >= row.amount * (1 - 1e-12)
            row.status = "filled" if full else "partially_filled"
            self._updates.add(fill.client_id)
            for child in self.orders.values():  # its bracket rests now, for what it filled
                if child.parent == fill.client_id and child.status == "pending":
                    child.status, child.amount = "open", row.filled
                    self._updates.add(child.client_id)
        # entry: the fill opened a position; exit: it closed one; else a fill that adds or reduces
        kind = "entry" if pos0 == 0.0 and pos1 != 0.0 else "exit" if pos0 != 0.0 and abs(pos1) <= 1e-12 * abs(
            pos0) else "fill"
        for k in range(n0, self.stepper.n_fills):
            f = self.stepper.fills[k]
            reason = REASON_NAMES[int(f["reason"])] if 0 <= int(f["reason"]) < len(REASON_NAMES) else ""
            self.notifier.emit(Event(kind, pd.Timestamp(fill.time_ns, tz="UTC"),
                                     f"{self.name}: {SIDES[int(f['side'])]} {float(f['size']):.8g} {self.symbol} at "
                                     f"{float(f['price']):.8g} ({reason})", self.name,
                                     {"trade": int(f["trade"]), "reason": reason, "side": SIDES[int(f["side"])],
                                      "price": float(f["price"]), "size": float(f["size"]),
                                      "position": float(pos1)}))
        return mask

    def apply_fill(self, fill: ExchangeFill, open_: float, order: ExchangeOrder | None) -> int:
        """A fill learned after the fact (a restart, a real exchange): sized orders re-decide their size at the fill
        price first (the guard keeps its log), then the fill is booked."""
        if order is not None and (order.amount is None or order.flags & (FLAG_SIZE_AT_FILL | FLAG_ALL)
                                  or (order.kind == "market" and order.flags & FLAG_OPEN)):
            self.size_at_fill(order, open_, fill.price)
        return self.on_fill(fill, open_)

    def order_closed(self, client_id: str, status: str, reason: str = "") -> None:
        row = self.orders.get(client_id)
        if row is not None and row.status in OPEN_STATUSES:
            row.status = status
            self._updates.add(client_id)
            for child in self.orders.values():
                if child.parent == client_id and child.status == "pending":
                    child.status = "canceled"
                    self._updates.add(child.client_id)
            if status == "rejected":
                self.rejected[row.tag] = (row.intent.get("kind"), row.side, row.price, self.bar_time_ns or 0)
                self.meta["errors"] = int(self.meta.get("errors", 0)) + 1
                self.notifier.emit(Event("order_error", pd.Timestamp.now(tz="UTC"),
                                         f"{self.name}: order {client_id} rejected: {reason}", self.name,
                                         {"client_id": client_id, "reason": reason}))

    # ------------------------------------------------------------------ the close
    def close(self, frames: dict[str, pd.DataFrame], bar_time_ns: int) -> Planned:
        """The decision at this bar's close, then reconciliation: what to cancel and what to place."""
        hybrid = getattr(getattr(self.stepper, "machine", None), "features_tf", None) is not None
        self._trades_before = self.stepper.fills["trade"][: self.stepper.n_fills].copy() if hybrid else None
        self.stepper.end_bar(frames)
        self.bar_time_ns = bar_time_ns
        desired = self.stepper.orders() if self.status == "active" else self._held_orders()
        self.planned = self.reconcile(desired, bar_time_ns)
        return self.planned

    def _held_orders(self) -> np.ndarray:
        """Paused: no new opening orders; what protects or closes the position stays. Stopped: nothing, except
        once, with `flatten`, the risk guard's flatten order for the whole position (the strategy books it)."""
        rows = self.stepper.orders()
        if self.status == "paused":
            return rows[(rows["flags"] & FLAG_OPEN) == 0]
        if self.status == "stopped" and self.meta.pop("flatten", False) and self.stepper.position() != 0.0:
            from traderagent.core.risk_nb import TAG_FLATTEN

            out = np.zeros(1, dtype=INTENT_DTYPE)
            pos = self.stepper.position()
            out[0] = (OrderKind.market, -1 if pos > 0 else 1, FLAG_ALL, np.nan, abs(pos), 0.0, TAG_FLATTEN)
            return out
        return rows[:0]

    def reconcile(self, desired: np.ndarray, bar_time_ns: int) -> Planned:
        known: dict[int, OrderRow] = {}
        plan = Planned()
        for row in self.orders.values():
            if row.status in ("new", "open", "partially_filled"):  # placed (a bracket waiting: "pending")
                if row.tag in known:  # two open orders for one tag: keep the newer
                    plan.cancels.append(known[row.tag].client_id)
                known[row.tag] = row
        children = self._brackets(desired)
        for d in desired:
            tag = int(d["tag"])
            k = known.pop(tag, None)
            if k is not None and _same(k, d):
                continue
            if k is None and self._still_rejected(d, bar_time_ns):
                continue
            if k is not None:
                plan.cancels.append(k.client_id)
            req = self._request(d, bar_time_ns)
            plan.places.append(req)
            if tag == -1 and len(children):  # a signal entry: its bracket rests once it fills
                for c in children:
                    plan.places.append(self._request(c, bar_time_ns, parent=req.client_id))
        plan.cancels += [k.client_id for k in known.values()]
        return plan

    def _still_rejected(self, d: np.void, bar_time_ns: int) -> bool:
        got = self.rejected.get(int(d["tag"]))
        if got is None:
            return False
        kind, side, price, when = got
        market = int(d["kind"]) == OrderKind.market
        same = kind == KINDS[int(d["kind"])] and side == SIDES[int(d["side"])] and (
            market or (price is not None and float(price) == float(d["price"])))
        if same and bar_time_ns - when < DAY_NS:
            return True
        del self.rejected[int(d["tag"])]
        return False

    def _brackets(self, desired: np.ndarray) -> np.ndarray:
        planned = getattr(self.stepper, "planned_bracket", None)
        if planned is None or not ((desired["tag"] == -1) & ((desired["flags"] & FLAG_SIZE_AT_FILL) != 0)).any():
            return np.zeros(0, dtype=INTENT_DTYPE)
        return planned()

    def _request(self, d: np.void, bar_time_ns: int, parent: str | None = None) -> OrderRequest:
        kind = KINDS[int(d["kind"])]
        flags = int(d["flags"])
        sized = bool(flags & (FLAG_ALL | FLAG_SIZE_AT_FILL)) or parent is not None
        market = int(d["kind"]) == OrderKind.market
        amount = None if sized or (market and float(d["size"]) <= 0) else float(d["size"])
        quote = float(d["quote"]) if market and float(d["size"]) <= 0 and float(d["quote"]) > 0 else None
        return OrderRequest(client_id=client_order_id(self.account, self.name, bar_time_ns, int(d["tag"])),
                            instance=self.name, symbol=self.symbol, kind=kind, side=SIDES[int(d["side"])],
                            amount=amount, price=None if market else float(d["price"]), tag=int(d["tag"]),
                            flags=flags, quote=None if sized else quote, parent=parent)

    # ------------------------------------------------------------------ the transaction
    def commit(self, close_price: float) -> None:
        st = self.stepper
        n = st.n_fills
        relabel = []
        if self._trades_before is not None:
            now = st.fills["trade"][: len(self._trades_before)]
            relabel = [(int(k), int(now[k])) for k in np.flatnonzero(now != self._trades_before) if k < self.committed]
        new_rows = [OrderRow(client_id=r.client_id, instance=self.name, symbol=r.symbol, side=r.side,
                             type=DB_TYPES[r.kind], amount=float(r.amount or 0.0), price=r.price,
                             status="pending" if r.parent else "new", tag=r.tag,
                             intent={"kind": r.kind, "flags": r.flags, "quote": r.quote, "sized": r.amount is None
                                     and r.quote is None, "exchange": self.exchange_name},
                             parent=r.parent) for r in self.planned.places]
        cash, pos = st.cash(), st.position()
        self._emit_blocks()
        self.meta.update({"fill_seq": self.fill_seq, "bar_time_ns": self.bar_time_ns, "bar": st.bar,
                          "status": self.status})
        updates = [self.orders[cid] for cid in self._updates if cid in self.orders]
        self.store.commit_bar(BarCommit(
            instance=self.name, bar=st.bar - 1, bar_time_ns=int(self.bar_time_ns), state=st.state_bytes(),
            meta=dict(self.meta), ledger=st.fills[self.committed:n].copy(), ledger_first_seq=self.committed,
            decided=st.fsb[self.committed:n].copy(), relabel=relabel,
            equity=(cash, pos, cash + pos * close_price), new_orders=new_rows, order_updates=updates,
            fills=list(self._fills), status=self.status))
        self.committed = n
        self._fills.clear()
        self._updates.clear()
        for r in new_rows:
            self.orders[r.client_id] = r
        self.meta["sent"] = int(self.meta.get("sent", 0)) + len(new_rows)
        self._forget_closed()

    def _emit_blocks(self) -> None:
        """One event per new record of the risk guard's log (a run of bars refusing the same orders is one)."""
        blocks = self.stepper.blocks()
        seen = int(self.meta.get("blocks_seen", 0))
        if len(blocks) <= seen:
            return
        t = pd.Timestamp(int(self.bar_time_ns), tz="UTC")
        for b in blocks[seen:]:
            rule, action = RULE_NAMES[int(b["rule"])], ACTION_NAMES[int(b["action"])]
            what = f"day's loss {float(b['amount']):.2%}" if action == "reached" else \
                f"{int(b['n'])} order(s), {float(b['amount']):.2f} quote"
            self.notifier.emit(Event("risk_block", t, f"{self.name}: risk guard {rule}: {action} ({what})",
                                     self.name, {"rule": rule, "action": action, "orders": int(b["n"]),
                                                 "amount": float(b["amount"])}))
        self.meta["blocks_seen"] = len(blocks)

    def _forget_closed(self) -> None:
        for cid in [k for k, o in self.orders.items() if o.status not in OPEN_STATUSES]:
            del self.orders[cid]


def _same(k: OrderRow, d: np.void) -> bool:
    """An open order already is this desired intent (same kind, side and price; same remaining size unless it sells
    the whole position, which is sized at its fill)."""
    it = k.intent
    if it.get("kind") != KINDS[int(d["kind"])] or k.side != SIDES[int(d["side"])]:
        return False
    if int(d["kind"]) == OrderKind.market:
        return False
    if k.price is None or float(k.price) != float(d["price"]):
        return False
    if int(d["flags"]) & FLAG_ALL or it.get("sized"):
        return True
    return float(k.amount) - float(k.filled) == float(d["size"])


def _intent_row(o: ExchangeOrder) -> np.void:
    r = np.zeros(1, dtype=INTENT_DTYPE)[0]
    r["kind"] = KINDS.index(o.kind) if o.kind in KINDS else 0
    r["side"] = 1 if o.side == "buy" else -1
    r["flags"] = o.flags
    r["price"] = np.nan if o.price is None else o.price
    r["size"] = o.amount or 0.0
    r["quote"] = o.quote or 0.0
    r["tag"] = o.tag
    return r
