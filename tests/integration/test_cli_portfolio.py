"""`traderagent portfolio` end to end on the bundled candles: JSON, the comparison page, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from traderagent.data.sample import data_dir


def run(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "traderagent", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


CONFIG = """
strategies:
  grid: {enabled: true, pairs: [ETH/USDT]}
  trend_follower: {enabled: true, pairs: [BTC/USDT, ETH/USDT], timeframe: H1}
  dca: {enabled: false}
orchestrator:
  max_concurrent_strategies: 2
  capital_allocation: {grid: 50%, trend_follower: 30%, smc: 10%}
"""


@pytest.fixture
def sample(btc_15m, eth_15m):
    return data_dir()


def test_portfolio_json_and_report(sample, tmp_path):
    (tmp_path / "p.yaml").write_text(CONFIG)
    r = run("portfolio", "--config", "p.yaml", "--start", "2024-12-01", "--end", "2024-12-31", "--json",
            "--compare", "none", "--data-dir", str(sample), "--report", "out/cmp.html", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    js = json.loads(r.stdout)
    assert js["start"] == "2024-12-01T00:00:00Z" and js["end"] == "2024-12-31T23:45:00Z"
    assert [(s["strategy"], s["symbol"], s["initial_equity"]) for s in js["sleeves"]] == [
        ("grid", "ETH/USDT", 5000.0), ("trend_follower", "BTC/USDT", 1500.0), ("trend_follower", "ETH/USDT", 1500.0)]
    assert js["reserve"] == 2000.0  # smc's 10% (not enabled) and the 10% nobody was given
    assert js["notes"] == ["smc: has a 10% allocation but is not enabled; that capital stays in cash"]
    assert js["integrity"]["ok"] and all(js["integrity"]["sleeves"].values())
    assert js["max_concurrent_observed"] <= 2
    assert js["final_equity"] == pytest.approx(2000.0 + sum(s["final_equity"] for s in js["sleeves"]), rel=1e-12)
    assert js["report"] == "out/cmp.html" and (tmp_path / "out" / "cmp.html").exists()
    assert [ref["name"] for ref in js["references"]] == ["buy_and_hold", "buy_and_hold"]


def test_human_output_lists_sleeves_and_verdict(sample, tmp_path):
    (tmp_path / "p.yaml").write_text(CONFIG)
    r = run("portfolio", "--config", "p.yaml", "--start", "2024-12-20", "--end", "2024-12-31", "--adaptive",
            "--compare", "hybrid", "--data", str(sample), "--report", "none", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    assert out[0].startswith("adaptive portfolio 2024-12-20T00:00:00Z -> 2024-12-31T23:45:00Z  equity 10,000.00 -> ")
    assert any(line.startswith("  grid:ETH/USDT") and line.endswith("ok") for line in out)
    hybrid = [line for line in out if line.startswith("  hybrid:")]
    assert [h.split()[0] for h in hybrid] == ["hybrid:ETH/USDT", "hybrid:BTC/USDT"]
    assert all("(ref)" in h and h.endswith("ok") for h in hybrid)
    assert out[-1].startswith("integrity: ok (sleeves_sum, allocation, own_capital, max_concurrent, drawdown")


def test_nothing_to_run_exits_2_with_one_line(tmp_path):
    (tmp_path / "p.yaml").write_text("strategies:\n  grid: {enabled: false}\n")
    r = run("portfolio", "--config", "p.yaml", "--report", "none", cwd=tmp_path)
    assert r.returncode == 2
    assert r.stdout == ""
    assert r.stderr.startswith("error: portfolio: no strategy to run (enable a registered strategy and give it a "
                               "capital_allocation)")
    assert r.stderr.count("\n") == 1
