"""What every order strategy's state has in common: plain numpy arrays, a desired book, equality by value."""

from __future__ import annotations

import io

import numpy as np

from traderagent.core.orders_nb import same_arrays


class BookState:
    """Mixin for order-strategy states (dataclasses declared with `eq=False`).

    Subclasses provide `arrays()` (every array that makes up the state, in a fixed order) and the fields
    `book` / `summary` written by the kernel's step (the desired resting orders and their count).
    """

    def arrays(self) -> tuple[np.ndarray, ...]:
        raise NotImplementedError

    def intents(self) -> np.ndarray:
        """The desired book after the last step (INTENT_DTYPE rows)."""
        return self.book[: int(self.summary[0]["n"])].copy()

    @staticmethod
    def savez(**arrays: np.ndarray) -> bytes:
        """Arrays to bytes (npz, no pickle): the state's portable form, for the database or another process."""
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        return buf.getvalue()

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(same_arrays(a, b) for a, b in zip(self.arrays(), other.arrays(), strict=True))
