"""A local Binance spot exchange (REST + websockets, one port) for tests with the real ccxt clients.

    from emulators.binance_spot import BinanceSpotEmulator

    with BinanceSpotEmulator(now_ms=t0, balances={"USDT": 10_000, "BTC": 1}) as emu:
        emu.add_candles("BTC/USDT", "15m", df)       # OHLCV, UTC open-time index (read_candles' frame)
        ex = emu.rest_client()                       # ccxt.async_support.binance; emu.pro_client(): ccxt.pro
        ...                                          # orders through ccxt
        emu.step()                                   # the clock moves one bar: fills, kline + user events

Modules: `server` (the emulator: lifecycle, clock, switches, counters, ccxt clients), `rest` (endpoints,
weights, SIGNED checks), `streams` (kline stream and WebSocket API user data stream, their faults), `book`
(balances, orders, trades and THE FILL RULE, documented there), `candles` (klines and the forming candle),
`faults` (HTTP fault switches), `errors` (Binance's codes and messages, signatures, recvWindow).
docs/emulators.md lists the endpoints, switches and the fill rule, and what ccxt maps each error to.
"""

from .server import BinanceSpotEmulator

__all__ = ["BinanceSpotEmulator"]
