"""Strategy selector: which strategy is in charge in which market regime, and what happens at a switch.

Routes (default, as in the plan): sideways -> grid, downtrend -> dca, uptrend -> trend_follower,
high_volatility -> smc. One regime per bar (overlapping conditions are settled by the regime's `priority`), so
at most one strategy per pair takes new positions on any bar.

Transitions, explicit and configurable:
  grid_exit   what an open grid does when its regimes end (a downtrend):  "close" (sell the inventory at the
              next open, fees and slippage paid), "keep" (withdraw the buy levels; held units keep their sells
              and the grid stop), "handover" (the inventory becomes a DCA cycle that averages down and takes
              profit from the inherited average; only when the DCA takes over, else "keep")
  dca_exit    what an open DCA cycle does when the downtrend ends: "keep" (run to its take-profit or stop, no new
              cycle) or "close" (sell at the next open)
  signal_exit what an open Trend-Follower / SMC position does when its regime ends: "keep" (its own stop, target
              and exit signal manage it) or "close" (an exit signal at the first bar outside the regime, filled
              at the next open)
Grid and DCA transitions run inside the order-strategy kernel (`hybrid_nb`); signal transitions are applied to
the strategy's Signals here (`gate_signals`). Every switch sale is an ordinary fill, so its costs are paid.
The params model `SelectorConfig` is the config's `orchestrator.selector` (`traderagent.config.models`).
"""

from __future__ import annotations

import numpy as np

# the params model is the config's orchestrator.selector, re-exported here
from traderagent.config.models import DEFAULT_ROUTES as DEFAULT_ROUTES
from traderagent.config.models import RegimeConfig as RegimeConfig
from traderagent.config.models import RegimeName as RegimeName
from traderagent.config.models import SelectorConfig as SelectorConfig
from traderagent.core.signals import Signals
from traderagent.strategies.regime_nb import REGIME_NAMES


def regime_mask(regimes: tuple[str, ...] | list[str]) -> int:
    """Bit mask of regime names (bit r for code r), as the kernels take it."""
    m = 0
    for r in regimes:
        m |= 1 << REGIME_NAMES.index(r)
    return m


def active_mask(codes: np.ndarray, regimes: tuple[str, ...] | list[str]) -> np.ndarray:
    """Per bar: whether the regime at the bar's close is one of `regimes` (unknown is never active)."""
    c = np.asarray(codes, dtype=np.int64)
    m = regime_mask(regimes)
    return (c >= 0) & (((m >> np.clip(c, 0, 62)) & 1) == 1)


def gate_signals(sig: Signals, active: np.ndarray, signal_exit: str = "keep") -> Signals:
    """A signal strategy routed by regime: entries only on active bars; with "close", an exit (long and short)
    on the first bar after each active spell. Stops/targets/risk of kept entries are unchanged."""
    active = np.asarray(active, dtype=np.bool_)
    if active.shape != sig.entry_long.shape:
        raise ValueError(f"active mask has shape {active.shape} for {sig.entry_long.shape[0]} bars")
    entry_long = sig.entry_long & active
    entry_short = sig.entry_short & active
    exit_long, exit_short = sig.exit_long.copy(), sig.exit_short.copy()
    if signal_exit == "close":
        ended = np.r_[False, active[:-1] & ~active[1:]]
        exit_long |= ended
        exit_short |= ended
    elif signal_exit != "keep":
        raise ValueError(f"signal_exit must be 'keep' or 'close' (got {signal_exit!r})")
    return Signals(entry_long, exit_long, entry_short, exit_short, sig.stop, sig.target, sig.risk)
