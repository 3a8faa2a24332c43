"""`monotheory probe` on feature files: scikit-learn's digits end to end, the profile's sanity, file formats."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from monotheory.errors import ConfigError
from monotheory.probe.api import profile_features
from monotheory.probe.config import ProfileConfig
from monotheory.probe.feature_files import load_feature_file
from monotheory.probe.profile import feature_measures


@pytest.fixture(scope="module")
def digits_files(tmp_path_factory):
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    test = np.arange(len(y)) % 5 == 0
    d = tmp_path_factory.mktemp("digits")
    np.savez(d / "tr.npz", X=X[~test], y=y[~test])
    np.savez(d / "te.npz", X=X[test], y=y[test])
    return d, X, y, test


def test_digits_pixels_end_to_end_with_sae_column(cli, digits_files, tmp_path):
    d, X, y, test = digits_files
    out = tmp_path / "P"
    rc, stdout, err = cli("probe", "--train", str(d / "tr.npz"), "--test", str(d / "te.npz"), "--out", str(out),
                          "--json", "--noise-rates", "0,0.8", "--sigmas", "0,0.6", "--mono", "sae-topk:8",
                          "--sae-epochs", "10", "--quiet")
    assert rc == 0, err
    prof = json.loads(stdout)
    assert prof == json.loads((out / "profile.json").read_text())
    for name in ("config.json", "profile.md", "noise_curves.png", "noise_curves.json", "correct.npz"):
        assert (out / name).is_file(), name
    cond = prof["conditions"]
    assert cond["n_test"] == test.sum() and cond["num_classes"] == 10 and cond["noise_space"] == "feature"
    assert set(prof["feature_sets"]) == {"features", "sae-topk:8"}
    for fs in prof["feature_sets"].values():
        cell = {(c["noise_rate"], c["test"]): c for c in fs["cells"]}
        clean, noisy = cell[(0.0, "clean")], cell[(0.8, "clean")]
        assert clean["acc"] > 0.5 > cond["chance"]  # chance = 13 % (largest class share)
        assert noisy["acc"] < clean["acc"]            # 80 % flipped labels cost accuracy
        assert clean["ci"][0] <= clean["acc"] <= clean["ci"][1]
    (comp,) = prof["comparisons"]
    assert (comp["a"], comp["b"]) == ("sae-topk:8", "features") and len(comp["cells"]) == 4
    for c in comp["cells"]:  # paired statistics, with the counts they rest on
        assert c["ci"][0] <= c["gap"] <= c["ci"][1] and 0 <= c["p_mcnemar"] <= c["p_holm"] <= 1
        a = prof["feature_sets"]["sae-topk:8"]["cells"]
        acc_a = next(x["acc"] for x in a if x["noise_rate"] == c["noise_rate"] and x["test"] == c["test"])
        acc_b = next(x["acc"] for x in prof["feature_sets"]["features"]["cells"]
                     if x["noise_rate"] == c["noise_rate"] and x["test"] == c["test"])
        assert c["gap"] == pytest.approx(acc_a - acc_b)
        assert c["only_a"] - c["only_b"] == round(c["gap"] * test.sum())
    with np.load(out / "correct.npz") as z:
        assert len(z.files) == 2 * 2 * 2 and all(z[k].shape == (test.sum(),) for k in z.files)
    md = (out / "profile.md").read_text()
    assert "sae-topk:8 − features" in md and "monosemanticity" in md


def test_one_hot_class_features_score_one_and_seeds_give_seed_intervals(tmp_path):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 400)
    X = np.eye(4)[y] * rng.uniform(0.5, 2.0, (400, 1))   # one active unit per class, varying magnitude
    assert feature_measures(X, y)["monosemanticity"] == pytest.approx(1.0)
    assert feature_measures(X, y)["classes_per_dim"] == pytest.approx(1.0)
    dense = rng.normal(size=(400, 4))
    assert feature_measures(dense, y)["monosemanticity"] < 0.4     # ≈ the largest class share, ~0.27
    p = profile_features(X[:300], y[:300], X[300:], y[300:],
                         config=ProfileConfig(noise_rates=(0.0, 0.5), sigmas=(0.0,), n_seeds=2, mono=("relu",)))
    assert p.data["feature_sets"]["features"]["measures"]["monosemanticity"] == pytest.approx(1.0)
    clean = p.data["feature_sets"]["features"]["cells"][0]
    assert clean["acc"] == 1.0 and clean["ci_kind"].startswith("t-interval over 2 seeds")
    assert "seed_level" in p.data["comparisons"][0]["cells"][0]
    fig = p.plot()
    assert len(fig.axes) == 2
    assert p.plot(path=tmp_path / "curves.png") is not None and (tmp_path / "curves.png").is_file()
    assert json.loads((tmp_path / "curves.json").read_text())["chance"] == pytest.approx(p.curves()["chance"])
    json.loads(p.to_json())


def test_same_noisy_labels_for_every_feature_set():
    """Pairing needs the same training labels: the relu view of non-negative features is the features."""
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 300)
    X = np.abs(rng.normal(size=(300, 6))) + np.eye(3)[y].repeat(2, 1)
    p = profile_features(X[:200], y[:200], X[200:], y[200:],
                         config=ProfileConfig(noise_rates=(0.0, 0.4), sigmas=(0.0, 0.3), mono=("relu",)))
    for key, v in p.correct.items():
        if key[0] == "relu":
            assert np.array_equal(v, p.correct[("features", *key[1:])])
    assert all(c["gap"] == 0 and c["p_mcnemar"] == 1.0 for c in p.data["comparisons"][0]["cells"])


def test_feature_file_forms_agree(tmp_path):
    from safetensors.numpy import save_file

    X = np.arange(12, dtype=np.float32).reshape(4, 3)
    y = np.array([0, 1, 0, 1])
    np.savez(tmp_path / "a.npz", X=X, y=y)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    torch.save({"features": torch.from_numpy(X), "targets": torch.from_numpy(y)}, tmp_path / "a.pt")
    save_file({"X": X, "y": y}, str(tmp_path / "a.safetensors"))
    for spec in ("a.npz", "X.npy,y.npy", "a.pt", "a.safetensors"):
        parts = ",".join(str(tmp_path / s) for s in spec.split(","))
        Xl, yl = load_feature_file(parts)
        assert np.array_equal(Xl, X) and np.array_equal(yl, y), spec


def test_label_noise_grid_follows_the_shared_rule(cli, digits_files, tmp_path):
    """Flip noise at η ≥ (C−1)/C makes a wrong label at least as likely as the right one: an explicit rate is
    refused before work (exit 2, one line); the default grid (… 0.9) drops 0.9 on 10 classes with a note."""
    d, X, y, test = digits_files
    out = tmp_path / "refused"
    rc, stdout, err = cli("probe", "--train", str(d / "tr.npz"), "--test", str(d / "te.npz"), "--out", str(out),
                          "--noise-rates", "0,0.9", "--quiet")
    assert rc == 2 and stdout == "" and err.count("\n") == 1, err
    assert "noise_rate = 0.9 is outside [0, 0.9) for flip label noise with 10 classes" in err
    assert not out.exists()
    p = profile_features(X[~test][:400], y[~test][:400], X[test], y[test], config=ProfileConfig(sigmas=(0.0,)))
    assert p.data["config"]["noise_rates"] == [0.0, 0.3, 0.6]
    p4 = profile_features(X[~test][:400] % 4, y[~test][:400] % 4, X[test] % 4, y[test] % 4,
                          config=ProfileConfig(sigmas=(0.0,)))
    assert p4.data["config"]["noise_rates"] == [0.0, 0.3, 0.6]          # 4 classes: η < 0.75
    with pytest.raises(ConfigError, match="noise_rate = 0.75"):
        profile_features(X[~test][:400], y[~test][:400] % 4, X[test], y[test] % 4,
                         config=ProfileConfig(noise_rates=(0.0, 0.75), sigmas=(0.0,)))
