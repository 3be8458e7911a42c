"""The emulator's exchange core: markets and filters, balances, orders, trades and the matching engine.

Amounts are `Decimal`s (Binance's are decimal strings; floats would drift under many small fills).

Balances: an order locks what it may spend when it is placed: a LIMIT buy locks quantity x price in the
quote asset, a sell (LIMIT, STOP_LOSS, TAKE_PROFIT) locks the quantity in the base asset. Nothing is locked
for fees, because the commission is taken from the asset the fill *receives* (Binance's default without BNB
fee payment): the base asset for buys, the quote asset for sells, at `fee_rate` of the received amount.
MARKET orders lock nothing: they fill at arrival and are checked against the free balance then.

THE FILL RULE (implemented here from the brief's text, independently of traderagent's engine)
  Orders resting at a bar's open are matched when the clock passes that bar's close, against the bar's path
  open -> low -> high -> close. An order takes part from the first bar that opens at or after its placement:
  placed exactly at a bar's open (the clock on the boundary) it takes part in that bar; placed inside a bar,
  from the next one.
  1. At the open, in placement order: a buy LIMIT at or above the open and a sell LIMIT at or below it fill at
     the open (no slippage); a sell STOP_LOSS with stopPrice >= open and a sell TAKE_PROFIT with
     stopPrice <= open fill at open x (1 - slippage).
  2. On the way down, in descending price order (at equal prices a buy limit before a stop): a buy LIMIT at p
     fills at p when low < p; a sell STOP_LOSS at s triggers when low <= s and fills at s x (1 - slippage).
  3. On the way up, in ascending price order (at equal prices a limit before a take-profit): a sell LIMIT at p
     fills at p when high > p; a sell TAKE_PROFIT at p triggers when high >= p, fills at p x (1 - slippage).
  4. Every fill price is clamped to the bar's [low, high]. Limits fill in full unless the partial-fill switch
     is on (then at most that fraction of the original quantity per bar, in step sizes); stops fill in full.
  5. A MARKET order fills at arrival, at the open of the bar forming at the clock (at a boundary: the bar that
     starts there) x (1 + slippage) for buys, x (1 - slippage) for sells, clamped to that bar's [low, high].
  Fill prices are quantized to 8 decimals, not to the tick (so they can equal a paper exchange's).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal

from .candles import FAR_FUTURE, Series, num
from .errors import DUPLICATE_ORDER, INSUFFICIENT_BALANCE, ApiError, decimal_param, int_param, mandatory

D = Decimal
ZERO = D(0)
Q8 = D("0.00000001")
TYPES = ("LIMIT", "MARKET", "STOP_LOSS", "TAKE_PROFIT")
DAY_MS = 86_400_000


def s8(x: Decimal) -> str:
    """Binance's 8-decimal string."""
    return f"{x.quantize(Q8):f}"


@dataclass
class Filters:
    """PRICE_FILTER, LOT_SIZE and NOTIONAL of one symbol (defaults: Binance's BTCUSDT)."""

    tick_size: Decimal = D("0.01")
    min_price: Decimal = D("0.01")
    max_price: Decimal = D("1000000")
    step_size: Decimal = D("0.00001")
    min_qty: Decimal = D("0.00001")
    max_qty: Decimal = D("9000")
    min_notional: Decimal = D("5")
    max_notional: Decimal = D("9000000")

    def info(self) -> list[dict]:
        return [
            {"filterType": "PRICE_FILTER", "minPrice": s8(self.min_price), "maxPrice": s8(self.max_price),
             "tickSize": s8(self.tick_size)},
            {"filterType": "LOT_SIZE", "minQty": s8(self.min_qty), "maxQty": s8(self.max_qty),
             "stepSize": s8(self.step_size)},
            {"filterType": "NOTIONAL", "minNotional": s8(self.min_notional), "applyMinToMarket": True,
             "maxNotional": s8(self.max_notional), "applyMaxToMarket": False, "avgPriceMins": 5},
        ]  # fmt: skip

    def check(self, price: Decimal | None, qty: Decimal | None, notional: Decimal | None, market: bool) -> None:
        """-1013 "Filter failure: <FILTER>" for the first filter the order breaks."""
        if price is not None and (
            price < self.min_price or price > self.max_price or (price - self.min_price) % self.tick_size
        ):
            raise ApiError(-1013, "Filter failure: PRICE_FILTER")
        if qty is not None and (qty < self.min_qty or qty > self.max_qty or (qty - self.min_qty) % self.step_size):
            raise ApiError(-1013, "Filter failure: LOT_SIZE")
        if notional is not None and (
            notional < self.min_notional or (not market and notional > self.max_notional)
        ):
            raise ApiError(-1013, "Filter failure: NOTIONAL")

    def floor_qty(self, qty: Decimal) -> Decimal:
        return (qty / self.step_size).to_integral_value(ROUND_FLOOR) * self.step_size


@dataclass
class Market:
    market_id: str
    base: str
    quote: str
    filters: Filters = field(default_factory=Filters)
    series: dict[str, Series] = field(default_factory=dict)
    match_interval: str | None = None

    @property
    def matching(self) -> Series | None:
        """The series the engine matches on: the one chosen with match=True, else the finest registered."""
        if self.match_interval in self.series:
            return self.series[self.match_interval]
        return min(self.series.values(), key=lambda s: s.step, default=None)


@dataclass
class Trade:
    trade_id: int
    order_id: int
    client_id: str
    symbol: str
    side: str
    price: Decimal
    qty: Decimal
    quote_qty: Decimal
    commission: Decimal
    commission_asset: str
    time: int
    maker: bool

    def fill(self) -> dict:
        return {"price": s8(self.price), "qty": s8(self.qty), "commission": s8(self.commission),
                "commissionAsset": self.commission_asset, "tradeId": self.trade_id}  # fmt: skip

    def my_trade(self) -> dict:
        return {"symbol": self.symbol, "id": self.trade_id, "orderId": self.order_id, "orderListId": -1,
                "price": s8(self.price), "qty": s8(self.qty), "quoteQty": s8(self.quote_qty),
                "commission": s8(self.commission), "commissionAsset": self.commission_asset, "time": self.time,
                "isBuyer": self.side == "BUY", "isMaker": self.maker, "isBestMatch": True}  # fmt: skip


@dataclass
class Order:
    order_id: int
    client_id: str
    symbol: str
    side: str
    type: str
    tif: str
    price: Decimal
    qty: Decimal
    stop: Decimal
    quote_qty: Decimal
    time: int
    rest_from: int
    status: str = "NEW"
    executed: Decimal = ZERO
    cum_quote: Decimal = ZERO
    locked: Decimal = ZERO  # what the order still holds locked (quote for buys, base for sells)
    update_time: int = 0
    trades: list[Trade] = field(default_factory=list)

    @property
    def is_open(self) -> bool:
        return self.status in ("NEW", "PARTIALLY_FILLED")

    def fields(self) -> dict:
        """The order as GET /api/v3/order returns it."""
        return {"symbol": self.symbol, "orderId": self.order_id, "orderListId": -1,
                "clientOrderId": self.client_id, "price": s8(self.price), "origQty": s8(self.qty),
                "executedQty": s8(self.executed), "cummulativeQuoteQty": s8(self.cum_quote),
                "status": self.status, "timeInForce": self.tif, "type": self.type, "side": self.side,
                "stopPrice": s8(self.stop), "icebergQty": s8(ZERO), "time": self.time,
                "updateTime": self.update_time, "isWorking": self.type in ("LIMIT", "MARKET"),
                "workingTime": self.time, "origQuoteOrderQty": s8(self.quote_qty),
                "selfTradePreventionMode": "NONE"}  # fmt: skip

    def response(self, resp_type: str, now: int) -> dict:
        """The answer to POST /api/v3/order for newOrderRespType ACK, RESULT or FULL."""
        ack = {"symbol": self.symbol, "orderId": self.order_id, "orderListId": -1,
               "clientOrderId": self.client_id, "transactTime": now}  # fmt: skip
        if resp_type == "ACK":
            return ack
        out = {**ack, **{k: v for k, v in self.fields().items() if k not in ("time", "updateTime", "isWorking",
                                                                             "icebergQty", "stopPrice")}}  # fmt: skip
        if self.type in ("STOP_LOSS", "TAKE_PROFIT"):
            out["stopPrice"] = s8(self.stop)
        if resp_type == "FULL":
            out["fills"] = [t.fill() for t in self.trades]
        return out


class Book:
    """Markets, balances, orders and trades of one account, and the matching of resting orders."""

    def __init__(self, fee_rate: Decimal, slippage: Decimal) -> None:
        self.fee_rate = fee_rate
        self.slippage = slippage
        self.markets: dict[str, Market] = {}
        self.balances: dict[str, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])  # asset -> [free, locked]
        self.orders: dict[int, Order] = {}
        self.latest_by_client: dict[tuple[str, str], int] = {}
        self.received: dict[str, list[dict]] = defaultdict(list)  # every order POST by its client id
        self.trades: list[Trade] = []
        self.partial_fraction: Decimal | None = None
        self._ids = {"order": 1, "trade": 1, "client": 1}

    def _next(self, kind: str) -> int:
        self._ids[kind] += 1
        return self._ids[kind] - 1

    def market(self, symbol: str | None) -> Market:
        if not symbol:
            raise mandatory("symbol")
        if symbol not in self.markets:
            raise ApiError(-1121)
        return self.markets[symbol]

    # --- placing ----------------------------------------------------------------------------------
    def submit(self, p: dict[str, str], now: int, reject: ApiError | None = None) -> tuple[Order, list[dict]]:
        """POST /api/v3/order: place (and for MARKET fill) an order; every submission is recorded by client id."""
        client_id = p.get("newClientOrderId") or f"emu-{self._next('client')}"
        record = {"time": now, "symbol": p.get("symbol"), "side": p.get("side"), "type": p.get("type"),
                  "order_id": None, "error": None}  # fmt: skip
        self.received[client_id].append(record)
        try:
            if reject is not None:
                raise reject
            order, events = self._place(p, client_id, now)
        except ApiError as exc:
            record["error"] = exc.code
            raise
        record["order_id"] = order.order_id
        return order, events

    def _params(self, p: dict[str, str], otype: str, side: str) -> tuple[str, Decimal, Decimal, Decimal, Decimal]:
        """(timeInForce, price, quantity, stopPrice, quoteOrderQty) as the order type requires them."""
        price = stop = qty = quote_qty = ZERO
        tif = ""
        needed = {"price": otype == "LIMIT", "stopPrice": otype in ("STOP_LOSS", "TAKE_PROFIT"),
                  "timeInForce": otype == "LIMIT"}  # fmt: skip
        for name, wanted in needed.items():
            if not wanted and p.get(name):
                raise ApiError(-1106, f"Parameter '{name}' sent when not required.")
        if otype == "LIMIT":
            tif = p.get("timeInForce") or ""
            if not tif:
                raise mandatory("timeInForce")
            if tif not in ("GTC", "IOC", "FOK"):
                raise ApiError(-1115, "Invalid timeInForce.")
            price = decimal_param(p, "price")
        if otype == "MARKET":
            qty = decimal_param(p, "quantity", required=False) or ZERO
            quote_qty = decimal_param(p, "quoteOrderQty", required=False) or ZERO
            if not qty and not quote_qty:
                raise ApiError(-1102, "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty!")
            if qty and quote_qty:
                raise ApiError(-1106, "Parameter 'quoteOrderQty' sent when not required.")
        else:
            qty = decimal_param(p, "quantity")
        if otype in ("STOP_LOSS", "TAKE_PROFIT"):
            stop = decimal_param(p, "stopPrice")
            if side == "BUY":
                raise ApiError(-2010, f"Emulator: BUY {otype} orders are not emulated (SELL only).")
        return tif, price, qty, stop, quote_qty

    def _place(self, p: dict[str, str], client_id: str, now: int) -> tuple[Order, list[dict]]:
        m = self.market(p.get("symbol"))
        side, otype = p.get("side") or "", p.get("type") or ""
        if not side:
            raise mandatory("side")
        if side not in ("BUY", "SELL"):
            raise ApiError(-1117, "Invalid side.")
        if not otype:
            raise mandatory("type")
        if otype not in TYPES:
            raise ApiError(-1116, "Invalid orderType.")
        tif, price, qty, stop, quote_qty = self._params(p, otype, side)
        prev = self.latest_by_client.get((m.market_id, client_id))
        if prev is not None and self.orders[prev].is_open:
            raise ApiError(-2010, DUPLICATE_ORDER)
        series = m.matching
        if otype == "MARKET":
            return self._market_order(m, side, client_id, qty, quote_qty, now)
        level = price if otype == "LIMIT" else stop
        m.filters.check(level, qty, level * qty, market=False)
        lock_asset, need = (m.quote, qty * price) if side == "BUY" else (m.base, qty)
        bal = self.balances[lock_asset]
        if bal[0] < need:
            raise ApiError(-2010, INSUFFICIENT_BALANCE)
        bal[0] -= need
        bal[1] += need
        rest_from = series.next_open(now) if series is not None else FAR_FUTURE
        order = self._new_order(m, client_id, side, otype, tif or "GTC", price, qty, stop, ZERO, now, rest_from)
        order.locked = need
        events = [self.report(order, "NEW", now), self.account_event(m, now)]
        if tif in ("IOC", "FOK"):
            events += self._immediate(m, order, now)
        return order, events

    def _new_order(self, m, client_id, side, otype, tif, price, qty, stop, quote_qty, now, rest_from) -> Order:
        order = Order(self._next("order"), client_id, m.market_id, side, otype, tif, price, qty, stop, quote_qty,
                      now, rest_from, update_time=now)  # fmt: skip
        self.orders[order.order_id] = order
        self.latest_by_client[(m.market_id, client_id)] = order.order_id
        return order

    def _market_order(self, m, side, client_id, qty, quote_qty, now) -> tuple[Order, list[dict]]:
        series = m.matching
        i = series.forming(now) if series is not None else None
        if i is None:
            raise ApiError(-1013, "Market is closed.")
        o, h, low = (D(num(x)) for x in series.values[i][:3])
        sign = 1 if side == "BUY" else -1
        price = min(max((o * (1 + sign * self.slippage)).quantize(Q8), low), h)
        if quote_qty:
            qty = m.filters.floor_qty(quote_qty / price)
        m.filters.check(None, qty, quote_qty or qty * price, market=True)
        cost = (qty * price).quantize(Q8)
        if (side == "BUY" and self.balances[m.quote][0] < cost) or (side == "SELL" and self.balances[m.base][0] < qty):
            raise ApiError(-2010, INSUFFICIENT_BALANCE)
        order = self._new_order(m, client_id, side, "MARKET", "GTC", ZERO, qty, ZERO, quote_qty, now, now)
        return order, [self.report(order, "NEW", now), *self._fill(order, price, now, now, maker=False)]

    def _immediate(self, m: Market, order: Order, now: int) -> list[dict]:
        """IOC/FOK limits: fill at the open when placed on a bar's open and marketable there; else expire."""
        series = m.matching
        i = series.forming(now) if series is not None else None
        if i is not None and int(series.open_ms[i]) == now:
            price = self._at_open(order, D(num(series.values[i][0])))
            if price is not None:
                return self._fill(order, price, now, now, maker=False, whole=True)
        self._release(m, order)
        order.status, order.update_time = "EXPIRED", now
        return [self.report(order, "EXPIRED", now), self.account_event(m, now)]

    # --- cancelling and finding ---------------------------------------------------------------------
    def find(self, p: dict[str, str], missing: ApiError) -> tuple[Market, Order]:
        m = self.market(p.get("symbol"))
        order_id, client_id = int_param(p, "orderId"), p.get("origClientOrderId")
        if order_id is None and not client_id:
            raise ApiError(-1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!")
        if order_id is None:
            order_id = self.latest_by_client.get((m.market_id, client_id or ""))
        order = self.orders.get(order_id) if order_id is not None else None
        if order is None or order.symbol != m.market_id or (client_id and order.client_id != client_id):
            raise missing
        return m, order

    def cancel(self, p: dict[str, str], now: int) -> tuple[Order, str, list[dict]]:
        """DELETE /api/v3/order: (order, the cancel's client id, events); -2011 unless the order is open."""
        m, order = self.find(p, ApiError(-2011))
        if not order.is_open:
            raise ApiError(-2011)
        self._release(m, order)
        order.status, order.update_time = "CANCELED", now
        cancel_id = p.get("newClientOrderId") or f"emu-cancel-{self._next('client')}"
        return order, cancel_id, [self.report(order, "CANCELED", now, cancel_id), self.account_event(m, now)]

    def _release(self, m: Market, order: Order) -> None:
        bal = self.balances[m.quote if order.side == "BUY" else m.base]
        bal[0] += order.locked
        bal[1] -= order.locked
        order.locked = ZERO

    def my_trades(self, p: dict[str, str]) -> list[Trade]:
        """GET /api/v3/myTrades: by fromId (id >= fromId), by a time window of at most 24 h, or the latest."""
        m = self.market(p.get("symbol"))
        limit = int_param(p, "limit", 500)
        if not 1 <= limit <= 1000:
            raise ApiError(-1130, "Invalid data sent for a parameter.")
        order_id, from_id = int_param(p, "orderId"), int_param(p, "fromId")
        start, end = int_param(p, "startTime"), int_param(p, "endTime")
        trades = [t for t in self.trades if t.symbol == m.market_id and order_id in (None, t.order_id)]
        if from_id is not None:
            if start is not None or end is not None:
                raise ApiError(-1128, "Combination of optional parameters invalid.")
            return [t for t in trades if t.trade_id >= from_id][:limit]
        if start is None and end is None:
            return trades[-limit:]
        if start is not None and end is not None and end - start > DAY_MS:
            raise ApiError(-1127, "More than 24 hours between startTime and endTime.")
        start = start if start is not None else end - DAY_MS
        end = end if end is not None else start + DAY_MS
        return [t for t in trades if start <= t.time <= end][:limit]

    # --- matching -----------------------------------------------------------------------------------
    def _at_open(self, order: Order, o: Decimal) -> Decimal | None:
        down = (1 - self.slippage) * o
        if order.type == "LIMIT":
            hit = order.price >= o if order.side == "BUY" else order.price <= o
            return o if hit else None
        if order.type == "STOP_LOSS":
            return down if order.stop >= o else None
        return down if order.stop <= o else None  # TAKE_PROFIT

    def match_bar(self, m: Market, i: int, now: int) -> list[dict]:
        """Fill the book resting at bar i's open by the fill rule; `now` is the bar's close (event time)."""
        series = m.matching
        t_open = int(series.open_ms[i])
        o, h, low, _c = (D(num(x)) for x in series.values[i][:4])
        stamp = t_open + series.step - 1  # trades are stamped at the bar's last millisecond
        book = sorted(
            (x for x in self.orders.values()
             if x.symbol == m.market_id and x.is_open and x.type != "MARKET" and x.rest_from <= t_open),
            key=lambda x: x.order_id,
        )  # fmt: skip
        events: list[dict] = []

        def fill(order: Order, price: Decimal, maker: bool) -> None:
            events.extend(self._fill(order, min(max(price.quantize(Q8), low), h), stamp, now, maker))

        rest = []
        for x in book:
            price = self._at_open(x, o)
            if price is None:
                rest.append(x)
            else:
                fill(x, price, maker=x.type == "LIMIT")
        level = {x.order_id: x.price if x.type == "LIMIT" else x.stop for x in rest}
        down = [x for x in rest if (x.type, x.side) in (("LIMIT", "BUY"), ("STOP_LOSS", "SELL"))]
        for x in sorted(down, key=lambda x: (-level[x.order_id], x.type != "LIMIT", x.order_id)):
            if x.type == "LIMIT" and low < x.price:
                fill(x, x.price, maker=True)
            elif x.type == "STOP_LOSS" and low <= x.stop:
                fill(x, x.stop * (1 - self.slippage), maker=False)
        up = [x for x in rest if (x.type, x.side) in (("LIMIT", "SELL"), ("TAKE_PROFIT", "SELL"))]
        for x in sorted(up, key=lambda x: (level[x.order_id], x.type != "LIMIT", x.order_id)):
            if x.type == "LIMIT" and h > x.price:
                fill(x, x.price, maker=True)
            elif x.type == "TAKE_PROFIT" and h >= x.stop:
                fill(x, x.stop * (1 - self.slippage), maker=False)
        return events

    def _fill_qty(self, order: Order, m: Market, whole: bool) -> Decimal:
        remaining = order.qty - order.executed
        if whole or order.type != "LIMIT" or self.partial_fraction is None:
            return remaining
        part = max(m.filters.floor_qty(order.qty * self.partial_fraction), m.filters.step_size)
        return min(part, remaining)

    def _fill(self, order: Order, price: Decimal, time: int, now: int, maker: bool, whole=False) -> list[dict]:
        """Book one fill of `order` at `price` (trade stamped `time`, events at `now`)."""
        m = self.markets[order.symbol]
        qty = self._fill_qty(order, m, whole)
        quote = (qty * price).quantize(Q8)
        base_bal, quote_bal = self.balances[m.base], self.balances[m.quote]
        if order.side == "BUY":
            if order.type == "LIMIT":  # release the lock at the limit; refund a better price
                held = qty * order.price
                quote_bal[1] -= held
                order.locked -= held
                quote_bal[0] += held - quote
            else:
                quote_bal[0] -= quote
            commission, asset = (qty * self.fee_rate).quantize(Q8), m.base
            base_bal[0] += qty - commission
        else:
            if order.locked:
                base_bal[1] -= qty
                order.locked -= qty
            else:
                base_bal[0] -= qty
            commission, asset = (quote * self.fee_rate).quantize(Q8), m.quote
            quote_bal[0] += quote - commission
        order.executed += qty
        order.cum_quote += quote
        order.status = "FILLED" if order.executed >= order.qty else "PARTIALLY_FILLED"
        order.update_time = time
        if order.status == "FILLED" and order.locked:
            self._release(m, order)
        trade = Trade(self._next("trade"), order.order_id, order.client_id, order.symbol, order.side, price, qty,
                      quote, commission, asset, time, maker)  # fmt: skip
        self.trades.append(trade)
        order.trades.append(trade)
        return [self.report(order, "TRADE", now, trade=trade), self.account_event(m, now)]

    # --- user data events ---------------------------------------------------------------------------
    def report(self, o: Order, exec_type: str, now: int, cancel_id: str = "", trade: Trade | None = None) -> dict:
        """An executionReport event (Binance's spot user data stream payload)."""
        zero = s8(ZERO)
        return {"e": "executionReport", "E": now, "s": o.symbol, "c": cancel_id or o.client_id, "S": o.side,
                "o": o.type, "f": o.tif, "q": s8(o.qty), "p": s8(o.price), "P": s8(o.stop), "F": zero, "g": -1,
                "C": o.client_id if cancel_id else "", "x": exec_type, "X": o.status, "r": "NONE",
                "i": o.order_id, "l": s8(trade.qty) if trade else zero, "z": s8(o.executed),
                "L": s8(trade.price) if trade else zero, "n": s8(trade.commission) if trade else "0",
                "N": trade.commission_asset if trade else None, "T": trade.time if trade else now,
                "t": trade.trade_id if trade else -1, "I": 0, "w": o.is_open, "m": trade.maker if trade else False,
                "M": False, "O": o.time, "Z": s8(o.cum_quote), "Y": s8(trade.quote_qty) if trade else zero,
                "Q": s8(o.quote_qty), "W": o.time, "V": "NONE"}  # fmt: skip

    def account_event(self, m: Market, now: int) -> dict:
        """outboundAccountPosition for the two assets of `m` (sent after every balance change)."""
        rows = [{"a": a, "f": s8(self.balances[a][0]), "l": s8(self.balances[a][1])} for a in (m.base, m.quote)]
        return {"e": "outboundAccountPosition", "E": now, "u": now, "B": rows}

    def account(self, now: int, omit_zero: bool) -> dict:
        """GET /api/v3/account."""
        rate = s8(self.fee_rate)
        balances = [{"asset": a, "free": s8(f), "locked": s8(lk)} for a, (f, lk) in sorted(self.balances.items())
                    if not omit_zero or f or lk]  # fmt: skip
        return {"makerCommission": int(self.fee_rate * 10_000), "takerCommission": int(self.fee_rate * 10_000),
                "buyerCommission": 0, "sellerCommission": 0,
                "commissionRates": {"maker": rate, "taker": rate, "buyer": s8(ZERO), "seller": s8(ZERO)},
                "canTrade": True, "canWithdraw": True, "canDeposit": True, "brokered": False,
                "requireSelfTradePrevention": False, "preventSor": False, "updateTime": now,
                "accountType": "SPOT", "balances": balances, "permissions": ["SPOT"], "uid": 1}  # fmt: skip
