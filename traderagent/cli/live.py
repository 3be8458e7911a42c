"""`traderagent live ...`: the live adapter.

`run` starts the service from a config (every enabled strategy, the orchestrator, the risk guard, the database,
metrics, the bot when a token is set); with `--replay` it paper-trades recorded candles. `status`, `balance`,
`positions`, `orders`, `pnl` read what a runner wrote to the database; `pause`, `resume`, `stop`, `switch` queue a
command the runner carries out at its next candle. `replay` drives one strategy through the runner and the paper
exchange and prints what `traderagent backtest` prints for the same arguments."""

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
    _register_run(cmds, add_database_url)
    _register_control(cmds, add_database_url)


def _register_run(cmds, add_database_url) -> None:
    r = cmds.add_parser(
        "run", help="run the live service from a config (paper or live; --replay paper-trades recorded candles)",
        description="Run every enabled strategy of the config as an instance over one account: the orchestrator "
                    "(allocations, staged capital, regimes), the risk guard, one database transaction per bar, "
                    "/metrics /health /ready, the Telegram bot when TRADERAGENT_TELEGRAM_TOKEN is set. With --replay "
                    "the candles come from files through the paper exchange, as if they arrived live. Stop with "
                    "Ctrl-C or SIGTERM (the current candle finishes); run the same command again to resume.",
        epilog="Example: traderagent live run --config live/config.yaml --replay data/ --start 2025-01-01 "
               "--max-bars 2000")
    r.add_argument("--config", help="YAML config (default: the packaged plan config); see live/config.yaml")
    r.add_argument("--replay", metavar="PATH", help="candle file (one market) or folder of BASE_QUOTE-15m.* files "
                                                    "to paper-trade instead of the exchange's feed")
    r.add_argument("--speed", type=float, default=0.0, help="replay speed, N x real time (default 0: as fast as "
                                                            "possible; 900 turns a 15m candle into one second)")
    options.add_range(r, what="replayed")
    r.add_argument("--max-bars", type=int, metavar="N", help="stop after N base candles")
    r.add_argument("--json", action="store_true", help="print the run's summary as one JSON object")
    r.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"),
                   help="events and warnings go to stderr as one JSON line each (default info)")
    add_database_url(r)
    r.set_defaults(func=run_live)


def run_live(args) -> int:
    from traderagent.cli.extras import require

    require("db", "`traderagent live run`")
    options.start_numba()
    from pathlib import Path

    from traderagent.config import load_config
    from traderagent.config.loader import Secrets
    from traderagent.errors import UserError
    from traderagent.service.live import RunOptions, run_live

    if args.max_bars is not None and args.max_bars < 1:
        raise UserError(f"--max-bars must be at least 1 (got {args.max_bars})")
    cfg = load_config(args.config)
    import logging
    import sys

    logging.basicConfig(level=args.log_level.upper(), format="%(message)s", stream=sys.stderr)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    opts = RunOptions(replay=Path(args.replay) if args.replay else None, speed=args.speed, start=args.start,
                      end=args.end, database_url=args.database_url, max_bars=args.max_bars)
    s = run_live(cfg, Secrets.from_env(), opts)
    if args.json:
        print(json.dumps({"bars": s.bars, "seconds": s.seconds, "resumed": s.resumed, "stopped_by": s.stopped_by,
                          "events": s.events, "instances": s.instances, "database": s.database}, default=str))
        return 0
    print(f"live run: {s.bars:,} candles in {s.seconds:.1f} s ({s.bars / max(s.seconds, 1e-9):,.0f}/s)"
          f"{' (resumed)' if s.resumed else ''}; stopped by {s.stopped_by}; database {s.database}")
    _print_status(list(s.instances.values()))
    if s.events:
        print("events: " + ", ".join(f"{k} {v}" for k, v in sorted(s.events.items())))
    return 0


# ------------------------------------------------------------------------------------------------ control
CONTROL = {
    "status": "every instance: strategy, market, state, stage, equity, position, open orders, last bar",
    "balance": "the account's balances (per instance when the runner is elsewhere)",
    "positions": "open positions per instance",
    "orders": "open orders (of one instance, or all)",
    "pnl": "profit and loss per instance: since start and today (UTC)",
    "pause": "stop opening new positions (orders that protect or close stay)",
    "resume": "take new positions again",
    "stop": "cancel the instance's orders and stop it (--flatten also closes its position)",
    "switch": "stop an instance (closing its position) and start another strategy on its market",
}


def _register_control(cmds, add_database_url) -> None:
    for name, help_ in CONTROL.items():
        c = cmds.add_parser(name, help=help_, description=help_.capitalize() + ". Reads or writes the runner's "
                            "database; a write is carried out by the runner at its next candle.")
        if name in ("orders", "pause", "resume", "stop"):
            c.add_argument("instance", nargs="?", help="instance name (see `live status`; default: all)")
        if name == "switch":
            c.add_argument("instance", help="instance name (see `live status`)")
            c.add_argument("strategy", help="strategy to start on its market")
        if name == "stop":
            c.add_argument("--flatten", action="store_true", help="also close the position at the next open")
        if name in ("pause", "resume", "stop", "switch"):
            c.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                           help="wait up to this long for the runner to carry it out (default: just queue it)")
        c.add_argument("--json", action="store_true", help="print one JSON object")
        add_database_url(c)
        c.set_defaults(func=run_control, control=name)


def run_control(args) -> int:
    from traderagent.cli.extras import require

    require("db", f"`traderagent live {args.control}`")
    from traderagent.live.control import ControlAPI
    from traderagent.persistence.live import LiveStore

    store = LiveStore(args.database_url)
    try:
        api = ControlAPI(store)
        name = args.control
        inst = getattr(args, "instance", None)
        if name == "status":
            out = api.status()
        elif name == "balance":
            out = api.balance()
        elif name == "positions":
            out = {"positions": api.positions()}
        elif name == "orders":
            out = {"orders": api.open_orders(inst)}
        elif name == "pnl":
            out = api.pnl()
        elif name == "stop":
            out = api.stop(inst, flatten=args.flatten, wait=args.wait)
        elif name == "switch":
            out = api.switch(inst, args.strategy, wait=args.wait)
        else:
            out = getattr(api, name)(inst, wait=args.wait)
    finally:
        store.close()
    if args.json:
        print(json.dumps(out, default=str))
    elif name == "status":
        _print_status(out["instances"])
    else:
        _print_plain(out)
    return 0


def _print_status(rows: list[dict]) -> None:
    if not rows:
        print("no instances (no runner has written to this database)")
        return
    head = ("instance", "state", "stage", "equity", "position", "orders", "last bar")
    table = [(r["instance"], r["state"], "-" if r.get("stage_share") is None else f"{r['stage_share']:.0%}",
              _num(r["equity"]), _num(r["position"]),
              str(r["open_orders"]), str(r["last_bar"] or "-")[:16]) for r in rows]
    widths = [max(len(h), *(len(t[k]) for t in table)) for k, h in enumerate(head)]
    print("  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)))
    for t in table:
        print("  ".join(v.ljust(w) if k in (0, 1, 6) else v.rjust(w) for k, (v, w) in
                        enumerate(zip(t, widths, strict=True))))


def _num(x) -> str:
    return "-" if x is None else f"{x:,.2f}" if abs(x) >= 1 or x == 0 else f"{x:.6g}"


def _print_plain(out) -> None:
    if isinstance(out, dict):
        for k, v in out.items():
            if isinstance(v, list):
                print(f"{k}: {len(v)}")
                for item in v:
                    print("  " + (", ".join(f"{a}={options.tidy(b)}" for a, b in item.items())
                                  if isinstance(item, dict) else str(item)))
            else:
                print(f"{k}: {options.tidy(v)}")
    else:
        print(out)


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
