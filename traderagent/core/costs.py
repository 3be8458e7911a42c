"""Trading costs applied to every fill: a proportional fee and adverse slippage, on by default.

`fees` is charged on each fill's notional (price x size, the price already including slippage), on
both legs of a trade. `slippage` moves the fill price against the trader: a buy fills at
`reference x (1 + slippage)`, a sell at `reference x (1 - slippage)`, then the price is clamped to the
bar's [low, high] (nothing prints outside the bar's range). Defaults are realistic spot values
(0.1% taker fee, 2 bps slippage); set them to 0 explicitly to study a frictionless market.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from traderagent.errors import ConfigError

#: Costs above these are almost certainly a unit mistake (percent instead of fraction).
_MAX_FEES = 0.05
_MAX_SLIPPAGE = 0.05


@dataclass(frozen=True)
class Costs:
    """Per-side proportional fee and adverse slippage, both fractions (0.001 = 0.1%)."""

    fees: float = 0.001
    slippage: float = 0.0002

    def __post_init__(self) -> None:
        for name, value, cap in (("fees", self.fees, _MAX_FEES), ("slippage", self.slippage, _MAX_SLIPPAGE)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ConfigError(f"costs: {name} must be a number (got {value!r}); e.g. {name}=0.001 for 0.1%")
            if not 0.0 <= float(value) <= cap:
                raise ConfigError(
                    f"costs: {name}={value} is outside [0, {cap}]; give a fraction per side (0.001 = 0.1%),"
                    " not a percent"
                )
            object.__setattr__(self, name, float(value))
