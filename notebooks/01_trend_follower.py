# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Trend-Follower on bundled BTC/USDT
# The default Trend-Follower (EMA 12/26 on 1h, ATR stop and target, 2% risk per trade) backtested with fees
# and slippage on, its integrity verdict, the causality check, and the equity curve.
# Everything here is a call into the `traderagent` package; the notebook holds no logic of its own.

# %%
import plotly.graph_objects as go

from traderagent.backtest.runner import load_strategy_inputs, run_backtest
from traderagent.data.sample import ensure_sample, sample_path
from traderagent.strategies.check import check_causality

ensure_sample(log=lambda *_: None)
data = sample_path("BTC_USDT-15m.csv.gz")

# %%
run = run_backtest("trend_follower", symbol="BTC/USDT", timeframe="1h", data=data, start="2025-01-01")
stats = run.json["stats"]
print(f"integrity ok: {run.json['integrity']['ok']}  flags: {run.json['integrity']['flags']}")
{k: round(v, 4) if isinstance(v, float) else v for k, v in stats.items()}

# %%
equity = run.result.equity_series()
fig = go.Figure(go.Scatter(x=equity.index, y=equity.values, name="equity"))
fig.update_layout(title="Trend-Follower equity, BTC/USDT 1h, fees and slippage included", height=400)
fig

# %% [markdown]
# ## Does it look ahead?
# The harness recomputes the signals on data cut after random bars and on the trailing warm-up window only;
# any value that changes is a rewritten reading.

# %%
spec, params, bars, _ = load_strategy_inputs("trend_follower", data=data)
report = check_causality(spec, bars, params, points=20)
print(f"rewritten readings: {report.rewritten} of {report.readings}")
assert report.rewritten == 0
