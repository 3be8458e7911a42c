"""The signal position machine's Python side: its state (save, restore, compare) and params.

The machine itself is `traderagent.core.signal_nb`; the vectorized engine (`traderagent.backtest.engine`) and the
live stepper drive it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from traderagent.core import signal_nb as snb
from traderagent.core.orders_nb import book_arrays
from traderagent.core.state import BookState, Guard, load_npz, savez


def signal_params(costs, default_risk: float = 0.02, leverage: float = 1.0, allow_short: bool = False) -> np.ndarray:
    """The numba params record (1-element SIG_PARAMS_DTYPE array)."""
    r = np.zeros(1, dtype=snb.SIG_PARAMS_DTYPE)
    r[0]["fees"] = float(costs.fees)
    r[0]["slippage"] = float(costs.slippage)
    r[0]["default_risk"] = float(default_risk)
    r[0]["leverage"] = float(leverage)
    r[0]["allow_short"] = int(bool(allow_short))
    return r


@dataclass(eq=False)
class SignalState(BookState):
    """A signal strategy's position, its pending decision, the desired book and the risk guard's arrays."""

    hdr: np.ndarray  # SIG_STATE_DTYPE, shape (1,)
    book: np.ndarray
    summary: np.ndarray
    guard: Guard

    @classmethod
    def new(cls, cash: float) -> SignalState:
        hdr = np.zeros(1, dtype=snb.SIG_STATE_DTYPE)
        snb.sig_new_state_nb(hdr[0], float(cash))
        book, summary = book_arrays(snb.BOOK_CAPACITY)
        return cls(hdr, book, summary, Guard.new(snb.BOOK_CAPACITY))

    def arrays(self) -> tuple[np.ndarray, ...]:
        return (self.hdr, self.book, self.summary, *self.guard.arrays())

    def to_bytes(self) -> bytes:
        return savez(hdr=self.hdr, book=self.book, summary=self.summary,
                     guard=np.frombuffer(self.guard.to_bytes(), np.uint8))

    @classmethod
    def from_bytes(cls, data: bytes) -> SignalState:
        z = load_npz(data)
        return cls(z["hdr"], z["book"], z["summary"], Guard.from_bytes(z["guard"].tobytes()))
