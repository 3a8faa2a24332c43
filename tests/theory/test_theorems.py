"""Theorem 4.1 (symbolic proof + grid), Theorem 4.2 and Appendix B.3 as reconstructed in PAPER.md."""

import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from monotheory.theory import appendix_b3, crossover, symbolic_moments, theorem_4_1, theorem_4_2
from monotheory.theory.symbolic import S, symbolic_criterion
from monotheory.theory.theorems import check_sign


def test_theorem_4_1_is_proved_for_unit_weights():
    res = {r.name: r for r in theorem_4_1()}
    assert set(res) == {"mu0", "mu1", "delta_mu", "var1", "var0", "fisher"}
    for r in res.values():
        assert r.proved is True and r.grid_fraction == 1.0 and r.holds, r
    assert res["fisher"].grid_worst == pytest.approx(3.0)  # J_poly − J_mono is smallest at S = 0: 4 − 1


def test_theorem_4_1_fails_where_it_should_for_other_weights():
    res = {r.name: r for r in theorem_4_1(weights=(3, 3))}
    assert res["mu1"].proved is False and res["mu1"].holds_on == "EmptySet"  # scaling w moves the means
    assert res["fisher"].proved is True  # Fisher's J is scale-free
    general = {r.name: r for r in theorem_4_1(weights="symbolic", n_grid=101)}
    assert general["mu1"].proved is None and 0 < general["mu1"].grid_fraction < 1
    assert general["fisher"].grid_fraction == 1.0


def test_check_sign_detects_a_partial_interval():
    proved, holds_on, frac, _ = check_sign(S - sp.Rational(1, 2), ">", n_grid=100)
    assert proved is False and holds_on == str(sp.Interval.open(sp.Rational(1, 2), 1)) and frac == 0.49


@settings(max_examples=40)
@given(st.integers(0, 999))
def test_theorem_4_1_inequalities_at_exact_rational_s(k):
    s = sp.Rational(k, 1000)
    mono = {key: v.subs(S, s) for key, v in symbolic_moments("mono").items()}
    poly = {key: v.subs(S, s) for key, v in symbolic_moments("poly").items()}
    assert poly["mu0"] < mono["mu0"] and poly["mu1"] < mono["mu1"] and poly["delta_mu"] > mono["delta_mu"]
    assert poly["var1"] == mono["var1"] and poly["var0"] >= mono["var0"]
    assert symbolic_criterion("fisher", poly) > symbolic_criterion("fisher", mono)


def test_theorem_4_2_unnormalized_flip_closed_form():
    r = theorem_4_2("unnormalized", "flip", n_grid=4)
    assert r["matches_paper_threshold"] is True
    assert r["eta_star_at_0_2"] == "2/7" and r["eta_star_at_0_25"] == "1/4"
    assert sp.simplify(sp.sympify(r["eta_star"], locals={"S": S}) - (1 - S) / (2 * (2 * S + 1))) == 0
    assert [g["expression"] for g in r["grid"]] == [None, "1/4", "1/8", "1/20"]  # S = 0: η* = 1/2, outside


def test_fisher_flip_has_no_crossover_and_it_is_proved():
    r = theorem_4_2("fisher", "flip", n_grid=4)
    assert r["fisher_identity"] is True and r["no_crossover_proved"] is True
    assert all(g["crossover"] is None for g in r["grid"])


@settings(max_examples=15)
@given(st.integers(1, 99))
def test_unnormalized_crossover_matches_the_paper_condition(k):
    s = k / 100
    c = crossover("unnormalized", "flip", s)
    bound = (1 - s) * (5 * s + 1) / (4 * (2 * s + 1) ** 2)
    assert c.method == "exact" and c.value * (1 - c.value) == pytest.approx(bound, rel=1e-9)


def test_a_wrong_crossover_formula_would_be_caught():
    wrong = 0.25  # "above 25 %" read as a universal threshold
    assert abs(crossover("unnormalized", "flip", 0.2).value - wrong) > 0.03


def test_appendix_b3_input_noise():
    r = appendix_b3("fisher", n_grid=4)
    assert r["added_variance"] == {"mono": ["lambda**2"] * 2, "poly": ["2*lambda**2"] * 2}
    assert r["ratio_limit_lambda_inf"] == "2" and all(g["reversal"] is None for g in r["grid"])
    r = appendix_b3("unnormalized", weights=(2, 1), n_grid=2)
    assert r["added_variance"]["poly"] == ["5*lambda**2"] * 2
