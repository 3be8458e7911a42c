"""Download candles from an exchange through ccxt.

`download` pages through `fetch_ohlcv` from `since` to `until` (exclusive, open times), retries transient
network errors with bounded exponential backoff, and drops the still-forming candle: a candle is kept only
if open + timeframe <= the exchange's clock when the download started. The exchange object is a seam:
pass one in (tests point a real ccxt client at a local emulator) or let `make_exchange` build it.

Exchange errors become one-line `UserError`s (`unknown symbol FOO/USDT on binance`, ...).
ccxt is imported inside the functions, so importing this module stays cheap.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from traderagent.data import timeframes
from traderagent.data.validate import OHLCV, check_candles
from traderagent.errors import UserError

#: Candles per request for exchanges whose maximum is known (others use the exchange's default).
PAGE_LIMITS = {"binance": 1000, "binanceus": 1000, "bybit": 1000, "okx": 300, "kucoin": 1500}
MAX_BACKOFF_S = 30.0


def make_exchange(exchange_id: str) -> Any:
    """A ccxt exchange with rate limiting on (public data only; no keys)."""
    import ccxt

    cls = getattr(ccxt, exchange_id.lower(), None) if exchange_id.lower() in ccxt.exchanges else None
    if cls is None:
        raise UserError(
            f"unknown exchange {exchange_id!r}; use a ccxt exchange id such as binance, bybit, okx, kraken"
        )
    options: dict[str, Any] = {}
    if exchange_id.lower().startswith("binance"):
        options = {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False, "fetchMargins": False}
    return cls({"enableRateLimit": True, "options": options})


def to_ms(value: str | int | float | pd.Timestamp | None, what: str = "time") -> int | None:
    """Epoch ms from an ISO date/datetime (naive = UTC), a Timestamp, or ms already; None stays None."""
    if value is None:
        return None
    if isinstance(value, int | float | np.integer) and not isinstance(value, bool):
        return int(value)
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError):
        ts = pd.NaT
    if ts is pd.NaT:
        raise UserError(
            f"{what} {value!r} is not a date; use YYYY-MM-DD or ISO 8601 like 2024-01-01T00:00:00Z"
        )
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return int(ts.as_unit("ns").value // 1_000_000)


def _transient() -> tuple[type[Exception], ...]:
    import ccxt

    return (ccxt.NetworkError, ccxt.RequestTimeout, ccxt.ExchangeNotAvailable, ccxt.DDoSProtection)


def call_with_retries(
    fn: Callable[[], Any],
    what: str,
    retries: int = 5,
    backoff: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
    notify: Callable[[str, float], None] | None = None,
) -> Any:
    """Call `fn`, retrying transient ccxt errors up to `retries` times (waits backoff, 2*backoff, ... <= 30 s).

    `notify(message, wait_seconds)` hears about each retry before the wait (the CLI shows it with a bar)."""
    transient = _transient()
    for attempt in range(retries + 1):
        try:
            return fn()
        except transient as exc:
            if attempt == retries:
                raise UserError(
                    f"{what}: no answer after {retries + 1} attempts ({type(exc).__name__}: "
                    f"{_first_line(exc)}); check the connection or try again later"
                ) from exc
            wait = min(backoff * 2**attempt, MAX_BACKOFF_S)
            if notify is not None:
                notify(f"{what}: {type(exc).__name__}: {_first_line(exc, 80)}; retry {attempt + 1}/{retries}", wait)
            sleep(wait)
    raise AssertionError("unreachable")


def _retry_bar(message: str, wait: float) -> None:
    """A countdown bar on stderr while a retry waits (progress on: the downloader was asked for bars)."""
    from tqdm import tqdm

    steps = max(1, int(wait * 10))
    with tqdm(total=steps, desc=f"{message} in {wait:g} s", file=sys.stderr, leave=False, disable=None,
              bar_format="{desc} {bar} {remaining}") as bar:
        for _ in range(steps):
            time.sleep(wait / steps)
            bar.update(1)


def _first_line(exc: BaseException, width: int = 160) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:width]


def _exchange_error(exc: Exception, exchange_id: str, symbol: str) -> UserError:
    import ccxt

    if isinstance(exc, ccxt.BadSymbol):
        return UserError(f"unknown symbol {symbol} on {exchange_id} (symbols look like BTC/USDT)")
    return UserError(f"{exchange_id}: {type(exc).__name__}: {_first_line(exc)}")


def exchange_now_ms(exchange: Any, **retry: Any) -> int:
    """The exchange's clock: its server time when it has one, else ccxt's clock corrected by timeDifference."""
    import ccxt

    if exchange.has.get("fetchTime"):
        try:
            return int(call_with_retries(exchange.fetch_time, f"{exchange.id} server time", **retry))
        except ccxt.NotSupported:
            pass
    return int(exchange.milliseconds() - exchange.options.get("timeDifference", 0))


def download(
    exchange_id: str,
    symbol: str,
    timeframe: str,
    since: str | int | pd.Timestamp,
    until: str | int | pd.Timestamp | None = None,
    exchange: Any = None,
    progress: bool = True,
    limit: int | None = None,
    retries: int = 5,
    backoff: float = 1.0,
) -> pd.DataFrame:
    """Closed candles with open time in [since, until) (until defaults to now), validated and indexed by open time.

    `exchange`: a ccxt exchange object to use instead of building one from `exchange_id` (the test seam).
    `progress`: a tqdm bar on stderr (shown only on a terminal).
    """
    tf = timeframes.normalize(timeframe)
    step = timeframes.seconds(tf) * 1000
    since_ms = to_ms(since, "since")
    until_ms = to_ms(until, "until")
    if since_ms is None:
        raise UserError("since is required: the open time of the first candle, e.g. 2024-01-01")
    if until_ms is not None and until_ms <= since_ms:
        raise UserError(f"until ({until}) must be after since ({since})")
    import ccxt  # after the arguments are checked: importing ccxt takes about a second

    own = exchange is None
    ex = make_exchange(exchange_id) if own else exchange
    retry: dict[str, Any] = {"retries": retries, "backoff": backoff}
    if progress:  # say what is happening instead of waiting in silence (about 30 s over 5 retries)
        retry.update(sleep=lambda _: None, notify=_retry_bar)
    try:
        try:
            call_with_retries(ex.load_markets, f"{exchange_id} markets", **retry)
            market = ex.market(symbol)
        except ccxt.BaseError as exc:
            raise _exchange_error(exc, exchange_id, symbol) from exc
        if getattr(ex, "timeframes", None) and tf not in ex.timeframes:
            raise UserError(f"{exchange_id} has no {tf} candles; it offers {' '.join(ex.timeframes)}")
        now_ms = exchange_now_ms(ex, **retry)
        end = now_ms if until_ms is None else min(until_ms, now_ms)
        rows = _pages(
            ex,
            market["symbol"],
            tf,
            step,
            since_ms,
            end,
            now_ms,
            limit or PAGE_LIMITS.get(ex.id),
            progress,
            retry,
            f"{exchange_id} {symbol} {tf}",
        )
    except ccxt.BaseError as exc:
        raise _exchange_error(exc, exchange_id, symbol) from exc
    finally:
        if own:
            ex.close()
    return _to_frame(rows, f"{exchange_id} {symbol} {tf}", tf, symbol)


def _pages(
    ex: Any,
    symbol: str,
    tf: str,
    step: int,
    since_ms: int,
    end_ms: int,
    now_ms: int,
    limit: int | None,
    progress: bool,
    retry: dict,
    what: str,
) -> dict[int, list]:
    """Fetch pages until the cursor passes `end_ms` (exclusive) or the exchange has nothing newer."""
    from tqdm import tqdm

    rows: dict[int, list] = {}
    cursor = since_ms
    total = max(0, (end_ms - since_ms) // step)
    with tqdm(total=total, unit="bar", desc=what, file=sys.stderr, disable=None if progress else True) as bar:
        while cursor < end_ms and cursor + step <= now_ms:
            batch = call_with_retries(
                lambda c=cursor: ex.fetch_ohlcv(symbol, tf, since=c, limit=limit), what, **retry
            )
            if not batch:
                break
            kept = 0
            for r in batch:
                t = int(r[0])
                if since_ms <= t < end_ms and t + step <= now_ms and t not in rows:
                    rows[t] = list(r[:6])
                    kept += 1
            bar.update(kept)
            last = int(batch[-1][0])
            if last < cursor:
                break  # the exchange ignores `since`; nothing newer to get
            cursor = last + step
    return rows


def _to_frame(rows: dict[int, list], source: str, tf: str, symbol: str) -> pd.DataFrame:
    keys = sorted(rows)
    data = np.array([rows[k][1:6] for k in keys], dtype=np.float64).reshape(len(keys), 5)
    idx = pd.DatetimeIndex(
        pd.to_datetime(np.array(keys, dtype=np.int64), unit="ms", utc=True).as_unit("ns"), name="timestamp"
    )
    df = pd.DataFrame(data, index=idx, columns=list(OHLCV))
    if len(df):
        check_candles(df, source, tf)
    df.attrs.update(source=source, symbol=symbol, timeframe=tf)
    return df


def download_to_file(
    exchange_id: str,
    symbol: str,
    timeframe: str,
    since: str | int | pd.Timestamp,
    until: str | int | pd.Timestamp | None = None,
    path: str | Path | None = None,
    exchange: Any = None,
    progress: bool = True,
) -> Path:
    """Download and write a fresh file (format from the suffix; default the store's path for the market)."""
    from traderagent.data.io import write_candles
    from traderagent.data.store import store_path

    df = download(exchange_id, symbol, timeframe, since, until, exchange=exchange, progress=progress)
    if df.empty:
        raise UserError(
            f"{exchange_id} returned no closed {symbol} {timeframe} candles between {since} and {until or 'now'}"
        )
    return write_candles(df, Path(path) if path else store_path(symbol, timeframe, exchange_id))


def download_to_store(
    exchange_id: str,
    symbol: str,
    timeframe: str,
    since: str | int | pd.Timestamp,
    until: str | int | pd.Timestamp | None = None,
    exchange: Any = None,
    progress: bool = True,
    root: Path | None = None,
) -> tuple[Path, pd.DataFrame]:
    """Download and merge into the store (`traderagent.data.store.append`); returns (file, downloaded candles)."""
    from traderagent.data import store

    df = download(exchange_id, symbol, timeframe, since, until, exchange=exchange, progress=progress)
    if df.empty:
        raise UserError(
            f"{exchange_id} returned no closed {symbol} {timeframe} candles between {since} and {until or 'now'}"
        )
    return store.append(df, symbol, timeframe, exchange=exchange_id, root=root), df
