"""Prometheus metrics of the live runner, in a registry of their own (several runners may share one process).

The runner gets a `Metrics` injected and calls one method per event; it never touches prometheus_client itself:

    m = Metrics(timeframe_seconds=900)
    m.health(markets_loaded=True, database_up=True)         # readiness inputs, as the runner learns them
    m.instance("grid-btc", equity=10_250.0, drawdown=0.012, position=0.05, symbol="BTC/USDT",
               open_orders=6, state="active", stage=0.05, daily_loss_limit_reached=False)
    m.portfolio(30_100.0)
    m.order_placed("grid-btc"); m.fill("grid-btc", "buy"); m.trade("grid-btc")
    m.order_error(ccxt.InsufficientFunds("..."))             # reason label: insufficient_funds
    m.risk_block("grid-btc", "max_exposure")
    m.request("create_order", 0.084)                          # exchange API latency, seconds
    m.reconnect()                                             # websocket reconnected
    m.bar(close_time, now, symbol="BTC/USDT")                 # a closed bar was stepped on
    m.loop(seconds, now)                                      # every loop iteration, idle wake-ups included

`METRICS` is the one list of names, types, labels and help texts: the dashboard, the alert rules and
docs/operations.md are checked against it. Names follow Prometheus conventions: `traderagent_` prefix, base units
(`_seconds`, `_ratio`, quote and base currency amounts named `_quote` / `_base`), counters end in `_total`.

Liveness and readiness (served as `/health` and `/ready` by `traderagent.obs.server`):
- alive: the loop iterated within `max_silence_seconds` of the monotonic clock (the start counts as the first
  iteration, so a runner still loading markets is alive). The runner must call `loop()` on idle wake-ups too.
- ready: markets loaded, data fresh and the database reachable, each as last reported through `health()`; all
  three start false.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector, generate_latest

#: Instance lifecycle states (traderagent_instance_state has one series per state: 1 for the current one).
STATES: tuple[str, ...] = ("idle", "active", "paused", "stopped")
#: Order sides of traderagent_fills_total.
SIDES: tuple[str, ...] = ("buy", "sell")
#: Exchange round trips: from a fast local call to a slow retry-free timeout.
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
#: Loop iterations: a bar's step, risk guard, reconcile and commit (the database commit dominates).
LOOP_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: Readiness inputs, in the order `/ready` reports them.
READY_CHECKS: tuple[str, ...] = ("markets_loaded", "data_fresh", "database_up")


@dataclass(frozen=True)
class MetricSpec:
    """One exported metric: Prometheus type, label names and help text."""

    kind: str  # "gauge" | "counter" | "histogram"
    labels: tuple[str, ...]
    help: str


def _g(help_: str, *labels: str) -> MetricSpec:
    return MetricSpec("gauge", labels, help_)


def _c(help_: str, *labels: str) -> MetricSpec:
    return MetricSpec("counter", labels, help_)


def _h(help_: str, *labels: str) -> MetricSpec:
    return MetricSpec("histogram", labels, help_)


#: Every metric the runner exports (counters under their `_total` name, as scraped).
METRICS: dict[str, MetricSpec] = {
    "traderagent_build_info": _g("TraderAgent version running (always 1)", "version"),
    "traderagent_portfolio_value_quote": _g("account value in the quote currency, all instances and free cash"),
    "traderagent_instance_equity_quote": _g("strategy instance's equity in the quote currency", "instance"),
    "traderagent_instance_drawdown_ratio": _g("instance's drawdown from its equity peak (0.1 = 10%)", "instance"),
    "traderagent_instance_drawdown_limit_ratio": _g(
        "drawdown at which the instance breaches its limit (0 = none set)", "instance"),
    "traderagent_instance_position_base": _g("instance's position in the base currency", "instance", "symbol"),
    "traderagent_open_orders": _g("orders the instance has open on the exchange", "instance"),
    "traderagent_instance_state": _g("1 for the instance's lifecycle state, 0 for the others", "instance", "state"),
    "traderagent_instance_stage_ratio": _g("capital stage: fraction of the allocation deployed (0.05 = 5%)",
                                           "instance"),
    "traderagent_daily_loss_limit_reached": _g("1 while the instance's daily loss limit blocks new positions",
                                               "instance"),
    "traderagent_bar_lag_seconds": _g("runner clock minus the close time of the stalest symbol's last closed bar"),
    "traderagent_last_bar_timestamp_seconds": _g("close time of the stalest symbol's last closed bar (epoch s)"),
    "traderagent_symbol_last_bar_timestamp_seconds": _g("close time of the symbol's last closed bar (epoch s)",
                                                        "symbol"),
    "traderagent_bar_timeframe_seconds": _g("length of the base bar the runner wakes on (0 = not set)"),
    "traderagent_database_up": _g("1 when the last database round trip succeeded"),
    "traderagent_markets_loaded": _g("1 once the exchange's markets are loaded"),
    "traderagent_data_fresh": _g("1 while the runner judges its candles fresh (no closed bar missed)"),
    "traderagent_loop_last_iteration_timestamp_seconds": _g("wall-clock time of the loop's last iteration (epoch s)"),
    "traderagent_trades_total": _c("round-trip trades closed", "instance"),
    "traderagent_fills_total": _c("order fills", "instance", "side"),
    "traderagent_orders_placed_total": _c("orders sent to the exchange and accepted", "instance"),
    "traderagent_orders_cancelled_total": _c("orders cancelled", "instance"),
    "traderagent_order_errors_total": _c("orders the exchange refused or that failed, by reason", "reason"),
    "traderagent_risk_blocks_total": _c("orders the risk guard refused, resized or flattened, by rule",
                                        "instance", "rule"),
    "traderagent_websocket_reconnects_total": _c("websocket reconnections"),
    "traderagent_exchange_request_duration_seconds": _h("exchange API round trip, by endpoint", "endpoint"),
    "traderagent_loop_iteration_seconds": _h("one iteration of the runner's loop"),
}


#: Exception class names the camel-case split would mangle.
_CLASS_TOKENS = {"DDoSProtection": "ddos_protection"}


def label_token(value: str | BaseException, limit: int = 48) -> str:
    """A bounded, readable label value: an exception becomes its class name in snake case
    (`InsufficientFunds` -> `insufficient_funds`), any string is lower-cased with runs of other characters
    turned into `_`. Keeps free-form error text (order ids, amounts) out of label values."""
    if isinstance(value, BaseException):
        name = type(value).__name__
        text = _CLASS_TOKENS.get(name) or re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name)
    else:
        text = str(value)
    token = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:limit].rstrip("_")
    return token or "unknown"


def epoch_seconds(t: float | int | datetime | Any) -> float:
    """Epoch seconds of a number (already seconds), a timezone-aware datetime or a pandas Timestamp."""
    if isinstance(t, int | float):
        return float(t)
    if isinstance(t, datetime):
        if t.tzinfo is None:
            raise ValueError(f"naive datetime {t!r}: pass a UTC-aware time")
        return t.timestamp()
    raise TypeError(f"expected epoch seconds or an aware datetime, got {type(t).__name__}")


class Metrics:
    """The runner's metrics (see the module docstring); `registry` is this object's own CollectorRegistry.

    `max_silence_seconds`: how long the loop may go without an iteration before `/health` says 503.
    `timeframe_seconds`: the base bar's length, exported so the data-stale alert can compare the lag with it.
    `clock` (monotonic) and `wall` (epoch seconds) are injectable for tests.
    """

    def __init__(self, *, max_silence_seconds: float = 120.0, timeframe_seconds: float | None = None,
                 version: str | None = None, process: bool = True,
                 clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time) -> None:
        if not max_silence_seconds > 0:
            raise ValueError(f"max_silence_seconds must be positive (got {max_silence_seconds})")
        self.registry = CollectorRegistry(auto_describe=True)
        self.max_silence_seconds = float(max_silence_seconds)
        self._clock, self._wall = clock, wall
        self._lock = threading.Lock()
        self._m: dict[str, Any] = {name: _build(name, spec, self.registry) for name, spec in METRICS.items()}
        self._last_iteration = clock()
        self._iterations = 0
        self._last_bar: dict[str, float] = {}
        self._ready = dict.fromkeys(READY_CHECKS, False)
        self._symbols: dict[str, set[str]] = {}
        if process:
            ProcessCollector(registry=self.registry)
        if version is None:
            from traderagent import __version__ as version
        self._m["traderagent_build_info"].labels(version).set(1)
        if timeframe_seconds is not None:
            if not timeframe_seconds > 0:
                raise ValueError(f"timeframe_seconds must be positive (got {timeframe_seconds})")
            self._m["traderagent_bar_timeframe_seconds"].set(float(timeframe_seconds))
        self._m["traderagent_loop_last_iteration_timestamp_seconds"].set(wall())

    @classmethod
    def for_live(cls, live: Any, **kwargs: Any) -> Metrics:
        """Metrics for a runner configured by the `live` section (its health window and base timeframe)."""
        from traderagent.data.timeframes import seconds

        return cls(max_silence_seconds=live.health_max_silence_seconds,
                   timeframe_seconds=seconds(live.timeframe), **kwargs)

    # ------------------------------------------------------------------------------------------ account
    def portfolio(self, value: float) -> None:
        """Account value in the quote currency."""
        self._m["traderagent_portfolio_value_quote"].set(float(value))

    def instance(self, name: str, *, equity: float | None = None, drawdown: float | None = None,
                 position: float | None = None, symbol: str | None = None, open_orders: int | None = None,
                 state: str | None = None, stage: float | None = None,
                 daily_loss_limit_reached: bool | None = None, drawdown_limit: float | None = None) -> None:
        """Set what is given of one strategy instance's gauges (None leaves a gauge as it was).

        drawdown and drawdown_limit are fractions (0.1 = 10%); position is in the base currency of `symbol`;
        state one of STATES; stage the fraction of the allocation deployed (0.05, 0.25, 1.0)."""
        if not name:
            raise ValueError("instance name is empty")
        m = self._m
        with self._lock:
            first = name not in self._symbols
            symbols = self._symbols.setdefault(name, set())
        if first:
            self._zero_counters(name)
        if equity is not None:
            m["traderagent_instance_equity_quote"].labels(name).set(float(equity))
        if drawdown is not None:
            m["traderagent_instance_drawdown_ratio"].labels(name).set(_fraction("drawdown", drawdown))
        if drawdown_limit is not None:
            m["traderagent_instance_drawdown_limit_ratio"].labels(name).set(_fraction("drawdown_limit",
                                                                                      drawdown_limit))
        if position is not None:
            if not symbol:
                raise ValueError(f"instance {name!r}: a position needs its symbol")
            m["traderagent_instance_position_base"].labels(name, symbol).set(float(position))
            with self._lock:
                symbols.add(symbol)
        if open_orders is not None:
            if open_orders < 0:
                raise ValueError(f"instance {name!r}: open_orders must be >= 0 (got {open_orders})")
            m["traderagent_open_orders"].labels(name).set(int(open_orders))
        if state is not None:
            if state not in STATES:
                raise ValueError(f"instance {name!r}: unknown state {state!r}; one of {', '.join(STATES)}")
            for s in STATES:
                m["traderagent_instance_state"].labels(name, s).set(1 if s == state else 0)
        if stage is not None:
            m["traderagent_instance_stage_ratio"].labels(name).set(_fraction("stage", stage))
        if daily_loss_limit_reached is not None:
            m["traderagent_daily_loss_limit_reached"].labels(name).set(1 if daily_loss_limit_reached else 0)

    def _zero_counters(self, name: str) -> None:
        """Create a new instance's counters at 0, so `increase()` counts its first fill, trade or block (a series
        that appears at 1 has no earlier sample to increase from)."""
        from traderagent.core.risk_nb import RULE_NAMES

        m = self._m
        for metric in ("traderagent_trades_total", "traderagent_orders_placed_total",
                       "traderagent_orders_cancelled_total"):
            m[metric].labels(name)
        for side in SIDES:
            m["traderagent_fills_total"].labels(name, side)
        for rule in RULE_NAMES:
            m["traderagent_risk_blocks_total"].labels(name, rule)

    def remove_instance(self, name: str) -> None:
        """Drop an instance's gauges (it was removed from the config); its counters keep their totals."""
        with self._lock:
            symbols = self._symbols.pop(name, set())
        second = {"symbol": sorted(symbols), "state": STATES}
        for metric_name, spec in METRICS.items():
            if spec.kind != "gauge" or spec.labels[:1] != ("instance",):
                continue
            combos = [(name,)] if len(spec.labels) == 1 else [(name, v) for v in second[spec.labels[1]]]
            for labels in combos:
                try:
                    self._m[metric_name].remove(*labels)
                except KeyError:  # never set
                    pass

    # ------------------------------------------------------------------------------------------- events
    def trade(self, instance: str, n: int = 1) -> None:
        """`n` round-trip trades of `instance` closed."""
        self._m["traderagent_trades_total"].labels(instance).inc(n)

    def fill(self, instance: str, side: str) -> None:
        """One fill (`side` buy or sell)."""
        if side not in SIDES:
            raise ValueError(f"fill side must be buy or sell (got {side!r})")
        self._m["traderagent_fills_total"].labels(instance, side).inc()

    def order_placed(self, instance: str) -> None:
        """The exchange accepted one of `instance`'s orders."""
        self._m["traderagent_orders_placed_total"].labels(instance).inc()

    def order_cancelled(self, instance: str) -> None:
        """One of `instance`'s orders was cancelled."""
        self._m["traderagent_orders_cancelled_total"].labels(instance).inc()

    def order_error(self, reason: str | BaseException) -> str:
        """An order was refused or failed: `reason` a short token or the exception (see `label_token`).
        Returns the label value used."""
        token = label_token(reason)
        self._m["traderagent_order_errors_total"].labels(token).inc()
        return token

    def risk_block(self, instance: str, rule: str) -> None:
        """The risk guard blocked one of `instance`'s orders by `rule` (core.risk_nb.RULE_NAMES)."""
        self._m["traderagent_risk_blocks_total"].labels(instance, label_token(rule)).inc()

    def request(self, endpoint: str, seconds: float) -> None:
        """One exchange API round trip (`endpoint` the port's method, e.g. create_order) that took `seconds`."""
        self._m["traderagent_exchange_request_duration_seconds"].labels(label_token(endpoint)).observe(
            max(0.0, float(seconds)))

    def reconnect(self) -> None:
        """The websocket reconnected."""
        self._m["traderagent_websocket_reconnects_total"].inc()

    # -------------------------------------------------------------------------------------- loop, bars
    def bar(self, close_time: float | datetime, now: float | datetime, symbol: str = "") -> None:
        """A closed bar of `symbol` (closing at `close_time`) was stepped on at `now` (the runner's clock).
        The exported last-bar time and lag are the stalest symbol's."""
        close = epoch_seconds(close_time)
        with self._lock:
            self._last_bar[symbol] = max(close, self._last_bar.get(symbol, -math.inf))
        if symbol:
            self._m["traderagent_symbol_last_bar_timestamp_seconds"].labels(symbol).set(self._last_bar[symbol])
        self._refresh_lag(epoch_seconds(now))

    def loop(self, seconds: float, now: float | datetime | None = None) -> None:
        """One loop iteration that took `seconds`; `now` is the runner's clock (a replay's simulated time, by
        default the wall clock) and refreshes the bar lag. Call it on idle wake-ups too: `/health` reads it."""
        self._m["traderagent_loop_iteration_seconds"].observe(max(0.0, float(seconds)))
        self._m["traderagent_loop_last_iteration_timestamp_seconds"].set(self._wall())
        with self._lock:
            self._last_iteration = self._clock()
            self._iterations += 1
        self._refresh_lag(self._wall() if now is None else epoch_seconds(now))

    def _refresh_lag(self, now: float) -> None:
        with self._lock:
            if not self._last_bar:
                return
            stalest = min(self._last_bar.values())
        self._m["traderagent_last_bar_timestamp_seconds"].set(stalest)
        self._m["traderagent_bar_lag_seconds"].set(max(0.0, now - stalest))

    # ------------------------------------------------------------------------------------------- health
    def health(self, *, markets_loaded: bool | None = None, data_fresh: bool | None = None,
               database_up: bool | None = None) -> None:
        """Set the readiness inputs that are given (None leaves one as it was)."""
        given = {"markets_loaded": markets_loaded, "data_fresh": data_fresh, "database_up": database_up}
        with self._lock:
            for key, value in given.items():
                if value is not None:
                    self._ready[key] = bool(value)
                    self._m[f"traderagent_{key}"].set(1 if value else 0)

    def liveness(self) -> tuple[bool, dict[str, Any]]:
        """(alive, body of /health)."""
        with self._lock:
            age = max(0.0, self._clock() - self._last_iteration)
            iterations = self._iterations
        alive = age <= self.max_silence_seconds
        return alive, {"status": "ok" if alive else "stalled", "seconds_since_last_iteration": round(age, 3),
                       "max_silence_seconds": self.max_silence_seconds, "iterations": iterations}

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        """(ready, body of /ready): every READY_CHECKS input true; `not_ready` names the ones that are not."""
        with self._lock:
            checks = dict(self._ready)
        missing = [k for k in READY_CHECKS if not checks[k]]
        return not missing, {"status": "ready" if not missing else "not ready", **checks, "not_ready": missing}

    # ------------------------------------------------------------------------------------------ reading
    def exposition(self) -> str:
        """The registry in Prometheus' text format (what /metrics serves without content negotiation)."""
        return generate_latest(self.registry).decode()

    def value(self, name: str, **labels: str) -> float | None:
        """The current value of one sample (a counter under its `_total` name), or None if absent."""
        return self.registry.get_sample_value(name, labels)


def _fraction(what: str, value: float) -> float:
    v = float(value)
    if not 0.0 <= v <= 1.0:
        raise ValueError(f"{what} is a fraction between 0 and 1 (got {value!r})")
    return v


def _build(name: str, spec: MetricSpec, registry: CollectorRegistry) -> Any:
    if spec.kind == "gauge":
        return Gauge(name, spec.help, spec.labels, registry=registry)
    if spec.kind == "counter":
        return Counter(name.removesuffix("_total"), spec.help, spec.labels, registry=registry)
    buckets = LOOP_BUCKETS if name == "traderagent_loop_iteration_seconds" else REQUEST_BUCKETS
    return Histogram(name, spec.help, spec.labels, buckets=buckets, registry=registry)
