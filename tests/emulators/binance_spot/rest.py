"""The emulator's REST API (Binance spot /api/v3), with request weight, HTTP faults and SIGNED checks.

Endpoint                      weight  signed
GET    /api/v3/ping               1
GET    /api/v3/time               1
GET    /api/v3/exchangeInfo      20           symbol (optional)
GET    /api/v3/klines             2           symbol, interval, startTime, endTime, limit (500, max 1000)
GET    /api/v3/account           20    yes    omitZeroBalances
POST   /api/v3/order              1    yes    LIMIT (GTC/IOC/FOK), MARKET (quantity | quoteOrderQty),
                                              STOP_LOSS / TAKE_PROFIT (SELL, stopPrice), newClientOrderId,
                                              newOrderRespType (ACK/RESULT/FULL; default FULL for LIMIT and
                                              MARKET, ACK otherwise)
GET    /api/v3/order              4    yes    orderId | origClientOrderId
DELETE /api/v3/order              1    yes    orderId | origClientOrderId, newClientOrderId
GET    /api/v3/openOrders       6/80   yes    symbol (optional: 80 without)
DELETE /api/v3/openOrders         1    yes    symbol
GET    /api/v3/allOrders         20    yes    symbol, orderId, startTime, endTime, limit
GET    /api/v3/myTrades        20/5    yes    symbol, orderId, fromId, startTime, endTime, limit

Every answer carries X-MBX-USED-WEIGHT-1M: the weight used in the current minute of the emulator's clock
(the shadow run replays faster than real time, so weight is counted per minute of exchange time). Past
`weight_limit` (6000) a request gets 429 -1003 with Retry-After until the next minute.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from aiohttp import web

from emulators.binance import INTERVAL_MS, RawBody, market_info

from .errors import MESSAGES, ApiError, check_rest_signature, check_timestamp, int_param, mandatory
from .faults import ORDER_PATH, status_answer

if TYPE_CHECKING:
    from .server import BinanceSpotEmulator

ORDER_TYPES = ["LIMIT", "MARKET", "STOP_LOSS", "TAKE_PROFIT"]  # what the emulator fills (exchangeInfo says so)
RATE_LIMITS = [
    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
    {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
    {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
]
# (method, path) -> (weight or weight(params), signed, handler name)
ROUTES: dict[tuple[str, str], tuple[int | Callable[[dict], int], bool, str]] = {
    ("GET", "/api/v3/ping"): (1, False, "ping"),
    ("GET", "/api/v3/time"): (1, False, "time"),
    ("GET", "/api/v3/exchangeInfo"): (20, False, "exchange_info"),
    ("GET", "/api/v3/klines"): (2, False, "klines"),
    ("GET", "/api/v3/account"): (20, True, "account"),
    ("POST", ORDER_PATH): (1, True, "post_order"),
    ("GET", ORDER_PATH): (4, True, "get_order"),
    ("DELETE", ORDER_PATH): (1, True, "delete_order"),
    ("GET", "/api/v3/openOrders"): (lambda p: 6 if p.get("symbol") else 80, True, "open_orders"),
    ("DELETE", "/api/v3/openOrders"): (1, True, "delete_open_orders"),
    ("GET", "/api/v3/allOrders"): (20, True, "all_orders"),
    ("GET", "/api/v3/myTrades"): (lambda p: 5 if p.get("orderId") else 20, True, "my_trades"),
}


def _response(body: Any, status: int = 200, headers: dict | None = None) -> web.Response:
    if isinstance(body, RawBody):
        return web.Response(text=body.text, status=status, content_type=body.content_type, headers=headers)
    return web.Response(text=json.dumps(body), status=status, content_type="application/json", headers=headers)


class RestApi:
    def __init__(self, emu: BinanceSpotEmulator) -> None:
        self.emu = emu
        self.book = emu.book

    async def handle(self, request: web.Request) -> web.StreamResponse:
        emu = self.emu
        raw_query = request.raw_path.partition("?")[2]
        body = await request.text() if request.can_read_body else ""
        params = dict(parse_qsl(raw_query, keep_blank_values=True))
        params.update(parse_qsl(body, keep_blank_values=True))
        route = ROUTES.get((request.method, request.path))
        if route is None:
            return _response(RawBody("<html><body><h1>404 Not Found</h1></body></html>", "text/html"), 404)
        weight, signed, handler = route
        used = emu.count_request(request.method, request.path, params, weight(params) if callable(weight) else weight)
        headers = {"X-MBX-USED-WEIGHT-1M": str(used)}
        try:
            fault = emu.faults.take(("status", "delay"), request.method, request.path)
            if fault is not None and fault.seconds:
                await emu.hold(fault.seconds)
            if fault is not None and fault.status:
                answer = status_answer(fault.status, emu.now(), emu.retry_after)
                if isinstance(answer, ApiError):
                    raise answer
                return _response(answer, fault.status, headers)
            if used > emu.weight_limit:
                emu.faults.counts["weight_limit"] += 1
                retry = (60_000 - emu.now() % 60_000 + 999) // 1000
                msg = MESSAGES[-1003].replace("6000", str(emu.weight_limit))
                raise ApiError(-1003, msg, 429, {"Retry-After": str(retry)})
            if signed:
                self._authenticate(request, params, raw_query, body)
            result = getattr(self, handler)(params)
            if asyncio.iscoroutine(result):
                result = await result
            return _response(result, 200, headers)
        except ApiError as exc:
            return _response(exc.body(), exc.status, {**headers, **exc.headers})

    def _authenticate(self, request: web.Request, params: dict, raw_query: str, body: str) -> None:
        key = request.headers.get("X-MBX-APIKEY")
        if not key:
            raise ApiError(-2014)
        if key != self.emu.api_key:
            raise ApiError(-2015)
        if not params.get("timestamp"):
            raise mandatory("timestamp")
        check_rest_signature(self.emu.secret, raw_query, body)
        check_timestamp(params, self.emu.now())

    # --- public --------------------------------------------------------------------------------------
    def ping(self, p: dict) -> dict:
        return {}

    def time(self, p: dict) -> dict:
        return {"serverTime": self.emu.now()}

    def exchange_info(self, p: dict) -> dict:
        markets = self.book.markets
        wanted = [p["symbol"]] if p.get("symbol") else sorted(markets)
        if any(s not in markets for s in wanted):
            raise ApiError(-1121)
        symbols = [market_info(m.market_id, m.base, m.quote, m.filters.info(), ORDER_TYPES)
                   for m in (markets[s] for s in wanted)]  # fmt: skip
        return {"timezone": "UTC", "serverTime": self.emu.now(), "rateLimits": RATE_LIMITS, "exchangeFilters": [],
                "symbols": symbols}  # fmt: skip

    def klines(self, p: dict) -> list:
        m = self.book.market(p.get("symbol"))
        interval = p.get("interval") or ""
        if not interval:
            raise mandatory("interval")
        if interval not in INTERVAL_MS:
            raise ApiError(-1120, "Invalid interval.")
        limit = int_param(p, "limit", 500)
        start, end = int_param(p, "startTime"), int_param(p, "endTime")
        if not 1 <= limit <= 1000:
            raise ApiError(-1130, "Invalid data sent for a parameter.")
        series = m.series.get(interval)
        if series is None:
            return []
        now = self.emu.now()
        hi = series.opened(min(now, end) if end is not None else now)
        lo = series.opened(start - 1) if start is not None else max(0, hi - limit)
        return [series.kline_row(i, now) for i in range(lo, min(hi, lo + limit))]

    # --- signed --------------------------------------------------------------------------------------
    def account(self, p: dict) -> dict:
        return self.book.account(self.emu.now(), p.get("omitZeroBalances") == "true")

    async def post_order(self, p: dict) -> dict:
        emu = self.emu
        reject = emu.faults.take(("reject",), "POST", ORDER_PATH)
        order, events = self.book.submit(p, emu.now(), reject.error if reject else None)
        await emu.streams.publish("user", [(None, e) for e in events])
        default = "FULL" if order.type in ("LIMIT", "MARKET") else "ACK"
        answer = order.response(p.get("newOrderRespType") or default, emu.now())
        if emu.faults.take(("lose",), "POST", ORDER_PATH) is not None:
            await emu.hold(None)  # placed; the answer never arrives before the client gives up
        return answer

    def get_order(self, p: dict) -> dict:
        return self.book.find(p, ApiError(-2013))[1].fields()

    async def delete_order(self, p: dict) -> dict:
        order, cancel_id, events = self.book.cancel(p, self.emu.now())
        await self.emu.streams.publish("user", [(None, e) for e in events])
        return self._cancelled(order, cancel_id)

    def _cancelled(self, order, cancel_id: str) -> dict:
        fields = order.fields()
        keep = ("symbol", "orderId", "orderListId", "price", "origQty", "executedQty", "cummulativeQuoteQty",
                "status", "timeInForce", "type", "side", "origQuoteOrderQty", "selfTradePreventionMode")  # fmt: skip
        return {"origClientOrderId": order.client_id, "clientOrderId": cancel_id, "transactTime": self.emu.now(),
                **{k: fields[k] for k in keep}}  # fmt: skip

    def open_orders(self, p: dict) -> list:
        symbol = p.get("symbol")
        if symbol:
            self.book.market(symbol)
        return [o.fields() for o in self.book.orders.values() if o.is_open and symbol in (None, "", o.symbol)]

    async def delete_open_orders(self, p: dict) -> list:
        m = self.book.market(p.get("symbol"))
        ids = [o.order_id for o in self.book.orders.values() if o.is_open and o.symbol == m.market_id]
        if not ids:
            raise ApiError(-2011)
        out = []
        for order_id in ids:
            out.append(await self.delete_order({"symbol": m.market_id, "orderId": str(order_id)}))
        return out

    def all_orders(self, p: dict) -> list:
        m = self.book.market(p.get("symbol"))
        limit = int_param(p, "limit", 500)
        from_id, start, end = int_param(p, "orderId", 0), int_param(p, "startTime"), int_param(p, "endTime")
        rows = [o for o in self.book.orders.values() if o.symbol == m.market_id and o.order_id >= from_id
                and (start is None or o.time >= start) and (end is None or o.time <= end)]  # fmt: skip
        return [o.fields() for o in rows[:limit]]

    def my_trades(self, p: dict) -> list:
        return [t.my_trade() for t in self.book.my_trades(p)]
