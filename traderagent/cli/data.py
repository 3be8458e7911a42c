"""`traderagent data ...`: inspect, validate, download candle files and fetch the bundled sample."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from traderagent.cli import options

_FORMATS = "CSV/CSV.gz (timestamp,open,high,low,close,volume; ms epoch or ISO times), Parquet, freqtrade JSON/feather"


def register(sub) -> None:
    p = sub.add_parser(
        "data",
        help="inspect, validate and download candle files; fetch the bundled sample",
        description="Candle files: " + _FORMATS + ". Gaps are reported, never filled.",
    )
    cmds = p.add_subparsers(dest="data_command", metavar="SUBCOMMAND", required=True)

    inspect = cmds.add_parser(
        "inspect",
        help="span, rows, timeframe, gaps, zero-volume bars and bars per 15m/1h/4h/1d of candle files",
        description="Validate each file and summarize it: span (candle open times, UTC), rows, timeframe, gaps "
        "(count, missing bars, largest and where), zero-volume bars, and how many 15m/1h/4h/1d bars it makes "
        "(higher timeframes built only from complete periods; 'incomplete' counts those with missing candles).",
    )
    inspect.add_argument("files", nargs="+", metavar="FILE", help="candle file(s): " + _FORMATS)
    inspect.add_argument(
        "--timeframe", help="the files' timeframe (default: from the name, else the usual spacing)"
    )
    inspect.add_argument("--json", action="store_true", help="print a JSON list, one object per file")
    inspect.set_defaults(func=run_inspect)

    validate = cmds.add_parser(
        "validate",
        help="check candle files; exit 0 if all are valid, 2 with one line per bad file",
        description="Checks: readable, required columns, numbers, no NaN, strictly increasing timestamps on the "
        "timeframe grid, no duplicates, low <= min(open, close), high >= max(open, close), volume >= 0. "
        "Each problem is one line naming the file, the first offending row and how many rows are affected.",
    )
    validate.add_argument("files", nargs="+", metavar="FILE", help="candle file(s): " + _FORMATS)
    validate.add_argument(
        "--timeframe", help="the files' timeframe (default: from the name, else the usual spacing)"
    )
    validate.set_defaults(func=run_validate)

    dl = cmds.add_parser(
        "download",
        help="download closed candles through ccxt into the store (or --out FILE)",
        description="Pages through the exchange's OHLCV endpoint from --start to --end (candle open times, UTC; "
        "both days inclusive; --end defaults to now), retries transient network errors (saying so), and drops "
        "the still-forming candle. "
        "Without --out the candles are merged into the store (data/ or $TRADERAGENT_DATA_DIR), where "
        "overlapping candles must agree.",
        epilog="example: traderagent data download --exchange binance --symbol BTC/USDT --timeframe 15m "
        "--start 2024-01-01",
    )
    dl.add_argument("--exchange", default="binance", help="ccxt exchange id (default binance)")
    options.add_symbol(dl, default=None, required=True)
    dl.add_argument(
        "--timeframe", required=True, help="candle timeframe, e.g. 15m, 1h (aliases M15, H1 work)"
    )
    options.add_range(dl, what="candle")
    options.add_deprecated(dl, "--since", "--start")
    dl.add_argument("--until", help=argparse.SUPPRESS)  # deprecated: exclusive end (use --end)
    dl.add_argument("--out", metavar="FILE", help="write a fresh file here instead (.parquet, .csv.gz, ...)")
    dl.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    dl.set_defaults(func=run_download)

    sample = cmds.add_parser(
        "sample",
        help="fill the store with the bundled sample candles (BTC/ETH 15m, BTC 1m)",
        description="Copies the bundled Binance candles into the store from $TRADERAGENT_SAMPLE_DIR or "
        "../shared/data, downloading them through ccxt when neither has them.",
    )
    sample.add_argument(
        "--no-download", action="store_true", help="fail instead of downloading missing files"
    )
    sample.set_defaults(func=run_sample)


def _read_all(files: list[str], timeframe: str | None):
    """Read every file; yields (path, frame or None, error or None)."""
    from traderagent.data.io import read_candles
    from traderagent.errors import UserError

    for f in files:
        try:
            yield f, read_candles(f, timeframe=timeframe), None
        except UserError as exc:
            yield f, None, exc


def run_inspect(args) -> int:
    from traderagent.data.validate import report

    reports, failed = [], 0
    for f, df, err in _read_all(args.files, args.timeframe):
        if err is not None:
            failed += 1
            print(f"error: {err}", file=sys.stderr)
            continue
        r = report(df, timeframe=args.timeframe, source=f)
        if args.json:
            reports.append(r.to_dict())
        else:
            print(r.format())
    if args.json:
        print(json.dumps(reports, indent=1))
    return 2 if failed else 0


def run_validate(args) -> int:
    from traderagent.data.validate import find_gaps

    failed = 0
    for f, df, err in _read_all(args.files, args.timeframe):
        if err is not None:
            failed += 1
            print(f"error: {err}", file=sys.stderr)
            continue
        tf = df.attrs.get("timeframe")
        gaps = find_gaps(df, tf) if tf else []
        span = f"{df.index[0]:%Y-%m-%d %H:%M} -> {df.index[-1]:%Y-%m-%d %H:%M} UTC"
        print(
            f"{f}: ok ({len(df)} rows, {tf or '?'}, {span}, {len(gaps)} gap{'s' if len(gaps) != 1 else ''})"
        )
    return 2 if failed else 0


def _until(args):
    """The exclusive end the downloader takes: the day after a date-only --end, just after a timed one."""
    from traderagent.errors import UserError

    if args.until is not None:
        print("traderagent data download: --until is deprecated; use --end (inclusive)", file=sys.stderr)
        if args.end is not None:
            raise UserError("give --end or the deprecated --until, not both")
        return args.until
    if args.end is None:
        return None
    from traderagent.data.download import to_ms

    ms = to_ms(args.end, "--end")
    return ms + (86_400_000 if len(str(args.end).strip()) <= 10 else 1)


def run_download(args) -> int:
    from traderagent.errors import UserError

    if args.start is None:
        raise UserError("traderagent data download: --start is required (the first candle's day, e.g. 2024-01-01)")
    from traderagent.data.download import to_ms

    to_ms(args.start, "--start")  # bad dates are named by their flag, before anything is imported or fetched
    if args.out:
        options.check_writable(Path(args.out), f"--out {args.out}")
    from traderagent.cli.extras import require

    require("exchange", "`traderagent data download`")
    from traderagent.data.download import download_to_file, download_to_store

    progress = options.progress_on() and not args.no_progress
    until = _until(args)
    if args.out:
        path = download_to_file(
            args.exchange,
            args.symbol,
            args.timeframe,
            args.start,
            until,
            path=args.out,
            progress=progress,
        )
        print(f"wrote {path}")
        return 0
    path, df = download_to_store(
        args.exchange, args.symbol, args.timeframe, args.start, until, progress=progress
    )
    print(
        f"{args.symbol} {df.attrs['timeframe']}: {len(df)} closed candles "
        f"{df.index[0]:%Y-%m-%d %H:%M} -> {df.index[-1]:%Y-%m-%d %H:%M} UTC merged into {path}"
    )
    return 0


def run_sample(args) -> int:
    from traderagent.data.sample import ensure_sample

    paths = ensure_sample(download=not args.no_download, log=lambda msg: print(msg, file=sys.stderr))
    for p in paths:
        print(p)
    return 0
