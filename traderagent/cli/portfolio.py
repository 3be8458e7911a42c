"""`traderagent portfolio`: every enabled strategy as a sleeve with its capital allocation, across the pairs."""

from __future__ import annotations

import json
from pathlib import Path

from traderagent.cli import options


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
    options.add_range(p)
    options.add_data(p, folder_only=True)
    options.add_costs(p)
    p.add_argument("--compare", default="hybrid",
                   help="comma-separated strategies to run beside the portfolio on each pair with the whole equity "
                        "(default hybrid; 'none' for no references); buy & hold is always shown")
    p.add_argument("--adaptive", action="store_true",
                   help="route sleeves by market regime (sideways grid, downtrend dca, uptrend trend_follower, "
                        "high volatility smc; docs/regime.md): each takes new positions only in its regimes")
    options.add_output(p, "portfolio-<first day>-<last day>-<fingerprint>")
    p.set_defaults(func=run)


def _default_report(js: dict, cfg, args) -> Path:
    """reports/portfolio-<first day>-<last day>-<fingerprint of the config, costs and results>.html."""
    parts = {"config": cfg.model_dump(mode="json"), "adaptive": bool(args.adaptive), "span": [js["start"], js["end"]],
             "final_equity": js["final_equity"], "sleeves": [s["stats"] for s in js["sleeves"]],
             "references": [[r["name"], r["symbol"], r["final_equity"]] for r in js["references"]]}
    return options.default_report(f"portfolio-{options.day(js['start'])}-{options.day(js['end'])}", parts)


def _references(text: str | None) -> tuple[str, ...]:
    """--compare's strategies, each a registered one (an unknown name is bad input, exit 2)."""
    from traderagent.errors import UserError
    from traderagent.strategies import registry

    refs = tuple(x.strip().lower() for x in (text or "").split(",") if x.strip() and x.strip().lower() != "none")
    unknown = [r for r in refs if r.replace("-", "_") not in registry.names()]
    if unknown:
        raise UserError(f"--compare: unknown strategy {', '.join(map(repr, unknown))}; choose from "
                        f"{', '.join(sorted(registry.names()))} (or none)")
    return tuple(r.replace("-", "_") for r in refs)


def _with_costs(cfg, fees, slippage):
    """The config with --fees/--slippage in its backtest section (every sleeve and reference pays them)."""
    if fees is None and slippage is None:
        return cfg
    from traderagent.config import replace

    changes = {k: v for k, v in (("fees", fees), ("slippage", slippage)) if v is not None}
    return cfg.model_copy(update={"backtest": replace(cfg.backtest, source="command line", prefix=("backtest",),
                                                      **changes)})


def _print_human(js: dict) -> None:
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


def run(args) -> int:
    refs = _references(args.compare)
    wanted = options.checked_report(args)
    options.start_numba()
    from traderagent.backtest.portfolio import plan_sleeves, read_symbol_bases, run_portfolio
    from traderagent.config import load_config

    cfg = _with_costs(load_config(args.config), args.fees, args.slippage)
    plans, _ = plan_sleeves(cfg)
    symbols = list(dict.fromkeys(p.symbol for p in plans))
    bases = read_symbol_bases(symbols, args.data) if args.data else None
    selector = cfg.orchestrator.selector if args.adaptive else None
    with options.bar(len(plans) + len(refs) * len(symbols), "portfolio", "run", options.progress_on(args.json)) as bar:
        def progress(message: str) -> None:
            bar.set_postfix_str(message)
            bar.update(1)

        result = run_portfolio(cfg, bases=bases, start=args.start, end=args.end, references=refs, selector=selector,
                               progress=progress)
    js = result.to_json_dict()
    if not args.json:
        _print_human(js)  # the results first: a failing write below cannot lose them
    report_path, failure = None, None
    if wanted is not None:
        from traderagent.backtest.runner import code_version
        from traderagent.report.compare import render_comparison

        report_path = wanted if isinstance(wanted, Path) else _default_report(js, cfg, args)
        try:
            render_comparison(result, report_path, meta={"config": args.config or "packaged default",
                                                         "code_version": code_version()})
        except OSError as exc:
            failure, report_path = options.write_failed(report_path, exc), None
    if args.json:
        if report_path:
            js["report"] = str(report_path)
        print(json.dumps(js))
    elif report_path:
        print(f"report: {report_path}")
    if failure is not None:
        raise failure
    return 0
