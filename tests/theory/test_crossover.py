"""Distribution functions, the best-threshold criterion and crossover search, checked against Monte Carlo."""

import numpy as np
import pytest

from monotheory.testing import z_value
from monotheory.theory import (
    Crossover,
    SpikeUniform,
    class_cdfs,
    crossover,
    input_noise_reversal,
    monte_carlo,
    separability,
    separability_curve,
    threshold_errors,
)
from monotheory.theory.datamodel import feature


@pytest.mark.parametrize("feat, weights, tie_rule", [("mono", (1, 1), "drop"), ("poly", (1, 1), "class1"),
                                                      ("poly", (2.0, 0.5), "random"), ("poly", (0.5, 1.5), "drop")])
def test_class_cdfs_match_empirical(feat, weights, tie_rule):
    n = 400_000
    x, y = SpikeUniform(0.3, tie_rule=tie_rule).sample(n, 11)
    nu = feature(feat, x, weights)
    t = np.array([-1.2, -0.4, -1e-12, 0.0, 0.3, 0.8, 1.6])
    g0, g1 = class_cdfs(feat, 0.3, t, weights, tie_rule)
    z = z_value(2 * len(t) * 4)  # all comparisons of the four parametrised cases
    for c, g in ((0, g0), (1, g1)):
        emp = np.array([np.mean((nu <= tt) & (y == c)) for tt in t])
        se = np.sqrt(np.maximum(g * (1 - g), 1e-12) / len(y))
        assert np.all(np.abs(emp - g) <= z * se + 1e-12), (c, emp, g)


def test_cdf_totals_are_the_priors():
    g0, g1 = class_cdfs("poly", 0.4, [10.0], (1, 1), "class0")
    assert g0[0] == pytest.approx((1 - 0.4**2) / 2 + 0.4**2) and g0[0] + g1[0] == pytest.approx(1)


def test_threshold_error_known_values():
    # poly = x1 − x2 separates y exactly at 0; a symmetric flip never moves the best cut below η = 1/2
    r = threshold_errors("poly", 0.2, [0.0, 0.2, 0.45])
    assert np.allclose(r["error"], 0) and np.allclose(r["noisy_error"], [0.0, 0.2, 0.45])
    mono = threshold_errors("mono", 0.2, [0.0, 0.3, 0.7])
    assert mono["error"][0] == pytest.approx(mono["error"][1]) and mono["error"][2] > 0.5  # η > 1/2 inverts


def test_threshold_error_matches_monte_carlo():
    kw = dict(noise_rate=0.2, noise_model="one_sided", sigma=0.3, tie_rule="class1")
    mc = monte_carlo(0.3, 600_000, 4, threshold=True, **kw)
    z = z_value(2)
    for f in ("mono", "poly"):
        exact = separability("threshold_error", f, 0.3, **kw)
        est, se = mc[f]["threshold_error"]
        assert abs(est - exact) <= z * se, (f, est, se, exact)
    wrong = separability("threshold_error", "poly", 0.3, **dict(kw, noise_model="flip"))  # wrong noise model
    est, se = mc["poly"]["threshold_error"]
    assert abs(est - wrong) > z * se


def test_curves_and_scores():
    rates = np.linspace(0, 0.45, 10)
    f = separability_curve("fisher", "poly", 0.2, rates)
    j0 = f[0]
    assert np.allclose(f, (1 - 2 * rates) ** 2 / (1 / j0 + 2 * rates * (1 - rates)))


def test_crossover_methods():
    c = crossover("unnormalized", "flip", 0.2)
    assert c.method == "exact" and c.expression == "2/7" and c.value == pytest.approx(2 / 7)
    assert "2/7" in c.describe()
    none = crossover("fisher", "one_sided", 0.2)  # one-sided flips never invert the labels: η up to 1
    assert none.value is None and none.method == "none" and "none on [0, 1)" in none.describe()
    assert "none on [0, 0.5)" in crossover("fisher", "flip", 0.2).describe()
    assert crossover("unnormalized", "uniform", 0.2).value == pytest.approx(4 / 7)  # flip at η/2
    assert crossover("threshold_error", "flip", 0.2).method == "none"
    assert input_noise_reversal("unnormalized", 0.2).value is None


def test_numeric_crossover_finds_a_sign_change():
    from monotheory.theory.separation import _numeric

    c = _numeric(lambda x: x - 0.3, "eta", 0.0, 0.5, 51)
    assert isinstance(c, Crossover) and c.method == "numeric" and c.value == pytest.approx(0.3, abs=1e-6)
    assert _numeric(lambda x: x + 1, "eta", 0.0, 0.5, 11).note == "mono is ahead from the start"


def test_degenerate_noise_gives_no_spurious_crossover():
    # η = 1 one-sided: no noisy class 1 at all, both errors are 1/2 up to rounding — not a reversal
    assert input_noise_reversal("threshold_error", 0.2, noise_rate=1.0, noise_model="one_sided",
                                n_grid=11).value is None


def test_unnormalized_flip_crossover_does_not_depend_on_input_noise():
    # both noise terms cancel in the condition: Vp + 4λ² + 8pΔ² > 2(Vm + 2λ²) + 4pΔ²
    assert crossover("unnormalized", "flip", 0.2, sigma=0.4).value == pytest.approx(2 / 7)


def test_floats_whose_nsimplify_is_irrational_still_solve_exactly():
    """0.7071… nsimplifies to √2/2: the exact root finder must still get rational coefficients."""
    c = crossover("unnormalized", "flip", 0.7071067811865476)
    assert c.method in ("exact", "none")
    r = input_noise_reversal("unnormalized", 0.2, weights=(1.4142135623730951, 1.0))
    assert r.method == "exact" and r.value is not None


def test_reported_closed_form_evaluates_to_the_root():
    import sympy as sp

    for s, w in ((0.2, (1.0, 1.0)), (0.123456789, (1.1771624653900052, 1.5)), (0.25, (1.0, 1.0))):
        c = crossover("unnormalized", "flip", s, weights=w)
        assert c.value is not None
        if c.expression is not None:
            assert abs(float(sp.sympify(c.expression)) - c.value) < 1e-9
    assert crossover("unnormalized", "flip", 0.25).expression == "1/4"
