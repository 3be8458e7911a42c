"""`traderagent optimize STUDY.yaml`: walk-forward optimization with optuna, robustness tests, HTML report.

    traderagent optimize research/trend_follower.yaml --workers 2
    traderagent optimize research/trend_follower.yaml --storage postgresql://user@host/optuna --worker

The first form runs N workers on this machine, then the analysis and the report; the second only adds a
worker to a shared study (e.g. on another machine) and exits when every fold has its trials.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from traderagent.cli import options


def register(sub) -> None:
    p = sub.add_parser(
        "optimize",
        help="walk-forward optimization of a research study (research/*.yaml) with an HTML report",
        description=(
            "Re-optimizes the strategy on each fold's in-sample window (seeded optuna TPE), trades the best "
            "params out of sample, stitches the OOS windows, and reports walk-forward efficiency, Monte Carlo "
            "bands, sensitivity, the deflated Sharpe ratio and the probability of backtest overfitting. "
            "Re-running a study resumes it from its storage; a study whose costs, config, data or kernel code "
            "changed since is refused (--fresh starts it over)."
        ),
    )
    p.add_argument("study", help="study file, e.g. research/trend_follower.yaml")
    p.add_argument("--workers", type=int, default=1, help="worker processes on this machine (default 1)")
    p.add_argument("--storage", help="optuna storage URL (default: the study's, else a SQLite file in the data dir)")
    p.add_argument("--trials", type=int, help="trials per fold (default: the study's)")
    options.add_costs(p, "the study file's, else the config's")
    p.add_argument("--fresh", action="store_true",
                   help="discard the study's earlier trials in the storage and start over (e.g. after costs changed)")
    options.add_output(p, "optimize-<name>-<fingerprint> (and .json beside it)")
    p.add_argument("--save", action="store_true", help="store the result in the app database (`traderagent runs`)")
    p.add_argument("--worker", action="store_true",
                   help="only run trials: join the study in --storage (e.g. from another machine), no analysis")
    p.add_argument("--worker-id", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=run)


def _check(args) -> None:
    from traderagent.errors import UserError

    if args.workers < 1 or args.workers > 256:
        raise UserError(f"--workers must be between 1 and 256 (got {args.workers})")
    if args.trials is not None and args.trials < 1:
        raise UserError(f"--trials must be >= 1 (got {args.trials})")


def _report_path(wanted, spec, result) -> Path | None:
    """--report, else the study file's `report:`, else (not under --json) a name no other study run shares."""
    if isinstance(wanted, Path) or wanted is None:
        return wanted
    if spec.report:
        return None if spec.report.strip().lower() == "none" else Path(spec.report)
    info = result.info
    parts = {"study": info["spec_hash"], "trials": info["trials_per_fold"], "seed": spec.seed,
             "analysis": [spec.monte_carlo.model_dump(), spec.sensitivity.model_dump(), spec.pbo_blocks]}
    return options.default_report(f"optimize-{spec.name}", parts)


def _print_human(js: dict) -> None:
    from traderagent.report.html import fmt

    o = js["oos"]["stats"]
    v = js["verdict"]
    print(f"study {js['study']}: {js['strategy']} on {js['symbol']} {js['timeframe']}, OOS {js['start']} -> {js['end']}")
    print(f"  verdict: {v['level'].upper()} - {v['summary']}")
    print(f"  OOS return {fmt(o['total_return'], True)}  CAGR {fmt(o['cagr'], True)}  Sharpe {fmt(o['sharpe'])}  "
          f"max DD {fmt(o['max_drawdown'], True)}  trades {o['trades']}  (buy and hold "
          f"{fmt(js['oos']['buy_hold_return'], True)})")
    print(f"  WFE {fmt(js['wfe']['wfe'])}  DSR {fmt(js['dsr']['dsr'])}  PSR {fmt(js['dsr']['psr'])}  "
          f"PBO {fmt(js['pbo']['pbo'], True)}  ({js['dsr']['n_trials']} configurations)")
    for f in js["folds"]:
        print(f"  fold {f['fold'] + 1}: IS {f['is_from'][:10]}..{f['is_to'][:10]} OOS {f['oos_from'][:10]}.."
              f"{f['oos_to'][:10]}  IS {js['objective']} {fmt(f['is_objective'])}  OOS {fmt(f['oos_objective'])}  "
              f"params {json.dumps(options.tidy(f['best_values']))}")
    t = js["timings"]
    print(f"  time {t.get('total', 0):.1f} s (optimize {t.get('optimize', 0):.1f} s, analysis "
          f"{t.get('analysis', {}).get('total', 0):.1f} s)")


def run(args) -> int:
    _check(args)
    from traderagent.cli.extras import require

    require("research", "`traderagent optimize`")
    if args.save:
        require("db", "`traderagent optimize --save`")
    options.start_numba()
    from traderagent.optimize.walkforward import prepare, run_study, run_worker

    overrides = {"fees": args.fees, "slippage": args.slippage}
    if args.worker:
        ctx = prepare(args.study, args.storage, overrides)
        try:
            timing = run_worker(ctx, args.worker_id, args.workers, args.trials)
        finally:
            ctx.close()
        if args.json:
            print(json.dumps(timing))
        elif not args.quiet:
            print(f"worker {timing['worker']}: {timing['trials']} trials in {timing['wall']:.1f} s")
        return 0
    from traderagent.optimize.study import load_study

    own = load_study(args.study).report
    if options.wanted_report(args) == "default" and own and own.strip().lower() != "none":
        options.check_writable(Path(own), f"the study's report: {own}")
        wanted = options.wanted_report(args)
    else:
        wanted = options.checked_report(args)
    result = run_study(args.study, storage=args.storage, workers=args.workers, trials=args.trials,
                       progress=options.progress_on(args.quiet or args.json), overrides=overrides, fresh=args.fresh,
                       log=lambda msg: print(msg, file=sys.stderr))
    js = result.to_json()
    if args.save:
        from traderagent.persistence.repository import save_optimization_result

        run_id = save_optimization_result(_for_db(js), data_hash=js["info"]["data_sha256"],
                                          code_version=js["info"]["code_version"])
        js["saved_as"] = f"opt-{run_id}"
    if not args.json:
        _print_human(js)  # the results first: a failing write below cannot lose them
        if args.save:
            print(f"saved as {js['saved_as']}")
    report, failure = _report_path(wanted, result.spec, result), None
    if report is not None:
        from traderagent.report.optimize import render

        try:
            render(result, report)
            report.with_suffix(".json").write_text(json.dumps(js, indent=1, allow_nan=False), encoding="utf-8")
        except OSError as exc:
            failure, report = options.write_failed(report, exc), None
    if args.json:
        if report is not None:
            js["report"] = str(report)
        json.dump(js, sys.stdout, allow_nan=False)
        print()
    elif report is not None:
        print(f"report: {report}\njson: {report.with_suffix('.json')}")
    if failure is not None:
        raise failure
    return 0


def _for_db(js: dict) -> dict:
    """The persistence layer's optimization record: the final params and the OOS stats, the rest as meta."""
    return {"study": js["study"], "strategy": js["strategy"], "symbol": js["symbol"], "timeframe": js["timeframe"],
            "start": js["start"], "end": js["end"], "n_trials": js["info"]["trials_per_fold"],
            "objective": js["oos"]["stats"].get(js["objective"]), "params": js["final_params"] or {},
            "stats": js["oos"]["stats"], "integrity": js["oos"]["integrity"],
            "wfe": js["wfe"], "dsr": js["dsr"], "pbo": js["pbo"], "verdict": js["verdict"],
            "folds": [{k: f[k] for k in ("fold", "best_values", "is_objective", "oos_objective")} for f in js["folds"]]}
