"""Class-conditional distribution functions of ν_mono and ν_poly, and the best-threshold error.

Conventions as in :mod:`monotheory.theory.datamodel`. ``G_c(t) = P(ν ≤ t, y = c)`` (over the kept samples,
so G_0(∞) + G_1(∞) = 1) is exact: the part with both features non-zero is the integral over u = x1 of a
function that is piecewise linear in u, so the trapezoid rule over its kinks is exact.

``threshold_error``: the threshold classifier (a cut t and a direction) that minimises the error against
the NOISY labels is fitted on the population, then its error against the CLEAN labels is reported (lower =
more separable). With input noise N(0, λ²) the distribution functions are convolved with a Gaussian on a
uniform grid (numerical, error O(grid step²) at the optimum); the cut is chosen among grid points.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import fftconvolve
from scipy.special import ndtr

from monotheory.config import check_choice, check_nonnegative, check_sparsity
from monotheory.theory.datamodel import REGIMES, TIE_RULES, check_weights, transition_rates


def _pl_integral(fun, t: np.ndarray, breaks: list[np.ndarray]) -> np.ndarray:
    """∫_0^1 fun(u, t) du for each t, exact when fun is linear in u between the given kinks."""
    t = t[:, None]
    pts = [np.zeros_like(t), np.ones_like(t)] + [np.clip(b[:, None], 0, 1) for b in breaks]
    pts = np.sort(np.concatenate(pts, axis=1), axis=1)
    vals = fun(pts, t)
    return np.sum(np.diff(pts, axis=1) * (vals[:, 1:] + vals[:, :-1]) / 2, axis=1)


def class_cdfs(regime: str, sparsity: float, t, weights=(1.0, 1.0), tie_rule: str = "drop"):
    """``(G_0(t), G_1(t))`` with G_c(t) = P(ν ≤ t, y = c) among the kept samples (exact; see module doc)."""
    check_choice("regime", regime, REGIMES)
    check_choice("tie_rule", tie_rule, TIE_RULES)
    s = check_sparsity("sparsity", sparsity)
    a, b = check_weights(weights)
    t = np.atleast_1d(np.asarray(t, dtype=float))
    p = 1.0 - s
    step = (t >= 0).astype(float)  # the atom at ν = 0 (x1 = 0 for mono; the tie for both)
    if regime == "mono":
        c = np.clip(t, 0, 1)
        g1 = p * s * c + p * p * c * c / 2  # x2 = 0, or both > 0 with u > v (density 2u)
        g0 = s * p * step + p * p * (c - c * c / 2)  # x1 = 0 (atom), or both > 0 with u < v
    else:
        kink = t / (a - b) if a != b else np.full_like(t, 0.5)
        g1_tri = _pl_integral(lambda u, tt: u - np.clip((a * u - tt) / b, 0, u), t, [t / a, kink])
        g0_tri = _pl_integral(lambda u, tt: 1 - np.clip((a * u - tt) / b, u, 1), t, [kink, (t + b) / a])
        g1 = p * s * np.clip(t / a, 0, 1) + p * p * g1_tri
        g0 = s * p * np.clip(1 + t / b, 0, 1) + p * p * g0_tri
    share0, share1 = {"drop": (0, 0), "class0": (1, 0), "class1": (0, 1), "random": (0.5, 0.5)}[tie_rule]
    g0 = g0 + share0 * s * s * step
    g1 = g1 + share1 * s * s * step
    kept = 1.0 - s * s if tie_rule == "drop" else 1.0
    return g0 / kept, g1 / kept


def _support(regime: str, weights) -> tuple[float, float, float]:
    a, b = check_weights(weights)
    if regime == "mono":
        return 0.0, 1.0, 1.0
    return -b, a, float(np.hypot(a, b))  # last: scale of the input noise on this feature


def smoothed_cdfs(regime: str, sparsity: float, weights=(1.0, 1.0), tie_rule: str = "drop",
                  sigma: float = 0.0, n_grid: int = 4001):
    """``(t, G_0(t), G_1(t))`` on a grid, for ν plus its input noise (N(0, λ²) on each x_i).

    Without input noise, the grid also holds the point just below 0 so that an atom at 0 can fall on either
    side of the cut.
    """
    lam_ = check_nonnegative("sigma", sigma)
    lo, hi, scale = _support(regime, weights)
    sd = lam_ * scale
    pad = 6 * sd
    h = (hi - lo + 2 * pad) / n_grid
    grid = h * np.arange(np.floor((lo - pad) / h) - 2, np.ceil((hi + pad) / h) + 3)  # holds 0 exactly
    if sd == 0:
        grid = np.sort(np.append(grid, -1e-12))
        g0, g1 = class_cdfs(regime, sparsity, grid, weights, tie_rule)
        return grid, g0, g1
    g0, g1 = class_cdfs(regime, sparsity, grid, weights, tie_rule)
    at0 = class_cdfs(regime, sparsity, [0.0], weights, tie_rule)
    below0 = class_cdfs(regime, sparsity, [-1e-12], weights, tie_rule)
    a0, a1 = at0[0] - below0[0], at0[1] - below0[1]  # the atoms at ν = 0
    n = len(grid)
    zero = int(np.argmin(np.abs(grid)))
    # continuous mass of (x_{j-1}, x_j] sits at its midpoint x_j − h/2; the atom at 0 stays at 0
    kernel = ndtr((np.arange(-(n - 1), n) + 0.5) * h / sd)
    out = []
    for g, atom in ((g0, a0[0]), (g1, a1[0])):
        mass = np.diff(g, prepend=0.0)
        mass[zero] -= atom
        out.append(fftconvolve(mass, kernel)[n - 1: 2 * n - 1] + atom * ndtr(grid / sd))
    return grid, out[0], out[1]


def threshold_errors(regime: str, sparsity: float, noise_rates, weights=(1.0, 1.0), tie_rule: str = "drop",
                     noise_model: str = "flip", sigma: float = 0.0, n_grid: int = 4001) -> dict:
    """Clean-label error of the best threshold classifier fitted on noisy labels, for each noise rate.

    Returns arrays ``error`` (vs clean labels), ``noisy_error`` (vs noisy labels, the fitted objective),
    ``threshold`` and ``direction`` (+1: predict 1 when ν > t; −1: when ν ≤ t).
    """
    t, g0, g1 = smoothed_cdfs(regime, sparsity, weights, tie_rule, sigma, n_grid)
    pi0 = g0[-1]
    rates = np.atleast_1d(np.asarray(noise_rates, dtype=float))
    p10, p01 = np.array([transition_rates(noise_model, r) for r in rates]).T
    h1 = (1 - p10)[:, None] * g1 + p01[:, None] * g0  # P(ν ≤ t, ỹ = 1)
    h0 = p10[:, None] * g1 + (1 - p01)[:, None] * g0
    q0 = h0[:, -1:]
    up = h1 + q0 - h0  # noisy error of "predict 1 when ν > t"
    both = np.concatenate([up, 1 - up], axis=1)
    k = np.argmin(both, axis=1)
    n = len(t)
    idx, direction = k % n, np.where(k < n, 1, -1)
    clean_up = g1[idx] + pi0 - g0[idx]
    return {"error": np.where(direction == 1, clean_up, 1 - clean_up),
            "noisy_error": both[np.arange(len(rates)), k], "threshold": t[idx], "direction": direction}


def threshold_error(regime: str, sparsity: float, noise_rate: float = 0.0, **kw) -> float:
    """One value of :func:`threshold_errors` (clean-label error; lower = more separable)."""
    return float(threshold_errors(regime, sparsity, [noise_rate], **kw)["error"][0])
