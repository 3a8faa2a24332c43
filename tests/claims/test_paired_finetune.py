"""C9/C10 compare CE and NCE heads scored on the same validation images: paired statistics, not binomials."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]


def _check(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "paper_checks" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _run(head, frac, rate, correct, train_acc):
    hist = [{"epoch": 1, "loss": 1.0, "train_acc": train_acc, "train_acc_clean": train_acc,
             "val_acc": float(np.mean(correct))}]
    return {"head": head, "few_shot_fraction": frac, "noise_rate": rate, "history": hist, "n_train": 100,
            "n_val": len(correct), "final_val_acc": float(np.mean(correct)), "val_correct": [int(v) for v in correct]}


def _folder(tmp_path, with_items=True):
    rng = np.random.default_rng(0)
    n = 2000
    ce = rng.random(n) < 0.6
    nce = ce.copy()
    nce[np.flatnonzero(~ce)[:60]] = True        # NCE also gets 60 of CE's misses: +3 pt, on shared images
    runs = [_run("ce", 1.0, 0.9, ce, 0.5), _run("nce", 1.0, 0.9, nce, 0.4),
            _run("ce", 0.5, 0.0, ce, 0.9), _run("nce", 0.5, 0.0, nce, 0.9)]
    if not with_items:
        for r in runs:
            del r["val_correct"]
    (tmp_path / "finetune.json").write_text(json.dumps({"runs": runs, "n_val": n, "run_config": {"dataset": "x"}}))
    return tmp_path, ce, nce


def test_c09_and_c10_use_paired_intervals(tmp_path):
    folder, ce, nce = _folder(tmp_path)
    v = _check("c09_nce_finetune").evaluate(folder, dataset=None)
    assert v.verdict == "reproduced" and v.value == pytest.approx(3.0)
    lo, hi = v.interval
    p = ce.mean()
    unpaired_half = 100 * 1.96 * np.sqrt(p * (1 - p) / len(ce) + nce.mean() * (1 - nce.mean()) / len(ce))
    assert lo > 0 and (hi - lo) < unpaired_half  # the independent-binomial interval (±3.0 pt) would reach 0
    assert "paired bootstrap" in v.conditions and "McNemar" in v.conditions
    (row,) = _check("c10_few_shot").evaluate(folder, dataset=None)
    assert row.verdict == "reproduced" and "paired bootstrap" in row.conditions


def test_old_finetune_files_without_items_are_skipped_with_the_reason(tmp_path):
    folder, _, _ = _folder(tmp_path, with_items=False)
    v = _check("c09_nce_finetune").evaluate(folder, dataset=None)
    assert v.verdict == "skipped" and "val_correct" in v.conditions
    (row,) = _check("c10_few_shot").evaluate(folder, dataset=None)
    assert row.verdict == "skipped"
