"""The Binance spot emulator through the real ccxt async REST client (no mocking of ccxt or of the emulator).

Fill prices are asserted on the hand-written table of integration/binance_emu.py (slippage 0.0002, fee 0.001).
"""

from __future__ import annotations

from decimal import Decimal as D

import ccxt
import pandas as pd
import pytest
from emulators.binance import CCXT_OPTIONS
from integration.binance_emu import M15, T0, bar, emulator, run

SYM = "BTC/USDT"


@pytest.fixture
def emu():
    yield from emulator()


def test_load_markets_is_spot_only_with_precision_and_limits_from_the_filters(emu):
    async def body(ex):
        return await ex.load_markets()

    markets = run(emu, body)
    assert list(markets) == [SYM]
    m = markets[SYM]
    assert m["spot"] and m["active"] and m["type"] == "spot"
    assert m["precision"]["price"] == 0.01 and m["precision"]["amount"] == 0.00001
    assert m["limits"]["amount"] == {"min": 0.00001, "max": 9000.0}
    assert m["limits"]["cost"]["min"] == 5.0 and m["limits"]["price"]["min"] == 0.01
    assert [(method, path) for method, path, _ in emu.requests] == [("GET", "/api/v3/exchangeInfo")]


def test_the_sync_ccxt_client_works_too(emu):
    ex = emu.sync_client()
    try:
        order = ex.create_order(SYM, "limit", "sell", 0.5, 40300)
        emu.step(2)  # bar 1's high 40600 > 40300
        assert ex.fetch_order(order["id"], SYM)["status"] == "closed"
        assert ex.fetch_balance()["BTC"]["free"] == 0.5
    finally:
        ex.close()


def test_limit_buy_rests_then_fills_at_its_price_when_a_later_bar_trades_through(emu):
    async def body(ex):
        order = await ex.create_order(SYM, "limit", "buy", 0.01, 39700, {"clientOrderId": "b1"})
        balance = await ex.fetch_balance()
        assert (order["status"], balance["USDT"]["used"], balance["USDT"]["free"]) == ("open", 397.0, 9603.0)
        emu.advance_to(bar(1))  # bar 0's low 39800 never reached 39700
        assert (await ex.fetch_order(order["id"], SYM))["status"] == "open"
        emu.advance_to(bar(2))  # bar 1's low 39600 < 39700
        done = await ex.fetch_order(order["id"], SYM)
        trades = await ex.fetch_my_trades(SYM)
        return done, trades, await ex.fetch_balance()

    done, trades, balance = run(emu, body)
    assert (done["status"], done["average"], done["filled"], done["clientOrderId"]) == ("closed", 39700.0, 0.01, "b1")
    [trade] = trades
    assert (trade["price"], trade["amount"], trade["side"], trade["takerOrMaker"]) == (39700.0, 0.01, "buy", "maker")
    assert trade["fee"] == {"currency": "BTC", "cost": 0.00001}  # 0.1 % of the BTC received
    assert trade["timestamp"] == bar(2) - 1  # stamped at bar 1's last millisecond
    assert (balance["USDT"]["free"], balance["USDT"]["used"]) == (9603.0, 0.0)
    assert balance["BTC"]["free"] == float(D("1") + D("0.01") - D("0.00001"))
    assert emu.balances()["BTC"] == (D("1.00999"), D("0"))


def test_orders_placed_inside_a_bar_wait_for_the_next_one_and_limits_need_a_trade_through(emu):
    emu.advance_to(bar(0) + 7 * 60_000)

    async def body(ex):
        buy = await ex.create_order(SYM, "limit", "buy", 0.01, 39900)  # bar 0 (low 39800) is not its bar
        emu.advance_to(bar(1))
        assert (await ex.fetch_order(buy["id"], SYM))["status"] == "open"
        emu.advance_to(bar(4))
        sell = await ex.create_order(SYM, "limit", "sell", 0.01, 41000)  # bar 4's high is 41000: not through
        emu.advance_to(bar(5))
        assert (await ex.fetch_order(sell["id"], SYM))["status"] == "open"
        emu.advance_to(bar(6))  # bar 5's high 41200 > 41000
        return [await ex.fetch_order(o["id"], SYM) for o in (buy, sell)]

    buy, sell = run(emu, body)
    assert (buy["status"], buy["average"], buy["lastTradeTimestamp"]) == ("closed", 39900.0, bar(2) - 1)
    assert (sell["status"], sell["average"], sell["lastTradeTimestamp"]) == ("closed", 41000.0, bar(6) - 1)


def test_market_orders_fill_at_the_forming_bars_open_with_slippage(emu):
    emu.advance_to(bar(1) + 7 * 60_000)

    async def body(ex):
        buy = await ex.create_market_buy_order_with_cost(SYM, 1000)  # quoteOrderQty
        emu.advance_to(bar(3))  # exactly on a boundary: the bar that starts there (the gap open 38800)
        sell = await ex.create_order(SYM, "market", "sell", 0.01)
        return buy, sell, await ex.fetch_balance()

    buy, sell, balance = run(emu, body)
    price = D("40200") * D("1.0002")  # 40208.04
    qty = D("0.02487")  # 1000 / 40208.04 = 0.024870... floored to the step 0.00001
    assert emu.requests[1][2]["quoteOrderQty"] == "1000"
    assert (buy["status"], buy["average"], buy["filled"], buy["cost"]) == (
        "closed", float(price), float(qty), float(qty * price)
    )  # fmt: skip
    sell_price = D("38800") * D("0.9998")
    assert (sell["average"], sell["fee"]["currency"]) == (float(sell_price), "USDT")
    sell_quote = D("0.01") * sell_price
    usdt = D("10000") - qty * price + sell_quote - (sell_quote * D("0.001")).quantize(D("1e-8"))
    btc = D("1") + qty - qty * D("0.001") - D("0.01")
    assert emu.balances()["USDT"] == (usdt, 0) and emu.balances()["BTC"] == (btc, 0)
    assert (balance["USDT"]["free"], balance["BTC"]["free"]) == (float(usdt), float(btc))


def test_stop_loss_and_take_profit_trigger_at_the_documented_prices(emu):
    async def stop(ex, price):
        return await ex.create_order(SYM, "market", "sell", 0.01, None, {"stopLossPrice": price})

    async def take(ex, price):
        return await ex.create_order(SYM, "market", "sell", 0.01, None, {"takeProfitPrice": price})

    async def body(ex):
        emu.advance_to(bar(2))
        orders = {"stop touched": await stop(ex, 39100), "stop at the low": await stop(ex, 39000),
                  "stop gapped": await stop(ex, 38900)}  # fmt: skip
        emu.advance_to(bar(3) + 60_000)
        orders["take-profit at the open"] = await take(ex, 39300)
        emu.advance_to(bar(4))
        orders["take-profit touched"] = await take(ex, 40950)
        orders["take-profit at the high"] = await take(ex, 41000)
        emu.advance_to(bar(5))
        return {k: await ex.fetch_order(o["id"], SYM) for k, o in orders.items()}

    got = run(emu, body)
    slip = D("0.9998")
    expected = {
        "stop touched": (D("39100") * slip, bar(3)),  # bar 2: low 39000 <= 39100
        "stop at the low": (D("39000"), bar(3)),  # 39000 x 0.9998 is below the low: clamped to it
        "stop gapped": (D("38800") * slip, bar(4)),  # bar 3 opens at 38800, below the stop
        "take-profit at the open": (D("39400") * slip, bar(5)),  # rests from bar 4, which opens above 39300
        "take-profit touched": (D("40950") * slip, bar(5)),  # bar 4: high 41000 >= 40950
        "take-profit at the high": (D("41000") * slip, bar(5)),  # touching is enough for a trigger
    }
    for name, (price, filled_by) in expected.items():
        order = got[name]
        assert (order["status"], order["average"]) == ("closed", float(price)), name
        assert order["lastTradeTimestamp"] == filled_by - 1, name
    assert got["stop touched"]["type"] == "market" and got["stop touched"]["triggerPrice"] == 39100.0
    assert got["take-profit touched"]["info"]["type"] == "TAKE_PROFIT"


def test_fetch_and_cancel_by_client_id(emu):
    async def body(ex):
        placed = await ex.create_order(SYM, "limit", "buy", 0.01, 39000, {"clientOrderId": "grid-1"})
        found = await ex.fetch_order(None, SYM, {"clientOrderId": "grid-1"})
        assert (found["id"], found["status"], found["price"]) == (placed["id"], "open", 39000.0)
        assert [o["clientOrderId"] for o in await ex.fetch_open_orders(SYM)] == ["grid-1"]
        cancelled = await ex.cancel_order(None, SYM, {"clientOrderId": "grid-1"})
        assert (cancelled["id"], cancelled["status"]) == (placed["id"], "canceled")
        assert await ex.fetch_open_orders(SYM) == []
        assert (await ex.fetch_balance())["USDT"] == {"free": 10000.0, "used": 0.0, "total": 10000.0}
        with pytest.raises(ccxt.OrderNotFound, match='"code": -2011, "msg": "Unknown order sent."'):
            await ex.cancel_order(None, SYM, {"clientOrderId": "grid-1"})
        with pytest.raises(ccxt.OrderNotFound, match='"code": -2013, "msg": "Order does not exist."'):
            await ex.fetch_order(None, SYM, {"clientOrderId": "nobody"})
        return (await ex.fetch_order(placed["id"], SYM))["status"]

    assert run(emu, body) == "canceled"
    assert [p["origClientOrderId"] for m, path, p in emu.requests if m == "DELETE"] == ["grid-1", "grid-1"]


def test_a_client_id_is_refused_while_its_order_is_open_and_reusable_after_the_fill(emu):
    async def body(ex):
        await ex.create_order(SYM, "limit", "buy", 0.01, 39700, {"clientOrderId": "dup"})
        with pytest.raises(ccxt.InvalidOrder, match='"code": -2010, "msg": "Duplicate order sent."'):
            await ex.create_order(SYM, "limit", "buy", 0.01, 39700, {"clientOrderId": "dup"})
        emu.advance_to(bar(2))  # filled in bar 1
        again = await ex.create_order(SYM, "limit", "buy", 0.01, 39000, {"clientOrderId": "dup"})
        return again, await ex.fetch_open_orders(SYM)

    again, still_open = run(emu, body)
    assert [o["id"] for o in still_open] == [again["id"]]
    records = emu.orders_by_client_id()["dup"]
    assert [(r["order_id"], r["error"]) for r in records] == [(1, None), (None, -2010), (2, None)]


def test_filter_failures_use_binances_wording(emu):
    async def body(ex):
        await ex.load_markets()  # the client's precision: tick 0.01, step 0.00001
        emu.set_filters(SYM, tick_size=1, min_price=1, min_qty="0.001")
        with pytest.raises(ccxt.InvalidOrder, match='"code": -1013, "msg": "Filter failure: PRICE_FILTER"'):
            await ex.create_order(SYM, "limit", "buy", 0.01, 39000.5)
        with pytest.raises(ccxt.InvalidOrder, match='"code": -1013, "msg": "Filter failure: LOT_SIZE"'):
            await ex.create_order(SYM, "limit", "buy", 0.0005, 39000)
        # ccxt maps -1013 to InvalidOrder only for LOT_SIZE/PRICE_FILTER messages; NOTIONAL is a BadRequest
        with pytest.raises(ccxt.BadRequest, match='"code": -1013, "msg": "Filter failure: NOTIONAL"'):
            await ex.create_order(SYM, "limit", "buy", 0.001, 4000)

    run(emu, body)
    assert emu.orders() == []


def test_insufficient_balance_is_refused_with_2010(emu):
    async def body(ex):
        message = "^binance Account has insufficient balance for requested action.$"  # ccxt maps the message
        with pytest.raises(ccxt.InsufficientFunds, match=message):
            await ex.create_order(SYM, "limit", "buy", 0.3, 39000)  # 11,700 USDT > 10,000
        with pytest.raises(ccxt.InsufficientFunds, match=message):
            await ex.create_order(SYM, "limit", "sell", 1.5, 45000)
        with pytest.raises(ccxt.InsufficientFunds, match=message):
            await ex.create_order(SYM, "market", "buy", 0.3)
        await ex.create_order(SYM, "limit", "buy", 0.2, 39000)  # locks 7,800
        with pytest.raises(ccxt.InsufficientFunds, match=message):
            await ex.create_order(SYM, "limit", "buy", 0.06, 39000)  # 2,340 > the 2,200 still free

    run(emu, body)
    assert emu.balances()["USDT"] == (D("2200"), D("7800"))
    errors = [r["error"] for records in emu.orders_by_client_id().values() for r in records]
    assert errors == [-2010, -2010, -2010, None, -2010]


def test_bad_signature_unknown_key_and_a_client_clock_out_of_sync(emu):
    async def balance(ex):
        return await ex.fetch_balance()

    with pytest.raises(ccxt.AuthenticationError, match='"code": -1022, "msg": "Signature for this request is not valid."'):
        run(emu, balance, secret="not-the-secret")
    with pytest.raises(ccxt.AuthenticationError, match='"code": -2015, "msg": "Invalid API-key, IP, or permissions'):
        run(emu, balance, apiKey="someone-else")

    async def unsynced(_):
        import ccxt.async_support as ccxt_async

        config = {"apiKey": emu.api_key, "secret": emu.secret, "options": dict(CCXT_OPTIONS)}
        ex = emu.connect(ccxt_async.binance(config), clock=False)
        try:  # signs with the real clock, years after the emulator's 2024
            return await ex.fetch_balance()
        finally:
            await ex.close()

    with pytest.raises(ccxt.InvalidNonce, match="-1021.*1000ms ahead of the server's time"):
        run(emu, unsynced)


def test_unknown_symbol_is_1121(emu):
    async def body(ex):
        with pytest.raises(ccxt.BadSymbol, match='"code": -1121, "msg": "Invalid symbol."'):
            await ex.publicGetKlines({"symbol": "ETHUSDT", "interval": "15m"})
        with pytest.raises(ccxt.BadSymbol, match='"code": -1121, "msg": "Invalid symbol."'):
            await ex.privatePostOrder({"symbol": "ETHUSDT", "side": "BUY", "type": "MARKET", "quantity": "1"})

    run(emu, body)
    assert emu.orders_by_client_id() and all(r[0]["error"] == -1121 for r in emu.orders_by_client_id().values())


def test_klines_serve_opened_candles_with_the_forming_one_in_its_state_at_the_clock(emu):
    emu.advance_to(bar(1) + 5 * 60_000)  # a third into bar 1: its path open -> low has just reached the low

    async def body(ex):
        return await ex.fetch_ohlcv(SYM, "15m", since=T0, limit=10)

    rows = run(emu, body)
    assert [r[0] for r in rows] == [bar(0), bar(1)]
    assert rows[0] == [bar(0), 40000.0, 40400.0, 39800.0, 40200.0, 10.0]
    assert rows[1][:5] == [bar(1), 40200.0, 40200.0, 39600.0, 39600.0]
    assert rows[1][5] == pytest.approx(10 / 3)


def test_partial_fills_fill_a_fraction_per_bar_and_refund_better_prices(emu):
    emu.partial_fills(0.25)

    async def body(ex):
        order = await ex.create_order(SYM, "limit", "buy", 0.04, 39700)
        states = []
        for i in range(2, 6):
            emu.advance_to(bar(i))
            o = await ex.fetch_order(order["id"], SYM)
            states.append((o["status"], o["filled"]))
        return states, await ex.fetch_my_trades(SYM, params={"fromId": 1})

    states, trades = run(emu, body)
    assert states == [("open", 0.01), ("open", 0.02), ("open", 0.03), ("closed", 0.04)]
    # bars 1 and 2 trade through 39700; bars 3 (38800) and 4 (39400) open below it: filled at their opens
    assert [t["price"] for t in trades] == [39700.0, 39700.0, 38800.0, 39400.0]
    spent = D("0.01") * (D("39700") * 2 + D("38800") + D("39400"))
    assert emu.balances()["USDT"] == (D("10000") - spent, D("0"))
    assert emu.balances()["BTC"][0] == D("1") + D("0.04") - 4 * D("0.00001")


def test_my_trades_by_from_id_and_by_start_time(emu):
    async def body(ex):
        await ex.create_order(SYM, "limit", "buy", 0.01, 39700)
        await ex.create_order(SYM, "limit", "buy", 0.01, 39100)
        emu.advance_to(bar(3))  # fills in bar 1 (39700) and bar 2 (39100)
        everything = await ex.fetch_my_trades(SYM)
        since_bar2 = await ex.fetch_my_trades(SYM, since=bar(2))
        from_second = await ex.fetch_my_trades(SYM, params={"fromId": everything[1]["id"]})
        return everything, since_bar2, from_second

    everything, since_bar2, from_second = run(emu, body)
    assert [t["price"] for t in everything] == [39700.0, 39100.0]
    assert [t["id"] for t in since_bar2] == [everything[1]["id"]] == [t["id"] for t in from_second]
    assert [f["trade_id"] for f in emu.fills()] == [int(t["id"]) for t in everything]


def test_a_grid_on_bundled_btc_candles_fills_by_the_rule(btc_15m):
    """Real BTC 15m candles (3 days): a buy and a sell ladder, each fill checked against the candles."""
    from emulators.binance_spot import BinanceSpotEmulator

    df = btc_15m.loc["2025-03-03":"2025-03-05"]
    t_start = df.index[0].value // 1_000_000
    first = df.iloc[0]
    with BinanceSpotEmulator(t_start, balances={"USDT": "100000", "BTC": "1"}) as e:
        e.add_candles(SYM, "15m", df)

        async def body(ex):
            ladder = []
            for k in range(1, 6):
                buy = round(float(first["open"]) * (1 - 0.01 * k), 2)
                sell = round(float(first["open"]) * (1 + 0.01 * k), 2)
                ladder.append(await ex.create_order(SYM, "limit", "buy", 0.01, buy))
                ladder.append(await ex.create_order(SYM, "limit", "sell", 0.01, sell))
            for _ in range(len(df)):
                e.step()
            return ladder, await ex.fetch_my_trades(SYM, params={"fromId": 1, "limit": 1000})

        ladder, trades = run(e, body)
        fills = e.fills()
    assert fills and len(trades) == len(fills)
    by_order = {int(o["id"]): o for o in ladder}
    for f in fills:  # the first bar through the level, at the level (or at the open when it gaps past it)
        order = by_order[f["order_id"]]
        bar_open = pd.Timestamp(f["time"] + 1 - M15, unit="ms", tz="UTC")
        level, buy = order["price"], order["side"] == "buy"
        through = (df["low"] < level) | (df["open"] <= level) if buy else (df["high"] > level) | (df["open"] >= level)
        assert through[through].index[0] == bar_open
        opened = float(df.loc[bar_open, "open"])
        assert float(f["price"]) == (min(level, opened) if buy else max(level, opened))
