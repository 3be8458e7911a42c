"""Monte Carlo resampling: hand cases, permutation and bootstrap properties, determinism, band ordering."""

from __future__ import annotations

import numpy as np
import pytest

from traderagent.optimize import montecarlo as mc
from traderagent.optimize import nb


def _factors(paths: np.ndarray) -> np.ndarray:
    return paths[:, 1:] / paths[:, :-1]


def test_shuffle_by_hand():
    # +10% and -10% in either order end at 0.99; the drawdown is 10% both ways (1 -> 0.9, or 1.1 -> 0.99)
    band = mc.trade_shuffle(np.array([0.1, -0.1]), runs=50, seed=1)
    assert band.final_return == pytest.approx({"p5": -0.01, "p50": -0.01, "p95": -0.01})
    assert band.max_drawdown == pytest.approx({"p5": 0.1, "p50": 0.1, "p95": 0.1})
    assert band.prob_loss == 1.0


def test_path_stats_by_hand():
    paths = np.array([[1.0, 1.2, 0.9, 1.5], [1.0, 0.5, 0.75, 1.0]])
    final, mdd = nb.path_stats_nb(paths)
    np.testing.assert_allclose(final, [0.5, 0.0])
    np.testing.assert_allclose(mdd, [0.25, 0.5])


def test_shuffle_is_a_permutation_and_bootstrap_draws_from_the_trades():
    r = np.array([0.05, -0.02, 0.013, -0.07, 0.2, 0.0, -0.011])
    shuffled = nb.trade_paths_nb(r, 200, 3, False)
    for row in _factors(shuffled):
        np.testing.assert_allclose(np.sort(row), np.sort(1 + r), rtol=1e-12)
    np.testing.assert_allclose(shuffled[:, -1], np.prod(1 + r), rtol=1e-12)
    boot = nb.trade_paths_nb(r, 200, 3, True)
    f = _factors(boot)
    assert np.isin(np.round(f, 12), np.round(1 + r, 12)).all()
    assert len({tuple(np.round(row, 12)) for row in f}) > 150  # draws differ between runs
    assert boot[:, -1].std() > 0


def test_block_bootstrap_keeps_blocks_together():
    r = np.arange(1, 21) / 1000.0  # distinct returns: a block is a run of consecutive values (mod 20)
    paths = nb.block_bootstrap_paths_nb(r, 5, 30, 9)
    idx = np.rint((_factors(paths) - 1) * 1000).astype(int) - 1
    for row in idx:
        starts = row[::5]
        for j, s in enumerate(starts):
            np.testing.assert_array_equal(row[5 * j: 5 * j + 5], (s + np.arange(5)) % 20)
    # a block as long as the series is a rotation: the final return never changes
    whole = nb.block_bootstrap_paths_nb(r, 20, 10, 1)
    np.testing.assert_allclose(whole[:, -1], np.prod(1 + r))


def test_bands_are_ordered_deterministic_and_sized():
    rng = np.random.default_rng(0)
    trades = rng.normal(0.004, 0.03, 120)
    daily = rng.normal(0.0005, 0.02, 400)
    a = mc.monte_carlo(trades, daily, runs=300, block=10, seed=5)
    b = mc.monte_carlo(trades, daily, runs=300, block=10, seed=5)
    c = mc.monte_carlo(trades, daily, runs=300, block=10, seed=6)
    assert a["bootstrap"].as_dict() == b["bootstrap"].as_dict()
    assert a["bootstrap"].final_return != c["bootstrap"].final_return
    for band in a.values():
        fr, dd = band.final_return, band.max_drawdown
        assert fr["p5"] <= fr["p50"] <= fr["p95"] and 0 <= dd["p5"] <= dd["p50"] <= dd["p95"] < 1
        assert band.runs == 300
        assert len(band.paths["step"]) == len(band.paths["p50"]) <= 401
    assert a["block"].paths["step"][-1] == 400 and a["shuffle"].paths["step"][-1] == 120
    # the shuffle's final return is the actual one in every run; the bootstraps spread around it
    actual = float(np.prod(1 + trades) - 1)
    assert a["shuffle"].final_return["p5"] == pytest.approx(actual)
    assert a["bootstrap"].final_return["p5"] < actual < a["bootstrap"].final_return["p95"]


def test_no_trades_gives_flat_bands():
    band = mc.trade_bootstrap(np.array([]), runs=20, seed=0)
    assert band.final_return == {"p5": 0.0, "p50": 0.0, "p95": 0.0}
    assert band.max_drawdown["p95"] == 0.0
