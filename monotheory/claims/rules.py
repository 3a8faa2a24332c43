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
inconclusive          neither: the interval contains 0 (never "partly" for that); or both arms at chance
partly reproduced     only where a claim has several parts (cells) and some, not all, hold
not a test            the premise (e.g. "the mono arm is measured more monosemantic") is not met or unmeasured
error                 (theory) a Monte Carlo estimate differs from its exact value
====================  =========================================================================================

**Three kinds of cell, one rule.** A *paired* cell (:class:`Cell`) holds the two arms' values over matched units
(seeds, or test items); it is tested by a two-sided paired t. An *estimate* cell (:func:`estimate_cell`) holds an
estimate and its standard error (a Monte Carlo average, a proportion without per-item data); it is tested by a
two-sided z-test and its interval is estimate ± z·SE. An *exact* cell (:func:`exact_cell`: a closed form, a
SymPy result) is not a test: it is decided by the side its value lies on, counts in no Holm family and shows no
interval. Holm runs over a family's paired and estimate cells.

**Chance.** A paired cell of accuracies may carry the chance level of its test set (the majority-class share of
the test labels). When both arms' mean accuracies are at or below chance + :data:`CHANCE_MARGIN` (1 point of
accuracy, on the cells' 0–1 scale), the cell is *inconclusive* ("both arms at chance") whatever its interval: two
arms that predict no better than a constant predictor say nothing about which representation is more robust,
only about how each fails (the toy's pair task had a "reproduced" cell with both arms below the majority rate).
The cell still counts in its Holm family.

**Intervals that agree with the decision.** Holm's step-down procedure compares the r-th smallest p-value
(r = 0, 1, …) with ``alpha / (m - r)``. Each cell's interval is reported at that step's level,
``1 - alpha / (m - r)`` (two-sided), so a rejected cell always has an interval that excludes 0, and a cell
whose interval contains 0 is never *reproduced* or *partly*. (A cell can be inconclusive with an interval
that excludes 0 when Holm's step-down stopped at an earlier cell; the row says so.)

**"No loss" claims** (C1, C4, C11's task score) use two one-sided tests (TOST) against a stated ``margin``:
*reproduced* when the ``1 - 2 alpha_step`` interval lies inside (−margin, +margin), *not reproduced* when it
lies entirely outside, *inconclusive* otherwise.

**Premises** (:func:`more_monosemantic`): the mono arm is *measurably* more monosemantic than the poly arm when
the 95 % interval of the paired score gap lies above 0 — a paired t interval over seeds, or, with one seed (or
zero spread over seeds), a basic bootstrap interval over the same resampled test items
(:func:`item_bootstrap_gap`). Equal scores are "measured false"; no interval at all is "not measured".

**Theory checks** decide their claims with exact cells. Their Monte Carlo estimates are estimate cells tested
against the exact value in one Holm family per check at family-wise error :data:`MC_ALPHA` (0.1 %): a
difference there is an ``error`` (a wrong formula or simulation), not a verdict on the paper.

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

import numpy as np

from monotheory.claims.cells import (
    CHANCE_MARGIN,
    Cell,
    estimate_cell,
    exact_cell,
    exact_fact,
    raw_test,
    vector,
)
from monotheory.claims.cells import interval as ci
from monotheory.errors import ConfigError
from monotheory.stats import holm

__all__ = ["ALPHA", "CHANCE_MARGIN", "INCONCLUSIVE", "MC_ALPHA", "NOT_A_TEST", "NOT_REPRODUCED", "OUTCOMES", "PARTLY",
           "REPRODUCED", "RULE_TABLE", "Cell", "CellResult", "Decision", "Premise", "at_chance", "clip_interval",
           "decide", "decide_family", "decide_row", "decide_theory", "estimate_cell", "exact_cell", "exact_fact", "item_bootstrap_gap",
           "more_monosemantic"]

REPRODUCED = "reproduced"
NOT_REPRODUCED = "not reproduced"
INCONCLUSIVE = "inconclusive"
PARTLY = "partly reproduced"
NOT_A_TEST = "not a test"
OUTCOMES = (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, PARTLY, NOT_A_TEST)
ALPHA = 0.05

MC_ALPHA = 1e-3       # family-wise error of the Monte Carlo-vs-exact comparisons of the theory checks (an error flag)

RULE_TABLE = """\
| verdict | rule |
|---|---|
| reproduced | the premise is measured true and the claimed direction holds at the family's Holm-adjusted level (two-sided paired t or z-tests, family-wise error 5 %): the interval shown (at Holm's step level) excludes 0; a "no loss" claim: the interval lies inside ±margin (two one-sided tests); an exact (theory) value: it lies on the claimed side |
| not reproduced | the opposite direction holds at that level; "no loss": the interval lies entirely outside ±margin; exact: the value lies on the other side |
| inconclusive | neither: the interval contains 0 (or is not inside ±margin); or the cell is not estimable (one seed, zero spread, no standard error); or both arms are at chance (each arm's mean accuracy ≤ chance + 1 point; chance = the majority-class share of the test labels) |
| partly reproduced | a claim with several parts: some parts hold, not all |
| not a test | the premise was not measured true (e.g. the mono arm is not measurably more monosemantic: the 95 % paired interval of its score gap to CL, over seeds or over test items, is not above 0) |
| skipped | the check cannot run here (the reason is given) |
| error | a Monte Carlo estimate differs from its exact value at family-wise error 0.1 % (a wrong formula or simulation) |
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


@dataclasses.dataclass
class CellResult:
    """A decided cell: the estimate ``a - b``, its interval at Holm's step level, the raw and Holm p."""

    name: str
    kind: str                       # "difference" or "equivalence"
    estimate: float
    interval: tuple[float, float] | None
    level: float                    # confidence level of ``interval``
    p_value: float                  # two-sided (difference) or TOST (equivalence); NaN if not estimable or exact
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
    at_chance: bool = False
    exact: bool = False
    null: float = 0.0               # b of an estimate or exact cell: the raw value is estimate + null

    @property
    def raw_value(self) -> float | None:
        """An exact or estimate cell's own value (``estimate + null``); None for a yes/no fact."""
        return None if self.test == "exact fact" else self.estimate + self.null

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


def _exact_outcome(cell: Cell, value: float) -> tuple[str, str]:
    if cell.margin is not None:
        if abs(value) < cell.margin:
            return REPRODUCED, f"exact value within ±{cell.margin:g}"
        return NOT_REPRODUCED, f"exact value outside ±{cell.margin:g}"
    signed = cell.direction * value
    if signed > 0:
        return REPRODUCED, "exact value on the claimed side"
    if signed < 0:
        return NOT_REPRODUCED, "exact value on the opposite side"
    return INCONCLUSIVE, "exact value equal to the comparison value"


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


def at_chance(cell: Cell, mean_a: float, mean_b: float) -> bool:
    """True when ``cell`` has a chance level and both arms' means are at or below chance + its margin."""
    if cell.kind != "paired" or cell.chance is None:
        return False
    limit = cell.chance + cell.chance_margin
    return bool(mean_a <= limit and mean_b <= limit)


def decide_family(cells: list[Cell], alpha: float = ALPHA) -> list[CellResult]:
    """Decide every cell of one family at once (Holm over the family's tests; see the module docstring)."""
    if not 0 < alpha < 0.5:
        raise ConfigError(f"alpha = {alpha} is outside (0, 0.5)")
    if not cells:
        return []
    raws = [raw_test(c) for c in cells]
    tested = [i for i, c in enumerate(cells) if c.kind != "exact"]      # exact cells are not tests
    p = np.array([raws[i]["p"] for i in tested])
    p_holm = np.full(len(cells), np.nan)
    step = np.zeros(len(cells), dtype=int)
    if tested:
        p_holm[tested] = holm(p)            # a not-estimable cell (NaN) counts in m and is never rejected
        m = p.size
        rank = np.empty(m, dtype=int)       # Holm's step of each cell, in the order holm() uses
        rank[np.argsort(np.where(np.isnan(p), 1.0, p), kind="stable")] = np.arange(m)
        step[tested] = m - rank
    out = []
    for i, (cell, raw) in enumerate(zip(cells, raws, strict=True)):
        if cell.kind == "exact":
            level, interval = 1.0, None
            outcome, note = _exact_outcome(cell, raw["estimate"])
        else:
            step_alpha = alpha / step[i]
            level = 1 - (2 * step_alpha if cell.margin is not None else step_alpha)
            interval = ci(raw, cell, level)
            rejected = bool(np.isfinite(raw["p"]) and p_holm[i] < alpha)
            outcome, note = _cell_outcome(cell, interval, rejected, raw["estimate"])
        chance = at_chance(cell, raw["mean_a"], raw["mean_b"])
        if chance:
            outcome, note = INCONCLUSIVE, (f"both arms at chance: {raw['mean_a']:.3f} and {raw['mean_b']:.3f} ≤ "
                                           f"chance {cell.chance:.3f} + {cell.chance_margin:g}")
        out.append(CellResult(
            name=cell.name, kind="equivalence" if cell.margin is not None else "difference",
            estimate=raw["estimate"], interval=interval, level=float(level), p_value=float(raw["p"]),
            p_holm=float(p_holm[i]), outcome=outcome, test=raw["test"],
            n=raw["n"], degenerate=raw["degenerate"], note=note, chance=cell.chance, margin=cell.margin,
            direction=cell.direction, mean_a=float(raw["mean_a"]), mean_b=float(raw["mean_b"]), at_chance=chance,
            exact=cell.kind == "exact", null=float(cell.b) if cell.kind != "paired" else 0.0))
    return out


def _certainty(r: CellResult, missing: float) -> float:
    """Holm p for ordering a row's cells; an exact cell is certain (0), a not-estimable one ``missing``."""
    return 0.0 if r.exact else float(np.nan_to_num(r.p_holm, nan=missing))


def _brief(r: CellResult) -> str:
    if r.exact or r.interval is None:
        return r.degenerate or r.note
    return f"{r.estimate:+.3g} [{r.interval[0]:+.3g}, {r.interval[1]:+.3g}], {r.degenerate or r.note}"


def decide_row(results: list[CellResult], premise: Premise | None = None) -> Decision:
    """Combine a row's decided cells (its parts) into one verdict; the value is the deciding cell's.

    reproduced: every part reproduced (shown: the least certain part); not reproduced: none reproduced and some
    contradict (shown: the most certain contradiction); partly: several parts and some (not all) reproduced
    (shown: the least certain part that holds, so a partly row never shows an interval containing 0; the reason
    names each part that does not hold, with its value and interval); inconclusive: none reproduced, none
    contradicted. A premise that is not measured true makes the row "not a test" whatever the cells say.
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
        outcome, cell = REPRODUCED, max(by[REPRODUCED], key=lambda r: _certainty(r, 2.0))
        reason = "every part holds" if len(results) > 1 else cell.note
    elif by[REPRODUCED]:  # shown: the weakest part that holds (its interval excludes 0); the reason names the rest
        outcome, cell = PARTLY, max(by[REPRODUCED], key=lambda r: _certainty(r, 2.0))
        held = ", ".join(r.name for r in by[REPRODUCED])
        failed = "; ".join(f"{r.name} ({r.outcome}: {_brief(r)})" for r in by[NOT_REPRODUCED] + by[INCONCLUSIVE])
        reason = f"holds for {held}; not for {failed}"
    elif by[NOT_REPRODUCED]:
        outcome, cell = NOT_REPRODUCED, min(by[NOT_REPRODUCED], key=lambda r: _certainty(r, 2.0))
        reason = cell.note
    else:
        outcome = INCONCLUSIVE
        cell = max(by[INCONCLUSIVE], key=lambda r: _certainty(r, 2.0))
        reason = cell.degenerate or cell.note
    return Decision(outcome, cell.name, cell.estimate, cell.interval, reason, results, premise)


def decide(cells: list[Cell], premise: Premise | None = None, alpha: float = ALPHA) -> Decision:
    """One row that is its own family: :func:`decide_family` then :func:`decide_row`."""
    return decide_row(decide_family(cells, alpha), premise)


def decide_theory(rows: list[tuple[list[Cell], list[Cell]]], alpha: float = MC_ALPHA) -> list[tuple]:
    """A theory check: ``rows`` of (exact cells = the row's parts, Monte Carlo estimate cells each tested against
    its exact value). Every row is decided by its exact cells (:func:`decide_row`); all rows' Monte Carlo cells
    form one Holm family at ``alpha``. Returns per row ``(Decision, Monte Carlo results, error)`` where ``error``
    names the Monte Carlo cells that differ from their exact value at that level or are not estimable (the
    formula or the simulation is wrong), else None."""
    mc = decide_family([c for _, m in rows for c in m], alpha)
    out, k = [], 0
    for parts, m in rows:
        res, k = mc[k:k + len(m)], k + len(m)
        bad = [r.name for r in res if r.outcome != INCONCLUSIVE or r.degenerate]
        out.append((decide_row(decide_family(parts, alpha)), res, ", ".join(bad) or None))
    return out


def more_monosemantic(name_mono: str, mono, name_poly: str, poly, *, measure: str = "monosemanticity",
                      alpha: float = ALPHA, replicates: tuple | None = None) -> Premise:
    """The vision/LoRA premise: the mono arm's measured score exceeds the poly arm's.

    ``mono`` / ``poly`` are per-seed scores (paired by seed). Over ≥ 2 seeds with some spread: met when the paired
    t interval at ``1 - alpha`` lies above 0. With one seed (or zero spread) the seeds give no interval: then
    ``replicates`` = (mono's, poly's) bootstrap replicates of one seed's score over the *same* resampled test
    items decide (:func:`item_bootstrap_gap`); without them the premise is not measured (met None), unless the
    scores are equal or lower (met False).
    """
    res = decide_family([Cell(f"{measure}: {name_mono} − {name_poly}", mono, poly)], alpha)[0]
    measured = {"mono": float(np.mean(mono)), "poly": float(np.mean(poly)), "gap": res.estimate,
                "interval": res.interval, "measure": measure, "unit": "seeds"}
    if res.interval is not None:
        met = res.interval[0] > 0
        rule = (f"{name_mono} measurably more monosemantic than {name_poly}: paired {measure} gap "
                f"{res.estimate:+.3g}, {100 * res.level:.0f} % interval over {res.n} seeds [{res.interval[0]:+.3g}, "
                f"{res.interval[1]:+.3g}] {'above' if met else 'not above'} 0")
        return Premise(rule, bool(met), measured)
    if replicates is not None:
        gap, lo, hi, n = item_bootstrap_gap(float(np.mean(mono)), float(np.mean(poly)), *replicates, alpha=alpha)
        met = lo > 0
        rule = (f"{name_mono} measurably more monosemantic than {name_poly}: {measure} gap {gap:+.3g}, "
                f"{100 * (1 - alpha):.0f} % paired bootstrap interval over test items ({n} resamples, basic) "
                f"[{lo:+.3g}, {hi:+.3g}] {'above' if met else 'not above'} 0 ({res.degenerate or 'one seed'})")
        return Premise(rule, bool(met), measured | {"interval": (lo, hi), "unit": "test items (bootstrap)"})
    d = vector(mono, "mono") - vector(poly, "poly")
    met = False if np.isfinite(d).all() and np.all(d <= 0) else None
    rule = (f"{name_mono} more monosemantic than {name_poly} ({measure} gap {res.estimate:+.3g}; {res.degenerate}, "
            "and no bootstrap replicates, so no interval)")
    return Premise(rule, met, measured)


def item_bootstrap_gap(point_mono: float, point_poly: float, reps_mono, reps_poly, *,
                       alpha: float = ALPHA) -> tuple[float, float, float, int]:
    """Gap and basic (reverse-percentile) bootstrap interval at ``1 - alpha`` from paired replicates.

    Replicate r of both arms must come from the same resample of test items (:func:`monotheory.vision.
    feature_stats.monosemanticity_bootstrap` with one seed). The basic interval [2θ − q(1 − α/2), 2θ − q(α/2)]
    rather than the percentile one: resampling with replacement repeats items, which makes a sparse code's
    dimensions look purer than they are (an upward bias that grows with sparsity); the basic interval removes that
    bias to first order instead of carrying it into the premise."""
    rm, rp = vector(reps_mono, "mono replicates"), vector(reps_poly, "poly replicates")
    if rm.shape != rp.shape or rm.size < 2:
        raise ConfigError(f"paired bootstrap replicates need equal lengths ≥ 2, got {rm.size} and {rp.size}")
    theta = point_mono - point_poly
    q_lo, q_hi = np.quantile(rm - rp, [alpha / 2, 1 - alpha / 2])
    return float(theta), float(2 * theta - q_hi), float(2 * theta - q_lo), int(rm.size)


def clip_interval(interval, lo: float, hi: float):
    """Clip a reported interval of a bounded quantity (an accuracy in [0, 100]) to its range."""
    if interval is None:
        return None
    return (max(float(interval[0]), lo), min(float(interval[1]), hi))
