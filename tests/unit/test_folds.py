"""Walk-forward folds: layout, purge gap, no overlap, and out-of-sample bars never reaching an IS evaluation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from traderagent.errors import UserError
from traderagent.optimize.folds import Fold, check_folds, make_folds


def test_rolling_layout_by_hand():
    # 100 bars from bar 10, 3 folds, ratio 2, purge 4: OOS = (90 - 4) // 5 = 17, IS = 90 - 4 - 51 = 35
    folds = make_folds(100, 3, "rolling", 2.0, purge=4, first=10)
    assert folds == [
        Fold(0, 10, 45, 49, 66),
        Fold(1, 27, 62, 66, 83),
        Fold(2, 44, 79, 83, 100),
    ]
    assert {f.is_bars for f in folds} == {35}
    assert all(f.gap == 4 for f in folds)


def test_anchored_layout_by_hand():
    folds = make_folds(100, 3, "anchored", 2.0, purge=4, first=10)
    assert [(f.is_start, f.is_end) for f in folds] == [(10, 45), (10, 62), (10, 79)]
    assert [(f.oos_start, f.oos_end) for f in folds] == [(49, 66), (66, 83), (83, 100)]


@pytest.mark.parametrize("scheme", ["rolling", "anchored"])
@pytest.mark.parametrize("n,n_folds,ratio,purge,first", [
    (28_000, 5, 3.0, 24, 0), (10_001, 7, 1.5, 0, 333), (5_000, 1, 4.0, 96, 50), (3_000, 12, 0.5, 7, 0),
])
def test_invariants(scheme, n, n_folds, ratio, purge, first):
    folds = make_folds(n, n_folds, scheme, ratio, purge, first)
    check_folds(folds, n, purge, first)
    assert len(folds) == n_folds
    for f in folds:
        # IS strictly before its own OOS, separated by at least the purge gap; nothing before `first`
        assert first <= f.is_start < f.is_end <= f.oos_start - purge < f.oos_end
        assert not set(range(f.is_start, f.is_end)) & set(range(f.oos_start - purge, f.oos_end))
    # OOS windows tile [first OOS, n) back to back, equal length
    assert [f.oos_start for f in folds[1:]] == [f.oos_end for f in folds[:-1]]
    assert folds[-1].oos_end == n
    assert len({f.oos_bars for f in folds}) == 1
    # the IS window is at least ratio x the OOS window (it absorbs the division remainder)
    assert folds[0].is_bars >= int(ratio * folds[0].oos_bars)


def test_fold_times_are_the_bars_open_times():
    idx = pd.date_range("2024-01-01", periods=200, freq="1h", tz="UTC")
    f = make_folds(200, 2, "rolling", 3.0, purge=5)[1]
    d = f.as_dict(idx)
    assert d["is_from"] == idx[f.is_start] and d["oos_from"] == idx[f.oos_start]
    assert d["oos_to"] == idx[-1] + pd.Timedelta("1h")  # the last window ends after the last bar
    assert d["oos_from"] - d["is_to"] == pd.Timedelta("5h")  # the purge gap, in time


@pytest.mark.parametrize("kwargs,needle", [
    ({"n_folds": 50}, "need at least"),
    ({"scheme": "sliding"}, "rolling or anchored"),
    ({"n_folds": 0}, ">= 1"),
    ({"in_sample_ratio": 0}, "in_sample_ratio"),
    ({"purge": -1}, "purge"),
])
def test_bad_fold_settings_are_one_line_errors(kwargs, needle):
    args = {"n": 300, "n_folds": 3, "scheme": "rolling", "in_sample_ratio": 3.0, "purge": 2, **kwargs}
    with pytest.raises(UserError, match=needle) as exc:
        make_folds(**args)
    assert "\n" not in str(exc.value)


def test_oos_bars_never_reach_an_in_sample_evaluation(btc_15m):
    """Rewrite every bar from a fold's purge gap on: the fold's IS evaluation must not change at all."""
    from traderagent.data.resample import resample
    from traderagent.optimize.objective import Evaluator
    from traderagent.strategies import registry

    spec = registry.get("trend_follower")
    bars = resample(btc_15m.iloc[: 4 * 24 * 400], "15m", "1h").drop(columns="n_bars")
    fold = make_folds(len(bars), 3, "rolling", 3.0, purge=24)[1]
    params = spec.params_model(ema_fast=8, ema_slow=30, trend_filter_timeframe="4h", trend_filter_ema=20)
    before = Evaluator(spec, params, bars, "1h").evaluate(params, fold.is_start, fold.is_end)
    assert before.stats["trades"] > 5
    poisoned = bars.copy()
    rng = np.random.default_rng(7)
    scale = rng.uniform(0.5, 2.0, len(bars) - fold.is_end)
    for col in ("open", "high", "low", "close"):
        poisoned.iloc[fold.is_end:, poisoned.columns.get_loc(col)] *= scale
    after = Evaluator(spec, params, poisoned, "1h").evaluate(params, fold.is_start, fold.is_end)
    np.testing.assert_array_equal(before.equity, after.equity)
    assert before.stats == after.stats
