"""`traderagent live ...`: the live adapter. `replay` drives the runner and the paper exchange over historical
candles as if they arrived live and prints what `traderagent backtest` prints for the same arguments."""

from __future__ import annotations

import json
import sys


def register(sub) -> None:
    p = sub.add_parser("live", help="live adapter: replay through the paper exchange, run, control a runner",
                       description="The same strategy kernels, one closed bar at a time, against an exchange. "
                                   "See docs/live.md.")
    cmds = p.add_subparsers(dest="live_command", metavar="SUBCOMMAND", required=True)
    r = cmds.add_parser(
        "replay", help="historical candles through runner + paper exchange; prints what `backtest` prints",
        description="Drive the live runner and the paper exchange over historical candles as fast as possible, "
                    "one transaction per bar in the database. Prints the same summary, integrity verdict and "
                    "trades_sha256 as `traderagent backtest` with the same arguments. Run it again against the same "
                    "database to resume a replay that was stopped.")
    r.add_argument("--strategy", required=True, help="strategy name: trend_follower, smc, grid, dca, hybrid")
    r.add_argument("--symbol", default="BTC/USDT", help="market, e.g. BTC/USDT (default BTC/USDT)")
    r.add_argument("--data", help="candle file (default: the store)")
    r.add_argument("--timeframe", help="strategy timeframe, e.g. 1h (default: the strategy's config)")
    r.add_argument("--config", help="YAML config (default: the packaged plan config)")
    r.add_argument("--start", help="first trading day, YYYY-MM-DD (earlier candles warm the windows up)")
    r.add_argument("--end", help="last trading day, YYYY-MM-DD (inclusive)")
    r.add_argument("--json", action="store_true", help="print one JSON object (the backtest's keys, plus meta)")
    from traderagent.cli.db import add_database_url

    add_database_url(r)
    r.set_defaults(func=run_replay)


def run_replay(args) -> int:
    from traderagent.live.replay import replay

    progress = None
    if sys.stderr.isatty() and not args.json:
        from tqdm import tqdm

        bar = tqdm(total=0, unit="bar", desc="replay", leave=False)

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

    rp = replay(args.strategy, symbol=args.symbol, timeframe=args.timeframe, data=args.data, config=args.config,
                start=args.start, end=args.end, database_url=args.database_url, progress=progress)
    if args.json:
        out = dict(rp.json)
        out["meta"] = rp.meta
        print(json.dumps(out))
        return 0
    from traderagent.cli.backtest import _print_human

    _print_human(rp.json, None)
    m = rp.meta
    print(f"replay: {m['bars_replayed']:,} bars in {m['seconds']:.1f} s "
          f"({m['bars_replayed'] / max(m['seconds'], 1e-9):,.0f} bars/s){' (resumed)' if m['resumed'] else ''}, "
          f"database {m['database']}")
    return 0
