"""Backtesting: the signal engine (`run_signals`), costs, integrity gates, metrics and results.

Importing this package is light (numba kernels, no vectorbt); vectorbt is imported inside the engine.
"""

from __future__ import annotations

from traderagent.backtest.engine import run_signals
from traderagent.backtest.integrity import IntegrityError, check_integrity
from traderagent.backtest.result import BacktestResult
from traderagent.core.costs import Costs

__all__ = ["BacktestResult", "Costs", "IntegrityError", "check_integrity", "run_signals"]
