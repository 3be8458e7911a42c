"""`traderagent runs ...`: list and show saved backtests (bt-N) and optimization results (opt-N)."""

from __future__ import annotations

import json
import math
from typing import Any

from traderagent.cli.db import add_database_url
from traderagent.cli.options import tidy


def register(sub) -> None:
    p = sub.add_parser(
        "runs",
        help="list and show saved backtest runs and optimization results",
        description="Runs are saved by `traderagent backtest ... --save` and by the optimizer. Ids: bt-N for "
        "backtests, opt-N for optimization results.",
    )
    cmds = p.add_subparsers(dest="runs_command", metavar="SUBCOMMAND", required=True)

    ls = cmds.add_parser("list", help="the newest saved runs first")
    ls.add_argument("--kind", choices=("all", "backtest", "optimization"), default="all")
    ls.add_argument("--strategy", help="only runs of this strategy")
    ls.add_argument("--limit", type=int, default=30, help="at most this many (default 30)")
    ls.add_argument("--json", action="store_true", help="print a JSON list")
    ls.set_defaults(func=run_list)

    show = cmds.add_parser("show", help="everything saved about one run")
    show.add_argument("run_id", metavar="ID", help="bt-N or opt-N as listed (a bare N means bt-N)")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.add_argument("--trades", action="store_true", help="include the trade list")
    show.set_defaults(func=run_show)

    for parser in (ls, show):
        add_database_url(parser)


def _repo(args):
    from traderagent.cli.extras import require

    require("db", "`traderagent runs`")
    from traderagent.persistence import Repository

    return Repository(args.database_url, label="--database-url")


def _pct(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{100 * value:.2f}%"


def _num(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}" if math.isfinite(value) else str(value)
    return str(value)


def _day(value) -> str:
    return "-" if value is None else value.strftime("%Y-%m-%d")


def run_list(args) -> int:
    from dataclasses import asdict

    with _repo(args) as repo:
        runs = repo.list_runs(kind=args.kind, strategy=args.strategy, limit=args.limit)
    if args.json:
        print(json.dumps([asdict(r) for r in runs], default=str, indent=1))
        return 0
    if not runs:
        print("no saved runs (save one with `traderagent backtest ... --save`)")
        return 0
    header = ("ID", "SAVED (UTC)", "STRATEGY", "SYMBOL", "TF", "PERIOD", "RETURN", "SHARPE", "MAX DD", "TRADES",
              "INTEGRITY", "STUDY")  # fmt: skip
    rows = [
        (r.run_id, r.created_at.strftime("%Y-%m-%d %H:%M"), r.strategy, r.symbol or "-", r.timeframe or "-",
         f"{_day(r.start)}..{_day(r.end)}", _pct(r.total_return), _num(r.sharpe), _pct(r.max_drawdown),
         _num(r.trades), "-" if r.integrity_ok is None else "ok" if r.integrity_ok else "FLAGGED", r.label or "")
        for r in runs
    ]  # fmt: skip
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    for line in (header, *rows):
        print("  ".join(str(x).ljust(w) for x, w in zip(line, widths, strict=True)).rstrip())
    return 0


def run_show(args) -> int:
    with _repo(args) as repo:
        run = repo.get_run(args.run_id)
    trades = run.pop("trades", None)
    if args.trades and trades is not None:
        run["trades"] = trades
    if args.json:
        print(json.dumps(run, default=str, indent=1))
        return 0
    print(f"{run['run_id']}  {run['kind']}  {run['strategy']}  {run.get('symbol') or '-'} "
          f"{run.get('timeframe') or '-'}  {_day(run.get('start'))}..{_day(run.get('end'))}")  # fmt: skip
    if run["kind"] == "optimization":
        fold = "" if run.get("fold") is None else f", fold {run['fold']}"
        print(
            f"study: {run['study']}{fold}, trials {_num(run.get('n_trials'))}, objective {_num(run.get('objective'))}"
        )
    print(
        f"saved: {run['created_at']:%Y-%m-%d %H:%M:%S} UTC   code: {run['code_version']}   data: {run['data_hash']}"
    )
    print(f"params: {json.dumps(tidy(run['params']), sort_keys=True)}")
    print("stats: " + ", ".join(f"{k} {_num(v)}" for k, v in run["stats"].items()))
    if run["kind"] == "backtest":
        print(f"equity: {run['initial_equity']:,.2f} -> {run['final_equity']:,.2f}")
    print("integrity: " + _integrity(run.get("integrity") or {}, run.get("integrity_ok")))
    if trades is not None:
        print(f"trades: {len(trades)} stored, sha256 {run.get('trades_sha256') or '-'}")
        for trade in trades if args.trades else ():
            print("  " + json.dumps(trade, sort_keys=True))
    if run.get("meta"):
        print(f"meta: {json.dumps(tidy(run['meta']), sort_keys=True)}")
    return 0


def _integrity(integrity: dict, ok: bool | None) -> str:
    if ok is None:
        return "not checked"
    failed = [f"{name}: {c.get('detail', '')}" for name, c in (integrity.get("checks") or {}).items()
              if isinstance(c, dict) and not c.get("ok", True)]  # fmt: skip
    flags = [str(f) for f in integrity.get("flags") or []]
    verdict = "ok" if ok else "FAILED"
    return "; ".join([verdict, *failed, *(f"flag: {f}" for f in flags)])
