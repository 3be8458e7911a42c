"""`traderagent live run`: the composition root of the live service.

It builds, from the config and the environment, the parts the runner takes as ports (`live.ports`): the store
(PostgreSQL or SQLite), the exchange (the paper exchange in `paper` mode; ccxt in `live` mode), the candle source
(a replayed file or folder with `--replay`, else the exchange's feed), the notifier (log lines, metrics, Telegram
when a token is set), the clock; then the orchestrator's instances, the runner, the control API and the
/metrics /health /ready endpoints; and runs the loop until the candles end, `--max-bars` or a signal.

Each candle: the control commands queued by other processes (the CLI, the bot) run first, then staged capital
moves at a new UTC day, then the runner steps every instance whose timeframe closed a candle. A restart with the
same database resumes: each instance's state, ledger and open orders come back, the exchange is reconciled, and
candles an instance already stepped on are skipped.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from traderagent.data import timeframes
from traderagent.errors import UserError
from traderagent.live.ports import Candle, Event, ListNotifier

log = logging.getLogger("traderagent.live")


@dataclass
class RunOptions:
    """What `traderagent live run` takes besides the config (see its --help)."""

    replay: Path | None = None  # a candle file (one symbol) or a folder of BASE_QUOTE-<tf>.* files
    speed: float = 0.0  # replay speed: N x real time; 0 = as fast as the machine goes
    start: str | None = None  # first replayed day (earlier candles warm the windows up)
    end: str | None = None  # last replayed day (inclusive)
    database_url: str | None = None
    max_bars: int | None = None  # stop after this many base candles (demos, tests)


@dataclass
class RunSummary:
    """What a run did: base candles stepped, seconds, instances (name -> dict), events by kind, whether it resumed."""

    bars: int = 0
    seconds: float = 0.0
    resumed: bool = False
    instances: dict[str, dict] = field(default_factory=dict)
    events: dict[str, int] = field(default_factory=dict)
    stopped_by: str = "end of data"
    database: str = ""


# ------------------------------------------------------------------------------------------------ notifiers
class FanOut:
    """A notifier that passes each event to several (a failing one is logged, never raised into the loop)."""

    def __init__(self, *targets: Any):
        self.targets = [t for t in targets if t is not None]
        self.counts: dict[str, int] = {}

    def add(self, target: Any) -> None:
        self.targets.append(target)

    def emit(self, event: Event) -> None:
        self.counts[event.kind] = self.counts.get(event.kind, 0) + 1
        for t in self.targets:
            try:
                t.emit(event)
            except Exception as exc:  # noqa: BLE001 - a notifier must never stop trading
                log.warning("notifier %s failed on %s: %s", type(t).__name__, event.kind, exc)


class EventMetrics:
    """Events -> counters of `obs.metrics.Metrics` (fills, trades, order errors, risk blocks)."""

    def __init__(self, metrics: Any):
        self.m = metrics

    def emit(self, e: Event) -> None:
        if e.kind in ("entry", "exit", "fill"):
            self.m.fill(e.instance, e.fields.get("side", "buy"))
            if e.kind == "exit":
                self.m.trade(e.instance)
        elif e.kind == "order_error":
            self.m.order_error(str(e.fields.get("reason") or "rejected"))
        elif e.kind == "risk_block":
            self.m.risk_block(e.instance, str(e.fields.get("rule")))


# ------------------------------------------------------------------------------------------------ clocks
class ReplayClock:
    """Simulated time: a replayed candle's close is 'now' while the runner steps on it."""

    def __init__(self) -> None:
        self.t = pd.Timestamp(0, tz="UTC")

    def now(self) -> pd.Timestamp:
        return self.t

    async def sleep_until(self, when: pd.Timestamp) -> None:
        self.t = max(self.t, when)


class WallClock:
    def now(self) -> pd.Timestamp:
        return pd.Timestamp.now(tz="UTC")

    async def sleep_until(self, when: pd.Timestamp) -> None:
        await asyncio.sleep(max((when - self.now()).total_seconds(), 0.0))


# ------------------------------------------------------------------------------------------------ replay source
def replay_files(path: Path, symbols: list[str], base_tf: str = "15m") -> dict[str, Path]:
    """The candle file of each symbol: `path` itself for one symbol, else `BASE_QUOTE-<tf>.*` in the folder (the
    runner's timeframe first, else the coarsest finer one)."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"--replay: {path} does not exist (a candle file, or a folder of BASE_QUOTE-15m.csv.gz files)")
    if path.is_file():
        from traderagent.data.io import parse_name

        named = parse_name(path)[0]
        symbol = named if named in symbols else symbols[0] if len(symbols) == 1 else None
        if symbol is None:
            raise UserError(f"--replay: {path.name} names no market the config trades ({', '.join(symbols)}); name "
                            f"it like {symbols[0].replace('/', '_')}-15m.csv.gz, or give a folder of such files")
        others = [s for s in symbols if s != symbol]
        if others:
            log.warning("--replay %s holds %s only: the instances on %s get no candles", path.name, symbol,
                        ", ".join(others))
        return {symbol: path}
    out = {}
    for s in symbols:
        stem = s.replace("/", "_").replace(":", "_").upper()
        finer = [tf for tf in ("30m", "15m", "5m", "1m") if timeframes.seconds(tf) < timeframes.seconds(base_tf)]
        found = [f for tf in (base_tf, *finer) for f in sorted(path.glob(f"{stem}-{tf}.*"))]
        if not found:
            raise UserError(f"--replay: no candle file for {s} in {path} (expected e.g. {stem}-15m.csv.gz)")
        out[s] = found[0]
    return out


def load_replay(files: dict[str, Path], base_tf: str, end: str | None) -> dict[str, pd.DataFrame]:
    """Each symbol's candles at the runner's base timeframe, up to the end of `end`'s day."""
    from traderagent.backtest.runner import _slice, read_base, to_timeframe

    out = {}
    for s, f in files.items():
        bars, tf, _ = read_base(f, s)
        if timeframes.seconds(tf) > timeframes.seconds(base_tf):
            raise UserError(f"--replay: {f} holds {tf} candles; live.timeframe is {base_tf} (give {base_tf} or finer)")
        bars = to_timeframe(bars, tf, base_tf)
        out[s] = _slice(bars, None, end)[0]
    return out


def merged_candles(frames: dict[str, pd.DataFrame], base_tf: str, first: dict[str, int]) -> Iterator[Candle]:
    """Every symbol's candles from its `first` row on, in time order (ties by symbol)."""
    from traderagent.live.runner import candles_of

    its = [((c.time, s, c) for c in candles_of(frames[s].iloc[first[s]:], s, base_tf)) for s in frames]
    for _, _, c in heapq.merge(*its, key=lambda x: (x[0], x[1])):
        yield c


# ------------------------------------------------------------------------------------------------ the service
class LiveService:
    """The assembled service (module docstring). `build()` then `run()`; `control` answers the CLI and the bot."""

    def __init__(self, cfg: Any, secrets: Any, opts: RunOptions, notifier: Any = None):
        self.cfg = cfg
        self.secrets = secrets
        self.opts = opts
        self.base_tf = timeframes.normalize(cfg.live.timeframe)
        self.events = ListNotifier(_log_event)
        self.notifier = FanOut(self.events, notifier)
        self.metrics = self.server = self.bot = None
        self.stop_reason: str | None = None

    # -------------------------------------------------------------- assembly
    def build(self) -> LiveService:
        from traderagent.config.loader import database_url
        from traderagent.core.costs import Costs
        from traderagent.live.control import ControlAPI
        from traderagent.live.orchestrator import Orchestrator
        from traderagent.live.runner import Runner
        from traderagent.persistence.live import LiveStore

        cfg, live = self.cfg, self.cfg.live
        check_startable(cfg, self.secrets, self.opts)
        self.store = LiveStore(self.opts.database_url or database_url(cfg, self.secrets))
        self.exchange = self._exchange()
        equity = float(live.paper_balance)
        costs = Costs(fees=cfg.backtest.fees, slippage=cfg.backtest.slippage)
        self.orchestrator = Orchestrator(cfg, self.store, self.notifier, equity, costs, account=live.account,
                                         exchange_name=self.exchange.name)
        self.instances = self.orchestrator.build()
        self.resumed = any(i.bar_time_ns is not None for i in self.instances)
        self.clock = ReplayClock() if self.opts.replay is not None else WallClock()
        self._metrics()
        self.runner = Runner(self.exchange, self.store, self.notifier, self.base_tf, self.instances, clock=self.clock,
                             stale_bars=live.stale_bars, metrics=self.metrics)
        self.control = ControlAPI(self.store, self.orchestrator, self.exchange)
        for note in self.orchestrator.notes:
            log.info("plan: %s", note)
        return self

    def _exchange(self) -> Any:
        from traderagent.live.paper import PaperExchange, base_quote

        cfg = self.cfg
        quotes = {base_quote(s)[1] for p in self._plans() for s in [p.symbol]}
        if len(quotes) > 1:
            raise UserError(f"live: every market must share one quote currency (got {', '.join(sorted(quotes))})")
        quote = quotes.pop() if quotes else "USDT"
        return PaperExchange(self.store, name="paper", balances={quote: float(cfg.live.paper_balance)},
                             fees=cfg.backtest.fees, slippage=cfg.backtest.slippage)

    def _plans(self) -> list:
        from traderagent.live.orchestrator import plan_instances

        return plan_instances(self.cfg, float(self.cfg.live.paper_balance))[0]

    def _metrics(self) -> None:
        from traderagent.obs.metrics import Metrics
        from traderagent.obs.server import serve

        self.metrics = Metrics.for_live(self.cfg.live)
        self.notifier.add(EventMetrics(self.metrics))
        self.server = serve(self.metrics, self.cfg.live)
        self.metrics.health(database_up=True, markets_loaded=True)

    def _observe(self, time_: pd.Timestamp) -> None:
        """Per-instance gauges and the portfolio value after a candle (from what the runner just committed)."""
        m = self.metrics
        total = 0.0
        stages = self.cfg.orchestrator.staging.stages
        for inst in self.orchestrator.instances.values():
            st = inst.stepper
            w = self.runner.windows[inst.symbol]
            close = float(w.rows[w.base_tf].last()[4]) if w.rows[w.base_tf].n else 0.0
            eq = st.cash() + st.position() * close
            peak = max(float(inst.meta.get("peak", eq)), eq)
            inst.meta["peak"] = peak
            total += eq
            dd = min(max(1.0 - eq / peak, 0.0), 1.0) if peak > 0 else 0.0
            m.instance(inst.name, equity=eq, drawdown=dd, position=st.position(),
                       symbol=inst.symbol, open_orders=sum(1 for o in inst.orders.values() if o.status in
                                                           ("open", "pending", "partially_filled")),
                       state=inst.status, stage=float(inst.meta.get("stage_share", stages[0])))
        m.portfolio(total)

    # -------------------------------------------------------------- the loop
    async def run(self) -> RunSummary:
        if self.opts.replay is None:
            raise UserError("live run: the exchange feed arrives with the ccxt adapter; until then give --replay "
                            "FILE|FOLDER (paper trading over recorded candles)")
        files = replay_files(self.opts.replay, sorted({i.symbol for i in self.instances}), self.base_tf)
        frames = load_replay(files, self.base_tf, self.opts.end)
        first = self._seed(frames)
        if self.resumed:
            await self.runner.resume()
        self._signals()
        summary = RunSummary(resumed=self.resumed, database=self.store.url.render_as_string(hide_password=True))
        bar_s = timeframes.seconds(self.base_tf)
        t0 = time.perf_counter()
        from traderagent.live.control import run_commands

        for candle in merged_candles(frames, self.base_tf, first):
            if self.stop_reason:
                break
            loop0 = time.perf_counter()
            close = candle.time + pd.Timedelta(seconds=bar_s)
            await self.clock.sleep_until(close)
            run_commands(self.store, self.orchestrator)
            self.orchestrator.on_bar(candle.time)
            stepped = await self.runner.on_candle(candle)
            self.metrics.health(data_fresh=stepped)
            self._observe(candle.time)
            self.metrics.loop(time.perf_counter() - loop0, now=close.timestamp())
            summary.bars += 1
            if self.opts.max_bars is not None and summary.bars >= self.opts.max_bars:
                self.stop_reason = f"--max-bars {self.opts.max_bars}"
            if self.opts.speed > 0:
                await asyncio.sleep(bar_s / self.opts.speed)
        summary.seconds = time.perf_counter() - t0
        summary.stopped_by = self.stop_reason or "end of data"
        summary.events = dict(self.notifier.counts)
        summary.instances = self.control.status()["instances"]
        summary.instances = {s["instance"]: s for s in summary.instances}
        return summary

    def _seed(self, frames: dict[str, pd.DataFrame]) -> dict[str, int]:
        """Warm each symbol's windows with the candles before the first one to step on; returns that row."""
        start = None if self.opts.start is None else pd.Timestamp(self.opts.start, tz="UTC")
        first = {}
        for s, bars in frames.items():
            ns = bars.index.as_unit("ns").asi8
            k = 0 if start is None else int(bars.index.searchsorted(start))
            done = [i.bar_time_ns for i in self.instances if i.symbol == s]
            if done and all(t is not None for t in done):  # resume after the candle every instance has stepped on
                k = max(k, int(ns.searchsorted(min(self._last_base(i) for i in self.instances if i.symbol == s),
                                               side="right")))
            if k >= len(bars):
                raise UserError(f"--replay: no {s} candles to step on after {bars.index[-1]:%Y-%m-%d %H:%M} "
                                f"(the database already holds them, or --start is past the data)")
            self.runner.seed(s, bars.iloc[:k])
            first[s] = k
        return first

    def _last_base(self, inst: Any) -> int:
        """The open time of the base candle that closed the instance's last stepped bar."""
        return int(inst.bar_time_ns) + timeframes.nanos(inst.timeframe) - timeframes.nanos(self.base_tf)

    def _signals(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, self._stop, sig.name)
            except (NotImplementedError, RuntimeError):  # not the main thread
                pass

    def _stop(self, why: str) -> None:
        log.info("stopping after this candle (%s)", why)
        self.stop_reason = why

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()
        self.store.close()


def check_startable(cfg: Any, secrets: Any, opts: RunOptions) -> None:
    """One line and no side effect when the service cannot start as configured."""
    live = cfg.live
    if live.mode == "live":
        missing = [v for v, s in (("TRADERAGENT_EXCHANGE_API_KEY", secrets.exchange_api_key),
                                  ("TRADERAGENT_EXCHANGE_SECRET", secrets.exchange_secret)) if s is None]
        if missing:
            raise UserError(f"live.mode is live but {' and '.join(missing)} is not set (or its _FILE); "
                            "set them, or use live.mode: paper")
        if opts.replay is not None:
            raise UserError("--replay runs against the paper exchange; set live.mode: paper to replay")
        raise UserError("live.mode: live needs the ccxt exchange adapter, which is not part of this build yet; "
                        "use live.mode: paper")
    watched = set(live.symbols)
    for name, section in cfg.strategies.enabled().items():
        extra = [p for p in getattr(section, "pairs", ()) if p not in watched]
        if extra:
            raise UserError(f"strategies.{name}.pairs: {', '.join(extra)} not in live.symbols "
                            f"({', '.join(live.symbols)}); add it there or remove it from the strategy")
    if opts.speed < 0:
        raise UserError(f"--speed must be 0 (as fast as possible) or positive (got {opts.speed:g})")


def _log_event(event: Event) -> None:
    from traderagent.live.runner import log_event

    log_event(event)


def run_live(cfg: Any, secrets: Any, opts: RunOptions, notifier: Any = None) -> RunSummary:
    """Build the service and run it to the end (module docstring)."""
    svc = LiveService(cfg, secrets, opts, notifier).build()
    try:
        return asyncio.run(svc.run())
    finally:
        svc.close()
