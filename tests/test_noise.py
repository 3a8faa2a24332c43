"""Label and input noise: exact counts, transition matrices, Monte Carlo agreement, numpy/torch parity, errors.

Monte Carlo tolerances are z·SE with z = Φ⁻¹(1 − α/(2m)): a two-sided false-alarm budget α = 1e-6 per test,
Bonferroni-split over the m quantities compared. Seeds are fixed, so the tests are deterministic anyway.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import norm

from monotheory.errors import ConfigError
from monotheory.noise import LabelNoise, input_noise, label_noise, transition_matrix

ALPHA = 1e-6


def z_for(m: int = 1) -> float:
    return float(norm.isf(ALPHA / (2 * m)))


def empirical_transition(y, noisy, c):
    counts = np.zeros((c, c))
    np.add.at(counts, (np.asarray(y), np.asarray(noisy)), 1)
    return counts, counts / counts.sum(1, keepdims=True)


def transition_max_z(y, noisy, t):
    """Largest |z| of the empirical transition cells against T (binomial SE per row)."""
    c = t.shape[0]
    counts, emp = empirical_transition(y, noisy, c)
    n_i = counts.sum(1, keepdims=True)
    se = np.sqrt(np.clip(t * (1 - t), 1e-300, None) / n_i)
    z = np.abs(emp - t) / se
    z[(t == 0) | (t == 1)] = np.where(emp[(t == 0) | (t == 1)] == t[(t == 0) | (t == 1)], 0.0, np.inf)
    return float(z.max())


# ----------------------------------------------------------------------------------------- transition matrix


@pytest.mark.parametrize("model", ["flip", "uniform"])
@pytest.mark.parametrize("eta", [0.0, 0.3, 0.9, 1.0])
def test_transition_matrix_rows_are_distributions(model, eta):
    t = transition_matrix(5, eta, model)
    assert t.shape == (5, 5)
    np.testing.assert_allclose(t.sum(1), 1.0)
    assert (t >= 0).all()
    if model == "flip":
        np.testing.assert_allclose(np.diag(t), 1 - eta)
        np.testing.assert_allclose(t[0, 1:], eta / 4)
    else:
        np.testing.assert_allclose(np.diag(t), 1 - eta + eta / 5)
        np.testing.assert_allclose(t[0, 1:], eta / 5)


# ---------------------------------------------------------------------------------------------- label noise


def test_exact_flip_corrupts_exactly_round_eta_n():
    y = np.arange(1001) % 7
    res = label_noise(y, 0.3, seed=0)
    assert isinstance(res, LabelNoise)
    k = round(0.3 * 1001)
    assert res.corrupted.sum() == k
    # flip always changes the class, so changed == chosen and realised_rate = k/N exactly
    assert ((res.labels != y) == res.corrupted).all()
    assert res.realised_rate == pytest.approx(k / 1001)
    np.testing.assert_allclose(res.transition, transition_matrix(7, k / 1001, "flip"))


@pytest.mark.parametrize("eta, changed", [(0.0, 0), (1.0, 500)])
def test_extreme_rates(eta, changed):
    y = np.arange(500) % 4
    res = label_noise(y, eta, seed=1)
    assert (res.labels != y).sum() == changed


def test_flip_destinations_uniform_over_other_classes(mc_seed):
    c, n = 5, 50_000
    y = np.arange(n) % c
    res = label_noise(y, 0.9, model="flip", sampling="exact", seed=mc_seed(3))
    t = transition_matrix(c, res.corrupted.mean(), "flip")
    assert transition_max_z(y, res.labels, t) < z_for(c * c)


def test_wrong_flip_implementation_is_caught(mc_seed):
    """Relabelling among all C classes (a common mistake) must fail the flip transition check."""
    c, n = 5, 50_000
    y = np.arange(n) % c
    wrong = label_noise(y, 0.9, model="uniform", sampling="exact", seed=mc_seed(3)).labels
    t = transition_matrix(c, 0.9, "flip")
    assert transition_max_z(y, wrong, t) > z_for(c * c)


def test_uniform_model_matches_transition_and_keeps_some_labels(mc_seed):
    c, n, eta = 4, 40_000, 0.6
    y = np.arange(n) % c
    res = label_noise(y, eta, model="uniform", sampling="bernoulli", seed=mc_seed(4))
    assert transition_max_z(y, res.labels, res.transition) < z_for(c * c)
    # realised rate ≈ η (C-1)/C, some chosen samples keep their label
    p = eta * (c - 1) / c
    assert abs(res.realised_rate - p) < z_for(1) * np.sqrt(p * (1 - p) / n)
    assert (res.corrupted & (res.labels == y)).any()


def test_bernoulli_count_is_binomial(mc_seed):
    n, eta = 20_000, 0.25
    res = label_noise(np.zeros(n, dtype=np.int64), eta, num_classes=3, sampling="bernoulli", seed=mc_seed(5))
    k = res.corrupted.sum()
    assert abs(k - n * eta) < z_for(1) * np.sqrt(n * eta * (1 - eta))


def test_numpy_and_torch_agree_and_types_follow_input():
    y = np.arange(300) % 6
    a = label_noise(y.astype(np.int32), 0.4, seed=11)
    b = label_noise(torch.tensor(y, dtype=torch.int32), 0.4, seed=11)
    assert a.labels.dtype == np.int32
    assert isinstance(b.labels, torch.Tensor) and b.labels.dtype == torch.int32
    assert b.corrupted.dtype == torch.bool
    np.testing.assert_array_equal(a.labels, b.labels.numpy())
    np.testing.assert_array_equal(a.corrupted, b.corrupted.numpy())
    assert a.realised_rate == b.realised_rate


def test_seeds_reproduce_and_differ():
    y = np.arange(500) % 10
    same = [label_noise(y, 0.5, seed=s).labels for s in (7, 7, 8)]
    np.testing.assert_array_equal(same[0], same[1])
    assert (same[0] != same[2]).any()
    g1, g2 = np.random.default_rng(3), np.random.default_rng(3)
    np.testing.assert_array_equal(label_noise(y, 0.5, seed=g1).labels, label_noise(y, 0.5, seed=g2).labels)
    t1, t2 = torch.Generator().manual_seed(9), torch.Generator().manual_seed(9)
    np.testing.assert_array_equal(label_noise(y, 0.5, seed=t1).labels, label_noise(y, 0.5, seed=t2).labels)


def test_num_classes_default_and_explicit():
    y = np.array([0, 1, 2, 2])
    assert label_noise(y, 0.5, seed=0).transition.shape == (3, 3)
    res = label_noise(y, 1.0, num_classes=10, seed=0)
    assert res.transition.shape == (10, 10) and res.labels.max() < 10


@pytest.mark.parametrize("kwargs, match", [
    (dict(noise_rate=1.5), "noise_rate"),
    (dict(noise_rate=-0.1), "noise_rate"),
    (dict(noise_rate=0.2, model="swap"), "model"),
    (dict(noise_rate=0.2, sampling="poisson"), "sampling"),
    (dict(noise_rate=0.2, num_classes=2), "outside"),
    (dict(noise_rate=0.2, seed="abc"), "seed"),
])
def test_bad_arguments_raise_config_error(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        label_noise(np.array([0, 1, 2, 1]), **kwargs)


@pytest.mark.parametrize("labels, match", [
    (np.array([0.0, 1.0]), "integer"),
    (torch.tensor([0.0, 1.0]), "integer"),
    (np.array([[0, 1]]), "1-D"),
    (np.array([0, -1, 1]), "outside"),
    (np.zeros(5, dtype=int), "at least 2 classes"),
])
def test_bad_labels_raise_config_error(labels, match):
    with pytest.raises(ConfigError, match=match):
        label_noise(labels, 0.3)


def test_uniform_model_allows_one_class():
    res = label_noise(np.zeros(5, dtype=int), 0.5, model="uniform", seed=0)
    assert (res.labels == 0).all() and res.realised_rate == 0.0


# ---------------------------------------------------------------------------------------------- input noise


def test_gaussian_input_noise_moments_numpy(mc_seed):
    x = np.full(200_000, 3.0)
    sigma = 0.6
    e = input_noise(x, sigma, seed=mc_seed(0)) - x
    n = e.size
    assert abs(e.mean()) < z_for(2) * sigma / np.sqrt(n)
    # SE of the sample variance of a normal: σ²·sqrt(2/(n-1))
    assert abs(e.var() - sigma**2) < z_for(2) * sigma**2 * np.sqrt(2 / (n - 1))


def test_uniform_input_noise_is_not_zero_mean(mc_seed):
    x = torch.zeros(100_000, dtype=torch.float64)
    a = 0.5
    e = input_noise(x, a, kind="uniform", seed=mc_seed(0))
    assert e.min() >= 0 and e.max() < a
    se = a * np.sqrt(1 / 12 / e.numel())
    assert abs(e.mean().item() - a / 2) < z_for(1) * se


def test_input_noise_preserves_type_dtype_and_is_seeded():
    x = torch.ones(4, 3, dtype=torch.float16)
    a, b = input_noise(x, 0.1, seed=5), input_noise(x, 0.1, seed=5)
    assert a.dtype == torch.float16 and a.shape == x.shape and a.device == x.device
    assert torch.equal(a, b)
    assert not torch.equal(a, input_noise(x, 0.1, seed=6))
    xn = np.ones((4, 3), dtype=np.float32)
    out = input_noise(xn, 0.1, seed=np.random.default_rng(0))
    assert isinstance(out, np.ndarray) and out.dtype == np.float32
    assert np.array_equal(input_noise(xn, 0.0, seed=0), xn)
    assert torch.equal(input_noise(x, 0.1, seed=torch.Generator().manual_seed(1)),
                       input_noise(x, 0.1, seed=torch.Generator().manual_seed(1)))


@pytest.mark.parametrize("x, sigma, kind, match", [
    (np.zeros(3), -0.1, "gaussian", "sigma"),
    (np.zeros(3), 0.1, "laplace", "kind"),
    (np.zeros(3, dtype=int), 0.1, "gaussian", "floating"),
    (torch.zeros(3, dtype=torch.int64), 0.1, "gaussian", "floating"),
])
def test_input_noise_errors(x, sigma, kind, match):
    with pytest.raises(ConfigError, match=match):
        input_noise(x, sigma, kind=kind)


@given(st.integers(0, 10_000), st.integers(2, 6), st.integers(1, 60), st.floats(0, 1))
def test_exact_flip_properties(seed, c, n, eta):
    y = np.random.default_rng(seed).integers(0, c, n)
    res = label_noise(y, eta, num_classes=c, seed=seed)
    assert res.corrupted.sum() == round(eta * n)
    assert ((res.labels != y) == res.corrupted).all()                  # flip always changes a chosen label
    assert ((res.labels >= 0) & (res.labels < c)).all()
    np.testing.assert_allclose(res.transition.sum(1), 1.0)
