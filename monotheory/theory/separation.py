"""Separability criteria as functions of the noise, and the point where mono overtakes poly.

Conventions as in :mod:`monotheory.theory.datamodel`. Criteria (higher = more separable, except
``threshold_error`` where lower is better):

* ``fisher`` = Δμ² / (σ0² + σ1²);  ``unnormalized`` = Δμ / (σ0² + σ1²) — moments given the noisy label;
* ``threshold_error`` = clean-label error of the best threshold fitted on noisy labels
  (:mod:`monotheory.theory.distributions`, numerical).

Criteria and noise models registered in :mod:`monotheory.theory.registry` are handled alike.

A *crossover* is the smallest noise level in the search range where the score of mono (−error for
``threshold_error``) rises strictly above that of poly, having been below. For fisher/unnormalized it is
solved exactly (SymPy: real roots of the numerator of the difference, a polynomial in η or λ, with S and w
made rational); for ``threshold_error``, and for a registered criterion whose difference is not a rational
function of the noise level (e.g. one with square roots), it is located on a grid and refined with
``scipy.optimize.brentq`` (method ``numeric``).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import sympy as sp
from scipy.optimize import brentq

from monotheory.config import check_nonnegative, check_probability
from monotheory.errors import ConfigError
from monotheory.theory import registry
from monotheory.theory import symbolic as sy
from monotheory.theory.datamodel import check_weights
from monotheory.theory.distributions import threshold_errors

CRITERIA = sy.CRITERIA


def separability_curve(criterion: str, regime: str, sparsity: float, noise_rates, weights=(1.0, 1.0),
                       tie_rule: str = "drop", noise_model: str = "flip", sigma: float = 0.0) -> np.ndarray:
    """The criterion of ``regime`` at each label-noise rate η in ``noise_rates`` (exact; numerical grid
    for ``threshold_error``). ``sparsity`` = P(feature is zero). Any registered criterion and noise model."""
    crit = registry.get_criterion(criterion)
    registry.get_noise_model(noise_model)
    rates = np.atleast_1d(np.asarray(noise_rates, dtype=float))
    if crit.function is None:
        return threshold_errors(regime, sparsity, rates, weights, tie_rule, noise_model, sigma)["error"]
    for r in rates:
        check_probability("noise_rate", r)
    clean = sy.moments(regime, sparsity, weights, tie_rule, 0.0, "flip", sigma)
    with np.errstate(divide="ignore", invalid="ignore"):
        noisy = sy.noisy_moments(noise_model, clean, rates)
        return np.broadcast_to(np.asarray(sy.criterion_value(criterion, noisy), dtype=float), rates.shape).copy()


def separability(criterion: str, regime: str, sparsity: float, noise_rate: float = 0.0, **kw) -> float:
    """One value of :func:`separability_curve` (keywords: weights, tie_rule, noise_model, sigma)."""
    return float(separability_curve(criterion, regime, sparsity, [noise_rate], **kw)[0])


def score(criterion: str, value):
    """Higher = more separable: the criterion itself, or minus it where lower is better (``threshold_error``)."""
    return registry.score(criterion, value)


@dataclasses.dataclass
class Crossover:
    """Where mono overtakes poly: ``value`` (None if nowhere in ``search_range``), ``method`` (``exact``,
    ``numeric`` or ``none``), ``expression`` (the exact root, as text), ``note`` (e.g. who leads)."""

    value: float | None
    method: str
    variable: str
    search_range: tuple[float, float]
    expression: str | None = None
    note: str = ""

    def describe(self) -> str:
        lo, hi = self.search_range
        where = f"[{lo:g}, {hi:g})"
        if self.value is None:
            return f"none on {where}" + (f" ({self.note})" if self.note else "")
        short = self.expression and len(self.expression) <= 40  # long radicals stay in the JSON only
        expr = f" = {self.expression}" if short and self.method == "exact" else ""
        return f"{self.variable}* = {self.value:.6g}{expr} ({self.method})"


def _symbolic_noise(model) -> bool:
    """Whether a noise model's transition works on SymPy expressions (built-ins do; a sampler-only one not)."""
    f = model.moments or model.rates
    if f is None:
        raise ConfigError(f"noise_model = {model.name!r} has only a sampler; crossovers need rates or a "
                          "moment transition")
    try:
        out = model.rates(sy.eta) if model.moments is None else model.moments(
            {k: sp.Symbol(k, positive=True) for k in sy.KEYS}, sy.eta)
    except Exception:  # noqa: BLE001 - not SymPy-compatible: the numerical search is used instead
        return False
    vals = out.values() if isinstance(out, dict) else out
    return all(isinstance(sp.sympify(v), sp.Basic) for v in vals)


_TOL = 1e-12  # "mono ahead" needs a margin above rounding error (closed forms)
_TOL_NUMERIC = 1e-7  # … and above the error of the gridded/convolved threshold errors


def _first_overtake(diff, tol: float = _TOL):
    """Index i where diff[i] ≤ tol < diff[i+1] first happens (mono goes from not ahead to ahead)."""
    ahead = diff > tol
    hits = np.nonzero(~ahead[:-1] & ahead[1:])[0]
    return None if len(hits) == 0 else int(hits[0])


def _root_text(root, value: float) -> str | None:
    """The root as a closed form (radicals) when SymPy gives one that evaluates back to ``value``; else None."""
    text = sp.radsimp(root)
    if isinstance(text, sp.CRootOf) or abs(float(text) - value) > 1e-9 * max(1.0, abs(value)):
        return None
    return str(text)


def _exact(criterion, noise_model, sparsity, weights, tie_rule, noise_rate, sigma, variable, lo, hi):
    kw = dict(weights=tuple(sy.exact(w) for w in weights), tie_rule=tie_rule)
    if variable == "eta":
        kw.update(noise_model=noise_model, noise_rate=sy.SYMBOLIC, sigma=sigma or None)
        var = sy.eta
    else:
        kw.update(noise_model=noise_model, noise_rate=noise_rate, sigma=sy.SYMBOLIC)
        var = sy.lam
    crit = [sy.symbolic_criterion(criterion, sy.symbolic_moments(f, sparsity=sparsity, **kw))
            for f in ("mono", "poly")]
    sign = 1 if registry.get_criterion(criterion).higher_is_better else -1
    if not all(sp.sympify(c).is_rational_function(var) for c in crit):
        # e.g. square roots of the variances: no polynomial numerator, so search the exact curve numerically
        f = sp.lambdify(var, sign * (crit[0] - crit[1]), "numpy")

        def fun(z):
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.broadcast_to(np.asarray(f(z), dtype=float), np.shape(z))
        return _numeric(fun, variable, lo, hi, 201, _TOL)
    d = sp.factor(sp.together(sign * (crit[0] - crit[1])))
    d_num = sp.lambdify(var, d, "numpy")
    num, _ = sp.fraction(d)
    roots = [] if num.free_symbols.isdisjoint({var}) else sp.Poly(num, var).real_roots()
    roots = sorted({r for r in roots if lo <= float(r) < hi}, key=float)
    eps = 1e-9
    with np.errstate(divide="ignore", invalid="ignore"):
        for r in roots:
            x = float(r)
            before, after = d_num(max(x - eps, lo)), d_num(x + eps)
            if (x - eps < lo or before <= _TOL) and after > _TOL:
                return Crossover(x, "exact", variable, (lo, hi), _root_text(r, x))
        ahead_at_lo = float(d_num(lo)) > _TOL
    note = "mono is ahead from the start" if ahead_at_lo else "poly stays at least as separable"
    return Crossover(None, "none", variable, (lo, hi), note=note)


def _numeric(fun, variable, lo, hi, n_grid, tol: float = _TOL_NUMERIC):
    grid = np.linspace(lo, hi, n_grid, endpoint=False)
    diff = fun(grid)
    i = _first_overtake(diff, tol)
    if i is None:
        note = "mono is ahead from the start" if diff[0] > tol else "poly stays at least as separable"
        return Crossover(None, "none", variable, (lo, hi), note=note)
    x = brentq(lambda z: float(fun(np.array([z]))[0]) - tol, grid[i], grid[i + 1], xtol=1e-10)
    return Crossover(float(x), "numeric", variable, (lo, hi))


def crossover(criterion: str, noise_model: str, sparsity: float, weights=(1.0, 1.0), tie_rule: str = "drop",
              sigma: float = 0.0, upper: float | None = None, n_grid: int = 201) -> Crossover:
    """Label-noise rate η in [0, ``upper``) where mono overtakes poly under ``criterion``/``noise_model``.

    ``sparsity`` = P(feature is zero); ``sigma`` = λ of extra input noise held fixed. Exact (SymPy) for
    fisher/unnormalized, numerical (grid + brentq) for threshold_error. Default range: [0, 1/2) for ``flip``
    (a symmetric flip rate above 1/2 inverts the labels), [0, 1) for ``one_sided`` (only 1 → 0 flips: the
    labels never invert) and ``uniform`` (whose flip rate is η/2); a registered noise model's ``upper``.
    A registered criterion: exact when its SymPy difference is a rational function of η, else numerical on
    the exact curve (or on float moments if it is not SymPy-compatible).

    >>> crossover("unnormalized", "flip", 0.2).describe()
    'eta* = 0.285714 = 2/7 (exact)'
    >>> crossover("fisher", "flip", 0.2).describe()
    'none on [0, 0.5) (poly stays at least as separable)'
    """
    crit = registry.get_criterion(criterion)
    model = registry.get_noise_model(noise_model)
    check_weights(weights)
    if upper is None:
        upper = model.upper
    upper = check_probability("upper", upper)
    if crit.function is not None:
        if crit.symbolic and _symbolic_noise(model):
            return _exact(criterion, noise_model, sparsity, weights, tie_rule, 0.0, sigma, "eta", 0.0,
                          upper)

        def from_moments(rates):
            v = [registry.score(criterion, separability_curve(criterion, f, sparsity, rates, weights, tie_rule,
                                                              noise_model, sigma)) for f in ("mono", "poly")]
            return v[0] - v[1]
        return _numeric(from_moments, "eta", 0.0, upper, n_grid, _TOL)

    def fun(rates):
        e = [threshold_errors(f, sparsity, rates, weights, tie_rule, noise_model, sigma)["error"]
             for f in ("mono", "poly")]
        return e[1] - e[0]  # = score(mono) − score(poly)
    return _numeric(fun, "eta", 0.0, upper, n_grid)


def input_noise_reversal(criterion: str, sparsity: float, noise_rate: float = 0.0, noise_model: str = "flip",
                         weights=(1.0, 1.0), tie_rule: str = "drop", upper: float = 3.0,
                         n_grid: int = 61) -> Crossover:
    """Input-noise scale λ in [0, ``upper``) where mono overtakes poly (Appendix B.3), label noise fixed."""
    crit = registry.get_criterion(criterion)
    model = registry.get_noise_model(noise_model)
    upper = check_nonnegative("upper", upper)
    if crit.function is not None:
        if crit.symbolic and _symbolic_noise(model):
            return _exact(criterion, noise_model, sparsity, weights, tie_rule, noise_rate, None, "lambda", 0.0,
                          upper)

        def from_moments(lams):
            out = []
            for lam_ in lams:
                v = [registry.score(criterion, separability(criterion, f, sparsity, noise_rate, weights=weights,
                                                            tie_rule=tie_rule, noise_model=noise_model,
                                                            sigma=float(lam_))) for f in ("mono", "poly")]
                out.append(v[0] - v[1])
            return np.array(out)
        return _numeric(from_moments, "lambda", 0.0, upper, n_grid, _TOL)

    def fun(lams):
        out = []
        for lam_ in lams:
            e = [threshold_errors(f, sparsity, [noise_rate], weights, tie_rule, noise_model, lam_,
                                  n_grid=2001)["error"][0] for f in ("mono", "poly")]
            out.append(e[1] - e[0])
        return np.array(out)
    return _numeric(fun, "lambda", 0.0, upper, n_grid)
