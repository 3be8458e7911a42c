"""Helpers of the operations tests: Debian's Prometheus tools, free ports, bounded waits, a fake Telegram Bot API.

Under CI=true a missing tool fails the run (`.ci/run` installs the `prometheus` and `prometheus-alertmanager`
packages); elsewhere the test is skipped with the command that installs it.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
ROOT = Path(__file__).resolve().parents[2]
LIVE = ROOT / "live"
VENV_BIN = Path(sys.executable).parent

#: binary -> Debian package that ships it
PACKAGES = {"promtool": "prometheus", "prometheus": "prometheus", "amtool": "prometheus-alertmanager",
            "prometheus-alertmanager": "prometheus-alertmanager"}


def require_tool(name: str) -> str:
    """Path of a Debian tool (PACKAGES), or fail (CI) / skip (elsewhere) naming the package to install."""
    path = shutil.which(name)
    if path:
        return path
    message = f"{name} not found: apt-get install -y {PACKAGES[name]}"
    if IN_CI:
        pytest.fail(message + " (CI=true: .ci/run installs it; this test is never skipped)", pytrace=False)
    pytest.skip(message)


def venv_tool(name: str) -> str:
    """A console script of the project's venv (hadolint, check-jsonschema: dev dependencies in the lock)."""
    path = VENV_BIN / name
    if not path.exists():
        pytest.fail(f"{path} missing: `make sample` installs the lock's dev dependencies", pytrace=False)
    return str(path)


def run(cmd: list[str], timeout: float = 120, **kw: Any) -> subprocess.CompletedProcess:
    """Run a command, print what it printed (the operations doc quotes these outputs), return the result."""
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    print(f"$ {' '.join(cmd)}\n{result.stdout}{result.stderr}(exit {result.returncode})")
    return result


def free_port() -> int:
    """A port nobody listens on right now (for programs that cannot be told to pick one)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(check: Callable[[], Any], what: str, timeout: float = 60.0, every: float = 0.25,
             log: Callable[[], str] | None = None) -> Any:
    """Poll `check` until it returns something truthy; fail naming `what` (and a log tail) after `timeout` s.
    A bound on a wait, not a timing assertion: a slow machine only waits longer."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}" + (f"\n{log()}" if log else ""))
        time.sleep(every)


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"({path} unreadable)"


class FakeTelegram:
    """The slice of the Telegram Bot API that Alertmanager's notifier calls (POST /bot<token>/sendMessage), on
    127.0.0.1; every request is recorded as (path, JSON body)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    payload = json.loads(body or b"{}")
                except ValueError:
                    payload = {"raw": body.decode(errors="replace")}
                owner.requests.append((self.path, payload))
                chat = int(payload.get("chat_id", 0) or 0)
                reply = {"ok": True, "result": {"message_id": len(owner.requests), "date": int(time.time()),
                                                "chat": {"id": chat, "type": "group" if chat < 0 else "private"},
                                                "text": payload.get("text", "")}}
                data = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1},
                                        daemon=True)
        self._thread.start()

    def messages(self) -> list[dict]:
        return [body for path, body in list(self.requests) if path.endswith("/sendMessage")]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)


class Process:
    """A program this test started, stopped by its own handle (terminate, then kill), with its log in a file."""

    def __init__(self, cmd: list[str], log: Path, env: dict | None = None) -> None:
        self.log = log
        self._file = log.open("w")
        self.proc = subprocess.Popen(cmd, stdout=self._file, stderr=subprocess.STDOUT, env=env)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._file.close()
