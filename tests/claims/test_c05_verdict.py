"""C5's verdict rule (paper_checks/c05_toy_model.py) on synthetic summaries with known answers: the premise
gate (a row is a test only if mono is measured monosemantic and poly polysemantic), Holm within a row, the
chance and difference-in-differences rules."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from monotheory.claims.verdict import NOT_REPRODUCED, REPRODUCED, SKIPPED
from monotheory.stats import holm
from monotheory.toy import ToyConfig
from monotheory.toy.experiments import summarise

REPO = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("c05", REPO / "paper_checks" / "c05_toy_model.py")
c05 = importlib.util.module_from_spec(spec)
spec.loader.exec_module(c05)

SEEDS = 10
CHANCE = 0.03


def code(mono: list[bool], basis="basis-free (linear code)"):
    return {"basis": basis, "monosemantic_per_seed": mono, "represented": 20.0, "interference": 0.0 if all(mono) else 1.0}


def summary(mono: dict, poly: dict, spread: float = 0.004, mono_seeds=None, poly_seeds=None) -> dict:
    """Per-seed accuracies = mean + a small seed-dependent jitter (different per regime and condition)."""
    rng = np.random.default_rng(0)
    acc = {c: np.concatenate([poly[c] + spread * rng.standard_normal(SEEDS),
                              mono[c] + spread * rng.standard_normal(SEEDS)])
           for c in ("clean", "label_noise", "input_noise")}
    s = summarise(acc, ["poly", "oracle"], SEEDS)
    for r, flags in (("poly", poly_seeds or [False] * SEEDS), ("oracle", mono_seeds or [True] * SEEDS)):
        s[r]["code"] = code(flags)
        s[r]["monosemantic"], s[r]["polysemantic"] = all(flags), not any(flags)
    return s


def verdict(mono, poly, chance=CHANCE, **kw):
    return c05.verdict_for("oracle", summary(mono, poly, **kw), "synthetic", ToyConfig(), [], chance=chance)


def acc(clean, label, inp):
    return {"clean": clean, "label_noise": label, "input_noise": inp}


def test_reproduced():
    v = verdict(acc(0.60, 0.40, 0.50), acc(0.70, 0.30, 0.40))
    assert v.verdict == REPRODUCED and v.details["is_test"]
    assert v.details["difference_in_differences"]["input"]["mean"] == pytest.approx(0.2, abs=0.01)


def test_not_monosemantic_mono_is_not_a_test():
    """The same numbers as a reproduced row, but one seed of mono fails the monosemanticity rule."""
    v = verdict(acc(0.60, 0.40, 0.50), acc(0.70, 0.30, 0.40), mono_seeds=[True] * 9 + [False])
    assert v.verdict == SKIPPED and not v.details["is_test"]
    assert v.measured.startswith("NOT A TEST (oracle not monosemantic)") and "not a test" in v.label
    assert "monosemantic on 9/10 seeds" in v.measured


def test_poly_not_polysemantic_is_not_a_test():
    v = verdict(acc(0.60, 0.40, 0.50), acc(0.70, 0.30, 0.40), poly_seeds=[True] + [False] * 9)
    assert v.verdict == SKIPPED and "poly not polysemantic" in v.measured


def test_holm_within_the_row():
    """Three one-sided cells; their p-values are Holm-adjusted (hand-computed against stats.holm and by
    the formula for three: the smallest ×3, the next ×2, the largest ×1, made monotone)."""
    v = verdict(acc(0.60, 0.40, 0.50), acc(0.70, 0.30, 0.40))
    cells = v.details["cells"]
    p = np.array([cells[k]["p_one_sided"] for k in ("clean", "label", "input")])
    order = np.argsort(p)
    by_hand = np.empty(3)
    by_hand[order] = np.maximum.accumulate(np.minimum(1, p[order] * np.array([3, 2, 1])))
    np.testing.assert_allclose([cells[k]["p_holm"] for k in ("clean", "label", "input")], by_hand)
    np.testing.assert_allclose(by_hand, holm(p))


def test_a_cell_significant_only_without_correction_does_not_count():
    """A label cell with one-sided p ≈ 0.027 fails after Holm when another cell (input, p ≈ 0.3) is weaker:
    the label cell is then the second largest of three and is doubled to ≈ 0.054."""
    s = summary(acc(0.60, 0.40, 0.50), acc(0.70, 0.30, 0.40))
    poly = np.asarray(s["poly"]["label_noise"]["per_seed"])
    e = np.array([0.02, -0.03, 0.01, 0.02, -0.01, 0.0, 0.03, -0.02, 0.01, -0.02])  # mean +0.001: p ≈ 0.43
    s["oracle"]["input_noise"]["per_seed"] = np.asarray(s["poly"]["input_noise"]["per_seed"]) + e
    d = np.array([0.056, -0.024, 0.046, 0.016, -0.014, 0.036, 0.026, -0.004, 0.026, 0.016])  # one-sided p ≈ 0.027
    s["oracle"]["label_noise"]["per_seed"] = poly + d
    v = c05.verdict_for("oracle", s, "synthetic", ToyConfig(), [], chance=CHANCE)
    cell = v.details["cells"]["label"]
    assert 0.05 / 3 < cell["p_one_sided"] < 0.05 and cell["p_holm"] >= 0.05
    assert not v.details["holds"]["mono better under label noise"] and v.verdict == NOT_REPRODUCED


def test_not_reproduced_when_mono_is_worse_everywhere():
    assert verdict(acc(0.60, 0.20, 0.30), acc(0.70, 0.30, 0.40)).verdict == NOT_REPRODUCED


def test_better_under_noise_only_because_better_clean_does_not_count():
    """+0.28 clean, +0.05 under input noise, losing 0.23 more than poly; the label cell at chance."""
    v = verdict(acc(0.43, 0.042, 0.17), acc(0.15, 0.042, 0.12))
    assert v.details["holds"]["mono better under input noise"]
    assert v.details["difference_in_differences"]["input"]["ci"][1] < 0
    assert v.details["near_chance"] == {"label": True, "input": False}
    assert v.verdict == NOT_REPRODUCED and "label-noise cell near or below chance" in v.measured


def test_near_chance_rule():
    row = {"label_noise": {"ci": [0.0, 0.07]}}
    poly = {"label_noise": {"ci": [0.0, 0.05]}}
    assert c05.near_chance(row, poly, "label_noise", 0.03)          # bound 0.03 + 0.05·0.97 = 0.0785
    assert not c05.near_chance(row, poly, "label_noise", 0.01)      # bound 0.0595 < 0.07
