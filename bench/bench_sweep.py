"""Benchmark: 1,000 (fast, slow) EMA-cross combos over the first 35,000 bars of the bundled BTC 15m candles.

Two ways to the same numbers, each measured in its own fresh process (so peak RSS is its own):
  fused     `traderagent.backtest.sweep.ema_cross_sweep`: one numba kernel, parallel over combos, streaming
            the simulation and the metrics per combo (no bars x combos array).
  vectorbt  the straightforward pipeline `ema_cross_sweep_vectorbt`: vbt.MA.run(ewm=True) for fast and slow,
            crossed signals shifted one bar, Portfolio.from_signals(price=open) and its metrics, 100 combos
            per chunk (unchunked it needs ~13 GB).
Both fill at the next bar's open with fees 0.1% and slippage 2 bps, the slipped price clamped to the
fill bar's [low, high] as our engine does (vectorbt is given the price that lands on the bound; `--no-clamp`
runs plain `from_signals(price=open)` semantics in both). Every combo's total return, Sharpe, max
drawdown, win rate, profit factor and trade count are compared (1e-9 relative).

Run: `make bench` (all benchmarks) or `.venv/bin/python bench/bench_sweep.py [--bars N] [--no-clamp]`.
Exit code 1 if any combo differs or a target (>= 10x end to end, < 2 GB peak) is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from targets import verdict  # noqa: E402 - bench/ is not a package

T_START = time.perf_counter()

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FAST = range(2, 52)  # 50 fast windows
SLOW = range(55, 250, 10)  # 20 slow windows: 50 x 20 = 1,000 combos, all fast < slow
FEES, SLIPPAGE, INIT_CASH, TIMEFRAME = 0.001, 0.0002, 10_000.0, "15m"
RTOL = 1e-9
METHODS = {
    "fused (cold: JIT compile)": ("fused", {"cold": True}),
    "fused": ("fused", {}),
    "vectorbt, chunks of 100": ("vectorbt", {"chunk": 100}),
}


def load_bars(n: int):
    from traderagent.data.sample import ensure_sample, sample_path

    ensure_sample(download=False, log=lambda *_: None)
    path = sample_path("BTC_USDT-15m.csv.gz")
    try:
        from traderagent.data.io import read_candles
    except ImportError:  # before the candle reader existed
        import pandas as pd

        raw = pd.read_csv(path)
        raw.index = pd.to_datetime(raw.pop("timestamp"), unit="ms", utc=True)
        return raw.astype(float).iloc[:n]
    return read_candles(path).iloc[:n]


def rss_mb() -> tuple[float, float]:
    """(current RSS, peak RSS) of this process in MB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with open("/proc/self/status") as fh:
        cur = next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:")) / 1024
    return cur, peak


def worker(kind: str, opts: dict, n_bars: int, reps: int, out: Path, clamp: bool) -> None:
    """Run one method in this (fresh) process; write its metrics and timings to `out`."""
    from types import SimpleNamespace

    from traderagent.backtest import sweep

    bars = load_bars(n_bars)
    costs = SimpleNamespace(fees=FEES, slippage=SLIPPAGE)
    fast, slow = sweep.ema_grid(FAST, SLOW)
    base_rss, _ = rss_mb()
    t_ready = time.perf_counter()

    def call():
        if kind == "fused":
            return sweep.ema_cross_sweep(
                bars, fast, slow, costs, INIT_CASH, pairs=True, timeframe=TIMEFRAME, clamp=clamp
            )
        return sweep.ema_cross_sweep_vectorbt(
            bars, fast, slow, costs, INIT_CASH, timeframe=TIMEFRAME, clamp=clamp, **opts
        )

    t0 = time.perf_counter()
    df = call()
    first = time.perf_counter() - t0
    t_done = time.perf_counter()
    warm = []
    for _ in range(reps):
        t0 = time.perf_counter()
        call()
        warm.append(time.perf_counter() - t0)
    _, peak = rss_mb()
    np.save(out / "metrics.npy", df.to_numpy(dtype=np.float64))
    info = dict(
        first=first,
        warm=min(warm) if warm else float("nan"),
        startup=t_ready - T_START,
        process=t_done - T_START,
        base_rss=base_rss,
        peak_rss=peak,
        combos=len(df),
        bars=len(bars),
        threads=_threads(kind),
    )
    (out / "info.json").write_text(json.dumps(info))


def _threads(kind: str) -> int:
    if kind != "fused":
        return 1
    import numba

    return numba.get_num_threads()


def child_env(as_is: bool) -> dict:
    """Environment for the timed processes: with Python bytecode caching on, as a normal install has it.

    Some sandboxes set PYTHONDONTWRITEBYTECODE=1 and ship a venv without .pyc files, so every process
    compiles every imported module from source (seconds for numba/pandas/vectorbt). Unless `as_is`, the
    children cache bytecode under a private PYTHONPYCACHEPREFIX (the venv is not touched).
    """
    env = dict(os.environ)
    if not as_is and env.pop("PYTHONDONTWRITEBYTECODE", None):
        env.setdefault("PYTHONPYCACHEPREFIX", str(Path(tempfile.gettempdir()) / "traderagent-bench-pycache"))
    return env


def warm_imports(env: dict) -> None:
    """Import what the workers import once, so bytecode caches are warm before anything is timed."""
    code = "import numba, pandas, vectorbt, traderagent.backtest.sweep, traderagent.data.io"
    subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, check=True, capture_output=True)


def run_method(label: str, n_bars: int, reps: int, tmp: Path, env: dict, clamp: bool) -> dict:
    kind, opts = METHODS[label]
    out = tmp / label.replace(" ", "_").replace(",", "").replace(":", "").replace("(", "").replace(")", "")
    out.mkdir()
    env = dict(env)
    opts = dict(opts)
    if opts.pop("cold", False):
        env["NUMBA_CACHE_DIR"] = str(out / "numba-cache")  # empty: every kernel compiles
    cmd = [sys.executable, __file__, "--worker", kind, "--opts", json.dumps(opts)]
    cmd += ["--bars", str(n_bars), "--reps", str(reps), "--out", str(out)] + ([] if clamp else ["--no-clamp"])
    proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"bench_sweep: {label} failed:\n{proc.stderr[-3000:]}")
    info = json.loads((out / "info.json").read_text())
    info["metrics"] = np.load(out / "metrics.npy")
    return info


def compare(a: np.ndarray, b: np.ndarray) -> list[tuple[str, float, float, int]]:
    """Per metric: (name, max abs diff, max rel diff, combos outside RTOL). NaN==NaN and inf==inf count as equal."""
    from traderagent.backtest.sweep import METRIC_COLUMNS

    rows = []
    for k, name in enumerate(METRIC_COLUMNS):
        x, y = a[:, k], b[:, k]
        same = (x == y) | (np.isnan(x) & np.isnan(y))
        with np.errstate(invalid="ignore", divide="ignore"):
            diff = np.where(same, 0.0, np.abs(x - y))
            rel = np.where(same, 0.0, diff / np.maximum(np.abs(x), np.abs(y)))
        bad = int(np.sum(~same & ~(rel <= RTOL)))
        rows.append((name, float(np.nanmax(diff)), float(np.nanmax(rel)), bad))
    return rows


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bars", type=int, default=35_000, help="first N bars of BTC/USDT 15m (default 35000)")
    ap.add_argument("--reps", type=int, default=3, help="warm repetitions of the fused sweep (best is shown)")
    ap.add_argument(
        "--unchunked", action="store_true", help="also run vectorbt on all combos at once (~13 GB)"
    )
    ap.add_argument("--no-clamp", action="store_true", help="plain from_signals fills (no clamp to the bar)")
    ap.add_argument(
        "--as-is", action="store_true", help="keep PYTHONDONTWRITEBYTECODE if set (no .pyc caching)"
    )
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--opts", default="{}", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker(args.worker, json.loads(args.opts), args.bars, args.reps, Path(args.out), not args.no_clamp)
        return 0
    if args.unchunked:
        METHODS["vectorbt, unchunked"] = ("vectorbt", {"chunk": 10**9})
    results = {}
    env = child_env(args.as_is)
    warm_imports(env)
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp:
        for label in METHODS:
            reps = args.reps if METHODS[label][0] == "fused" else 1
            print(f"  running {label} ...", file=sys.stderr, flush=True)
            results[label] = run_method(label, args.bars, reps, Path(tmp), env, not args.no_clamp)
    bytecode = "off (PYTHONDONTWRITEBYTECODE)" if env.get("PYTHONDONTWRITEBYTECODE") else "cached"
    return report(results, bytecode, "no clamp" if args.no_clamp else "clamped to the bar's [low, high]")


def report(results: dict, bytecode: str, fills: str) -> int:
    fused, ref = results["fused"], results["vectorbt, chunks of 100"]
    print(
        f"\nEMA-cross sweep: {fused['combos']:,} combos x {fused['bars']:,} bars of BTC/USDT 15m, "
        f"fees {FEES:.1%}, slippage {SLIPPAGE * 1e4:g} bps, next-open fills {fills}\n"
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end, Python bytecode {bytecode}\n"
    )
    rows = []
    for label, r in results.items():
        rows.append(
            [
                label,
                f"{r['first']:.2f}",
                f"{r['warm']:.3f}" if r["warm"] == r["warm"] else "-",
                f"{r['process']:.2f}",
                f"{r['peak_rss']:,.0f}",
                f"{r['peak_rss'] - r['base_rss']:,.0f}",
                f"{ref['first'] / r['first']:.1f}x",
                f"{r['threads']}",
            ]
        )
    print(
        table(
            [
                "method",
                "first call s",
                "warm s",
                "process s",
                "peak RSS MB",
                "+ over data MB",
                "speed-up (first)",
                "threads",
            ],
            rows,
        )
    )
    print(
        "\n  first call: in a fresh process (fused: loads the on-disk JIT cache; 'cold' compiles it);"
        "\n  warm: best repeat in the same process; process: interpreter start to first result;"
        "\n  peak RSS: ru_maxrss of that process (incl. interpreter and imports)."
    )
    diffs = compare(fused["metrics"], ref["metrics"])
    print(
        "\n"
        + table(
            ["metric (fused vs vectorbt)", "max abs diff", "max rel diff", f"combos > {RTOL:g} rel"],
            [[n, f"{a:.2e}", f"{r:.2e}", str(b)] for n, a, r, b in diffs],
        )
    )
    n_bad = sum(b for *_, b in diffs)
    speed_e2e = ref["first"] / fused["first"]
    speed_warm = ref["warm"] / fused["warm"] if ref["warm"] == ref["warm"] else ref["first"] / fused["warm"]
    print(f"\n  identical on every combo (1e-9 rel): {'yes' if n_bad == 0 else f'NO, {n_bad} differences'}")
    print(f"  speed-up end to end (first call, fresh process): {speed_e2e:.0f}x   warm: {speed_warm:.0f}x")
    print(f"  peak memory of the fused sweep: {fused['peak_rss']:,.0f} MB")
    ok_speed, line_speed = verdict("sweep speed-up end to end", speed_e2e, 10, unit="x", lower_is_better=False)
    ok_mem, line_mem = verdict("sweep peak memory", fused["peak_rss"], 2048, unit=" MB")
    ok_same, line_same = verdict("combos differing from vectorbt", n_bad, 0, unit="")
    for line in (line_same, line_speed, line_mem):
        print("  " + line)
    return 0 if ok_same and ok_speed and ok_mem else 1


if __name__ == "__main__":
    sys.exit(main())
