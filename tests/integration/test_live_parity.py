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


@pytest.mark.slow
def test_the_adaptive_portfolio_live_equals_its_backtest(tmp_path, btc_15m, eth_15m):
    """`live run` with the example config, regime routing on and all capital deployed at once (staging [100%]):
    every instance's trades equal its sleeve's in `portfolio --adaptive` over the same two months, to the bit."""
    import asyncio
    from pathlib import Path

    import pandas as pd
    import yaml

    from traderagent.backtest.portfolio import read_symbol_bases, run_portfolio
    from traderagent.backtest.runner import to_timeframe
    from traderagent.config import load_config
    from traderagent.config.loader import Secrets
    from traderagent.core.costs import Costs
    from traderagent.data.sample import sample_path
    from traderagent.live.replay import summarize
    from traderagent.service.live import LiveService, RunOptions

    start, end = "2025-03-01", "2025-04-30"
    raw = yaml.safe_load((Path(__file__).resolve().parents[2] / "live" / "config.yaml").read_text())
    raw["orchestrator"].update({"adaptive": True, "staging": {"stages": [1.0]}})
    raw["live"].update({"paper_balance": 10_000, "metrics_port": 0})
    for name in ("BTC_USDT-15m.csv.gz", "ETH_USDT-15m.csv.gz"):
        (tmp_path / name).symlink_to(sample_path(name))
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(raw))
    cfg = load_config(tmp_path / "config.yaml")
    bases = read_symbol_bases(["BTC/USDT", "ETH/USDT"], tmp_path)
    portfolio = run_portfolio(cfg, bases=bases, start=start, end=end, selector=cfg.orchestrator.selector)
    opts = RunOptions(replay=tmp_path, start=start, end=end, database_url=f"sqlite:///{tmp_path / 'live.db'}")
    svc = LiveService(cfg, Secrets.from_env(), opts).build()
    try:
        run = asyncio.run(svc.run())
        assert run.events.get("order_error", 0) == 0
        costs = Costs(fees=cfg.backtest.fees, slippage=cfg.backtest.slippage)
        traded = 0
        for sl in portfolio.sleeves:
            name = f"{sl.plan.strategy}-{sl.plan.symbol.replace('/', '').lower()}"
            inst = svc.orchestrator.instances[name]
            bars = to_timeframe(bases[sl.plan.symbol], "15m", sl.timeframe)
            bars = bars[bars.index < pd.Timestamp(end, tz="UTC") + pd.Timedelta(days=1)]
            first = int(bars.index.searchsorted(pd.Timestamp(start, tz="UTC")))
            live = summarize(inst.spec, inst.stepper.params, inst.stepper, svc.store, name, bars, first,
                             sl.timeframe, costs, cfg.risk, sl.plan.initial_equity)
            kw = {"strategy": sl.plan.strategy, "symbol": sl.plan.symbol, "timeframe": sl.timeframe, "params": {}}
            a, b = sl.result.to_json_dict(**kw), live.to_json_dict(**kw)
            assert b["integrity"]["ok"]
            assert a["trades_sha256"] == b["trades_sha256"], name
            assert b["final_equity"] == pytest.approx(a["final_equity"], rel=1e-9)
            traded += len(b["trades"])
            print(f"{name}: {len(b['trades'])} trades, hash {b['trades_sha256'][:12]} = portfolio sleeve")
        assert traded > 50
    finally:
        svc.close()
