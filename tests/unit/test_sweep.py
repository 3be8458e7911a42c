"""The fused EMA-cross sweep against its references: vectorbt's pipeline, pandas' EWM and a hand-booked trade."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from traderagent.backtest import sweep_nb
from traderagent.backtest.sweep import METRIC_COLUMNS, ema_cross_sweep, ema_cross_sweep_vectorbt, ema_grid
from traderagent.errors import DataError, UserError

COSTS = SimpleNamespace(fees=0.001, slippage=0.0002)
FAST, SLOW = (2, 3, 5, 8, 13), (21, 34, 55, 89)  # 20 combos


@pytest.fixture(scope="module")
def bars(btc_15m: pd.DataFrame) -> pd.DataFrame:
    return btc_15m.iloc[:3000]


@pytest.fixture(scope="module")
def ours(bars: pd.DataFrame) -> pd.DataFrame:
    return ema_cross_sweep(bars, FAST, SLOW, COSTS, 10_000.0)


def _assert_same(a: pd.DataFrame, b: pd.DataFrame, rtol: float) -> None:
    assert list(a.index) == list(b.index)
    np.testing.assert_array_equal(a["n_trades"].to_numpy(), b["n_trades"].to_numpy())
    for col in METRIC_COLUMNS[:-1]:
        np.testing.assert_allclose(a[col].to_numpy(), b[col].to_numpy(), rtol=rtol, atol=0, err_msg=col)


@pytest.mark.parametrize("clamp", [True, False])
def test_matches_vectorbt_pipeline_on_every_combo(
    bars: pd.DataFrame, ours: pd.DataFrame, clamp: bool
) -> None:
    fast, slow = ema_grid(FAST, SLOW)
    mine = ours if clamp else ema_cross_sweep(bars, FAST, SLOW, COSTS, 10_000.0, clamp=False)
    ref = ema_cross_sweep_vectorbt(bars, fast, slow, COSTS, 10_000.0, clamp=clamp, chunk=7)
    assert len(mine) == 20 and mine["n_trades"].min() > 5  # every combo trades: the comparison has teeth
    _assert_same(mine, ref, rtol=1e-9)


def test_clamping_to_the_bar_changes_results(bars: pd.DataFrame, ours: pd.DataFrame) -> None:
    """A slipped open beyond the bar's range is clamped (the engine's rule); ~19% of BTC 15m bars open at a bound."""
    plain = ema_cross_sweep(bars, FAST, SLOW, COSTS, 10_000.0, clamp=False)
    assert (ours["total_return"] > plain["total_return"]).all()  # clamping only ever improves a fill


# vectorbt's own ma_cache_nb takes a Python list; numba warns when it compiles it (cold cache only).
@pytest.mark.filterwarnings(
    "ignore:\\nEncountered the use of a type that is scheduled for deprecation"
    ":numba.core.errors.NumbaPendingDeprecationWarning"
)
def test_bit_identical_to_vectorbt_numba_engine(bars: pd.DataFrame, ours: pd.DataFrame) -> None:
    import vectorbt as vbt

    fast, slow = ema_grid(FAST, SLOW)
    mine = ema_cross_sweep(bars, fast[:6], slow[:6], COSTS, 10_000.0, pairs=True, clamp=False)
    before = vbt.settings["engine"]
    vbt.settings["engine"] = "numba"
    try:
        ref = ema_cross_sweep_vectorbt(bars, fast[:6], slow[:6], COSTS, 10_000.0, clamp=False)
    finally:
        vbt.settings["engine"] = before
    _assert_same(mine, ref, rtol=0)


def test_ema_is_pandas_ewm_without_adjust(bars: pd.DataFrame) -> None:
    close = bars["close"].copy()
    close.iloc[[5, 40]] = np.nan  # gaps handled as pandas does
    for span in (1, 2, 13, 89):
        expected = close.ewm(span=span, min_periods=span, adjust=False).mean().to_numpy()
        np.testing.assert_array_equal(sweep_nb.ewm_mean_1d_nb(close.to_numpy(), span), expected)


@pytest.mark.parametrize(
    ("clamp", "buy_px", "sell_px"), [(False, 9.5 * 1.0002, 10.5 * 0.9998), (True, 9.5, 10.5)]
)
def test_one_trade_booked_by_hand(clamp: bool, buy_px: float, sell_px: float) -> None:
    """fast=1 (the close itself) vs slow=2: decide at the close, fill all cash at the next open with costs."""
    idx = pd.date_range("2024-01-01", periods=8, freq="15min", tz="UTC")
    open_ = [10.0, 10.0, 9.0, 8.5, 9.5, 11.5, 12.5, 10.5]
    high = [10.0, 10.0, 9.0, 9.0, 9.5, 12.0, 12.5, 11.0]  # bar 4 opens at its high: a slipped buy is clamped
    low = [10.0, 9.0, 8.0, 8.5, 9.3, 11.5, 10.0, 10.5]  # bar 7 opens at its low: so is a slipped sell
    close = [10.0, 9.0, 8.0, 9.0, 9.4, 12.0, 10.0, 10.8]
    bars = pd.DataFrame({"open": open_, "high": high, "low": low, "close": close}, index=idx)
    # EMA(2) of the close (alpha 2/3): 9.33, 8.44, 8.81, 9.21, 11.07, 10.36 from bar 1 on, so the close
    # crosses above it at bar 3 (9 > 8.81) and below at bar 6 (10 < 10.36): fills at bars 4 and 7.
    res = ema_cross_sweep(bars, [1], [2], COSTS, 1000.0, clamp=clamp).iloc[0]
    size = 1000.0 / 1.001 / buy_px  # all cash, the fee on top of the notional
    cash = size * sell_px * (1 - 0.001)
    assert res["n_trades"] == 1
    assert res["total_return"] == pytest.approx(cash / 1000.0 - 1, rel=1e-12)
    assert res["win_rate"] == 1.0 and res["profit_factor"] == np.inf
    equity = np.array([1000.0] * 4 + [size * c for c in close[4:7]] + [cash])
    assert res["max_drawdown"] == pytest.approx((equity / np.maximum.accumulate(equity) - 1).min(), rel=1e-12)
    assert res["max_drawdown"] == pytest.approx(10 / 12 - 1, rel=1e-12)  # peak at bar 5, trough at bar 6


def test_cross_on_the_last_bar_is_not_filled() -> None:
    idx = pd.date_range("2024-01-01", periods=4, freq="1h", tz="UTC")
    bars = pd.DataFrame({"open": [10.0, 10.0, 9.0, 8.0], "close": [10.0, 9.0, 8.0, 12.0]}, index=idx)
    bars["high"], bars["low"] = bars.max(axis=1), bars.min(axis=1)
    res = ema_cross_sweep(bars, [1], [2], COSTS, 1000.0).iloc[0]
    assert res["n_trades"] == 0 and res["total_return"] == 0.0 and res["max_drawdown"] == 0.0
    assert np.isnan(res["win_rate"]) and np.isnan(res["profit_factor"])


def test_results_do_not_depend_on_which_combos_run_together(bars: pd.DataFrame, ours: pd.DataFrame) -> None:
    picked = ours.sample(7, random_state=1)
    fast, slow = picked.index.get_level_values(0), picked.index.get_level_values(1)
    again = ema_cross_sweep(bars, fast, slow, COSTS, 10_000.0, pairs=True)
    pd.testing.assert_frame_equal(again, picked, check_exact=True)


def test_timeframe_sets_annualization(bars: pd.DataFrame, ours: pd.DataFrame) -> None:
    hourly = ema_cross_sweep(bars, FAST, SLOW, COSTS, 10_000.0, timeframe="1h")
    np.testing.assert_allclose(hourly["sharpe"], ours["sharpe"] / 2, rtol=1e-12)  # sqrt(35040/8760) = 2
    pd.testing.assert_series_equal(hourly["total_return"], ours["total_return"])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(fast_windows=[5], slow_windows=[5]), "no \\(fast, slow\\) pair with fast < slow"),
        (dict(fast_windows=[5, 9], slow_windows=[20], pairs=True), "2 fast windows but 1 slow"),
        (
            dict(fast_windows=[30], slow_windows=[20], pairs=True),
            "pair \\(fast=30, slow=20\\) needs fast < slow",
        ),
        (dict(fast_windows=[2.5], slow_windows=[20]), "fast window 2.5 is not a whole number"),
    ],
)
def test_bad_windows_name_the_problem(bars: pd.DataFrame, kwargs: dict, match: str) -> None:
    with pytest.raises(UserError, match=match):
        ema_cross_sweep(bars, costs=COSTS, init_cash=1000.0, **kwargs)


def test_bars_without_open_are_rejected(bars: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="lack column\\(s\\) open, high, low; pass OHLCV candles"):
        ema_cross_sweep(bars[["close"]], [2], [5], COSTS, 1000.0)
    with pytest.raises(DataError, match="lack column\\(s\\) open; pass"):
        ema_cross_sweep(bars[["close"]], [2], [5], COSTS, 1000.0, clamp=False)
