"""Async access for the live runner: the repository's methods as coroutines.

Each call runs the sync repository in a worker thread (`asyncio.to_thread`), so the event loop never waits
on the database. It needs no extra packages and behaves identically on SQLite and PostgreSQL, because it is
the same code path the sync tests cover. (`engine.make_async_engine` gives a native SQLAlchemy AsyncEngine
too, but that needs the `greenlet` package, plus `aiosqlite` for SQLite.)

    repo = AsyncRepository(Repository(url))
    await repo.record_order(order)
    await repo.run(lambda tx: (tx.save_strategy_state(name, state), tx.record_order(order)))  # one transaction
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from traderagent.persistence.repository import Repository, Tx

T = TypeVar("T")

#: Repository methods available as coroutines.
ASYNC_METHODS = frozenset(
    {
        "upsert_strategy", "get_strategy", "list_strategies", "set_strategy_status",
        "save_strategy_state", "load_strategy_state", "load_strategy_state_versioned",
        "record_signal", "list_signals", "insert_order", "record_order", "record_orders", "get_order",
        "list_orders", "set_position", "list_positions", "record_metric", "list_metrics",
        "save_backtest_run", "save_optimization_result", "list_runs", "get_run", "table_counts", "ensure_ready",
    }
)  # fmt: skip


class AsyncRepository:
    """`await repo.<method>(...)` for every method in ASYNC_METHODS; `await repo.run(fn)` for one transaction."""

    def __init__(self, repo: Repository):
        self.repo = repo

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name not in ASYNC_METHODS:
            raise AttributeError(f"AsyncRepository has no method {name!r}")
        method = getattr(self.repo, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            return await asyncio.to_thread(method, *args, **kwargs)

        call.__name__ = name
        call.__doc__ = method.__doc__
        return call

    async def run(self, work: Callable[[Tx], T]) -> T:
        """Run `work(tx)` inside one transaction in a worker thread; all its writes commit together."""

        def in_transaction() -> T:
            with self.repo.transaction() as tx:
                return work(tx)

        return await asyncio.to_thread(in_transaction)

    async def close(self) -> None:
        await asyncio.to_thread(self.repo.close)

    async def __aenter__(self) -> AsyncRepository:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
