"""Intervals and tests shared by every layer, built on SciPy.

* Seed-level summaries: :func:`t_interval` (mean and Student-t interval), :func:`paired_t` (paired
  differences over seeds, with the paired t-test's p-value) and :func:`paired_t_statistic` (for ranking).
* Item-level comparisons of two classifiers scored on the *same* test items: :func:`mcnemar_exact`
  (exact binomial test on the discordant pairs) and :func:`paired_bootstrap` (percentile or BCa interval of
  the accuracy gap via ``scipy.stats.bootstrap(paired=True)``).
* One proportion: :func:`proportion_interval` (Wilson, via ``scipy.stats.binomtest``).
* Several cells behind one verdict: :func:`holm` (family-wise error) and :func:`benjamini_hochberg`
  (false discovery rate, ``scipy.stats.false_discovery_control``).

>>> round(mcnemar_exact([1, 1, 1, 0, 1], [0, 0, 0, 0, 1])["p_value"], 4)   # 3 discordant, all for a
0.25
>>> holm([0.01, 0.04, 0.03]).round(3).tolist()
[0.03, 0.06, 0.06]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from monotheory.errors import ConfigError


def _level(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise ConfigError(f"confidence = {confidence} is outside (0, 1)")
    return float(confidence)


def t_interval(values, confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean and two-sided Student-t interval of 1-d ``values``.

    NaN ends when there is no interval to be had: fewer than 2 values, or zero spread (every value equal:
    a handful of equal numbers is no evidence of certainty, so the interval is not estimable, never the point).

    >>> m, lo, hi = t_interval([1.0, 2.0, 3.0]); (m, round(lo, 3), round(hi, 3))
    (2.0, -0.484, 4.484)
    >>> t_interval([2.2, 2.2])
    (2.2, nan, nan)
    """
    from scipy import stats

    v = np.asarray(values, dtype=float).ravel()
    if v.size == 0:
        raise ConfigError("t_interval needs at least one value, got none")
    mean = float(v.mean())
    if v.size < 2:
        return mean, float("nan"), float("nan")
    if np.all(v == v[0]):  # zero spread: not estimable (SciPy too returns NaN ends)
        return mean, float("nan"), float("nan")
    ci = stats.ttest_1samp(v, 0.0).confidence_interval(_level(confidence))
    return mean, float(ci.low), float(ci.high)


def paired_t(a, b, confidence: float = 0.95) -> dict[str, Any]:
    """Paired comparison a − b over matched units (e.g. seeds): mean gap, t-interval, two-sided p-value.

    Degenerate cases are named in ``"degenerate"`` and give p = NaN and NaN ends, never p = 0 or a zero-width
    interval: one unit, or zero spread of the differences (two seeds with the same gap). Use the item-level
    :func:`mcnemar_exact` / :func:`paired_bootstrap` there, or report the cell as not estimable.

    >>> paired_t([0.5, 0.6], [0.478, 0.578])["degenerate"]
    'zero spread of the paired differences over 2 units'
    """
    from scipy import stats

    a, b = np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel()
    if a.shape != b.shape:
        raise ConfigError(f"paired values need equal lengths, got {a.size} and {b.size}")
    d = a - b
    mean, lo, hi = t_interval(d, confidence)
    degenerate = None
    if d.size < 2:
        degenerate = "one unit"
    elif np.all(d == d[0]):
        degenerate = f"zero spread of the paired differences over {d.size} units"
    p = float("nan") if degenerate else float(stats.ttest_rel(a, b).pvalue)
    return {"mean": mean, "ci": [lo, hi], "p_value": p, "n": int(d.size), "test": "paired t (over units)",
            "degenerate": degenerate}


def paired_t_statistic(a, b) -> float:
    """Paired t statistic of a − b over matched units (``scipy.stats.ttest_rel``), for ranking cells: ±inf for
    a constant nonzero gap and 0 for a constant zero gap (where SciPy's statistic is undefined).

    >>> round(paired_t_statistic([1.0, 2.0, 3.0], [0.0, 0.0, 0.0]), 6)
    3.464102
    >>> paired_t_statistic([1.0, 1.0], [0.0, 0.0])
    inf
    """
    from scipy import stats

    a, b = np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel()
    if a.shape != b.shape or a.size < 2:
        raise ConfigError(f"a paired t statistic needs two equal-length samples of ≥ 2 values, got {a.size} and "
                          f"{b.size}")
    d = a - b
    if np.all(d == d[0]):
        return 0.0 if d[0] == 0 else float(np.sign(d[0]) * np.inf)
    return float(stats.ttest_rel(a, b).statistic)


def _as_correct(x, name: str) -> np.ndarray:
    v = np.asarray(x)
    if v.ndim != 1:
        raise ConfigError(f"{name} must be a 1-d array of 0/1 per item, got shape {v.shape}")
    if v.size and not np.isin(v, (0, 1, False, True)).all():
        raise ConfigError(f"{name} must hold only 0/1 (correct or not) per item")
    return v.astype(bool)


def mcnemar_exact(correct_a, correct_b) -> dict[str, Any]:
    """McNemar's exact test for two classifiers on the same items.

    ``b`` = items only ``a`` gets right, ``c`` = items only ``b`` gets right; under H0 (equal accuracy) b is
    Binomial(b + c, 1/2). Returns the counts, the accuracy gap a − b and the two-sided exact p-value.
    """
    from scipy import stats

    a, b_ = _as_correct(correct_a, "correct_a"), _as_correct(correct_b, "correct_b")
    if a.shape != b_.shape:
        raise ConfigError(f"paired items need equal lengths, got {a.size} and {b_.size}")
    only_a = int(np.sum(a & ~b_))
    only_b = int(np.sum(~a & b_))
    n = only_a + only_b
    p = 1.0 if n == 0 else float(stats.binomtest(only_a, n, 0.5).pvalue)
    gap = float(a.mean() - b_.mean()) if a.size else float("nan")
    return {"only_a": only_a, "only_b": only_b, "gap": gap, "p_value": p, "n": int(a.size),
            "test": "McNemar exact (binomial on discordant pairs)"}


def paired_bootstrap(correct_a, correct_b, *, confidence: float = 0.95, n_resamples: int = 2000,
                     method: str = "percentile", random_state=0) -> dict[str, Any]:
    """Accuracy gap a − b on the same items with a paired bootstrap interval over items.

    Uses ``scipy.stats.bootstrap((a, b), paired=True)``; the interval reflects the test-set size only, not
    the variance over training seeds (use :func:`paired_t` over seeds for that).
    """
    from scipy import stats

    from monotheory.seeding import as_generator

    a, b = _as_correct(correct_a, "correct_a"), _as_correct(correct_b, "correct_b")
    if a.shape != b.shape:
        raise ConfigError(f"paired items need equal lengths, got {a.size} and {b.size}")
    if a.size < 2:
        raise ConfigError(f"a paired bootstrap needs at least 2 items, got {a.size}")
    a, b = a.astype(float), b.astype(float)
    gap = float(a.mean() - b.mean())
    if np.all(a - b == (a - b)[0]):  # degenerate: every resample gives the same gap
        lo = hi = gap
    else:
        res = stats.bootstrap((a, b), lambda x, y, axis=-1: np.mean(x - y, axis=axis), paired=True,
                              vectorized=True, confidence_level=_level(confidence), n_resamples=n_resamples,
                              method=method, rng=as_generator(random_state))
        lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
    return {"gap": gap, "ci": [lo, hi], "n": int(a.size), "confidence": confidence,
            "test": f"paired bootstrap over items ({method}, {n_resamples} resamples)"}


def proportion_interval(k: int, n: int, confidence: float = 0.95) -> tuple[float, float, float]:
    """Proportion k/n with its Wilson interval (``scipy.stats.binomtest(...).proportion_ci``)."""
    from scipy import stats

    if n <= 0:
        raise ConfigError(f"a proportion needs n ≥ 1 trials, got n = {n}")
    ci = stats.binomtest(int(k), int(n)).proportion_ci(_level(confidence), method="wilson")
    return k / n, float(ci.low), float(ci.high)


def _pvalues(p, allow_nan: bool = False) -> np.ndarray:
    p = np.asarray(p, dtype=float).ravel()
    finite = p[~np.isnan(p)]
    if (not allow_nan and finite.size < p.size) or (finite < 0).any() or (finite > 1).any():
        raise ConfigError("p-values must lie in [0, 1]" + ("" if allow_nan else " (no NaN)"))
    return p


def holm(p) -> np.ndarray:
    """Holm's step-down adjusted p-values (controls the family-wise error rate); SciPy has no Holm.

    Adjusted p_(i) = max over j ≤ i of min(1, (m − j + 1) p_(j)) in ascending order of p. A NaN p-value (a
    cell that is not estimable) still counts in the family's size m, is ordered last and stays NaN.

    >>> holm([0.01, float("nan")]).tolist()
    [0.02, nan]
    """
    p = _pvalues(p, allow_nan=True)
    m = p.size
    if m == 0:
        return p
    filled = np.where(np.isnan(p), 1.0, p)
    order = np.argsort(filled, kind="stable")
    adj = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * filled[order]))
    out = np.empty(m)
    out[order] = adj
    out[np.isnan(p)] = np.nan
    return out


def benjamini_hochberg(p) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (false discovery rate), via ``scipy.stats.false_discovery_control``."""
    from scipy import stats

    p = _pvalues(p)
    return p if p.size == 0 else np.asarray(stats.false_discovery_control(p, method="bh"))
