"""Regime detector: labels on hand-built series, the confirmation delay, overlaps, alignment, causality."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from traderagent.config import ConfigError, search_space, validate
from traderagent.strategies import regime as R
from traderagent.strategies import regime_nb as rnb
from traderagent.strategies.check import check_causality
from traderagent.strategies.regime_nb import Regime

U, S, UP, DN, HV = Regime.unknown, Regime.sideways, Regime.uptrend, Regime.downtrend, Regime.high_volatility

#: Small periods so hand-built series of a few hundred bars warm up quickly.
SMALL = dict(timeframe="1h", adx_period=5, bb_period=10, bandwidth_window=50, volume_period=10, volume_smooth=2,
             confirmation_bars=3)


def candles(close: np.ndarray, volume: np.ndarray | None = None, spread: float = 0.0005) -> pd.DataFrame:
    """OHLCV from closes: open = previous close, high/low = the body widened by `spread` x price."""
    close = np.asarray(close, dtype=np.float64)
    open_ = np.r_[close[0], close[:-1]]
    high = np.maximum(open_, close) * (1 + spread)
    low = np.minimum(open_, close) * (1 - spread)
    vol = np.full(len(close), 100.0) if volume is None else np.asarray(volume, dtype=np.float64)
    idx = pd.date_range("2024-01-01", periods=len(close), freq="1h", tz="UTC")
    return pd.DataFrame({"open": open_, "high": high, "low": low, "close": close, "volume": vol}, index=idx)


def params(**kw) -> R.RegimeConfig:
    return R.RegimeConfig(**{**SMALL, **kw})


def warm(p: R.RegimeConfig) -> int:
    """First bar where every input of the raw label is defined (bandwidth rank is the slowest here)."""
    return p.bb_period + p.bandwidth_window - 2


# --------------------------------------------------------------------------- hand-built series
def test_flat_market_is_sideways():
    n = 300
    close = 100 + 0.1 * np.sin(2 * np.pi * np.arange(n) / 8 + 0.3)  # 8-bar swings of +-0.1%: no direction
    p = params(adx_period=14)
    f = R.regime_frame(candles(close), p)
    w = warm(p)
    assert (f["raw"].iloc[:w] == U).all()  # bandwidth rank not defined yet
    assert (f["raw"].iloc[w:] == S).all()
    assert (f["adx"].iloc[w:] < 11).all()
    # confirmed after exactly confirmation_bars agreeing labels
    assert (f["regime"].iloc[: w + 2] == U).all() and (f["regime"].iloc[w + 2:] == S).all()


@pytest.mark.parametrize(("step", "want", "stronger"), [(1.003, UP, "plus_di"), (1 / 1.003, DN, "minus_di")])
def test_steady_rise_is_uptrend_and_steady_fall_is_downtrend(step, want, stronger):
    n = 200
    close = 100 * step ** np.arange(n)
    p = params()
    f = R.regime_frame(candles(close), p)
    w = warm(p)
    assert (f["raw"].iloc[w:] == want).all()
    assert (f["regime"].iloc[w + 2:] == want).all()
    weaker = "minus_di" if stronger == "plus_di" else "plus_di"
    assert (f[stronger].iloc[w:] > f[weaker].iloc[w:]).all()
    assert (f["adx"].iloc[w:] > 90).all()  # one-directional moves: ADX tends to 100
    assert (f["volume_ratio"].iloc[w:] == 1.0).all()  # constant volume: never high volatility


def _burst_series(n_calm: int = 150, n_burst: int = 12, n_after: int = 40):
    i = np.arange(n_calm + n_burst + n_after)
    close = 100 + 0.1 * np.sin(2 * np.pi * i / 8 + 0.3)  # the flat market of the first test
    vol = np.full(len(i), 100.0)
    b = slice(n_calm, n_calm + n_burst)
    close[b] = 100 * (1 + 0.03 * (-1.0) ** i[b])  # swings of 6% bar to bar
    vol[b] = 400.0
    return candles(close, vol), n_calm


def test_volatility_burst_is_high_volatility_after_the_confirmation_delay():
    bars, start = _burst_series()
    p = params(adx_period=14)
    f = R.regime_frame(bars, p)
    raw, reg = f["raw"].to_numpy(), f["regime"].to_numpy()
    assert (raw[start - 20: start] == S).all() and (reg[start - 20: start] == S).all()
    first_hv = int(np.argmax(raw == HV))
    assert first_hv == start  # the first burst bar: bandwidth rank 1 and volume 2.5x its average
    assert f["bandwidth_rank"].iloc[start] == 1.0 and f["volume_ratio"].iloc[start] >= p.high_vol_volume_ratio
    assert (raw[start: start + 3] == HV).all()
    # the regime follows only after `confirmation_bars` agreeing bars: 2 bars of delay for k = 3
    assert (reg[start: start + 2] == S).all()
    assert reg[start + 2] == HV
    # with k = 1 there is no delay
    f1 = R.regime_frame(bars, params(adx_period=14, confirmation_bars=1))
    assert f1["regime"].iloc[start] == HV


def test_burst_without_volume_is_not_high_volatility():
    bars, start = _burst_series()
    bars = bars.assign(volume=100.0)  # wide bands but ordinary volume
    f = R.regime_frame(bars, params(adx_period=14))
    assert not (f["raw"] == HV).any()


# --------------------------------------------------------------------------- confirmation
@pytest.mark.parametrize(
    ("raw", "k", "want"),
    [
        # k = 3: a new label must be seen on 3 bars in a row; shorter runs (flapping) change nothing
        ([U, S, S, S, UP, S, UP, UP, UP, DN, DN, U, DN, DN, DN],
         3, [U, U, U, S, S, S, S, S, UP, UP, UP, UP, UP, UP, DN]),
        # k = 1: every known label takes effect at once; unknown keeps the regime
        ([U, S, UP, U, DN], 1, [U, S, UP, UP, DN]),
        # k = 2 with alternating labels never confirms anything
        ([S, UP, S, UP, S, UP], 2, [U, U, U, U, U, U]),
    ],
)
def test_confirmation_table(raw, k, want):
    state = rnb.new_confirm_state()
    times = np.arange(len(raw), dtype=np.int64)
    got = rnb.confirm_1d_nb(np.array(raw, dtype=np.int64), k, state[0], times, 0)
    assert got.tolist() == want
    assert state[0]["last_time"] == len(raw) - 1
    assert state[0]["switches"] == sum(1 for a, b in zip([U, *want], want, strict=False) if a != b)


def test_confirmation_count_is_capped_so_states_agree():
    """Two machines with the same regime and the same last k labels are in the same state (resumable)."""
    k = 3
    a, b = rnb.new_confirm_state(), rnb.new_confirm_state()
    t = np.arange(20, dtype=np.int64)
    rnb.confirm_1d_nb(np.array([S] * 20, dtype=np.int64), k, a[0], t, 0)
    rnb.confirm_1d_nb(np.array([S] * 3, dtype=np.int64), k, b[0], t[:3], 0)
    assert a[0]["regime"] == b[0]["regime"] == S and a[0]["count"] == b[0]["count"] == k


# --------------------------------------------------------------------------- overlaps / priority
def test_priority_decides_overlaps():
    # ADX 40 with -DI > +DI (downtrend) and bandwidth rank 0.95 with volume 2x (high volatility) on one bar
    default = R.RegimeConfig().priority_codes()
    assert rnb.classify_nb(40.0, 10.0, 30.0, 0.95, 2.0, 25.0, 0.9, 1.5, default) == HV
    trend_first = R.RegimeConfig(priority=("downtrend", "uptrend", "high_volatility", "sideways")).priority_codes()
    assert rnb.classify_nb(40.0, 10.0, 30.0, 0.95, 2.0, 25.0, 0.9, 1.5, trend_first) == DN
    # below the ADX threshold, or +DI = -DI: sideways; NaN volume ratio only rules out high volatility
    assert rnb.classify_nb(24.9, 10.0, 30.0, 0.5, 1.0, 25.0, 0.9, 1.5, default) == S
    assert rnb.classify_nb(30.0, 20.0, 20.0, 0.5, 1.0, 25.0, 0.9, 1.5, default) == S
    assert rnb.classify_nb(30.0, 30.0, 20.0, 0.99, np.nan, 25.0, 0.9, 1.5, default) == UP
    assert rnb.classify_nb(np.nan, 30.0, 20.0, 0.99, 2.0, 25.0, 0.9, 1.5, default) == U
    # sideways placed first wins over a weak trend only when ADX is below the threshold (conditions are exclusive)
    side_first = R.RegimeConfig(priority=("sideways", "uptrend", "downtrend", "high_volatility")).priority_codes()
    assert rnb.classify_nb(30.0, 30.0, 20.0, 0.99, 2.0, 25.0, 0.9, 1.5, side_first) == UP


# --------------------------------------------------------------------------- config
def test_config_validation_and_search_space():
    with pytest.raises(ConfigError) as exc:
        validate(R.RegimeConfig, {"priority": ["sideways", "uptrend", "downtrend"]}, "cfg.yaml", ("regime",))
    msg = str(exc.value)
    assert msg.startswith("cfg.yaml: regime.priority: must list each of sideways, uptrend, downtrend, high_volatility")
    assert "\n" not in msg
    with pytest.raises(ConfigError, match="regime.confirmation_bars"):
        validate(R.RegimeConfig, {"confirmation_bars": 0}, "cfg.yaml", ("regime",))
    with pytest.raises(ConfigError, match="unknown"):
        validate(R.RegimeConfig, {"adx_treshold": 20}, "cfg.yaml", ("regime",))
    space = search_space(R.RegimeConfig)
    assert space["confirmation_bars"] == {"type": "int", "low": 1, "high": 12}
    assert space["adx_trend"]["type"] == "float" and space["high_vol_percentile"]["high"] == 0.99
    assert validate(R.RegimeConfig, {"timeframe": "H4"}).timeframe == "4h"


# --------------------------------------------------------------------------- alignment, summaries
def test_regime_on_base_sees_only_completed_regime_candles():
    n = 15 * 4 * 12  # 15m bars for 180 hours
    i = np.arange(n)
    close = 100 * 1.0008 ** i  # steady 15m rise: every completed hour is an uptrend bar
    o = np.r_[close[0], close[:-1]]
    idx = pd.date_range("2024-01-01", periods=n, freq="15min", tz="UTC")
    base = pd.DataFrame({"open": o, "high": np.maximum(o, close) * 1.0005, "low": np.minimum(o, close) * 0.9995,
                         "close": close, "volume": 100.0}, index=idx)
    p = params()
    codes = R.regime_on_base(base, "15m", p)
    hourly = R.regime_frame(R.regime_bars(base, "15m", p), p)["regime"]
    first_up = hourly.index[int(np.argmax(hourly.to_numpy() == UP))]  # open time of the first confirmed 1h bar
    # visible from the 15m bar that closes with it (open = first_up + 45 min), not one bar earlier
    assert codes.loc[first_up + pd.Timedelta("45min")] == UP
    assert codes.loc[first_up + pd.Timedelta("30min")] == U
    assert codes.loc[first_up + pd.Timedelta("60min")] == UP


def test_distribution_spells_and_per_regime_returns():
    codes = np.array([U, S, S, UP, UP, UP, S])
    d = R.distribution(codes)
    assert d == {"sideways": 3 / 7, "uptrend": 3 / 7, "downtrend": 0.0, "high_volatility": 0.0, "unknown": 1 / 7}
    sp = R.spells(codes)
    assert sp["sideways"] == {"spells": 2, "mean_bars": 1.5} and sp["uptrend"] == {"spells": 1, "mean_bars": 3.0}
    equity = np.array([100.0, 110.0, 99.0, 99.0, 108.9, 108.9, 119.79])
    rows = {r["regime"]: r for r in R.per_regime_returns(equity, codes, 100.0, 365.0)}
    # bar t's return belongs to the regime at t-1: unknown gets bars 0 (+0%) and 1 (+10%)
    assert rows["unknown"]["bars"] == 2 and rows["unknown"]["return"] == pytest.approx(0.10)
    # sideways at bars 1, 2 -> returns of bars 2 (-10%) and 3 (0%); uptrend at 3, 4, 5 -> +10%, 0, +10%
    assert rows["sideways"]["bars"] == 2 and rows["sideways"]["return"] == pytest.approx(-0.10)
    assert rows["uptrend"]["return"] == pytest.approx(1.1 * 1.1 - 1)
    assert rows["uptrend"]["up_bars"] == pytest.approx(2 / 3)


# --------------------------------------------------------------------------- causality
@pytest.mark.parametrize("market", ["btc_15m", "eth_15m"])
def test_harness_passes_on_bundled_data(market, request):
    from traderagent.backtest.runner import to_timeframe

    p = R.RegimeConfig()
    bars = to_timeframe(request.getfixturevalue(market), "15m", p.timeframe)
    report = check_causality(R.SPEC, bars, p, points=40, seed=11)
    assert report.prefix_points == 40 and report.window_points == 40
    assert report.rewritten == 0, report.first
    full = R.outputs_matrix(bars, p)
    for t in (5_000, 17_321, len(bars) - 1):
        np.testing.assert_allclose(R.window_replay(bars, p, t, 1_500), full[t], rtol=1e-9)


def test_state_round_trips_through_bytes_and_resumes(walk):
    bars = walk(1500, seed=5, freq="1h")
    p = params(confirmation_bars=2)
    full = R.regime_frame(bars, p)["regime"].to_numpy()
    state = rnb.new_confirm_state()
    R.run_kernel(bars.iloc[:700], p, state, 0)
    restored = R.state_from_bytes(R.state_to_bytes(state))
    assert restored.tobytes() == state.tobytes()
    tail = R.run_kernel(bars, p, restored)[0]  # resumes after last_time: bars 700..
    assert (tail[:700] == U).all()
    np.testing.assert_array_equal(tail[700:], full[700:])
