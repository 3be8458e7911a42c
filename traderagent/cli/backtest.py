"""`traderagent backtest`: one strategy on one market, with fees, slippage and the integrity verdict."""

from __future__ import annotations

import json
import sys
from pathlib import Path


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
    p.add_argument("--symbol", default="BTC/USDT", help="market, e.g. BTC/USDT (default BTC/USDT)")
    p.add_argument("--timeframe", help="strategy timeframe, e.g. 1h or H1 (default: the strategy's config)")
    p.add_argument("--data", help="candle file (CSV, CSV.gz, Parquet, freqtrade JSON/feather); default: the store")
    p.add_argument("--config", help="YAML config (default: the packaged plan config)")
    p.add_argument("--start", help="first trading day, YYYY-MM-DD (indicators warm up on earlier data)")
    p.add_argument("--end", help="last trading day, YYYY-MM-DD (inclusive)")
    p.add_argument("--fees", type=float, help="fee per side as a fraction of notional (default 0.001)")
    p.add_argument("--slippage", type=float, help="slippage as a fraction of price (default 0.0002)")
    p.add_argument("--report", help="HTML report path (default reports/<strategy>-<symbol>-<tf>.html; 'none' to skip)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout (fractions, not percents)")
    p.add_argument("--save", action="store_true", help="store the run in the database (see `traderagent runs`)")
    from traderagent.cli.db import add_database_url

    add_database_url(p)
    p.set_defaults(func=run)


def _default_report(js: dict) -> Path:
    from traderagent.data.sample import REPO_ROOT

    name = f"{js['strategy']}-{js['symbol'].replace('/', '_')}-{js['timeframe']}.html"
    base = REPO_ROOT / "reports" if (REPO_ROOT / "reports").is_dir() else Path("reports")
    return base / name


def _print_human(js: dict, report_path) -> None:
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
    if report_path:
        print(f"report: {report_path}")


def run(args) -> int:
    from traderagent.backtest.runner import run_backtest

    for name in ("fees", "slippage"):
        v = getattr(args, name)
        if v is not None and not (0 <= v < 0.5):
            from traderagent.errors import UserError

            raise UserError(f"--{name} must be a fraction in [0, 0.5) (got {v}); e.g. 0.001 for 0.1%")
    bt = run_backtest(args.strategy, symbol=args.symbol, timeframe=args.timeframe, data=args.data,
                      config=args.config, start=args.start, end=args.end, fees=args.fees, slippage=args.slippage)
    js = bt.json
    report_path = None
    if (args.report or "").lower() != "none":
        from traderagent.report.backtest import render

        report_path = Path(args.report) if args.report else _default_report(js)
        equity = bt.result.equity_series()
        from traderagent.report.overlays import for_run

        render(js, bt.bars, equity, report_path, meta=bt.meta, overlays=for_run(bt))
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
    else:
        _print_human(js, report_path)
    return 0
