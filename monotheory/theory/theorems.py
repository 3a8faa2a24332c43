"""The paper's theory statements, each checked symbolically (SymPy) and numerically.

Conventions as in :mod:`monotheory.theory.datamodel` (S = P(feature is zero) ∈ [0, 1); y = 1 iff x1 > x2).

* :func:`theorem_4_1` — conditional means (and the reconstructed variance and Fisher comparisons) of
  ν_poly = w1·x1 − w2·x2 vs ν_mono = x1. Each inequality is proved where SymPy can (``solveset`` of the
  failing set over S ∈ [0, 1)), reported as the set of S where it holds otherwise, and evaluated on a grid.
* :func:`theorem_4_2` — label noise: the unnormalised criterion's crossover η*(S) in closed form, the Fisher
  identity J(η) = (1 − 2η)² / (1/J0 + 2η(1 − η)), and exact crossovers on a grid of rational S.
* :func:`appendix_b3` — input noise: added variances λ² vs (w1² + w2²)λ², the λ → ∞ limit of J_poly/J_mono,
  and exact reversals on a grid of S.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import sympy as sp

from monotheory.config import check_choice
from monotheory.theory import symbolic as sy
from monotheory.theory.datamodel import NOISE_MODELS
from monotheory.theory.separation import crossover, input_noise_reversal

DOMAIN = sp.Interval.Ropen(0, 1)  # S ∈ [0, 1)
_REL = {">": sp.StrictGreaterThan, ">=": sp.GreaterThan, "==": sp.Eq}


@dataclasses.dataclass
class InequalityCheck:
    """One inequality ``difference <relation> 0`` for S ∈ [0, 1).

    ``proved``: True/False from SymPy over the whole domain, None if it could not decide (e.g. symbolic
    weights); ``holds_on``: the set of S where it holds (text); ``grid_fraction``: share of the numeric grid
    where it holds (over S, and w1, w2 ∈ (0, 3] when the weights are symbolic); ``grid_worst``: the smallest
    margin found (for ``==``: the largest |difference|).
    """

    name: str
    statement: str
    source: str
    relation: str
    difference: str
    proved: bool | None
    holds_on: str
    grid_fraction: float
    grid_worst: float

    @property
    def holds(self) -> bool:
        return bool(self.proved) if self.proved is not None else self.grid_fraction == 1.0


def check_sign(difference, relation: str, n_grid: int = 2001) -> tuple[bool | None, str, float, float]:
    """Prove ``difference <relation> 0`` over S ∈ [0, 1) with SymPy; also evaluate it on a grid."""
    expr = sp.factor(sp.cancel(difference))
    free = expr.free_symbols - {sy.S}
    proved, holds_on = None, "not decided symbolically (free symbols: " + ", ".join(sorted(map(str, free))) + ")"
    if not free:
        where = sp.solveset(_REL[relation](expr, 0), sy.S, DOMAIN)
        proved, holds_on = where == DOMAIN, str(where)
    syms = [sy.S] + sorted(free, key=str)
    fn = sp.lambdify(syms, expr, "numpy")
    axes = [np.linspace(0, 1, n_grid, endpoint=False)] + [np.linspace(0.1, 3, 30)] * len(free)
    vals = np.broadcast_to(np.asarray(fn(*np.meshgrid(*axes, indexing="ij")), float),
                           tuple(len(a) for a in axes))
    tol = 1e-12
    if relation == "==":
        ok, worst = np.abs(vals) <= tol, float(np.abs(vals).max())
    else:
        ok, worst = (vals > tol) if relation == ">" else (vals >= -tol), float(vals.min())
    return proved, holds_on, float(ok.mean()), worst


def theorem_4_1(weights=(1, 1), tie_rule: str = "drop", n_grid: int = 2001) -> list[InequalityCheck]:
    """Check Theorem 4.1 (and its reconstructed variance/Fisher parts) for ν_poly with ``weights``.

    ``weights``: numbers (made exact) or ``"symbolic"`` for general w1, w2 > 0 (then ``proved`` is None and
    the grid spans w1, w2 ∈ (0, 3]). Returns one :class:`InequalityCheck` per statement.
    """
    mono = sy.symbolic_moments("mono", tie_rule=tie_rule)
    poly = sy.symbolic_moments("poly", weights=weights, tie_rule=tie_rule)
    paper, recon = "Theorem 4.1 (paper's statement)", "reconstructed (the paper's text is cut off)"
    items = [
        ("mu0", "μ0(ν_poly) < μ0(ν_mono)", paper, mono["mu0"] - poly["mu0"], ">"),
        ("mu1", "μ1(ν_poly) < μ1(ν_mono)", paper, mono["mu1"] - poly["mu1"], ">"),
        ("delta_mu", "Δμ(ν_poly) > Δμ(ν_mono)", paper, poly["delta_mu"] - mono["delta_mu"], ">"),
        ("var1", "σ1²(ν_poly) = σ1²(ν_mono)", recon, poly["var1"] - mono["var1"], "=="),
        ("var0", "σ0²(ν_poly) ≥ σ0²(ν_mono)", recon, poly["var0"] - mono["var0"], ">="),
        ("fisher", "J(ν_poly) > J(ν_mono), J = Δμ²/(σ0²+σ1²)", "claim C6 (consequence)",
         sy.symbolic_criterion("fisher", poly) - sy.symbolic_criterion("fisher", mono), ">"),
    ]
    out = []
    for name, statement, source, diff, rel in items:
        proved, holds_on, frac, worst = check_sign(diff, rel, n_grid)
        out.append(InequalityCheck(name, statement, source, rel, str(sp.factor(diff)), proved, holds_on,
                                   frac, worst))
    return out


def _rational_grid(n: int) -> list[sp.Rational]:
    return [sp.Rational(k, n) for k in range(n)]


def theorem_4_2(criterion: str = "unnormalized", noise_model: str = "flip", n_grid: int = 20) -> dict:
    """Label noise (Theorem 4.2, reconstructed), ties dropped, w = (1, 1).

    Always: exact crossovers (η in [0, 1/2), or [0, 1) for ``uniform``) at S = k/``n_grid``. For
    unnormalized + flip: the roots of the difference in η as closed forms in S, the first one η*(S), and
    whether η*(1 − η*) equals PAPER.md's threshold (1 − S)(5S + 1)/(4(2S + 1)²). For fisher + flip: whether
    J(η) = (1 − 2η)²/(1/J0 + 2η(1 − η)) holds identically (then J(η) increases with J0 and Theorem 4.1's
    J0 ordering rules out a crossover).
    """
    check_choice("criterion", criterion, sy.CRITERIA)
    check_choice("noise_model", noise_model, NOISE_MODELS)
    out: dict = {"criterion": criterion, "noise_model": noise_model, "grid": []}
    for s in _rational_grid(n_grid):
        c = crossover(criterion, noise_model, float(s))
        out["grid"].append({"S": str(s), "S_value": float(s), "crossover": c.value, "method": c.method, "expression": c.expression})
    if criterion == "unnormalized" and noise_model == "flip":
        diff = [sy.symbolic_criterion(criterion, sy.symbolic_moments(f, noise_model="flip")) for f in
                ("mono", "poly")]
        d = sp.factor(sp.together(diff[0] - diff[1]))
        roots = sorted(sp.solve(sp.fraction(d)[0], sy.eta), key=lambda r: float(r.subs(sy.S, sp.Rational(1, 5))))
        star = sp.factor(roots[0])
        paper = (1 - sy.S) * (5 * sy.S + 1) / (4 * (2 * sy.S + 1) ** 2)
        out.update(difference=str(d), roots=[str(sp.factor(r)) for r in roots], eta_star=str(star),
                   eta_star_at_0_2=str(star.subs(sy.S, sp.Rational(1, 5))),
                   eta_star_at_0_25=str(star.subs(sy.S, sp.Rational(1, 4))),
                   matches_paper_threshold=sp.simplify(star * (1 - star) - paper) == 0)
    if criterion == "fisher" and noise_model == "flip":
        ok = True
        for f in ("mono", "poly"):
            j0 = sy.symbolic_criterion("fisher", sy.symbolic_moments(f))
            jn = sy.symbolic_criterion("fisher", sy.symbolic_moments(f, noise_model="flip"))
            ok &= sp.simplify(jn - (1 - 2 * sy.eta) ** 2 / (1 / j0 + 2 * sy.eta * (1 - sy.eta))) == 0
        out["fisher_identity"] = bool(ok)
        out["no_crossover_proved"] = bool(ok) and bool(theorem_4_1()[-1].proved)
    return out


def appendix_b3(criterion: str = "fisher", weights=(1, 1), n_grid: int = 20) -> dict:
    """Input noise N(0, λ²) on each x_i (Appendix B.3), ties dropped.

    Reports the variance each feature gains (symbolically: λ² for mono, (w1² + w2²)λ² for poly, read off
    the SymPy moments), the λ → ∞ limit of the poly/mono criterion ratio (fisher/unnormalized), and exact
    reversals in λ ∈ [0, 3) at S = k/``n_grid``.
    """
    check_choice("criterion", criterion, sy.CRITERIA)
    out: dict = {"criterion": criterion, "weights": list(weights), "grid": []}
    added = {}
    for f in ("mono", "poly"):
        clean = sy.symbolic_moments(f, weights=weights)
        noisy = sy.symbolic_moments(f, weights=weights, sigma=sy.SYMBOLIC)
        added[f] = [str(sp.factor(noisy[k] - clean[k])) for k in ("var0", "var1")]
        if criterion != "threshold_error":
            out.setdefault("_crit", {})[f] = sy.symbolic_criterion(criterion, noisy)
    out["added_variance"] = added
    if criterion != "threshold_error":
        crit = out.pop("_crit")
        ratio = sp.simplify(crit["poly"] / crit["mono"])
        out["ratio_poly_over_mono"] = str(ratio)
        out["ratio_limit_lambda_inf"] = str(sp.limit(ratio, sy.lam, sp.oo))
    for s in _rational_grid(n_grid):
        c = input_noise_reversal(criterion, float(s), weights=weights)
        out["grid"].append({"S": str(s), "S_value": float(s), "reversal": c.value, "method": c.method})
    return out
