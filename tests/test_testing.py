"""monotheory.testing: strategies stay valid, assert_agrees keeps its false-alarm budget, profiles load."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st

from monotheory.config import check_nonnegative, check_sparsity
from monotheory.errors import ConfigError
from monotheory.noise import transition_matrix
from monotheory.testing import (
    PROFILES,
    assert_agrees,
    data_model_params,
    noise_rates,
    rationals,
    sigmas,
    sparsities,
    weights,
    z_value,
)
from monotheory.testing.strategies import informative_limit
from monotheory.theory import moments, monte_carlo_moments
from monotheory.theory.datamodel import check_weights, transition_rates

REPO = Path(__file__).resolve().parents[1]


def _valid(p: dict, degenerate: bool) -> None:
    """Every parameter passes the library's own validators, and the defaults keep their documented ranges."""
    s, eta, model = p["sparsity"], p["noise_rate"], p["noise_model"]
    check_sparsity("sparsity", s)
    transition_rates(model, eta)
    check_weights(p["weights"])
    check_nonnegative("sigma", p["sigma"])
    if not degenerate:
        assert 0 <= s <= 0.95 and 0 <= eta <= 0.9 * informative_limit(model)
        assert all(0.1 <= w <= 10 for w in p["weights"]) and p["sigma"] <= 3


# 10,000 draws of each strategy (weights and sigmas: 5,000 pairs), as 50 lists (one Hypothesis example per
# list keeps it to seconds)
N_LISTS, LIST_SIZE = 50, 200
FAST = settings(max_examples=N_LISTS, derandomize=True, database=None, phases=[Phase.explicit, Phase.generate],
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.large_base_example])


def _lists(strategy, size=LIST_SIZE):
    return st.lists(strategy, min_size=size, max_size=size)


def _kw(data):  # floats here: the rationals (exact=True) are checked below, 1,000 parameter sets
    return dict(degenerate=data.draw(st.booleans()))


@FAST
@given(st.data())
def test_10000_sparsities_are_valid(data):
    kw = _kw(data)
    for s in data.draw(_lists(sparsities(**kw))):
        check_sparsity("sparsity", s)
        assert kw["degenerate"] or 0 <= float(s) <= 0.95


@FAST
@given(st.data())
def test_10000_noise_rates_are_valid_for_their_model(data):
    kw, model = _kw(data), data.draw(st.sampled_from(["flip", "one_sided", "uniform"]))
    for eta in data.draw(_lists(noise_rates(model, **kw))):
        transition_rates(model, eta)
        assert kw["degenerate"] or 0 <= float(eta) <= 0.9 * informative_limit(model)


@FAST
@given(st.data())
def test_10000_noise_rates_are_valid_for_c_classes(data):
    c, model = data.draw(st.integers(2, 10)), data.draw(st.sampled_from(["flip", "uniform"]))
    for eta in data.draw(_lists(noise_rates(model, c))):
        t = transition_matrix(c, eta, model)  # monotheory.noise's validator for C classes
        assert eta <= 0.9 * informative_limit(model, c) and np.all(np.diag(t) > t[0, 1])  # clean label likeliest


@FAST
@given(st.data())
def test_10000_weights_and_sigmas_are_valid(data):
    kw = _kw(data)
    for w, sigma in data.draw(_lists(st.tuples(weights(**kw), sigmas(**kw)), LIST_SIZE // 2)):
        check_weights(w)
        check_nonnegative("sigma", sigma)
        assert kw["degenerate"] or all(0.1 <= float(v) <= 10 for v in w) and float(sigma) <= 3


@FAST
@given(st.data())
def test_data_model_params_are_valid(data):
    kw = _kw(data)
    for p in data.draw(_lists(data_model_params(**kw), 20)):  # the composite: 1,000 in all
        _valid({k: (tuple(map(float, v)) if k == "weights" else float(v) if isinstance(v, sp.Basic) else v)
                for k, v in p.items()}, kw["degenerate"])


@settings(max_examples=20, derandomize=True, database=None, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(data_model_params(exact=True), min_size=10, max_size=10))
def test_exact_parameters_are_rationals_in_range(ps):
    for p in ps:
        assert isinstance(p["sparsity"], sp.Rational) and isinstance(p["noise_rate"], sp.Rational)
        assert all(isinstance(w, sp.Rational) for w in p["weights"])
        _valid({k: (tuple(map(float, v)) if k == "weights" else float(v) if isinstance(v, sp.Basic) else v)
                for k, v in p.items()}, degenerate=False)


def test_degenerate_ranges_reach_the_corners():
    quick = settings(database=None, max_examples=2000)
    assert 0.999 < find(sparsities(degenerate=True), lambda s: s > 0.999, settings=quick) < 1
    assert 0.5 < find(noise_rates("flip", degenerate=True), lambda e: e > 0.5, settings=quick) <= 1
    assert find(sparsities(), lambda s: s >= 0.95, settings=quick) == 0.95  # the default's documented end


@pytest.mark.parametrize("call, match", [
    (lambda: sparsities(0.5, 1.2), "not inside"), (lambda: noise_rates("bogus"), "noise_model = 'bogus'"),
    (lambda: noise_rates("one_sided", 3), "more than two classes"), (lambda: weights(0, 1), "positive"),
    (lambda: sigmas(-1), "non-negative"), (lambda: rationals(1, 0), "above"),
])
def test_strategy_arguments_are_checked(call, match):
    with pytest.raises(ConfigError, match=match):
        call()


def test_assert_agrees_budget_and_message():
    assert z_value(1, 0.05) == pytest.approx(1.959964, abs=1e-6)
    assert z_value(10, 1e-3) == pytest.approx(3.8906, abs=1e-4)  # Bonferroni: α/(2·10) per side
    assert_agrees(1.0, 1.0 + 3.2e-3, 1e-3)              # |z| = 3.2 < 3.29 at α = 1e-3
    assert_agrees(1.0, 1.0 + 3.4e-3, 1e-3, n_tests=2)   # 3.4 < 3.48: two tests share the budget
    with pytest.raises(AssertionError) as e:
        assert_agrees(1.0, 1.0 + 3.4e-3, 1e-3)          # 3.4 > 3.29 for one test
    msg = str(e.value)
    assert all(t in msg for t in ("exact 1", "estimate 1.0034", "SE 0.001", "|z| = 3.4", "z = 3.29", "0.001 over 1"))
    for bad in (float("nan"), float("inf")):
        with pytest.raises(AssertionError, match="NaN"):
            assert_agrees(bad, 1.0, 0.1)
        with pytest.raises(AssertionError, match="NaN"):
            assert_agrees(1.0, 1.0, bad)
    with pytest.raises(AssertionError, match=r"v\[1\] disagrees"):
        assert_agrees([1.0, 2.0], [1.0, 2.5], [0.01, 0.01], name="v")
    with pytest.raises(ConfigError, match="n_tests"):
        assert_agrees([1.0, 2.0], [1.0, 2.0], 0.1, n_tests=1)


def test_assert_agrees_passes_the_right_closed_form_and_fails_a_wrong_one():
    """μ1(mono) = (S + 2)/(3(S + 1)) with ties dropped; a slip (S + 1)/(3(S + 1)) = 1/3 must be caught."""
    s, keys = 0.3, ("mu1", "var0")
    mc = monte_carlo_moments("mono", s, 400_000, 11)
    right = {"mu1": (s + 2) / (3 * (s + 1)), "var0": moments("mono", s)["var0"]}
    for k in keys:
        assert_agrees(right[k], *mc[k], n_tests=len(keys), name=k)
    wrong = {"mu1": 1 / 3, "var0": (1 - s) * (5 * s + 2) / (18 * (s + 1) ** 2)}  # typo in σ0²'s table entry
    for k in keys:
        with pytest.raises(AssertionError, match=k):
            assert_agrees(wrong[k], *mc[k], n_tests=len(keys), name=k)


def test_profiles_are_registered_and_ci_is_derandomised():
    assert settings.get_profile("ci").derandomize and not settings.get_profile("explore").derandomize
    assert set(PROFILES) >= {"ci", "explore"}
    if os.environ.get("HYPOTHESIS_PROFILE", "ci") == "ci":
        assert settings.default.derandomize  # the conftest uses the plugin, which loaded "ci"


def _python(code: str, **env):
    full = dict(os.environ, PYTHONPATH=str(REPO), **env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full, timeout=120)


def test_import_without_hypothesis_is_one_clear_error_and_no_torch():
    r = _python("import sys; sys.modules['hypothesis'] = None; import monotheory.testing")
    assert r.returncode != 0 and "monotheory.testing needs Hypothesis" in r.stderr and "pip install" in r.stderr
    r = _python("import sys, monotheory.testing, monotheory.pytest_plugin; print('torch' in sys.modules)")
    assert r.returncode == 0 and r.stdout.strip() == "False", r.stderr
    r = _python("import sys; sys.modules['hypothesis'] = None; import monotheory.pytest_plugin as p; "
                "print(p.register_profiles)")  # installed without Hypothesis, the plugin stays inert
    assert r.returncode == 0 and r.stdout.strip() == "None", r.stderr
