"""C5's decision on rows of paired cells (monotheory.toy.tables.decide, paper_checks/c05_toy_model.py) with
hand-made per-seed values whose answers are known: the premise gate, Holm within a row, intervals containing 0
(never reproduced or partly), constant gaps (never p = 0), and the value/interval of the cell that decided."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from monotheory.report import NOT_REPRODUCED, PARTLY, REPRODUCED, SKIPPED
from monotheory.stats import holm
from monotheory.toy import ToyConfig, tables

REPO = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("c05", REPO / "paper_checks" / "c05_toy_model.py")
c05 = importlib.util.module_from_spec(spec)
spec.loader.exec_module(c05)

SEEDS = 20
JITTER = np.random.default_rng(0).standard_normal((6, SEEDS)) * 0.004   # fixed, seed-dependent jitter


def make_row(gaps, *, premise=True, spread=None):
    """A row whose cells have mono − poly ≈ ``gaps`` (clean, label, input) per seed, poly at 0.5."""
    cells = []
    for j, (name, sign) in enumerate((("clean", -1), ("label noise", 1), ("input noise", 1))):
        poly = 0.5 + JITTER[2 * j]
        mono = poly + gaps[j] + (JITTER[2 * j + 1] if spread is None else spread[j])
        cells.append({"name": name, "mono": mono, "poly": poly, "sign": sign})
    measured = {"oracle": "monosemantic on 20/20 seeds", "poly": "monosemantic on 0/20 seeds"}
    return {"task": "argmax", "sparsity": 0.8, "labels": "all", "mono": "oracle", "sigma_sd": 0.6, "noise_rate": 0.9,
            "cells": cells, "chance": 0.03, "label_features": {"min": 40, "max": 40},
            "premise": {"holds": premise, "why": "" if premise else "oracle not monosemantic on every seed",
                        "measured": measured, "rule": "rule"}}


def test_every_cell_holds_is_reproduced():
    d = tables.decide(make_row((-0.1, 0.05, 0.05)))
    assert d["status"] == tables.REPRODUCED and [c["outcome"] for c in d["cells"]] == ["holds"] * 3


def test_some_cells_hold_is_partly_and_the_opposite_is_not_reproduced():
    assert tables.decide(make_row((-0.1, 0.05, -0.05)))["status"] == tables.PARTLY
    d = tables.decide(make_row((0.1, -0.05, 0.0)))
    assert d["status"] == tables.NOT_REPRODUCED and d["deciding"]["outcome"] == "opposite"


def test_intervals_containing_zero_are_inconclusive_never_partly():
    """Every gap 0 ± jitter: no cell is significant, so the row is inconclusive (not partly, not reproduced)."""
    d = tables.decide(make_row((0.0, 0.0005, 0.0)))
    assert d["status"] == tables.INCONCLUSIVE
    assert all(c["outcome"] == "inconclusive" for c in d["cells"])
    assert any(c["ci"][0] < 0 < c["ci"][1] for c in d["cells"])


def test_premise_not_met_is_not_a_test_whatever_the_numbers():
    d = tables.decide(make_row((-0.1, 0.05, 0.05), premise=False))
    assert d["status"] == tables.NOT_A_TEST and d["deciding"] is None


def test_holm_within_the_row_matches_scipy_and_the_formula():
    r = make_row((-0.003, 0.002, 0.001))
    d = tables.decide(r)
    p = np.array([stats.ttest_rel(c["mono"], c["poly"]).pvalue for c in r["cells"]])
    np.testing.assert_allclose([c["p"] for c in d["cells"]], p)
    np.testing.assert_allclose([c["p_holm"] for c in d["cells"]], holm(p))
    order = np.argsort(p)
    by_hand = np.empty(3)
    by_hand[order] = np.maximum.accumulate(np.minimum(1, p[order] * np.array([3, 2, 1])))
    np.testing.assert_allclose([c["p_holm"] for c in d["cells"]], by_hand)


def test_a_constant_gap_is_never_p_zero():
    """Every seed with the same gap: zero spread; the cell is named degenerate, p is not 0 and it decides nothing."""
    zero = np.zeros(SEEDS)
    d = tables.decide(make_row((-0.1, 0.05, 0.05), spread=(zero, zero, zero)))
    assert all(c["degenerate"] and not c["p"] == 0 and np.isnan(c["ci"]).all() for c in d["cells"])
    assert d["status"] == tables.INCONCLUSIVE


def verdict(r):
    return c05.verdict_for(r, label="oracle, S=0.8", reading="synthetic", cfg=ToyConfig(seed=100, n_seeds=SEEDS),
                           figures=[])


def test_the_row_shows_the_cell_that_decided_it():
    """Label noise inconclusive, input noise holds: the value and interval are the input-noise cell's."""
    r = make_row((-0.1, 0.0, 0.05))
    v = verdict(r)
    cells = {c["name"]: c for c in v.details["decision"]["cells"]}
    assert v.verdict == PARTLY and v.details["decision"]["deciding"]["name"] in ("clean", "input noise")
    deciding = v.details["decision"]["deciding"]
    assert v.value == pytest.approx(deciding["mean"]) and list(v.interval) == deciding["ci"]
    assert cells["label noise"]["outcome"] == "inconclusive" and v.value != pytest.approx(cells["label noise"]["mean"])
    assert "decided by the" in v.measured and "held-out seeds 100–119" in v.conditions


def test_verdict_statuses():
    assert verdict(make_row((-0.1, 0.05, 0.05))).verdict == REPRODUCED
    v = verdict(make_row((-0.1, 0.05, 0.05), premise=False))
    assert v.verdict == SKIPPED and v.measured.startswith("NOT A TEST (oracle not monosemantic") and not v.details["is_test"]
    assert verdict(make_row((0.1, -0.05, -0.05))).verdict == NOT_REPRODUCED
