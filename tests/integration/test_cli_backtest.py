"""`traderagent backtest` and `traderagent check` end to end, in subprocesses, as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from traderagent.data.sample import sample_path

KEYS = {"strategy", "symbol", "timeframe", "start", "end", "params", "initial_equity", "final_equity", "stats",
        "integrity", "trades", "trades_sha256"}
STATS = {"total_return", "cagr", "sharpe", "sortino", "max_drawdown", "win_rate", "profit_factor", "expectancy",
         "exposure", "trades"}
TRADE = {"entry_time", "exit_time", "side", "entry_price", "exit_price", "size", "pnl", "fees", "exit_reason"}


def cli(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, "-m", "traderagent", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


@pytest.fixture(scope="module")
def btc_file(btc_15m) -> str:
    return str(sample_path("BTC_USDT-15m.csv.gz"))


def test_backtest_json_schema_and_report(btc_file, tmp_path):
    report = tmp_path / "tf.html"
    p = cli("backtest", "--strategy", "trend_follower", "--symbol", "BTC/USDT", "--timeframe", "H1", "--data",
            btc_file, "--start", "2025-01-01", "--end", "2025-12-31", "--report", str(report), "--json")
    assert p.returncode == 0, p.stderr
    js = json.loads(p.stdout)
    assert KEYS <= set(js) and set(js["stats"]) == STATS
    assert js["timeframe"] == "1h" and js["start"].startswith("2025-01-01") and js["end"].startswith("2025-12-31T23")
    assert js["integrity"]["ok"] is True and js["stats"]["trades"] == len(js["trades"]) > 0
    assert all(TRADE <= set(t) for t in js["trades"])
    first = js["trades"][0]
    assert first["entry_time"].endswith("Z") and first["entry_time"] >= "2025-01-01T01:00:00Z"  # filled after a decision
    net = sum(t["pnl"] for t in js["trades"])
    assert net == pytest.approx(js["final_equity"] - js["initial_equity"], rel=1e-9)
    html = report.read_text()
    assert "all gates passed" in html and (tmp_path / "plotly.min.js").exists()


def test_costs_are_on_by_default_and_cost_money(btc_file):
    base = ["backtest", "--strategy", "trend_follower", "--data", btc_file, "--start", "2025-01-01",
            "--report", "none", "--json"]
    with_costs = json.loads(cli(*base).stdout)
    free = json.loads(cli(*base, "--fees", "0", "--slippage", "0").stdout)
    assert with_costs["meta"]["fees"] == 0.001 and with_costs["meta"]["slippage"] == 0.0002
    assert sum(t["fees"] for t in with_costs["trades"]) > 0 and sum(t["fees"] for t in free["trades"]) == 0
    assert free["final_equity"] > with_costs["final_equity"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--strategy", "nope"], "unknown strategy 'nope'; choose one of:"),
        (["--strategy", "trend_follower", "--timeframe", "H7x"], "unknown timeframe 'H7x'"),
        (["--strategy", "trend_follower", "--timeframe", "5m"], "timeframe 5m is finer than the data's 15m"),
        (["--strategy", "trend_follower", "--fees", "1.5"],
         "argument --fees: must be at most 2% (got '1.5' = 150%); did you mean '1.5%'?"),
        (["--strategy", "trend_follower", "--slippage", "often"], "argument --slippage: must be a percent like"),
        (["--strategy", "trend_follower", "--symbol", "BTCUSDT"], "argument --symbol: must be a trading pair"),
        (["--strategy", "trend_follower", "--start", "2031-01-01"], "no bars to trade between 2031-01-01"),
        (["--strategy", "trend_follower", "--start", "yesterday-ish"], "bad date"),
        (["--strategy", "trend_follower", "--data", "/no/such/file.csv"], "/no/such/file.csv: file not found"),
        (["--strategy", "trend_follower", "--config", "/no/such.yaml"], "/no/such.yaml: no such file"),
    ],
)
def test_bad_input_one_line_exit_2(btc_file, args, message):
    full = ["backtest", *args, "--report", "none"]
    if "--data" not in args:
        full += ["--data", btc_file]
    p = cli(*full)
    assert p.returncode == 2, (p.returncode, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], p.stderr
    assert "Traceback" not in p.stderr


def test_save_and_show(btc_file, tmp_path):
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    p = cli("backtest", "--strategy", "trend_follower", "--data", btc_file, "--start", "2026-01-01", "--report",
            "none", "--save", "--database-url", url)
    assert p.returncode == 0, p.stderr
    assert "saved as bt-1" in p.stderr
    shown = cli("runs", "show", "bt-1", "--database-url", url)
    assert shown.returncode == 0 and "trend_follower" in shown.stdout and "integrity: ok" in shown.stdout


def test_check_reports_zero_rewritten(btc_file):
    p = cli("check", "--strategy", "trend_follower", "--data", btc_file, "--json")
    assert p.returncode == 0, p.stderr
    rep = json.loads(p.stdout)
    assert rep["rewritten"] == 0 and rep["prefix_points"] == 50 and rep["window_points"] == 50 and rep["ok"]


def test_costs_take_the_configs_forms(btc_file):
    """--fees/--slippage accept what the config accepts: a fraction, a percent or basis points, all equal."""
    base = ["backtest", "--strategy", "trend_follower", "--data", btc_file, "--start", "2026-01-01", "--json"]
    runs = [json.loads(cli(*base, "--fees", f, "--slippage", s).stdout) for f, s in
            (("0.002", "0.0003"), ("0.2%", "3bps"), ("20bps", "0.03%"))]
    assert [r["meta"]["fees"] for r in runs] == [0.002] * 3 and [r["meta"]["slippage"] for r in runs] == [0.0003] * 3
    assert len({r["trades_sha256"] for r in runs}) == 1
