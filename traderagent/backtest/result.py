"""The result of one backtest and its JSON form.

Trades table: one row per trade with entry_time / exit_time (open times of the bars where the first
entry and the last exit filled), side ("long"/"short"), entry_price / exit_price (size-weighted
averages of the entry and exit fills), size (units entered), pnl (net of both legs' fees), fees and
exit_reason ("signal", "stop", "target", ..., or "end"). A trade still open after the last bar is
marked to the last close: exit_time is the last bar's open time, exit_price its close, exit_reason
"end", and its pnl is the unrealized P&L minus the fees paid so far, so the trades' pnl always sums to
final minus initial equity (the ledger gate checks exactly that).

JSON: fractions (not percents), times as ISO-8601 UTC ("2024-01-01T00:15:00Z"), NaN and +-inf as null.
`trades_sha256` is the SHA-256 of the trades list serialized canonically: `json.dumps(trades,
sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)` encoded as UTF-8, with floats
in Python's shortest round-trip repr (the same list that the JSON carries).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from traderagent.backtest.metrics import JSON_STATS
from traderagent.core.costs import Costs
from traderagent.core.records import REASON_NAMES
from traderagent.core.risk import block_counts

TRADE_COLUMNS = ("entry_time", "exit_time", "side", "entry_price", "exit_price", "size", "pnl", "fees", "exit_reason")
ISO = "%Y-%m-%dT%H:%M:%SZ"


def json_safe(value: Any) -> Any:
    """Plain JSON types: numpy scalars to Python, NaN/inf to None, timestamps to ISO-8601 UTC."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if hasattr(value, "model_dump"):  # a pydantic params model
        return json_safe(value.model_dump(mode="json"))
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return [json_safe(v) for v in value.tolist()]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return v if math.isfinite(v) else None
    if isinstance(value, pd.Timestamp):
        return iso_utc(value)
    return value


def iso_utc(ts: Any) -> str:
    """ISO-8601 UTC text of a timestamp ('2024-01-01T00:15:00Z')."""
    t = pd.Timestamp(ts)
    t = t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")
    return t.strftime(ISO)


def canonical_sha256(trades: list[dict]) -> str:
    """SHA-256 of the canonical serialization of a JSON-safe trades list (see the module docstring)."""
    text = json.dumps(trades, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def trades_frame(index: pd.DatetimeIndex, columns: tuple) -> pd.DataFrame:
    """Build the trades table from `nb.trades_from_fills_nb`'s arrays."""
    entry_bar, exit_bar, direction, entry_px, exit_px, size, pnl, fees, reason = columns
    return pd.DataFrame(
        {
            "entry_time": index[entry_bar],
            "exit_time": index[exit_bar],
            "side": np.where(direction > 0, "long", "short"),
            "entry_price": entry_px,
            "exit_price": exit_px,
            "size": size,
            "pnl": pnl,
            "fees": fees,
            "exit_reason": [REASON_NAMES[int(r)] for r in reason],
        },
        columns=list(TRADE_COLUMNS),
    )


@dataclass
class BacktestResult:
    """Everything one backtest produced. Arrays are per bar of `index` (after that bar's fills)."""

    index: pd.DatetimeIndex
    timeframe: str
    initial_equity: float
    equity: np.ndarray
    cash: np.ndarray
    position: np.ndarray
    fills: np.ndarray  # FILL_DTYPE, sorted by bar
    fill_signal_bar: np.ndarray  # bar whose close decided each fill
    trades: pd.DataFrame
    stats: dict
    integrity: dict
    costs: Costs = field(default_factory=Costs)
    settings: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    portfolio: Any = field(default=None, repr=False)  # the vectorbt Portfolio that booked the fills
    risk_events: list = field(default_factory=list)  # the risk guard's blocks (core.risk.block_events)

    @property
    def final_equity(self) -> float:
        return float(self.equity[-1])

    def equity_series(self) -> pd.Series:
        return pd.Series(self.equity, index=self.index, name="equity")

    def trades_records(self) -> list[dict]:
        """The trades table as JSON-safe dicts (times ISO-8601 UTC, NaN as null)."""
        t = self.trades
        entry = [iso_utc(x) for x in t["entry_time"]]
        exit_ = [iso_utc(x) for x in t["exit_time"]]
        out = []
        for i, row in enumerate(t.itertuples(index=False)):
            out.append(
                json_safe(
                    {
                        "entry_time": entry[i],
                        "exit_time": exit_[i],
                        "side": row.side,
                        "entry_price": row.entry_price,
                        "exit_price": row.exit_price,
                        "size": row.size,
                        "pnl": row.pnl,
                        "fees": row.fees,
                        "exit_reason": row.exit_reason,
                    }
                )
            )
        return out

    @property
    def trades_sha256(self) -> str:
        return canonical_sha256(self.trades_records())

    def to_json_dict(self, strategy: str, symbol: str, timeframe: str, params: Any) -> dict:
        """The canonical JSON document of this run (keys and units in the module docstring)."""
        trades = self.trades_records()
        return {
            "strategy": strategy,
            "symbol": symbol,
            "timeframe": timeframe,
            "start": iso_utc(self.index[0]),
            "end": iso_utc(self.index[-1]),
            "params": json_safe(params),
            "initial_equity": json_safe(self.initial_equity),
            "final_equity": json_safe(self.final_equity),
            "stats": {k: json_safe(self.stats.get(k)) for k in JSON_STATS},
            "integrity": json_safe(
                {"ok": self.integrity["ok"], "checks": self.integrity["checks"], "flags": self.integrity["flags"]}
            ),
            "risk_blocks": block_counts(self.risk_events),
            "risk_events": self.risk_events,
            "trades": trades,
            "trades_sha256": canonical_sha256(trades),
        }
