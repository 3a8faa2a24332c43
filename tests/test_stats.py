import numpy as np
import pytest
from scipy import stats as sps

from monotheory import stats
from monotheory.errors import ConfigError


def test_mcnemar_against_a_hand_computed_example():
    # 10 items: a alone right on 6, b alone right on 1, both right on 2, both wrong on 1.
    a = np.array([1] * 6 + [0] + [1, 1] + [0])
    b = np.array([0] * 6 + [1] + [1, 1] + [0])
    r = stats.mcnemar_exact(a, b)
    assert (r["only_a"], r["only_b"]) == (6, 1)
    # two-sided exact binomial on 7 discordant pairs: 2 * P(X <= 1 | n=7, p=1/2) = 2 * 8 / 128
    assert r["p_value"] == pytest.approx(16 / 128)
    assert r["gap"] == pytest.approx(0.5)


def test_paired_interval_is_narrower_than_unpaired_on_correlated_outcomes():
    rng = np.random.default_rng(0)
    n = 2000
    a = rng.random(n) < 0.7
    b = a.copy()
    flip = rng.random(n) < 0.05  # b disagrees with a on 5 % of items only
    b[flip] = ~b[flip]
    paired = stats.paired_bootstrap(a, b, random_state=1)
    width_paired = paired["ci"][1] - paired["ci"][0]
    # independent-binomial (unpaired) interval for the same gap
    pa, pb = a.mean(), b.mean()
    se = np.sqrt(pa * (1 - pa) / n + pb * (1 - pb) / n)
    width_unpaired = 2 * 1.96 * se
    assert width_paired < 0.5 * width_unpaired


def test_holm_against_a_hand_computed_example():
    # sorted p: 0.01 (x3 = 0.03), 0.03 (x2 = 0.06), 0.04 (x1 = 0.04 -> monotone 0.06)
    assert stats.holm([0.01, 0.04, 0.03]).tolist() == pytest.approx([0.03, 0.06, 0.06])
    assert stats.holm([0.5, 0.9]).tolist() == pytest.approx([1.0, 1.0])


def test_bh_matches_scipy_and_is_below_holm():
    p = np.array([0.001, 0.01, 0.02, 0.04, 0.2])
    bh = stats.benjamini_hochberg(p)
    assert np.allclose(bh, sps.false_discovery_control(p))
    assert (bh <= stats.holm(p) + 1e-15).all()


def test_t_interval_and_paired_t():
    m, lo, hi = stats.t_interval([1.0, 2.0, 3.0])
    half = sps.t.ppf(0.975, 2) * 1.0 / np.sqrt(3)
    assert (lo, hi) == pytest.approx((2 - half, 2 + half))
    r = stats.paired_t([1, 2, 3, 4], [0, 1, 3, 3])
    assert r["mean"] == pytest.approx(0.75)
    assert r["p_value"] == pytest.approx(sps.ttest_rel([1, 2, 3, 4], [0, 1, 3, 3]).pvalue)


def test_proportion_interval_wilson():
    p, lo, hi = stats.proportion_interval(7, 10)
    assert p == 0.7 and lo < 0.7 < hi
    assert (lo, hi) == pytest.approx((0.3968, 0.8922), abs=1e-4)


@pytest.mark.parametrize("call", [
    lambda: stats.mcnemar_exact([1, 0], [1, 0, 1]),
    lambda: stats.mcnemar_exact([1, 2], [1, 0]),
    lambda: stats.holm([0.1, 1.5]),
    lambda: stats.t_interval([]),
    lambda: stats.proportion_interval(0, 0),
])
def test_bad_input_is_a_config_error(call):
    with pytest.raises(ConfigError):
        call()


def test_degenerate_paired_t_is_never_certain():
    # two seeds with the same gap: no p = 0, no zero-width interval (the review's "+2.2 [+2.2, +2.2], p 0.000")
    r = stats.paired_t([0.5, 0.6], [0.478, 0.578])
    assert np.isnan(r["p_value"]) and np.isnan(r["ci"]).all() and "zero spread" in r["degenerate"]
    r = stats.paired_t([0.5], [0.4])
    assert np.isnan(r["p_value"]) and r["degenerate"] == "one unit"
    assert stats.paired_t([1, 2, 3, 4], [0, 1, 3, 3])["degenerate"] is None


def test_holm_keeps_not_estimable_cells_in_the_family():
    # a NaN cell counts in m (2 here) but is never rejected
    np.testing.assert_allclose(stats.holm([0.01, float("nan")])[0], 0.02)
    assert np.isnan(stats.holm([0.01, float("nan")])[1])
