"""The repository: the only place database sessions are opened.

`Repository(url)` picks the database (see `engine.resolve_url`), checks it is reachable and at the schema
revision of this code (creating the schema in an empty database), and exposes plain-data operations. Each
method is one transaction. To make several writes atomic (the live runner's "persist the bar"), use

    with repo.transaction() as tx:
        tx.save_strategy_state("btc-grid", state)
        tx.record_order(order)
        tx.set_position("btc-grid", "BTC/USDT", quantity, average_price, realized_pnl)

Everything commits together or nothing does. Records in and out are frozen dataclasses from `records`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session, sessionmaker

from traderagent.persistence import orders as _orders
from traderagent.persistence import runs as _runs
from traderagent.persistence.engine import (
    EngineOptions,
    check_connection,
    connection_error,
    make_engine,
    resolve_url,
)
from traderagent.persistence.errors import DuplicateOrderError, NotFoundError, SchemaError, StaleStateError
from traderagent.persistence.jsonutil import jsonable
from traderagent.persistence.migrate import current_revision, ensure_schema, head_revision
from traderagent.persistence.models import PerformanceMetric, Position, Signal, Strategy, StrategyState
from traderagent.persistence.records import (
    MetricRecord,
    OrderRecord,
    PositionRecord,
    SignalRecord,
    StrategyRecord,
    check_status,
)
from traderagent.persistence.runs import RunSummary
from traderagent.persistence.types import to_decimal

State = bytes | dict[str, Any]


def _strategy_record(row: Strategy) -> StrategyRecord:
    return StrategyRecord(
        row.name, row.kind, row.config, row.status, row.meta, row.id, row.created_at, row.updated_at
    )


class Tx:
    """Operations inside one open transaction (get one from `Repository.transaction()`)."""

    def __init__(self, session: Session):
        self.session = session

    # -- strategies -------------------------------------------------------------------------------------
    def _strategy(self, name: str, lock: bool = False) -> Strategy:
        query = sa.select(Strategy).where(Strategy.name == name)
        row = self.session.scalar(query.with_for_update() if lock else query)
        if row is None:
            raise NotFoundError(f"strategy {name!r} is not registered; create it with upsert_strategy first")
        return row

    def upsert_strategy(
        self,
        name: str,
        kind: str,
        config: Mapping[str, Any] | None = None,
        status: str | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> StrategyRecord:
        """Create the strategy, or update its kind/config/meta/status (only the ones given)."""
        if status is not None:
            check_status(status)
        row = self.session.scalar(sa.select(Strategy).where(Strategy.name == name).with_for_update())
        if row is None:
            row = Strategy(name=name, kind=kind, config=jsonable(dict(config or {})), status=status or "idle",
                           meta=jsonable(dict(meta or {})))  # fmt: skip
            self.session.add(row)
        else:
            row.kind = kind
            if config is not None:
                row.config = jsonable(dict(config))
            if meta is not None:
                row.meta = jsonable(dict(meta))
            if status is not None:
                row.status = status
        self.session.flush()
        return _strategy_record(row)

    def get_strategy(self, name: str) -> StrategyRecord:
        return _strategy_record(self._strategy(name))

    def list_strategies(self, status: str | None = None) -> list[StrategyRecord]:
        query = sa.select(Strategy).order_by(Strategy.id)
        if status is not None:
            query = query.where(Strategy.status == status)
        return [_strategy_record(r) for r in self.session.scalars(query)]

    def set_strategy_status(self, name: str, status: str) -> StrategyRecord:
        """Move a strategy to idle / active / paused / stopped."""
        check_status(status)
        row = self._strategy(name, lock=True)
        row.status = status
        self.session.flush()
        return _strategy_record(row)

    # -- kernel state -----------------------------------------------------------------------------------
    def save_strategy_state(self, name: str, state: State, expected_version: int | None = None) -> int:
        """Store the serialized kernel state (bytes, or a JSON-able dict); returns the new version number.

        With `expected_version`, the save fails with `StaleStateError` unless the stored version is that one
        (0 = no state yet): a second runner on the same strategy cannot silently overwrite the first.
        """
        if isinstance(state, bytes | bytearray | memoryview):
            encoding, payload = "bytes", bytes(state)
        elif isinstance(state, Mapping):
            encoding = "json"
            payload = json.dumps(jsonable(dict(state)), sort_keys=True, separators=(",", ":")).encode()
        else:
            raise TypeError(f"strategy state must be bytes or a dict, got {type(state).__name__}")
        sid = self._strategy(name).id
        row = self.session.get(StrategyState, sid, with_for_update=True)
        stored = 0 if row is None else row.version
        if expected_version is not None and expected_version != stored:
            raise StaleStateError(
                f"state of strategy {name!r} is at version {stored}, not {expected_version}: "
                "another runner saved it; reload the state before saving"
            )
        if row is None:
            row = StrategyState(strategy_id=sid, encoding=encoding, payload=payload, version=1)
            self.session.add(row)
        else:
            row.encoding, row.payload, row.version = encoding, payload, row.version + 1
        self.session.flush()
        return row.version

    def load_strategy_state_versioned(self, name: str) -> tuple[State | None, int]:
        """(state, version); (None, 0) when nothing was saved yet."""
        row = self.session.get(StrategyState, self._strategy(name).id)
        if row is None:
            return None, 0
        state: State = json.loads(row.payload) if row.encoding == "json" else bytes(row.payload)
        return state, row.version

    def load_strategy_state(self, name: str) -> State | None:
        """The last saved state (bytes or dict, as it was saved), or None."""
        return self.load_strategy_state_versioned(name)[0]

    # -- signals ----------------------------------------------------------------------------------------
    def record_signal(self, signal: SignalRecord) -> bool:
        """Store a signal once per (strategy, symbol, timeframe, bar, kind); False if it was already there."""
        sid = self._strategy(signal.strategy).id
        key = (Signal.strategy_id == sid, Signal.symbol == signal.symbol, Signal.timeframe == signal.timeframe,
               Signal.bar_time == signal.bar_time, Signal.kind == signal.kind)  # fmt: skip
        if self.session.scalar(sa.select(Signal.id).where(*key)) is not None:
            return False
        self.session.add(Signal(strategy_id=sid, symbol=signal.symbol, timeframe=signal.timeframe,
                                bar_time=signal.bar_time, kind=signal.kind, price=signal.price, stop=signal.stop,
                                target=signal.target, size=signal.size, meta=jsonable(signal.meta)))  # fmt: skip
        self.session.flush()
        return True

    def list_signals(self, strategy: str, limit: int | None = None) -> list[SignalRecord]:
        """The strategy's signals in bar order."""
        sid = self._strategy(strategy).id
        query = (
            sa.select(Signal)
            .where(Signal.strategy_id == sid)
            .order_by(Signal.bar_time, Signal.id)
            .limit(limit)
        )
        return [SignalRecord(strategy, r.symbol, r.timeframe, r.bar_time, r.kind, r.price, r.stop, r.target, r.size,
                             r.meta, r.id) for r in self.session.scalars(query)]  # fmt: skip

    # -- orders and fills -------------------------------------------------------------------------------
    def insert_order(self, order: OrderRecord) -> OrderRecord:
        """Insert a new order with its fills; `DuplicateOrderError` if the client order id exists."""
        return _orders.insert_order(self.session, order)

    def record_order(self, order: OrderRecord) -> OrderRecord:
        """Insert or update by client order id; only fills not yet stored are added (safe to repeat)."""
        return _orders.record_order(self.session, order)

    def record_orders(self, orders: Sequence[OrderRecord]) -> int:
        """Bulk insert of new orders with fills; all or nothing. Returns how many were inserted."""
        return _orders.record_orders(self.session, orders)

    def get_order(self, client_order_id: str) -> OrderRecord | None:
        return _orders.get_order(self.session, client_order_id)

    def list_orders(self, strategy: str | None = None, **filters: Any) -> list[OrderRecord]:
        """Orders with fills; filters: symbol=, statuses=, open_only=, since=, limit=."""
        return _orders.list_orders(self.session, strategy, **filters)

    # -- positions and metrics --------------------------------------------------------------------------
    def set_position(
        self, strategy: str, symbol: str, quantity: Any, average_price: Any = None, realized_pnl: Any = 0
    ) -> PositionRecord:
        """Set (insert or replace) the strategy's position in a symbol."""
        sid = self._strategy(strategy).id
        row = self.session.scalar(
            sa.select(Position)
            .where(Position.strategy_id == sid, Position.symbol == symbol)
            .with_for_update()
        )
        if row is None:
            row = Position(strategy_id=sid, symbol=symbol)
            self.session.add(row)
        row.quantity = to_decimal(quantity, "quantity")
        row.average_price = None if average_price is None else to_decimal(average_price, "average_price")
        row.realized_pnl = to_decimal(realized_pnl, "realized_pnl")
        self.session.flush()
        return PositionRecord(
            strategy, symbol, row.quantity, row.average_price, row.realized_pnl, row.updated_at
        )

    def list_positions(self, strategy: str | None = None) -> list[PositionRecord]:
        query = sa.select(Position, Strategy.name).join(Strategy, Position.strategy_id == Strategy.id)
        if strategy is not None:
            query = query.where(Strategy.name == strategy)
        rows = self.session.execute(query.order_by(Strategy.name, Position.symbol))
        return [PositionRecord(name, p.symbol, p.quantity, p.average_price, p.realized_pnl, p.updated_at)
                for p, name in rows]  # fmt: skip

    def record_metric(self, metric: MetricRecord) -> None:
        """Insert or replace the metrics of one strategy for one period."""
        sid = self._strategy(metric.strategy).id
        row = self.session.scalar(sa.select(PerformanceMetric).where(
            PerformanceMetric.strategy_id == sid, PerformanceMetric.period == metric.period,
            PerformanceMetric.period_start == metric.period_start).with_for_update())  # fmt: skip
        if row is None:
            row = PerformanceMetric(strategy_id=sid, period=metric.period, period_start=metric.period_start)
            self.session.add(row)
        for key in ("period_end", "equity_start", "equity_end", "pnl", "fees", "trades", "win_rate", "sharpe",
                    "max_drawdown"):  # fmt: skip
            setattr(row, key, getattr(metric, key))
        row.extra = jsonable(metric.extra)
        self.session.flush()

    def list_metrics(self, strategy: str, period: str | None = None) -> list[MetricRecord]:
        sid = self._strategy(strategy).id
        query = sa.select(PerformanceMetric).where(PerformanceMetric.strategy_id == sid)
        if period is not None:
            query = query.where(PerformanceMetric.period == period)
        return [MetricRecord(strategy, r.period, r.period_start, r.period_end, r.equity_start, r.equity_end, r.pnl,
                             r.fees, r.trades, r.win_rate, r.sharpe, r.max_drawdown, r.extra)
                for r in self.session.scalars(query.order_by(PerformanceMetric.period_start))]  # fmt: skip

    # -- research ---------------------------------------------------------------------------------------
    def save_backtest_run(self, result: Mapping[str, Any], **kwargs: Any) -> int:
        """See `runs.save_backtest_run`: keywords data_hash= (required), code_version=, meta=."""
        return _runs.save_backtest_run(self.session, result, **kwargs)

    def save_optimization_result(self, result: Mapping[str, Any], **kwargs: Any) -> int:
        """See `runs.save_optimization_result`: keywords data_hash= (required), code_version=, meta=."""
        return _runs.save_optimization_result(self.session, result, **kwargs)

    def list_runs(self, **filters: Any) -> list[RunSummary]:
        return _runs.list_runs(self.session, **filters)

    def get_run(self, run_id: str | int) -> dict[str, Any]:
        return _runs.get_run(self.session, run_id)


class Repository:
    """Plain-data access to the TraderAgent database; every method is one transaction."""

    def __init__(
        self,
        url: str | URL | None = None,
        *,
        options: EngineOptions | None = None,
        auto_migrate: bool = True,
        label: str = "database URL",
    ):
        self.url = resolve_url(url, label)
        self.engine = make_engine(self.url, options)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._auto_migrate = auto_migrate
        self._ready = False
        self._lock = threading.Lock()

    def __enter__(self) -> Repository:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    def ensure_ready(self) -> None:
        """Connect once and check the schema (creating it in an empty database when auto_migrate is on)."""
        with self._lock:
            if self._ready:
                return
            check_connection(self.engine)
            if self._auto_migrate:
                ensure_schema(self.engine)
            elif (current := current_revision(self.engine)) != (head := head_revision()):
                raise SchemaError(f"database is at schema revision {current}, this code expects {head}: "
                                  "run `traderagent db upgrade`")  # fmt: skip
            self._ready = True

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        """One transaction: commits when the block ends, rolls everything back if it raises."""
        self.ensure_ready()
        session = self._sessions()
        try:
            with session.begin():
                yield Tx(session)
        except sa.exc.DBAPIError as exc:
            if exc.connection_invalidated:
                raise connection_error(self.url, exc) from exc
            raise
        finally:
            session.close()

    # One-transaction shortcuts (see Tx for the documentation of each).
    def upsert_strategy(self, name: str, kind: str, **fields: Any) -> StrategyRecord:
        with self.transaction() as tx:
            return tx.upsert_strategy(name, kind, **fields)

    def get_strategy(self, name: str) -> StrategyRecord:
        with self.transaction() as tx:
            return tx.get_strategy(name)

    def list_strategies(self, status: str | None = None) -> list[StrategyRecord]:
        with self.transaction() as tx:
            return tx.list_strategies(status)

    def set_strategy_status(self, name: str, status: str) -> StrategyRecord:
        with self.transaction() as tx:
            return tx.set_strategy_status(name, status)

    def save_strategy_state(self, name: str, state: State, expected_version: int | None = None) -> int:
        with self.transaction() as tx:
            return tx.save_strategy_state(name, state, expected_version)

    def load_strategy_state(self, name: str) -> State | None:
        with self.transaction() as tx:
            return tx.load_strategy_state(name)

    def load_strategy_state_versioned(self, name: str) -> tuple[State | None, int]:
        with self.transaction() as tx:
            return tx.load_strategy_state_versioned(name)

    def record_signal(self, signal: SignalRecord) -> bool:
        with self.transaction() as tx:
            return tx.record_signal(signal)

    def list_signals(self, strategy: str, limit: int | None = None) -> list[SignalRecord]:
        with self.transaction() as tx:
            return tx.list_signals(strategy, limit)

    def insert_order(self, order: OrderRecord) -> OrderRecord:
        with self.transaction() as tx:
            return tx.insert_order(order)

    def record_order(self, order: OrderRecord) -> OrderRecord:
        try:
            with self.transaction() as tx:
                return tx.record_order(order)
        except DuplicateOrderError:  # another process inserted it between our read and write: now update
            with self.transaction() as tx:
                return tx.record_order(order)

    def record_orders(self, orders: Sequence[OrderRecord]) -> int:
        with self.transaction() as tx:
            return tx.record_orders(orders)

    def get_order(self, client_order_id: str) -> OrderRecord | None:
        with self.transaction() as tx:
            return tx.get_order(client_order_id)

    def list_orders(self, strategy: str | None = None, **filters: Any) -> list[OrderRecord]:
        with self.transaction() as tx:
            return tx.list_orders(strategy, **filters)

    def set_position(self, strategy: str, symbol: str, quantity: Any, average_price: Any = None,
                     realized_pnl: Any = 0) -> PositionRecord:  # fmt: skip
        with self.transaction() as tx:
            return tx.set_position(strategy, symbol, quantity, average_price, realized_pnl)

    def list_positions(self, strategy: str | None = None) -> list[PositionRecord]:
        with self.transaction() as tx:
            return tx.list_positions(strategy)

    def record_metric(self, metric: MetricRecord) -> None:
        with self.transaction() as tx:
            tx.record_metric(metric)

    def list_metrics(self, strategy: str, period: str | None = None) -> list[MetricRecord]:
        with self.transaction() as tx:
            return tx.list_metrics(strategy, period)

    def save_backtest_run(self, result: Mapping[str, Any], **kwargs: Any) -> int:
        with self.transaction() as tx:
            return tx.save_backtest_run(result, **kwargs)

    def save_optimization_result(self, result: Mapping[str, Any], **kwargs: Any) -> int:
        with self.transaction() as tx:
            return tx.save_optimization_result(result, **kwargs)

    def list_runs(self, **filters: Any) -> list[RunSummary]:
        with self.transaction() as tx:
            return tx.list_runs(**filters)

    def get_run(self, run_id: str | int) -> dict[str, Any]:
        with self.transaction() as tx:
            return tx.get_run(run_id)

    def table_counts(self) -> dict[str, int]:
        """Row count of every TraderAgent table."""
        from traderagent.persistence.models import TABLES

        with self.transaction() as tx:
            return {t.name: tx.session.scalar(sa.select(sa.func.count()).select_from(t)) or 0 for t in TABLES}


def save_backtest_run(
    result: Mapping[str, Any],
    *,
    data_hash: str,
    code_version: str | None = None,
    database_url: str | None = None,
    meta: Mapping[str, Any] | None = None,
) -> int:
    """Store one backtest result in the database (DATABASE_URL / default SQLite); returns N of `bt-N`."""
    with Repository(database_url) as repo:
        return repo.save_backtest_run(result, data_hash=data_hash, code_version=code_version, meta=meta)


def save_optimization_result(
    result: Mapping[str, Any],
    *,
    data_hash: str,
    code_version: str | None = None,
    database_url: str | None = None,
    meta: Mapping[str, Any] | None = None,
) -> int:
    """Store one optimization result in the database; returns N of `opt-N`."""
    with Repository(database_url) as repo:
        return repo.save_optimization_result(
            result, data_hash=data_hash, code_version=code_version, meta=meta
        )
