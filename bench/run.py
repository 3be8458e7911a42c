"""`make bench`: run every benchmark in bench/ in its own process and print their tables, then a summary.

Known scripts run first, in this order; any other `bench/bench_*.py` runs after them (so a new benchmark
only needs to be dropped into bench/). A known script that does not exist yet is listed as such.

    .venv/bin/python bench/run.py [--only sweep,cli] [--skip db] [--list]

Exit code 1 if any benchmark failed or missed a target it checks (its own exit code). Every target a benchmark
misses is printed by it on a line starting "TARGET MISSED" (bench/targets.py), which this runner repeats in its
summary, so a missed target is never only an exit code.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
#: Scripts in the order they run (the parameter sweep first: it is the headline number).
KNOWN = (
    "bench_sweep.py",  # 1,000 EMA-cross combos: fused numba kernel vs the vectorbt pipeline
    "bench_vs_backtesting.py",  # fresh `traderagent backtest` vs backtesting.py on the demo job; --help
    "bench_cli.py",  # fresh `traderagent` processes: --help, data inspect, backtest
    "bench_indicators.py",  # indicator kernels vs TA-Lib
    "bench_smc.py",  # SMC primitives on four timeframes
    "bench_orders.py",  # grid and DCA kernels and backtests
    "bench_db.py",  # order/fill persistence on PostgreSQL
)


def scripts() -> list[tuple[str, Path | None]]:
    """[(name, path or None if missing)]: the known ones in order, then any other bench_*.py."""
    out = [(name, BENCH / name if (BENCH / name).is_file() else None) for name in KNOWN]
    out += [(p.name, p) for p in sorted(BENCH.glob("bench_*.py")) if p.name not in KNOWN]
    return out


def _short(name: str) -> str:
    return name.removeprefix("bench_").removesuffix(".py")


def select(
    items: list[tuple[str, Path | None]], only: str | None, skip: str | None
) -> list[tuple[str, Path | None]]:
    wanted = {s.strip() for s in only.split(",")} if only else None
    unwanted = {s.strip() for s in skip.split(",")} if skip else set()
    known = {_short(n) for n, _ in items}
    for s in (wanted or set()) | unwanted:
        if s not in known:
            raise SystemExit(
                f"bench/run.py: no benchmark named {s!r}; choose from {', '.join(sorted(known))}"
            )
    return [(n, p) for n, p in items if (wanted is None or _short(n) in wanted) and _short(n) not in unwanted]


def run_one(path: Path) -> tuple[int, float, list[str]]:
    """Run one benchmark script with this interpreter, its output passed straight through:
    (exit code, wall s, the "TARGET MISSED" lines it printed)."""
    from targets import MISSED

    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, str(path)], cwd=BENCH.parent, env=dict(os.environ),
                            stdout=subprocess.PIPE, text=True, bufsize=1)
    missed = []
    for line in proc.stdout:
        print(line, end="", flush=True)
        if MISSED in line:
            missed.append(line.strip())
    return proc.wait(), time.perf_counter() - t0, missed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", help="comma-separated short names to run, e.g. sweep,cli")
    ap.add_argument("--skip", help="comma-separated short names to leave out, e.g. db")
    ap.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = ap.parse_args(argv)
    items = scripts()
    if args.list:
        for name, path in items:
            print(f"  {_short(name):<12} {name}{'' if path else '  (not written yet)'}")
        return 0
    summary, missed = [], []
    for name, path in select(items, args.only, args.skip):
        if path is None:
            summary.append((name, "not written yet", ""))
            continue
        print(f"\n{'=' * 100}\n== {name}\n{'=' * 100}", flush=True)
        code, wall, lines = run_one(path)
        missed += [f"{name}: {line}" for line in lines]
        status = "ok" if code == 0 else f"MISSED {len(lines)} target(s)" if lines else f"FAILED (exit {code})"
        summary.append((name, status, f"{wall:.0f}"))
    print(f"\n{'=' * 100}\nbenchmarks ({os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f})")
    width = max(len(n) for n, *_ in summary) if summary else 10
    for name, status, wall in summary:
        print(f"  {name:<{width}}  {status:<20} {wall + ' s' if wall else ''}")
    for line in missed:
        print(f"  {line}")
    return 1 if missed or any(s.startswith("FAILED") for _, s, _ in summary) else 0


if __name__ == "__main__":
    sys.exit(main())
