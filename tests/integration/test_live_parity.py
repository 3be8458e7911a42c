"""Backtest = live parity: every registered strategy replayed over a year of the bundled data through the live
runner and the paper exchange, with its state, ledger and orders in the database bar by bar, gives the backtest's
trades to the bit (the same trades_sha256), the same final equity (1e-9 relative) and passes every gate, on SQLite
and on the real PostgreSQL."""

from __future__ import annotations

import pytest
from integration.pg import db_url, pg_database  # noqa: F401 - fixtures

from traderagent.backtest.runner import run_backtest
from traderagent.live.replay import replay

YEAR = {"start": "2025-01-01", "end": "2025-12-31"}
TIMEFRAMES = {"trend_follower": "1h"}


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["trend_follower", "smc", "grid", "dca", "hybrid"])
def test_replay_equals_the_backtest(strategy, db_url, btc_15m):  # noqa: F811
    from traderagent.data.sample import sample_path

    data = sample_path("BTC_USDT-15m.csv.gz")
    tf = TIMEFRAMES.get(strategy)
    bt = run_backtest(strategy, data=data, timeframe=tf, **YEAR)
    rp = replay(strategy, data=data, timeframe=tf, database_url=db_url, **YEAR)
    assert list(rp.json) == list(bt.json)
    assert rp.json["integrity"]["ok"] and rp.json["integrity"]["checks"].keys() == bt.json["integrity"]["checks"].keys()
    assert len(rp.json["trades"]) == len(bt.json["trades"]) > 5
    assert rp.json["trades_sha256"] == bt.json["trades_sha256"]
    assert rp.json["final_equity"] == pytest.approx(bt.json["final_equity"], rel=1e-9)
    assert rp.json["risk_blocks"] == bt.json["risk_blocks"]
    assert rp.meta["duplicates"] == 0 and rp.meta["rejections"] == 0
    print(f"{strategy} {db_url.split(':')[0]}: {len(rp.json['trades'])} trades, hash {rp.json['trades_sha256'][:12]}"
          f" = backtest, final equity diff {abs(rp.json['final_equity'] - bt.json['final_equity']):.3g}, "
          f"{rp.meta['bars_replayed'] / rp.meta['seconds']:,.0f} bars/s")
