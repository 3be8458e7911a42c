"""Websocket connections of the emulator: the market stream (kline) and the WebSocket API (user data).

Two kinds of connection, each with its own fault switches:
  "market"  /stream/ws[/<n>]  Binance's raw stream endpoint: {"method": "SUBSCRIBE", "params": [...], "id": n}
            -> {"result": null, "id": n}; kline events as Binance sends them ({"e": "kline", ...}). A new
            subscription is answered with the forming candle's state at once (Binance pushes it every 2 s).
  "user"    /ws-api/v3  the WebSocket API: userDataStream.subscribe.signature (signed like REST; what ccxt
            4.5.90 uses for spot watch_orders/watch_my_trades, no listenKey), userDataStream.unsubscribe,
            ping, time. Events arrive as {"subscriptionId": n, "event": {...}}.

Faults (per kind): `drop` closes the sockets from the server side (close code 1001); `duplicate_next(n)` sends
each of the next n messages twice; `reorder_next(n)` holds the next n messages and sends them in reverse order
(once n have accumulated); `silence(seconds)` keeps the sockets open but sends nothing (messages due in the
meantime are lost) and answers no pings until it ends.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from .errors import ApiError

KINDS = ("market", "user")


class Conn:
    def __init__(self, ws: web.WebSocketResponse, kind: str) -> None:
        self.ws = ws
        self.kind = kind
        self.streams: set[str] = set()
        self.sub_id: int | None = None

    def frame(self, key: str | None, payload: dict) -> dict | None:
        """What this connection receives of a published message (None: not subscribed to it)."""
        if self.kind == "market":
            return payload if key in self.streams else None
        return {"subscriptionId": self.sub_id, "event": payload} if self.sub_id is not None else None


class Streams:
    def __init__(self, counts: Counter) -> None:
        self.conns: list[Conn] = []
        self.counts = counts
        self.silent_until = dict.fromkeys(KINDS, 0.0)
        self.duplicate = dict.fromkeys(KINDS, 0)
        self.reorder = dict.fromkeys(KINDS, 0)
        self.held: dict[str, list] = {k: [] for k in KINDS}
        self._sub_ids = 0
        self._closing: set[asyncio.Future] = set()

    # --- switches --------------------------------------------------------------------------------
    def silent(self, kind: str) -> bool:
        return time.monotonic() < self.silent_until[kind]

    def silence(self, kind: str, seconds: float) -> None:
        self.silent_until[kind] = time.monotonic() + seconds
        self.counts[f"ws_silence_{kind}"] += 1

    def drop(self, kind: str) -> int:
        """Send a close frame (1001) on every socket of `kind`; the closing handshake finishes in the background
        (the client answers it from its own loop, which may be the one waiting for this call)."""
        victims = [c for c in self.conns if c.kind == kind]
        self.counts[f"ws_drop_{kind}"] += len(victims)
        for conn in victims:
            task = asyncio.ensure_future(conn.ws.close(code=WSCloseCode.GOING_AWAY, message=b"emulator drop"))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
        return len(victims)

    async def close_all(self) -> None:
        """Close every socket (the emulator stops), waiting at most the close timeout."""
        for kind in KINDS:
            self.drop(kind)
        if self._closing:
            await asyncio.wait(list(self._closing))

    def subscribers(self, kind: str) -> int:
        return sum(1 for c in self.conns if c.kind == kind and (c.streams or c.sub_id is not None))

    def wants(self, stream: str) -> bool:
        return any(stream in c.streams for c in self.conns)

    # --- sending -----------------------------------------------------------------------------------
    def _transform(self, kind: str, items: list) -> list:
        out = []
        for item in items:
            if self.reorder[kind]:
                self.held[kind].append(item)
                if len(self.held[kind]) == self.reorder[kind]:
                    out.extend(reversed(self.held[kind]))
                    self.counts[f"ws_reorder_{kind}"] += 1
                    self.held[kind], self.reorder[kind] = [], 0
                continue
            out.append(item)
            if self.duplicate[kind]:
                out.append(item)
                self.duplicate[kind] -= 1
                self.counts[f"ws_duplicate_{kind}"] += 1
        return out

    async def send(self, conn: Conn, payload: dict) -> None:
        if self.silent(conn.kind):
            self.counts[f"ws_silenced_{conn.kind}"] += 1
            return
        try:
            await conn.ws.send_str(json.dumps(payload))
        except ConnectionError:  # the client is gone; its handler removes the connection
            pass

    async def publish(self, kind: str, items: list[tuple[str | None, dict]]) -> None:
        """Send (stream key, payload) messages to every connection of `kind` subscribed to them, in order."""
        for key, payload in self._transform(kind, items):
            for conn in [c for c in self.conns if c.kind == kind]:
                frame = conn.frame(key, payload)
                if frame is not None:
                    await self.send(conn, frame)

    # --- handlers ----------------------------------------------------------------------------------
    async def serve(self, request: web.Request, kind: str, on_text: Callable[[Conn, Any], Any]) -> web.StreamResponse:
        ws = web.WebSocketResponse(autoping=False, timeout=2.0)
        await ws.prepare(request)
        conn = Conn(ws, kind)
        self.conns.append(conn)
        try:
            while True:
                msg = await ws.receive()
                if msg.type == WSMsgType.TEXT:
                    try:
                        data = json.loads(msg.data)
                    except ValueError:
                        await self.send(conn, {"error": {"code": 3, "msg": "Invalid JSON"}, "id": None})
                        continue
                    await on_text(conn, data)
                elif msg.type == WSMsgType.PING:
                    if self.silent(kind):
                        self.counts[f"ws_ping_unanswered_{kind}"] += 1
                    else:
                        await ws.pong(msg.data)
                elif msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                    break
        finally:
            self.conns.remove(conn)
        return ws

    async def market_message(self, conn: Conn, data: dict, snapshot: Callable[[str], dict | None]) -> None:
        method, params, req_id = data.get("method"), data.get("params") or [], data.get("id")
        if method == "SUBSCRIBE":
            new = [s for s in params if s not in conn.streams]
            conn.streams.update(params)
            await self.send(conn, {"result": None, "id": req_id})
            for stream in new:
                payload = snapshot(stream)
                if payload is not None:
                    await self.send(conn, payload)
        elif method == "UNSUBSCRIBE":
            conn.streams.difference_update(params)
            await self.send(conn, {"result": None, "id": req_id})
        elif method == "LIST_SUBSCRIPTIONS":
            await self.send(conn, {"result": sorted(conn.streams), "id": req_id})
        else:
            await self.send(conn, {"error": {"code": 2, "msg": f"Invalid request: unknown method {method}"},
                                   "id": req_id})  # fmt: skip

    async def api_message(self, conn: Conn, data: dict, call: Callable[[Conn, str, dict], dict]) -> None:
        """A WebSocket API request -> {"id", "status": 200, "result"} or {"id", "status", "error"}."""
        req_id = data.get("id")
        try:
            result = call(conn, data.get("method") or "", data.get("params") or {})
            answer = {"id": req_id, "status": 200, "result": result}
        except ApiError as exc:
            answer = {"id": req_id, "status": exc.status, "error": exc.body()}
        await self.send(conn, answer)

    def subscribe_user(self, conn: Conn) -> int:
        conn.sub_id = self._sub_ids
        self._sub_ids += 1
        return conn.sub_id
