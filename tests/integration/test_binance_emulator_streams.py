"""The emulator's websockets through the real ccxt.pro client, and its kline payloads on the wire."""

from __future__ import annotations

import asyncio

import aiohttp
import ccxt
import pytest
from integration.binance_emu import M15, bar, emulator, run, started, until

SYM = "BTC/USDT"


@pytest.fixture
def emu():
    yield from emulator()


def rows(candles) -> list[list]:
    """A copy of what a watch returned (ccxt hands out its live cache, which later messages update)."""
    return [list(c) for c in candles]


def test_watch_ohlcv_receives_forming_updates_then_the_closed_candle(emu):
    async def body(ex):
        first = rows(await ex.watch_ohlcv(SYM, "15m"))  # subscribing answers with the forming candle at once
        pending = await started(ex.watch_ohlcv(SYM, "15m"))
        emu.advance_to(bar(0) + M15 // 2)  # halfway: the path open -> low -> high is at 40100
        forming = rows(await pending)
        pending = await started(ex.watch_ohlcv(SYM, "15m"))
        emu.advance_to(bar(1))
        closed = rows(await pending)
        await until(lambda: ex.ohlcvs[SYM]["15m"][-1][0] == bar(1))
        return first, forming, closed, rows(ex.ohlcvs[SYM]["15m"])

    first, forming, closed, cache = run(emu, body, pro=True)
    assert first == [[bar(0), 40000.0, 40000.0, 40000.0, 40000.0, 0.0]]
    assert forming == [[bar(0), 40000.0, 40100.0, 39800.0, 40100.0, 5.0]]
    assert closed[0] == [bar(0), 40000.0, 40400.0, 39800.0, 40200.0, 10.0]  # the registered row, exactly
    assert cache == [[bar(0), 40000.0, 40400.0, 39800.0, 40200.0, 10.0], [bar(1), 40200.0, 40200.0, 40200.0, 40200.0, 0.0]]
    assert not any(path.startswith("/api/v3/klines") for _, path, _ in emu.requests)


def test_kline_stream_payloads_are_binances_in_order_and_can_be_duplicated_or_reordered(emu):
    async def body():
        async with aiohttp.ClientSession() as session, session.ws_connect(emu.ws_url + "/stream/ws/0") as ws:
            await ws.send_json({"method": "SUBSCRIBE", "params": ["btcusdt@kline_15m"], "id": 7})
            got = [await ws.receive_json(timeout=5) for _ in range(2)]
            emu.advance_to(bar(1))
            got += [await ws.receive_json(timeout=5) for _ in range(2)]
            emu.duplicate_next(1)
            emu.advance_to(bar(1) + 60_000)
            got += [await ws.receive_json(timeout=5) for _ in range(2)]
            emu.reorder_next(2)
            emu.advance_to(bar(2))
            got += [await ws.receive_json(timeout=5) for _ in range(2)]
            return got

    reply, snapshot, close0, open1, dup_a, dup_b, first, second = asyncio.run(asyncio.wait_for(body(), 20))
    assert reply == {"result": None, "id": 7}
    k = close0["k"]
    assert (close0["e"], close0["E"], close0["s"]) == ("kline", bar(1), "BTCUSDT")
    assert (k["t"], k["T"], k["i"], k["x"]) == (bar(0), bar(1) - 1, "15m", True)
    assert (k["o"], k["h"], k["l"], k["c"], k["v"]) == ("40000.0", "40400.0", "39800.0", "40200.0", "10.0")
    assert (snapshot["k"]["t"], snapshot["k"]["x"], open1["k"]["t"], open1["k"]["x"]) == (bar(0), False, bar(1), False)
    assert dup_a == dup_b and dup_a["E"] == bar(1) + 60_000 and not dup_a["k"]["x"]
    assert (first["k"]["t"], first["k"]["x"], second["k"]["t"], second["k"]["x"]) == (bar(2), False, bar(1), True)
    assert {k: v for k, v in emu.fault_counts().items()} == {"ws_duplicate_market": 1, "ws_reorder_market": 1}


def test_watch_orders_and_watch_my_trades_receive_the_fill_through_the_websocket_api(emu):
    async def body(ex):
        pending = await started(ex.watch_orders(SYM))
        await until(lambda: emu.subscribers("user") == 1)
        placed = await ex.create_order(SYM, "limit", "buy", 0.01, 39700, {"clientOrderId": "w1"})
        new = await pending
        orders = await started(ex.watch_orders(SYM))
        trades = await started(ex.watch_my_trades(SYM))
        emu.advance_to(bar(2))
        return placed, [dict(o) for o in new], await orders, await trades

    placed, new, filled, trades = run(emu, body, pro=True)
    assert [(o["id"], o["clientOrderId"], o["status"]) for o in new] == [(placed["id"], "w1", "open")]
    order = filled[-1]
    assert (order["id"], order["status"], order["filled"], order["average"]) == (placed["id"], "closed", 0.01, 39700.0)
    [trade] = trades
    assert (trade["order"], trade["price"], trade["amount"], trade["fee"]["cost"]) == (placed["id"], 39700.0, 0.01, 0.00001)
    # spot user data in ccxt 4.5.90: the WebSocket API signature subscription, no REST listenKey
    assert not any("userDataStream" in path for _, path, _ in emu.requests)


def test_a_dropped_socket_fails_the_pending_watch_and_the_next_call_reconnects(emu):
    async def body(ex):
        await ex.watch_ohlcv(SYM, "15m")
        pending = await started(ex.watch_ohlcv(SYM, "15m"))
        assert emu.drop_streams("market") == 1
        with pytest.raises(ccxt.NetworkError, match="closing code 1001"):
            await pending
        again = await ex.watch_ohlcv(SYM, "15m")  # a new socket, subscribed again
        assert again[-1][0] == bar(0) and emu.subscribers("market") == 1

        pending = await started(ex.watch_orders(SYM))
        await until(lambda: emu.subscribers("user") == 1)
        assert emu.drop_streams("user") == 1
        with pytest.raises(ccxt.NetworkError, match="closing code 1001"):
            await pending
        pending = await started(ex.watch_orders(SYM))  # signs a new subscription
        await until(lambda: emu.subscribers("user") == 1)
        placed = await ex.create_order(SYM, "limit", "buy", 0.01, 39700)
        return placed, await pending

    placed, orders = run(emu, body, pro=True)
    assert [(o["id"], o["status"]) for o in orders] == [(placed["id"], "open")]
    assert emu.fault_counts() == {"ws_drop_market": 1, "ws_drop_user": 1}


def test_a_silent_socket_sends_nothing_while_it_lasts(emu):
    async def body(ex):
        await ex.watch_ohlcv(SYM, "15m")
        emu.silence(30)
        pending = await started(ex.watch_ohlcv(SYM, "15m"))
        emu.advance_to(bar(0) + M15 // 3)  # an update falls due and is lost
        done, _ = await asyncio.wait([pending], timeout=0.3)
        assert not done and not pending.done()
        emu.silence(0)  # ends it
        emu.advance_to(bar(0) + M15 // 2)
        return rows(await pending)

    assert run(emu, body, pro=True) == [[bar(0), 40000.0, 40100.0, 39800.0, 40100.0, 5.0]]
    assert emu.fault_counts() == {"ws_silence_market": 2, "ws_silenced_market": 1}


def test_a_silent_socket_answers_no_pings_and_ccxt_times_it_out(emu):
    async def body(ex):
        await ex.watch_ohlcv(SYM, "15m")
        emu.silence(30)
        with pytest.raises(ccxt.RequestTimeout, match="ping-pong keepalive missing"):
            await ex.watch_ohlcv(SYM, "15m")
        emu.silence(0)
        return rows(await ex.watch_ohlcv(SYM, "15m"))  # a new connection once the silence has ended

    assert run(emu, body, pro=True, streaming={"keepAlive": 100})[-1][0] == bar(0)
    assert emu.fault_counts()["ws_ping_unanswered_market"] >= 1


def test_duplicate_and_reordered_user_events_leave_ccxts_order_cache_right(emu):
    async def body(ex):
        pending = await started(ex.watch_orders(SYM))
        await until(lambda: emu.subscribers("user") == 1)
        emu.duplicate_next(2, kind="user")  # NEW and the balance update, each sent twice
        placed = await ex.create_order(SYM, "limit", "buy", 0.01, 39700)
        await pending
        emu.reorder_next(2, kind="user")  # the fill's balance update arrives before its executionReport
        pending = await started(ex.watch_orders(SYM))
        emu.advance_to(bar(2))
        await pending
        return placed, list(ex.orders)

    placed, cache = run(emu, body, pro=True)
    assert [(o["id"], o["status"], o["filled"]) for o in cache] == [(placed["id"], "closed", 0.01)]
    assert emu.fault_counts() == {"ws_duplicate_user": 2, "ws_reorder_user": 1}


def test_the_websocket_api_checks_the_signature(emu):
    """The emulator answers -1022; ccxt 4.5.90 maps it to AuthenticationError, then loses it: handle_ws_error
    deletes client.subscriptions['spot'] and the subscribe's except-block deletes it again (KeyError)."""

    async def body(ex):
        with pytest.raises(KeyError, match="spot") as lost:
            await ex.watch_orders(SYM)
        cause = lost.value.__context__
        assert isinstance(cause, ccxt.AuthenticationError) and '"code":-1022' in str(cause)

    run(emu, body, pro=True, secret="not-the-secret")
    assert emu.subscribers("user") == 0
