"""The one decision rule (monotheory.claims.rules) on hand-made inputs, plus its error rate under H0."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from monotheory.claims.rules import (
    INCONCLUSIVE,
    NOT_A_TEST,
    NOT_REPRODUCED,
    PARTLY,
    REPRODUCED,
    Cell,
    Premise,
    decide,
    decide_family,
    decide_row,
    more_monosemantic,
)
from monotheory.errors import ConfigError
from monotheory.stats import holm
from tests.conftest import FALSE_ALARM_PER_TEST

CLEAR_A = [0.71, 0.74, 0.69, 0.73, 0.72]
CLEAR_B = [0.61, 0.60, 0.64, 0.62, 0.63]


def test_clear_gap_in_claimed_direction_is_reproduced():
    d = decide([Cell("gap", CLEAR_A, CLEAR_B)])
    assert d.outcome == REPRODUCED
    assert d.interval[0] > 0 and d.value == pytest.approx(np.mean(CLEAR_A) - np.mean(CLEAR_B))
    assert d.cells[0].p_value == pytest.approx(sps.ttest_rel(CLEAR_A, CLEAR_B).pvalue)


def test_clear_gap_against_the_claim_is_not_reproduced():
    d = decide([Cell("gap", CLEAR_B, CLEAR_A)])
    assert d.outcome == NOT_REPRODUCED and d.interval[1] < 0
    d = decide([Cell("claim a < b", CLEAR_B, CLEAR_A, direction=-1)])
    assert d.outcome == REPRODUCED


def test_positive_gap_whose_interval_contains_zero_is_inconclusive_never_partly():
    # the review's C3 case: NCL − CL positive on average, interval [−18.8, +23.1]
    a, b = [50.0, 80.0, 40.0], [45.0, 50.0, 60.0]
    d = decide([Cell("C3 NCL − CL", a, b)])
    assert d.value > 0 and d.interval[0] < 0 < d.interval[1]
    assert d.outcome == INCONCLUSIVE


def test_constant_gap_over_seeds_is_never_p_zero():
    # the review's digits case: two seeds with 8/364 on both gave "+2.2 [+2.2, +2.2], p 0.000"
    res = decide_family([Cell("two seeds", [0.50, 0.60], [0.478, 0.578])])[0]
    assert math.isnan(res.p_value) and res.interval is None
    assert res.outcome == INCONCLUSIVE and "zero spread" in res.degenerate
    one = decide_family([Cell("one seed", [0.9], [0.1])])[0]
    assert math.isnan(one.p_value) and one.outcome == INCONCLUSIVE and "only one" in one.degenerate


def test_degenerate_seeds_fall_back_to_items_and_say_so():
    rng = np.random.default_rng(0)
    ia = (rng.random(728) < 0.80).astype(int)
    ib = np.where(rng.random(728) < 0.9, ia, 1 - ia)        # a copy of a with 10 % of the items flipped
    res = decide_family([Cell("two seeds", [0.5, 0.6], [0.478, 0.578], items_a=ia, items_b=ib)])[0]
    assert "McNemar" in res.test and "ignores the variance" in res.test
    assert res.p_value > 0 and res.interval is not None and res.interval[0] < res.interval[1]
    # the item gap is what is estimated, not the degenerate seed gap
    assert res.estimate == pytest.approx(ia.mean() - ib.mean())


def test_holm_over_the_family_matches_stats_holm_and_sets_the_step_levels():
    rng = np.random.default_rng(1)
    b = rng.normal(size=(3, 6))
    cells = [Cell(f"c{i}", b[i] + shift + rng.normal(0, 0.3, 6), b[i]) for i, shift in enumerate((1.0, 0.3, 0.05))]
    res = decide_family(cells)
    p = [r.p_value for r in res]
    np.testing.assert_allclose([r.p_holm for r in res], holm(p))
    # the smallest p is reported at Bonferroni's level 1 − α/3, the largest at 1 − α
    order = np.argsort(p)
    assert res[order[0]].level == pytest.approx(1 - 0.05 / 3)
    assert res[order[-1]].level == pytest.approx(0.95)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(-1, 1), st.floats(-1, 1)), min_size=1, max_size=8),
       st.integers(1, 4), st.sampled_from([1, -1]))
def test_no_reproduced_or_partly_cell_has_an_interval_containing_zero(pairs, n_cells, direction):
    a = np.array([p[0] for p in pairs])
    b = np.array([p[1] for p in pairs])
    cells = [Cell(f"c{k}", a + 0.1 * k, b, direction=direction) for k in range(n_cells)]
    results = decide_family(cells)
    for r in results:
        if r.outcome == REPRODUCED:
            lo, hi = r.interval
            assert (lo > 0) if direction > 0 else (hi < 0)
        if r.outcome == NOT_REPRODUCED:
            lo, hi = r.interval
            assert (hi < 0) if direction > 0 else (lo > 0)
        if r.interval is not None and r.interval[0] <= 0 <= r.interval[1]:
            assert r.outcome == INCONCLUSIVE
        assert not (r.p_value == 0 and r.n < 3)
    row = decide_row(results)
    if row.outcome in (REPRODUCED, PARTLY):
        supporting = [r for r in results if r.outcome == REPRODUCED]
        assert supporting and all(not (r.interval[0] <= 0 <= r.interval[1]) for r in supporting)
    if row.outcome == REPRODUCED:
        assert not (row.interval[0] <= 0 <= row.interval[1])


def test_parts_combine_into_partly_only_when_some_hold():
    fam = decide_family([Cell("label noise", CLEAR_A, CLEAR_B),
                         Cell("input noise", [0.5, 0.8, 0.4], [0.45, 0.5, 0.6])])
    row = decide_row(fam)
    # shown: the part that holds (a partly row never shows an interval containing 0); the reason names the other
    assert row.outcome == PARTLY and row.decided_by == "label noise" and row.interval[0] > 0
    assert "not for input noise (inconclusive: " in row.reason and "interval contains 0" in row.reason
    assert decide_row(fam[1:]).outcome == INCONCLUSIVE


def test_premise_not_met_makes_the_row_not_a_test():
    cells = [Cell("gap", CLEAR_A, CLEAR_B)]
    assert decide(cells, Premise("mono arm more monosemantic", met=False)).outcome == NOT_A_TEST
    assert decide(cells, Premise("mono arm more monosemantic", met=None)).outcome == NOT_A_TEST
    assert decide(cells, Premise("mono arm more monosemantic", met=True)).outcome == REPRODUCED


def test_vision_row_with_equal_monosemanticity_is_not_a_test():
    prem = more_monosemantic("SAE", [0.10, 0.12, 0.11], "CL", [0.10, 0.12, 0.11])
    assert prem.met is False
    assert decide([Cell("C2 SAE − CL", CLEAR_A, CLEAR_B)], prem).outcome == NOT_A_TEST
    prem = more_monosemantic("SAE", [0.47, 0.50, 0.49], "CL", [0.10, 0.11, 0.09])
    assert prem.met is True and prem.measured["gap"] > 0.3


def test_equivalence_tost():
    rng = np.random.default_rng(2)
    b = rng.normal(70, 2, 8)
    close = decide([Cell("C1 clean", b + rng.normal(0, 0.2, 8), b, margin=1.0)])
    assert close.outcome == REPRODUCED and -1 < close.interval[0] and close.interval[1] < 1
    far = decide([Cell("C1 clean", b - 5 + rng.normal(0, 0.2, 8), b, margin=1.0)])
    assert far.outcome == NOT_REPRODUCED and far.interval[1] < -1
    wide = decide([Cell("C1 clean", b + rng.normal(0, 3, 8), b, margin=1.0)])
    assert wide.outcome == INCONCLUSIVE


def test_bad_input():
    with pytest.raises(ConfigError, match="direction"):
        Cell("x", [1], [0], direction=0)
    with pytest.raises(ConfigError, match="margin"):
        Cell("x", [1], [0], margin=-1)
    with pytest.raises(ConfigError, match="equal lengths"):
        decide([Cell("x", [1, 2], [0])])
    with pytest.raises(ConfigError, match="alpha"):
        decide_family([Cell("x", [1, 2], [0, 1])], alpha=0.7)


def test_family_wise_error_under_h0(mc_seed):
    """Under H0 (no difference in any of 3 cells, 6 seeds each) the rate of families with any cell decided
    (reproduced or not reproduced) is at most α = 5 %. 1500 families (enough to tell Holm from no correction,
    whose rate is 1 − 0.95³ = 14 %); the one-sided tolerance is z·SE with
    z from the false-alarm budget (FALSE_ALARM_PER_TEST)."""
    rng = np.random.default_rng(mc_seed(11))
    n_fam, alarms = 1500, 0
    for _ in range(n_fam):
        b = rng.normal(size=(3, 6))
        res = decide_family([Cell(f"c{i}", b[i] + rng.normal(size=6), b[i]) for i in range(3)])
        alarms += any(r.outcome != INCONCLUSIVE for r in res)
    rate = alarms / n_fam
    z = sps.norm.isf(FALSE_ALARM_PER_TEST)
    assert rate <= 0.05 + z * math.sqrt(0.05 * 0.95 / n_fam)
    assert rate > 0.01        # not vacuous: the rule does reject at roughly its level
