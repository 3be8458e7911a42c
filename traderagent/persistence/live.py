"""The live runner's store: each instance's state, its own ledger and equity per bar, its exchange orders and
fills, and the paper exchange's state, written with SQLAlchemy Core in the transactions the runner asks for.

One bar of one instance is one transaction (`commit_bar`): the state bytes (optimistic version check), the
ledger fills of the bar, trade-id changes (a hybrid handover), the equity row, new orders (status `new`: written
before they are sent) and order/fill updates. Order rows keep the exact intent in `meta` (JSON floats round trip
exactly; the Money columns are for people). The paper exchange commits its own blob in its own transactions,
like an exchange outside the process.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import URL

from traderagent.persistence.engine import EngineOptions, make_engine, resolve_url
from traderagent.persistence.errors import StaleStateError
from traderagent.persistence.migrate import ensure_schema
from traderagent.persistence.models import (
    EquityBar,
    Fill,
    LedgerFill,
    LiveCommand,
    Order,
    PaperExchange,
    PaperOrderSent,
    Strategy,
    StrategyState,
    utcnow,
)
from traderagent.persistence.types import to_decimal

T_STRAT = Strategy.__table__
T_STATE = StrategyState.__table__
T_LEDGER = LedgerFill.__table__
T_EQUITY = EquityBar.__table__
T_ORDERS = Order.__table__
T_FILLS = Fill.__table__
T_PAPER = PaperExchange.__table__
T_CMD = LiveCommand.__table__
T_SENT = PaperOrderSent.__table__

# Statements built once (SQLAlchemy then reuses their compiled form): a bar's commit runs at least four of them.
_b = sa.bindparam
INS_STATE = T_STATE.insert()
UPD_STATE = (T_STATE.update().where(T_STATE.c.strategy_id == _b("sid")).where(T_STATE.c.version == _b("ver"))
             .values(payload=_b("payload"), version=_b("newver"), updated_at=_b("now")))
UPD_META = T_STRAT.update().where(T_STRAT.c.id == _b("sid")).values(meta=_b("meta"), status=_b("status"),
                                                                     updated_at=_b("now"))
INS_LEDGER = T_LEDGER.insert()
UPD_TRADE = T_LEDGER.update().where(T_LEDGER.c.strategy_id == _b("sid")).where(T_LEDGER.c.seq == _b("s")).values(
    trade=_b("t"))
INS_EQUITY = T_EQUITY.insert()
INS_ORDERS = T_ORDERS.insert()
UPD_ORDER = T_ORDERS.update().where(T_ORDERS.c.client_order_id == _b("cid")).values(
    status=_b("status"), filled=_b("filled"), meta=_b("meta"), updated_at=_b("now"))
SEL_ORDER_ID = sa.select(T_ORDERS.c.id).where(T_ORDERS.c.client_order_id == _b("cid"))
SEL_FILL = sa.select(T_FILLS.c.id).where(T_FILLS.c.order_id == _b("oid")).where(T_FILLS.c.trade_id == _b("tid"))
INS_FILL = T_FILLS.insert()


def _ts(ns: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ns / 1e9, tz=dt.UTC)


def _money(v: Any) -> Decimal | None:
    return None if v is None or (isinstance(v, float) and not np.isfinite(v)) else to_decimal(v)


@dataclass
class OrderRow:
    """An order as the runner knows it (exact intent in `intent`: kind, side, price, size, quote, flags, tag)."""

    client_id: str
    instance: str
    symbol: str
    side: str
    type: str
    amount: float
    price: float | None
    status: str
    tag: int
    intent: dict
    filled: float = 0.0
    parent: str | None = None


@dataclass
class BarCommit:
    """Everything one closed bar of one instance changes, written in one transaction."""

    instance: str
    bar: int
    bar_time_ns: int
    state: bytes
    meta: dict
    ledger: np.ndarray  # FILL_DTYPE rows appended this bar
    ledger_first_seq: int
    decided: np.ndarray  # decision bar of each ledger row
    relabel: Sequence[tuple[int, int]] = ()  # (seq, new trade id) of earlier ledger rows
    equity: tuple[float, float, float] | None = None  # cash, position, equity
    new_orders: Sequence[OrderRow] = ()
    order_updates: Sequence[OrderRow] = ()  # rows whose status or fill changed
    fills: Sequence[dict] = ()  # exchange fills: client_id, trade_id, time_ns, price, amount, fee, fee_currency
    status: str = "active"  # the instance's lifecycle status after this bar


class LiveStore:
    """The runner's database (SQLite by default, PostgreSQL by URL). Thread-compatible, not shared across loops."""

    def __init__(self, url: str | URL | None = None, options: EngineOptions | None = None):
        self.url = resolve_url(url, "database URL")
        self.engine = make_engine(self.url, options)
        if self.engine.dialect.name == "sqlite":
            sa.event.listen(self.engine, "connect", _sqlite_fast)
        ensure_schema(self.engine)
        self._ids: dict[str, int] = {}
        self._versions: dict[str, int] = {}

    def close(self) -> None:
        self.engine.dispose()

    # ---------------------------------------------------------------- instances
    def ensure_instance(self, name: str, kind: str, config: dict, meta: dict | None = None,
                        status: str = "idle") -> int:
        with self.engine.begin() as c:
            row = c.execute(sa.select(T_STRAT.c.id).where(T_STRAT.c.name == name)).first()
            if row is None:
                now = utcnow()
                row_id = c.execute(T_STRAT.insert().values(name=name, kind=kind, config=config, status=status,
                                                           meta=meta or {}, created_at=now, updated_at=now)
                                   ).inserted_primary_key[0]
            else:
                row_id = row[0]
        self._ids[name] = int(row_id)
        return int(row_id)

    def instance_id(self, name: str) -> int:
        if name not in self._ids:
            row = self._one(sa.select(T_STRAT.c.id).where(T_STRAT.c.name == name))
            if row is None:
                raise KeyError(name)
            self._ids[name] = int(row[0])
        return self._ids[name]

    def _one(self, stmt):
        with self.engine.connect() as c:
            return c.execute(stmt).first()

    def load_instance(self, name: str) -> dict:
        """status, meta, state bytes (None: fresh), state version, ledger (FILL_DTYPE, decided bars), open orders."""
        from traderagent.core.records import FILL_DTYPE

        sid = self.instance_id(name)
        with self.engine.connect() as c:
            st = c.execute(sa.select(T_STRAT.c.status, T_STRAT.c.meta).where(T_STRAT.c.id == sid)).one()
            state = c.execute(sa.select(T_STATE.c.payload, T_STATE.c.version).where(T_STATE.c.strategy_id == sid)
                              ).first()
            rows = c.execute(sa.select(T_LEDGER.c.trade, T_LEDGER.c.bar, T_LEDGER.c.side, T_LEDGER.c.price,
                                       T_LEDGER.c.size, T_LEDGER.c.fee, T_LEDGER.c.reason, T_LEDGER.c.decided_bar)
                             .where(T_LEDGER.c.strategy_id == sid).order_by(T_LEDGER.c.seq)).all()
            orders = c.execute(sa.select(T_ORDERS).where(T_ORDERS.c.strategy_id == sid)
                               .where(T_ORDERS.c.status.in_(("new", "open", "partially_filled")))
                               .order_by(T_ORDERS.c.id)).all()
        ledger = np.zeros(len(rows), dtype=FILL_DTYPE)
        decided = np.zeros(len(rows), dtype=np.int64)
        for k, r in enumerate(rows):
            ledger[k] = (r[0], r[1], r[2], r[3], r[4], r[5], r[6])
            decided[k] = r[7]
        self._versions[name] = int(state[1]) if state else 0
        return {"status": st[0], "meta": dict(st[1] or {}), "state": bytes(state[0]) if state else None,
                "version": self._versions[name], "ledger": ledger, "decided": decided,
                "orders": [self._order_row(name, o) for o in orders]}

    @staticmethod
    def _order_row(instance: str, o: Any) -> OrderRow:
        m = o.meta or {}
        return OrderRow(client_id=o.client_order_id, instance=instance, symbol=o.symbol, side=o.side, type=o.type,
                        amount=float(m.get("amount", 0.0)), price=m.get("price"), status=o.status,
                        tag=int(m.get("tag", 0)), intent=m.get("intent", {}), filled=float(m.get("filled", 0.0)),
                        parent=m.get("parent"))

    def set_status(self, name: str, status: str, meta: dict | None = None) -> None:
        values: dict[str, Any] = {"status": status, "updated_at": utcnow()}
        if meta is not None:
            values["meta"] = meta
        with self.engine.begin() as c:
            c.execute(T_STRAT.update().where(T_STRAT.c.id == self.instance_id(name)).values(**values))

    def instances(self) -> list[dict]:
        with self.engine.connect() as c:
            rows = c.execute(sa.select(T_STRAT.c.name, T_STRAT.c.kind, T_STRAT.c.status, T_STRAT.c.meta,
                                       T_STRAT.c.config).order_by(T_STRAT.c.id)).all()
        return [{"name": r[0], "kind": r[1], "status": r[2], "meta": dict(r[3] or {}), "config": dict(r[4] or {})}
                for r in rows]

    # ---------------------------------------------------------------- the bar
    def commit_bar(self, b: BarCommit) -> None:
        """One instance's bar in one transaction; StaleStateError if another writer moved its state."""
        sid = self.instance_id(b.instance)
        version = self._versions.get(b.instance, 0)
        now = utcnow()
        with self.engine.begin() as c:
            if version == 0:
                c.execute(INS_STATE, {"strategy_id": sid, "encoding": "bytes", "payload": b.state, "version": 1,
                                      "updated_at": now})
            elif c.execute(UPD_STATE, {"sid": sid, "ver": version, "payload": b.state, "newver": version + 1,
                                       "now": now}).rowcount != 1:
                raise StaleStateError(f"{b.instance}: its state was written by another process "
                                      f"(expected version {version})")
            c.execute(UPD_META, {"sid": sid, "meta": b.meta, "status": b.status, "now": now})
            if len(b.ledger):
                bt = _ts(b.bar_time_ns)
                c.execute(INS_LEDGER, [
                    {"strategy_id": sid, "seq": b.ledger_first_seq + k, "bar": int(f["bar"]), "bar_time": bt,
                     "trade": int(f["trade"]), "side": int(f["side"]), "price": float(f["price"]),
                     "size": float(f["size"]), "fee": float(f["fee"]), "reason": int(f["reason"]),
                     "decided_bar": int(b.decided[k])} for k, f in enumerate(b.ledger)])
            if b.relabel:
                c.execute(UPD_TRADE, [{"sid": sid, "s": int(seq), "t": int(trade)} for seq, trade in b.relabel])
            if b.equity is not None:
                cash, pos, eq = b.equity
                c.execute(INS_EQUITY, {"strategy_id": sid, "bar": b.bar, "bar_time": _ts(b.bar_time_ns), "cash": cash,
                                       "position": pos, "equity": eq})
            self._write_orders(c, sid, b.new_orders, now)
            self._update_orders(c, b.order_updates, now)
            self._write_fills(c, b.fills)
        self._versions[b.instance] = version + 1

    def _write_orders(self, c, sid: int, orders: Iterable[OrderRow], now) -> None:
        rows = [{"client_order_id": o.client_id, "strategy_id": sid, "exchange": o.intent.get("exchange", "paper"),
                 "symbol": o.symbol, "side": o.side, "type": o.type, "amount": _money(o.amount) or Decimal(0),
                 "price": _money(o.price), "status": o.status, "filled": Decimal(0), "fee": Decimal(0),
                 "tag": str(o.tag), "meta": _order_meta(o), "created_at": now, "updated_at": now} for o in orders]
        if rows:
            c.execute(INS_ORDERS, rows)

    def _update_orders(self, c, rows: Iterable[OrderRow], now) -> None:
        params = [{"cid": o.client_id, "status": o.status, "filled": _money(o.filled) or Decimal(0),
                   "meta": _order_meta(o), "now": now} for o in rows]
        if params:
            c.execute(UPD_ORDER, params)

    def _write_fills(self, c, fills: Iterable[dict]) -> None:
        for f in fills:
            oid = c.execute(SEL_ORDER_ID, {"cid": f["client_id"]}).first()
            if oid is None:
                continue
            if c.execute(SEL_FILL, {"oid": oid[0], "tid": str(f["trade_id"])}).first() is None:
                c.execute(INS_FILL, {"order_id": oid[0], "trade_id": str(f["trade_id"]), "time": _ts(f["time_ns"]),
                                     "price": _money(f["price"]), "amount": _money(f["amount"]),
                                     "fee": _money(f["fee"]) or Decimal(0), "fee_currency": f.get("fee_currency"),
                                     "liquidity": None})

    def update_orders(self, rows: Sequence[OrderRow]) -> None:
        """Order status changes outside a bar (sent, acknowledged, rejected)."""
        with self.engine.begin() as c:
            self._update_orders(c, rows, utcnow())

    def order_statuses(self, client_ids: Sequence[str]) -> dict[str, str]:
        if not client_ids:
            return {}
        with self.engine.connect() as c:
            rows = c.execute(sa.select(T_ORDERS.c.client_order_id, T_ORDERS.c.status)
                             .where(T_ORDERS.c.client_order_id.in_(list(client_ids)))).all()
        return {r[0]: r[1] for r in rows}

    def equity_rows(self, name: str) -> np.ndarray:
        """(bar, cash, position, equity, bar_time_ns) per stored bar, ordered by bar."""
        sid = self.instance_id(name)
        with self.engine.connect() as c:
            rows = c.execute(sa.select(T_EQUITY.c.bar, T_EQUITY.c.cash, T_EQUITY.c.position, T_EQUITY.c.equity,
                                       T_EQUITY.c.bar_time).where(T_EQUITY.c.strategy_id == sid)
                             .order_by(T_EQUITY.c.bar)).all()
        out = np.zeros(len(rows), dtype=[("bar", "i8"), ("cash", "f8"), ("position", "f8"), ("equity", "f8"),
                                         ("time", "i8")])
        for k, r in enumerate(rows):
            out[k] = (r[0], r[1], r[2], r[3], int(r[4].timestamp() * 1e9))
        return out

    def counts(self) -> dict[str, int]:
        with self.engine.connect() as c:
            return {t.name: int(c.execute(sa.select(sa.func.count()).select_from(t)).scalar_one())
                    for t in (T_ORDERS, T_FILLS, T_LEDGER, T_EQUITY)}

    # ---------------------------------------------------------------- commands (the control channel)
    def queue_command(self, command: str, instance: str | None = None, args: dict | None = None) -> int:
        with self.engine.begin() as c:
            return int(c.execute(T_CMD.insert().values(created_at=utcnow(), instance=instance, command=command,
                                                       args=args or {}, status="queued", result={})
                                 ).inserted_primary_key[0])

    def pending_commands(self) -> list[dict]:
        with self.engine.connect() as c:
            rows = c.execute(sa.select(T_CMD.c.id, T_CMD.c.instance, T_CMD.c.command, T_CMD.c.args)
                             .where(T_CMD.c.status == "queued").order_by(T_CMD.c.id)).all()
        return [{"id": r[0], "instance": r[1], "command": r[2], "args": dict(r[3] or {})} for r in rows]

    def finish_command(self, cid: int, ok: bool, result: dict) -> None:
        with self.engine.begin() as c:
            c.execute(T_CMD.update().where(T_CMD.c.id == cid).values(status="done" if ok else "failed",
                                                                     result=result, done_at=utcnow()))

    def command(self, cid: int) -> dict | None:
        with self.engine.connect() as c:
            r = c.execute(sa.select(T_CMD.c.status, T_CMD.c.result).where(T_CMD.c.id == cid)).first()
        return None if r is None else {"status": r[0], "result": dict(r[1] or {})}

    def last_equity(self, name: str) -> dict | None:
        """The instance's last stored bar: bar, time, cash, position, equity."""
        sid = self.instance_id(name)
        with self.engine.connect() as c:
            r = c.execute(sa.select(T_EQUITY.c.bar, T_EQUITY.c.bar_time, T_EQUITY.c.cash, T_EQUITY.c.position,
                                    T_EQUITY.c.equity).where(T_EQUITY.c.strategy_id == sid)
                          .order_by(T_EQUITY.c.bar.desc()).limit(1)).first()
        return None if r is None else {"bar": r[0], "time": r[1], "cash": r[2], "position": r[3], "equity": r[4]}

    def open_orders(self, name: str | None = None) -> list[OrderRow]:
        with self.engine.connect() as c:
            q = sa.select(T_ORDERS, T_STRAT.c.name).join(T_STRAT, T_STRAT.c.id == T_ORDERS.c.strategy_id).where(
                T_ORDERS.c.status.in_(("new", "open", "pending", "partially_filled")))
            if name is not None:
                q = q.where(T_STRAT.c.name == name)
            rows = c.execute(q.order_by(T_ORDERS.c.id)).all()
        return [self._order_row(r.name, r) for r in rows]

    # ---------------------------------------------------------------- paper exchange
    def load_paper(self, name: str) -> tuple[bytes | None, int]:
        row = self._one(sa.select(T_PAPER.c.payload, T_PAPER.c.version).where(T_PAPER.c.name == name))
        return (bytes(row[0]), int(row[1])) if row else (None, 0)

    def save_paper(self, name: str, payload: bytes, version: int, bar_time_ns: int | None,
                   sent: Iterable[str] = ()) -> int:
        """The paper exchange's state and the client ids it accepted since its last save, in one transaction.

        It is a simulator of an exchange, not the runner's record: on PostgreSQL its commits do not wait for the
        WAL flush (a server crash could lose its last fraction of a second; the runner's own transactions stay
        synchronous)."""
        bt = _ts(bar_time_ns) if bar_time_ns is not None else None
        with self.engine.begin() as c:
            if self.engine.dialect.name == "postgresql":
                c.exec_driver_sql("SET LOCAL synchronous_commit = off")
            now = utcnow()
            for cid in sent:
                c.execute(T_SENT.insert().values(exchange=name, client_order_id=cid, created_at=now))
            if version == 0:
                c.execute(T_PAPER.insert().values(name=name, payload=payload, version=1, bar_time=bt,
                                                  updated_at=utcnow()))
            else:
                n = c.execute(T_PAPER.update().where(T_PAPER.c.name == name).where(T_PAPER.c.version == version)
                              .values(payload=payload, version=version + 1, bar_time=bt, updated_at=utcnow()))
                if n.rowcount != 1:
                    raise StaleStateError(f"paper exchange {name}: written by another process")
        return version + 1


def _order_meta(o: OrderRow) -> dict:
    """The exact intent of an order (JSON floats round trip exactly; the Money columns are for people)."""
    return {"amount": o.amount, "price": o.price, "tag": o.tag, "intent": o.intent, "parent": o.parent,
            "filled": o.filled}


def _sqlite_fast(dbapi_conn: Any, _record: Any) -> None:
    """WAL without an fsync per commit: a killed process loses nothing (the OS has the pages); a power cut may
    lose the last bars, which the runner redoes idempotently on restart (docs/live.md)."""
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()
