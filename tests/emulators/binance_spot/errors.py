"""Binance's error codes and messages (as the spot API sends them) and the request-signing checks.

Binance answers every API error as JSON {"code": <negative int>, "msg": <text>} with an HTTP status (400 for
request errors; 418/429 for bans and limits, with Retry-After; 503 for -1001). ccxt maps on the code and on
the exact message, so both are copied verbatim from Binance's documentation ("Error codes for Binance").
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

INSUFFICIENT_BALANCE = "Account has insufficient balance for requested action."
DUPLICATE_ORDER = "Duplicate order sent."
MESSAGES = {  # the default message per code (used by the reject switches)
    -1000: "An unknown error occurred while processing the request.",
    -1001: "Internal error; unable to process your request. Please try again.",
    -1003: "Too much request weight used; current limit is 6000 request weight per 1 MINUTE. "
    "Please use WebSocket Streams for live updates to avoid polling the API.",
    -1013: "Filter failure: LOT_SIZE",
    -1021: "Timestamp for this request is outside of the recvWindow.",
    -1022: "Signature for this request is not valid.",
    -1121: "Invalid symbol.",
    -2010: INSUFFICIENT_BALANCE,
    -2011: "Unknown order sent.",
    -2013: "Order does not exist.",
    -2014: "API-key format invalid.",
    -2015: "Invalid API-key, IP, or permissions for action.",
}
DEFAULT_STATUS = {-1001: 503, -1003: 429}
_NUMBER = re.compile(r"^([0-9]{1,20})(\.[0-9]{1,20})?$")


class ApiError(Exception):
    """An error answer: HTTP `status`, Binance `code` and `msg`, and extra headers (Retry-After)."""

    def __init__(self, code: int, msg: str | None = None, status: int | None = None, headers=None) -> None:
        self.code = code
        self.msg = msg if msg is not None else MESSAGES[code]
        self.status = status if status is not None else DEFAULT_STATUS.get(code, 400)
        self.headers = dict(headers or {})
        super().__init__(f"{self.code} {self.msg}")

    def body(self) -> dict:
        return {"code": self.code, "msg": self.msg}


def mandatory(name: str) -> ApiError:
    return ApiError(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


def decimal_param(params: Mapping[str, str], name: str, required: bool = True) -> Decimal | None:
    """A decimal parameter as Binance parses it (-1102 when missing, -1100 when not a plain number)."""
    raw = params.get(name)
    if raw is None or raw == "":
        if required:
            raise mandatory(name)
        return None
    if not _NUMBER.match(raw):
        raise ApiError(
            -1100, f"Illegal characters found in parameter '{name}'; legal range is '{_NUMBER.pattern}'."
        )
    try:
        return Decimal(raw)
    except InvalidOperation:  # pragma: no cover - the pattern admits only valid decimals
        raise ApiError(-1100, f"Illegal characters found in parameter '{name}'.") from None


def int_param(params: Mapping[str, str], name: str, default: int | None = None) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    if not raw.lstrip("-").isdigit():
        raise ApiError(-1100, f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'.")
    return int(raw)


def _strip_signature(raw: str) -> tuple[str, str | None]:
    """(`raw` without its signature=... pair, the signature) for a urlencoded string."""
    kept, signature = [], None
    for part in raw.split("&") if raw else []:
        if part.startswith("signature="):
            signature = part[len("signature=") :]
        else:
            kept.append(part)
    return "&".join(kept), signature


def hmac_hex(secret: str, payload: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def check_rest_signature(secret: str, query: str, body: str) -> None:
    """Binance's SIGNED check: HMAC-SHA256 of the query string concatenated with the body (signature removed)."""
    query_rest, sig_q = _strip_signature(query)
    body_rest, sig_b = _strip_signature(body)
    signature = sig_q or sig_b
    if not signature:
        raise mandatory("signature")
    if not hmac.compare_digest(signature.lower(), hmac_hex(secret, query_rest + body_rest)):
        raise ApiError(-1022)


def check_ws_signature(secret: str, params: Mapping[str, object]) -> None:
    """WebSocket API signing: HMAC-SHA256 of the other params sorted by name, as key=value joined by '&'."""
    signature = params.get("signature")
    if not isinstance(signature, str) or not signature:
        raise mandatory("signature")
    payload = "&".join(f"{k}={params[k]}" for k in sorted(params) if k != "signature")
    if not hmac.compare_digest(signature.lower(), hmac_hex(secret, payload)):
        raise ApiError(-1022)


def check_timestamp(params: Mapping[str, object], now: int) -> None:
    """-1021 unless now - recvWindow <= timestamp < now + 1000 (Binance's rule; recvWindow default 5000)."""
    raw_ts, raw_window = params.get("timestamp"), params.get("recvWindow", 5000)
    try:
        timestamp = int(str(raw_ts))
        window = int(str(raw_window))
    except ValueError:
        raise mandatory("timestamp" if raw_ts is None or not str(raw_ts).isdigit() else "recvWindow") from None
    if window > 60_000:
        raise ApiError(-1131, "recvWindow must be less than 60000.")
    if timestamp >= now + 1000:
        raise ApiError(-1021, "Timestamp for this request was 1000ms ahead of the server's time.")
    if now - timestamp > window:
        raise ApiError(-1021)
