"""The risk guard's Python side: its numba params from the config's `risk` section, day numbers, and the log of
blocks as plain data (`risk_blocks` in every result). The rules themselves are `traderagent.core.risk_nb`."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from traderagent.core.risk_nb import ACTION_NAMES, RISK_PARAMS_DTYPE, RULE_NAMES

NS_PER_DAY = 86_400 * 1_000_000_000


def risk_params(risk: Any, costs: Any) -> np.ndarray:
    """The numba params record (1-element RISK_PARAMS_DTYPE array) of a `risk` section (RiskConfig) with the run's
    costs; `risk=None` switches the guard off (mechanics tests only: every real run has a risk section)."""
    r = np.zeros(1, dtype=RISK_PARAMS_DTYPE)
    v = r[0]
    v["fees"] = float(costs.fees)
    v["slippage"] = float(costs.slippage)
    if risk is None:
        v["enabled"] = 0
        v["max_loss"] = v["max_exposure"] = v["max_position"] = np.inf
        return r
    v["enabled"] = 1
    v["max_loss"] = float(risk.max_loss_per_trade)
    v["daily_limit"] = float(risk.daily_loss_limit)
    v["flatten"] = int(risk.daily_loss_action == "flatten")
    v["max_exposure"] = float(risk.max_exposure)
    v["max_position"] = float(risk.max_position)
    return r


def day_numbers(index: pd.DatetimeIndex) -> np.ndarray:
    """UTC day number of each bar's open time (int64): the daily loss limit's calendar."""
    return np.ascontiguousarray(index.as_unit("ns").asi8 // NS_PER_DAY, dtype=np.int64)


def block_events(blocks: np.ndarray, index: pd.DatetimeIndex, first: int = 0) -> list[dict]:
    """The guard's log as records: time (open of the bar at whose close it decided; `until` the last bar of an
    unbroken run of the same refusal, `bars` its length), rule, action, side, orders, notional refused (`amount`,
    the largest of the run; for `reached`, the day's loss as a fraction) and the first order's tag."""
    out = []
    for b in blocks:
        bar = int(b["bar"]) - first
        if bar < 0 or bar >= len(index):
            continue
        until = min(int(b["until"]) - first, len(index) - 1)
        out.append({"time": index[bar].isoformat(), "bar": bar, "until": index[until].isoformat(),
                    "bars": until - bar + 1, "rule": RULE_NAMES[int(b["rule"])],
                    "action": ACTION_NAMES[int(b["action"])], "side": int(b["side"]), "orders": int(b["n"]),
                    "amount": float(b["amount"]), "tag": int(b["tag"])})
    return out


def block_counts(events: list[dict]) -> dict[str, dict[str, int]]:
    """Per rule, the number of blocks of each action (a run of bars refusing the same orders is one block)."""
    counts: dict[str, dict[str, int]] = {}
    for e in events:
        per = counts.setdefault(e["rule"], {})
        per[e["action"]] = per.get(e["action"], 0) + 1
    return counts


def kernel_risk(risk: Any, costs: Any, days: np.ndarray | None, n: int) -> tuple[Any, np.ndarray]:
    """(params record, day numbers) for a kernel run over `n` bars: `risk` a RiskConfig or None (guard off); without
    `days` (`day_numbers` of the bars) every bar is day 0 (the daily limit then counts from the run's start)."""
    days = np.zeros(n, dtype=np.int64) if days is None else np.ascontiguousarray(days, dtype=np.int64)
    return risk_params(risk, costs)[0], days


def blocks_line(counts: dict[str, dict[str, int]]) -> str:
    """One line for people: 'none', or per rule its blocks by action ('daily_loss_limit: 3 reached, 1 refused')."""
    if not counts:
        return "none"
    return "; ".join(f"{rule}: " + ", ".join(f"{n} {action}" for action, n in per.items())
                     for rule, per in counts.items())
