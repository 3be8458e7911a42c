"""Deflated Sharpe ratio and PBO (CSCV) against worked examples, hand-computed cases and a brute-force oracle."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from traderagent.optimize import overfitting as ov


def test_dsr_worked_example_of_bailey_and_lopez_de_prado_2014():
    # Their example: annualized SR 2.5 over 5 years of daily returns (T = 1250), N = 100 trials whose annualized
    # Sharpe ratios have variance 0.5, skewness -3, kurtosis 10 -> expected max SR 0.1132 (daily), DSR 0.9004.
    days = 250
    sr, var = 2.5 / math.sqrt(days), 0.5 / days
    assert ov.expected_max_sharpe(var, 100) == pytest.approx(0.1132, abs=5e-5)
    assert ov.deflated_sharpe_ratio(sr, 1250, 100, var, skew=-3.0, kurt=10.0) == pytest.approx(0.9004, abs=5e-4)


def test_psr_by_hand():
    # Normal returns (skew 0, kurtosis 3): z = sr sqrt(T-1) / sqrt(1 + sr^2 / 2)
    sr, t = 0.1, 101
    z = sr * 10 / math.sqrt(1 + 0.5 * sr * sr)
    assert ov.probabilistic_sharpe_ratio(sr, t) == pytest.approx(0.5 * (1 + math.erf(z / math.sqrt(2))), rel=1e-12)
    assert ov.probabilistic_sharpe_ratio(0.0, t) == pytest.approx(0.5)
    # one trial: nothing to deflate
    assert ov.deflated_sharpe_ratio(sr, t, 1, 0.01) == ov.probabilistic_sharpe_ratio(sr, t)


def test_more_trials_deflate_more():
    vals = [ov.deflated_sharpe_ratio(0.08, 1000, n, 0.002) for n in (1, 10, 100, 1000)]
    assert vals == sorted(vals, reverse=True) and vals[0] > 0.99 and vals[-1] < 0.2


def test_moments_match_the_textbook_formulas():
    r = np.array([0.01, -0.02, 0.03, 0.0, -0.05, 0.02])
    d = r - r.mean()
    m2 = (d**2).mean()
    skew, kurt = ov.moments(r)
    assert skew == pytest.approx((d**3).mean() / m2**1.5)
    assert kurt == pytest.approx((d**4).mean() / m2**2)
    assert ov.moments(np.zeros(5)) == (0.0, 3.0)


def _two_regime_matrix() -> np.ndarray:
    # Config A earns in block 0 and loses in block 1; config B the opposite (same dispersion)
    up = np.array([0.02, 0.01, 0.03, 0.02])
    down = -up
    return np.column_stack([np.r_[up, down], np.r_[down, up]])


def test_pbo_anti_persistent_configs_by_hand():
    # S = 2 blocks, 2 splits. Each split picks the config that won its IS block; OOS it is the worse of 2:
    # rank 1 of N = 2 -> w = 1/3 -> logit = ln(1/2) < 0 in both splits -> PBO = 1.
    res = ov.pbo(_two_regime_matrix(), n_blocks=2)
    assert res.n_splits == 2 and res.n_configs == 2
    np.testing.assert_allclose(res.logits, [math.log(0.5)] * 2)
    assert res.pbo == 1.0
    assert res.prob_oos_loss == 1.0


def test_pbo_dominant_config_is_zero():
    rng = np.random.default_rng(3)
    noise = rng.normal(0, 0.01, (320, 6))
    noise[:, 2] += 0.01  # config 2 wins in every block, in and out of sample
    res = ov.pbo(noise, n_blocks=8)
    assert res.n_splits == math.comb(8, 4)
    assert res.pbo == 0.0
    # it is the best of 6 OOS in every split: rank 6 -> w = 6/7
    np.testing.assert_allclose(res.logits, math.log(6.0))


def test_identical_configs_count_once():
    m = _two_regime_matrix()
    res = ov.pbo(np.column_stack([m, m[:, 0], m[:, 1]]), n_blocks=2)
    assert res.n_configs == 2 and res.pbo == 1.0


def _oracle(m: np.ndarray, s: int) -> np.ndarray:
    """CSCV written plainly: numpy std per split, rank by counting, ties averaged."""
    t, n = m.shape
    size = t // s
    m = m[t - size * s:]
    blocks = [m[i * size:(i + 1) * size] for i in range(s)]
    out = []
    for combo in itertools.combinations(range(s), s // 2):
        is_rows = np.vstack([blocks[i] for i in combo])
        oos_rows = np.vstack([blocks[i] for i in range(s) if i not in combo])

        def sharpe(x):
            sd = x.std(ddof=1, axis=0)
            return np.where(sd > 0, x.mean(axis=0) / np.where(sd > 0, sd, 1), 0.0)

        best = int(np.argmax(sharpe(is_rows)))
        oos = sharpe(oos_rows)
        rank = 1 + (oos < oos[best]).sum() + 0.5 * ((oos == oos[best]).sum() - 1)
        w = rank / (n + 1)
        out.append(math.log(w / (1 - w)))
    return np.array(out)


@pytest.mark.parametrize("seed,t,n,s", [(0, 203, 5, 4), (1, 480, 9, 6), (2, 160, 3, 8)])
def test_pbo_matches_a_plain_oracle(seed, t, n, s):
    rng = np.random.default_rng(seed)
    m = rng.standard_t(4, (t, n)) * 0.01 + rng.normal(0, 0.002, n)
    res = ov.pbo(m, n_blocks=s)
    np.testing.assert_allclose(res.logits, _oracle(m, s), rtol=1e-9, atol=1e-12)
    assert res.pbo == pytest.approx(float((_oracle(m, s) <= 0).mean()))


def test_pbo_of_pure_noise_averages_one_half():
    # One data set's PBO varies a lot (all splits reuse the same data); over many noise data sets with no
    # skill anywhere, the IS winner lands below the OOS median about half the time.
    rng = np.random.default_rng(5)
    values = [ov.pbo(rng.normal(0, 0.01, (400, 10)), n_blocks=8).pbo for _ in range(60)]
    assert 0.4 < float(np.mean(values)) < 0.65


def test_pbo_rejects_odd_blocks_and_pooled_pbo_weights_splits():
    with pytest.raises(ValueError, match="even"):
        ov.pbo(np.zeros((10, 2)), n_blocks=3)
    a = ov.pbo(_two_regime_matrix(), 2)  # 2 splits, both <= 0
    rng = np.random.default_rng(3)
    noise = rng.normal(0, 0.01, (80, 4))
    noise[:, 0] += 0.02
    b = ov.pbo(noise, 2)  # 2 splits, both > 0
    assert ov.pooled_pbo([a, b]) == 0.5
