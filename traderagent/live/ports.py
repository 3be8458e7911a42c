"""What the runner needs from the world, as protocols: an exchange, a clock, a candle source and a notifier (the
store is `traderagent.persistence.live.LiveStore`). The composition (`live.app`) picks the implementations: the
paper exchange and a replayed file here, ccxt and websockets in production.

Orders travel as `OrderRequest`s built from the strategy's intents (`core.orders_nb.INTENT_DTYPE` rows): the tag,
the flags and the exact float sizes come along, so a paper exchange fills them by the backtest's rule.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import pandas as pd

KINDS = ("market", "limit", "stop", "take_profit")  # core.orders_nb.OrderKind order
SIDES = {1: "buy", -1: "sell"}
#: Order type names in the database (`persistence.models.ORDER_TYPES`) by intent kind.
DB_TYPES = {"market": "market", "limit": "limit", "stop": "stop_market", "take_profit": "take_profit"}


@dataclass(frozen=True)
class Candle:
    """A closed candle (keyed by its UTC open time, like every candle in the project)."""

    symbol: str
    timeframe: str
    time: pd.Timestamp
    open: float
    high: float
    low: float
    close: float
    volume: float


@dataclass(frozen=True)
class OrderRequest:
    """An order to place. `amount` is in base units; a market buy may give `quote` instead; None for both means
    the size is decided at the fill (a signal entry, a sell of the whole position: `sized_at_fill`). `parent`:
    the order rests only once that order filled, for the parent's filled amount (a bracket)."""

    client_id: str
    instance: str
    symbol: str
    kind: str
    side: str
    amount: float | None
    price: float | None
    tag: int
    flags: int = 0
    quote: float | None = None
    parent: str | None = None

    @property
    def sized_at_fill(self) -> bool:
        return self.amount is None and self.quote is None


@dataclass
class ExchangeOrder:
    """An order as the exchange reports it."""

    client_id: str
    symbol: str
    kind: str
    side: str
    amount: float | None
    price: float | None
    status: str  # "open", "pending" (a bracket waiting for its parent), "filled", "canceled", "rejected"
    filled: float = 0.0
    average: float | None = None
    fee: float = 0.0
    tag: int = 0
    flags: int = 0
    quote: float | None = None
    instance: str = ""
    parent: str | None = None
    exchange_id: str = ""
    reason: str = ""  # why it was rejected or canceled by the exchange


@dataclass(frozen=True)
class ExchangeFill:
    """One execution, numbered by the exchange (`seq`) so a restarted runner asks for what it has not seen."""

    seq: int
    client_id: str
    trade_id: str
    time_ns: int
    symbol: str
    side: str
    price: float
    amount: float
    fee: float
    fee_currency: str
    tag: int = 0
    instance: str = ""


class Exchange(Protocol):
    """The exchange port (`live.paper.PaperExchange`; the ccxt port implements the same)."""

    name: str

    async def load_markets(self) -> dict[str, dict]: ...

    async def create_order(self, req: OrderRequest) -> ExchangeOrder: ...

    async def cancel_order(self, client_id: str, symbol: str) -> ExchangeOrder | None: ...

    async def fetch_order(self, client_id: str, symbol: str) -> ExchangeOrder | None: ...

    async def fetch_open_orders(self, symbol: str | None = None) -> list[ExchangeOrder]: ...

    async def fetch_fills(self, since_seq: int = 0) -> list[ExchangeFill]: ...

    async def fetch_balance(self) -> dict[str, float]: ...


class Clock(Protocol):
    def now(self) -> pd.Timestamp: ...

    async def sleep_until(self, when: pd.Timestamp) -> None: ...


class CandleSource(Protocol):
    def __aiter__(self) -> AsyncIterator[Candle]: ...


@dataclass(frozen=True)
class Event:
    """Something a person may want to know: kind (entry, exit, order_error, risk_block, stage_change, stale_data,
    disconnect, state_change, alert, ...), the instance, one line of text and fields."""

    kind: str
    time: pd.Timestamp
    message: str
    instance: str = ""
    fields: dict = field(default_factory=dict)


class Notifier(Protocol):
    def emit(self, event: Event) -> None: ...


class ListNotifier:
    """Keeps events in a list (and optionally logs them): the default notifier, and what tests read."""

    def __init__(self, log: Callable[[Event], Any] | None = None, limit: int = 10_000):
        self.events: list[Event] = []
        self.log = log
        self.limit = limit

    def emit(self, event: Event) -> None:
        self.events.append(event)
        if len(self.events) > self.limit:
            del self.events[: len(self.events) - self.limit]
        if self.log is not None:
            self.log(event)
