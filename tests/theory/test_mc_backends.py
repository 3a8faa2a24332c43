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


def _flip_sampler(y, eta, rng):
    return np.where(rng.random(y.shape) < eta, 1 - y, y)


def _asym_sampler(y, eta, rng):  # the sampler of rates (p10, p01) = (η, η/2)
    return np.where(rng.random(y.shape) < np.where(y == 1, eta, eta / 2), 1 - y, y)


def test_a_sampler_only_noise_model_matches_its_transition_model(mc_seed):
    """Issue 15: a registered sampler-only model runs in the Monte Carlo (NumPy path, whatever the backend) and
    estimates the exact moments of the equivalent rates model. Budget ALPHA over 2 models × 2 features × keys."""
    from monotheory.theory import registry

    cases = (("flip_s", _flip_sampler, "flip", {}), ("asym_s", _asym_sampler, "asym", dict(tie_rule="class1")))
    z = z_value(len(cases) * 2 * len(KEYS))
    with registry.scoped():
        registry.register_noise_model("asym", rates=lambda e: (e, e / 2))
        for i, (name, sampler, exact_model, kw) in enumerate(cases):
            registry.register_noise_model(name, sampler=sampler)
            for backend in ("numpy", "auto"):
                mc = monte_carlo(0.3, N, mc_seed(20 + i), noise_rate=0.25, noise_model=name, backend=backend, **kw)
                if backend == "numpy":
                    first = mc
                    for f in ("mono", "poly"):
                        exact = _exact(f, 0.3, noise_rate=0.25, noise_model=exact_model, **kw)
                        assert not mc_disagreements(exact, mc[f], KEYS, z), (name, f)
                else:  # the fused kernel cannot run a sampler: it falls back to the same NumPy draws
                    assert mc == first


def test_a_sampler_only_noise_model_has_the_crossover_of_its_transition_model(mc_seed):
    """The unnormalized criterion under flip noise crosses at η* = 2/7 (S = 0.2, exact). With the sampler-only
    flip model the Monte Carlo difference mono − poly is 0 within z·(SE_mono + SE_poly) at η* (a bound on the
    SE of the difference whatever the correlation; budget ALPHA), and significantly negative at η = 0.15
    (exact difference −0.25, about 20 SE: a miss there has probability far below ALPHA)."""
    from monotheory.theory import crossover, registry

    star = crossover("unnormalized", "flip", 0.2)
    assert star.value == pytest.approx(2 / 7)
    z = z_value(1)
    with registry.scoped():
        registry.register_noise_model("flip_s", sampler=_flip_sampler)
        for eta, sign in ((star.value, 0), (0.15, -1)):
            mc = monte_carlo(0.2, 400_000, mc_seed(7), noise_rate=eta, noise_model="flip_s", criteria=("unnormalized",))
            (m, sm), (p, sp) = mc["mono"]["unnormalized"], mc["poly"]["unnormalized"]
            if sign == 0:
                assert abs(m - p) <= z * (sm + sp), (m, p, sm, sp)
            else:
                assert m - p < -z * (sm + sp), (m, p, sm, sp)


@pytest.mark.parametrize("sampler, match", [
    (lambda y, e, rng: y[:-1], "of the input's shape"),
    (lambda y, e, rng: y * 2, "labels 0/1"),
    (lambda y, e, rng: 1 / 0, "sampler failed"),
])
def test_a_broken_sampler_is_refused_before_any_work(sampler, match):
    from monotheory.theory import registry

    with registry.scoped():
        registry.register_noise_model("broken", sampler=sampler)
        with pytest.raises(ConfigError, match=match):
            monte_carlo(0.3, 10**9, 1, noise_rate=0.2, noise_model="broken")


def test_kernel_groups_of_chunks_give_the_numpy_paths_numbers(monkeypatch):
    """The Numba path hands the kernel groups of whole chunks (HANDOFF_ROWS rows): with several groups, a
    ragged last chunk and every optional draw, it must consume the NumPy path's numbers in the same order and
    fill the same histogram batches (row index mod N_BATCHES across group boundaries)."""
    pytest.importorskip("numba", reason="numba not installed: the accelerated Monte Carlo path is not tested")
    from monotheory.theory import montecarlo

    monkeypatch.setattr(montecarlo, "HANDOFF_ROWS", 3 * 7_001)
    kw = dict(noise_rate=0.2, sigma=0.05, tie_rule="random", n_features=3, threshold=True, chunk=7_001)
    fast = monte_carlo(0.3, 50_000, 5, backend="numba", **kw)
    slow = monte_carlo(0.3, 50_000, 5, backend="numpy", **kw)
    assert fast["n_kept"] == slow["n_kept"]
    _same(fast, slow, MOMENT_KEYS + ("threshold_error",))
