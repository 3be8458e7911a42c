"""From a ledger to a checked result: vectorbt books the fills as an independent ledger, every integrity gate
runs, trades and statistics are measured. The one path after the fills exist, for the signal engine, the order
engine and the live replay (which gets its fills from the runner and the paper exchange)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

from traderagent.backtest import nb
from traderagent.backtest.integrity import REL_TOL, IntegrityError, check_integrity
from traderagent.backtest.metrics import compute_stats
from traderagent.backtest.result import trades_frame
from traderagent.backtest.vbt import book_with_vectorbt as book_with_vectorbt  # re-exported
from traderagent.backtest.vbt import load_ledger


def spot_inventory_gate(fills: np.ndarray, position: np.ndarray, n: int, init_cash: float) -> tuple[bool, str]:
    """No spot inventory below zero: after every fill and at every bar's end (tolerance 1e-9 x largest size)."""
    if not len(fills):
        return True, "no fills"
    pos_fill = nb.replay_ledger_nb(fills, n, init_cash)[3]
    tol = REL_TOL * float(fills["size"].max())
    bad = pos_fill < -tol
    if bad.any():
        k = int(np.argmax(bad))
        return False, (f"fill {k} (trade {int(fills['trade'][k])}, bar {int(fills['bar'][k])}): sells "
                       f"{fills['size'][k]:.10g} leaving inventory {pos_fill[k]:.10g} < 0")
    if (position < -tol).any():
        i = int(np.argmax(position < -tol))
        return False, f"bar {i}: position {position[i]:.10g} < 0"
    return True, f"inventory >= 0 after all {len(fills)} fills (min {float(pos_fill.min()):.6g})"


def book_and_measure(index: pd.DatetimeIndex, ohlc: tuple[np.ndarray, ...], fills: np.ndarray,
                     fill_signal_bar: np.ndarray, cash: np.ndarray, position: np.ndarray, equity: np.ndarray,
                     init: float, timeframe: str, costs: Any, risk: Any, risk_events: list, *,
                     leverage: float = 1.0, exempt: dict | None = None, spot: bool = False,
                     timings: dict | None = None) -> dict[str, Any]:
    """Book `fills` with vectorbt, run every gate (`spot`: the order strategies' inventory gate too), measure.

    Returns {"portfolio", "credit", "integrity", "trades", "stats", "timings"}; raises IntegrityError when a gate
    fails."""
    timings = {} if timings is None else timings
    o, h, lo, c = ohlc
    t1 = time.perf_counter()
    load_ledger()  # timed on its own: vectorbt's Rust simulator (milliseconds; the whole package is not needed)
    t2 = time.perf_counter()
    timings["vectorbt_import"] = t2 - t1
    book = book_with_vectorbt(index, c, fills, init, timeframe)
    t3 = time.perf_counter()
    timings["vectorbt_book"] = t3 - t2
    report = check_integrity(open_=o, high=h, low=lo, close=c, fills=fills, fill_signal_bar=fill_signal_bar,
                             equity=equity, cash=cash, position=position, init_cash=init,
                             reference_equity=book["equity"], timeframe=timeframe, leverage=float(leverage),
                             index=index, raise_on_fail=True, risk=risk, costs=costs, risk_events=risk_events,
                             exempt=exempt)
    if spot:
        ok, detail = spot_inventory_gate(fills, position, len(c), init)
        report["checks"]["spot_inventory"] = {"ok": ok, "detail": detail}
        report["ok"] = bool(report["ok"] and ok)
        if not ok:
            raise IntegrityError(f"integrity gate 'spot_inventory' failed: {detail}", report)
    t4 = time.perf_counter()
    timings["integrity"] = t4 - t3
    tcols = nb.trades_from_fills_nb(fills, c[-1], len(c) - 1)
    trades = trades_frame(index, tcols)
    stats = compute_stats(equity, init, timeframe, tcols[6], position, fills["bar"])
    timings["trades_and_stats"] = time.perf_counter() - t4
    return {"portfolio": book["portfolio"], "credit": book["credit"], "integrity": report, "trades": trades,
            "stats": stats, "timings": timings}
