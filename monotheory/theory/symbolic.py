"""Exact conditional moments of ν_mono and ν_poly, derived by integration in SymPy.

Conventions as in :mod:`monotheory.theory.datamodel` (S = P(feature is zero); y = 1 iff x1 > x2; two
features). The moments are derived, not typed in: E[ν^k · 1{y=c}] is integrated piecewise over the four
zero/non-zero cases of (x1, x2), and the all-zero tie is given to the classes by ``tie_rule``. The table of
PAPER.md §3 is then a test (``tests/theory/test_symbolic.py``).

Dictionaries of moments use the keys ``pi0, pi1`` (class priors among the kept samples), ``mu0, mu1``
(conditional means), ``delta_mu`` (μ1 − μ0), ``var0, var1`` (conditional variances).
"""

from __future__ import annotations

import functools

import numpy as np
import sympy as sp

from monotheory.config import check_choice, check_probability, check_range, check_sparsity
from monotheory.errors import ConfigError
from monotheory.noise import MAX_SIGMA as NOISE_MAX_SIGMA
from monotheory.theory import registry
from monotheory.theory.datamodel import REGIMES, TIE_RULES, check_weights

S = sp.Symbol("S", nonnegative=True)
w1, w2 = sp.symbols("w1 w2", positive=True)
lam = sp.Symbol("lambda", nonnegative=True)
eta = sp.Symbol("eta", nonnegative=True)
SYMBOLIC = "symbolic"
KEYS = ("pi0", "pi1", "mu0", "mu1", "delta_mu", "var0", "var1")
CRITERIA = registry.BUILTIN_CRITERIA  # the paper's; users add more with registry.register_criterion
_u, _v = sp.symbols("u v", nonnegative=True)


def _feature_expr(regime: str, x1, x2):
    return x1 if regime == "mono" else w1 * x1 - w2 * x2


@functools.cache
def _clean_moments(regime: str, tie_rule: str) -> dict:
    """Moments in S, w1, w2 (ties by ``tie_rule``), by integration over the four cases."""
    check_choice("regime", regime, REGIMES)
    check_choice("tie_rule", tie_rule, TIE_RULES)
    p = 1 - S  # probability that a feature is non-zero
    tie_share = {"drop": (0, 0), "class0": (1, 0), "class1": (0, 1),
                 "random": (sp.Rational(1, 2), sp.Rational(1, 2))}[tie_rule]
    raw = {}  # raw[(c, k)] = E[ν^k · 1{y = c}] over all draws
    for k in range(3):
        f = _feature_expr(regime, _u, _v) ** k
        both = p**2  # x1 = u > 0 and x2 = v > 0 (density 1 on the unit square): y = 1 iff u > v
        m1 = both * sp.integrate(f, (_v, 0, _u), (_u, 0, 1))
        m0 = both * sp.integrate(f, (_v, _u, 1), (_u, 0, 1))
        m1 += p * S * sp.integrate(f.subs(_v, 0), (_u, 0, 1))  # x1 > 0, x2 = 0: y = 1
        m0 += S * p * sp.integrate(f.subs(_u, 0), (_v, 0, 1))  # x1 = 0, x2 > 0: y = 0
        tie = S**2 * f.subs({_u: 0, _v: 0})  # x1 = x2 = 0: the tie
        raw[(0, k)] = m0 + tie_share[0] * tie
        raw[(1, k)] = m1 + tie_share[1] * tie
    kept = raw[(0, 0)] + raw[(1, 0)]
    out = {"pi0": raw[(0, 0)] / kept, "pi1": raw[(1, 0)] / kept}
    for c in (0, 1):
        out[f"mu{c}"] = raw[(c, 1)] / raw[(c, 0)]
        out[f"var{c}"] = raw[(c, 2)] / raw[(c, 0)] - out[f"mu{c}"] ** 2
    out["delta_mu"] = out["mu1"] - out["mu0"]
    return {key: sp.factor(sp.cancel(out[key])) for key in KEYS}


def input_noise_variance(regime: str, sigma):
    """Variance that N(0, λ²) on each input adds to the feature: λ² (mono), (w1² + w2²)·λ² (poly).

    Exact because the noise is independent of x (and of y, computed from the clean x): the means are unchanged.
    """
    return sigma**2 if regime == "mono" else (w1**2 + w2**2) * sigma**2


def mix_moments(m: dict, p10, p01) -> dict:
    """Moments given the NOISY label, from the clean moments ``m`` and the flip probabilities
    ``p10`` = P(ỹ=0 | y=1), ``p01`` = P(ỹ=1 | y=0). Works on floats, arrays and SymPy expressions alike.

    Each noisy class is a mixture of the two clean classes, so its variance gains r(1 − r)·Δμ² (law of
    total variance, r = share of the majority component).
    """
    pi0, pi1, mu0, mu1, v0, v1 = (m[k] for k in ("pi0", "pi1", "mu0", "mu1", "var0", "var1"))
    d = mu1 - mu0
    q1 = pi1 * (1 - p10) + pi0 * p01
    q0 = pi1 * p10 + pi0 * (1 - p01)
    r1 = pi1 * (1 - p10) / q1  # share of clean class 1 in noisy class 1
    r0 = pi0 * (1 - p01) / q0  # share of clean class 0 in noisy class 0
    out = {"pi0": q0, "pi1": q1,
           "mu1": r1 * mu1 + (1 - r1) * mu0, "mu0": r0 * mu0 + (1 - r0) * mu1,
           "var1": r1 * v1 + (1 - r1) * v0 + r1 * (1 - r1) * d**2,
           "var0": r0 * v0 + (1 - r0) * v1 + r0 * (1 - r0) * d**2}
    out["delta_mu"] = out["mu1"] - out["mu0"]
    return out


def exact(value) -> sp.Rational:
    """A rational that is the same float as ``value``: 0.2 → 1/5, 0.7071067811865476 → a rational.

    ``nsimplify`` is tried first for short decimals (0.2 → 1/5 rather than 3602879701896397/18014398509481984),
    but its result is kept only if it is rational and rounds to the same float: an irrational one (√2/2)
    would make the polynomial root finding of :mod:`monotheory.theory.separation` leave the rationals.

    >>> exact(0.2), exact(0.5)
    (1/5, 1/2)
    """
    r = sp.nsimplify(value, rational=True)
    return r if r.is_Rational and float(r) == float(value) else sp.Rational(value)


def _sym(value, symbol):
    return symbol if value == SYMBOLIC else exact(value)


def symbolic_moments(regime: str = "mono", weights=(1, 1), tie_rule: str = "drop", sigma=None,
                     noise_model: str | None = None, noise_rate=SYMBOLIC, sparsity=None) -> dict:
    """The moments (keys :data:`KEYS`) as SymPy expressions in ``S``.

    ``weights``: a pair (w1, w2) of numbers (made exact rationals with :func:`exact`) or ``"symbolic"`` to keep the
    symbols ``w1, w2``. ``sigma``: None (no input noise), a number, or ``"symbolic"`` (symbol λ).
    ``noise_model``: None (clean labels) or one of ``flip, one_sided, uniform``; ``noise_rate`` a number or
    ``"symbolic"`` (symbol η). Moments are conditional on the (noisy) label. ``sparsity``: None keeps S
    symbolic; a number substitutes S exactly (:func:`exact`) before the noise is mixed in, which is faster.
    Results are cached (the arguments must be hashable).

    The closed forms of PAPER.md §3 (w = (1, 1), ties dropped):

    >>> symbolic_moments("mono")["mu1"]
    (S + 2)/(3*(S + 1))
    >>> symbolic_moments("mono")["var0"]
    -(S - 1)*(5*S + 1)/(18*(S + 1)**2)
    >>> symbolic_moments("poly")["delta_mu"]
    2*(2*S + 1)/(3*(S + 1))
    >>> symbolic_moments("poly")["var1"]
    (S**2 + 4*S + 1)/(18*(S + 1)**2)
    """
    if not isinstance(weights, str):
        weights = tuple(weights)
    return dict(_symbolic_moments(regime, weights, tie_rule, sigma, noise_model, noise_rate, sparsity))


@functools.cache
def _symbolic_moments(regime, weights, tie_rule, sigma, noise_model, noise_rate, sparsity) -> dict:
    m = dict(_clean_moments(regime, tie_rule))
    if sparsity is not None:
        s = exact(check_sparsity("sparsity", sparsity))
        m = {k: v.subs(S, s) for k, v in m.items()}
    if weights != SYMBOLIC:
        check_weights(weights)
        m = {k: sp.factor(v.subs({w1: exact(weights[0]), w2: exact(weights[1])}))
             for k, v in m.items()}
    if sigma is not None:
        extra = input_noise_variance(regime, _sym(sigma, lam))
        if weights != SYMBOLIC:
            extra = extra.subs({w1: exact(weights[0]), w2: exact(weights[1])})
        m["var0"] = m["var0"] + extra
        m["var1"] = m["var1"] + extra
    if noise_model is not None:
        m = {k: sp.factor(sp.cancel(v)) for k, v in noisy_moments(noise_model, m, _sym(noise_rate, eta)).items()}
    return m


def noisy_moments(noise_model: str, m: dict, noise_rate) -> dict:
    """Moments given the noisy label under a registered noise model (:mod:`monotheory.theory.registry`):
    its moment transition, or :func:`mix_moments` with its label rates. Floats, arrays or SymPy alike."""
    model = registry.get_noise_model(noise_model)
    if model.moments is not None:
        return dict(model.moments(m, noise_rate))
    if model.rates is None:
        raise ConfigError(f"noise_model = {noise_model!r} has only a sampler; exact moments need rates or a "
                          "moment transition")
    p10, p01 = model.rates(noise_rate)
    return mix_moments(m, p10, p01)


def symbolic_criterion(criterion: str, m: dict):
    """A criterion with a moment formula (fisher Δμ²/(σ0² + σ1²), unnormalized Δμ/(σ0² + σ1²), or one
    registered in :mod:`monotheory.theory.registry`) of a moment dict (SymPy or floats)."""
    check_choice("criterion", criterion, registry.moment_criteria())
    return registry.evaluate(criterion, m)


@functools.cache
def _numeric(regime: str, tie_rule: str):
    m = _clean_moments(regime, tie_rule)
    return {k: sp.lambdify((S, w1, w2), v, "numpy") for k, v in m.items()}


# λ² must stay finite in double precision (1e308 overflowed); far beyond 1e6 every separability is 0 anyway. The
# bound is the one every layer shares (noise.MAX_SIGMA), so σ has the same limits in every command.
MAX_SIGMA = NOISE_MAX_SIGMA


def moments(regime: str, sparsity, weights=(1.0, 1.0), tie_rule: str = "drop", noise_rate: float = 0.0,
            noise_model: str = "flip", sigma: float = 0.0) -> dict:
    """The exact moments as floats (arrays if ``sparsity`` is an array), conditional on the noisy label.

    ``sparsity`` = S = P(feature is zero); label noise ``noise_model`` at rate η = ``noise_rate``; input noise
    N(0, λ²) with λ = ``sigma``. Evaluates the SymPy closed forms (compiled once per feature/tie rule).

    >>> round(moments("mono", 0.2)["delta_mu"], 6)  # (2S + 1)/(3(S + 1)) = 7/18
    0.388889
    >>> round(moments("poly", 0.2, noise_rate=0.3)["delta_mu"], 6)  # (1 − 2η)·14/18
    0.311111
    """
    try:  # complex or text input: one ConfigError, not numpy's TypeError (issue 11)
        if np.iscomplexobj(sparsity):
            raise TypeError
        s = np.asarray(sparsity, dtype=float)
    except (TypeError, ValueError):
        raise ConfigError(f"sparsity = {sparsity!r} is not a real number (or array of them) in [0, 1)") from None
    if s.ndim == 0:
        check_sparsity("sparsity", float(s))
    elif np.any(~((s >= 0) & (s < 1))):  # NaN included
        check_sparsity("sparsity", float(s[~((s >= 0) & (s < 1))][0]))
    a, b = check_weights(weights)
    lam_ = check_range("sigma", sigma, 0, MAX_SIGMA)
    f = _numeric(regime, tie_rule)
    m = {k: np.asarray(fn(s, a, b), dtype=float) * np.ones_like(s) for k, fn in f.items()}
    extra = lam_**2 * (1.0 if regime == "mono" else a * a + b * b)
    m["var0"], m["var1"] = m["var0"] + extra, m["var1"] + extra
    rate = check_probability("noise_rate", noise_rate)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = noisy_moments(noise_model, m, rate)
    return {k: (float(v) if np.ndim(v) == 0 else v) for k, v in out.items()}


def criterion_value(criterion: str, m: dict):
    """A moment criterion (built-in or registered) from a float moment dict (NaN where a class is empty)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return symbolic_criterion(criterion, m)


def check_finite_on_valid_range(name: str, function) -> None:
    """A new criterion (:func:`monotheory.theory.registry.register_criterion`), evaluated on the exact moments of both features over S ∈ [0, 0.95], η ∈ [0, 0.45] (flip), w = (1, 1):
    where the classes are distinct, a criterion must be finite."""
    s = np.linspace(0.0, 0.95, 20)
    for regime in ("mono", "poly"):
        for rate in (0.0, 0.15, 0.3, 0.45):
            m = moments(regime, s, noise_rate=rate)
            try:
                with np.errstate(all="ignore"):
                    v = np.asarray(function(m), dtype=float)
            except Exception as e:  # noqa: BLE001 - reported as one sentence
                raise ConfigError(f"criterion {name!r} fails on float moments ({type(e).__name__}: {e}); it must "
                                  "accept floats and NumPy arrays (use registry.sqrt, not math.sqrt)") from None
            v = np.broadcast_to(v, s.shape)
            bad = ~np.isfinite(v)
            if bad.any():
                raise ConfigError(
                    f"criterion {name!r} = {v[bad][0]} is not finite at S = {s[bad][0]:g}, noise_rate = {rate:g} "
                    f"(flip), regime {regime}; a criterion must be finite for S in [0, 1) and η < 1/2")


# what the registry (a leaf) cannot do itself: check new criteria on these moments, forget cached moments of a
# noise model whose name changes meaning
registry.add_criterion_check(check_finite_on_valid_range)
registry.add_noise_model_listener(_symbolic_moments.cache_clear)
