"""Which arm each mono gain survives (issue 22): the readers of a digits folder and of a run-imagenet folder decide
SAE/NCL − CL, − CL with the tuned L2 probe and − the untrained SAE together by the one rule."""

from __future__ import annotations

import json

import numpy as np

from monotheory.claims.digits import baseline_survival as digits_survival
from monotheory.claims.digits import survival_markdown
from monotheory.claims.vision import baseline_survival as run_survival

CL = [0.30, 0.35, 0.33, 0.31, 0.34]
CL_L2 = [0.50, 0.57, 0.49, 0.55, 0.52]
RANDOM = [0.40, 0.41, 0.43, 0.40, 0.42]
SAE = [0.52, 0.55, 0.51, 0.54, 0.53]       # beats CL and the random SAE, not the tuned L2 probe
NCL = [0.70, 0.74, 0.71, 0.73, 0.72]       # beats every arm


def _cell(v):
    return {"mean": float(np.mean(v)), "ci": [0, 1], "values": v}


def test_digits_gain_counts_only_where_it_beats_every_baseline(tmp_path):
    cells = {"label noise 0.8": {m: _cell(v) for m, v in
                                 (("cl", CL), ("sae", SAE), ("ncl", NCL), ("cl_l2", CL_L2), ("sae_random", RANDOM))},
             "fine-tune fraction 1, label noise 0.6": {"ce": _cell(CL), "nce": _cell(SAE)}}
    (tmp_path / "digits.json").write_text(json.dumps({"cells": cells, "baselines": ["cl_l2", "sae_random"]}))
    rows = {r["arm"]: r for r in digits_survival(tmp_path)}
    assert set(rows) == {"sae", "ncl"}  # fine-tuning cells have no baselines
    sae, ncl = rows["sae"], rows["ncl"]
    assert sae["beats"] == ["cl", "sae_random"] and not sae["evidence"]
    assert sae["vs"]["cl_l2"]["outcome"] == "inconclusive" and sae["vs"]["cl_l2"]["interval"][0] < 0
    assert ncl["beats"] == ["cl", "cl_l2", "sae_random"] and ncl["evidence"]
    for r in rows.values():  # paired over the 5 seeds, Holm over the three arms, intervals at Holm's step level
        for b, c in r["vs"].items():
            d = np.array({"sae": SAE, "ncl": NCL}[r["arm"]]) - np.array({"cl": CL, "cl_l2": CL_L2,
                                                                         "sae_random": RANDOM}[b])
            assert c["estimate"] == np.float64(d.mean()) or abs(c["estimate"] - d.mean()) < 1e-12
            assert c["n"] == 5 and "paired t" in c["test"] and c["level"] >= 0.95
            if b in r["beats"]:
                assert c["interval"][0] > 0 and c["p_holm"] < 0.05
    md = survival_markdown(list(rows.values()))
    assert "| label noise 0.8 | NCL |" in md and "| yes |" in md and "| no |" in md
    (tmp_path / "digits.json").write_text(json.dumps({"cells": cells}))  # a folder without baselines
    assert digits_survival(tmp_path) == []


def test_digits_two_seeds_with_the_same_gap_beat_nothing(tmp_path):
    """Zero spread over seeds is not estimable (never p = 0): the gain survives no arm."""
    cells = {"label noise 0.8": {"cl": _cell([0.25, 0.5]), "sae": _cell([0.5, 0.75]), "cl_l2": _cell([0.125, 0.375]),
                                 "sae_random": _cell([0.0, 0.25])}}  # exact binary fractions: equal differences
    (tmp_path / "digits.json").write_text(json.dumps({"cells": cells, "baselines": ["cl_l2", "sae_random"]}))
    (row,) = digits_survival(tmp_path)
    assert row["beats"] == [] and all(c["interval"] is None for c in row["vs"].values())


def test_run_imagenet_folder_item_level(tmp_path):
    """One pretraining seed: item-level McNemar + paired bootstrap over the test images, Holm over the arms."""
    from monotheory.vision.tables import save_correct

    rng = np.random.default_rng(0)
    n = 400
    base = rng.random(n) < 0.35
    correct = {"cl": base, "cl_l2": base | (rng.random(n) < 0.30), "sae_random": base | (rng.random(n) < 0.05),
               "sae": base | (rng.random(n) < 0.15), "ncl": base | (rng.random(n) < 0.50)}
    save_correct(tmp_path / "probe_correct.npz", {m: {(0.9, "0"): v.astype(np.uint8)} for m, v in correct.items()})
    rows = [{"noise_rate": 0.9, "test_acc": {"0": float(v.mean())}} for v in correct.values()]
    (tmp_path / "probe.json").write_text(json.dumps({"methods": {m: {"rows": [r]} for m, r in zip(correct, rows, strict=True)}}))
    out = {r["arm"]: r for r in run_survival(tmp_path)}
    assert out["sae"]["beats"] == ["cl", "sae_random"] and not out["sae"]["evidence"]
    assert out["sae"]["vs"]["cl_l2"]["outcome"] == "not reproduced"  # the tuned probe is ahead of it
    assert out["ncl"]["beats"] == ["cl", "cl_l2", "sae_random"] and out["ncl"]["evidence"]
    c = out["ncl"]["vs"]["cl"]
    assert "McNemar" in c["test"] and c["estimate"] == correct["ncl"].mean() - correct["cl"].mean()
    assert c["interval"][0] > 0 and c["n"] == 1
    (tmp_path / "probe.json").write_text(json.dumps({"methods": {"cl": {"rows": [rows[0]]}}}))
    assert run_survival(tmp_path) == []  # no baselines in the run
