"""The two Monte Carlo backends (fused Numba kernel, pure NumPy): same draws, same estimates, both right.

False-alarm budget: 10⁻³ per test function (monotheory.testing.z_value), split by Bonferroni over every
exact-vs-MC comparison the function makes. The backends consume the same random numbers, so they must
agree far more tightly than z·SE: to rounding of the floating-point sums.
"""

import numpy as np
import pytest

from monotheory.errors import ConfigError
from monotheory.testing import z_value
from monotheory.theory import mc_kernel, moments, monte_carlo, symbolic_criterion
from monotheory.theory.montecarlo import MOMENT_KEYS

from .helpers import mc_disagreements

SETTINGS = [
    dict(),
    dict(noise_rate=0.2, noise_model="flip"),
    dict(noise_rate=0.3, noise_model="one_sided", tie_rule="class1", weights=(2.0, 0.5)),
    dict(sigma=0.3, tie_rule="random", noise_rate=0.1, noise_model="uniform"),
]
KEYS = ("pi1", "mu0", "mu1", "delta_mu", "var0", "var1", "fisher", "unnormalized")
N = 200_000


def _exact(feature, s, **kw):
    m = moments(feature, s, **kw)
    m["fisher"] = symbolic_criterion("fisher", m)
    m["unnormalized"] = symbolic_criterion("unnormalized", m)
    return m


def _same(a: dict, b: dict, keys, rel=1e-9):
    for f in ("mono", "poly"):
        for k in keys:
            assert a[f][k][0] == pytest.approx(b[f][k][0], rel=rel, abs=1e-12), (f, k)
            assert a[f][k][1] == pytest.approx(b[f][k][1], rel=1e-6, abs=1e-12), (f, k)


def test_numpy_backend_matches_exact_moments(mc_seed):
    z = z_value(len(SETTINGS) * 2 * len(KEYS))
    for i, kw in enumerate(SETTINGS):
        mc = monte_carlo(0.3, N, mc_seed(i), backend="numpy", **kw)
        for f in ("mono", "poly"):
            assert not mc_disagreements(_exact(f, 0.3, **kw), mc[f], KEYS, z), (f, kw)


def test_backends_agree_and_the_kernel_matches_exact_moments(mc_seed):
    pytest.importorskip("numba", reason="numba not installed: the accelerated Monte Carlo path is not tested")
    z = z_value(len(SETTINGS) * 2 * len(KEYS))
    for i, kw in enumerate(SETTINGS):
        fast = monte_carlo(0.3, N, mc_seed(i), backend="numba", chunk=30_000, **kw)
        slow = monte_carlo(0.3, N, mc_seed(i), backend="numpy", chunk=30_000, **kw)
        assert fast["n_kept"] == slow["n_kept"]
        _same(fast, slow, MOMENT_KEYS)
        for f in ("mono", "poly"):
            assert not mc_disagreements(_exact(f, 0.3, **kw), fast[f], KEYS, z), (f, kw)


def test_backends_fill_the_same_threshold_histograms():
    pytest.importorskip("numba", reason="numba not installed: the accelerated Monte Carlo path is not tested")
    kw = dict(noise_rate=0.2, sigma=0.05, threshold=True)
    fast = monte_carlo(0.3, 100_000, 3, backend="numba", chunk=16_384, **kw)
    slow = monte_carlo(0.3, 100_000, 3, backend="numpy", chunk=16_384, **kw)
    _same(fast, slow, ("threshold_error",), rel=1e-6)


def test_a_seed_reruns_identically_on_each_backend():
    backends = ["numpy"] + (["numba"] if mc_kernel.kernel() is not None else [])
    for b in backends:
        kw = dict(noise_rate=0.1, sigma=0.1, threshold=True, backend=b, chunk=10_000)
        assert monte_carlo(0.4, 50_000, 11, **kw) == monte_carlo(0.4, 50_000, 11, **kw)
        other = monte_carlo(0.4, 50_000, 12, **kw)
        assert other["mono"]["mu1"] != monte_carlo(0.4, 50_000, 11, **kw)["mono"]["mu1"]


def test_without_numba_auto_falls_back_and_numba_is_refused(monkeypatch):
    monkeypatch.setattr(mc_kernel, "kernel", lambda: None)
    a = monte_carlo(0.2, 20_000, 1, backend="auto")
    b = monte_carlo(0.2, 20_000, 1, backend="numpy")
    assert a == b
    with pytest.raises(ConfigError, match="numba"):
        monte_carlo(0.2, 20_000, 1, backend="numba")
    with pytest.raises(ConfigError, match="backend"):
        monte_carlo(0.2, 20_000, 1, backend="cuda")


def test_chunk_size_does_not_change_the_draws_without_label_or_input_noise():
    a = monte_carlo(0.3, 70_000, 2, backend="numpy", chunk=70_000)
    b = monte_carlo(0.3, 70_000, 2, backend="numpy", chunk=4_096)
    _same(a, b, MOMENT_KEYS)
    assert np.isfinite(a["poly"]["fisher"][1])
