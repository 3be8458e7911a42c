"""`traderagent check`: the causality harness for a registered strategy."""

from __future__ import annotations

import json

from traderagent.cli import options


def register(sub) -> None:
    p = sub.add_parser(
        "check",
        help="causality harness: prove a strategy never looks ahead (0 rewritten readings)",
        description=(
            "Replays a strategy at random bars: on data cut after t (no lookahead) and on only the trailing "
            "warmup window ending at t (window sufficiency), and counts outputs that differ from the full run."
        ),
    )
    p.add_argument("--strategy", required=True, help="registered strategy name (e.g. trend_follower)")
    options.add_symbol(p)
    options.add_data(p)
    p.add_argument("--config", help="YAML config for the strategy params (default: the packaged default)")
    p.add_argument("--points", type=int, default=50, help="random bars to replay (default 50)")
    p.add_argument("--seed", type=int, default=0, help="seed for the random bars (default 0)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args) -> int:
    if args.points < 1:
        from traderagent.errors import UserError

        raise UserError(f"--points must be >= 1 (got {args.points})")
    options.start_numba()
    from traderagent.backtest.runner import load_strategy_inputs
    from traderagent.cli.backtest import resolve_data
    from traderagent.strategies.check import check_causality

    spec, params, bars, source = load_strategy_inputs(args.strategy, data=resolve_data(args.data, args.symbol),
                                                      config=args.config, symbol=args.symbol)
    with options.bar(None, "replays", "bar", options.progress_on(args.json)) as bar:
        def progress(i, total):
            bar.total = total
            bar.n = i
            bar.refresh()

        report = check_causality(spec, bars, params, points=args.points, seed=args.seed, progress=progress)
    if args.json:
        d = report.to_dict()
        d["data"] = source
        print(json.dumps(d))
    else:
        print(f"strategy        {report.strategy}")
        print(f"data            {source} ({report.bars} bars at {spec.base_timeframe(params)})")
        print(f"warmup bars     {report.warmup_bars}")
        print(f"replays         {report.prefix_points} prefix, {report.window_points} window; "
              f"{report.readings} readings compared")
        print(f"rewritten       {report.rewritten} (prefix {report.rewritten_prefix}, window {report.rewritten_window})")
        if report.first:
            f = report.first
            print(f"first offender  {f.replay} replay, output {f.output} at bar {f.bar} ({f.time}): "
                  f"full run {f.full!r}, replay {f.replayed!r}")
        print("verdict         " + ("ok: no lookahead" if report.ok else "FAILED"))
    return 0 if report.ok else 1
