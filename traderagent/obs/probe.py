"""The container's health check: GET the runner's `/health` (or `/ready`) where its config says it listens.

    python -m traderagent.obs.probe --config /app/live/config.yaml [--path /ready] [--timeout 3]

Exit 0 when the endpoint answers 200, 1 when it answers otherwise or cannot be reached (or metrics are off:
there is nothing to ask), 2 on a bad config. One line on stdout or stderr either way: Docker keeps it in the
container's health log (`docker inspect --format '{{json .State.Health}}' traderagent-bot-1`).
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request

#: Addresses that mean "every interface": the probe asks the loopback one instead.
_ANY = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


def endpoint(host: str, port: int, path: str) -> str:
    """URL of `path` on a server bound to host:port, as seen from the same machine."""
    host = _ANY.get(host, host)
    return f"http://{f'[{host}]' if ':' in host else host}:{port}{path}"


def probe(url: str, timeout: float) -> tuple[int, str]:
    """(exit code, one line) for a GET of `url`."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - a local http URL
            return 0, f"{resp.status} {url} {_summary(resp.read())}"
    except urllib.error.HTTPError as exc:
        with exc:
            return 1, f"{exc.code} {url} {_summary(exc.read())}"
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return 1, f"cannot reach {url}: {reason}"


def _summary(body: bytes) -> str:
    try:
        return json.dumps(json.loads(body), sort_keys=True)
    except ValueError:
        return body[:200].decode(errors="replace").strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m traderagent.obs.probe",
                                     description="GET the runner's /health where its config says it listens")
    parser.add_argument("--config", help="the runner's config file (default: the packaged default)")
    parser.add_argument("--path", default="/health", choices=("/health", "/ready"), help="endpoint (default /health)")
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds to wait for the answer (default 3)")
    args = parser.parse_args(argv)

    from traderagent.config.loader import load_config
    from traderagent.errors import UserError

    try:
        live = load_config(args.config).live
    except UserError as exc:
        print(f"error: {exc}".splitlines()[0], file=sys.stderr)
        return 2
    if not live.metrics_port:
        print("metrics are off (live.metrics_port: 0): there is no /health to probe", file=sys.stderr)
        return 1
    code, line = probe(endpoint(live.metrics_host, live.metrics_port, args.path), args.timeout)
    print(line, file=sys.stdout if code == 0 else sys.stderr)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
