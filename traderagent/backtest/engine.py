"""Backtest engine for signal strategies: validate, fill (one numba kernel), book with vectorbt, check, measure.

`run_signals` is the public entry point. Fills come from the signal position machine of the contract layer
(`core.signal_nb`: the one intrabar rule, the risk guard); this module validates inputs, runs the machine
(`simulate_signals`), hands the resulting fills to vectorbt as an independent ledger
(`book_with_vectorbt`), runs the integrity gates (always) and computes the statistics.
vectorbt is imported lazily (it takes several seconds to import).
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import pandas as pd

from traderagent.backtest import nb
from traderagent.backtest.integrity import check_integrity
from traderagent.backtest.metrics import compute_stats
from traderagent.backtest.result import BacktestResult, trades_frame
from traderagent.config.models import RiskConfig
from traderagent.core.costs import Costs
from traderagent.core.orders_nb import empty_fills
from traderagent.core.position import SignalState, signal_params
from traderagent.core.risk import block_events, day_numbers, risk_params
from traderagent.core.signal_nb import simulate_signal_machine_nb
from traderagent.core.signals import Signals
from traderagent.data import timeframes
from traderagent.errors import ConfigError, DataError, UserError

_PRICE_COLUMNS = ("open", "high", "low", "close")
#: The risk guard of a run that names none: the schema's defaults (every run has one).
DEFAULT_RISK = RiskConfig()


def bars_arrays(bars: pd.DataFrame) -> tuple[pd.DatetimeIndex, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Validated (index, open, high, low, close) of OHLC candles indexed by UTC open time."""
    if not isinstance(bars, pd.DataFrame):
        raise DataError(f"backtest: bars must be a DataFrame of candles (got {type(bars).__name__})")
    missing = [c for c in _PRICE_COLUMNS if c not in bars.columns]
    if missing:
        raise DataError(f"backtest: bars lack column(s) {', '.join(missing)}; need open, high, low, close")
    idx = bars.index
    if not isinstance(idx, pd.DatetimeIndex) or idx.tz is None:
        raise DataError("backtest: bars must be indexed by their UTC open time (a tz-aware DatetimeIndex)")
    if len(bars) < 2:
        raise DataError(f"backtest: need at least 2 bars, got {len(bars)}")
    if not idx.is_monotonic_increasing or not idx.is_unique:
        bad = int(np.argmax(~(np.diff(idx.asi8) > 0))) + 1
        raise DataError(f"backtest: bar times must be strictly increasing; row {bad} ({idx[bad]}) is not")
    o, h, lo, c = (bars[col].to_numpy(dtype=np.float64) for col in _PRICE_COLUMNS)
    ok = np.isfinite(o) & np.isfinite(h) & np.isfinite(lo) & np.isfinite(c) & (lo > 0)
    ok &= (lo <= np.minimum(o, c)) & (h >= np.maximum(o, c))
    if not ok.all():
        i = int(np.argmax(~ok))
        raise DataError(
            f"backtest: bar {i} ({idx[i]}) is not a valid candle (open {o[i]}, high {h[i]}, low {lo[i]}, "
            f"close {c[i]}): prices must be finite, > 0 and low <= open, close <= high; fix or drop the row"
        )
    return idx, o, h, lo, c


def _signal_arrays(signals: Signals, n: int) -> tuple[np.ndarray, ...]:
    """The 7 Signals arrays as contiguous bool (entries/exits) and float (stop/target/risk) arrays of length n."""
    if not isinstance(signals, tuple) or len(signals) != len(Signals._fields):
        raise UserError("backtest: signals must be a traderagent.core.signals.Signals")
    out = []
    for name, arr in zip(Signals._fields, signals, strict=True):
        a = np.asarray(arr)
        if a.shape != (n,):
            raise UserError(f"backtest: signals.{name} has shape {a.shape} for {n} bars; every array needs one value per bar")
        if name in ("stop", "target", "risk"):
            out.append(np.ascontiguousarray(a, dtype=np.float64))
        else:
            if a.dtype != np.bool_:
                raise UserError(f"backtest: signals.{name} must be a bool array (got {a.dtype})")
            out.append(np.ascontiguousarray(a))
    return tuple(out)


def _check_settings(costs, initial_equity, default_risk, risk, leverage) -> None:
    if not isinstance(costs, Costs):
        raise ConfigError(f"backtest: costs must be a Costs(fees=..., slippage=...) (got {type(costs).__name__})")

    def number(v) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

    if not (number(initial_equity) and initial_equity > 0):
        raise ConfigError(f"backtest: initial_equity={initial_equity!r} must be a positive number")
    if not (number(default_risk) and 0.0 < default_risk <= 1.0):
        raise ConfigError(f"backtest: default_risk={default_risk!r} must be a fraction of equity in (0, 1] (0.02 = 2%)")
    if not (number(leverage) and 1.0 <= leverage <= 100.0):
        raise ConfigError(f"backtest: leverage={leverage!r} must be in [1, 100] (1 = spot, no borrowing)")
    if risk is not None and not isinstance(risk, RiskConfig):
        raise ConfigError(f"backtest: risk must be a RiskConfig (the config's risk section) or None "
                          f"(got {type(risk).__name__})")


def simulate_signals(open_, high, low, close, signals, days, costs: Costs, initial_equity: float,
                     default_risk: float = 0.02, leverage: float = 1.0, allow_short: bool = False,
                     risk: RiskConfig | None = DEFAULT_RISK, state: SignalState | None = None) -> dict:
    """Run the signal position machine (`core.signal_nb`) over every bar: fills by the one intrabar rule, the
    decision at each close, the risk guard. The fast path the optimizer shares with `run_signals`.

    Returns fills, fill_signal_bar, cash, position, equity (per bar), blocks (the guard's log) and the state."""
    n = len(close)
    st = SignalState.new(float(initial_equity)) if state is None else state
    p = signal_params(costs, default_risk, leverage, allow_short)[0]
    rp = risk_params(risk, costs)[0]
    g = st.guard
    fills = empty_fills(max(16, n // 8))
    fsb = np.empty(len(fills), dtype=np.int64)
    cash, pos, eq = np.empty(n), np.empty(n), np.empty(n)
    fills, fsb, nf, g.log = simulate_signal_machine_nb(
        open_, high, low, close, *signals, days, p, st.hdr[0], st.book, st.summary[0], rp, g.risk[0], g.book,
        g.summary[0], g.log, 0, n, fills, fsb, 0, cash, pos, eq)
    return {"fills": fills[:nf].copy(), "fill_signal_bar": fsb[:nf].copy(), "cash": cash, "position": pos,
            "equity": eq, "blocks": g.blocks().copy(), "state": st}


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
    """Book the fills in a vectorbt Portfolio (from_orders) and return its per-bar equity, cash and position.

    vectorbt takes one order per row, so a bar with k > 1 fills (e.g. entry at the open, stop in the same
    bar) is booked on k consecutive rows (the bar's open time + 0..k-1 ns), in fill order; the bar's value
    is read on its last row, whose close is the bar's close. Leveraged longs spend more cash than there is
    and vectorbt caps buys at the cash: they are booked with a credit line `credit` added to vectorbt's
    initial cash (and subtracted again from its cash and value), so the books agree exactly.
    """
    from traderagent.backtest.vbt import load

    vbt = load()

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
    price = np.repeat(close, rows)
    price[frow] = fills["price"]
    fixed_fees = np.zeros(n_rows)
    fixed_fees[frow] = fills["fee"]
    cash_path = nb.replay_ledger_nb(fills, n, init_cash)[2]
    credit = max(0.0, -float(cash_path.min())) if len(fills) else 0.0
    pf = vbt.Portfolio.from_orders(
        pd.Series(np.repeat(close, rows), index=_vbt_index(index, rows)),
        size=size,
        size_type="amount",
        direction="both",
        price=price,
        fees=0.0,
        fixed_fees=fixed_fees,
        slippage=0.0,
        init_cash=init_cash + credit,
        freq=timeframes.pandas_freq(timeframe),
        max_orders=max(len(fills), 1),
    )
    return {
        "portfolio": pf,
        "last_row": last_row,
        "credit": credit,
        "equity": pf.value().to_numpy()[last_row] - credit,
        "cash": pf.cash().to_numpy()[last_row] - credit,
        "position": pf.assets().to_numpy()[last_row],
        "n_orders": int(pf.order_records.shape[0]),
    }


def run_signals(
    bars: pd.DataFrame,
    signals: Signals,
    timeframe: str,
    costs: Costs = Costs(),  # noqa: B008 - frozen dataclass, safe as a default
    initial_equity: float = 10_000.0,
    default_risk: float = 0.02,
    risk: RiskConfig | None = DEFAULT_RISK,
    leverage: float = 1.0,
    allow_short: bool = False,
) -> BacktestResult:
    """Backtest `signals` on `bars` (OHLC, UTC open-time index): fill, book, check integrity, measure.

    Decisions at bar t's close fill at bar t+1's open (+ slippage); stops/targets fill intrabar. Entries are sized to
    lose `signals.risk` (else `default_risk`) of equity at the stop; the risk guard (`risk`, the config's risk
    section; the schema's defaults unless given) caps it at max_loss_per_trade, min(max_exposure, max_position) x
    equity and the cash (x `leverage`), and blocks entries after the daily loss limit. Shorts only with
    `allow_short`. Raises UserError on bad input and IntegrityError if a gate fails.
    """
    tf = timeframes.normalize(timeframe)
    _check_settings(costs, initial_equity, default_risk, risk, leverage)
    index, o, h, lo, c = bars_arrays(bars)
    sig = _signal_arrays(signals, len(index))
    init = float(initial_equity)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    run = simulate_signals(o, h, lo, c, sig, day_numbers(index), costs, init, float(default_risk), float(leverage),
                           bool(allow_short), risk)
    fills, fsb, cash, pos, equity = (run[k] for k in ("fills", "fill_signal_bar", "cash", "position", "equity"))
    t1 = time.perf_counter()
    timings["simulate"] = t1 - t0
    from traderagent.backtest.vbt import load

    load()  # timed on its own: the first import takes seconds

    t2 = time.perf_counter()
    timings["vectorbt_import"] = t2 - t1
    book = book_with_vectorbt(index, c, fills, init, tf)
    t3 = time.perf_counter()
    timings["vectorbt_book"] = t3 - t2
    events = block_events(run["blocks"], index)
    report = check_integrity(
        open_=o, high=h, low=lo, close=c, fills=fills, fill_signal_bar=fsb, equity=equity, cash=cash,
        position=pos, init_cash=init, reference_equity=book["equity"], timeframe=tf, leverage=float(leverage),
        index=index, raise_on_fail=True, risk=risk, costs=costs, risk_events=events,
    )
    t4 = time.perf_counter()
    timings["integrity"] = t4 - t3
    tcols = nb.trades_from_fills_nb(fills, c[-1], len(c) - 1)
    trades = trades_frame(index, tcols)
    stats = compute_stats(equity, init, tf, tcols[6], pos, fills["bar"])
    timings["trades_and_stats"] = time.perf_counter() - t4
    settings = {
        "initial_equity": init, "default_risk": float(default_risk), "leverage": float(leverage),
        "allow_short": bool(allow_short), "risk": None if risk is None else risk.model_dump(mode="json"),
        "vectorbt_credit": book["credit"],
    }
    return BacktestResult(
        index=index, timeframe=tf, initial_equity=init, equity=equity, cash=cash, position=pos, fills=fills,
        fill_signal_bar=fsb, trades=trades, stats=stats, integrity=report, costs=costs, settings=settings,
        timings=timings, portfolio=book["portfolio"], risk_events=events,
    )
