"""`/metrics`, `/health` and `/ready` on one port, served from a background thread.

A thread rather than the runner's asyncio loop: when the loop hangs, `/health` still answers (503, with how long
the loop has been silent) instead of timing out, and a scrape never waits behind a bar's work.

    server = serve(metrics, cfg.live)          # None when live.metrics_port is 0 (off)
    ...
    server.stop()

`MetricsServer(metrics, host, port=0)` binds an ephemeral port (tests); `server.url` tells where it listens.
- `/metrics`: prometheus_client's WSGI app over the Metrics' own registry (text or OpenMetrics by the Accept
  header, gzip when asked).
- `/health`: 200 while the loop iterated within `max_silence_seconds`, else 503; JSON body.
- `/ready`: 200 when markets are loaded, data fresh and the database reachable, else 503 naming which are not.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import make_wsgi_app

from traderagent.obs.metrics import Metrics

_STATUS = {200: "200 OK", 404: "404 Not Found", 405: "405 Method Not Allowed", 503: "503 Service Unavailable"}
_PATHS = ("/metrics", "/health", "/ready")


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        """Scrapes every few seconds would flood the runner's log; the runner logs what matters."""


def _family(host: str, port: int) -> socket.AddressFamily:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return infos[0][0]


def application(metrics: Metrics) -> Callable[[dict, Callable], Iterable[bytes]]:
    """The WSGI app of the three endpoints over `metrics`."""
    prometheus = make_wsgi_app(metrics.registry)

    def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "") or "/"
        if path == "/metrics":
            return prometheus(environ, start_response)
        if path not in _PATHS:
            return _json(start_response, 404, {"error": f"no such path {path}", "paths": list(_PATHS)})
        if environ.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD"):
            return _json(start_response, 405, {"error": "use GET"})
        ok, body = metrics.liveness() if path == "/health" else metrics.readiness()
        return _json(start_response, 200 if ok else 503, body)

    return app


def _json(start_response: Callable, code: int, body: dict) -> list[bytes]:
    data = (json.dumps(body, sort_keys=True) + "\n").encode()
    start_response(_STATUS[code], [("Content-Type", "application/json"), ("Content-Length", str(len(data))),
                                   ("Cache-Control", "no-store")])
    return [data]


class MetricsServer:
    """The endpoints of one `Metrics` on `host:port` (port 0: an ephemeral port), in a daemon thread."""

    def __init__(self, metrics: Metrics, host: str = "127.0.0.1", port: int = 0) -> None:
        if not 0 <= port <= 65535:
            raise ValueError(f"port must be 0..65535 (got {port})")
        self.metrics, self.host, self.requested_port = metrics, host, port
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> MetricsServer:
        """Bind and serve; an address in use or a host that does not resolve raises OSError naming it."""
        if self._server is not None:
            return self
        server_class = type("_Server", (_ThreadingServer,), {"address_family": _family(self.host,
                                                                                       self.requested_port)})
        try:
            self._server = make_server(self.host, self.requested_port, application(self.metrics),
                                       server_class=server_class, handler_class=_QuietHandler)
        except OSError as exc:
            raise OSError(exc.errno, f"metrics server cannot listen on {self.host}:{self.requested_port}: "
                                     f"{exc.strerror or exc}") from exc
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name=f"metrics-{self.port}", daemon=True)
        self._thread.start()
        return self

    @property
    def port(self) -> int:
        """The port listened on (the OS's choice when 0 was asked)."""
        if self._server is None:
            raise RuntimeError("the metrics server is not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving and release the port (idempotent)."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout)

    def __enter__(self) -> MetricsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(metrics: Metrics, live: Any) -> MetricsServer | None:
    """Start the endpoints where the config's `live` section says (`metrics_host`, `metrics_port`); None when
    `metrics_port` is 0 (metrics off)."""
    if not live.metrics_port:
        return None
    return MetricsServer(metrics, live.metrics_host, live.metrics_port).start()
