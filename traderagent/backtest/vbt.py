"""vectorbt as the independent ledger, without paying for the whole package on every run.

Every backtest books its fills with vectorbt's order simulator and the `vectorbt_ledger` gate compares our
equity to vectorbt's on every bar. `import vectorbt` costs 1-1.5 s here (it pulls in scipy.stats, plotly,
ipywidgets and the indicator factory) while the simulator itself is vectorbt's Rust extension
(`vectorbt_rust`, the `vectorbt[rust]` extra), which imports in about a millisecond. So the ledger calls that
extension directly, with exactly the arguments `vbt.Portfolio.from_orders(...)` passes it on the Rust engine,
then vectorbt's own Rust `asset_flow -> assets`, `cash_flow -> cash`, `asset_value`, `value` functions:
the equity is vectorbt's, bit for bit (tests/unit/test_vbt_ledger.py compares it to `Portfolio.from_orders`).
The full `vbt.Portfolio` is still there for whoever wants vectorbt's analytics: `book["portfolio"]` builds it
on first use (importing vectorbt then).

`load()` imports the whole vectorbt package for the code that needs it (the sweep's reference pipeline, the
lazy Portfolio). `import vectorbt` also imports ccxt (every exchange class, ~2 s) and python-telegram-bot
when they are installed, only for `vbt.CCXTData` type hints and `vbt.TelegramBot`; both sit in
`try/except ImportError`, so `load()` hides the two packages while vectorbt loads (they import normally
afterwards).
"""

from __future__ import annotations

import sys
import threading
import types
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd

_SKIPPED = ("ccxt", "telegram", "binance")
_DIRECTION_BOTH = 2  # vectorbt.portfolio.enums.Direction.Both
_SIZE_AMOUNT = 0  # vectorbt.portfolio.enums.SizeType.Amount

#: vectorbt.portfolio.enums.order_dt and log_dt (tests/unit/test_vbt_ledger.py checks they still are).
ORDER_DT = np.dtype([("id", "<i8"), ("col", "<i8"), ("idx", "<i8"), ("size", "<f8"), ("price", "<f8"),
                     ("fees", "<f8"), ("side", "<i8")], align=True)
LOG_DT = np.dtype(
    [("id", "<i8"), ("group", "<i8"), ("col", "<i8"), ("idx", "<i8"), ("cash", "<f8"), ("position", "<f8"),
     ("debt", "<f8"), ("free_cash", "<f8"), ("val_price", "<f8"), ("value", "<f8"), ("req_size", "<f8"),
     ("req_price", "<f8"), ("req_size_type", "<i8"), ("req_direction", "<i8"), ("req_fees", "<f8"),
     ("req_fixed_fees", "<f8"), ("req_slippage", "<f8"), ("req_min_size", "<f8"), ("req_max_size", "<f8"),
     ("req_size_granularity", "<f8"), ("req_reject_prob", "<f8"), ("req_lock_cash", "?"),
     ("req_allow_partial", "?"), ("req_raise_reject", "?"), ("req_log", "?"), ("new_cash", "<f8"),
     ("new_position", "<f8"), ("new_debt", "<f8"), ("new_free_cash", "<f8"), ("new_val_price", "<f8"),
     ("new_value", "<f8"), ("res_size", "<f8"), ("res_price", "<f8"), ("res_fees", "<f8"), ("res_side", "<i8"),
     ("res_status", "<i8"), ("res_status_info", "<i8"), ("order_id", "<i8")],
    align=True,
)
_SHIM_LOCK = threading.Lock()


def load():
    """Return the vectorbt module, importing it without its ccxt/telegram integrations on first use."""
    if "vectorbt" in sys.modules:
        return sys.modules["vectorbt"]
    hidden = [name for name in _SKIPPED if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # makes `import name` raise ImportError for the duration
    try:
        import vectorbt
    finally:
        for name in hidden:
            if sys.modules.get(name, 0) is None:
                del sys.modules[name]
    return vectorbt


def load_ledger():
    """Return vectorbt's Rust portfolio module (the order simulator the ledger calls); fast to import."""
    try:
        from vectorbt_rust import portfolio
    except ImportError as exc:  # pragma: no cover - vectorbt[rust] is a hard dependency
        raise ImportError("vectorbt's Rust engine is missing: install vectorbt[rust] (see pyproject.toml)") from exc
    return portfolio


@contextmanager
def _record_dtypes():
    """Let the Rust simulator find its record dtypes without importing the whole vectorbt package.

    `simulate_from_orders_rs` imports `vectorbt.portfolio.enums` for `order_dt` and `log_dt`, which runs
    `vectorbt/__init__` (1-1.5 s). Unless vectorbt is already imported, two stand-in modules (the package
    and its enums, holding ORDER_DT and LOG_DT) sit in sys.modules for the duration of the call only.
    """
    names = ("vectorbt", "vectorbt.portfolio.enums")
    with _SHIM_LOCK:
        if any(name in sys.modules for name in names):
            yield
            return
        enums = types.ModuleType(names[1], "stand-in: vectorbt's record dtypes (traderagent.backtest.vbt)")
        enums.order_dt, enums.log_dt = ORDER_DT, LOG_DT
        shims = {names[0]: types.ModuleType(names[0], "stand-in (traderagent.backtest.vbt)"), names[1]: enums}
        sys.modules.update(shims)
        try:
            yield
        finally:
            for name, module in shims.items():
                if sys.modules.get(name) is module:
                    del sys.modules[name]


def simulate_orders(close: np.ndarray, size: np.ndarray, price: np.ndarray, fixed_fees: np.ndarray,
                    init_cash: float, max_orders: int) -> dict[str, np.ndarray]:
    """One column of orders through vectorbt's Rust simulator: order records and per-row cash, assets, value.

    The arguments are those `vbt.Portfolio.from_orders(close, size=size, size_type="amount",
    direction="both", price=price, fees=0, fixed_fees=fixed_fees, slippage=0, init_cash=init_cash)` hands
    the Rust engine for a 1-D close (flexible 1-D arrays, the default call sequence, ffill_val_price, no
    logs); the series are computed the way `Portfolio.cash()`, `.assets()` and `.value()` compute them.
    A row whose size is NaN places no order.
    """
    rs = load_ledger()
    close = np.ascontiguousarray(close, dtype=np.float64)
    n = close.shape[0]
    shape = (n, 1)

    def scalar(value, dtype=np.float64) -> np.ndarray:
        return np.asarray(value, dtype=dtype)

    cash0 = np.array([init_cash], dtype=np.float64)
    with _record_dtypes():
        records, _ = rs.simulate_from_orders_rs(
            shape, np.array([1], dtype=np.int64), cash0, np.zeros(shape, dtype=np.int64),
            np.ascontiguousarray(size, dtype=np.float64), np.ascontiguousarray(price, dtype=np.float64),
            scalar(_SIZE_AMOUNT, np.int64), scalar(_DIRECTION_BOTH, np.int64), scalar(0.0),
            np.ascontiguousarray(fixed_fees, dtype=np.float64), scalar(0.0),  # fees, fixed fees, slippage
            scalar(0.0), scalar(np.inf), scalar(np.nan), scalar(0.0),  # min/max size, granularity, reject_prob
            scalar(False, np.bool_), scalar(True, np.bool_), scalar(False, np.bool_), scalar(False, np.bool_),
            scalar(np.inf), close,  # val_price, close
            auto_call_seq=False, ffill_val_price=True, update_value=False, max_orders=max(int(max_orders), 1),
            max_logs=1, init_temp_records=False, seed=None, flex_2d=False,
        )
    col_idxs = np.arange(len(records), dtype=np.int64)  # one column: records in order
    col_lens = np.array([len(records)], dtype=np.int64)
    assets = rs.assets_rs(rs.asset_flow_rs(records, col_idxs, col_lens, shape, _DIRECTION_BOTH))
    cash = rs.cash_rs(rs.cash_flow_rs(records, col_idxs, col_lens, shape, False), cash0)
    held_close = close.reshape(shape).copy()
    held_close[assets == 0] = 0.0  # as Portfolio.asset_value does (a NaN price of an empty position counts 0)
    value = rs.value_rs(cash, rs.asset_value_rs(held_close, assets))
    return {"records": records, "cash": cash[:, 0], "assets": assets[:, 0], "value": value[:, 0]}


class LazyPortfolio:
    """The `vbt.Portfolio` of a booking, built (and vectorbt imported) on first attribute access."""

    def __init__(self, close: pd.Series, kwargs: dict[str, Any]) -> None:
        self._close = close
        self._kwargs = kwargs
        self._pf = None

    def build(self):
        """The `vbt.Portfolio.from_orders` of the same orders (same records, cash and value)."""
        if self._pf is None:
            self._pf = load().Portfolio.from_orders(self._close, **self._kwargs)
        return self._pf

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.build(), name)


def _vbt_index(index: pd.DatetimeIndex, rows: np.ndarray) -> pd.DatetimeIndex:
    """One naive-UTC timestamp per booking row: the bar's open time, plus k ns for its k-th extra fill."""
    naive = index.tz_convert("UTC").tz_localize(None)  # vectorbt turns tz-aware indexes into slow object arrays
    if (rows == 1).all():
        return naive
    first = np.cumsum(rows) - rows
    offsets = np.arange(int(rows.sum())) - np.repeat(first, rows)
    return naive.repeat(rows) + pd.to_timedelta(offsets, unit="ns")


def book_with_vectorbt(
    index: pd.DatetimeIndex, close: np.ndarray, fills: np.ndarray, init_cash: float, timeframe: str
) -> dict[str, Any]:
    """Book the fills with vectorbt's order simulator and return its per-bar equity, cash and position.

    vectorbt takes one order per row, so a bar with k > 1 fills (e.g. entry at the open, stop in the same
    bar) is booked on k consecutive rows (the bar's open time + 0..k-1 ns), in fill order; the bar's value
    is read on its last row, whose close is the bar's close. Leveraged longs spend more cash than there is
    and vectorbt caps buys at the cash: they are booked with a credit line `credit` added to vectorbt's
    initial cash (and subtracted again from its cash and value), so the books agree exactly.
    `portfolio` is the equivalent `vbt.Portfolio` (built lazily: see the module docstring).
    """
    from traderagent.backtest import nb
    from traderagent.data import timeframes

    n = len(close)
    bars = fills["bar"]
    counts = np.bincount(bars, minlength=n)
    rows = np.maximum(counts, 1)
    last_row = np.cumsum(rows) - 1
    first_row = last_row - rows + 1
    n_rows = int(last_row[-1]) + 1
    rank = np.arange(len(fills)) - np.searchsorted(bars, bars, side="left")
    frow = first_row[bars] + rank
    size = np.full(n_rows, np.nan)
    size[frow] = fills["side"] * fills["size"]
    row_close = np.repeat(np.asarray(close, dtype=np.float64), rows)
    price = row_close.copy()
    price[frow] = fills["price"]
    fixed_fees = np.zeros(n_rows)
    fixed_fees[frow] = fills["fee"]
    cash_path = nb.replay_ledger_nb(fills, n, init_cash)[2]
    credit = max(0.0, -float(cash_path.min())) if len(fills) else 0.0
    cash0 = init_cash + credit
    book = simulate_orders(row_close, size, price, fixed_fees, cash0, len(fills))
    portfolio = LazyPortfolio(
        pd.Series(row_close, index=_vbt_index(index, rows)),
        dict(size=size, size_type="amount", direction="both", price=price, fees=0.0, fixed_fees=fixed_fees,
             slippage=0.0, init_cash=cash0, freq=timeframes.pandas_freq(timeframe), max_orders=max(len(fills), 1)),
    )
    return {
        "portfolio": portfolio,
        "last_row": last_row,
        "credit": credit,
        "equity": book["value"][last_row] - credit,
        "cash": book["cash"][last_row] - credit,
        "position": book["assets"][last_row],
        "n_orders": int(book["records"].shape[0]),
    }
