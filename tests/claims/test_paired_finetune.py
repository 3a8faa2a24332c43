"""C9/C10 compare CE and NCE heads scored on the same validation images: paired statistics, the one rule."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from monotheory.claims.verdict import INCONCLUSIVE, NOT_A_TEST, PARTLY, REPRODUCED

REPO = Path(__file__).resolve().parents[2]


def _check(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "paper_checks" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _stats(score):
    reps = score + 0.01 * np.random.default_rng(0).standard_normal(300)
    return {"monosemanticity": score, "sparsity": 0.5, "monosemanticity_bootstrap": {"replicates": reps.tolist()}}


def _run(head, frac, rate, correct, train_acc, score):
    hist = [{"epoch": 1, "loss": 1.0, "train_acc": train_acc, "train_acc_clean": train_acc,
             "val_acc": float(np.mean(correct))}]
    return {"head": head, "few_shot_fraction": frac, "noise_rate": rate, "history": hist, "n_train": 5000,
            "n_val": len(correct), "final_val_acc": float(np.mean(correct)), "val_correct": [int(v) for v in correct],
            "stats": _stats(score)}


def _folder(tmp_path, with_items=True, nce_train=0.4, nce_score=0.3, few_shot_gain=60):
    rng = np.random.default_rng(0)
    n = 2000
    ce = rng.random(n) < 0.6
    nce = ce.copy()
    nce[np.flatnonzero(~ce)[:60]] = True        # NCE also gets 60 of CE's misses: +3 pt, on shared images
    few = ce.copy()
    few[np.flatnonzero(~ce)[:few_shot_gain]] = True
    few[np.flatnonzero(ce)[:30]] = False
    runs = [_run("ce", 1.0, 0.9, ce, 0.5, 0.1), _run("nce", 1.0, 0.9, nce, nce_train, nce_score),
            _run("ce", 0.5, 0.0, ce, 0.9, 0.1), _run("nce", 0.5, 0.0, few, 0.9, nce_score)]
    if not with_items:
        for r in runs:
            del r["val_correct"]
    (tmp_path / "finetune.json").write_text(json.dumps({"runs": runs, "n_val": n, "run_config": {"dataset": "x"}}))
    return tmp_path, ce, nce


def test_c09_and_c10_use_paired_intervals(tmp_path):
    folder, ce, nce = _folder(tmp_path)
    (v,) = _check("c09_nce_finetune").evaluate(folder, dataset=None)
    assert v.verdict == REPRODUCED and v.label == "NCE−CE"
    lo, hi = v.interval
    p = ce.mean()
    unpaired_half = 100 * 1.96 * np.sqrt(p * (1 - p) / len(ce) + nce.mean() * (1 - nce.mean()) / len(ce))
    assert lo > 0 and (hi - lo) < unpaired_half  # the independent-binomial interval (±3.0 pt) would reach 0
    assert "paired t over 2000 test images" in v.measured and "train (noisy labels)" in v.measured
    assert "Holm family: the 2 cells of C9" in v.conditions
    (row,) = _check("c10_few_shot").evaluate(folder, dataset=None)
    assert row.verdict == REPRODUCED and "paired t over 2000" in row.measured


def test_c09_has_two_parts_and_can_be_partly(tmp_path):
    folder, _, _ = _folder(tmp_path, nce_train=0.5)            # NCE fits the noisy labels as much as CE
    (v,) = _check("c09_nce_finetune").evaluate(folder, dataset=None)
    d = v.details["decision"]
    assert v.verdict == PARTLY and d["decided_by"] == "NCE−CE val" and v.interval[0] > 0    # the part that holds
    assert "not for NCE−CE train (noisy labels)" in d["reason"]


def test_c10_at_p_one_half_is_not_reproduced(tmp_path):
    # NCE gains 31 and loses 30 of 2000 images: +0.05 pt, McNemar/paired p ≈ 0.9 — formerly "reproduced" (gap ≥ 0)
    folder, _, _ = _folder(tmp_path, few_shot_gain=31)
    (row,) = _check("c10_few_shot").evaluate(folder, dataset=None)
    assert row.value > 0 and row.details["decision"]["cells"][0]["p_value"] > 0.5
    assert row.verdict == INCONCLUSIVE


def test_finetune_rows_need_a_more_monosemantic_nce(tmp_path):
    folder, _, _ = _folder(tmp_path, nce_score=0.1)
    (v,) = _check("c09_nce_finetune").evaluate(folder, dataset=None)
    assert v.verdict == NOT_A_TEST and "not above 0" in v.measured


def test_old_finetune_files_without_items_are_skipped_with_the_reason(tmp_path):
    folder, _, _ = _folder(tmp_path, with_items=False)
    (v,) = _check("c09_nce_finetune").evaluate(folder, dataset=None)
    assert v.verdict == "skipped" and "val_correct" in v.conditions
    (row,) = _check("c10_few_shot").evaluate(folder, dataset=None)
    assert row.verdict == "skipped"


def test_unpaired_train_se_is_named(tmp_path):
    folder, _, _ = _folder(tmp_path)
    (v,) = _check("c09_nce_finetune").evaluate(folder, dataset=None)
    train = next(c for c in v.details["decision"]["cells"] if "train" in c["name"])
    assert train["estimate"] == pytest.approx(-0.1) and "unpaired SE" in train["test"]
