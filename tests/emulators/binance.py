"""A small Binance spot REST emulator on 127.0.0.1 for the real ccxt client.

Serves, from candle DataFrames you register:
  GET /api/v3/ping           {}
  GET /api/v3/time           {"serverTime": now}
  GET /api/v3/exchangeInfo   one spot market per registered symbol
  GET /api/v3/klines         symbol, interval, startTime, endTime (inclusive), limit (default 500, max 1000)

Only candles that have opened by the emulator's clock (`now_ms`, default: the real time) are served, so
the last one served can be still forming, as on the real exchange. Switches inject failures into the
next requests of a path: an HTTP status (429, 503, ...) or a delay longer than the client's timeout.
Every request is logged in `requests` as (path, query).

Usage:
    with BinanceEmulator(now_ms=...) as emu:
        emu.add_candles("BTC/USDT", "15m", df)
        ex = emu.client()              # a real ccxt.binance pointed at the emulator
        ex.fetch_ohlcv("BTC/USDT", "15m", since=...)
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import numpy as np
import pandas as pd

INTERVAL_MS = {
    "1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000,
    "1h": 3_600_000, "2h": 7_200_000, "4h": 14_400_000, "6h": 21_600_000, "8h": 28_800_000,
    "12h": 43_200_000, "1d": 86_400_000, "3d": 259_200_000, "1w": 604_800_000,
}  # fmt: skip
CCXT_OPTIONS = {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False, "fetchMargins": False}


@dataclass
class _Fault:
    path: str
    status: int | None = None  # respond with this HTTP status
    body: Any = None  # and this body (default: what Binance or its gateway sends for that status)
    delay: float = 0.0  # sleep this long before answering
    times: int = 1


@dataclass
class _Series:
    open_ms: np.ndarray  # int64, ascending
    values: np.ndarray  # float64 (n, 5): open, high, low, close, volume


def _num(v: float) -> str:
    return repr(float(v))  # exact round trip, as Binance's decimal strings are for its own values


class BinanceEmulator:
    def __init__(self, now_ms: int | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.now_ms = now_ms
        self.requests: list[tuple[str, dict[str, str]]] = []
        self._series: dict[tuple[str, str], _Series] = {}
        self._markets: dict[str, tuple[str, str]] = {}  # id -> (base, quote)
        self._faults: list[_Fault] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, port), _Handler)
        self._server.daemon_threads = True
        self._server.emulator = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None

    # --- lifecycle -------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> BinanceEmulator:
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="binance-emulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> BinanceEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- data and switches -----------------------------------------------------------------------
    def now(self) -> int:
        return int(self.now_ms) if self.now_ms is not None else int(time.time() * 1000)

    def add_candles(self, symbol: str, interval: str, df: pd.DataFrame) -> None:
        """Serve `df` (UTC open-time index, open/high/low/close/volume) as `symbol` klines of `interval`."""
        if interval not in INTERVAL_MS:
            raise ValueError(f"Binance has no {interval} interval")
        base, quote = symbol.split("/")
        market_id = base + quote
        open_ms = df.index.as_unit("ns").asi8 // 1_000_000
        values = df[["open", "high", "low", "close", "volume"]].to_numpy(np.float64)
        with self._lock:
            self._markets[market_id] = (base, quote)
            self._series[(market_id, interval)] = _Series(open_ms.astype(np.int64), values)

    def fail_next(self, status: int, path: str = "/api/v3/klines", times: int = 1, body: Any = None) -> None:
        """The next `times` requests to `path` get HTTP `status` (429 rate limit, 503 unavailable, ...).

        The default body is Binance's for 429/418 (JSON code -1003) and a gateway's plain text for others.
        """
        with self._lock:
            self._faults.append(_Fault(path, status=status, body=body, times=times))

    def delay_next(self, seconds: float, path: str = "/api/v3/klines", times: int = 1) -> None:
        """The next `times` requests to `path` are answered only after `seconds` (to trigger client timeouts)."""
        with self._lock:
            self._faults.append(_Fault(path, delay=seconds, times=times))

    def count(self, path: str) -> int:
        with self._lock:
            return sum(1 for p, _ in self.requests if p == path)

    def client(self, **config: Any) -> Any:
        """A real `ccxt.binance` (spot markets only, no currency/margin calls) talking to this emulator."""
        import ccxt

        options = {**CCXT_OPTIONS, **config.pop("options", {})}
        return self.connect(ccxt.binance({"enableRateLimit": True, "options": options, **config}))

    def connect(self, exchange: Any) -> Any:
        """Point every API URL of a ccxt exchange at the emulator, keeping each URL's path."""
        api = exchange.urls["api"]
        for key, url in list(api.items()):
            if isinstance(url, str):
                api[key] = self.base_url + urlsplit(url).path
        return exchange

    # --- request handling (called from server threads) -------------------------------------------
    def _take_fault(self, path: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.path == path and fault.times > 0:
                    fault.times -= 1
                    if fault.times == 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def handle(self, path: str, query: dict[str, str]) -> tuple[int, Any]:
        with self._lock:
            self.requests.append((path, dict(query)))
        fault = self._take_fault(path)
        if fault is not None:
            time.sleep(fault.delay)
            if fault.status is not None:
                return fault.status, fault.body if fault.body is not None else _fault_body(fault.status)
        routes = {
            "/api/v3/ping": lambda q: (200, {}),
            "/api/v3/time": lambda q: (200, {"serverTime": self.now()}),
            "/api/v3/exchangeInfo": self._exchange_info,
            "/api/v3/klines": self._klines,
        }
        route = routes.get(path)
        if route is None:
            return 404, {"code": -1000, "msg": f"unknown path {path}"}
        return route(query)

    def _exchange_info(self, query: dict[str, str]) -> tuple[int, Any]:
        with self._lock:
            markets = dict(self._markets)
        symbols = [market_info(mid, base, quote) for mid, (base, quote) in sorted(markets.items())]
        return 200, {"timezone": "UTC", "serverTime": self.now(), "rateLimits": [], "exchangeFilters": [],
                     "symbols": symbols}  # fmt: skip

    def _klines(self, q: dict[str, str]) -> tuple[int, Any]:
        symbol, interval = q.get("symbol", ""), q.get("interval", "")
        if symbol not in self._markets:
            return 400, {"code": -1121, "msg": "Invalid symbol."}
        if interval not in INTERVAL_MS:
            return 400, {"code": -1120, "msg": "Invalid interval."}
        try:
            limit = int(q.get("limit", 500))
            start = int(q["startTime"]) if "startTime" in q else None
            end = int(q["endTime"]) if "endTime" in q else None
        except ValueError:
            return 400, {"code": -1100, "msg": "Illegal characters found in a parameter."}
        if not 1 <= limit <= 1000:
            return 400, {"code": -1130, "msg": "Invalid data sent for a parameter: limit"}
        series = self._series.get((symbol, interval))
        if series is None:
            return 200, []
        t = series.open_ms
        hi = int(np.searchsorted(t, min(self.now(), end if end is not None else self.now()), side="right"))
        lo = int(np.searchsorted(t, start, side="left")) if start is not None else max(0, hi - limit)
        rows = range(lo, min(hi, lo + limit))
        step = INTERVAL_MS[interval]
        out = []
        for i in rows:
            o, h, low, c, v = series.values[i]
            ot = int(t[i])
            # open time, o, h, l, c, volume, close time, quote volume, trades, taker base, taker quote, ignore
            out.append([ot, *map(_num, (o, h, low, c, v)), ot + step - 1, _num(v * c), 1, "0", "0", "0"])
        return 200, out


def _fault_body(status: int) -> Any:
    if status in (418, 429):
        return {
            "code": -1003,
            "msg": "Too much request weight used; please use WebSocket Streams for live updates.",
        }
    return RawBody(f"<html><body><h1>{status} Service Unavailable</h1></body></html>", "text/html")


@dataclass(frozen=True)
class RawBody:
    """A non-JSON response body (what a gateway in front of the API sends on errors)."""

    text: str
    content_type: str = "text/plain"


DEFAULT_FILTERS = [
    {"filterType": "PRICE_FILTER", "minPrice": "0.01000000", "maxPrice": "1000000.00000000", "tickSize": "0.01000000"},
    {"filterType": "LOT_SIZE", "minQty": "0.00001000", "maxQty": "9000.00000000", "stepSize": "0.00001000"},
    {"filterType": "NOTIONAL", "minNotional": "5.00000000", "applyMinToMarket": True,
     "maxNotional": "9000000.00000000", "applyMaxToMarket": False, "avgPriceMins": 5},
]  # fmt: skip
DEFAULT_ORDER_TYPES = ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"]


def market_info(
    market_id: str, base: str, quote: str, filters: list[dict] | None = None, order_types: list[str] | None = None
) -> dict[str, Any]:
    """One `symbols` entry of exchangeInfo, as Binance spot sends it (status TRADING, filters, order types)."""
    return {
        "symbol": market_id,
        "status": "TRADING",
        "baseAsset": base,
        "baseAssetPrecision": 8,
        "quoteAsset": quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": list(order_types or DEFAULT_ORDER_TYPES),
        "icebergAllowed": True,
        "ocoAllowed": True,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": True,
        "cancelReplaceAllowed": True,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": [dict(f) for f in (filters or DEFAULT_FILTERS)],
        "permissions": [],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }


class _Handler(BaseHTTPRequestHandler):
    server_version = "BinanceEmulator/1"
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        url = urlsplit(self.path)
        emulator: BinanceEmulator = self.server.emulator  # type: ignore[attr-defined]
        status, body = emulator.handle(url.path, dict(parse_qsl(url.query)))
        if isinstance(body, RawBody):
            data, ctype = body.text.encode(), body.content_type
        else:
            data, ctype = json.dumps(body).encode(), "application/json;charset=UTF-8"
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test); nothing to answer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server API
        pass
