"""The cells of the decision rule (:mod:`monotheory.claims.rules`) and their statistics.

A :class:`Cell` is one comparison ``a − b``: paired values over matched units (tested by a paired t, with an
item-level fallback when the units give no test), an estimate with its standard error (:func:`estimate_cell`,
a z-test) or an exact value (:func:`exact_cell`, not a test). :func:`raw_test` computes a cell's p-value and
:func:`interval` its interval at any confidence level; :mod:`monotheory.claims.rules` orders the p-values of a
family (Holm), picks each cell's level and decides.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
from scipy import stats as sps

from monotheory.errors import ConfigError
from monotheory.stats import mcnemar_exact, paired_bootstrap

CHANCE_MARGIN = 0.01  # an arm whose mean accuracy is ≤ chance + 1 point predicts no better than a constant

KINDS = ("paired", "estimate", "exact")


def _finite_number(x) -> bool:
    return isinstance(x, (int, float, np.floating, np.integer)) and not isinstance(x, bool) and math.isfinite(x)


@dataclasses.dataclass(frozen=True)
class Cell:
    """One comparison ``a - b``: paired values over matched units (seeds, by default), or, built by
    :func:`estimate_cell` / :func:`exact_cell`, an estimate with its standard error or an exact value.

    ``direction`` is the sign the claim predicts (+1: a > b, −1: a < b); ``margin`` > 0 makes it a "no loss"
    (equivalence) cell instead. ``items_a`` / ``items_b`` (0/1 correctness per test item, pooled over units)
    are the fallback when the unit-level test is degenerate. ``chance`` is the chance level of the measured
    accuracy (0–1): both arms at or below ``chance + chance_margin`` make the cell inconclusive; ``bounds``
    clips the reported interval to what the gap can be (e.g. (−1, 1) for accuracy fractions).
    """

    name: str
    a: Any
    b: Any
    direction: int = 1
    margin: float | None = None
    items_a: Any = None
    items_b: Any = None
    chance: float | None = None
    bounds: tuple[float, float] | None = None
    unit: str = "seeds"
    kind: str = "paired"
    se: float | None = None
    chance_margin: float = CHANCE_MARGIN

    def __post_init__(self):
        if self.direction not in (1, -1):
            raise ConfigError(f"direction = {self.direction!r} must be +1 (claim: a > b) or -1 (claim: a < b)")
        if self.margin is not None and not (_finite_number(self.margin) and self.margin > 0):
            raise ConfigError(f"margin = {self.margin!r} must be a positive finite number (or None)")
        if self.kind not in KINDS:
            raise ConfigError(f"kind = {self.kind!r} is unknown; choose one of {', '.join(KINDS)}")
        if self.chance is not None and not (_finite_number(self.chance) and 0 <= self.chance <= 1):
            raise ConfigError(f"chance = {self.chance!r} must be an accuracy in [0, 1] (or None)")
        if not (_finite_number(self.chance_margin) and self.chance_margin >= 0):
            raise ConfigError(f"chance_margin = {self.chance_margin!r} must be a finite number ≥ 0")
        if self.kind == "estimate" and not (isinstance(self.se, (int, float, np.floating)) and not self.se < 0):
            raise ConfigError(f"{self.name}: se = {self.se!r} must be a standard error ≥ 0 (NaN: not estimable)")


def estimate_cell(name: str, value: float, se: float, *, null: float = 0.0, direction: int = 1,
                  margin: float | None = None, unit: str = "Monte Carlo draws") -> Cell:
    """A cell ``value − null`` from an estimate and its standard error, decided by a two-sided z-test (or TOST
    against ``margin``); an SE that is 0 or NaN makes it not estimable, never certain."""
    for what, x in (("value", value), ("null", null)):
        if not _finite_number(x):
            raise ConfigError(f"{name}: {what} = {x!r} must be a finite number")
    return Cell(name, float(value), float(null), direction=direction, margin=margin, unit=unit, kind="estimate",
                se=float(se) if isinstance(se, (int, float, np.floating)) and not isinstance(se, bool) else se)


def exact_cell(name: str, value: float, *, null: float = 0.0, direction: int = 1,
               margin: float | None = None) -> Cell:
    """A cell from an exact value (closed form, SymPy): decided by the side of ``null`` it lies on (or, with
    ``margin``, whether |value − null| < margin); not a test, so it has no p-value, no interval and no Holm step."""
    for what, x in (("value", value), ("null", null)):
        if not _finite_number(x):
            raise ConfigError(f"{name}: {what} = {x!r} must be a finite number")
    return Cell(name, float(value), float(null), direction=direction, margin=margin, unit="exact", kind="exact")


def vector(x, name: str) -> np.ndarray:
    v = np.asarray(x, dtype=float).ravel()
    if v.size == 0:
        raise ConfigError(f"{name} is empty; a cell needs at least one paired value")
    return v


def _none(base: dict, degenerate: str | None, test: str = "none") -> dict:
    return {**base, "p": float("nan"), "test": test, "degenerate": degenerate, "diffs": None, "items": None}


def _raw_estimate(cell: Cell) -> dict:
    d, se = cell.a - cell.b, cell.se
    base = {"n": 1, "mean_a": cell.a, "mean_b": cell.b, "estimate": float(d), "se": se}
    if cell.kind == "exact":
        return _none(base, None, cell.unit)  # "exact" or "exact fact"
    if not (math.isfinite(se) and se > 0):
        return _none(base, f"not estimable: standard error {se:g} of an estimate")
    z = d / se
    p = 2 * sps.norm.sf(abs(z)) if cell.margin is None else max(
        sps.norm.sf((d + cell.margin) / se), sps.norm.sf((cell.margin - d) / se))
    test = "z-test (estimate ± SE)" if cell.margin is None else f"TOST z-test (margin ±{cell.margin:g})"
    return {**base, "p": float(p), "test": f"{test} over {cell.unit}", "degenerate": None, "diffs": None,
            "items": None}


def raw_test(cell: Cell) -> dict:
    """The cell's p-value (for Holm's ordering) and what is needed to build its interval at any level."""
    if cell.kind != "paired":
        return _raw_estimate(cell)
    a, b = vector(cell.a, f"{cell.name}: a"), vector(cell.b, f"{cell.name}: b")
    if a.shape != b.shape:
        raise ConfigError(f"{cell.name}: paired values need equal lengths, got {a.size} and {b.size}")
    d = a - b
    base = {"n": int(d.size), "mean_a": float(a.mean()), "mean_b": float(b.mean()), "estimate": float(d.mean())}
    degenerate = None
    if not np.isfinite(d).all():
        degenerate = f"not estimable: non-finite values among the {d.size} {cell.unit}"
    elif d.size < 2:
        degenerate = f"not estimable: only one unit ({cell.unit})"
    elif np.all(d == d[0]):
        degenerate = f"not estimable: zero spread of the paired differences over {d.size} {cell.unit}"
    if degenerate is None:
        if cell.margin is None:
            p = float(sps.ttest_1samp(d, 0.0).pvalue)
            test = f"paired t over {d.size} {cell.unit}"
        else:
            lo = sps.ttest_1samp(d, -cell.margin, alternative="greater").pvalue
            hi = sps.ttest_1samp(d, cell.margin, alternative="less").pvalue
            p = float(max(lo, hi))
            test = f"TOST (paired t over {d.size} {cell.unit}, margin ±{cell.margin:g})"
        return {**base, "p": p, "test": test, "degenerate": None, "diffs": d, "items": None}
    if cell.items_a is not None and cell.items_b is not None and np.isfinite(d).all():
        ia = np.asarray(cell.items_a).ravel().astype(int)
        ib = np.asarray(cell.items_b).ravel().astype(int)
        mc = mcnemar_exact(ia, ib)
        if cell.margin is None:
            p = mc["p_value"]
            test = f"item-level McNemar exact + paired bootstrap over {ia.size} items ({degenerate}; " \
                   f"ignores the variance over {cell.unit})"
        else:  # TOST on the per-item differences (−1/0/1), large-sample t
            di = (ia - ib).astype(float)
            if np.all(di == di[0]):
                return _none(base, degenerate)
            p = float(max(sps.ttest_1samp(di, -cell.margin, alternative="greater").pvalue,
                          sps.ttest_1samp(di, cell.margin, alternative="less").pvalue))
            test = f"item-level TOST over {ia.size} items ({degenerate}; ignores the variance over {cell.unit})"
        est = float(ia.mean() - ib.mean())
        return {**base, "estimate": est, "p": float(p), "test": test, "degenerate": degenerate, "diffs": None,
                "items": (ia, ib)}
    return _none(base, degenerate)


def interval(raw: dict, cell: Cell, level: float) -> tuple[float, float] | None:
    if cell.kind == "estimate" and math.isfinite(raw["p"]):
        half = float(sps.norm.isf((1 - level) / 2)) * raw["se"]
        lo, hi = raw["estimate"] - half, raw["estimate"] + half
    elif raw["diffs"] is not None:
        ci = sps.ttest_1samp(raw["diffs"], 0.0).confidence_interval(level)
        lo, hi = float(ci.low), float(ci.high)
    elif raw["items"] is not None:
        ia, ib = raw["items"]
        if cell.margin is None:
            ci = paired_bootstrap(ia, ib, confidence=level, n_resamples=4000, random_state=0)["ci"]
            lo, hi = ci
        else:
            ci = sps.ttest_1samp((ia - ib).astype(float), 0.0).confidence_interval(level)
            lo, hi = float(ci.low), float(ci.high)
        if lo == hi:  # every resample equal: no interval from these items
            return None
    else:
        return None
    if cell.bounds is not None:
        lo, hi = max(lo, cell.bounds[0]), min(hi, cell.bounds[1])
    return (lo, hi)


def exact_fact(name: str, holds: bool) -> Cell:
    """A yes/no exact result (a crossover exists in the range, a reversal is found): an exact cell that holds or
    not, with no value of its own (the row reports the quantity found, e.g. the crossover's η*)."""
    return dataclasses.replace(exact_cell(name, 1.0 if holds else -1.0), unit="exact fact")
