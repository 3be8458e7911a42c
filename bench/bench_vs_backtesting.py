"""Side by side: a fresh `traderagent backtest` process against a fresh backtesting.py process on the same job.

The job is the demo's: Trend-Follower EMA 12/26 with an ATR stop/target on BTC/USDT 1h resampled from the
bundled 15m candles, fees 0.1% and 2 bps slippage (bench/backtesting_py_job.py has the backtesting.py
version and the two documented broker differences). Each side runs as a new Python process, once to warm
the caches (bytecode, numba's cached kernels, the page cache), then N rounds that run each side once
(interleaved, so both see the same machine load); the best wall time of each is compared. TraderAgent's run keeps every integrity gate, the vectorbt ledger gate included (its equity is
booked by vectorbt's Rust simulator on every run). The trade counts of both are printed and must agree.

Targets: TraderAgent's best <= 1.0 x backtesting.py's best; `traderagent --help` best < 0.1 s.

    .venv/bin/python bench/bench_vs_backtesting.py [--runs 5]

Exit code 1 if a target is missed or the trade counts differ (each named on a "TARGET MISSED" line).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from targets import verdict  # noqa: E402 - bench/ is not a package

ROOT = Path(__file__).resolve().parents[1]
DATA = "data/BTC_USDT-15m.csv.gz"
FEES, SLIPPAGE = "0.001", "0.0002"


def traderagent_cmd() -> list[str]:
    exe = Path(sys.executable).with_name("traderagent")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "traderagent"]


def commands() -> dict[str, list[str]]:
    ta = traderagent_cmd()
    return {
        "traderagent backtest": [*ta, "backtest", "--strategy", "trend_follower", "--symbol", "BTC/USDT",
                                 "--timeframe", "1h", "--data", DATA, "--fees", FEES, "--slippage", SLIPPAGE,
                                 "--json"],
        "backtesting.py": [sys.executable, "-W", "ignore", str(ROOT / "bench" / "backtesting_py_job.py"), DATA,
                           "--fees", FEES, "--slippage", SLIPPAGE],
        "traderagent --help": [*ta, "--help"],
    }


def env() -> dict[str, str]:
    out = dict(os.environ)
    out.pop("PYTHONDONTWRITEBYTECODE", None)  # cache bytecode as a normal install does (both sides alike)
    return out


def run_once(cmd: list[str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env(), capture_output=True, text=True, stdin=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise SystemExit(f"bench_vs_backtesting: {' '.join(cmd[:3])} ... failed (exit {proc.returncode}): {last}")
    return wall, proc.stdout


def trades_of(name: str, stdout: str) -> int | None:
    if name == "traderagent --help":
        return None
    js = json.loads(stdout.strip().splitlines()[-1])
    return int(js["stats"]["trades"]) if "stats" in js else int(js["trades"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5, help="timed fresh processes per side after a warm-up (default 5)")
    args = ap.parse_args(argv)
    if not (ROOT / DATA).exists():
        raise SystemExit(f"bench_vs_backtesting: {DATA} missing; run `make sample` first")
    cmds = commands()
    walls: dict[str, list[float]] = {name: [] for name in cmds}
    outs = {name: run_once(cmd)[1] for name, cmd in cmds.items()}  # warm-up
    for i in range(args.runs):  # interleaved, so both sides see the same machine load
        print(f"  round {i + 1}/{args.runs} ...", file=sys.stderr, flush=True)
        for name, cmd in cmds.items():
            wall, outs[name] = run_once(cmd)
            walls[name].append(wall)
    results = {name: {"best": min(w), "median": sorted(w)[len(w) // 2], "trades": trades_of(name, outs[name])}
               for name, w in walls.items()}
    ours, theirs, helpt = results["traderagent backtest"], results["backtesting.py"], results["traderagent --help"]
    ratio = ours["best"] / theirs["best"]
    print(f"\nFresh processes, best of {args.runs} after a warm-up, {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f}: Trend-Follower EMA 12/26, ATR stop/target, BTC/USDT 1h from {DATA}, "
          f"fees {FEES}, slippage {SLIPPAGE}\n")
    print(f"  {'process':<22}{'best s':>8}{'median s':>10}{'trades':>8}")
    for name, r in results.items():
        trades = "" if r["trades"] is None else str(r["trades"])
        print(f"  {name:<22}{r['best']:>8.3f}{r['median']:>10.3f}{trades:>8}")
    print(f"\n  ratio traderagent / backtesting.py (best): {ratio:.2f}x")
    ok_ratio, line_ratio = verdict("backtest vs backtesting.py (best, ratio)", ratio, 1.0, unit="x")
    ok_help, line_help = verdict("traderagent --help (best)", helpt["best"], 0.1)
    same = ours["trades"] == theirs["trades"]
    line_trades = (f"target trade counts agree: {ours['trades']} = {theirs['trades']} (met)" if same else
                   f"TARGET MISSED trade counts agree: traderagent {ours['trades']} != backtesting.py "
                   f"{theirs['trades']} (by {abs(ours['trades'] - theirs['trades'])})")
    for line in (line_ratio, line_help, line_trades):
        print("  " + line)
    return 0 if ok_ratio and ok_help and same else 1


if __name__ == "__main__":
    sys.exit(main())
