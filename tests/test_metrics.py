"""Feature metrics: hand-computed values, limiting cases, a binomial-tolerance Monte Carlo check, input types.

The Monte Carlo tolerance for the monosemanticity of class-independent features is z·SE with
z = Φ⁻¹(1 − α/m), α = 1e-6 (one-sided false-alarm budget) split over the m = C·D class/dimension cells.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import norm, ortho_group

from monotheory.errors import ConfigError
from monotheory.metrics import (
    dimensions_per_feature,
    feature_dimensionality,
    feature_recovery,
    fisher_separability,
    mean_max_cosine,
    monosemanticity_score,
    near_zero_fraction,
)

ALPHA = 1e-6

# ----------------------------------------------------------------------------------------- monosemanticity


def test_one_hot_class_aligned_features_score_one():
    rng = np.random.default_rng(0)
    c, n = 5, 500
    y = rng.integers(0, c, n)
    z = np.zeros((n, c))
    z[np.arange(n), y] = rng.uniform(0.5, 2.0, n)
    score, per_dim = monosemanticity_score(z, y, return_per_dim=True)
    assert score == 1.0
    np.testing.assert_array_equal(per_dim, np.ones(c))


def test_dense_features_with_balanced_classes_score_one_over_c():
    c = 4
    y = np.repeat(np.arange(c), 50)
    z = np.random.default_rng(1).standard_normal((200, 16))
    assert monosemanticity_score(z, y) == pytest.approx(1 / c)


def test_class_independent_sparse_features_score_near_one_over_c():
    """Activity independent of the class: each dimension's class shares are multinomial around 1/C."""
    rng = np.random.default_rng(2)
    c, n, d, p = 4, 8000, 32, 0.3
    y = np.repeat(np.arange(c), n // c)
    z = rng.uniform(0.1, 1.0, (n, d)) * (rng.random((n, d)) < p)
    score, per_dim = monosemanticity_score(z, y, return_per_dim=True)
    n_active = (z != 0).sum(0)
    se = np.sqrt((1 / c) * (1 - 1 / c) / n_active)                      # binomial SE of a class share
    z_crit = norm.isf(ALPHA / (c * d))
    assert score >= 1 / c                                                # the top share is never below 1/C
    assert (per_dim <= 1 / c + z_crit * se).all()
    assert score <= 1 / c + z_crit * se.max()


def test_dead_dimensions_are_left_out_not_counted_as_zero():
    """A wrong implementation averaging over all D dimensions would give 0.5 here."""
    y = np.array([0, 1, 2, 0, 1, 2])
    z = np.zeros((6, 6))
    z[np.arange(6), y] = 1.0
    score, per_dim = monosemanticity_score(z, y, return_per_dim=True)
    assert score == 1.0
    assert np.isnan(per_dim[3:]).all()
    assert np.isnan(monosemanticity_score(np.zeros((3, 2)), [0, 1, 0]))


def test_normalisation_and_threshold():
    # tiny values are below 1e-5 unless each row is first scaled to unit norm
    y = np.array([0, 1])
    z = np.array([[1e-6, 0.0], [1e-6, 1e-6]])
    assert monosemanticity_score(z, y, normalize=False) is not None
    assert np.isnan(monosemanticity_score(z, y, normalize=False))
    assert monosemanticity_score(z, y, normalize=True) == pytest.approx((0.5 + 1.0) / 2)


def test_monosemanticity_numpy_torch_and_label_values_agree():
    rng = np.random.default_rng(3)
    z = rng.standard_normal((100, 8)) * (rng.random((100, 8)) < 0.4)
    y = rng.integers(0, 3, 100)
    a = monosemanticity_score(z, y)
    b = monosemanticity_score(torch.tensor(z, dtype=torch.float32), torch.tensor(y))
    c = monosemanticity_score(z, y * 10 + 7)                            # arbitrary label values
    assert a == pytest.approx(b) and a == pytest.approx(c)


@pytest.mark.parametrize("z, y, match", [
    (np.zeros(5), [0, 1, 0, 1, 0], "shape"),
    (np.zeros((4, 2)), [0, 1, 0], "one label per row"),
    (np.zeros((2, 2)), [0.0, 1.0], "integer"),
    (np.array([[np.nan, 1.0], [0.0, 1.0]]), [0, 1], "NaN"),
])
def test_monosemanticity_bad_input(z, y, match):
    with pytest.raises(ConfigError, match=match):
        monosemanticity_score(z, y)


# ----------------------------------------------------------------------------------------------- sparsity


def test_sparsity_of_known_matrix():
    z = np.array([[1.0, 0.0, 0.0, 0.0], [0.001, 1.0, 0.0, 0.5]])
    # row 1: 3 of 4 near zero; row 2 (norm ≈ 1.118): 0.001/1.118 and 0 → 2 of 4
    assert near_zero_fraction(z) == pytest.approx(5 / 8)
    assert near_zero_fraction(z * 100, normalize=True) == pytest.approx(5 / 8)
    # unnormalised ×100: row 2 is (0.1, 100, 0, 50) → only the 0 counts
    assert near_zero_fraction(z * 100, normalize=False) == pytest.approx(4 / 8)
    # threshold 0.6 on normalised rows: row 2 is (0.0009, 0.894, 0, 0.447) → 3 of 4
    assert near_zero_fraction(torch.tensor(z), threshold=0.6) == pytest.approx(6 / 8)
    with pytest.raises(ConfigError, match="threshold"):
        near_zero_fraction(z, threshold=-1)


# ---------------------------------------------------------------------------------------- superposition


def test_dimensionality_orthonormal_is_one():
    q = ortho_group.rvs(6, random_state=0)[:, :4]                       # 4 orthonormal columns in R^6
    np.testing.assert_allclose(feature_dimensionality(q), np.ones(4))
    assert dimensions_per_feature(q) == pytest.approx(6 / 4)


def test_dimensionality_antipodal_pair_and_unused_feature():
    w = np.array([[1.0, -1.0, 0.0, 0.0], [0.0, 0.0, 2.0, 0.0]])           # pair in dim 0, one feature, one off
    np.testing.assert_allclose(feature_dimensionality(w), [0.5, 0.5, 1.0, 0.0])
    assert dimensions_per_feature(w[:1, :2]) == pytest.approx(0.5)


def test_dimensionality_pentagon_is_two_fifths():
    ang = 2 * np.pi * np.arange(5) / 5
    w = np.stack([np.cos(ang), np.sin(ang)])                             # Elhage's pentagon: 5 features in 2D
    np.testing.assert_allclose(feature_dimensionality(w), np.full(5, 0.4))
    assert dimensions_per_feature(w) == pytest.approx(0.4)


def test_dimensionality_batched_matches_single():
    w = np.random.default_rng(4).standard_normal((3, 5, 8))
    batched = feature_dimensionality(torch.tensor(w))
    assert batched.shape == (3, 8)
    for i in range(3):
        np.testing.assert_allclose(batched[i], feature_dimensionality(w[i]))
    np.testing.assert_allclose(dimensions_per_feature(w), [dimensions_per_feature(w[i]) for i in range(3)])
    with pytest.raises(ConfigError, match="shape"):
        feature_dimensionality(np.zeros(3))


# ------------------------------------------------------------------------------------------ feature recovery


def test_recovery_of_permuted_scaled_sign_flipped_copy_is_one():
    rng = np.random.default_rng(5)
    true = rng.standard_normal((10, 20))
    perm = rng.permutation(10)
    signs = rng.choice([-1.0, 1.0], 10)
    learned = true[perm] * signs[:, None] * rng.uniform(0.5, 3, (10, 1))
    score, (rows, cols) = feature_recovery(learned, true, return_matching=True)
    assert score == pytest.approx(1.0)
    np.testing.assert_array_equal(cols, perm[rows])
    assert mean_max_cosine(learned, true) == pytest.approx(1.0)
    if (signs < 0).any():
        assert feature_recovery(learned, true, absolute=False) < 1.0


def test_recovery_of_random_directions_is_below_one():
    rng = np.random.default_rng(6)
    true, learned = rng.standard_normal((10, 50)), rng.standard_normal((10, 50))
    score = feature_recovery(learned, true)
    assert 0 < score < 0.9
    assert score <= mean_max_cosine(learned, true) + 1e-12


def test_recovery_counts_missing_features_and_mean_max_allows_sharing():
    e = np.eye(2)
    assert feature_recovery(e[:1], e) == pytest.approx(0.5)
    mixed = np.array([[1.0, 1.0]])
    assert mean_max_cosine(mixed, e) == pytest.approx(np.sqrt(0.5))
    assert feature_recovery(mixed, e) == pytest.approx(np.sqrt(0.5) / 2)
    assert feature_recovery(np.vstack([e, [[1.0, 1.0]], [[0.0, 0.0]]]), e) == pytest.approx(1.0)
    with pytest.raises(ConfigError, match="dimension"):
        feature_recovery(np.zeros((2, 3)), e)


# ------------------------------------------------------------------------------------------- separability


def test_fisher_binary_hand_computed():
    # dim 0: class 0 {0, 2} (μ 1, σ² 1), class 1 {4, 6, 8} (μ 6, σ² 8/3) → 25 / (11/3) = 75/11
    # dim 1: constant within class, different means → inf; dim 2: constant everywhere → NaN
    z = np.array([[0, 1, 5], [2, 1, 5], [4, 3, 5], [6, 3, 5], [8, 3, 5]], dtype=float)
    y = np.array([0, 0, 1, 1, 1])
    j = fisher_separability(z, y)
    assert j[0] == pytest.approx(75 / 11)
    assert np.isposinf(j[1]) and np.isnan(j[2])
    np.testing.assert_allclose(fisher_separability(torch.tensor(z), torch.tensor(y * 3 + 1)), j)


def test_fisher_multiclass_is_pairwise_average():
    # class means 0, 1, 3 and variances 1: mean pairwise Δμ² = (1 + 9 + 4)/3, mean pairwise σ² sum = 2
    z = np.array([-1, 1, 0, 2, 2, 4], dtype=float)[:, None]
    y = np.array([0, 0, 1, 1, 2, 2])
    assert fisher_separability(z, y)[0] == pytest.approx((14 / 3) / 2)


def test_fisher_needs_two_classes():
    with pytest.raises(ConfigError, match="at least 2"):
        fisher_separability(np.zeros((3, 2)), [1, 1, 1])


# ------------------------------------------------------------------------------- batching, chunking, properties


def test_monosemanticity_batched_and_chunked_match_the_plain_computation(monkeypatch):
    import monotheory.metrics as metrics

    rng = np.random.default_rng(7)
    z = rng.standard_normal((3, 50, 6)) * (rng.random((3, 50, 6)) < 0.3)
    y = rng.integers(0, 4, (3, 50))
    batched, per_dim = monosemanticity_score(torch.tensor(z), y, return_per_dim=True)
    assert batched.shape == (3,) and per_dim.shape == (3, 6)
    singles = [monosemanticity_score(z[i], y[i]) for i in range(3)]
    np.testing.assert_allclose(batched, singles)
    s_plain = near_zero_fraction(z[0])
    monkeypatch.setattr(metrics, "_ROWS", 7)                               # force several chunks
    np.testing.assert_allclose(monosemanticity_score(z, y), singles)
    assert near_zero_fraction(z[0]) == pytest.approx(s_plain)


@given(st.integers(0, 10_000), st.integers(2, 5), st.integers(1, 8))
def test_monosemanticity_lies_between_one_over_c_and_one(seed, c, d):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, c, 40)
    z = rng.standard_normal((40, d)) * (rng.random((40, d)) < 0.5)
    score, per_dim = monosemanticity_score(z, y, return_per_dim=True)
    k = len(np.unique(y))
    ok = per_dim[np.isfinite(per_dim)]
    assert ((ok >= 1 / k - 1e-12) & (ok <= 1 + 1e-12)).all()
    assert np.isnan(score) or 1 / k - 1e-12 <= score <= 1 + 1e-12


@given(st.integers(0, 10_000), st.integers(1, 6), st.integers(1, 10))
def test_feature_dimensionality_is_between_zero_and_one(seed, m, n):
    w = np.random.default_rng(seed).standard_normal((m, n))
    d = feature_dimensionality(w)
    assert ((d >= 0) & (d <= 1 + 1e-12)).all()
    # Σ_i D_i ≤ rank W ≤ m (Jensen: 1/(ŵᵀMŵ) ≤ ŵᵀM⁺ŵ with M = WWᵀ, and Σ_i W_iᵀM⁺W_i = rank M)
    assert d.sum() <= m + 1e-9


# ----------------------------------------------------------------- basis-free measures and the monosemantic rule

def _oracle(m=3, n=6):
    w = np.zeros((1, m, n))
    w[0, np.arange(m), np.arange(m)] = 1.0
    return w


def test_superposition_measures_are_basis_free_and_known():
    from monotheory.metrics import superposition_measures

    w = _oracle()
    q, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((3, 3)))
    a, b = superposition_measures(w), superposition_measures(q @ w)
    for key in a:
        np.testing.assert_allclose(a[key], b[key], atol=1e-12)
    assert a["represented"][0] == 3 and a["interference"][0] == 0 and a["superposition"][0] == 0
    pair = np.array([[[1.0, -1.0, 0.0], [0.0, 0.0, 1.0]]])   # an antipodal pair and one lone feature
    s = superposition_measures(pair)
    assert s["represented"][0] == 3 and s["max_interference"][0] == pytest.approx(1.0)
    assert s["interference"][0] == pytest.approx(2 / 3) and s["superposition"][0] == 1.0


def test_per_unit_measures_are_refused_for_linear_codes():
    from monotheory.metrics import features_per_unit

    with pytest.raises(ConfigError, match="linear code"):
        features_per_unit(_oracle(), per_unit_code=False)


def test_monosemantic_rule_per_unit_and_basis_free():
    from monotheory.metrics import monosemantic_verdict

    w = _oracle(4, 6)
    h = np.array([[1, 1, 1, 1], [1, -1, 1, -1], [1, 1, -1, -1], [1, -1, -1, 1]]) / 2.0  # orthogonal, fully mixing
    rot = h @ w
    v = monosemantic_verdict(np.concatenate([w, rot, w, rot]), [True, True, False, False])
    assert v[0]["monosemantic"] and v[0]["basis"] == "per-unit" and v[0]["features_per_unit"] == 1.0
    assert not v[1]["monosemantic"] and v[1]["features_per_unit"] == 4.0    # rotated: per-unit rule fails
    assert v[2]["monosemantic"] and v[3]["monosemantic"]                  # linear: up to basis, both mono
    assert "features_per_unit" not in v[3] and v[3]["basis"].startswith("basis-free")
    pair = np.array([[[1.0, -1.0, 0.0], [0.0, 0.0, 1.0]]])
    assert not monosemantic_verdict(pair, [False])[0]["monosemantic"]     # superposed: polysemantic
