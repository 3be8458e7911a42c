"""HTTP fault switches of the emulator: each one applies to the next N matching requests and is counted.

  status  answer HTTP 418 / 429 (Binance's -1003 bodies, Retry-After) or a 5xx (a gateway's HTML page)
  delay   sleep before handling the request (a slow exchange; the request is still handled afterwards)
  reject  answer an order POST with a Binance error (-2010, -1013, -1001, ...) without placing it
  lose    place the order, then hold the response until the emulator stops (the client times out)
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from emulators.binance import RawBody

from .errors import MESSAGES, ApiError

ORDER_PATH = "/api/v3/order"


@dataclass
class HttpFault:
    kind: str
    path: str | None  # None: any path
    method: str | None  # None: any method
    times: int
    status: int = 0
    seconds: float = 0.0
    error: ApiError | None = None


class Faults:
    def __init__(self) -> None:
        self.pending: list[HttpFault] = []
        self.counts: Counter = Counter()

    def add(self, fault: HttpFault) -> None:
        if fault.times < 1:
            raise ValueError(f"times must be at least 1, got {fault.times}")
        self.pending.append(fault)

    def take(self, kinds: tuple[str, ...], method: str, path: str) -> HttpFault | None:
        """The first pending fault of one of `kinds` for this request (consumed once), counted by its name."""
        for fault in self.pending:
            if fault.kind in kinds and fault.path in (None, path) and fault.method in (None, method):
                fault.times -= 1
                if fault.times == 0:
                    self.pending.remove(fault)
                self.counts[self.name(fault)] += 1
                return fault
        return None

    @staticmethod
    def name(fault: HttpFault) -> str:
        if fault.kind == "status":
            return f"http_{fault.status}"
        if fault.kind == "reject":
            return f"reject_{fault.error.code}" if fault.error else "reject"
        return fault.kind


def status_answer(status: int, now_ms: int, retry_after: int) -> ApiError | RawBody:
    """What Binance (418/429) or its gateway (5xx) answers for `status`."""
    headers = {"Retry-After": str(retry_after)}
    if status == 418:
        until = now_ms + retry_after * 1000
        msg = (f"Way too much request weight used; IP banned until {until}. "
               "Please use WebSocket Streams for live updates to avoid bans.")  # fmt: skip
        return ApiError(-1003, msg, 418, headers)
    if status == 429:
        return ApiError(-1003, MESSAGES[-1003], 429, headers)
    return RawBody(f"<html><body><h1>{status} Service Unavailable</h1></body></html>", "text/html")
