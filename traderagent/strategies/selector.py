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
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, field_validator

from traderagent.config.models import Section
from traderagent.config.units import fail
from traderagent.strategies.base import Signals
from traderagent.strategies.regime import RegimeConfig, RegimeName
from traderagent.strategies.regime_nb import REGIME_NAMES

DEFAULT_ROUTES: dict[str, str] = {"sideways": "grid", "uptrend": "trend_follower", "downtrend": "dca",
                                  "high_volatility": "smc"}


class SelectorConfig(Section):
    """Regime routing of the portfolio's strategies (see the module docstring)."""

    regime: RegimeConfig = Field(default_factory=RegimeConfig, description="the regime detector")
    routes: dict[RegimeName, str] = Field(
        default_factory=lambda: dict(DEFAULT_ROUTES),
        description="strategy in charge per regime (a regime left out: no strategy takes new positions)",
    )
    grid_exit: Literal["close", "keep", "handover"] = Field(
        "handover", description="open grid when its regimes end: sell, keep its sells and stop, or hand to DCA",
        json_schema_extra={"search": {"choices": ["close", "keep", "handover"]}},
    )
    dca_exit: Literal["keep", "close"] = Field(
        "keep", description="open DCA cycle when the downtrend ends: run to take-profit/stop, or sell",
        json_schema_extra={"search": {"choices": ["keep", "close"]}},
    )
    signal_exit: Literal["keep", "close"] = Field(
        "keep", description="open signal-strategy position when its regime ends: keep, or exit at the next open",
        json_schema_extra={"search": {"choices": ["keep", "close"]}},
    )

    @field_validator("routes")
    @classmethod
    def _strategy_names(cls, v: dict[str, str]) -> dict[str, str]:
        from traderagent.config.models import STRATEGY_MODELS

        known = set(STRATEGY_MODELS)
        bad = sorted(s for s in v.values() if s not in known)
        if bad:
            raise fail(f"unknown strategy {bad[0]!r}; routes name one of {', '.join(sorted(known))}")
        return v

    def regimes_of(self, strategy: str) -> tuple[str, ...]:
        """The regimes in which `strategy` is in charge, in code order."""
        return tuple(r for r in REGIME_NAMES if self.routes.get(r) == strategy)


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
