"""Exact-vs-estimate comparisons with a stated false-alarm budget.

A comparison passes when |estimate − exact| ≤ z·SE with z = Φ⁻¹(1 − α/(2m)): two-sided, family-wise
false-alarm probability at most α over the m estimands of one test (Bonferroni), if the estimates are
normal with the stated SEs. A NaN anywhere, or an SE that is not positive, is a disagreement.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import norm

from monotheory.config import check_range
from monotheory.errors import ConfigError
from monotheory.theory import monte_carlo, registry

FALSE_ALARM = 1e-3


def z_value(n_tests: int = 1, false_alarm: float = FALSE_ALARM) -> float:
    """Two-sided Bonferroni z for ``n_tests`` comparisons at family-wise false-alarm rate ``false_alarm``.

    >>> round(z_value(1, 0.05), 3), round(z_value(10, 1e-3), 3)
    (1.96, 3.891)
    """
    if isinstance(n_tests, bool) or not isinstance(n_tests, (int, np.integer)) or n_tests < 1:
        raise ConfigError(f"n_tests = {n_tests!r} must be an integer ≥ 1")
    check_range("false_alarm", false_alarm, 0, 1, lo_closed=False, hi_closed=False)
    return float(norm.isf(false_alarm / (2 * n_tests)))


def assert_agrees(exact, estimate, se, *, false_alarm: float = FALSE_ALARM, n_tests: int | None = None,
                  name: str = "value") -> None:
    """Assert |``estimate`` − ``exact``| ≤ z·``se`` for scalars or arrays (element-wise).

    ``n_tests``: the number of comparisons the budget is shared over (Bonferroni); default the number of
    elements in this call. Pass the total when one test calls this several times. Raises AssertionError
    naming each failing element: exact value, estimate, SE, its z-score, the threshold z and the budget.

    >>> assert_agrees(0.5, 0.5012, 0.001)
    >>> assert_agrees(0.5, 0.51, 0.001)
    Traceback (most recent call last):
    ...
    AssertionError: value disagrees: exact 0.5, estimate 0.51 ± SE 0.001 (|z| = 10 > z = 3.29; two-sided false-alarm budget 0.001 over 1 test)
    """
    ex, est, s = _arrays(exact=exact, estimate=estimate, se=se)
    m = ex.size if n_tests is None else n_tests
    if n_tests is not None and n_tests < ex.size:
        raise ConfigError(f"n_tests = {n_tests} is below the {ex.size} comparisons of this call")
    z = z_value(m, false_alarm)
    bad = []
    for idx in np.ndindex(ex.shape):
        e, v, sd = float(ex[idx]), float(est[idx]), float(s[idx])
        where = name if ex.ndim == 0 else f"{name}[{', '.join(map(str, idx))}]"
        if not (math.isfinite(e) and math.isfinite(v) and math.isfinite(sd) and sd > 0):
            bad.append(f"{where} disagrees: exact {e:.6g}, estimate {v:.6g} ± SE {sd:.3g} (a NaN/infinity or an "
                       "SE that is not positive counts as disagreement)")
        elif abs(v - e) > z * sd:
            bad.append(f"{where} disagrees: exact {e:.6g}, estimate {v:.6g} ± SE {sd:.3g} (|z| = "
                       f"{abs(v - e) / sd:.3g} > z = {z:.3g}; two-sided false-alarm budget {false_alarm:g} over "
                       f"{m} test{'s' if m != 1 else ''})")
    if bad:
        raise AssertionError("\n".join(bad))


def _arrays(**values) -> list[np.ndarray]:
    """The arguments as float arrays broadcast to one shape, or one ConfigError naming the one that is not numbers
    or the shapes that do not broadcast."""
    arrays = []
    for name, v in values.items():
        try:
            arrays.append(np.asarray(v, dtype=float))
        except (TypeError, ValueError):
            raise ConfigError(f"{name} = {v!r:.60} is not a number or an array of numbers") from None
    try:
        return np.broadcast_arrays(*arrays)
    except ValueError:
        shapes = ", ".join(f"{n} {a.shape}" for n, a in zip(values, arrays, strict=True))
        raise ConfigError(f"the shapes of {shapes} do not broadcast to one shape") from None


def monte_carlo_difference(criterion: str, sparsity: float, noise_rate: float, samples: int, seed=0, **kw):
    """``(estimate, se)`` of d(η) = score(mono) − score(poly) of ``criterion`` (built-in or registered) at
    one noise rate, from :func:`monotheory.theory.monte_carlo` (delta-method SEs).

    A crossover η* is a root of d, so ``assert_agrees(0, *monte_carlo_difference(c, S, η*, ...))`` tests an
    exact crossover against Monte Carlo. The two features' estimates share draws; the SE of their difference
    is bounded by the sum of their SEs, which is used (conservative). ``kw``: as ``monte_carlo``.
    """
    sign = 1.0 if registry.get_criterion(criterion).higher_is_better else -1.0
    r = monte_carlo(sparsity, samples, seed, noise_rate=float(noise_rate), criteria=(criterion,), **kw)
    (m, sm), (p, sp_) = r["mono"][criterion], r["poly"][criterion]
    return sign * (m - p), sm + sp_
