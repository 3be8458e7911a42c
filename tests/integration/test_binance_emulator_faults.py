"""Each fault switch of the emulator, seen through the real ccxt async client: the exception class it maps to.

ccxt 4.5.90's mapping (what a live runner has to catch): 418 and 429 -> DDoSProtection (not
RateLimitExceeded: binance.handle_errors raises DDoSProtection for both statuses first); a gateway's 5xx
page -> ExchangeNotAvailable, 504 -> RequestTimeout; -1001 -> OperationFailed, the *parent* of NetworkError
(an `except NetworkError` does not catch it); -1021 -> InvalidNonce (a NetworkError); -2010 -> InvalidOrder,
or InsufficientFunds when the message is "Account has insufficient balance for requested action.";
-1013 -> BadRequest, or InvalidOrder when the message names LOT_SIZE or PRICE_FILTER.
"""

from __future__ import annotations

import ccxt
import pytest
from emulators.binance_spot import BinanceSpotEmulator
from integration.binance_emu import T0, bar, emulator, run, table

SYM = "BTC/USDT"


@pytest.fixture
def emu():
    yield from emulator()


async def balance(ex):
    return await ex.fetch_balance()


@pytest.mark.parametrize(
    ("status", "error", "message"),
    [
        (418, ccxt.DDoSProtection, f'418 I\'m a Teapot {{"code": -1003, "msg": "Way too much request weight used; IP banned until {T0 + 60_000}.'),
        (429, ccxt.DDoSProtection, '429 Too Many Requests {"code": -1003, "msg": "Too much request weight used; current limit is 6000 request weight per 1 MINUTE.'),
        (500, ccxt.ExchangeNotAvailable, "/api/v3/account.* 500 Internal Server Error <html>"),
        (503, ccxt.ExchangeNotAvailable, "/api/v3/account.* 503 Service Unavailable <html>"),
        (504, ccxt.RequestTimeout, "/api/v3/account.* 504 Gateway Timeout <html>"),
    ],
)  # fmt: skip
def test_http_status_bursts_raise_the_mapped_class(emu, status, error, message):
    emu.fail_next(status, "/api/v3/account", times=2)

    async def body(ex):
        for _ in range(2):
            with pytest.raises(error, match=message) as raised:
                await ex.fetch_balance()
            assert not isinstance(raised.value, ccxt.RateLimitExceeded)
        headers = dict(ex.last_response_headers)
        return headers, await ex.fetch_balance()  # the burst is over

    headers, after = run(emu, body)
    assert after["USDT"]["free"] == 10000.0
    assert headers.get("Retry-After") == ("60" if status in (418, 429) else None)
    assert emu.fault_counts() == {f"http_{status}": 2}


def test_a_slow_answer_is_a_request_timeout(emu):
    emu.delay_next(2.0, "/api/v3/account")
    with pytest.raises(ccxt.RequestTimeout, match="GET http://127.0.0.1:[0-9]+/api/v3/account"):
        run(emu, balance, timeout=300)
    assert emu.fault_counts() == {"delay": 1}


def test_a_lost_order_response_times_out_but_the_order_is_placed_and_found_by_client_id(emu):
    emu.lose_next_order_response()

    async def body(ex):
        with pytest.raises(ccxt.RequestTimeout, match="POST http://127.0.0.1:[0-9]+/api/v3/order"):
            await ex.create_order(SYM, "limit", "buy", 0.01, 39700, {"clientOrderId": "lost-1"})
        found = await ex.fetch_order(None, SYM, {"clientOrderId": "lost-1"})
        with pytest.raises(ccxt.InvalidOrder, match="Duplicate order sent."):  # a blind retry is refused
            await ex.create_order(SYM, "limit", "buy", 0.01, 39700, {"clientOrderId": "lost-1"})
        return found

    found = run(emu, body, timeout=500)
    assert (found["status"], found["price"], found["amount"]) == ("open", 39700.0, 0.01)
    assert [(r["order_id"], r["error"]) for r in emu.orders_by_client_id()["lost-1"]] == [(1, None), (None, -2010)]
    assert emu.fault_counts() == {"lose": 1}
    assert emu.balances()["USDT"] == (9603, 397)  # the placed order holds its funds


@pytest.mark.parametrize(
    ("code", "status", "error", "message"),
    [
        (-2010, None, ccxt.InsufficientFunds, "^binance Account has insufficient balance for requested action.$"),
        (-2010, 200, ccxt.InsufficientFunds, "^binance Account has insufficient balance for requested action.$"),
        (-1013, None, ccxt.InvalidOrder, '"code": -1013, "msg": "Filter failure: LOT_SIZE"'),
        (-1001, None, ccxt.OperationFailed, '"code": -1001, "msg": "Internal error; unable to process your request. Please try again."'),
        (-1021, None, ccxt.InvalidNonce, '"code": -1021, "msg": "Timestamp for this request is outside of the recvWindow."'),
    ],
)  # fmt: skip
def test_order_rejects_raise_the_mapped_class(emu, code, status, error, message):
    emu.reject_next_order(code, status=status)

    async def body(ex):
        with pytest.raises(error, match=message) as raised:
            await ex.create_order(SYM, "limit", "buy", 0.01, 39700, {"clientOrderId": "r1"})
        return raised.value

    raised = run(emu, body)
    if code == -1001:  # OperationFailed is above NetworkError: retry loops catching NetworkError miss it
        assert not isinstance(raised, ccxt.NetworkError)
    assert emu.orders_by_client_id() == {"r1": [{"time": T0, "symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT",
                                                 "order_id": None, "error": code}]}  # fmt: skip
    assert emu.orders() == [] and emu.fault_counts() == {f"reject_{code}": 1}


def test_request_weight_is_counted_per_minute_and_limited():
    with BinanceSpotEmulator(T0, balances={"USDT": "1"}, weight_limit=45) as e:
        e.add_candles(SYM, "15m", table())

        async def body(ex):
            await ex.load_markets()  # exchangeInfo: 20
            await ex.fetch_balance()  # account: 20 -> 40
            assert ex.last_response_headers["X-MBX-USED-WEIGHT-1M"] == "40"
            with pytest.raises(ccxt.DDoSProtection, match="current limit is 45 request weight per 1 MINUTE"):
                await ex.fetch_balance()  # 60 > 45
            retry = ex.last_response_headers["Retry-After"]
            e.advance_to(T0 + 60_000)  # a new minute of the exchange clock
            await ex.fetch_balance()
            return retry

        assert run(e, body) == "60"
        assert e.weight_per_minute() == {T0: 60, T0 + 60_000: 20}
        assert e.fault_counts() == {"weight_limit": 1}


def test_the_clock_only_moves_forward(emu):
    emu.advance_to(bar(2))
    with pytest.raises(ValueError, match="only moves forward"):
        emu.advance_to(bar(1))
    assert emu.now() == bar(2) and emu.step() == bar(3) == emu.now()


def test_after_a_successful_private_call_ccxt_reads_2015_as_a_temporary_ban(emu):
    emu.reject_next_order(-2015)

    async def body(ex):
        await ex.fetch_balance()  # ccxt now sets options["hasAlreadyAuthenticatedSuccessfully"]
        with pytest.raises(ccxt.DDoSProtection, match='"code": -2015, "msg": "Invalid API-key, IP, or permissions'):
            await ex.create_order(SYM, "limit", "buy", 0.01, 39700)

    run(emu, body)
    assert emu.fault_counts() == {"reject_-2015": 1}
