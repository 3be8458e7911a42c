"""Read and write candle files.

Formats (chosen by the file name):
  .csv / .csv.gz      header `timestamp,open,high,low,close,volume`; timestamp = open time in epoch
                      milliseconds (ISO 8601 datetimes and a `date` column are accepted too)
  .parquet            the same columns; the time column may be a datetime, epoch ms, or the index
  .feather            freqtrade: date (tz-aware datetime), open, high, low, close, volume
  .json / .json.gz    freqtrade: a list of [ms, open, high, low, close, volume] rows

`read_candles` returns a frame indexed by a UTC DatetimeIndex[ns] named `timestamp` (the candle's open
time) with float64 open/high/low/close/volume, validated by `traderagent.data.validate.check_candles`.
`df.attrs` carries `source`, `symbol` and `timeframe`.
"""

from __future__ import annotations

import gzip
import json
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from traderagent.data import timeframes
from traderagent.data.timeframes import infer_timeframe as infer_timeframe  # re-exported
from traderagent.data.validate import HEADER, OHLCV, check_candles, check_columns, row_error
from traderagent.errors import DataError, UserError

SUFFIXES = (".csv.gz", ".json.gz", ".csv", ".parquet", ".feather", ".json")
TIME_COLUMNS = ("timestamp", "date", "datetime", "time", "open_time")
_NAME = re.compile(
    r"^(?P<pair>.+?)[-_](?P<tf>\d+[mhdw]|[MHDW]\d+)(?:-(?P<kind>futures|spot|mark|index|premiumindex))?$"
)
# epoch milliseconds between 1973-03-03 and 5138: anything else is seconds, microseconds or nanoseconds
_MS_MIN, _MS_MAX = 10**11, 10**14


def file_format(path: str | Path) -> str:
    """The suffix that decides the format (`.csv.gz`, `.parquet`, ...), or DataError."""
    name = Path(path).name.lower()
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return suffix
    raise DataError(f"{path}: unsupported file type; use one of {', '.join(SUFFIXES)}")


def parse_name(path: str | Path) -> tuple[str | None, str | None]:
    """(symbol, timeframe) from names like `BTC_USDT-15m.csv.gz` or freqtrade's `BTC_USDT_USDT-1h-futures.feather`.

    `BTC_USDT` -> `BTC/USDT`, `BTC_USDT_USDT` -> `BTC/USDT:USDT`; (None, None) when the name has no timeframe.
    """
    name = Path(path).name
    for suffix in SUFFIXES:
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    m = _NAME.match(name)
    if not m:
        return None, None
    try:
        tf = timeframes.normalize(m.group("tf"))
    except UserError:
        return None, None
    parts = m.group("pair").split("_")
    symbol = f"{parts[0]}/{parts[1]}" if len(parts) >= 2 else parts[0]
    if len(parts) >= 3:
        symbol += ":" + "_".join(parts[2:])
    return symbol, tf


def read_candles(path: str | Path, symbol: str | None = None, timeframe: str | None = None) -> pd.DataFrame:
    """Read and validate one candle file (see the module docstring for formats).

    `symbol` and `timeframe` default to what the file name says (`parse_name`); the timeframe falls back
    to the most common spacing. Timestamps must sit on the timeframe's grid.
    """
    path = Path(path)
    source = str(path)
    if not path.is_file():
        raise DataError(f"{source}: file not found" if not path.exists() else f"{source}: not a file")
    fmt = file_format(path)
    if path.stat().st_size == 0:
        raise DataError(
            f"{source}: no candles (the file is empty; expected a header {HEADER} and one row per candle)"
        )
    try:
        raw = _read_raw(path, fmt)
    except DataError:
        raise
    except Exception as exc:  # a corrupt or foreign file: one line naming it
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{source}: cannot read it as {fmt}: {first}") from exc
    df = frame_from_raw(raw, source)
    name_symbol, name_tf = parse_name(path)
    tf = timeframes.normalize(timeframe) if timeframe else name_tf
    if tf is None and len(df) >= 2:
        check_candles(df, source)  # order, duplicates and values first: they explain odd spacings
        try:
            tf = infer_timeframe(df)
        except DataError as exc:
            raise DataError(f"{source}: {exc}") from None
    check_candles(df, source, tf)
    df.attrs.update(source=source, symbol=symbol or name_symbol, timeframe=tf)
    return df


def _read_raw(path: Path, fmt: str) -> pd.DataFrame:
    if fmt in (".csv", ".csv.gz"):
        try:
            raw = pd.read_csv(path, compression="gzip" if fmt == ".csv.gz" else None, skipinitialspace=True)
        except pd.errors.EmptyDataError:
            return pd.DataFrame()
        if len(raw.columns) >= 6 and all(_looks_numeric(c) for c in raw.columns[:6]):  # no header line
            raw = pd.read_csv(path, compression="gzip" if fmt == ".csv.gz" else None, header=None)
            raw.columns = ["timestamp", *OHLCV, *map(str, raw.columns[6:])]
        return raw
    if fmt == ".parquet":
        raw = pd.read_parquet(path)
        if isinstance(raw.index, pd.DatetimeIndex):
            raw = raw.reset_index(names=raw.index.name or "timestamp")
        return raw
    if fmt == ".feather":
        return pd.read_feather(path)
    opener = gzip.open if fmt == ".json.gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        rows = json.load(fh)
    if isinstance(rows, dict) or not isinstance(rows, list):
        raise DataError(
            f"{path}: expected a JSON list of [ms, open, high, low, close, volume] rows (freqtrade format)"
        )
    if any(not isinstance(r, list) or len(r) < 6 for r in rows):
        k = next(i for i, r in enumerate(rows) if not isinstance(r, list) or len(r) < 6)
        raise DataError(
            f"{path}: row {k + 1} is {json.dumps(rows[k])[:60]}; expected [ms, open, high, low, close, volume]"
        )
    return pd.DataFrame([r[:6] for r in rows], columns=["timestamp", *OHLCV])


def _looks_numeric(text) -> bool:
    try:
        float(str(text))
    except ValueError:
        return False
    return True


def frame_from_raw(raw: pd.DataFrame, source: str) -> pd.DataFrame:
    """Turn a freshly read table into candles (file order kept): parse times, coerce numbers, name errors."""
    if raw.shape[0] == 0 and raw.shape[1] == 0:
        raise DataError(
            f"{source}: no candles (the file is empty; expected a header {HEADER} and one row per candle)"
        )
    raw = raw.rename(columns={c: str(c).strip().lower() for c in raw.columns})
    check_columns(raw.columns, source, TIME_COLUMNS)
    if len(raw) == 0:
        raise DataError(f"{source}: no candles (only a header; expected one row per candle)")
    time_col = next(c for c in TIME_COLUMNS if c in raw.columns)
    index = parse_times(raw[time_col], source, time_col)
    data = {}
    for col in OHLCV:
        data[col] = _numeric(raw[col], source, col, index)
    return pd.DataFrame(data, index=index)


def parse_times(values: pd.Series, source: str, name: str = "timestamp") -> pd.DatetimeIndex:
    """Epoch milliseconds, ISO 8601 strings or datetimes -> UTC DatetimeIndex[ns] named `timestamp`."""
    s = values.reset_index(drop=True)
    if isinstance(s.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(s.dtype):
        out = pd.DatetimeIndex(s)
        out = out.tz_localize("UTC") if out.tz is None else out.tz_convert("UTC")
    else:
        blank = s.isna().to_numpy().copy()
        if s.dtype == object or pd.api.types.is_string_dtype(s.dtype):
            blank |= (s.astype(str).str.strip() == "").to_numpy()
        if blank.any():
            raise row_error(source, blank, f"an empty {name}", lambda i: f"{name} is empty")
        num = s if pd.api.types.is_numeric_dtype(s.dtype) else pd.to_numeric(s, errors="coerce")
        if num.notna().all():
            out = _from_ms(num.to_numpy(np.float64), source, name)
        else:
            out = _from_text(s, source, name)
    return pd.DatetimeIndex(out.as_unit("ns"), name="timestamp")


def _from_ms(ms: np.ndarray, source: str, name: str) -> pd.DatetimeIndex:
    bad = (ms < _MS_MIN) | (ms >= _MS_MAX) | (ms != np.floor(ms))
    if bad.any():
        raise row_error(
            source,
            bad,
            f"a {name} that is not epoch milliseconds",
            lambda i: f"{name}={ms[i]:.17g}",
            hint="expected 13 digits like 1704067200000 for 2024-01-01; convert seconds or microseconds",
        )
    return pd.DatetimeIndex(pd.to_datetime(ms.astype(np.int64), unit="ms", utc=True))


def _from_text(s: pd.Series, source: str, name: str) -> pd.DatetimeIndex:
    text = s.astype(str).str.strip()
    parsed = pd.to_datetime(text, errors="coerce", utc=True, format="ISO8601")
    bad = parsed.isna().to_numpy()
    if bad.any():
        raise row_error(
            source,
            bad,
            f"an unreadable {name}",
            lambda i: f"{name}={text.iloc[i]!r}",
            hint="use epoch milliseconds or ISO 8601 like 2024-01-01T00:00:00Z",
        )
    return pd.DatetimeIndex(parsed)


def _numeric(values: pd.Series, source: str, col: str, index: pd.DatetimeIndex) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        return values.to_numpy(np.float64, na_value=np.nan)
    num = pd.to_numeric(values, errors="coerce").to_numpy(np.float64, na_value=np.nan)
    cand = np.isnan(num)
    if cand.any():
        text = values.astype(str).str.strip().to_numpy()
        blank = values.isna().to_numpy() | np.isin(text, ["", "nan", "NaN"])
        bad = cand & ~blank
        if bad.any():
            raise row_error(source, bad, f"a non-numeric {col}", lambda i: f"{col}={text[i]!r}", index)
    return num


def write_candles(df: pd.DataFrame, path: str | Path) -> Path:
    """Write candles atomically (temp file in the same folder, then rename); the format follows the suffix."""
    path = Path(path)
    fmt = file_format(path)
    missing = [c for c in OHLCV if c not in df.columns]
    if missing or not isinstance(df.index, pd.DatetimeIndex):
        raise DataError(
            f"write_candles: need a DatetimeIndex and columns {', '.join(OHLCV)} (missing {missing})"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    idx = df.index.tz_localize("UTC") if df.index.tz is None else df.index.tz_convert("UTC")
    ms = idx.as_unit("ns").asi8 // 1_000_000
    cols = {c: df[c].to_numpy(np.float64) for c in OHLCV}
    try:
        if fmt in (".csv", ".csv.gz"):
            out = pd.DataFrame({"timestamp": ms, **cols})
            out.to_csv(tmp, index=False, compression="gzip" if fmt == ".csv.gz" else None)
        elif fmt == ".parquet":
            pd.DataFrame({"timestamp": idx.as_unit("ms"), **cols}).to_parquet(tmp, index=False)
        elif fmt == ".feather":
            pd.DataFrame({"date": idx.as_unit("ms"), **cols}).to_feather(tmp)
        else:
            rows = [
                [int(t), *map(float, r)]
                for t, r in zip(ms, np.column_stack(list(cols.values())), strict=True)
            ]
            opener = gzip.open if fmt == ".json.gz" else open
            with opener(tmp, "wt", encoding="utf-8") as fh:
                json.dump(rows, fh, separators=(",", ":"))
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path
