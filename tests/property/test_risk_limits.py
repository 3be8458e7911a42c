"""The risk guard's rules hold whatever the limits: random walks and slices of the bundled data, random risk
sections, the Trend-Follower (signal engine), the grid and the DCA (order engine). Each run must pass every
integrity gate (`risk_limits` re-checks the rules from the ledger), and the tests re-derive the two simplest rules
from the ledger themselves: no opening fill after the day's loss reached the limit, no opening fill above the
exposure cap. The per-trade rule is checked by the gate, which names the gap trades it exempts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from traderagent.backtest import nb as bnb
from traderagent.backtest.engine import run_signals
from traderagent.backtest.orders import run_order
from traderagent.config.models import RiskConfig
from traderagent.core.costs import Costs
from traderagent.data.resample import bars_by_timeframe, resample
from traderagent.strategies import dca, grid, registry

SETTINGS = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

limits = st.builds(
    lambda loss, daily, action, cap, pos: RiskConfig(max_loss_per_trade=loss, daily_loss_limit=daily,
                                                     daily_loss_action=action, max_exposure=cap,
                                                     max_position=min(pos, cap)),
    st.floats(0.002, 0.05), st.sampled_from([0.0, 0.005, 0.01, 0.02, 0.05]), st.sampled_from(["block", "flatten"]),
    st.floats(0.2, 1.0), st.floats(0.2, 1.0),
)


def walk(seed: int, n: int = 3000, vol: float = 0.006) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0, vol, n)))
    open_ = np.r_[100.0, close[:-1]] * np.exp(rng.normal(0, vol / 4, n))  # small gaps at the open
    spread = np.abs(rng.normal(0, vol, (2, n))) * close
    high = np.maximum(open_, close) + spread[0]
    low = np.minimum(open_, close) - spread[1]
    idx = pd.date_range("2024-01-01", periods=n, freq="15min", tz="UTC", name="timestamp")
    return pd.DataFrame({"open": open_, "high": high, "low": low, "close": close, "volume": 1.0}, index=idx)


def check_ledger(result, risk: RiskConfig, leverage: float = 1.0) -> None:
    """The gate passed; and, re-derived here: no opening fill after the daily limit that day, none above the cap."""
    assert result.integrity["ok"], result.integrity["checks"]["risk_limits"]
    f = result.fills
    if not len(f):
        return
    cash_f, pos_f = bnb.replay_ledger_nb(f, len(result.equity), result.initial_equity)[2:]
    before = np.r_[0.0, pos_f[:-1]]
    opening = np.abs(pos_f) > np.abs(before) * (1 + 1e-12)
    price = f["price"]
    equity_before = np.r_[result.initial_equity, cash_f[:-1]] + before * price
    cap = min(risk.max_exposure, risk.max_position, leverage)
    assert (np.abs(pos_f[opening]) * price[opening] <= cap * equity_before[opening] * (1 + 1e-9) + 1e-6).all()
    if risk.daily_loss_limit <= 0:
        return
    days = result.index.as_unit("ns").asi8 // 86_400_000_000_000
    eq = result.equity
    blocked = np.zeros(len(eq), dtype=bool)
    start_eq, hit = result.initial_equity, False
    for i in range(len(eq)):
        if i == 0 or days[i] != days[i - 1]:
            start_eq, hit = (eq[i - 1] if i else result.initial_equity), False
        if hit:
            blocked[i] = True
        elif start_eq - eq[i] >= risk.daily_loss_limit * start_eq:
            hit = True
            if i + 1 < len(eq):
                blocked[i + 1] = True  # the next bar fills what this close decided, even on a new day
    assert not (opening & blocked[f["bar"]]).any()
    if risk.daily_loss_action == "flatten":
        reached = [e["bar"] for e in result.risk_events if e["action"] == "reached"]
        scale = max(float(np.abs(result.position).max()), 1e-300)
        for b in reached:  # flat by the end of the next bar (unless the data ends), to rounding of the slots' units
            if b + 1 < len(result.position):
                assert abs(result.position[b + 1]) <= 1e-9 * scale


@SETTINGS
@given(seed=st.integers(0, 10_000), risk=limits)
def test_trend_follower_keeps_the_limits_on_random_walks(seed, risk):
    bars = walk(seed)
    spec = registry.get("trend_follower")
    params = spec.params_model(timeframe="15m", ema_fast=8, ema_slow=21, risk_per_trade=0.05)
    sig = spec.signals(bars_by_timeframe(bars, "15m", spec.timeframes(params)), params)
    check_ledger(run_signals(bars, sig, "15m", costs=Costs(), risk=risk), risk)


@SETTINGS
@given(seed=st.integers(0, 10_000), risk=limits, preset=st.sampled_from(["low", "medium", "high"]))
def test_grid_keeps_the_limits_on_random_walks(seed, risk, preset):
    bars = walk(seed)
    r = run_order(grid.SPEC, bars, grid.grid_params(preset=preset, adx_filter=False), "15m", Costs(), 10_000.0,
                  first=300, risk=risk)
    check_ledger(r, risk)


@SETTINGS
@given(seed=st.integers(0, 10_000), risk=limits, avg=st.booleans())
def test_dca_keeps_the_limits_on_random_walks(seed, risk, avg):
    bars = walk(seed, vol=0.01)
    p = dca.dca_params(entry="always", stop_reference="average" if avg else "first_entry", cooldown_bars=4)
    r = run_order(dca.SPEC, bars, p, "15m", Costs(), 10_000.0, first=300, risk=risk)
    check_ledger(r, risk)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(start=st.integers(0, 90_000), risk=limits, name=st.sampled_from(["trend_follower", "grid", "dca"]))
def test_bundled_data_keeps_the_limits(btc_15m, start, risk, name):
    bars = btc_15m.iloc[start: start + 12_000]
    spec = registry.get(name)
    if name == "trend_follower":
        params = spec.params_model()
        hourly = resample(bars, "15m", "1h").drop(columns="n_bars")
        sig = spec.signals(bars_by_timeframe(hourly, "1h", spec.timeframes(params)), params)
        r = run_signals(hourly, sig, "1h", costs=Costs(), risk=risk)
    else:
        r = run_order(spec, bars, spec.params_model(), "15m", Costs(), 10_000.0, first=1200, risk=risk)
    check_ledger(r, risk)


def test_tight_limits_do_bind_and_still_hold():
    """The properties above are not vacuous: tight limits block, flatten and resize, and the ledger still obeys."""
    bars = walk(7, n=6000, vol=0.01)
    tight = RiskConfig(max_loss_per_trade=0.004, daily_loss_limit=0.005, daily_loss_action="flatten",
                       max_exposure=0.6, max_position=0.5)
    r = run_order(dca.SPEC, bars, dca.dca_params(entry="always", cooldown_bars=4), "15m", Costs(), 10_000.0,
                  first=300, risk=tight)
    check_ledger(r, tight)
    rules = {(e["rule"], e["action"]) for e in r.risk_events}
    assert {("max_loss_per_trade", "refused"), ("daily_loss_limit", "reached"),
            ("daily_loss_limit", "flattened")} <= rules, rules
    assert (r.trades["exit_reason"] == "flatten").any()
    spec = registry.get("trend_follower")
    params = spec.params_model(timeframe="15m", ema_fast=8, ema_slow=21, risk_per_trade=0.05)
    sig = spec.signals(bars_by_timeframe(bars, "15m", spec.timeframes(params)), params)
    t = run_signals(bars, sig, "15m", costs=Costs(), risk=tight)
    check_ledger(t, tight)
    assert {"max_loss_per_trade", "daily_loss_limit"} <= {e["rule"] for e in t.risk_events}
