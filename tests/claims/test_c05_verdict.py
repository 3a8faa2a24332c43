"""C5's rows of paired cells decided by the one rule (monotheory.claims.toy_controls.decide_row on
monotheory.claims.rules; paper_checks/c05_toy_model.py) with hand-made per-seed values whose answers are known: the
claimed signs, the premise gate, Holm within a row, intervals containing 0 (never reproduced or partly), constant
gaps (never p = 0), and the value/interval of the cell that decided."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from monotheory.claims.rules import INCONCLUSIVE, NOT_A_TEST, NOT_REPRODUCED, PARTLY, REPRODUCED
from monotheory.claims.toy_controls import decide_row
from monotheory.stats import holm
from monotheory.toy import ToyConfig

REPO = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("c05", REPO / "paper_checks" / "c05_toy_model.py")
c05 = importlib.util.module_from_spec(spec)
spec.loader.exec_module(c05)

SEEDS = 20
JITTER = np.random.default_rng(0).standard_normal((6, SEEDS)) * 0.004   # fixed, seed-dependent jitter


def make_row(gaps, *, premise=True, spread=None, dyadic=False):
    """A row whose cells have mono − poly ≈ ``gaps`` (clean, label, input) per seed, poly at 0.5 (``dyadic``:
    poly on a grid of 1/4096, as accuracies on 4096 items are, so that a constant gap is exactly constant)."""
    cells = []
    for j, (name, sign) in enumerate((("clean", -1), ("label noise", 1), ("input noise", 1))):
        poly = 0.5 + (np.arange(SEEDS) / 4096 if dyadic else JITTER[2 * j])
        mono = poly + gaps[j] + (JITTER[2 * j + 1] if spread is None else spread[j])
        cells.append({"name": name, "mono": mono, "poly": poly, "sign": sign})
    measured = {"oracle": "monosemantic on 20/20 seeds", "poly": "monosemantic on 0/20 seeds"}
    return {"task": "argmax", "sparsity": 0.8, "labels": "all", "mono": "oracle", "sigma_sd": 0.6, "noise_rate": 0.9,
            "cells": cells, "chance": 0.03, "label_features": {"min": 40, "max": 40},
            "premise": {"holds": premise, "why": "" if premise else "oracle not monosemantic on every seed",
                        "measured": measured, "rule": "rule"}}


def test_every_cell_in_its_claimed_direction_is_reproduced():
    """Clean is claimed mono < poly (sign −1), both noises mono > poly."""
    d = decide_row(make_row((-0.1, 0.05, 0.05)))
    assert d["outcome"] == REPRODUCED and [c["outcome"] for c in d["cells"]] == [REPRODUCED] * 3
    assert [c["direction"] for c in d["cells"]] == [-1, 1, 1]


def test_some_cells_hold_is_partly_and_the_opposite_is_not_reproduced():
    assert decide_row(make_row((-0.1, 0.05, -0.05)))["outcome"] == PARTLY
    d = decide_row(make_row((0.1, -0.05, 0.0)))
    assert d["outcome"] == NOT_REPRODUCED


def test_intervals_containing_zero_are_inconclusive_never_partly():
    """Every gap 0 ± jitter: no cell is decided, so the row is inconclusive (not partly, not reproduced)."""
    d = decide_row(make_row((0.0, 0.0005, 0.0)))
    assert d["outcome"] == INCONCLUSIVE
    assert all(c["outcome"] == INCONCLUSIVE for c in d["cells"])
    assert any(c["interval"][0] < 0 < c["interval"][1] for c in d["cells"])


def test_premise_not_met_is_not_a_test_whatever_the_numbers():
    d = decide_row(make_row((-0.1, 0.05, 0.05), premise=False))
    assert d["outcome"] == NOT_A_TEST and "oracle not monosemantic" in d["reason"]


def test_holm_within_the_row_matches_scipy_and_the_formula():
    r = make_row((-0.003, 0.002, 0.001))
    d = decide_row(r)
    p = np.array([stats.ttest_rel(c["mono"], c["poly"]).pvalue for c in r["cells"]])
    np.testing.assert_allclose([c["p_value"] for c in d["cells"]], p)
    order = np.argsort(p)
    by_hand = np.empty(3)
    by_hand[order] = np.maximum.accumulate(np.minimum(1, p[order] * np.array([3, 2, 1])))
    np.testing.assert_allclose([c["p_holm"] for c in d["cells"]], by_hand)
    np.testing.assert_allclose(by_hand, holm(p))


def test_a_constant_gap_is_never_p_zero():
    """Every seed with the same gap: zero spread; the cells are not estimable (no interval, p NaN), never p = 0."""
    zero = np.zeros(SEEDS)
    d = decide_row(make_row((-0.125, 0.0625, 0.0625), spread=(zero, zero, zero), dyadic=True))
    assert all(c["degenerate"] and np.isnan(c["p_value"]) and c["interval"] is None for c in d["cells"])
    assert d["outcome"] == INCONCLUSIVE


def verdict(r):
    return c05.verdict_for(r, label="oracle, S=0.8", reading="synthetic", cfg=ToyConfig(seed=100, n_seeds=SEEDS),
                           figures=[])


def test_the_row_shows_the_cell_that_decided_it():
    """Clean and input noise hold, label noise is inconclusive: the row is partly; its value and interval are
    those of the least certain part that holds (input noise here: a partly row never shows an interval containing
    0), and the reason names the label-noise part that did not hold."""
    v = verdict(make_row((-0.1, 0.0, 0.05)))
    d = v.details["decision"]
    cells = {c["name"]: c for c in d["cells"]}
    assert v.verdict == PARTLY and d["decided_by"] == "input noise"
    assert v.value == pytest.approx(cells["input noise"]["estimate"])
    assert list(v.interval) == list(cells["input noise"]["interval"]) and v.interval[0] > 0
    assert "decided by the input noise cell" in v.measured and "not for label noise (inconclusive" in v.measured
    assert "held-out seeds 100–119" in v.conditions


def test_verdict_statuses():
    assert verdict(make_row((-0.1, 0.05, 0.05))).verdict == REPRODUCED
    v = verdict(make_row((-0.1, 0.05, 0.05), premise=False))
    assert v.verdict == NOT_A_TEST and v.measured.startswith("NOT A TEST (oracle not monosemantic")
    assert not v.details["is_test"]
    assert verdict(make_row((0.1, -0.05, -0.05))).verdict == NOT_REPRODUCED
    assert verdict(make_row((0.0, 0.0005, 0.0))).verdict == INCONCLUSIVE
