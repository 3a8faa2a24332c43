"""Hypothesis strategies for the parameters of the data model (conventions of :mod:`monotheory.theory`).

Defaults keep away from the degenerate corners, where a property is usually vacuous or numerically
meaningless; pass the range you want (or ``degenerate=True``) to include them:

=====================  ==============================  =======================================================
strategy               default range                   with ``degenerate=True``
=====================  ==============================  =======================================================
``sparsities``         S ∈ [0, 0.95]                   S ∈ [0, 1) (S → 1: almost every draw is the 0–0 tie)
``noise_rates``        η ∈ [0, 0.9·η_max]              η ∈ [0, 1] (any rate the validators accept)
``weights``            (w1, w2) ∈ [0.1, 10]²           (w1, w2) ∈ [1e-3, 1e3]²
``sigmas``             σ ∈ [0, 3]                      σ ∈ [0, 100]
=====================  ==============================  =======================================================

η_max is where the noisy label stops carrying information about the clean one: 1/2 for ``flip`` with two
classes, (C − 1)/C for ``flip`` with C classes (:mod:`monotheory.noise`), 1 for ``one_sided`` and ``uniform``,
a registered noise model's ``upper``. ``exact=True`` draws SymPy rationals (denominator ≤ ``max_denominator``)
for the exact paths; otherwise floats (no NaN, no infinity, no subnormals).
"""

from __future__ import annotations

import math
from fractions import Fraction

import sympy as sp
from hypothesis import strategies as st

from monotheory.config import check_number
from monotheory.errors import ConfigError
from monotheory.noise import LABEL_NOISE_MODELS, MAX_SIGMA, max_noise_rate
from monotheory.theory import registry
from monotheory.theory.datamodel import TIE_RULES


def _frac(x, name: str = "value") -> Fraction:
    if isinstance(x, Fraction):
        return x
    try:
        return Fraction(str(check_number(name, x)) if not isinstance(x, (int, sp.Rational)) else str(x))
    except ValueError:
        raise ConfigError(f"{name} = {x!r} is not a number") from None


def _bounds(lo, hi, names=("min_value", "max_value")) -> tuple[float, float]:
    """The ends of a range as finite numbers (a string or NaN is refused naming it)."""
    return check_number(names[0], lo), check_number(names[1], hi)


def rationals(min_value=0, max_value=1, *, max_denominator: int = 100, exclude_max: bool = False):
    """SymPy rationals p/q in [min_value, max_value] (``exclude_max``: [min, max)), 1 ≤ q ≤ ``max_denominator``;
    they shrink towards small denominators and towards ``min_value``."""
    lo, hi = _frac(min_value, "min_value"), _frac(max_value, "max_value")
    if not lo <= hi:
        raise ConfigError(f"rationals: min_value = {min_value} is above max_value = {max_value}")
    if isinstance(max_denominator, bool) or not isinstance(max_denominator, int) or max_denominator < 1:
        raise ConfigError(f"rationals: max_denominator = {max_denominator!r} must be an integer ≥ 1")

    def with_denominator(q: int):
        a, b = math.ceil(lo * q), math.floor(hi * q)
        if exclude_max and Fraction(b, q) == hi:
            b -= 1
        return st.integers(a, b).map(lambda p: sp.Rational(p, q)) if a <= b else st.nothing()

    return st.integers(1, max_denominator).flatmap(with_denominator)


def _numbers(lo, hi, exact: bool, max_denominator: int, exclude_max: bool = False):
    if exact:
        return rationals(lo, hi, max_denominator=max_denominator, exclude_max=exclude_max)
    return st.floats(float(lo), float(hi), exclude_max=exclude_max, allow_nan=False, allow_infinity=False,
                     allow_subnormal=False)


def sparsities(min_value=0.0, max_value=None, *, exact: bool = False, degenerate: bool = False,
               max_denominator: int = 100):
    """S = P(feature is zero): [0, 0.95] by default, [0, 1) with ``degenerate=True`` (S = 1 is never valid)."""
    hi = (1 if degenerate else 0.95) if max_value is None else max_value
    min_value, hi = _bounds(min_value, hi)
    if not 0 <= min_value <= hi <= 1:
        raise ConfigError(f"sparsities: the range [{min_value}, {hi}] is not inside [0, 1)")
    return _numbers(min_value, hi, exact, max_denominator, exclude_max=hi == 1)


def informative_limit(noise_model: str = "flip", n_classes: int = 2) -> float:
    """η_max: the rate at which the noisy label stops carrying information (see the module docstring)."""
    if n_classes == 2:
        return registry.get_noise_model(noise_model).upper
    if not isinstance(n_classes, int) or n_classes < 2:
        raise ConfigError(f"n_classes = {n_classes!r} must be an integer ≥ 2")
    if noise_model not in LABEL_NOISE_MODELS:
        raise ConfigError(f"noise_model = {noise_model!r} with n_classes = {n_classes}: only "
                          f"{', '.join(LABEL_NOISE_MODELS)} (monotheory.noise) have more than two classes")
    return max_noise_rate(noise_model, n_classes)


def noise_rates(noise_model: str = "flip", n_classes: int = 2, *, min_value=0.0, max_value=None,
                exact: bool = False, degenerate: bool = False, max_denominator: int = 100):
    """Label-noise rates η valid for ``noise_model`` with ``n_classes`` classes: [0, 0.9·η_max] by default,
    [0, 1] with ``degenerate=True``."""
    limit = informative_limit(noise_model, n_classes)
    hi = (1 if degenerate else 0.9 * limit) if max_value is None else max_value
    min_value, hi = _bounds(min_value, hi)
    if not 0 <= min_value <= hi <= 1:
        raise ConfigError(f"noise_rates: the range [{min_value}, {hi}] is not inside [0, 1]")
    return _numbers(min_value, hi, exact, max_denominator)


def noise_models(include=None):
    """Names of registered noise models with label rates (the exact path and the Monte Carlo both apply)."""
    names = [n for n in registry.noise_model_names() if registry.get_noise_model(n).rates is not None]
    if include is not None:
        names = [n for n in names if n in include]
    return st.sampled_from(names)


def weights(min_value=0.1, max_value=10.0, *, exact: bool = False, degenerate: bool = False,
            max_denominator: int = 100):
    """(w1, w2) of ν_poly = w1·x1 − w2·x2, both in [0.1, 10] ([1e-3, 1e3] with ``degenerate=True``)."""
    if degenerate:
        min_value, max_value = 1e-3, 1e3
    min_value, max_value = _bounds(min_value, max_value)
    if not 0 < min_value <= max_value < float("inf"):
        raise ConfigError(f"weights: the range [{min_value}, {max_value}] must be positive and finite")
    one = _numbers(min_value, max_value, exact, max_denominator)
    return st.tuples(one, one)


def sigmas(min_value=0.0, max_value=None, *, exact: bool = False, degenerate: bool = False,
           max_denominator: int = 100):
    """Input-noise scale σ (λ in the theory) in [0, 3] ([0, 100] with ``degenerate=True``)."""
    hi = (100.0 if degenerate else 3.0) if max_value is None else max_value
    min_value, hi = _bounds(min_value, hi)
    if not 0 <= min_value <= hi <= MAX_SIGMA:
        raise ConfigError(f"sigmas: the range [{min_value!r}, {hi!r}] must be non-negative and at most {MAX_SIGMA!r} "
                          "(the σ every layer accepts)")
    return _numbers(min_value, hi, exact, max_denominator)


@st.composite
def data_model_params(draw, *, exact: bool = False, degenerate: bool = False, noise_model=None,
                      tie_rules=TIE_RULES):
    """A dict ``sparsity, noise_model, noise_rate, weights, tie_rule, sigma`` for the theory's
    functions (keywords of :func:`monotheory.theory.monte_carlo`), each from the strategies above."""
    model = draw(st.just(noise_model) if noise_model else noise_models())
    kw = dict(exact=exact, degenerate=degenerate)
    return {"sparsity": draw(sparsities(**kw)), "noise_model": model, "noise_rate": draw(noise_rates(model, **kw)),
            "weights": draw(weights(**kw)), "tie_rule": draw(st.sampled_from(tie_rules)),
            "sigma": draw(sigmas(**kw))}
