"""Record layouts shared by every engine (signal and order strategies), the integrity gates and reports.

Numba-visible enums are NamedTuples of ints with a singleton instance; records are structured dtypes.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class SideT(NamedTuple):
    buy: int = 1
    sell: int = -1


Side = SideT()


class ReasonT(NamedTuple):
    signal: int = 0  # entry or exit on a strategy signal, filled at the next bar's open
    stop: int = 1  # stop-loss touched intrabar (or gapped through at the open)
    target: int = 2  # take-profit touched intrabar
    limit: int = 3  # resting limit order (grid level, safety order) touched intrabar
    market: int = 4  # market order of an order strategy, filled at the next bar's open
    end: int = 5  # still open at the end of the data (marked to the last close, not filled)
    risk: int = 6  # closed by a strategy's own stop rule (DCA emergency or cycle-drawdown stop, grid stop)
    switch: int = 7  # closed or handed over by a regime switch
    flatten: int = 8  # closed by the risk guard's daily loss limit (daily_loss_action: flatten)


Reason = ReasonT()
REASON_NAMES = {v: k for k, v in Reason._asdict().items()}

#: One fill. `bar` is the row of the bar in which it filled; `trade` groups fills into a trade/cycle.
FILL_DTYPE = np.dtype(
    [
        ("trade", np.int64),
        ("bar", np.int64),
        ("side", np.int8),
        ("price", np.float64),
        ("size", np.float64),
        ("fee", np.float64),
        ("reason", np.int8),
    ],
    align=True,
)
