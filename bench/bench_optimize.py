"""Time the shipped walk-forward study: 5 folds x 200 trials of the Trend-Follower (1h signals) on the
bundled 3.3 years of BTC/USDT 15m candles, in a fresh SQLite storage (run on demand).

    .venv/bin/python bench/bench_optimize.py [--workers 2] [--trials 200] [--study research/trend_follower.yaml]

Prints the wall time of the optimization (target: under 60 s on a 2-core machine), the cost per trial
and where it goes (backtest = signals + fill kernel + metrics; sampler = optuna's TPE; storage = the one
SQLite write per trial and the pulls of other workers' trials; other = optuna's ask/tell bookkeeping and
the params model), then the analysis phases (OOS runs through the full engine incl. the vectorbt import,
Monte Carlo, sensitivity, DSR/PBO). Exit code 1 when the optimization misses the 60 s target.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from targets import verdict  # noqa: E402 - bench/ is not a package

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 60.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--study", default=str(ROOT / "research" / "trend_follower.yaml"))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--trials", type=int, default=None, help="trials per fold (default: the study's, 200)")
    ap.add_argument("--json", action="store_true", help="print the timings as JSON too")
    args = ap.parse_args()

    from traderagent.data.sample import ensure_sample

    ensure_sample(log=lambda *_: None)
    t_import = time.perf_counter()
    from traderagent.optimize.walkforward import run_study

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        result = run_study(args.study, storage=f"sqlite:///{Path(tmp) / 'bench.db'}", workers=args.workers,
                           trials=args.trials)
    total = time.perf_counter() - t0
    t = result.timings
    workers = t["workers"]
    n = sum(w["trials"] for w in workers)
    cpu = {k: sum(w[k] for w in workers) for k in ("wall", "eval", "sampler", "storage")}
    other = cpu["wall"] - cpu["eval"] - cpu["sampler"] - cpu["storage"]
    print(f"walk-forward {result.spec.name}: {len(result.folds)} folds x {result.info['trials_per_fold']} trials "
          f"= {n} trials, {args.workers} worker(s)")
    print(f"  optimization      {t['optimize']:7.1f} s wall  ({1000 * t['optimize'] / n:.1f} ms per trial wall, "
          f"{1000 * cpu['wall'] / n:.1f} ms per trial per worker)  target < {TARGET_S:.0f} s")
    for name, secs in (("backtest", cpu["eval"]), ("TPE sampler", cpu["sampler"]), ("storage", cpu["storage"]),
                       ("optuna/other", other)):
        print(f"    {name:<14} {1000 * secs / n:6.2f} ms/trial  ({100 * secs / cpu['wall']:4.1f}% of worker time)")
    a = t["analysis"]
    print(f"  analysis          {a['total']:7.1f} s  (fold OOS runs incl. vectorbt import {a['folds_oos']:.1f}, "
          f"Monte Carlo {a['monte_carlo']:.2f}, sensitivity {a['sensitivity']:.2f}, DSR/PBO {a['overfitting']:.3f})")
    print(f"  prepare (data)    {t['prepare']:7.1f} s;  imports before the run {t0 - t_import:.1f} s")
    print(f"  total             {total:7.1f} s")
    js = result.to_json()
    print(f"  result: {js['verdict']['level']}; OOS return {js['oos']['stats']['total_return']:+.2%}, Sharpe "
          f"{js['oos']['stats']['sharpe']:.2f}; WFE {js['wfe']['wfe']:.2f}; DSR {js['dsr']['dsr']:.3f}; "
          f"PBO {js['pbo']['pbo']:.2f}")
    if args.json:
        print(json.dumps({"optimize_s": t["optimize"], "total_s": total, "trials": n, "workers": args.workers,
                          "per_trial_ms": 1000 * t["optimize"] / n, "breakdown_s": {**cpu, "other": other},
                          "analysis_s": a}))
    ok, line = verdict(f"walk-forward optimization, {args.workers} worker(s)", t["optimize"], TARGET_S)
    print("  " + line)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
