"""Plain, frozen records that go in and out of the repository (no ORM objects ever leave it).

Numbers given as float, int, str or numpy scalars are converted to exact `Decimal`s (a float through its
shortest repr, so 0.1 stays 0.1); datetimes must be timezone-aware.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

from traderagent.persistence.models import (
    LIQUIDITY,
    ORDER_SIDES,
    ORDER_STATUSES,
    ORDER_TYPES,
    STRATEGY_STATUSES,
)
from traderagent.persistence.types import quantize_money

TERMINAL_STATUSES = frozenset({"filled", "canceled", "rejected", "expired"})


R = TypeVar("R")


def from_db(cls: type[R], values: dict[str, Any]) -> R:
    """Build a record from values read back from the database, skipping the input checks (they passed)."""
    obj = object.__new__(cls)
    obj.__dict__.update(values)
    return obj


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} {value!r} is not one of {', '.join(allowed)}")


def _aware(name: str, value: dt.datetime) -> None:
    if not isinstance(value, dt.datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime (UTC), got {value!r}")


def _dec(obj: object, *names: str) -> None:
    """Numbers become Decimals as the database will store them (18 decimals; too large is an error)."""
    for name in names:
        value = getattr(obj, name)
        if value is not None:
            object.__setattr__(obj, name, quantize_money(value, name))


@dataclass(frozen=True)
class FillRecord:
    """One execution. `trade_id` is the exchange's id; without it a fill is identified by time, price, amount."""

    time: dt.datetime
    price: Decimal
    amount: Decimal
    fee: Decimal = Decimal(0)
    fee_currency: str | None = None
    trade_id: str | None = None
    liquidity: str | None = None
    id: int | None = None

    def __post_init__(self) -> None:
        _aware("fill time", self.time)
        _dec(self, "price", "amount", "fee")
        if self.liquidity is not None:
            _choice("liquidity", self.liquidity, LIQUIDITY)

    def key(self) -> tuple[Any, ...]:
        """What makes two reports of a fill the same fill."""
        if self.trade_id is not None:
            return ("trade", self.trade_id)
        return (
            "fill",
            self.time.astimezone(dt.UTC),
            Decimal(self.price).normalize(),
            Decimal(self.amount).normalize(),
        )


@dataclass(frozen=True)
class OrderRecord:
    """An order as the live runner knows it; `client_order_id` identifies it for ever."""

    client_order_id: str
    strategy: str
    exchange: str
    symbol: str
    side: str
    type: str
    amount: Decimal
    price: Decimal | None = None
    status: str = "new"
    exchange_order_id: str | None = None
    filled: Decimal = Decimal(0)
    average_price: Decimal | None = None
    fee: Decimal = Decimal(0)
    fee_currency: str | None = None
    tag: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    fills: tuple[FillRecord, ...] = ()
    id: int | None = None
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None

    def __post_init__(self) -> None:
        if not self.client_order_id or len(self.client_order_id) > 64:
            raise ValueError(f"client_order_id {self.client_order_id!r} must be 1 to 64 characters")
        _choice("side", self.side, ORDER_SIDES)
        _choice("order type", self.type, ORDER_TYPES)
        _choice("order status", self.status, ORDER_STATUSES)
        _dec(self, "amount", "price", "filled", "average_price", "fee")
        if self.amount <= 0:
            raise ValueError(f"order {self.client_order_id}: amount {self.amount} must be positive")
        if self.filled < 0:
            raise ValueError(f"order {self.client_order_id}: filled {self.filled} must not be negative")
        object.__setattr__(self, "fills", tuple(self.fills))


@dataclass(frozen=True)
class StrategyRecord:
    name: str
    kind: str
    config: dict[str, Any]
    status: str
    meta: dict[str, Any]
    id: int
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass(frozen=True)
class PositionRecord:
    strategy: str
    symbol: str
    quantity: Decimal
    average_price: Decimal | None
    realized_pnl: Decimal
    updated_at: dt.datetime


@dataclass(frozen=True)
class SignalRecord:
    strategy: str
    symbol: str
    timeframe: str
    bar_time: dt.datetime
    kind: str
    price: Decimal | None = None
    stop: Decimal | None = None
    target: Decimal | None = None
    size: float | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    id: int | None = None

    def __post_init__(self) -> None:
        _aware("bar_time", self.bar_time)
        _dec(self, "price", "stop", "target")
        if self.size is not None and not math.isfinite(self.size):
            raise ValueError(f"signal size {self.size} is not finite")


@dataclass(frozen=True)
class MetricRecord:
    """Live performance of a strategy over one period (`period` e.g. day, week, month)."""

    strategy: str
    period: str
    period_start: dt.datetime
    period_end: dt.datetime
    equity_start: Decimal
    equity_end: Decimal
    pnl: Decimal
    fees: Decimal
    trades: int
    win_rate: float | None = None
    sharpe: float | None = None
    max_drawdown: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _aware("period_start", self.period_start)
        _aware("period_end", self.period_end)
        _dec(self, "equity_start", "equity_end", "pnl", "fees")


def check_status(status: str) -> None:
    _choice("strategy status", status, STRATEGY_STATUSES)
