"""The local candle store: one file per market and timeframe in `traderagent.data.paths.data_dir()`.

Layout: `<store>/<BASE>_<QUOTE>-<tf>.<ext>` for Binance (the default exchange, and where the bundled sample
lives), `<store>/<exchange>/<BASE>_<QUOTE>-<tf>.<ext>` for any other exchange. Futures-style symbols
`BTC/USDT:USDT` become `BTC_USDT_USDT`. New files are Parquet; an existing file keeps its format.

`append` merges new candles into the stored ones. Where both have a candle they must agree, otherwise
DataError names the first disagreeing candle and the stored file is left untouched; the file is
rewritten through a temp file and a rename, so an interrupted write never corrupts it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from traderagent.data import timeframes
from traderagent.data.io import SUFFIXES, read_candles, write_candles
from traderagent.data.paths import data_dir
from traderagent.data.validate import OHLCV, check_candles
from traderagent.errors import DataError, UserError

DEFAULT_EXCHANGE = "binance"
#: Store file formats in the order `find` looks for them.
FORMATS = (".parquet", ".csv.gz", ".csv", ".feather", ".json", ".json.gz")
assert set(FORMATS) == set(SUFFIXES)
#: Relative tolerance when comparing a stored candle with a re-downloaded one.
RTOL = 1e-9


def file_stem(symbol: str, timeframe: str) -> str:
    """`BTC/USDT`, `15m` -> `BTC_USDT-15m` (freqtrade's naming)."""
    if not symbol or "/" not in symbol:
        raise UserError(f"symbol {symbol!r} must look like BASE/QUOTE, e.g. BTC/USDT")
    return f"{symbol.replace('/', '_').replace(':', '_').upper()}-{timeframes.normalize(timeframe)}"


def exchange_dir(exchange: str = DEFAULT_EXCHANGE, root: Path | None = None) -> Path:
    root = Path(root) if root is not None else data_dir()
    exchange = exchange.lower()
    return root if exchange == DEFAULT_EXCHANGE else root / exchange


def find(
    symbol: str, timeframe: str, exchange: str = DEFAULT_EXCHANGE, root: Path | None = None
) -> Path | None:
    """The stored file for a market, whatever its format, or None."""
    folder, stem = exchange_dir(exchange, root), file_stem(symbol, timeframe)
    return next((folder / (stem + ext) for ext in FORMATS if (folder / (stem + ext)).is_file()), None)


def store_path(
    symbol: str, timeframe: str, exchange: str = DEFAULT_EXCHANGE, root: Path | None = None
) -> Path:
    """Where the market's candles live: the existing file, else a new `<stem>.parquet`."""
    found = find(symbol, timeframe, exchange, root)
    return found or exchange_dir(exchange, root) / (file_stem(symbol, timeframe) + ".parquet")


def load(
    symbol: str, timeframe: str, exchange: str = DEFAULT_EXCHANGE, root: Path | None = None
) -> pd.DataFrame:
    """Read a market's candles from the store (validated; see `traderagent.data.io.read_candles`)."""
    path = find(symbol, timeframe, exchange, root)
    if path is None:
        folder, stem = exchange_dir(exchange, root), file_stem(symbol, timeframe)
        raise DataError(
            f"no {symbol} {timeframes.normalize(timeframe)} candles in {folder} (looked for {stem}"
            f"{{{','.join(FORMATS)}}}); run `traderagent data download --exchange {exchange} --symbol {symbol} "
            f"--timeframe {timeframes.normalize(timeframe)} --since YYYY-MM-DD` or `traderagent data sample`"
        )
    return read_candles(path, symbol=symbol, timeframe=timeframe)


def merge(stored: pd.DataFrame, new: pd.DataFrame, source: str = "store") -> pd.DataFrame:
    """Union of two candle frames; DataError if a candle present in both differs (beyond float noise)."""
    stored = stored.loc[:, list(OHLCV)]
    new = new.loc[:, list(OHLCV)]
    common = stored.index.intersection(new.index)
    if len(common):
        a = stored.loc[common].to_numpy(np.float64)
        b = new.loc[common].to_numpy(np.float64)
        differs = ~np.isclose(a, b, rtol=RTOL, atol=0.0)
        rows = differs.any(axis=1)
        if rows.any():
            i = int(np.argmax(rows))
            j = int(np.argmax(differs[i]))
            col = OHLCV[j]
            raise DataError(
                f"{source}: {int(rows.sum())} of {len(common)} overlapping candles disagree with the stored ones; "
                f"first at {common[i]}: {col} stored={float(a[i, j])!r} new={float(b[i, j])!r} "
                "(stored file left unchanged; delete it to re-download from scratch)"
            )
    merged = pd.concat([stored, new.loc[new.index.difference(stored.index)]]).sort_index()
    merged.index.name = "timestamp"
    return merged


def append(
    df: pd.DataFrame,
    symbol: str | None = None,
    timeframe: str | None = None,
    exchange: str = DEFAULT_EXCHANGE,
    root: Path | None = None,
) -> Path:
    """Merge candles into the store (symbol/timeframe default to `df.attrs`); returns the file written."""
    symbol = symbol or df.attrs.get("symbol")
    timeframe = timeframe or df.attrs.get("timeframe")
    if not symbol or not timeframe:
        raise UserError("store.append: say which market the candles are (symbol and timeframe)")
    tf = timeframes.normalize(timeframe)
    check_candles(df, f"new {symbol} {tf} candles", tf)
    path = store_path(symbol, tf, exchange, root)
    if path.exists():
        stored = read_candles(path, symbol=symbol, timeframe=tf)
        merged = merge(stored, df, str(path))
        if len(merged) == len(stored):
            return path  # nothing new: leave the file as it is
    else:
        merged = df.loc[:, list(OHLCV)].sort_index()
    check_candles(merged, str(path), tf)
    return write_candles(merged, path)
