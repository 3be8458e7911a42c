"""Deterministic client order ids: (account, instance, bar, intent tag) -> at most 36 characters of
`.A-Za-z0-9:/_-` (Binance's `newClientOrderId` rule). The same inputs always give the same id, different
inputs never the same one, so a restarted runner recognises its orders and never sends an id twice.

    <account>.<instance>.<bar minute, base 36>.<tag, base 36; m = negative>      e.g. ta.grid-btc.kx3f9c.m3
"""

from __future__ import annotations

import hashlib
import re

ALLOWED = re.compile(r"^[.A-Za-z0-9:/_-]{1,36}$")
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
_NAME = re.compile(r"[^A-Za-z0-9_-]")


def base36(n: int) -> str:
    if n < 0:
        raise ValueError("base36 takes n >= 0")
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = _DIGITS[r] + out
        if n == 0:
            return out


def short_name(name: str, width: int) -> str:
    """`name` with only [A-Za-z0-9_-], at most `width` characters (a longer one keeps a hash of the whole)."""
    clean = _NAME.sub("-", name)
    if len(clean) <= width and clean:
        return clean
    digest = hashlib.sha1(name.encode()).hexdigest()[:5]
    return clean[: width - 6] + "-" + digest


def client_order_id(account: str, instance: str, bar_open_ns: int, tag: int) -> str:
    """The id of the order with intent `tag` an instance decides at the close of the bar opened at `bar_open_ns`."""
    minute = base36(int(bar_open_ns) // 60_000_000_000)
    t = ("m" + base36(-int(tag))) if tag < 0 else base36(int(tag))
    cid = f"{short_name(account, 6)}.{short_name(instance, 12)}.{minute}.{t}"
    assert ALLOWED.match(cid), cid
    return cid


def parse_client_order_id(cid: str) -> tuple[str, str, int, int] | None:
    """(account, instance, bar minute, tag) of one of our ids; None for an id we did not make."""
    parts = cid.split(".")
    if len(parts) != 4 or not ALLOWED.match(cid):
        return None
    try:
        minute = int(parts[2], 36)
        tag = -int(parts[3][1:], 36) if parts[3].startswith("m") else int(parts[3], 36)
    except ValueError:
        return None
    return parts[0], parts[1], minute, tag
