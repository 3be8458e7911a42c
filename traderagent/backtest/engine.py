"""Backtest engine for signal strategies: validate, fill (one numba kernel), book with vectorbt, check, measure.

`run_signals` is the public entry point. Fills come from the signal position machine of the contract layer
(`core.signal_nb`: the one intrabar rule, the risk guard); this module validates inputs, runs the machine
(`simulate_signals`), hands the resulting fills to vectorbt as an independent ledger
(`ledger.book_with_vectorbt`), runs the integrity gates (always) and computes the statistics.
The ledger calls vectorbt's Rust order simulator directly (`vbt.py`): a backtest never imports the vectorbt
package (seconds to import).
"""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd

from traderagent.backtest.ledger import book_and_measure
from traderagent.backtest.result import BacktestResult
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
    events = block_events(run["blocks"], index)
    done = book_and_measure(index, (o, h, lo, c), fills, fsb, cash, pos, equity, init, tf, costs, risk, events,
                            leverage=float(leverage), timings=timings)
    settings = {
        "initial_equity": init, "default_risk": float(default_risk), "leverage": float(leverage),
        "allow_short": bool(allow_short), "risk": None if risk is None else risk.model_dump(mode="json"),
        "vectorbt_credit": done["credit"],
    }
    return BacktestResult(
        index=index, timeframe=tf, initial_equity=init, equity=equity, cash=cash, position=pos, fills=fills,
        fill_signal_bar=fsb, trades=done["trades"], stats=done["stats"], integrity=done["integrity"], costs=costs,
        settings=settings, timings=timings, portfolio=done["portfolio"], risk_events=events,
    )
