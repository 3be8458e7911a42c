"""What every strategy's state has in common: plain numpy arrays, a desired book, the risk guard's arrays, a bytes
round trip (npz, no pickle) and equality by value."""

from __future__ import annotations

import ast
import functools
import json
from dataclasses import dataclass

import numpy as np
from numpy.lib import format as fmt

from traderagent.core.orders_nb import book_arrays, same_arrays
from traderagent.core.risk_nb import BLOCK_DTYPE, RISK_STATE_DTYPE, new_risk_state_nb


def savez(**arrays: np.ndarray) -> bytes:
    """Arrays to bytes, no pickle: a JSON header (name, dtype descr, shape, offset, length) and the raw buffers.
    The state's portable form, for the database or another process; ~15 us where np.savez takes ~100."""
    head, parts, off = [], [], 0
    for name, a in arrays.items():
        a = np.ascontiguousarray(a)
        raw = a.tobytes()
        head.append([name, _descr(a.dtype), list(a.shape), off, len(raw)])
        parts.append(raw)
        off += len(raw)
    h = json.dumps(head).encode()
    return MAGIC + len(h).to_bytes(4, "little") + h + b"".join(parts)


def load_npz(data: bytes) -> dict[str, np.ndarray]:
    """`savez`'s arrays back (copies, writable)."""
    if not data.startswith(MAGIC):
        raise ValueError("not a TraderAgent state (bad header)")
    n = int.from_bytes(data[len(MAGIC): len(MAGIC) + 4], "little")
    head = json.loads(data[len(MAGIC) + 4: len(MAGIC) + 4 + n])
    body = memoryview(data)[len(MAGIC) + 4 + n:]
    return {name: np.frombuffer(body[o: o + ln], dtype=_dtype(d)).reshape(shape).copy()
            for name, d, shape, o, ln in head}


@functools.lru_cache(maxsize=256)
def _descr(dtype: np.dtype) -> str:
    return repr(fmt.dtype_to_descr(dtype))


@functools.lru_cache(maxsize=256)
def _dtype(descr: str) -> np.dtype:
    return fmt.descr_to_dtype(ast.literal_eval(descr))


MAGIC = b"TAS1"


def grow(rows: np.ndarray, minimum: int = 64) -> np.ndarray:
    """A buffer holding `rows` with room to append (for logs the kernels extend)."""
    buf = np.empty(max(minimum, 2 * len(rows)), dtype=rows.dtype)
    buf[: len(rows)] = rows
    return buf


@dataclass(eq=False)
class Guard:
    """The risk guard's part of a strategy state: its state record, the guarded book (what is actually resting or
    sent: the desired book after the guard) and the log of what it refused (`traderagent.core.risk_nb`)."""

    risk: np.ndarray  # RISK_STATE_DTYPE, shape (1,)
    book: np.ndarray  # INTENT_DTYPE
    summary: np.ndarray  # BOOK_SUMMARY_DTYPE, shape (1,)
    log: np.ndarray  # BLOCK_DTYPE buffer; rows used: risk[0]["n_log"]

    @classmethod
    def new(cls, capacity: int) -> Guard:
        risk = np.zeros(1, dtype=RISK_STATE_DTYPE)
        new_risk_state_nb(risk[0])
        book, summary = book_arrays(capacity + 1)  # + the guard's own flatten order
        return cls(risk, book, summary, np.empty(64, dtype=BLOCK_DTYPE))

    def args(self) -> tuple:
        """(risk state record, guarded book, its summary record, log): what the kernels take."""
        return self.risk[0], self.book, self.summary[0], self.log

    def orders(self) -> np.ndarray:
        """The guarded book after the last step (INTENT_DTYPE rows)."""
        return self.book[: int(self.summary[0]["n"])].copy()

    def blocks(self) -> np.ndarray:
        """Every refusal and resize so far (BLOCK_DTYPE rows)."""
        return self.log[: int(self.risk[0]["n_log"])]

    def arrays(self) -> tuple[np.ndarray, ...]:
        return self.risk, self.book, self.summary, self.blocks()

    def to_bytes(self) -> bytes:
        return savez(risk=self.risk, book=self.book, summary=self.summary, log=self.blocks())

    @classmethod
    def from_bytes(cls, data: bytes) -> Guard:
        z = load_npz(data)
        return cls(z["risk"], z["book"], z["summary"], grow(z["log"]))


class BookState:
    """Mixin for strategy states (dataclasses declared with `eq=False`).

    Subclasses provide `arrays()` (every array that makes up the state, in a fixed order), the fields `book` /
    `summary` written by the kernel's step (the desired orders and their count) and `guard` (a `Guard`).
    """

    savez = staticmethod(savez)

    def arrays(self) -> tuple[np.ndarray, ...]:
        raise NotImplementedError

    def intents(self) -> np.ndarray:
        """The desired book after the last step (INTENT_DTYPE rows), before the risk guard."""
        return self.book[: int(self.summary[0]["n"])].copy()

    def orders(self) -> np.ndarray:
        """The book after the risk guard: what rests on (or is sent to) the exchange."""
        return self.guard.orders()

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(same_arrays(a, b) for a, b in zip(self.arrays(), other.arrays(), strict=True))
