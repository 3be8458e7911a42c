"""`traderagent portfolio`: every enabled strategy as a sleeve with its capital allocation, across the pairs."""

from __future__ import annotations

import json
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser(
        "portfolio",
        help="backtest all enabled strategies together (capital allocation, sleeves, combined equity)",
        description=(
            "Each enabled, registered strategy runs on each of its pairs with its share of "
            "orchestrator.capital_allocation (split equally across its pairs), at most "
            "max_concurrent_strategies of them. Prints combined and per-sleeve stats, the correlation of "
            "sleeve returns and the integrity verdict (every sleeve's gates plus the portfolio's: sleeves sum "
            "to the portfolio, no sleeve spends another's capital); writes a comparison page."
        ),
    )
    p.add_argument("--config", help="YAML config (default: the packaged plan config)")
    p.add_argument("--start", help="first trading day, YYYY-MM-DD (indicators warm up on earlier data)")
    p.add_argument("--end", help="last trading day, YYYY-MM-DD (inclusive)")
    p.add_argument("--data-dir", help="directory with one candle file per pair (BTC_USDT-15m.csv.gz, ...); "
                                      "default: the candle store")
    p.add_argument("--compare", default="hybrid",
                   help="comma-separated strategies to run beside the portfolio on each pair with the whole equity "
                        "(default hybrid; 'none' for no references); buy & hold is always shown")
    p.add_argument("--adaptive", action="store_true",
                   help="route sleeves by market regime (sideways grid, downtrend dca, uptrend trend_follower, "
                        "high volatility smc; docs/regime.md): each takes new positions only in its regimes")
    p.add_argument("--report", help="comparison page path (default reports/portfolio.html; 'none' to skip)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout (fractions, not percents)")
    p.set_defaults(func=run)


def _default_report() -> Path:
    from traderagent.data.sample import REPO_ROOT

    base = REPO_ROOT / "reports" if (REPO_ROOT / "reports").is_dir() else Path("reports")
    return base / "portfolio.html"


def _print_human(js: dict, report_path) -> None:
    from traderagent.report.html import fmt

    mode = "adaptive portfolio" if js.get("selector") else "portfolio"
    print(f"{mode} {js['start']} -> {js['end']}  equity {js['initial_equity']:,.2f} -> {js['final_equity']:,.2f}")
    for note in js["notes"]:
        print(f"  note: {note}")
    head = f"  {'sleeve':<26}{'alloc':>8}{'return':>10}{'max dd':>9}{'sharpe':>9}{'trades':>8}  integrity"
    print(head)
    for s in js["sleeves"]:
        st = s["stats"]
        name = f"{s['strategy']}:{s['symbol']}"
        print(f"  {name:<26}{fmt(s['allocation'], True):>8}{fmt(st['total_return'], True):>10}"
              f"{fmt(st['max_drawdown'], True):>9}{fmt(st['sharpe']):>9}{st['trades']:>8}  "
              f"{'ok' if s['integrity']['ok'] else 'FAILED'}")
    for r in js["references"]:
        st = r["stats"]
        name = f"{r['name']}:{r['symbol']}"
        verdict = "—" if r["integrity"] is None else ("ok" if r["integrity"]["ok"] else "FAILED")
        print(f"  {name:<26}{'(ref)':>8}{fmt(st['total_return'], True):>10}{fmt(st['max_drawdown'], True):>9}"
              f"{fmt(st['sharpe']):>9}{st.get('trades') or 0:>8}  {verdict}")
    st = js["stats"]
    print(f"  {'portfolio':<26}{'':>8}{fmt(st['total_return'], True):>10}{fmt(st['max_drawdown'], True):>9}"
          f"{fmt(st['sharpe']):>9}{st['trades']:>8}")
    integ = js["integrity"]
    bad = [k for k, v in integ["checks"].items() if not v["ok"]] + [k for k, ok in integ["sleeves"].items() if not ok]
    print("integrity: " + ("ok (" + ", ".join(integ["checks"]) + "; every sleeve's gates)" if integ["ok"]
                           else "FAILED: " + ", ".join(bad)))
    for flag in integ.get("flags", []):
        print(f"  FLAG: {flag}")
    if report_path:
        print(f"report: {report_path}")


def run(args) -> int:
    import sys

    from traderagent.backtest.portfolio import plan_sleeves, read_symbol_bases, run_portfolio
    from traderagent.config import load_config

    cfg = load_config(args.config)
    refs = tuple(x.strip() for x in (args.compare or "").split(",") if x.strip() and x.strip().lower() != "none")
    plans, _ = plan_sleeves(cfg)
    bases = None
    if args.data_dir:
        bases = read_symbol_bases(list(dict.fromkeys(p.symbol for p in plans)), args.data_dir)
    selector = cfg.orchestrator.selector if args.adaptive else None
    result = run_portfolio(cfg, bases=bases, start=args.start, end=args.end, references=refs, selector=selector,
                           progress=(lambda m: print(f"running {m}", file=sys.stderr)) if not args.json else None)
    js = result.to_json_dict()
    report_path = None
    if (args.report or "").lower() != "none":
        from traderagent.backtest.runner import code_version
        from traderagent.report.compare import render_comparison

        report_path = Path(args.report) if args.report else _default_report()
        render_comparison(result, report_path, meta={"config": args.config or "packaged default",
                                                     "code_version": code_version()})
    if args.json:
        if report_path:
            js["report"] = str(report_path)
        print(json.dumps(js))
    else:
        _print_human(js, report_path)
    return 0
