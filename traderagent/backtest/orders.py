"""Order-strategy backtests (grid, DCA): run the state machine over bars, book with vectorbt, check, measure.

The simulation itself is numba (`<strategy>_nb.simulate_*_nb`): at each bar the book left by the previous
step fills by the one intrabar rule in `orders_nb` (fills fed back into the state machine one by one), then
the strategy steps at the bar's close and leaves a new book. This module only composes: the fills are booked
by vectorbt as an independent ledger (`ledger.book_with_vectorbt`, one row per fill), every shared gate of
`integrity.check_integrity` runs, plus the spot-inventory gate order strategies need, and trades (one per
grid cycle or DCA position) carry their fills.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from traderagent.backtest.engine import DEFAULT_RISK
from traderagent.backtest.ledger import book_and_measure
from traderagent.backtest.ledger import spot_inventory_gate as spot_inventory_gate  # re-exported
from traderagent.backtest.result import ISO, BacktestResult, json_safe
from traderagent.core.costs import Costs
from traderagent.core.records import REASON_NAMES
from traderagent.core.risk import block_events, day_numbers
from traderagent.data import timeframes
from traderagent.errors import UserError

SIDE_NAMES = {1: "buy", -1: "sell"}


@dataclass
class OrderBacktestResult(BacktestResult):
    """A BacktestResult whose trades also list their fills, plus the state machine's per-bar outputs."""

    outputs: pd.DataFrame = field(default_factory=pd.DataFrame)  # per bar, columns = the strategy's OUTPUT_NAMES
    state: Any = None  # the state after the last bar (GridState / DcaState)
    extra: dict = field(default_factory=dict)  # "params" (the effective params object) + report data (DCA ladders)

    def trade_fills(self) -> list[list[dict]]:
        """Per trade id, its fills: time = open time of the bar where it filled, side, price, size, fee, reason."""
        f = self.fills
        out: list[list[dict]] = [[] for _ in range(len(self.trades))]
        if not len(f):
            return out
        times = self.index[f["bar"]].tz_convert("UTC").strftime(ISO).tolist()
        cols = zip(f["trade"].tolist(), times, f["side"].tolist(), f["price"].tolist(), f["size"].tolist(),
                   f["fee"].tolist(), f["reason"].tolist(), strict=True)
        for trade, time_, side, price, size, fee, reason in cols:  # all finite: the ledger gate checked them
            out[trade].append({"time": time_, "side": SIDE_NAMES[side], "price": price, "size": size, "fee": fee,
                               "reason": REASON_NAMES[reason]})
        return out

    def trades_records(self) -> list[dict]:
        rows = super().trades_records()
        for row, fl in zip(rows, self.trade_fills(), strict=True):
            row["fills"] = fl
        return rows


def _validate(bars: pd.DataFrame, first: int, initial_equity: float):
    from traderagent.backtest.engine import bars_arrays

    arrays = bars_arrays(bars)
    if not 0 <= int(first) < len(bars) - 1:
        raise UserError(f"backtest: trading start bar {first} leaves no bars to trade (of {len(bars)})")
    if not (np.isfinite(initial_equity) and initial_equity > 0):
        raise UserError(f"backtest: initial equity must be > 0 (got {initial_equity})")
    return arrays


def run_order(
    spec: Any,
    bars: pd.DataFrame,
    params: Any,
    timeframe: str,
    costs: Costs = Costs(),  # noqa: B008 - frozen dataclass
    initial_equity: float = 10_000.0,
    first: int = 0,
    risk: Any = DEFAULT_RISK,
) -> OrderBacktestResult:
    """Backtest an order strategy (its SPEC): indicators on all `bars`, state machine and risk guard (`risk`, the
    config's risk section; the schema's defaults unless given) from bar `first`, results on bars[first:] (fills
    re-indexed), booked by vectorbt and checked by every gate."""
    m = spec.extra["machine"]
    params = m.as_params(params)
    if m.prepare is not None:
        params = m.prepare(params)
    return run_order_strategy(spec.name, bars, params, timeframe, costs, initial_equity, first, features=m.features,
                              new_state=m.new_state, simulate=m.simulate, output_names=m.output_names,
                              report_data=m.report_data, risk=risk, risk_exempt=m.risk_exempt)


def run_order_strategy(
    name: str,
    bars: pd.DataFrame,
    params: Any,
    timeframe: str,
    costs: Costs,
    initial_equity: float,
    first: int,
    *,
    features: Callable,
    new_state: Callable,
    simulate: Callable,
    output_names: tuple[str, ...],
    report_data: Callable | None = None,
    risk: Any = DEFAULT_RISK,
    risk_exempt: Callable | None = None,
) -> OrderBacktestResult:
    """Indicators on all `bars`, state machine from bar `first`, results on bars[first:] (fills re-indexed).

    `report_data(result, params, state, first) -> dict` adds plain report data to `result.extra`."""
    tf = timeframes.normalize(timeframe)
    init = float(initial_equity)
    index_all, *_ = _validate(bars, first, init)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    feats = features(bars, params)
    state = new_state(params, init)
    fills_buf, nf, out = simulate(feats, params, costs, state, start=int(first), risk=risk,
                                  days=day_numbers(index_all))
    t1 = time.perf_counter()
    timings["simulate"] = t1 - t0
    fills = fills_buf[:nf].copy()
    fills["bar"] -= first
    out = out[first:]
    index = index_all[first:]
    o, h, lo, c = (np.ascontiguousarray(a[first:]) for a in feats[:4])
    cash, pos, equity = out[:, 0].copy(), out[:, 1].copy(), out[:, 2].copy()
    fsb = fills["bar"] - 1  # every fill comes from the book the previous bar's close left
    events = block_events(state.guard.blocks(), index, first)
    exempt = risk_exempt(out, fills, index) if risk_exempt is not None else None
    done = book_and_measure(index, (o, h, lo, c), fills, fsb, cash, pos, equity, init, tf, costs, risk, events,
                            exempt=exempt, spot=True, timings=timings)
    outputs = pd.DataFrame(out, index=index, columns=list(output_names))
    settings = {"initial_equity": init, "first_bar": int(first), "strategy": name,
                "risk": None if risk is None else risk.model_dump(mode="json"),
                "params": json_safe(params)}  # the effective params (preset + config + overrides), as in a config file
    result = OrderBacktestResult(
        index=index, timeframe=tf, initial_equity=init, equity=equity, cash=cash, position=pos, fills=fills,
        fill_signal_bar=fsb, trades=done["trades"], stats=done["stats"], integrity=done["integrity"], costs=costs,
        settings=settings, timings=timings, portfolio=done["portfolio"], outputs=outputs, state=state,
        risk_events=events,
    )
    result.extra = {"params": params}
    if report_data is not None:
        result.extra.update(report_data(result, params, state, first))
    return result
