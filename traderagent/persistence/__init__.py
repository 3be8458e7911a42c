"""Persistence: the database of strategies, kernel state, orders, fills, positions, metrics and saved research.

SQLite (a file in the user's data directory) is the default, PostgreSQL is what production runs. Only the
live runner, the optimizer, the reports and the CLI import this package; kernels and the backtest never do.

Public API:
    Repository(url=None)                      one-transaction methods, and `.transaction()` for atomic units
    AsyncRepository(repo)                     the same methods as coroutines (worker threads), for the runner
    save_backtest_run(result, data_hash=...)  store a backtest result dict, returns N of run id bt-N
    save_optimization_result(result, data_hash=...)
    OrderRecord, FillRecord, SignalRecord, MetricRecord   records going in; the same (and StrategyRecord,
                                              PositionRecord, RunSummary) coming out
    make_engine / make_async_engine / resolve_url         engines, for tools that need one (optuna storage)
    backup(url, file) / restore(url, file)    pg_dump/pg_restore or the sqlite3 backup API
See docs/persistence.md.
"""

from traderagent.persistence.aio import AsyncRepository
from traderagent.persistence.backup import backup, restore
from traderagent.persistence.engine import EngineOptions, make_async_engine, make_engine, resolve_url
from traderagent.persistence.errors import (
    DatabaseError,
    DatabaseUnreachable,
    DatabaseURLError,
    DuplicateOrderError,
    NotFoundError,
    SchemaError,
    StaleStateError,
)
from traderagent.persistence.records import (
    FillRecord,
    MetricRecord,
    OrderRecord,
    PositionRecord,
    SignalRecord,
    StrategyRecord,
)
from traderagent.persistence.repository import Repository, Tx, save_backtest_run, save_optimization_result
from traderagent.persistence.runs import RunSummary

__all__ = [
    "AsyncRepository",
    "DatabaseError",
    "DatabaseURLError",
    "DatabaseUnreachable",
    "DuplicateOrderError",
    "EngineOptions",
    "FillRecord",
    "MetricRecord",
    "NotFoundError",
    "OrderRecord",
    "PositionRecord",
    "Repository",
    "RunSummary",
    "SchemaError",
    "SignalRecord",
    "StaleStateError",
    "StrategyRecord",
    "Tx",
    "backup",
    "make_async_engine",
    "make_engine",
    "resolve_url",
    "restore",
    "save_backtest_run",
    "save_optimization_result",
]
