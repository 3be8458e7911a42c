"""`traderagent backtest --strategy grid|dca --json` end to end in subprocesses, on one year of bundled BTC 15m:
exit 0, every integrity gate passed, each trade's fills add up to the trade, the preset is resolved, the page
is written with the strategy's overlays."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from traderagent.data.sample import sample_path

GATES = {"ledger", "cash_exposure", "drawdown", "no_trade_no_return", "fills_in_range", "no_lookahead", "risk_limits",
         "vectorbt_ledger", "spot_inventory"}


def start(strategy: str, tmp: Path, *extra: str) -> subprocess.Popen:
    args = ["backtest", "--strategy", strategy, "--data", str(sample_path("BTC_USDT-15m.csv.gz")),
            "--start", "2025-01-01", "--end", "2025-12-31", "--report", str(tmp / f"{strategy}.html"), "--json",
            *extra]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.Popen([sys.executable, "-m", "traderagent", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


@pytest.fixture(scope="module")
def runs(btc_15m, tmp_path_factory) -> dict[str, tuple[dict, Path]]:
    """Both backtests, run at the same time (one process each); grid with a preset and one key written by hand."""
    tmp = tmp_path_factory.mktemp("orders")
    (tmp / "grid.yaml").write_text("strategies:\n  grid:\n    preset: medium\n    grid_levels: 8\n")
    procs = {"grid": start("grid", tmp, "--config", str(tmp / "grid.yaml")), "dca": start("dca", tmp)}
    out = {}
    for name, p in procs.items():
        stdout, stderr = p.communicate(timeout=600)
        assert p.returncode == 0, stderr
        out[name] = (json.loads(stdout), tmp / f"{name}.html")
    return out


@pytest.mark.parametrize("name", ["grid", "dca"])
def test_every_gate_passes_on_one_year(runs, name):
    js, _ = runs[name]
    assert js["strategy"] == name and js["start"] == "2025-01-01T00:00:00Z" and js["end"] == "2025-12-31T23:45:00Z"
    assert js["integrity"]["ok"] is True and set(js["integrity"]["checks"]) == GATES
    assert all(c["ok"] for c in js["integrity"]["checks"].values())
    assert js["stats"]["trades"] == len(js["trades"]) > 10
    assert sum(t["pnl"] for t in js["trades"]) == pytest.approx(js["final_equity"] - js["initial_equity"], rel=1e-9)
    assert js["meta"]["fees"] == 0.001 and js["meta"]["slippage"] == 0.0002


@pytest.mark.parametrize("name", ["grid", "dca"])
def test_each_trade_lists_fills_that_add_up_to_it(runs, name):
    js, _ = runs[name]
    for t in js["trades"]:
        fills = t["fills"]
        buys = [f for f in fills if f["side"] == "buy"]
        sells = [f for f in fills if f["side"] == "sell"]
        assert buys, t
        bought, sold = sum(f["size"] for f in buys), sum(f["size"] for f in sells)
        assert bought == pytest.approx(t["size"], rel=1e-9)
        if t["exit_reason"] == "end":  # still open at the last bar: marked to the close, not sold
            assert sold <= bought * (1 + 1e-9)
        else:
            assert sold == pytest.approx(bought, rel=1e-9)
            assert sum(f["price"] * f["size"] for f in sells) / sold == pytest.approx(t["exit_price"], rel=1e-9)
        assert sum(f["price"] * f["size"] for f in buys) / bought == pytest.approx(t["entry_price"], rel=1e-9)
        assert sum(f["fee"] for f in fills) == pytest.approx(t["fees"], rel=1e-9, abs=1e-12)
        assert t["entry_time"] == min(f["time"] for f in fills)
        assert all(t["entry_time"] <= f["time"] <= t["exit_time"] for f in fills)


def test_grid_params_in_the_json_are_the_resolved_preset(runs):
    p = runs["grid"][0]["params"]
    assert p["preset"] == "medium" and p["grid_levels"] == 8  # the key written by hand wins
    assert (p["spacing"], p["range_percentage"], p["risk_per_level"]) == ("geometric", 5.0, "4%")  # from the preset


def test_dca_params_in_the_json_are_the_schema_defaults(runs):
    p = runs["dca"][0]["params"]
    assert (p["entry"], p["ema_fast"], p["ema_slow"], p["stop_percentage"], p["stop_reference"]) == (
        "downtrend", 20, 50, 15.0, "first_entry")


@pytest.mark.parametrize(("name", "traces"), [
    ("grid", ("grid range (", "grid levels", "grid stop", "buy fills", "sell fills")),
    ("dca", ("safety orders (until filled)", "take-profit", "average entry", "base orders", "buy fills")),
])
def test_report_page_has_the_overlays_and_a_fills_column(runs, name, traces):
    js, page = runs[name]
    assert js["report"] == str(page) and page.exists() and (page.parent / "plotly.min.js").exists()
    html = page.read_text(encoding="utf-8")
    assert "all gates passed" in html
    for trace in traces:
        assert f'"name":"{trace}' in html, trace
    assert "<th>Fills</th>" in html and '"fills": [' not in html  # a count per trade, not the fills themselves
    assert len(html.encode()) < 1_500_000  # one year of 15m bars stays a light page (the site's limit)
    doc = json.loads(page.with_suffix(".json").read_text(encoding="utf-8"))  # the full data sits beside it
    assert doc["kind"] == "backtest" and doc["trades"] == js["trades"] and len(doc["equity"]["value"]) > 30_000
