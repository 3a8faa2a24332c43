"""Streaming Monte Carlo: chunk invariance, flat memory, calibrated standard errors."""

import tracemalloc

import numpy as np
import pytest
from scipy.stats import chi2

from monotheory.errors import ConfigError
from monotheory.theory import monte_carlo, monte_carlo_moments
from monotheory.theory.montecarlo import MOMENT_KEYS


def test_chunking_does_not_change_the_estimate():
    a = monte_carlo(0.3, 300_000, 5, chunk=300_000)
    b = monte_carlo(0.3, 300_000, 5, chunk=7_000)  # same random stream, cut into pieces
    for f in ("mono", "poly"):
        for k in MOMENT_KEYS:
            assert a[f][k][0] == pytest.approx(b[f][k][0], rel=1e-9, abs=1e-12)


def test_memory_stays_flat():
    def peak(samples):
        tracemalloc.start()
        monte_carlo(0.2, samples, 0, chunk=50_000, threshold=True)
        _, p = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return p

    small, large = peak(100_000), peak(1_000_000)
    assert large < 1.5 * small  # 10× the samples, (almost) the same peak


def test_delta_method_se_is_calibrated(mc_seed):
    """Spread of 40 independent estimates vs the reported SE: a χ² test per quantity (Bonferroni)."""
    reps = [monte_carlo_moments("mono", 0.3, 20_000, seed, noise_rate=0.2) for seed in map(mc_seed, range(40))]
    keys = ("mu0", "var0", "fisher", "unnormalized")
    for k in keys:
        est = np.array([r[k][0] for r in reps])
        se = np.mean([r[k][1] for r in reps])
        stat = (len(est) - 1) * est.var(ddof=1) / se**2
        lo, hi = chi2.ppf([1e-3 / (2 * len(keys)), 1 - 1e-3 / (2 * len(keys))], len(est) - 1)
        assert lo < stat < hi, (k, est.std(ddof=1), se)


def test_seed_forms_and_bad_input():
    a = monte_carlo_moments("poly", 0.2, 10_000, 3)
    b = monte_carlo_moments("poly", 0.2, 10_000, np.random.default_rng(3))
    assert a == b
    with pytest.raises(ConfigError, match="samples"):
        monte_carlo(0.2, -1)
    with pytest.raises(ConfigError, match="regime = 'both' is unknown"):
        monte_carlo(0.2, 10, regimes=("both",))


def test_old_names_warn_and_still_work():
    """``features`` (monte_carlo) and ``feature_name`` (monte_carlo_moments) are the old names of ``regimes`` /
    ``regime``: deprecated for one release, same numbers."""
    new = monte_carlo(0.2, 2000, 1, regimes=("mono",))
    with pytest.warns(DeprecationWarning, match="regimes"):
        old = monte_carlo(0.2, 2000, 1, features=("mono",))
    assert old == new and "poly" not in old
    with pytest.warns(DeprecationWarning, match="regime"):
        assert monte_carlo_moments(feature_name="mono", sparsity=0.2, samples=2000, seed=1) == new["mono"]
    with pytest.raises(ConfigError, match="regime = 'both' is unknown"):
        monte_carlo_moments("both", 0.2, 2000)


def test_more_than_two_features(mc_seed):
    r = monte_carlo(0.2, 100_000, mc_seed(0), n_features=4)
    assert r["mono"]["pi1"][0] < 0.4  # x1 must beat three others now
