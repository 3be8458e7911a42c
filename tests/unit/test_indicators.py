"""Indicator kernels against TA-Lib on the bundled candles, hand-computed cases, NaN handling, causality."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
import talib
from numba import njit

import traderagent.indicators as ind
from traderagent.errors import UserError
from traderagent.indicators import nb

RTOL = 1e-9
MARKETS = ("btc_15m", "eth_15m")
PERIODS = (5, 14, 20, 50, 200)


def assert_matches(ours: np.ndarray, ref: np.ndarray, rtol: float = RTOL) -> float:
    """Same NaN mask, exact zeros where `ref` is 0, relative error <= rtol elsewhere; returns the max error."""
    ours, ref = np.asarray(ours, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    assert ours.shape == ref.shape
    nan_o, nan_r = np.isnan(ours), np.isnan(ref)
    diff = np.flatnonzero(nan_o != nan_r)
    assert diff.size == 0, (
        f"NaN masks differ first at index {diff[0]}: ours={ours[diff[0]]} ref={ref[diff[0]]}"
    )
    o, r = ours[~nan_r], ref[~nan_r]
    zero = r == 0.0
    assert np.all(o[zero] == 0.0), "ours is non-zero where the reference is exactly 0"
    if not np.any(~zero):
        return 0.0
    err = np.abs(o[~zero] - r[~zero]) / np.abs(r[~zero])
    worst = float(err.max())
    assert worst <= rtol, f"max relative error {worst:.3g} > {rtol:g} at value {r[~zero][err.argmax()]}"
    return worst


def test_assert_matches_rejects_what_it_should():
    a = np.array([np.nan, 1.0, 0.0, 100.0])
    assert assert_matches(a, a.copy()) == 0.0
    assert assert_matches(a * (1 + 5e-10), a) <= 1e-9
    with pytest.raises(AssertionError):
        assert_matches(np.array([np.nan, 1.0, 0.0, 100.0 * (1 + 2e-9)]), a)  # too far off
    with pytest.raises(AssertionError):
        assert_matches(np.array([1.0, 1.0, 0.0, 100.0]), a)  # warm-up ends one bar early
    with pytest.raises(AssertionError):
        assert_matches(np.array([np.nan, 1.0, 1e-300, 100.0]), a)  # not an exact zero
    with pytest.raises(AssertionError):
        assert_matches(np.array([np.nan, 2.0, 0.0, 100.0]), a)


def _ohlcv(df: pd.DataFrame) -> tuple[np.ndarray, ...]:
    return tuple(df[c].to_numpy(np.float64) for c in ("high", "low", "close", "volume"))


# --------------------------------------------------------------------------------------------------------
# TA-Lib agreement on the bundled candles


@pytest.mark.parametrize("market", MARKETS)
def test_true_range_matches_talib(market, request):
    hi, lo, c, _ = _ohlcv(request.getfixturevalue(market))
    assert_matches(nb.true_range_1d_nb(hi, lo, c), talib.TRANGE(hi, lo, c))


@pytest.mark.parametrize("market", MARKETS)
@pytest.mark.parametrize("n", PERIODS)
def test_price_kernels_match_talib(market, n, request):
    hi, lo, c, _ = _ohlcv(request.getfixturevalue(market))
    assert_matches(nb.sma_1d_nb(c, n), talib.SMA(c, n))
    assert_matches(nb.ema_1d_nb(c, n), talib.EMA(c, n))
    assert_matches(nb.rsi_1d_nb(c, n), talib.RSI(c, n))
    assert_matches(nb.atr_1d_nb(hi, lo, c, n), talib.ATR(hi, lo, c, n))
    adx, plus_di, minus_di = nb.adx_1d_nb(hi, lo, c, n)
    assert_matches(adx, talib.ADX(hi, lo, c, n))
    assert_matches(plus_di, talib.PLUS_DI(hi, lo, c, n))
    assert_matches(minus_di, talib.MINUS_DI(hi, lo, c, n))


@pytest.mark.parametrize("market", MARKETS)
@pytest.mark.parametrize("n", PERIODS)
@pytest.mark.parametrize("nbdev", (1.0, 2.0, 2.5))
def test_bbands_and_bandwidth_match_talib(market, n, nbdev, request):
    c = request.getfixturevalue(market)["close"].to_numpy(np.float64)
    upper, mid, lower = nb.bbands_1d_nb(c, n, nbdev)
    t_upper, t_mid, t_lower = talib.BBANDS(c, n, nbdev, nbdev, 0)
    assert_matches(upper, t_upper)
    assert_matches(mid, t_mid)
    assert_matches(lower, t_lower)
    # TA-Lib has no bandwidth: the documented formula applied to TA-Lib's bands is the reference
    assert_matches(nb.bandwidth_1d_nb(c, n, nbdev), (t_upper - t_lower) / t_mid)
    assert_matches(nb.rolling_var_1d_nb(c, n), talib.VAR(c, n))
    # the one-call kernel and the bands-based helper (used by the wrapper) agree bit for bit
    assert np.array_equal(
        nb.bandwidth_1d_nb(c, n, nbdev), nb.bandwidth_from_bands_1d_nb(upper, mid, lower), equal_nan=True
    )


@pytest.mark.parametrize("market", MARKETS)
@pytest.mark.parametrize("n", PERIODS)
def test_volume_mean_and_ratio_match_talib_sma(market, n, request):
    _, _, _, v = _ohlcv(request.getfixturevalue(market))
    mean = talib.SMA(v, n)
    assert_matches(nb.sma_1d_nb(v, n), mean)
    assert_matches(nb.volume_ratio_1d_nb(v, n), v / mean)


def test_period_one_matches_talib_where_talib_allows_it(btc_15m):
    hi, lo, c, _ = _ohlcv(btc_15m.iloc[:2000])
    assert_matches(nb.sma_1d_nb(c, 1), talib.SMA(c, 1))
    assert_matches(nb.ema_1d_nb(c, 1), talib.EMA(c, 1))
    assert_matches(nb.atr_1d_nb(hi, lo, c, 1), talib.ATR(hi, lo, c, 1))


def test_two_bar_bandwidth_is_exact(btc_15m):
    """For n=2 the band width has a closed form, 2*nbdev*|a-b|/(a+b); ours agrees to rounding.

    (TA-Lib's VAR is off by up to ~2e-8 relative here, so n=2 is checked against the closed form instead.)
    """
    c = btc_15m["close"].to_numpy(np.float64)
    a, b = c[:-1], c[1:]
    expected = np.r_[np.nan, 2 * 2.0 * np.abs(a - b) / (a + b)]
    assert_matches(nb.bandwidth_1d_nb(c, 2, 2.0), expected, rtol=1e-12)


def test_variance_agrees_with_exact_rational_arithmetic(eth_15m):
    c = eth_15m["close"].to_numpy(np.float64)
    n = 20
    var = nb.rolling_var_1d_nb(c, n)
    for i in np.random.default_rng(7).choice(np.arange(n - 1, len(c)), 200, replace=False):
        window = [Fraction(x) for x in c[i - n + 1 : i + 1]]
        mean = sum(window) / n
        exact = float(sum((x - mean) ** 2 for x in window) / n)
        assert var[i] == pytest.approx(exact, rel=1e-12, abs=0)


def test_percentile_rank_matches_pandas_rolling_rank(btc_15m):
    bandwidth = nb.bandwidth_1d_nb(btc_15m["close"].to_numpy(np.float64), 20, 2.0)
    for window in (1, 10, 96):
        expected = pd.Series(bandwidth).rolling(window).rank(method="max", pct=True).to_numpy()
        ours = nb.rolling_percentile_rank_1d_nb(bandwidth, window)
        assert_matches(ours, expected, rtol=1e-15)


# --------------------------------------------------------------------------------------------------------
# hand-computed cases

ONE_TO_TEN = np.arange(1.0, 11.0)
NAN = np.nan
# candles (high, low, close) worked through by hand below
HAND_HIGH = np.array([10.0, 11.0, 12.0, 11.5, 11.0])
HAND_LOW = np.array([8.0, 9.0, 10.0, 9.5, 8.0])
HAND_CLOSE = np.array([9.0, 10.5, 11.0, 10.0, 8.5])


def test_sma_and_ema_on_one_to_ten():
    np.testing.assert_array_equal(nb.sma_1d_nb(ONE_TO_TEN, 3), [NAN, NAN, 2, 3, 4, 5, 6, 7, 8, 9])
    np.testing.assert_array_equal(
        nb.sma_1d_nb(ONE_TO_TEN, 4), [NAN, NAN, NAN, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5, 8.5]
    )
    # seed = mean(1, 2, 3) = 2; then prev + (x - prev) * 2/(3+1) stays one behind on a straight line
    np.testing.assert_array_equal(nb.ema_1d_nb(ONE_TO_TEN, 3), [NAN, NAN, 2, 3, 4, 5, 6, 7, 8, 9])
    # k = 2/3: seed (2+4)/2 = 3, then 3 + (6-3)*2/3 = 5, 5 + (8-5)*2/3 = 7, 7 + (0-7)*2/3 = 7/3
    np.testing.assert_allclose(
        nb.ema_1d_nb(np.array([2.0, 4, 6, 8, 0]), 2), [NAN, 3, 5, 7, 7 / 3], rtol=1e-15
    )
    assert np.isnan(nb.sma_1d_nb(ONE_TO_TEN, 11)).all()  # window longer than the data: all warm-up


def test_true_range_and_atr_by_hand():
    # TR = max(h-l, |c_prev-h|, |c_prev-l|); in this table the bar's own range is always the largest
    tr = nb.true_range_1d_nb(HAND_HIGH, HAND_LOW, HAND_CLOSE)
    np.testing.assert_array_equal(tr, [NAN, 2, 2, 2, 3])
    gap = nb.true_range_1d_nb(np.array([10.0, 14.0]), np.array([9.0, 13.0]), np.array([9.5, 13.5]))
    assert gap[1] == 14.0 - 9.5  # gap up: measured from the previous close
    # ATR(2): seed mean(2, 2) = 2 at bar 2, then (2*1 + 2)/2 = 2, (2*1 + 3)/2 = 2.5
    np.testing.assert_array_equal(nb.atr_1d_nb(HAND_HIGH, HAND_LOW, HAND_CLOSE, 2), [NAN, NAN, 2, 2, 2.5])


def test_rsi_by_hand():
    # changes +1 +2 -1 0 +3; seed gain 1.5 loss 0 -> 100; then Wilder (prev*(n-1) + x)/n
    x = np.array([1.0, 2, 4, 3, 3, 6])
    expected = [NAN, NAN, 100, 60, 60, 100 * 1.6875 / 1.8125]
    np.testing.assert_allclose(nb.rsi_1d_nb(x, 2), expected, rtol=1e-15)
    np.testing.assert_allclose(talib.RSI(x, 2), expected, rtol=1e-15)


def test_adx_and_di_by_hand():
    # n=2. bar 1: +DM 1, TR 2 (plain sums). bar 2: +DM 1.5, -DM 0, TR 3 -> +DI 50, -DI 0, DX 100.
    # bar 3: +DM .75, -DM .5, TR 3.5 -> DX 20; ADX = (100 + 20)/2 = 60.
    # bar 4: +DM .375, -DM 1.75, TR 4.75 -> DX 100*1.375/2.125; ADX = (60 + DX)/2.
    dx4 = 100 * 1.375 / 2.125
    adx, plus_di, minus_di = nb.adx_1d_nb(HAND_HIGH, HAND_LOW, HAND_CLOSE, 2)
    np.testing.assert_allclose(adx, [NAN, NAN, NAN, 60, (60 + dx4) / 2], rtol=1e-14)
    np.testing.assert_allclose(plus_di, [NAN, NAN, 50, 75 / 3.5, 37.5 / 4.75], rtol=1e-14)
    np.testing.assert_allclose(minus_di, [NAN, NAN, 0, 50 / 3.5, 175 / 4.75], rtol=1e-14)
    np.testing.assert_allclose(talib.ADX(HAND_HIGH, HAND_LOW, HAND_CLOSE, 2), adx, rtol=1e-14)


def test_bbands_bandwidth_volume_ratio_percentile_rank_by_hand():
    upper, mid, lower = nb.bbands_1d_nb(np.array([1.0, 2, 3, 4, 5]), 5, 2.0)
    # mean 3, population variance (4+1+0+1+4)/5 = 2
    assert (mid[-1], upper[-1], lower[-1]) == pytest.approx((3, 3 + 2 * math.sqrt(2), 3 - 2 * math.sqrt(2)))
    bw = nb.bandwidth_1d_nb(np.array([1.0, 2, 3, 4, 5]), 5, 2.0)
    assert bw[-1] == pytest.approx(4 * math.sqrt(2) / 3, rel=1e-15)
    assert np.isnan(bw[:4]).all()
    flat_upper, flat_mid, flat_lower = nb.bbands_1d_nb(np.full(30, 63217.99), 20, 2.0)
    assert np.array_equal(flat_upper[19:], flat_mid[19:]) and np.array_equal(flat_lower[19:], flat_mid[19:])
    assert np.all(nb.bandwidth_1d_nb(np.full(30, 63217.99), 20, 2.0)[19:] == 0.0)  # flat: exactly 0, no noise
    np.testing.assert_allclose(
        nb.volume_ratio_1d_nb(np.array([1.0, 1, 1, 4, 0, 0, 0]), 2), [NAN, 1, 1, 1.6, 0, NAN, NAN]
    )  # 4 / mean(1, 4); mean 0 (two empty bars) gives NaN, not a division by zero
    ranks = nb.rolling_percentile_rank_1d_nb(np.array([3.0, 1, 2, 2, 5, 0]), 3)
    np.testing.assert_allclose(ranks, [NAN, NAN, 2 / 3, 1, 1, 1 / 3])


# --------------------------------------------------------------------------------------------------------
# NaN handling, scale invariance, causality

KERNELS = {
    "sma": lambda hi, lo, c, v: (nb.sma_1d_nb(c, 14),),
    "ema": lambda hi, lo, c, v: (nb.ema_1d_nb(c, 14),),
    "true_range": lambda hi, lo, c, v: (nb.true_range_1d_nb(hi, lo, c),),
    "atr": lambda hi, lo, c, v: (nb.atr_1d_nb(hi, lo, c, 14),),
    "rsi": lambda hi, lo, c, v: (nb.rsi_1d_nb(c, 14),),
    "adx": lambda hi, lo, c, v: nb.adx_1d_nb(hi, lo, c, 14),
    "bbands": lambda hi, lo, c, v: nb.bbands_1d_nb(c, 20, 2.0),
    "bandwidth": lambda hi, lo, c, v: (nb.bandwidth_1d_nb(c, 20, 2.0),),
    "volume_ratio": lambda hi, lo, c, v: (nb.volume_ratio_1d_nb(v, 20),),
    "percentile_rank": lambda hi, lo, c, v: (
        nb.rolling_percentile_rank_1d_nb(nb.bandwidth_1d_nb(c, 20, 2.0), 50),
    ),
}


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_causal_cut_at_t_changes_nothing_up_to_t(name, btc_15m):
    """kernel(data[:t+1])[t] == kernel(data)[t] (bit for bit) for t across warm-up and beyond."""
    cols = _ohlcv(btc_15m.iloc[20_000:23_000])
    full = KERNELS[name](*cols)
    ts = np.r_[np.arange(0, 120), np.random.default_rng(1).integers(120, 3000, 150), 2999]
    for t in ts:
        cut = KERNELS[name](*(x[: t + 1] for x in cols))
        for out_cut, out_full in zip(cut, full, strict=True):
            assert np.array_equal(out_cut, out_full[: t + 1], equal_nan=True), f"{name} differs at t={t}"


def test_leading_nans_shift_the_warm_up_like_talib(eth_15m):
    hi, lo, c, _ = (np.r_[np.full(7, np.nan), x[:3000]] for x in _ohlcv(eth_15m))
    assert_matches(nb.ema_1d_nb(c, 20), talib.EMA(c, 20))
    assert_matches(nb.rsi_1d_nb(c, 14), talib.RSI(c, 14))
    assert_matches(nb.atr_1d_nb(hi, lo, c, 14), talib.ATR(hi, lo, c, 14))
    assert_matches(nb.adx_1d_nb(hi, lo, c, 14)[0], talib.ADX(hi, lo, c, 14))
    assert_matches(nb.bbands_1d_nb(c, 20, 2.0)[0], talib.BBANDS(c, 20, 2.0, 2.0, 0)[0])
    assert np.isnan(nb.ema_1d_nb(c, 20)[: 7 + 19]).all() and not np.isnan(nb.ema_1d_nb(c, 20)[7 + 19])


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_interior_nan_restarts_the_warm_up(name, btc_15m):
    """A missing bar is NaN out, and each stretch of complete bars is computed as a series of its own."""
    cols = [x[:1500].copy() for x in _ohlcv(btc_15m)]
    gap = 700
    for x in cols:
        x[gap] = np.nan
    full = KERNELS[name](*cols)
    before = KERNELS[name](*(x[:gap] for x in cols))
    after = KERNELS[name](*(x[gap + 1 :] for x in cols))
    for f, b, a in zip(full, before, after, strict=True):
        assert np.array_equal(f, np.r_[b, np.nan, a], equal_nan=True)


def test_one_missing_input_makes_the_bar_missing(btc_15m):
    hi, lo, c, _ = (x[:500].copy() for x in _ohlcv(btc_15m))
    hi[300] = np.nan  # only the high is missing
    atr = nb.atr_1d_nb(hi, lo, c, 14)
    assert np.isnan(atr[300 : 300 + 15]).all() and not np.isnan(atr[300 + 15])
    assert np.array_equal(atr[:300], nb.atr_1d_nb(hi[:300], lo[:300], c[:300], 14), equal_nan=True)


def test_scale_invariant_for_assets_priced_far_below_one(btc_15m):
    hi, lo, c, _ = (x[:20_000] for x in _ohlcv(btc_15m))
    s = 2.0**-30  # BTC at ~2e-5: a power of two, so scaling itself is exact
    assert np.array_equal(nb.rsi_1d_nb(c * s, 14), nb.rsi_1d_nb(c, 14), equal_nan=True)
    for ours, ref in zip(nb.adx_1d_nb(hi * s, lo * s, c * s, 14), nb.adx_1d_nb(hi, lo, c, 14), strict=True):
        assert np.array_equal(ours, ref, equal_nan=True)
    assert np.array_equal(nb.bandwidth_1d_nb(c * s, 20, 2.0), nb.bandwidth_1d_nb(c, 20, 2.0), equal_nan=True)
    assert np.array_equal(
        nb.atr_1d_nb(hi * s, lo * s, c * s, 14), nb.atr_1d_nb(hi, lo, c, 14) * s, equal_nan=True
    )


# --------------------------------------------------------------------------------------------------------
# pandas wrappers


def test_wrappers_keep_the_index_and_equal_the_kernels(btc_15m):
    df = btc_15m.iloc[:3000]
    hi, lo, c, v = _ohlcv(df)
    cases = [
        (ind.sma(df["close"], 20), nb.sma_1d_nb(c, 20)),
        (ind.ema(df["close"], 20), nb.ema_1d_nb(c, 20)),
        (ind.rsi(df["close"], 14), nb.rsi_1d_nb(c, 14)),
        (ind.true_range(df), nb.true_range_1d_nb(hi, lo, c)),
        (ind.atr(df, 14), nb.atr_1d_nb(hi, lo, c, 14)),
        (ind.volume_mean(df, 20), nb.sma_1d_nb(v, 20)),
        (ind.volume_ratio(df, 20), nb.volume_ratio_1d_nb(v, 20)),
        (ind.percentile_rank(df["close"], 50), nb.rolling_percentile_rank_1d_nb(c, 50)),
    ]
    for series, expected in cases:
        assert series.index.equals(df.index)
        assert np.array_equal(series.to_numpy(), expected, equal_nan=True), series.name
    adx = ind.adx(df, 14)
    assert list(adx.columns) == ["adx", "plus_di", "minus_di"] and adx.index.equals(df.index)
    for col, expected in zip(adx.columns, nb.adx_1d_nb(hi, lo, c, 14), strict=True):
        assert np.array_equal(adx[col].to_numpy(), expected, equal_nan=True)
    bb = ind.bbands(df["close"], 20, 2.0)
    assert list(bb.columns) == ["upper", "middle", "lower", "bandwidth"] and bb.index.equals(df.index)
    assert np.array_equal(bb["bandwidth"].to_numpy(), nb.bandwidth_1d_nb(c, 20, 2.0), equal_nan=True)
    assert_matches(bb["upper"].to_numpy(), talib.BBANDS(c, 20, 2.0, 2.0, 0)[0])


def test_wrapper_accepts_nullable_floats_and_leaves_input_untouched():
    s = pd.Series([pd.NA, 1.0, 2.0, 3.0, 4.0], dtype="Float64")
    before = s.copy()
    assert ind.sma(s, 2).tolist()[2:] == [1.5, 2.5, 3.5] and np.isnan(ind.sma(s, 2).iloc[1])
    pd.testing.assert_series_equal(s, before)


CLOSE = pd.Series(np.arange(1.0, 31.0))
CANDLES = pd.DataFrame({"high": CLOSE + 1, "low": CLOSE - 1, "close": CLOSE, "volume": CLOSE})
WINDOW_CALLS = {
    "sma": lambda n: ind.sma(CLOSE, n),
    "ema": lambda n: ind.ema(CLOSE, n),
    "rsi": lambda n: ind.rsi(CLOSE, n),
    "atr": lambda n: ind.atr(CANDLES, n),
    "adx": lambda n: ind.adx(CANDLES, n),
    "bbands": lambda n: ind.bbands(CLOSE, n, 2.0),
    "volume_mean": lambda n: ind.volume_mean(CANDLES, n),
    "volume_ratio": lambda n: ind.volume_ratio(CANDLES, n),
    "percentile_rank": lambda n: ind.percentile_rank(CLOSE, n),
}


@pytest.mark.parametrize("func", sorted(WINDOW_CALLS))
@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "14", None])
def test_bad_window_is_a_user_error_naming_function_and_argument(func, bad):
    with pytest.raises(UserError, match=rf"^{func}: (n|window) must be .*integer.*got {bad!r}$"):
        WINDOW_CALLS[func](bad)


def test_window_limits_and_other_bad_input():
    assert ind.sma(CLOSE, np.int64(3)).iloc[2] == 2.0  # numpy integers are fine
    for func in ("rsi", "adx", "bbands"):  # TA-Lib's range starts at 2 for these
        with pytest.raises(UserError, match=rf"^{func}: n must be an integer >= 2"):
            WINDOW_CALLS[func](1)
    with pytest.raises(ValueError, match="window must be >= 1"):  # kernels called directly check too
        nb.ema_1d_nb(CLOSE.to_numpy(), 0)
    with pytest.raises(UserError, match=r"nbdev must be a finite number >= 0"):
        ind.bbands(CLOSE, 20, float("nan"))
    with pytest.raises(UserError, match=r"^atr: the DataFrame has no columns 'high', 'low' .*pass candles"):
        ind.atr(CANDLES[["close"]], 14)
    with pytest.raises(UserError, match=r"^ema: expected a pandas Series, got DataFrame; pass one column"):
        ind.ema(CANDLES, 14)
    with pytest.raises(UserError, match=r"^rsi: the series must be numeric"):
        ind.rsi(pd.Series(["a", "b", "c"]), 2)


@njit(cache=False)
def _strategy_like_kernel(high, low, close):
    fast = nb.ema_1d_nb(close, 12)
    slow = nb.ema_1d_nb(close, 26)
    adx, _, _ = nb.adx_1d_nb(high, low, close, 14)
    return (fast > slow) & (adx > 20.0)


def test_kernels_are_callable_from_other_numba_code_and_on_read_only_arrays(btc_15m):
    hi, lo, c, _ = (x[:5000].copy() for x in _ohlcv(btc_15m))
    for x in (hi, lo, c):
        x.flags.writeable = False  # pandas' copy-on-write hands out read-only views
    signal = _strategy_like_kernel(hi, lo, c)
    expected = (talib.EMA(c, 12) > talib.EMA(c, 26)) & (talib.ADX(hi, lo, c, 14) > 20.0)
    assert signal.sum() > 100 and np.array_equal(signal, expected)
