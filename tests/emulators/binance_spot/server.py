"""BinanceSpotEmulator: one aiohttp server (REST + websockets on one port) in a thread with its own loop.

Every piece of state (book, clock, connections) is touched only on the server's loop: public methods called
from a test thread run there through `_call` and return when done (an `advance_to` returns after its
websocket messages have been written), so sync and async tests see a consistent exchange.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import threading
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import pandas as pd
from aiohttp import web

from emulators.binance import CCXT_OPTIONS, INTERVAL_MS

from .book import Book, Market
from .candles import Series
from .errors import ApiError, check_timestamp, check_ws_signature
from .faults import ORDER_PATH, Faults, HttpFault
from .rest import RestApi
from .streams import KINDS, Conn, Streams


class BinanceSpotEmulator:
    """A local Binance spot exchange for the real ccxt clients. See the package docstring for the whole API."""

    def __init__(self, now_ms: int = 0, *, balances: dict[str, float | str] | None = None, fee_rate: float = 0.001,
                 slippage: float = 0.0002, api_key: str = "emulator-api-key", secret: str = "emulator-secret",
                 weight_limit: int = 6000, retry_after: int = 60, host: str = "127.0.0.1", port: int = 0) -> None:  # fmt: skip
        self._now = int(now_ms)
        self.book = Book(Decimal(str(fee_rate)), Decimal(str(slippage)))
        for asset, amount in (balances or {}).items():
            self.book.balances[asset][0] = Decimal(str(amount))
        self.api_key, self.secret = api_key, secret
        self.weight_limit, self.retry_after = weight_limit, retry_after
        self.faults = Faults()
        self.streams = Streams(self.faults.counts)
        self.requests: list[tuple[str, str, dict[str, str]]] = []  # (method, path, params without signature)
        self._weight: Counter = Counter()  # minute of the emulator clock -> weight used
        self._host, self._port = host, port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._released: asyncio.Event | None = None

    # --- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> BinanceSpotEmulator:
        loop = asyncio.new_event_loop()
        future = asyncio.run_coroutine_threadsafe(self._startup(), loop)
        self._thread = threading.Thread(target=loop.run_forever, name="binance-spot-emulator", daemon=True)
        self._thread.start()
        try:
            future.result(timeout=10)
        except BaseException:
            loop.call_soon_threadsafe(loop.stop)
            self._thread.join(timeout=5)
            loop.close()
            raise
        self._loop = loop
        return self

    async def _startup(self) -> None:
        app = web.Application()
        app.router.add_get("/stream/ws", self._market_ws)
        app.router.add_get("/stream/ws/{tail:.*}", self._market_ws)
        app.router.add_get("/ws-api/v3", self._api_ws)
        app.router.add_route("*", "/{tail:.*}", RestApi(self).handle)
        self._released = asyncio.Event()
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        self._port = self._runner.addresses[0][1]

    def stop(self) -> None:
        if self._loop is None:
            return
        loop, self._loop = self._loop, None
        asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout=15)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=5)
        loop.close()

    async def _shutdown(self) -> None:
        if self._released is not None:
            self._released.set()  # held responses go out (to clients long gone)
        await self.streams.close_all()
        if self._runner is not None:
            await self._runner.cleanup()

    def __enter__(self) -> BinanceSpotEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://{self._host}:{self._port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self._host}:{self._port}"

    def _call(self, fn: Callable, *args: Any) -> Any:
        """Run fn(*args) (awaited if it returns a coroutine) on the server loop and return its result."""

        async def run() -> Any:
            result = fn(*args)
            return await result if inspect.isawaitable(result) else result

        if self._loop is None:
            return asyncio.run(run())  # not started: nothing is connected, a private loop will do
        if threading.current_thread() is self._thread:
            raise RuntimeError("emulator methods are for tests; call them from outside the server loop")
        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout=30)

    async def hold(self, seconds: float | None) -> None:
        """Wait `seconds` (None: until the emulator stops), ending early when it stops."""
        assert self._released is not None
        try:
            await asyncio.wait_for(self._released.wait(), seconds)
        except TimeoutError:
            pass

    # --- clock ---------------------------------------------------------------------------------------
    def now(self) -> int:
        """The exchange clock (ms). Clients built here sign their requests with it."""
        return self._now

    def advance_to(self, ms: int) -> None:
        """Move the clock forward: match the bars that close on the way, send the kline and user events."""
        self._call(self._advance, int(ms))

    def step(self, bars: int = 1, interval: str | None = None) -> int:
        """Advance to the `bars`-th next boundary of `interval` (default: the finest registered); returns it."""
        steps = [s.step for m in self.book.markets.values() for s in m.series.values()]
        size = INTERVAL_MS[interval] if interval else min(steps)
        target = (self._now // size + bars) * size
        self.advance_to(target)
        return target

    async def _advance(self, t1: int) -> None:
        t0 = self._now
        if t1 < t0:
            raise ValueError(f"the emulator clock only moves forward: {t1} < {t0}")
        kline = []
        for m in self.book.markets.values():
            for interval, series in m.series.items():
                stream = f"{m.market_id.lower()}@kline_{interval}"
                if self.streams.wants(stream):
                    for t, rank, i in series.updates(t0, t1):
                        kline.append(((t, rank), stream, series.kline_event(m.market_id, i, t)))
        kline.sort(key=lambda item: item[0])
        closing = sorted((int(s.open_ms[i]) + s.step, m.market_id, i)
                         for m in self.book.markets.values() if (s := m.matching) is not None
                         for i in s.closing(t0, t1))  # fmt: skip
        user: list[dict] = []
        for close, market_id, i in closing:
            user += self.book.match_bar(self.book.markets[market_id], i, close)
        self._now = t1
        await self.streams.publish("market", [(stream, event) for _, stream, event in kline])
        await self.streams.publish("user", [(None, event) for event in user])

    # --- market data and account -----------------------------------------------------------------------
    def add_candles(self, symbol: str, interval: str, df: pd.DataFrame, match: bool = False) -> None:
        """Serve `df` (UTC open-time index, OHLCV) as `symbol` klines; match=True: the engine fills on these."""
        series = Series.from_frame(interval, df)
        self._call(self._add_series, symbol, series, match)

    def _add_series(self, symbol: str, series: Series, match: bool) -> None:
        base, quote = symbol.split("/")
        m = self.book.markets.setdefault(base + quote, Market(base + quote, base, quote))
        m.series[series.interval] = series
        if match:
            m.match_interval = series.interval

    def set_filters(self, symbol: str, **values: str | float) -> None:
        """Change some of a symbol's filters: tick_size, min_price, max_price, step_size, min_qty, max_qty,
        min_notional, max_notional (the others stay)."""
        market = self.book.markets[symbol.replace("/", "")]
        changed = {k: Decimal(str(v)) for k, v in values.items()}
        self._call(lambda: setattr(market, "filters", dataclasses.replace(market.filters, **changed)))

    def set_balance(self, asset: str, free: float | str) -> None:
        self._call(lambda: self.book.balances[asset].__setitem__(0, Decimal(str(free))))

    def balances(self) -> dict[str, tuple[Decimal, Decimal]]:
        """{asset: (free, locked)}."""
        return self._call(lambda: {a: (f, lk) for a, (f, lk) in self.book.balances.items()})

    def orders_by_client_id(self) -> dict[str, list[dict]]:
        """Every order POST received, by newClientOrderId: [{time, symbol, side, type, order_id, error}, ...]."""
        return self._call(lambda: {k: [dict(r) for r in v] for k, v in self.book.received.items()})

    def fills(self) -> list[dict]:
        """Every fill so far, in order."""
        return self._call(lambda: [vars(t).copy() for t in self.book.trades])

    def orders(self) -> list[dict]:
        return self._call(lambda: [o.fields() for o in self.book.orders.values()])

    # --- request accounting ----------------------------------------------------------------------------
    def count_request(self, method: str, path: str, params: dict[str, str], weight: int) -> int:
        self.requests.append((method, path, {k: v for k, v in params.items() if k != "signature"}))
        minute = self._now // 60_000
        self._weight[minute] += weight
        return self._weight[minute]

    def count(self, path: str, method: str | None = None) -> int:
        return sum(1 for m, p, _ in list(self.requests) if p == path and method in (None, m))

    def weight_per_minute(self) -> dict[int, int]:
        """{minute start (ms, emulator clock): request weight used in it}."""
        return self._call(lambda: {minute * 60_000: w for minute, w in sorted(self._weight.items())})

    def fault_counts(self) -> dict[str, int]:
        return self._call(lambda: dict(self.faults.counts))

    # --- fault switches --------------------------------------------------------------------------------
    def fail_next(self, status: int, path: str | None = None, times: int = 1, method: str | None = None) -> None:
        """The next `times` requests (to `path`, any if None) get HTTP `status`: 418/429 -1003, 5xx gateway page."""
        self._call(self.faults.add, HttpFault("status", path, method, times, status=status))

    def delay_next(self, seconds: float, path: str | None = None, times: int = 1, method: str | None = None) -> None:
        """The next `times` requests are handled only after `seconds` (longer than the client's timeout)."""
        self._call(self.faults.add, HttpFault("delay", path, method, times, seconds=seconds))

    def reject_next_order(self, code: int = -2010, msg: str | None = None, times: int = 1,
                          status: int | None = None) -> None:  # fmt: skip
        """The next `times` order POSTs are refused with Binance error `code` (default message per code)."""
        error = ApiError(code, msg, status)
        self._call(self.faults.add, HttpFault("reject", ORDER_PATH, "POST", times, error=error))

    def lose_next_order_response(self, times: int = 1) -> None:
        """The next `times` order POSTs are placed, but their responses are held until the emulator stops."""
        self._call(self.faults.add, HttpFault("lose", ORDER_PATH, "POST", times))

    def partial_fills(self, fraction: float | None) -> None:
        """Resting limits fill at most `fraction` of their quantity per bar (None: in full)."""
        self._call(setattr, self.book, "partial_fraction", None if fraction is None else Decimal(str(fraction)))

    def drop_streams(self, kind: str = "market") -> int:
        """Close every websocket of `kind` ("market" or "user") from the server side; returns how many."""
        return self._call(self.streams.drop, _kind(kind))

    def duplicate_next(self, n: int = 1, kind: str = "market") -> None:
        self._call(self.streams.duplicate.__setitem__, _kind(kind), n)

    def reorder_next(self, n: int = 2, kind: str = "market") -> None:
        self._call(self.streams.reorder.__setitem__, _kind(kind), n)

    def silence(self, seconds: float, kind: str = "market") -> None:
        """Websockets of `kind` stay open but send nothing and answer no pings for `seconds` (real time)."""
        self._call(self.streams.silence, _kind(kind), seconds)

    def subscribers(self, kind: str = "market") -> int:
        return self._call(self.streams.subscribers, _kind(kind))

    # --- websockets ----------------------------------------------------------------------------------
    async def _market_ws(self, request: web.Request) -> web.StreamResponse:
        async def on_text(conn: Conn, data: Any) -> None:
            await self.streams.market_message(conn, data, self._snapshot)

        return await self.streams.serve(request, "market", on_text)

    def _snapshot(self, stream: str) -> dict | None:
        """The forming candle of a kline stream ("btcusdt@kline_15m") at the clock, if there is one."""
        name, _, interval = stream.partition("@kline_")
        m = next((m for m in self.book.markets.values() if m.market_id.lower() == name), None)
        series = m.series.get(interval) if m else None
        i = series.forming(self._now) if series else None
        return series.kline_event(m.market_id, i, self._now) if i is not None else None  # type: ignore[union-attr]

    async def _api_ws(self, request: web.Request) -> web.StreamResponse:
        async def on_text(conn: Conn, data: Any) -> None:
            await self.streams.api_message(conn, data, self._api_call)

        return await self.streams.serve(request, "user", on_text)

    def _api_call(self, conn: Conn, method: str, params: dict) -> dict:
        if method == "userDataStream.subscribe.signature":
            if params.get("apiKey") != self.api_key:
                raise ApiError(-2015)
            check_ws_signature(self.secret, params)
            check_timestamp(params, self._now)
            return {"subscriptionId": self.streams.subscribe_user(conn)}
        if method == "userDataStream.unsubscribe":
            conn.sub_id = None
            return {}
        if method == "ping":
            return {}
        if method == "time":
            return {"serverTime": self._now}
        raise ApiError(-1020, "This operation is not supported.")

    # --- ccxt clients ----------------------------------------------------------------------------------
    def _config(self, config: dict) -> dict:
        options = {**CCXT_OPTIONS, **config.pop("options", {})}
        return {"apiKey": self.api_key, "secret": self.secret, "enableRateLimit": True, "options": options, **config}

    def rest_client(self, **config: Any) -> Any:
        """A real ccxt.async_support.binance (spot only, rate limit on) pointed at the emulator."""
        import ccxt.async_support as ccxt_async

        return self.connect(ccxt_async.binance(self._config(config)))

    def pro_client(self, **config: Any) -> Any:
        """A real ccxt.pro.binance: REST, the kline stream and the WebSocket API all go to the emulator."""
        import ccxt.pro

        return self.connect(ccxt.pro.binance(self._config(config)))

    def sync_client(self, **config: Any) -> Any:
        import ccxt

        return self.connect(ccxt.binance(self._config(config)))

    def connect(self, exchange: Any, clock: bool = True) -> Any:
        """Point a ccxt binance's URLs at the emulator (REST paths kept; spot websockets to /stream/ws and
        /ws-api/v3, other market types to paths that do not exist); clock=True: it signs with our clock."""
        api = exchange.urls["api"]
        for key, url in list(api.items()):
            if isinstance(url, str):
                api[key] = self.base_url + urlsplit(url).path
        if isinstance(api.get("ws"), dict):
            ws = {key: f"{self.ws_url}/unsupported/{key}" for key in api["ws"] if key != "ws-api"}
            ws["spot"] = f"{self.ws_url}/stream/ws"  # ccxt reads klines as spot only on a url holding "/stream"
            ws["ws-api"] = {"spot": f"{self.ws_url}/ws-api/v3"}
            api["ws"] = ws
        if clock:
            exchange.nonce = self.now  # a client in sync with the exchange's (test-driven) clock
        return exchange


def _kind(kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"stream kind must be one of {KINDS}, got {kind!r}")
    return kind
