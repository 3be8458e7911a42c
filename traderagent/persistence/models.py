"""The database schema (SQLAlchemy 2.0 typed declarative models).

Amounts that move through an exchange (prices, quantities, fees, equity of live strategies) are `Money`:
exact decimals, NUMERIC(38, 18) on PostgreSQL. Research outputs that were computed in float64 by the backtest
(Sharpe, returns, simulated equity) are stored as DOUBLE PRECISION, which holds a float64 bit for bit.
Strategy-specific metadata is a JSON document (JSONB on PostgreSQL).

Only `traderagent.persistence` imports this module: kernels, strategies and the backtest never see SQLAlchemy.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from traderagent.persistence.types import JSONDoc, Money, UTCDateTime

#: Alembic's version table for this app: optuna keeps its own `alembic_version` in the same database.
VERSION_TABLE = "traderagent_alembic_version"

STRATEGY_STATUSES = ("idle", "active", "paused", "stopped")
ORDER_SIDES = ("buy", "sell")
ORDER_TYPES = ("market", "limit", "stop_market", "stop_limit", "take_profit")
ORDER_STATUSES = ("new", "pending", "open", "partially_filled", "filled", "canceled", "rejected", "expired")
LIQUIDITY = ("maker", "taker")

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        Decimal: Money(),
        dt.datetime: UTCDateTime(),
        dict[str, Any]: JSONDoc,
        list[Any]: JSONDoc,
        float: sa.Double(),
    }


class Strategy(Base):
    """A configured strategy instance (e.g. `btc-grid`) and where it is in its lifecycle."""

    __tablename__ = "strategies"
    __table_args__ = (sa.CheckConstraint(_in("status", STRATEGY_STATUSES), name="status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100), unique=True)
    kind: Mapped[str] = mapped_column(sa.String(50))
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(sa.String(16), default="idle")
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    state: Mapped[StrategyState | None] = relationship(
        back_populates="strategy", cascade="all, delete-orphan"
    )


class StrategyState(Base):
    """The serialized kernel state of an order strategy (grid levels, DCA cycle), one row per strategy."""

    __tablename__ = "strategy_states"
    __table_args__ = (sa.CheckConstraint(_in("encoding", ("bytes", "json")), name="encoding"),)

    strategy_id: Mapped[int] = mapped_column(
        sa.ForeignKey("strategies.id", ondelete="CASCADE"), primary_key=True
    )
    encoding: Mapped[str] = mapped_column(sa.String(8))
    payload: Mapped[bytes] = mapped_column(sa.LargeBinary)
    version: Mapped[int] = mapped_column(default=1)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    strategy: Mapped[Strategy] = relationship(back_populates="state")


class Signal(Base):
    """A decision of a signal strategy at a bar's close (recorded once per bar and kind)."""

    __tablename__ = "signals"
    __table_args__ = (sa.UniqueConstraint("strategy_id", "symbol", "timeframe", "bar_time", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # no separate index on strategy_id / order_id: the unique keys below start with it
    strategy_id: Mapped[int] = mapped_column(sa.ForeignKey("strategies.id", ondelete="CASCADE"))
    symbol: Mapped[str] = mapped_column(sa.String(40))
    timeframe: Mapped[str] = mapped_column(sa.String(8))
    bar_time: Mapped[dt.datetime]
    kind: Mapped[str] = mapped_column(sa.String(32))
    price: Mapped[Decimal | None]
    stop: Mapped[Decimal | None]
    target: Mapped[Decimal | None]
    size: Mapped[float | None]
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Order(Base):
    """An exchange order. `client_order_id` is unique in the database: a retry can never double-place."""

    __tablename__ = "orders"
    __table_args__ = (
        sa.CheckConstraint(_in("side", ORDER_SIDES), name="side"),
        sa.CheckConstraint(_in("type", ORDER_TYPES), name="type"),
        sa.CheckConstraint(_in("status", ORDER_STATUSES), name="status"),
        sa.Index(None, "exchange", "exchange_order_id"),
        sa.Index(None, "strategy_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    client_order_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    exchange_order_id: Mapped[str | None] = mapped_column(sa.String(128))
    strategy_id: Mapped[int] = mapped_column(sa.ForeignKey("strategies.id", ondelete="RESTRICT"))
    exchange: Mapped[str] = mapped_column(sa.String(32))
    symbol: Mapped[str] = mapped_column(sa.String(40))
    side: Mapped[str] = mapped_column(sa.String(4))
    type: Mapped[str] = mapped_column(sa.String(16))
    amount: Mapped[Decimal]
    price: Mapped[Decimal | None]
    status: Mapped[str] = mapped_column(sa.String(16))
    filled: Mapped[Decimal]
    average_price: Mapped[Decimal | None]
    fee: Mapped[Decimal]
    fee_currency: Mapped[str | None] = mapped_column(sa.String(16))
    tag: Mapped[str | None] = mapped_column(sa.String(64))
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    fills: Mapped[list[Fill]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="Fill.id"
    )


class Fill(Base):
    """One execution of an order. `trade_id` (the exchange's) is unique per order when given."""

    __tablename__ = "fills"
    __table_args__ = (
        sa.UniqueConstraint("order_id", "trade_id"),
        sa.CheckConstraint("liquidity IS NULL OR " + _in("liquidity", LIQUIDITY), name="liquidity"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(sa.ForeignKey("orders.id", ondelete="CASCADE"))
    trade_id: Mapped[str | None] = mapped_column(sa.String(128))
    time: Mapped[dt.datetime]
    price: Mapped[Decimal]
    amount: Mapped[Decimal]
    fee: Mapped[Decimal]
    fee_currency: Mapped[str | None] = mapped_column(sa.String(16))
    liquidity: Mapped[str | None] = mapped_column(sa.String(8))

    order: Mapped[Order] = relationship(back_populates="fills")


class Position(Base):
    """The current position of a strategy in a symbol (signed quantity; negative is short)."""

    __tablename__ = "positions"
    __table_args__ = (sa.UniqueConstraint("strategy_id", "symbol"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    strategy_id: Mapped[int] = mapped_column(sa.ForeignKey("strategies.id", ondelete="CASCADE"))
    symbol: Mapped[str] = mapped_column(sa.String(40))
    quantity: Mapped[Decimal]
    average_price: Mapped[Decimal | None]
    realized_pnl: Mapped[Decimal]
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class PerformanceMetric(Base):
    """Live performance of a strategy over one period (day, week, month...)."""

    __tablename__ = "performance_metrics"
    __table_args__ = (sa.UniqueConstraint("strategy_id", "period", "period_start"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    strategy_id: Mapped[int] = mapped_column(sa.ForeignKey("strategies.id", ondelete="CASCADE"))
    period: Mapped[str] = mapped_column(sa.String(16))
    period_start: Mapped[dt.datetime]
    period_end: Mapped[dt.datetime]
    equity_start: Mapped[Decimal]
    equity_end: Mapped[Decimal]
    pnl: Mapped[Decimal]
    fees: Mapped[Decimal]
    trades: Mapped[int]
    win_rate: Mapped[float | None]
    sharpe: Mapped[float | None]
    max_drawdown: Mapped[float | None]
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class BacktestRun(Base):
    """A saved backtest: inputs, stats, the integrity verdict and what makes it reproducible."""

    __tablename__ = "backtest_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    strategy: Mapped[str] = mapped_column(sa.String(100), index=True)
    symbol: Mapped[str] = mapped_column(sa.String(40))
    timeframe: Mapped[str] = mapped_column(sa.String(8))
    start: Mapped[dt.datetime]
    end: Mapped[dt.datetime]
    params: Mapped[dict[str, Any]]
    initial_equity: Mapped[float]
    final_equity: Mapped[float]
    total_return: Mapped[float | None]
    sharpe: Mapped[float | None]
    max_drawdown: Mapped[float | None]
    n_trades: Mapped[int]
    stats: Mapped[dict[str, Any]]
    integrity_ok: Mapped[bool]
    integrity: Mapped[dict[str, Any]]
    trades: Mapped[list[Any]]
    trades_sha256: Mapped[str | None] = mapped_column(sa.String(64))
    data_hash: Mapped[str] = mapped_column(sa.String(128))
    code_version: Mapped[str] = mapped_column(sa.String(64))
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)


class OptimizationResult(Base):
    """The outcome of an optimization (a study, or one walk-forward fold of it)."""

    __tablename__ = "optimization_results"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    study: Mapped[str] = mapped_column(sa.String(200), index=True)
    strategy: Mapped[str] = mapped_column(sa.String(100))
    symbol: Mapped[str | None] = mapped_column(sa.String(40))
    timeframe: Mapped[str | None] = mapped_column(sa.String(8))
    start: Mapped[dt.datetime | None]
    end: Mapped[dt.datetime | None]
    fold: Mapped[int | None]
    n_trials: Mapped[int | None]
    objective: Mapped[float | None]
    params: Mapped[dict[str, Any]]
    stats: Mapped[dict[str, Any]]
    integrity_ok: Mapped[bool | None]
    integrity: Mapped[dict[str, Any]] = mapped_column(default=dict)
    data_hash: Mapped[str] = mapped_column(sa.String(128))
    code_version: Mapped[str] = mapped_column(sa.String(64))
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)


class LedgerFill(Base):
    """A fill in a live strategy's own books (the state machine's record: trade id, reason, decision bar), float64
    exactly as the kernel wrote it, so a replay's trades hash equals the backtest's. Exchange fills are `Fill`."""

    __tablename__ = "ledger_fills"

    strategy_id: Mapped[int] = mapped_column(sa.ForeignKey("strategies.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(primary_key=True)
    bar: Mapped[int]
    bar_time: Mapped[dt.datetime]
    trade: Mapped[int]
    side: Mapped[int] = mapped_column(sa.SmallInteger())
    price: Mapped[float]
    size: Mapped[float]
    fee: Mapped[float]
    reason: Mapped[int] = mapped_column(sa.SmallInteger())
    decided_bar: Mapped[int]


class EquityBar(Base):
    """A live strategy's cash, position and equity after each closed bar (its books, float64 exact)."""

    __tablename__ = "equity_bars"

    strategy_id: Mapped[int] = mapped_column(sa.ForeignKey("strategies.id", ondelete="CASCADE"), primary_key=True)
    bar: Mapped[int] = mapped_column(primary_key=True)
    bar_time: Mapped[dt.datetime]
    cash: Mapped[float]
    position: Mapped[float]
    equity: Mapped[float]


class PaperExchange(Base):
    """The paper exchange's whole state (balances, orders, recent fills) as one blob, versioned: it commits in its
    own transactions, as an exchange outside the runner would."""

    __tablename__ = "paper_exchanges"

    name: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    bar_time: Mapped[dt.datetime | None]
    payload: Mapped[bytes] = mapped_column(sa.LargeBinary)
    version: Mapped[int]
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class PaperOrderSent(Base):
    """Every client order id the paper exchange accepted: a second order with the same id is refused (as Binance
    does while the first is open) and counted, which is how the restart tests count duplicate sends."""

    __tablename__ = "paper_orders_sent"

    exchange: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    client_order_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class LiveCommand(Base):
    """A command for a running live runner (pause, resume, stop, switch...), queued by the CLI or the bot and done
    by the runner at its next tick: the control channel between processes (docs/live.md)."""

    __tablename__ = "live_commands"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    instance: Mapped[str | None] = mapped_column(sa.String(100))
    command: Mapped[str] = mapped_column(sa.String(32))
    args: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(sa.String(16), index=True, default="queued")
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)
    done_at: Mapped[dt.datetime | None]


#: Tables in dependency order (parents first): what backup checksums and test cleanups iterate over.
TABLES: tuple[sa.Table, ...] = tuple(Base.metadata.sorted_tables)
