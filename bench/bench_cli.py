"""Benchmark: wall time of fresh `traderagent` processes on the bundled data, with warm caches.

Times `traderagent --help` (target < 0.1 s), `traderagent data inspect data/BTC_USDT-15m.csv.gz` and
`traderagent backtest ...` on the bundled BTC 15m candles (target < 3 s; bench_vs_backtesting.py holds the
relative target: at most backtesting.py's time on the same job). Each command runs once untimed to warm the numba, bytecode and file
caches, then N times; best and median wall and the peak RSS are shown. The slowest imports of the
backtest process are listed, since import time is what bounds a fresh process.

Some sandboxes set PYTHONDONTWRITEBYTECODE=1 with a venv that has no .pyc files, so every process compiles
every module it imports from source. The main rows cache bytecode under a private PYTHONPYCACHEPREFIX
(as a normal install does); with that variable set, extra rows show the process as this environment runs it.

Run: `make bench` or `.venv/bin/python bench/bench_cli.py [--runs N]`. Exit code 1 if a target is missed
(judged on the median with bytecode cached; each printed on a "TARGET MISSED" line with the amount).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from targets import verdict  # noqa: E402 - bench/ is not a package

ROOT = Path(__file__).resolve().parents[1]
DATA = "data/BTC_USDT-15m.csv.gz"
TARGETS = {"--help": 0.1, "backtest": 3.0, "backtest + HTML report": 3.0}
REPORT = Path(tempfile.gettempdir()) / "traderagent-bench-report.html"


def traderagent_cmd() -> list[str]:
    exe = Path(sys.executable).with_name("traderagent")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "traderagent"]


def envs() -> dict[str, dict]:
    """{mode: environment}: "bytecode cached" always; "no .pyc (this env)" when the env disables bytecode."""
    base = dict(os.environ)
    cached = dict(base)
    out = {}
    if cached.pop("PYTHONDONTWRITEBYTECODE", None):
        cached.setdefault(
            "PYTHONPYCACHEPREFIX", str(Path(tempfile.gettempdir()) / "traderagent-bench-pycache")
        )
        out["bytecode cached"] = cached
        out["no .pyc (as this env runs)"] = base
    else:
        out["bytecode cached"] = cached
    return out


def run_once(cmd: list[str], env: dict) -> tuple[float, float, int, str]:
    """(wall s, peak RSS MB, exit code, last stderr line) of one fresh process."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        lines = err.read().decode(errors="replace").strip().splitlines()
    return wall, usage.ru_maxrss / 1024, proc.returncode, (lines[-1] if lines else "")


def time_command(cmd: list[str], env: dict, runs: int) -> dict:
    wall, rss, code, last = run_once(cmd, env)  # warm-up: numba cache, bytecode, page cache
    if code != 0:
        return {"error": f"exit {code}: {last[:120]}"}
    walls, peaks = [], []
    for _ in range(runs):
        wall, rss, code, last = run_once(cmd, env)
        if code != 0:
            return {"error": f"exit {code}: {last[:120]}"}
        walls.append(wall)
        peaks.append(rss)
    return {"best": min(walls), "median": statistics.median(walls), "rss": max(peaks)}


def backtest_args(ta: list[str], env: dict) -> list[str] | None:
    """The backtest invocation, or None while `traderagent backtest` does not exist yet."""
    proc = subprocess.run(ta + ["backtest", "--help"], cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode != 0 or "--strategy" not in proc.stdout:
        return None
    return ["backtest", "--strategy", "trend_follower", "--data", DATA, "--report", "none"]  # --report last


def slowest_imports(argv: list[str], env: dict, top: int = 8) -> tuple[float, list[tuple[str, float]]]:
    """(total import s, [(package, s)]) of one `python -X importtime -m traderagent ...`, by root package.

    Self time is summed per root package, so a package pulled in by another (ccxt by vectorbt) is
    charged to itself.
    """
    cmd = [sys.executable, "-X", "importtime", "-m", "traderagent", *argv]
    err = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True).stderr
    totals: dict[str, float] = {}
    for line in err.splitlines():
        parts = line[len("import time:") :].split("|") if line.startswith("import time:") else []
        if len(parts) != 3 or not parts[0].strip().isdigit():
            continue
        root = parts[2].strip().split(".")[0]
        totals[root] = totals.get(root, 0.0) + int(parts[0]) / 1e6
    return sum(totals.values()), sorted(totals.items(), key=lambda kv: -kv[1])[:top]


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--runs", type=int, default=5, help="timed runs per command after one warm-up (default 5)"
    )
    args = ap.parse_args(argv)
    ta = traderagent_cmd()
    modes = envs()
    env0 = modes["bytecode cached"]
    bt = backtest_args(ta, env0)
    commands = {
        "--help": ["--help"],
        "data inspect": ["data", "inspect", DATA],
        "backtest": bt,
        "backtest + HTML report": bt and [*bt[:-1], str(REPORT)],
    }
    rows, verdicts, missed = [], [], 0
    for name, cmd_args in commands.items():
        for mode, env in modes.items():
            label = f"traderagent {name}" + ("" if mode == "bytecode cached" else f"  [{mode}]")
            if cmd_args is None:
                rows.append([label, "not available yet", "-", "-", "-"])
                continue
            runs = args.runs if mode == "bytecode cached" else max(1, args.runs // 2)
            print(f"  timing {label} ...", file=sys.stderr, flush=True)
            r = time_command(ta + cmd_args, env, runs)
            if "error" in r:
                rows.append([label, r["error"], "-", "-", "-"])
                continue
            target = TARGETS.get(name)
            rows.append(
                [
                    label,
                    f"{r['best']:.2f}",
                    f"{r['median']:.2f}",
                    f"{r['rss']:,.0f}",
                    f"< {target:g} s" if target else "",
                ]
            )
            if target and mode == "bytecode cached":
                ok, line = verdict(f"traderagent {name} (median)", r["median"], target)
                missed += not ok
                verdicts.append(line)
    print(
        f"\nFresh `traderagent` processes, warm caches ({args.runs} runs after a warm-up), "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}\n"
    )
    print(table(["command", "best s", "median s", "peak RSS MB", "target"], rows))
    for v in verdicts:
        print("  " + v)
    if bt is not None:
        total, imports = min((slowest_imports(bt, env0) for _ in range(2)), key=lambda r: r[0])
        print(
            f"\n  `traderagent {' '.join(bt)}` spends {total:.2f} s importing modules (-X importtime, best of 2);"
        )
        print("  by root package (self time, s): " + ", ".join(f"{n} {t:.2f}" for n, t in imports))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
