"""A replay: historical candles through the runner and the paper exchange, as if they arrived live, as fast as the
machine goes; the result is checked and printed exactly as `traderagent backtest` prints its own.

`replay(...)` takes the same arguments as `backtest.runner.run_backtest` plus a database: the instance's state,
ledger, equity and orders go to the database bar by bar, so a replay killed at any point resumes where its last
transaction left it when the same command runs again, and ends with the same trades hash as an uninterrupted run.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from traderagent.backtest.ledger import book_and_measure
from traderagent.backtest.orders import OrderBacktestResult
from traderagent.backtest.result import BacktestResult, json_safe
from traderagent.backtest.runner import (
    _slice,
    code_version,
    file_sha256,
    params_for,
    read_base,
    to_timeframe,
)
from traderagent.core.costs import Costs
from traderagent.core.risk import block_events
from traderagent.core.stepper import stepper_for
from traderagent.data import timeframes
from traderagent.errors import UserError
from traderagent.live.instance import Instance
from traderagent.live.paper import PaperExchange, base_quote
from traderagent.live.ports import ListNotifier
from traderagent.live.runner import Runner, candles_of, log_event
from traderagent.strategies import registry


@dataclass
class ReplayRun:
    """A finished replay: the JSON document (backtest keys), the result object, and what the run measured."""

    json: dict
    result: Any
    meta: dict = field(default_factory=dict)
    runner: Any = None
    exchange: Any = None


def instance_name(strategy: str, symbol: str) -> str:
    return f"{strategy}-{symbol.replace('/', '').lower()}"


def replay(strategy: str, symbol: str = "BTC/USDT", timeframe: str | None = None, data=None, config=None,
           start=None, end=None, database_url: str | None = None, fees: float | None = None,
           slippage: float | None = None, initial_equity: float | None = None, account: str = "ta",
           progress=None) -> ReplayRun:
    """Replay one strategy on one market through runner + paper exchange (see the module docstring)."""
    return asyncio.run(replay_async(strategy, symbol, timeframe, data, config, start, end, database_url, fees,
                                    slippage, initial_equity, account, progress))


async def replay_async(strategy, symbol="BTC/USDT", timeframe=None, data=None, config=None, start=None, end=None,
                       database_url=None, fees=None, slippage=None, initial_equity=None, account="ta",
                       progress=None) -> ReplayRun:
    from traderagent.persistence.live import LiveStore

    spec = registry.get(strategy)
    cfg, params = params_for(spec, config, timeframe)
    bt = cfg.backtest
    costs = Costs(fees=bt.fees if fees is None else fees, slippage=bt.slippage if slippage is None else slippage)
    equity0 = float(initial_equity if initial_equity is not None else bt.initial_equity)
    base, base_tf, path = read_base(data, symbol)
    tf = spec.base_timeframe(params)
    bars = to_timeframe(base, base_tf, tf)
    bars, start_ts = _slice(bars, start, end)
    first = 0 if start_ts is None else int(bars.index.searchsorted(start_ts))
    if first >= len(bars) - 1:
        raise UserError(f"{spec.name}: no bars to replay between {start or 'the start'} and {end or 'the end'}")
    store = LiveStore(database_url)
    name = instance_name(spec.name, symbol)
    _, quote = base_quote(symbol)
    exchange = PaperExchange(store, name=f"paper-{name}", balances={quote: equity0}, fees=costs.fees,
                             slippage=costs.slippage)
    stepper = stepper_for(spec, params, costs, cfg.risk, equity0, leverage=bt.leverage, allow_short=bt.allow_short) \
        if spec.kind == "signal" else stepper_for(spec, params, costs, cfg.risk, equity0)
    notifier = ListNotifier(log_event)
    inst = Instance(name, spec, params, symbol, stepper, store, notifier, account=account,
                    exchange_name=exchange.name)
    resumed = inst.restore()
    runner = Runner(exchange, store, notifier, tf, [inst])
    k = first
    if resumed and inst.bar_time_ns is not None:
        k = int(bars.index.as_unit("ns").asi8.searchsorted(int(inst.bar_time_ns), side="right"))
    runner.seed(symbol, bars.iloc[:k])
    if resumed:
        await runner.resume()
    t0 = time.perf_counter()
    n = len(bars) - k
    for j, candle in enumerate(candles_of(bars.iloc[k:], symbol, tf)):
        await runner.on_candle(candle)
        if progress is not None:
            progress(j + 1, n)
    seconds = time.perf_counter() - t0
    result = summarize(spec, params, stepper, store, name, bars, first, tf, costs, cfg.risk, equity0)
    used = getattr(result, "settings", {}).get("params")
    js = result.to_json_dict(strategy=spec.name, symbol=symbol, timeframe=tf,
                             params=used if used is not None else params.model_dump(mode="json"))
    meta = {"data_file": str(path), "data_sha256": file_sha256(path), "code_version": code_version(),
            "fees": costs.fees, "slippage": costs.slippage, "database": store.url.render_as_string(hide_password=True),
            "instance": name, "bars_replayed": n, "seconds": seconds, "resumed": resumed,
            "duplicates": exchange.duplicates, "rejections": exchange.rejections}
    store.close()
    return ReplayRun(json=js, result=result, meta=meta, runner=runner, exchange=exchange)


def summarize(spec, params, stepper, store, name: str, bars: pd.DataFrame, first: int, tf: str, costs, risk,
              equity0: float):
    """The replay's result from what the database holds (ledger, equity per bar): booked by vectorbt, every gate,
    trades and stats, as the backtest builds its own."""
    rows = store.equity_rows(name)
    index = bars.index[first:]
    if len(rows) != len(index) or not np.array_equal(rows["time"], index.as_unit("ns").asi8):
        raise UserError(f"{name}: the database holds {len(rows)} bars, the data {len(index)} from the start; "
                        "replay into a fresh database (or the one this replay started in)")
    got = store.load_instance(name)
    fills, decided = got["ledger"].copy(), got["decided"].copy()
    m = spec.extra.get("machine")
    if m is not None and m.post_fills is not None:
        m.post_fills(fills)
    o, h, lo, c = (bars[k].to_numpy(np.float64)[first:] for k in ("open", "high", "low", "close"))
    cash, pos, equity = rows["cash"].copy(), rows["position"].copy(), rows["equity"].copy()
    events = block_events(stepper.blocks(), index)
    order = spec.kind == "order"
    done = book_and_measure(index, (o, h, lo, c), fills, decided, cash, pos, equity, equity0, tf, costs, risk, events,
                            leverage=float(getattr(stepper, "p", {"leverage": 1.0})["leverage"]) if not order else 1.0,
                            spot=order)
    settings: dict = {"initial_equity": equity0, "risk": None if risk is None else risk.model_dump(mode="json")}
    cls = OrderBacktestResult if order else BacktestResult
    kw: dict = {}
    if order:
        p = stepper.params
        settings.update({"first_bar": 0, "strategy": spec.name, "params": json_safe(p)})
        kw = {"outputs": pd.DataFrame(index=index), "state": stepper.state}
    result = cls(index=index, timeframe=timeframes.normalize(tf), initial_equity=equity0, equity=equity, cash=cash,
                 position=pos, fills=fills, fill_signal_bar=decided, trades=done["trades"], stats=done["stats"],
                 integrity=done["integrity"], costs=costs, settings=settings, timings=done["timings"],
                 portfolio=done["portfolio"], risk_events=events, **kw)
    if order:
        result.extra = {"params": stepper.params}
    return result
