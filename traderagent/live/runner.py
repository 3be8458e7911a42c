"""The runner: each closed base candle -> the exchange's fills, the windows, every instance's decision through the
risk guard, reconciliation, one transaction per instance, then the orders sent.

The exchange, the store, the notifier and the clock are injected (`live.ports`), so the same runner drives the
paper exchange (replays, paper trading) and a real one. Candles are checked before anything steps on them: a
duplicate or out-of-order candle and one still forming (its close after the clock) are refused, a stale one (closed
more than `stale_bars` bars ago) is refused while live, a gap (missing candles) is reported; each gives one log
line and an alert event.

Restart: each instance's state, ledger and open orders come back from the store; orders written but maybe not sent
(status `new`) are looked up on the exchange by client id and sent only when the exchange has never seen them;
fills the exchange made while the runner was away are applied in order before the next close.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import time
from collections.abc import Sequence
from typing import Any

import pandas as pd

from traderagent.data import timeframes
from traderagent.live.instance import Instance
from traderagent.live.ports import Candle, Event
from traderagent.live.windows import WindowBook

log = logging.getLogger("traderagent.live")

#: Fault-injection points (tests only): TRADERAGENT_KILL_AT=<point>:<n> kills the process (SIGKILL) the n-th time
#: the runner passes <point>. The restart tests use it to stop the runner at the moments that matter.
KILL_POINTS = ("after_exchange_fills", "after_commit", "mid_send", "after_send")


class FaultPoints:
    def __init__(self, spec: str | None = None):
        spec = spec if spec is not None else os.environ.get("TRADERAGENT_KILL_AT", "")
        self.point, self.n = None, 0
        if spec:
            point, _, n = spec.partition(":")
            if point not in KILL_POINTS:
                raise ValueError(f"TRADERAGENT_KILL_AT: unknown point {point!r}; one of {', '.join(KILL_POINTS)}")
            self.point, self.n = point, int(n or 1)
        self.seen = 0

    def hit(self, point: str) -> None:
        if point == self.point:
            self.seen += 1
            if self.seen >= self.n:
                os.kill(os.getpid(), signal.SIGKILL)


def log_event(event: Event) -> None:
    """One JSON line per event (no secrets ever reach an event)."""
    log.info(json.dumps({"time": event.time.isoformat(), "event": event.kind, "instance": event.instance,
                         "message": event.message, **{k: v for k, v in event.fields.items()
                                                      if isinstance(v, (int, float, str, bool))}}))


class Runner:
    """See the module docstring."""

    def __init__(self, exchange: Any, store: Any, notifier: Any, base_tf: str, instances: Sequence[Instance],
                 clock: Any = None, stale_bars: int = 2, metrics: Any = None):
        self.exchange = exchange
        self.store = store
        self.notifier = notifier
        self.base_tf = timeframes.normalize(base_tf)
        self.bar_ns = timeframes.nanos(self.base_tf)
        self.instances = list(instances)
        self.clock = clock
        self.stale_bars = stale_bars
        self.metrics = metrics
        self.windows: dict[str, WindowBook] = {}
        self.last: dict[str, int] = {}
        self.faults = FaultPoints()
        self.latency: list[float] = []  # seconds from a candle to its orders (decision + risk + reconcile)
        self.commit_seconds: list[float] = []
        self._current_open: dict[str, float] = {}
        for inst in self.instances:
            self.windows.setdefault(inst.symbol, WindowBook(self.base_tf, {}))
            self.windows[inst.symbol].grow(inst.stepper.windows())
            if hasattr(exchange, "listeners"):
                exchange.listeners[inst.name] = inst

    def history_bars(self, symbol: str) -> int:
        """Base candles of history the symbol's instances need before their first step (their windows, plus two
        higher-timeframe periods so the first one seeded is complete)."""
        sizes = self.windows[symbol].sizes
        mult = {tf: max(1, timeframes.check_multiple(self.base_tf, tf)) for tf in sizes}
        return max(n * mult[tf] for tf, n in sizes.items()) + 2 * max(mult.values())

    def seed(self, symbol: str, history: pd.DataFrame) -> None:
        """Warm a symbol's windows with the base candles before the first one to step on (oldest first)."""
        self.windows[symbol].seed(history.iloc[-self.history_bars(symbol):])
        if len(history):
            self.last[symbol] = int(history.index[-1].value)

    def by_symbol(self, symbol: str) -> list[Instance]:
        return [i for i in self.instances if i.symbol == symbol]

    # ------------------------------------------------------------------ start
    async def resume(self) -> None:
        """After restoring the instances, make their view of open orders the exchange's (reconcile, don't
        remember): an order the exchange holds is open; one it finished is closed (its fills, if the runner has not
        seen them, are applied at the next candle, whose open they need); one written but never received (status
        `new`, unknown to the exchange) is sent now, once."""
        open_now = {o.client_id: o for o in await self.exchange.fetch_open_orders()}
        for inst in self.instances:
            for row in list(inst.orders.values()):
                if row.status not in ("new", "open", "pending", "partially_filled"):
                    continue
                ex = open_now.get(row.client_id)
                if ex is not None:
                    row.status = "pending" if ex.status == "pending" else "open"
                    inst._updates.add(row.client_id)
                    continue
                found = await self.exchange.fetch_order(row.client_id, row.symbol)
                if found is None:
                    if row.status == "new":
                        await self._send_one(inst, row.client_id)
                    else:
                        inst.order_closed(row.client_id, "canceled", "not on the exchange after a restart")
                elif found.status in ("filled", "closed"):
                    row.status = "filled" if found.status == "filled" else row.status
                    if found.status == "closed":  # finished and forgotten by the exchange: not open any more
                        row.status = "canceled"
                    inst._updates.add(row.client_id)
                else:
                    inst.order_closed(row.client_id, found.status, found.reason)
        if hasattr(self.exchange, "commit"):
            self.exchange.commit()

    async def _catch_up_fills(self) -> None:
        since = min((i.fill_seq for i in self.instances), default=0)
        fills = await self.exchange.fetch_fills(since)
        for f in fills:
            inst = next((i for i in self.instances if i.name == f.instance), None)
            if inst is None or f.seq <= inst.fill_seq:
                continue
            order = await self.exchange.fetch_order(f.client_id, f.symbol)
            inst.apply_fill(f, self._open_of(f), order)

    def _open_of(self, fill) -> float:
        """The open of the bar a fill happened in (the reference of sizes decided at the fill)."""
        if fill.symbol in self._current_open:
            return self._current_open[fill.symbol]
        w = self.windows.get(fill.symbol)
        got = w.open_of(fill.time_ns) if w is not None else None
        return float("nan") if got is None else got

    # ------------------------------------------------------------------ the bar
    def check(self, candle: Candle) -> str | None:
        """Why a candle must not be stepped on (None: fine). A gap is reported but not refused."""
        t = int(candle.time.value)
        last = self.last.get(candle.symbol)
        if last is not None and t == last:
            return "duplicate candle"
        if last is not None and t < last:
            return "out-of-order candle"
        if self.clock is not None:
            now = int(self.clock.now().value)
            if t + self.bar_ns > now:
                return "still-forming candle"
            if now - (t + self.bar_ns) > self.stale_bars * self.bar_ns:
                return f"stale candle (closed {(now - t - self.bar_ns) / 1e9:.0f} s ago)"
        if last is not None and t - last > self.bar_ns:
            self._alert("gap", candle, f"{(t - last) // self.bar_ns - 1} candle(s) missing before it")
        return None

    def _alert(self, kind: str, candle: Candle, why: str) -> None:
        msg = f"{candle.symbol} {candle.timeframe} {candle.time:%Y-%m-%d %H:%M}: {why}"
        log.warning(json.dumps({"event": kind, "symbol": candle.symbol, "time": candle.time.isoformat(),
                                "message": why}))
        self.notifier.emit(Event("stale_data" if kind != "gap" else "gap", candle.time, msg, "", {"why": why}))

    async def on_candle(self, candle: Candle) -> bool:
        """Take one closed base candle: every instance whose timeframe closed a candle with it steps on that
        candle (a 1h instance on a 15m feed steps when the hour's candle is complete). False when refused."""
        why = self.check(candle)
        if why is not None:
            self._alert("refused_candle", candle, why)
            return False
        w = self.windows[candle.symbol]
        before = {tf: w.rows[tf].n for tf in w.sizes}
        w.push(int(candle.time.value), candle.open, candle.high, candle.low, candle.close, candle.volume)
        self.last[candle.symbol] = int(candle.time.value)
        for tf in sorted(w.sizes, key=timeframes.seconds):
            if w.rows[tf].n == before[tf] and tf != w.base_tf:
                continue
            t, o, h, lo, c, v = w.rows[tf].last()[:6]
            insts = [i for i in self.by_symbol(candle.symbol) if i.timeframe == tf  # not stepped on it (a restart)
                     and (i.bar_time_ns is None or int(i.bar_time_ns) < int(t))]
            if insts:
                await self.step(Candle(candle.symbol, tf, pd.Timestamp(int(t), tz="UTC"), o, h, lo, c, v), insts, w)
        if self.metrics is not None:
            close = candle.time + pd.Timedelta(self.bar_ns, unit="ns")
            self.metrics.bar(close, self.clock.now() if self.clock is not None else close, symbol=candle.symbol)
        return True

    async def step(self, candle: Candle, insts: list[Instance], w: WindowBook) -> None:
        """The bar protocol for the instances of one timeframe: fills, the close, one transaction each, the sends."""
        t0 = time.perf_counter()
        self._current_open = {candle.symbol: candle.open}
        for inst in insts:
            inst.begin_bar(candle.time)
        if hasattr(self.exchange, "process_bar"):
            self.exchange.process_bar(candle)
            for o in list(getattr(self.exchange, "orders", {}).values()):
                if o.status in ("canceled", "rejected"):
                    for inst in insts:
                        if o.client_id in inst.orders:
                            inst.order_closed(o.client_id, o.status, o.reason)
            self.exchange.commit(int(candle.time.value))
        self.faults.hit("after_exchange_fills")
        await self._catch_up_fills()
        for inst in insts:
            tfs = inst.stepper.windows()
            inst.close({tf: _tail(w.frame(tf), n) for tf, n in tfs.items()}, int(candle.time.value))
            self.latency.append(time.perf_counter() - t0)
            c0 = time.perf_counter()
            inst.commit(candle.close)
            self.commit_seconds.append(time.perf_counter() - c0)
        self.faults.hit("after_commit")
        for inst in insts:
            await self._send(inst)
        if hasattr(self.exchange, "commit"):
            self.exchange.commit(int(candle.time.value))
        self.faults.hit("after_send")

    async def _send(self, inst: Instance) -> None:
        plan = inst.planned
        for cid in plan.cancels:
            await self.exchange.cancel_order(cid, inst.symbol)
            if cid in inst.orders:
                inst.orders[cid].status = "canceled"
                inst._updates.add(cid)
        for k, req in enumerate(plan.places):
            if k == 1:
                self.faults.hit("mid_send")
            await self._send_one(inst, req.client_id, req)
        plan.cancels.clear()
        plan.places.clear()

    async def _send_one(self, inst: Instance, client_id: str, req: Any = None) -> None:
        from traderagent.live.paper import OrderRejected

        row = inst.orders.get(client_id)
        if req is None:
            req = _request_from_row(row)
        try:
            o = await self.exchange.create_order(req)
            if row is not None:
                row.status = "pending" if o.status == "pending" else "open"
                inst._updates.add(client_id)
        except OrderRejected as exc:
            inst.order_closed(client_id, "rejected", str(exc))


def _tail(frame: pd.DataFrame, n: int) -> pd.DataFrame:
    return frame if len(frame) <= n else frame.iloc[-n:]


def _request_from_row(row: Any):
    from traderagent.live.ports import OrderRequest

    it = row.intent
    sized = it.get("sized")
    return OrderRequest(client_id=row.client_id, instance=row.instance, symbol=row.symbol, kind=it["kind"],
                        side=row.side, amount=None if sized or row.amount <= 0 else row.amount, price=row.price,
                        tag=row.tag, flags=int(it.get("flags", 0)), quote=it.get("quote"), parent=row.parent)


def candles_of(bars: pd.DataFrame, symbol: str, tf: str):
    """Candles of a frame, oldest first (a replay's source)."""
    vals = bars[["open", "high", "low", "close", "volume"]].to_numpy()
    for t, row in zip(bars.index, vals, strict=True):
        yield Candle(symbol, tf, t, float(row[0]), float(row[1]), float(row[2]), float(row[3]), float(row[4]))
