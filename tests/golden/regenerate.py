"""Regenerate the golden files. Run explicitly, review the diff, commit with a reason:

    .venv/bin/python tests/golden/regenerate.py

A golden file pins the stats and the hash of every trade of a default strategy on the bundled data, so any
change to fills, costs, sizing or a kernel shows up as a test failure that someone has to explain.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: name -> run_backtest keyword arguments (bundled data; defaults from the packaged config)
CASES = {
    "trend_follower_btc_1h": dict(strategy="trend_follower", symbol="BTC/USDT", timeframe="1h",
                                  sample="BTC_USDT-15m.csv.gz"),
    "trend_follower_eth_1h": dict(strategy="trend_follower", symbol="ETH/USDT", timeframe="1h",
                                  sample="ETH_USDT-15m.csv.gz"),
    "smc_btc_15m": dict(strategy="smc", symbol="BTC/USDT", sample="BTC_USDT-15m.csv.gz"),
    "smc_eth_15m": dict(strategy="smc", symbol="ETH/USDT", sample="ETH_USDT-15m.csv.gz"),
    "grid_btc_15m": dict(strategy="grid", symbol="BTC/USDT", timeframe="15m", sample="BTC_USDT-15m.csv.gz"),
    "dca_btc_15m": dict(strategy="dca", symbol="BTC/USDT", timeframe="15m", sample="BTC_USDT-15m.csv.gz"),
}


def golden_record(case: dict) -> dict:
    from traderagent.backtest.runner import run_backtest
    from traderagent.data.sample import ensure_sample, sample_path

    ensure_sample(log=lambda *_: None)
    kw = dict(case)
    data = sample_path(kw.pop("sample"))
    run = run_backtest(data=data, **kw)
    js = run.json
    return {
        "case": kw,
        "data_sha256": run.meta["data_sha256"],
        "start": js["start"],
        "end": js["end"],
        "final_equity": js["final_equity"],
        "stats": js["stats"],
        "integrity_ok": js["integrity"]["ok"],
        "n_trades": len(js["trades"]),
        "trades_sha256": js["trades_sha256"],
    }


def main(names: list[str]) -> None:
    for name in names or CASES:
        rec = golden_record(CASES[name])
        (HERE / f"{name}.json").write_text(json.dumps(rec, indent=1, sort_keys=True) + "\n")
        print(f"wrote {name}.json: {rec['n_trades']} trades, sha {rec['trades_sha256'][:12]}")


if __name__ == "__main__":
    main(sys.argv[1:])
