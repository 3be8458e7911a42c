"""The risk guard on the bundled BTC data: trend_follower, grid and DCA under the default risk section and three
variants (daily loss limit 1%, the same with `flatten`, max loss per trade 0.5%), printed as a table:
blocks by rule, the largest loss of a stopped trade as % of equity at entry (and the gap trades beyond the limit),
the worst UTC day, trades and final equity. Run: .venv/bin/python bench/bench_risk.py
"""

from __future__ import annotations

import pandas as pd

from traderagent.backtest.runner import run_backtest
from traderagent.config import load_config
from traderagent.config.models import RiskConfig
from traderagent.core.risk import blocks_line
from traderagent.data.sample import ensure_sample, sample_path

VARIANTS = {
    "default": {},
    "daily 1%": {"daily_loss_limit": 0.01},
    "daily 1% flatten": {"daily_loss_limit": 0.01, "daily_loss_action": "flatten"},
    "max loss 0.5%": {"max_loss_per_trade": 0.005},
}
CASES = (("trend_follower", "1h"), ("grid", "15m"), ("dca", "15m"))


def worst_day(result) -> tuple[str, float]:
    eq = pd.Series(result.equity, index=result.index)
    prev_close = eq.shift(1).fillna(result.initial_equity)
    first = prev_close.groupby(eq.index.floor("D")).first()
    last = eq.groupby(eq.index.floor("D")).last()
    r = last / first - 1.0
    return f"{r.idxmin():%Y-%m-%d}", float(r.min())


def largest_stop_loss(result) -> tuple[float, str]:
    detail = result.integrity["checks"]["risk_limits"]["detail"]
    t = result.trades
    stopped = t[t["exit_reason"].isin(["stop", "risk"]) & (t["pnl"] < 0)]
    if not len(stopped):
        return 0.0, ""
    eq = pd.Series(result.equity, index=result.index).shift(1).fillna(result.initial_equity)
    ref = eq.reindex(pd.DatetimeIndex(stopped["entry_time"])).to_numpy()
    worst = float((-stopped["pnl"].to_numpy() / ref).max())
    gaps = detail.split("gapped open: ")[1].split(";")[0] if "gapped open" in detail else ""
    return worst, gaps


def main() -> None:
    import sys
    import tempfile

    import yaml

    ensure_sample(log=lambda *_: None)
    data = sample_path("BTC_USDT-15m.csv.gz")
    base = load_config()
    rows = []
    for name, tf in CASES:
        for label, changes in VARIANTS.items():
            risk = RiskConfig(**{**base.risk.model_dump(), **changes})
            with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as fh:
                doc = yaml.safe_load(open(load_config.__globals__["default_config_path"]()).read())
                doc["risk"] = risk.model_dump(mode="json")
                yaml.safe_dump(doc, fh)
            run = run_backtest(name, data=data, timeframe=tf, config=fh.name)
            r = run.result
            worst, gaps = largest_stop_loss(r)
            day, loss = worst_day(r)
            rows.append((name, label, len(r.trades), r.final_equity, blocks_line(run.json["risk_blocks"]), worst,
                         gaps, day, loss))
            print(f"{name:<15} {label:<17} trades {len(r.trades):>5}  equity {r.final_equity:>10,.0f}  "
                  f"largest stop-out {worst:6.2%}  worst day {day} {loss:7.2%}\n    blocks: "
                  f"{blocks_line(run.json['risk_blocks'])}" + (f"\n    gaps: {gaps}" if gaps else ""),
                  flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
