"""`monotheory probe` with the strong baselines and Figure 4 (issue 22), on scikit-learn's digits (pixel features):
the l2 baseline's penalty chosen on the noisy labels of its own random streams, the untrained SAE beside the
sae-topk view, which arm each gain beats, and figure4.png + figure4.json in --out."""

from __future__ import annotations

import json

import numpy as np
import pytest

from monotheory.probe import ProfileConfig, profile_features
from monotheory.probes.tuned import HeldOutL2Probe
from monotheory.seeding import stream_seed

GRID = (0.0, 1e-2, 1.0)


@pytest.fixture(scope="module")
def profile():
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x = x.astype(np.float32)
    cfg = ProfileConfig(noise_rates=(0.0, 0.8), sigmas=(0.0, 0.6), mono=("sae-topk:8",), baselines=("l2", "sae-random"),
                        l2_grid=GRID, sae_epochs=2, n_resamples=200, max_iter=60)
    return profile_features(x[:500], y[:500], x[500:800], y[500:800], config=cfg), (x[:500], y[:500]), cfg


def test_sets_roles_and_the_l2_selection(profile):
    prof, (xtr, ytr), cfg = profile
    sets = prof.data["feature_sets"]
    assert {n: s["role"] for n, s in sets.items()} == {"features": "reference", "sae-topk:8": "view",
                                                       "features+l2": "baseline", "sae-random:8": "baseline"}
    rnd = sets["sae-random:8"]["view"][0]
    assert rnd["trained"] is False and rnd["k"] == 8 and rnd["latents"] == sets["sae-topk:8"]["view"][0]["latents"]
    from monotheory.noise import label_noise

    (sel,) = sets["features+l2"]["l2_selection"]  # one seed
    noisy = np.asarray(label_noise(ytr, 0.8, 10, seed=stream_seed(0, "label-noise", 0, "0.8")).labels)
    again = HeldOutL2Probe(10, alphas=GRID, random_state=stream_seed(0, "l2-holdout", 0, "0.8") % 2**32,
                           max_iter=cfg.max_iter).fit(xtr, noisy)
    assert sel["0.8"] == again.selection_  # the noisy labels of that rate, the split of its own stream


def test_survival_reads_the_comparisons(profile):
    prof, _, cfg = profile
    comps = {(c["a"], c["b"]): c for c in prof.data["comparisons"]}
    assert ("sae-topk:8", "features+l2") in comps and ("sae-topk:8", "sae-random:8") in comps
    surv = prof.data["survival"]
    assert {r["set"] for r in surv} == {"sae-topk:8"} and len(surv) == 4  # 2 rates × 2 test sets
    alpha = 1 - cfg.confidence
    for r in surv:
        assert list(r["gaps"]) == ["features", "features+l2", "sae-random:8"]
        for b, g in r["gaps"].items():
            cell = next(c for c in comps[("sae-topk:8", b)]["cells"]
                        if c["noise_rate"] == r["noise_rate"] and c["test"] == r["test"])
            assert g["gap"] == cell["gap"] and g["p_holm"] == cell["p_holm"]
            assert (b in r["beats"]) == (g["gap"] > 0 and g["ci"][0] > 0 and g["p_holm"] < alpha)
        assert r["evidence"] == (len(r["beats"]) == 3)
    assert "Against the strong baselines" in prof.table()


def test_figure4_files(profile, tmp_path):
    prof, _, _ = profile
    prof.save(tmp_path)
    f4 = json.loads((tmp_path / "figure4.json").read_text())
    assert (tmp_path / "figure4.png").stat().st_size > 10_000
    assert f4["rate"] == 0.8 and f4["reference"] == "features" and set(f4["sets"]) == set(prof.data["feature_sets"])
    d = f4["sets"]["features"]
    ok = prof.correct[("features", 0, 0.8, "clean")]
    assert d["n_test"] == 300 and d["accuracy"] == pytest.approx(ok.mean())  # the probe of rate 0.8, seed 0
    assert d["samples"]["correct"] == ok.tolist()
    summary = json.loads((tmp_path / "profile.json").read_text())["figure4"]
    assert summary["rate"] == 0.8 and summary["sets"]["features"]["accuracy"] == d["accuracy"]
