"""One decision rule for every check: paired measurements in, a verdict out.

Every claim of the paper compares two arms (mono vs poly, NCE vs CE, MonoLoRA vs LoRA) on matched units
(training seeds, or test items). A **cell** is one such paired comparison with the sign the claim predicts
(``direction``) or, for a "no loss" claim, an equivalence margin. The cells behind one claim (or one table of
claims) form a **family**; the rule decides every cell of a family at once:

====================  =========================================================================================
outcome               rule
====================  =========================================================================================
reproduced            the premise is measured true and the claimed direction holds at the family's
                      Holm-adjusted level (two-sided tests, family-wise error ``alpha`` = 5 %)
not reproduced        the opposite direction holds at that level
inconclusive          neither: the interval contains 0 (never "partly" for that)
partly reproduced     only where a claim has several parts (cells) and some, not all, hold
not a test            the premise (e.g. "the mono arm is measured more monosemantic") is not met or unmeasured
====================  =========================================================================================

**Intervals that agree with the decision.** Holm's step-down procedure compares the r-th smallest p-value
(r = 0, 1, …) with ``alpha / (m - r)``. Each cell's interval is reported at that step's level,
``1 - alpha / (m - r)`` (two-sided), so a rejected cell always has an interval that excludes 0, and a cell
whose interval contains 0 is never *reproduced* or *partly*. (A cell can be inconclusive with an interval
that excludes 0 when Holm's step-down stopped at an earlier cell; the row says so.)

**"No loss" claims** (C1, C4, C11's task score) use two one-sided tests (TOST) against a stated ``margin``:
*reproduced* when the ``1 - 2 alpha_step`` interval lies inside (−margin, +margin), *not reproduced* when it
lies entirely outside, *inconclusive* otherwise.

**Degenerate cells are named, never certain.** One unit, or zero spread of the paired differences over units
(two seeds with the same gap), gives no seed-level test: if per-item correctness is given, the cell falls back
to item-level statistics (McNemar's exact test and a paired bootstrap interval over the pooled items; this
ignores the variance over seeds, and the row says so), else it is *not estimable* (inconclusive, p = NaN).
Nothing here ever returns p = 0 or a zero-width interval from a handful of seeds.

>>> import numpy as np
>>> fam = decide_family([Cell("label noise", a=[0.71, 0.74, 0.69, 0.73], b=[0.61, 0.60, 0.64, 0.62])])
>>> fam[0].outcome, fam[0].interval[0] > 0
('reproduced', True)
>>> same = decide_family([Cell("two equal seeds", a=[0.5, 0.6], b=[0.478, 0.578])])[0]
>>> same.outcome, same.degenerate
('inconclusive', 'not estimable: zero spread of the paired differences over 2 seeds')
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
from scipy import stats as sps

from monotheory.errors import ConfigError
from monotheory.stats import holm, mcnemar_exact, paired_bootstrap

REPRODUCED = "reproduced"
NOT_REPRODUCED = "not reproduced"
INCONCLUSIVE = "inconclusive"
PARTLY = "partly reproduced"
NOT_A_TEST = "not a test"
OUTCOMES = (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, PARTLY, NOT_A_TEST)
ALPHA = 0.05

RULE_TABLE = """\
| verdict | rule |
|---|---|
| reproduced | the premise is measured true and the claimed direction holds at the family's Holm-adjusted level (two-sided tests, family-wise error 5 %); the interval shown (at Holm's step level) excludes 0 |
| not reproduced | the opposite direction holds at that level |
| inconclusive | neither: the interval contains 0, or the cell is not estimable (one seed, zero spread) |
| partly reproduced | a claim with several parts: some parts hold, not all |
| not a test | the premise was not measured true (e.g. the mono arm is not measurably more monosemantic) |
| skipped | the check cannot run here (the reason is given) |
"""

SUPPORTS, CONTRADICTS, UNDECIDED = "supports", "contradicts", "undecided"


@dataclasses.dataclass(frozen=True)
class Premise:
    """What must be *measured* true for a row to test its claim.

    ``met`` is True / False, or None when it was not measured (which also makes the row "not a test");
    ``statement`` says the rule in words, ``measured`` holds the numbers it was decided on.
    """

    statement: str
    met: bool | None
    measured: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Cell:
    """One paired comparison ``a - b`` over matched units (seeds, by default).

    ``direction`` is the sign the claim predicts (+1: a > b, −1: a < b); ``margin`` > 0 makes it a "no loss"
    (equivalence) cell instead. ``items_a`` / ``items_b`` (0/1 correctness per test item, pooled over units)
    are the fallback when the unit-level test is degenerate. ``chance`` is the chance level of the measured
    quantity (reported, not used in the decision); ``bounds`` clips the reported interval to what the gap
    can be (e.g. (−1, 1) for accuracy fractions).
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

    def __post_init__(self):
        if self.direction not in (1, -1):
            raise ConfigError(f"direction = {self.direction!r} must be +1 (claim: a > b) or -1 (claim: a < b)")
        if self.margin is not None and not (isinstance(self.margin, (int, float)) and self.margin > 0
                                            and math.isfinite(self.margin)):
            raise ConfigError(f"margin = {self.margin!r} must be a positive finite number (or None)")


@dataclasses.dataclass
class CellResult:
    """A decided cell: the estimate ``a - b``, its interval at Holm's step level, the raw and Holm p."""

    name: str
    kind: str                       # "difference" or "equivalence"
    estimate: float
    interval: tuple[float, float] | None
    level: float                    # confidence level of ``interval``
    p_value: float                  # two-sided (difference) or TOST (equivalence); NaN if not estimable
    p_holm: float
    outcome: str                    # per cell: reproduced / not reproduced / inconclusive
    test: str
    n: int
    degenerate: str | None = None
    note: str = ""
    chance: float | None = None
    margin: float | None = None
    direction: int = 1
    mean_a: float = float("nan")
    mean_b: float = float("nan")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class Decision:
    """A row's verdict and the cell that decided it (its value and interval are that cell's)."""

    outcome: str
    decided_by: str | None
    value: float | None
    interval: tuple[float, float] | None
    reason: str
    cells: list[CellResult]
    premise: Premise | None = None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _vector(x, name: str) -> np.ndarray:
    v = np.asarray(x, dtype=float).ravel()
    if v.size == 0:
        raise ConfigError(f"{name} is empty; a cell needs at least one paired value")
    return v


def _raw_test(cell: Cell) -> dict:
    """The cell's p-value (for Holm's ordering) and what is needed to build its interval at any level."""
    a, b = _vector(cell.a, f"{cell.name}: a"), _vector(cell.b, f"{cell.name}: b")
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
                return {**base, "p": float("nan"), "test": "none", "degenerate": degenerate, "diffs": None,
                        "items": None}
            p = float(max(sps.ttest_1samp(di, -cell.margin, alternative="greater").pvalue,
                          sps.ttest_1samp(di, cell.margin, alternative="less").pvalue))
            test = f"item-level TOST over {ia.size} items ({degenerate}; ignores the variance over {cell.unit})"
        est = float(ia.mean() - ib.mean())
        return {**base, "estimate": est, "p": float(p), "test": test, "degenerate": degenerate, "diffs": None,
                "items": (ia, ib)}
    return {**base, "p": float("nan"), "test": "none", "degenerate": degenerate, "diffs": None, "items": None}


def _interval(raw: dict, cell: Cell, level: float) -> tuple[float, float] | None:
    if raw["diffs"] is not None:
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


def _cell_outcome(cell: Cell, interval, rejected: bool, estimate: float) -> tuple[str, str]:
    if interval is None:
        return INCONCLUSIVE, "not estimable"
    lo, hi = interval
    if cell.margin is not None:
        if rejected and -cell.margin < lo and hi < cell.margin:
            return REPRODUCED, f"interval inside ±{cell.margin:g}"
        if lo > cell.margin or hi < -cell.margin:
            return NOT_REPRODUCED, f"interval entirely outside ±{cell.margin:g}"
        return INCONCLUSIVE, f"interval not inside ±{cell.margin:g}"
    signed_lo, signed_hi = (lo, hi) if cell.direction > 0 else (-hi, -lo)
    if rejected and signed_lo > 0:
        return REPRODUCED, "claimed direction at the adjusted level"
    if rejected and signed_hi < 0:
        return NOT_REPRODUCED, "opposite direction at the adjusted level"
    if signed_lo > 0 or signed_hi < 0:
        return INCONCLUSIVE, "interval excludes 0 but Holm's step-down stopped at an earlier cell"
    return INCONCLUSIVE, "interval contains 0"


def decide_family(cells: list[Cell], alpha: float = ALPHA) -> list[CellResult]:
    """Decide every cell of one family at once (Holm over the family; see the module docstring)."""
    if not 0 < alpha < 0.5:
        raise ConfigError(f"alpha = {alpha} is outside (0, 0.5)")
    if not cells:
        return []
    raws = [_raw_test(c) for c in cells]
    p = np.array([r["p"] for r in raws])
    p_holm = holm(p)                        # a not-estimable cell (NaN) counts in m and is never rejected
    m = p.size
    rank = np.empty(m, dtype=int)           # Holm's step of each cell, in the order holm() uses
    rank[np.argsort(np.where(np.isnan(p), 1.0, p), kind="stable")] = np.arange(m)
    out = []
    for i, (cell, raw) in enumerate(zip(cells, raws, strict=True)):
        step_alpha = alpha / (m - rank[i])
        level = 1 - (2 * step_alpha if cell.margin is not None else step_alpha)
        interval = _interval(raw, cell, level)
        rejected = bool(np.isfinite(p[i]) and p_holm[i] < alpha)
        outcome, note = _cell_outcome(cell, interval, rejected, raw["estimate"])
        out.append(CellResult(
            name=cell.name, kind="equivalence" if cell.margin is not None else "difference",
            estimate=raw["estimate"], interval=interval, level=float(level), p_value=float(p[i]),
            p_holm=float(p_holm[i]), outcome=outcome, test=raw["test"],
            n=raw["n"], degenerate=raw["degenerate"], note=note, chance=cell.chance, margin=cell.margin,
            direction=cell.direction, mean_a=raw["mean_a"], mean_b=raw["mean_b"]))
    return out


def decide_row(results: list[CellResult], premise: Premise | None = None) -> Decision:
    """Combine a row's decided cells (its parts) into one verdict; the value is the deciding cell's.

    reproduced: every part reproduced; not reproduced: none reproduced and some contradict; partly: several
    parts and some (not all) reproduced; inconclusive: none reproduced, none contradicted. A premise that is
    not measured true makes the row "not a test" whatever the cells say.
    """
    if not results:
        raise ConfigError("a row needs at least one decided cell")
    if premise is not None and premise.met is not True:
        why = "not measured" if premise.met is None else "measured false"
        first = results[0]
        return Decision(NOT_A_TEST, first.name, first.estimate, first.interval,
                        f"premise {why}: {premise.statement}", results, premise)
    by = {o: [r for r in results if r.outcome == o] for o in (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE)}
    if len(by[REPRODUCED]) == len(results):
        outcome, cell = REPRODUCED, max(by[REPRODUCED], key=lambda r: r.p_holm)
        reason = "every part holds at the adjusted level" if len(results) > 1 else cell.note
    elif by[REPRODUCED]:
        outcome = PARTLY
        cell = (by[NOT_REPRODUCED] or by[INCONCLUSIVE])[0]
        held = ", ".join(r.name for r in by[REPRODUCED])
        reason = f"holds for {held}; not for {cell.name} ({cell.outcome})"
    elif by[NOT_REPRODUCED]:
        outcome, cell = NOT_REPRODUCED, min(by[NOT_REPRODUCED], key=lambda r: r.p_holm)
        reason = cell.note
    else:
        outcome = INCONCLUSIVE
        cell = max(by[INCONCLUSIVE], key=lambda r: (np.nan_to_num(r.p_holm, nan=2.0)))
        reason = cell.degenerate or cell.note
    return Decision(outcome, cell.name, cell.estimate, cell.interval, reason, results, premise)


def decide(cells: list[Cell], premise: Premise | None = None, alpha: float = ALPHA) -> Decision:
    """One row that is its own family: :func:`decide_family` then :func:`decide_row`."""
    return decide_row(decide_family(cells, alpha), premise)


def more_monosemantic(name_mono: str, mono, name_poly: str, poly, *, measure: str = "monosemanticity",
                      alpha: float = ALPHA) -> Premise:
    """The vision/LoRA premise: the mono arm's measured score exceeds the poly arm's.

    ``mono`` / ``poly`` are per-seed scores (paired by seed). Met when the paired interval at ``1 - alpha``
    lies above 0; with one seed or zero spread, when every paired difference is positive *and* the premise
    says it rests on that (no interval).
    """
    res = decide_family([Cell(f"{measure}: {name_mono} − {name_poly}", mono, poly)], alpha)[0]
    if res.interval is not None:
        met = res.interval[0] > 0
        rule = (f"{name_mono} measurably more monosemantic than {name_poly}: paired {measure} gap "
                f"{res.estimate:+.3g}, {100 * res.level:.0f} % interval [{res.interval[0]:+.3g}, "
                f"{res.interval[1]:+.3g}] above 0")
    else:
        d = _vector(mono, "mono") - _vector(poly, "poly")
        met = bool(np.all(d > 0)) if np.isfinite(d).all() else None
        rule = (f"{name_mono} more monosemantic than {name_poly} on every seed ({measure} gap "
                f"{res.estimate:+.3g}; {res.degenerate}, so no interval)")
    return Premise(rule, bool(met) if met is not None else None,
                   {"mono": float(np.mean(mono)), "poly": float(np.mean(poly)), "gap": res.estimate,
                    "interval": res.interval, "measure": measure})


def clip_interval(interval, lo: float, hi: float):
    """Clip a reported interval of a bounded quantity (an accuracy in [0, 100]) to its range."""
    if interval is None:
        return None
    return (max(float(interval[0]), lo), min(float(interval[1]), hi))
