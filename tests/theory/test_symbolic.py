"""Exact moments: derived by SymPy integration, checked against PAPER.md §3 and against Monte Carlo."""

import numpy as np
import pytest
import sympy as sp
from hypothesis import example, given, settings
from hypothesis import strategies as st

from monotheory.errors import ConfigError
from monotheory.testing import z_value
from monotheory.theory import mix_moments, moments, monte_carlo, symbolic_criterion, symbolic_moments
from monotheory.theory.symbolic import S, eta, lam

from .helpers import mc_disagreements

KEYS = ("pi0", "pi1", "mu0", "mu1", "delta_mu", "var0", "var1")

# PAPER.md §3, typed in here (and only here) as the reference the derivation must reproduce.
PAPER_TABLE = {
    "mono": {"mu1": (S + 2) / (3 * (S + 1)), "mu0": (1 - S) / (3 * (S + 1)),
             "delta_mu": (2 * S + 1) / (3 * (S + 1)),
             "var1": (S**2 + 4 * S + 1) / (18 * (S + 1) ** 2),
             "var0": (1 - S) * (5 * S + 1) / (18 * (S + 1) ** 2),
             "fisher": (2 * S + 1) ** 2 / (1 + 4 * S - 2 * S**2)},
    "poly": {"mu1": (2 * S + 1) / (3 * (S + 1)), "mu0": -(2 * S + 1) / (3 * (S + 1)),
             "delta_mu": 2 * (2 * S + 1) / (3 * (S + 1)),
             "var1": (S**2 + 4 * S + 1) / (18 * (S + 1) ** 2),
             "var0": (S**2 + 4 * S + 1) / (18 * (S + 1) ** 2),
             "fisher": 4 * (2 * S + 1) ** 2 / (S**2 + 4 * S + 1)},
}


@pytest.mark.parametrize("feature", ["mono", "poly"])
def test_derived_moments_equal_paper_table(feature):
    m = symbolic_moments(feature)
    m["fisher"] = symbolic_criterion("fisher", m)
    for key, ref in PAPER_TABLE[feature].items():
        assert sp.simplify(m[key] - ref) == 0, (feature, key, m[key], ref)
    assert m["pi0"] == m["pi1"] == sp.Rational(1, 2)  # priors (1 − S²)/2 each, renormalised


def test_a_wrong_table_entry_would_be_caught():
    wrong = (1 - S) * (5 * S + 2) / (18 * (S + 1) ** 2)  # a plausible typo in σ0²(mono)
    assert sp.simplify(symbolic_moments("mono")["var0"] - wrong) != 0


def test_general_weights_reduce_to_the_table_and_scale():
    m = symbolic_moments("poly", weights="symbolic")
    w1, w2 = sp.symbols("w1 w2", positive=True)
    for key in ("mu0", "mu1", "var0", "var1"):
        assert sp.simplify(m[key].subs({w1: 1, w2: 1}) - PAPER_TABLE["poly"][key]) == 0
    # Δμ is linear in (w1 + w2): Δμ = (w1 + w2)(2S + 1)/(3(S + 1))
    assert sp.simplify(m["delta_mu"] - (w1 + w2) * (2 * S + 1) / (3 * (S + 1))) == 0


@settings(max_examples=25)
@given(st.integers(0, 99), st.sampled_from(["drop", "class0", "class1", "random"]))
def test_float_evaluation_matches_sympy_at_rational_s(k, tie_rule):
    s = sp.Rational(k, 100)
    for feature in ("mono", "poly"):
        sym = symbolic_moments(feature, tie_rule=tie_rule)
        num = moments(feature, float(s), tie_rule=tie_rule)
        for key in KEYS:
            assert num[key] == pytest.approx(float(sym[key].subs(S, s)), rel=1e-12, abs=1e-14)


def test_symmetric_flip_scales_delta_mu_exactly():
    for feature in ("mono", "poly"):
        clean = symbolic_moments(feature)
        noisy = symbolic_moments(feature, noise_model="flip")
        assert sp.simplify(noisy["delta_mu"] - (1 - 2 * eta) * clean["delta_mu"]) == 0
        # balanced classes: σ̃1² = (1 − η)σ1² + ησ0² + η(1 − η)Δμ²  (PAPER.md §3)
        ref = (1 - eta) * clean["var1"] + eta * clean["var0"] + eta * (1 - eta) * clean["delta_mu"] ** 2
        assert sp.simplify(noisy["var1"] - ref) == 0


def test_input_noise_adds_lambda2_and_2lambda2():
    for feature, factor in (("mono", 1), ("poly", 2)):
        clean, noisy = symbolic_moments(feature), symbolic_moments(feature, sigma="symbolic")
        for key in ("var0", "var1"):
            assert sp.simplify(noisy[key] - clean[key] - factor * lam**2) == 0
        assert sp.simplify(noisy["delta_mu"] - clean["delta_mu"]) == 0


def test_mix_moments_identity_and_inversion():
    m = moments("mono", 0.3)
    same = mix_moments(m, 0.0, 0.0)
    assert all(same[k] == pytest.approx(m[k]) for k in KEYS)
    inverted = mix_moments(m, 1.0, 1.0)
    assert inverted["delta_mu"] == pytest.approx(-m["delta_mu"])


def test_bad_input_is_a_config_error():
    with pytest.raises(ConfigError, match="sparsity"):
        moments("mono", 1.0)
    with pytest.raises(ConfigError, match="sparsity"):
        moments("mono", np.array([0.1, -0.2]))
    with pytest.raises(ConfigError, match="regime"):
        moments("neither", 0.2)
    with pytest.raises(ConfigError, match="weights"):
        moments("poly", 0.2, weights=(1, 0))


# ---------------------------------------------------------------------------------------- vs Monte Carlo
N_EXAMPLES = 12
N_CASES = N_EXAMPLES + 2  # the generated examples and the two explicit @example cases
N_MC = 200_000
MC_KEYS = KEYS + ("fisher", "unnormalized")
Z = z_value(N_CASES * 2 * len(MC_KEYS))  # Bonferroni over every comparison one test run makes


def _exact_with_criteria(feature, s, **kw):
    m = moments(feature, s, **kw)
    m["fisher"] = symbolic_criterion("fisher", m)
    m["unnormalized"] = symbolic_criterion("unnormalized", m)
    return m


def _grid(lo: int, hi: int, scale: int):
    """k/scale for k in [lo, hi]: spreads the derandomised examples over the whole range (a float strategy
    shrinks towards 0 and left most examples at S < 1e-6)."""
    return st.integers(lo, hi).map(lambda k: k / scale)


@settings(max_examples=N_EXAMPLES)
@given(s=_grid(0, 95, 100), w1=_grid(2, 30, 10), w2=_grid(2, 30, 10),
       tie_rule=st.sampled_from(["drop", "class0", "class1", "random"]),
       noise_model=st.sampled_from(["flip", "one_sided", "uniform"]), eta_=_grid(0, 45, 100),
       lam_=_grid(0, 10, 10), seed=st.integers(0, 2**31))
@example(s=0.8, w1=1.0, w2=1.0, tie_rule="class0", noise_model="one_sided", eta_=0.4, lam_=0.0, seed=1)
@example(s=0.6, w1=2.0, w2=0.5, tie_rule="class1", noise_model="flip", eta_=0.3, lam_=0.5, seed=2)
def test_exact_moments_match_monte_carlo(s, w1, w2, tie_rule, noise_model, eta_, lam_, seed):
    kw = dict(weights=(w1, w2), tie_rule=tie_rule, noise_rate=eta_, noise_model=noise_model, sigma=lam_)
    mc = monte_carlo(s, N_MC, seed, chunk=50_000, **kw)
    for feature in ("mono", "poly"):
        bad = mc_disagreements(_exact_with_criteria(feature, s, **kw), mc[feature], MC_KEYS, Z)
        assert not bad, (feature, kw, bad)


def test_monte_carlo_rejects_a_deliberately_wrong_formula():
    """Perturb the closed forms the way a derivation slip would; the same MC comparison must reject it."""
    s, kw = 0.3, dict(noise_rate=0.2, noise_model="flip")
    mc = monte_carlo(s, N_MC, 7, **kw)
    right = _exact_with_criteria("mono", s, **kw)
    assert not mc_disagreements(right, mc["mono"], MC_KEYS, Z)
    symmetric = dict(right, var0=right["var1"])  # wrong: assume σ0² = σ1² for mono, as for poly
    assert mc_disagreements(symmetric, mc["mono"], ["var0"], Z)
    clean_sigma = _exact_with_criteria("mono", s)  # wrong: forget the η(1−η)Δμ² mixture term
    assert mc_disagreements(clean_sigma, mc["mono"], ["var0", "var1", "delta_mu"], Z)
    typo = sp.lambdify(S, (1 - S) * (5 * S + 2) / (18 * (S + 1) ** 2))(s)  # a typo in the σ0² table entry
    mc_clean = monte_carlo(s, N_MC, 8)
    assert mc_disagreements({"var0": typo}, mc_clean["mono"], ["var0"], Z)


def test_a_nan_is_a_disagreement_not_a_pass():
    assert mc_disagreements({"var0": float("nan")}, {"var0": (0.05, 0.001)}, ["var0"], 3.0)
    assert mc_disagreements({"var0": 0.05}, {"var0": (0.05, float("nan"))}, ["var0"], 3.0)
    assert not mc_disagreements({"var0": 0.05}, {"var0": (0.0501, 0.001)}, ["var0"], 3.0)


@pytest.mark.parametrize("value", [0.2, 0.7071067811865476, 0.3819660112501051, 1.4142135623730951])
def test_exact_turns_floats_into_rationals(value):
    from monotheory.theory.symbolic import exact

    r = exact(value)
    assert r.is_Rational and float(r) == value
