"""`traderagent live ...`: the live adapter. `replay` drives the runner and the paper exchange over historical
candles as if they arrived live and prints what `traderagent backtest` prints for the same arguments."""

from __future__ import annotations

import json

from traderagent.cli import options


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
    options.add_symbol(r)
    options.add_data(r)
    r.add_argument("--timeframe", help="strategy timeframe, e.g. 1h (default: the strategy's config)")
    r.add_argument("--config", help="YAML config (default: the packaged plan config)")
    options.add_range(r)
    options.add_costs(r)
    r.add_argument("--json", action="store_true", help="print one JSON object (the backtest's keys, plus meta)")
    from traderagent.cli.db import add_database_url

    add_database_url(r)
    r.set_defaults(func=run_replay)


def run_replay(args) -> int:
    from traderagent.cli.extras import require

    require("db", "`traderagent live replay`")
    options.start_numba()
    from traderagent.cli.backtest import resolve_data
    from traderagent.live.replay import replay

    with options.bar(None, "replay", "bar", options.progress_on(args.json)) as bar:
        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()

        rp = replay(args.strategy, symbol=args.symbol, timeframe=args.timeframe,
                    data=resolve_data(args.data, args.symbol), config=args.config, start=args.start, end=args.end,
                    database_url=args.database_url, fees=args.fees, slippage=args.slippage, progress=progress)
    if args.json:
        out = dict(rp.json)
        out["meta"] = rp.meta
        print(json.dumps(out))
        return 0
    from traderagent.cli.backtest import _print_human

    _print_human(rp.json)
    m = rp.meta
    print(f"replay: {m['bars_replayed']:,} bars in {m['seconds']:.1f} s "
          f"({m['bars_replayed'] / max(m['seconds'], 1e-9):,.0f} bars/s){' (resumed)' if m['resumed'] else ''}, "
          f"database {m['database']}")
    return 0
