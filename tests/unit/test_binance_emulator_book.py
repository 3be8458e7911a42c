"""The Binance emulator's matching engine and request checks, directly (no server): the fill rule's orderings,
clamps and filters on hand-written candles, and the signature check on Binance's documented example."""

from __future__ import annotations

from decimal import Decimal as D

import pandas as pd
import pytest
from emulators.binance_spot.book import Book, Filters, Market
from emulators.binance_spot.candles import Series
from emulators.binance_spot.errors import ApiError, check_rest_signature, check_timestamp

M15 = 900_000
T0 = pd.Timestamp("2024-01-01", tz="UTC").value // 1_000_000


def book(rows: list[tuple[float, float, float, float]], slippage: str = "0.0002") -> tuple[Book, Market]:
    idx = pd.date_range("2024-01-01", periods=len(rows), freq="15min", tz="UTC", name="timestamp")
    df = pd.DataFrame(rows, index=idx, columns=["open", "high", "low", "close"])
    df["volume"] = 1.0
    b = Book(D("0.001"), D(slippage))
    series = {"15m": Series.from_frame("15m", df)}
    m = Market("BTCUSDT", "BTC", "USDT", Filters(min_notional=D("0")), series)  # small orders at prices near 100
    b.markets[m.market_id] = m
    b.balances["USDT"][0], b.balances["BTC"][0] = D("100000"), D("10")
    return b, m


def place(b: Book, now: int, side: str, otype: str, level: str, qty: str = "0.01") -> int:
    p = {"symbol": "BTCUSDT", "side": side, "type": otype, "quantity": qty}
    if otype == "LIMIT":
        p.update(price=level, timeInForce="GTC")
    else:
        p["stopPrice"] = level
    return b.submit(p, now)[0].order_id


def match(b: Book, m: Market, i: int) -> list[tuple[int, D]]:
    """(order id, price) of bar i's fills, in the order they happened."""
    b.match_bar(m, i, T0 + (i + 1) * M15)
    return [(t.order_id, t.price) for t in b.trades if T0 + i * M15 <= t.time < T0 + (i + 1) * M15]


def test_way_down_goes_in_descending_price_order_with_a_buy_limit_before_a_stop_at_equal_prices():
    b, m = book([(100, 101, 95, 99)])
    stop = place(b, T0, "SELL", "STOP_LOSS", "98")
    low_buy = place(b, T0, "BUY", "LIMIT", "96")
    buy = place(b, T0, "BUY", "LIMIT", "98")
    assert match(b, m, 0) == [(buy, D("98")), (stop, D("98") * D("0.9998")), (low_buy, D("96"))]


def test_way_up_goes_in_ascending_price_order_with_a_limit_before_a_take_profit_at_equal_prices():
    b, m = book([(100, 105, 99, 104)])
    high_sell = place(b, T0, "SELL", "LIMIT", "104")
    take = place(b, T0, "SELL", "TAKE_PROFIT", "102")
    sell = place(b, T0, "SELL", "LIMIT", "102")
    assert match(b, m, 0) == [(sell, D("102")), (take, D("102") * D("0.9998")), (high_sell, D("104"))]


def test_at_the_open_marketable_orders_fill_first_in_placement_order():
    b, m = book([(100, 101, 90, 95)])
    down = place(b, T0, "BUY", "LIMIT", "99")  # reached on the way down
    stop = place(b, T0, "SELL", "STOP_LOSS", "100")  # stopPrice >= open
    buy = place(b, T0, "BUY", "LIMIT", "100.5")  # at or above the open
    take = place(b, T0, "SELL", "TAKE_PROFIT", "100")  # stopPrice <= open
    assert match(b, m, 0) == [(stop, D("99.98")), (buy, D("100")), (take, D("99.98")), (down, D("99"))]


def test_limits_need_a_strict_trade_through_stops_a_touch_and_prices_are_clamped_to_the_bar():
    b, m = book([(100, 104, 96, 103)])
    at_low = place(b, T0, "BUY", "LIMIT", "96")
    at_high = place(b, T0, "SELL", "LIMIT", "104")
    stop = place(b, T0, "SELL", "STOP_LOSS", "96")  # touched; 96 x 0.9998 is under the low
    take = place(b, T0, "SELL", "TAKE_PROFIT", "104")  # touched
    assert match(b, m, 0) == [(stop, D("96")), (take, D("104") * D("0.9998"))]
    assert {o.order_id for o in b.orders.values() if o.is_open} == {at_low, at_high}


def test_an_order_placed_on_a_bars_open_takes_part_in_it_one_placed_inside_waits():
    b, m = book([(100, 101, 95, 99), (99, 100, 94, 97)])
    on_open = place(b, T0, "BUY", "LIMIT", "97")
    inside = place(b, T0 + 1, "BUY", "LIMIT", "96")
    assert match(b, m, 0) == [(on_open, D("97"))]
    assert match(b, m, 1) == [(inside, D("96"))]


def test_balances_lock_at_placement_fees_come_from_the_received_asset():
    b, m = book([(100, 101, 95, 99)])
    place(b, T0, "BUY", "LIMIT", "100.5", qty="2")  # fills at the open, 100: 1 USDT refunded
    place(b, T0, "SELL", "LIMIT", "100.8", qty="1")  # fills on the way up at 100.8
    assert b.balances["USDT"] == [D("100000") - D("201"), D("201")] and b.balances["BTC"] == [D("9"), D("1")]
    match(b, m, 0)
    assert b.balances["BTC"] == [D("10") + D("2") - D("0.002") - D("1"), D("0")]
    assert b.balances["USDT"] == [D("100000") - D("200") + D("100.8") - D("0.1008"), D("0")]


def test_partial_fills_take_a_fraction_in_steps_but_at_least_one_step():
    b, m = book([(100, 101, 95, 99)] * 3)
    b.partial_fraction = D("0.000001")
    order = place(b, T0, "BUY", "LIMIT", "98", qty="0.00002")
    match(b, m, 0)
    assert (b.orders[order].executed, b.orders[order].status) == (D("0.00001"), "PARTIALLY_FILLED")
    match(b, m, 1)
    assert (b.orders[order].executed, b.orders[order].status) == (D("0.00002"), "FILLED")


@pytest.mark.parametrize(
    ("price", "qty", "failure"),
    [("0.005", "1", "PRICE_FILTER"), ("100.005", "1", "PRICE_FILTER"), ("100", "0.000015", "LOT_SIZE"),
     ("100", "9001", "LOT_SIZE"), ("100", "0.04", "NOTIONAL"), ("100", "0.05", None)],
)  # fmt: skip
def test_filters(price, qty, failure):
    f = Filters()
    assert f.floor_qty(D("0.0248707")) == D("0.02487")
    if failure is None:
        f.check(D(price), D(qty), D(price) * D(qty), market=False)
        return
    with pytest.raises(ApiError) as err:
        f.check(D(price), D(qty), D(price) * D(qty), market=False)
    assert (err.value.code, err.value.msg) == (-1013, f"Filter failure: {failure}")


def test_signature_check_on_binances_documented_example():
    secret = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
    query = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC"
    body = "quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
    check_rest_signature(secret, f"{query}&{body}&signature=c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71", "")
    check_rest_signature(secret, "", f"{query}&{body}&signature=c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71")
    check_rest_signature(secret, query, f"{body}&signature=0fd168b8ddb4876a0358a8d14d0c9f3da0e9b20c5d52b2a00fcf7d1c602f9a77")
    with pytest.raises(ApiError, match="-1022 Signature for this request is not valid."):
        check_rest_signature(secret, query, f"{body}&signature=c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71")


@pytest.mark.parametrize(
    ("timestamp", "message"),
    [(10_000 - 5_001, "outside of the recvWindow"), (10_000 + 1_000, "1000ms ahead"),
     (10_000 - 5_000, None), (10_000 + 999, None)],
)  # fmt: skip
def test_recv_window(timestamp, message):
    params = {"timestamp": str(timestamp), "recvWindow": "5000"}
    if message is None:
        check_timestamp(params, 10_000)
    else:
        with pytest.raises(ApiError, match=message) as err:
            check_timestamp(params, 10_000)
        assert err.value.code == -1021


def test_ioc_fills_only_when_placed_on_an_open_it_is_marketable_at_and_expires_otherwise():
    b, m = book([(100, 101, 95, 99)])
    p = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "IOC", "quantity": "1", "price": "100.5"}
    filled, events = b.submit(p, T0)
    assert (filled.status, filled.trades[0].price) == ("FILLED", D("100"))
    assert [e.get("x") for e in events if e["e"] == "executionReport"] == ["NEW", "TRADE"]
    expired, events = b.submit({**p, "timeInForce": "FOK"}, T0 + 60_000)  # inside the bar: no price to fill at
    assert expired.status == "EXPIRED" and [e.get("x") for e in events if e["e"] == "executionReport"] == ["NEW", "EXPIRED"]
    assert b.balances["USDT"] == [D("100000") - D("100"), D("0")]
