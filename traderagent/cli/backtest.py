"""`traderagent backtest`: one strategy on one market, with fees, slippage and the integrity verdict."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from traderagent.cli import options


def register(sub) -> None:
    p = sub.add_parser(
        "backtest",
        help="backtest a strategy on candles (fees and slippage on; integrity gates always run)",
        description=(
            "Decisions at each bar's close, fills at the next bar's open plus slippage; stops and targets "
            "intrabar (the stop wins when a bar touches both). Prints stats and the integrity verdict, "
            "writes an HTML report."
        ),
    )
    p.add_argument("--strategy", required=True, help="strategy name: trend_follower, smc, grid, dca, hybrid")
    options.add_symbol(p)
    p.add_argument("--timeframe", help="strategy timeframe, e.g. 1h or H1 (default: the strategy's config)")
    options.add_data(p)
    p.add_argument("--config", help="YAML config (default: the packaged plan config)")
    options.add_range(p)
    options.add_costs(p)
    options.add_output(p, "<strategy>-<BASE>_<QUOTE>-<tf>-<first day>-<last day>-<fingerprint>")
    p.add_argument("--save", action="store_true", help="store the run in the database (see `traderagent runs`)")
    from traderagent.cli.db import add_database_url

    add_database_url(p)
    p.set_defaults(func=run)


def _default_report(bt) -> Path:
    """A name that no different run shares: market, timeframe, span, and a fingerprint of inputs and trades."""
    js = bt.json
    settings = {k: v for k, v in getattr(bt.result, "settings", {}).items() if k != "params"}
    parts = {"params": js["params"], "costs": [bt.meta["fees"], bt.meta["slippage"]], "settings": settings,
             "data": bt.meta["data_sha256"], "span": [js["start"], js["end"]], "trades": js["trades_sha256"],
             "final_equity": js["final_equity"]}
    stem = (f"{js['strategy']}-{js['symbol'].replace('/', '_').replace(':', '_')}-{js['timeframe']}-"
            f"{options.day(js['start'])}-{options.day(js['end'])}")
    return options.default_report(stem, parts)


def _print_human(js: dict) -> None:
    from traderagent.report.html import fmt

    pct = {"total_return", "cagr", "max_drawdown", "win_rate", "exposure"}
    print(f"{js['strategy']} on {js['symbol']} {js['timeframe']}  {js['start']} -> {js['end']}")
    print(f"  equity {js['initial_equity']:,.2f} -> {js['final_equity']:,.2f}")
    for k, v in js["stats"].items():
        print(f"  {k:<14} {fmt(v, k in pct)}")
    integ = js["integrity"]
    bad = [k for k, v in integ["checks"].items() if not v["ok"]]
    print("integrity: " + ("ok (" + ", ".join(integ["checks"]) + ")" if integ["ok"] else "FAILED: " + ", ".join(bad)))
    for flag in integ.get("flags", []):
        print(f"  FLAG: {flag}")
    from traderagent.core.risk import blocks_line

    print(f"risk blocks: {blocks_line(js.get('risk_blocks', {}))}")


def resolve_data(data: str | None, symbol: str) -> str | None:
    """--data as a file, or the symbol's candle file in a folder (15m first, as in the store)."""
    if not data or not Path(data).is_dir():
        return data
    from traderagent.data import store

    for tf in ("15m", "5m", "1m", "30m", "1h", "4h", "1d"):  # runner.default_data_path's order
        found = store.find(symbol, tf, root=Path(data))
        if found is not None:
            return str(found)
    from traderagent.errors import UserError

    raise UserError(f"--data {data}: no candle file for {symbol} in the folder "
                    f"(expected e.g. {store.file_stem(symbol, '15m')}.csv.gz)")


def run(args) -> int:
    if args.save:
        from traderagent.cli.extras import require

        require("db", "`traderagent backtest --save`")
    wanted = options.checked_report(args)
    data = resolve_data(args.data, args.symbol)
    options.start_numba()
    from traderagent.backtest.runner import run_backtest

    bt = run_backtest(args.strategy, symbol=args.symbol, timeframe=args.timeframe, data=data,
                      config=args.config, start=args.start, end=args.end, fees=args.fees, slippage=args.slippage)
    js = bt.json
    if not args.json:
        _print_human(js)  # the results first: a failing write below cannot lose them
    report_path, failure = None, None
    if wanted is not None:
        from traderagent.report.backtest import render
        from traderagent.report.overlays import for_run

        report_path = wanted if isinstance(wanted, Path) else _default_report(bt)
        try:
            render(js, bt.bars, bt.result.equity_series(), report_path, meta=bt.meta, overlays=for_run(bt))
        except OSError as exc:
            failure, report_path = options.write_failed(report_path, exc), None
    if args.save:
        from traderagent.persistence import save_backtest_run

        run_id = save_backtest_run(js, data_hash=bt.meta["data_sha256"], code_version=bt.meta["code_version"],
                                   database_url=args.database_url,
                                   meta={k: bt.meta[k] for k in ("data_file", "fees", "slippage")})
        print(f"saved as bt-{run_id} (traderagent runs show bt-{run_id})", file=sys.stderr)
    if args.json:
        out = dict(js)
        out["meta"] = bt.meta
        if report_path:
            out["report"] = str(report_path)
        print(json.dumps(out))
    elif report_path:
        print(f"report: {report_path}")
    if failure is not None:
        raise failure
    return 0
