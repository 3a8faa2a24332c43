"""Figure 4 (issue 22): its measures on hand-made features, and its data on digits features (scikit-learn's
handwritten digits, real data shipped with scikit-learn) with a probe trained under heavy label noise."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats as sps

from monotheory.vision.figure4 import (
    figure4_data,
    figure4_rate,
    plot_figure4,
    sample_monosemanticity,
    top_activation_purity,
)


def test_purity_and_sample_score_on_hand_made_features():
    y = np.array([0, 0, 1, 1, 2, 2])
    z = np.zeros((6, 3))
    z[:2, 0] = [3.0, 2.0]                   # dim 0 fires for class 0 only
    z[:, 1] = [1.0, 1, 1, 1, 1, 1]          # dim 1 fires for everyone
    z[[1, 3], 2] = [5.0, 4.0]               # dim 2 fires for one sample of class 0 and one of class 1
    pur, major, support = top_activation_purity(z, y, top=2)
    # rows are L2-normalised first: dim 1 is 1.0 on the rows where it is alone (samples 2, 4, 5), so its top two
    # are samples 2 and 4 (ties in sample order), classes 1 and 2
    np.testing.assert_allclose(pur, [1.0, 0.5, 0.5])
    assert major.tolist()[:2] == [0, 1] and support.tolist() == [2, 2, 2]
    assert top_activation_purity(z, y, top=3)[0][1] == pytest.approx(2 / 3)  # samples 2, 4, 5: classes 1, 2, 2
    # a dense signed dimension: every sample above its floor counts, so the purity ranks it
    signed = np.array([[-1.0, 1.0], [-2.0, 1.0], [-3.0, 1.0], [-0.5, 1.0]])  # dim 0 < 0 everywhere
    pur, _, support = top_activation_purity(signed, [0, 1, 1, 0], top=2)
    assert pur[0] == 1.0 and support[0] == 2
    # dead dimension → NaN; per-sample score: |z|-weighted mean of the finite per-dimension scores
    pur, major, _ = top_activation_purity(np.c_[z, np.zeros(6)], y, top=2)
    assert np.isnan(pur[3]) and major[3] == -1
    m = np.array([1.0, 0.5, np.nan])
    s = sample_monosemanticity(np.array([[3.0, 1.0, 7.0], [0.0, 0.0, 2.0]]), m)
    assert s[0] == pytest.approx((3 * 1.0 + 1 * 0.5) / 4) and np.isnan(s[1])


def test_figure4_rate_rule():
    assert figure4_rate([0, 0.3, 0.9], 100) == 0.9
    assert figure4_rate([0, 0.3, 0.6, 0.8, 0.9], 10) == 0.8  # 0.9 leaves no class signal with 10 classes
    assert figure4_rate([0, 0.5], 2) is None and figure4_rate([0], 10) is None
    assert figure4_rate([0, 0.9], 10, "uniform") == 0.9


@pytest.fixture(scope="module")
def digits_probe():
    """Pixel features of scikit-learn's digits; a probe trained with 80 % flip label noise (0.9 carries no signal
    with 10 classes)."""
    from sklearn.datasets import load_digits

    from monotheory.noise import label_noise
    from monotheory.probes import LinearProbe

    x, y = load_digits(return_X_y=True)
    x = x.astype(np.float64)
    xtr, ytr, xte, yte = x[::2], y[::2], x[1::2], y[1::2]
    noisy = np.asarray(label_noise(ytr, 0.8, 10, seed=0).labels)
    probe = LinearProbe(10, weight_decay=1e-3, standardize=True, max_iter=200, random_state=0).fit(xtr, noisy)
    return xtr, xte, yte, probe


def test_figure4_data_on_digits_features(digits_probe):
    xtr, xte, yte, probe = digits_probe
    pred = np.asarray(probe.predict(xte))
    sd = xtr.std(0)
    d = figure4_data(xte, yte, pred, probe.coef_, feature_sd=sd, rate=0.8, top_dims=4, n_show=6)
    ok = pred == yte
    assert d["accuracy"] == pytest.approx(ok.mean()) and d["n_test"] == len(yte) == 898 and d["top"] == 90
    purity, _, _ = top_activation_purity(xte, yte)
    for c in d["classes"]:  # accuracy per class, the largest weight per sd, their purity, the class score
        k = c["class"]
        assert c["acc"] == pytest.approx(ok[yte == k].mean()) and c["n"] == int((yte == k).sum())
        assert c["dims"] == np.argsort(-(probe.coef_[k] * sd), kind="stable")[:4].tolist()
        np.testing.assert_allclose(c["purity"], purity[c["dims"]])
        assert c["score"] == pytest.approx(np.nanmean(purity[c["dims"]]))
    acc = np.array([c["acc"] for c in d["classes"]])
    score = np.array([c["score"] for c in d["classes"]])
    rho = d["correlation"]
    assert rho["rho"] == pytest.approx(sps.spearmanr(acc, score).statistic)
    assert rho["ci"][0] <= rho["rho"] <= rho["ci"][1]
    s = sample_monosemanticity(xte, purity)
    np.testing.assert_allclose(d["samples"]["score"], s)
    w, c = d["wrong_vs_correct"]["wrong"], d["wrong_vs_correct"]["correct"]
    assert w["mean"] == pytest.approx(s[~ok].mean()) and c["mean"] == pytest.approx(s[ok].mean())
    assert w["n"] == (~ok).sum() and c["n"] == ok.sum()
    diff = d["wrong_vs_correct"]["wrong_minus_correct"]
    assert diff["estimate"] == pytest.approx(s[~ok].mean() - s[ok].mean())
    assert diff["ci"][0] < diff["estimate"] < diff["ci"][1]
    want = sps.ttest_ind(s[~ok], s[ok], equal_var=False)
    assert diff["p_value"] == pytest.approx(want.pvalue)
    lo, hi = d["panels"]["lowest"], d["panels"]["highest"]
    assert lo["acc"] == acc.min() and hi["acc"] == acc.max()
    zn = xte / np.linalg.norm(xte, axis=1, keepdims=True)
    for dim in lo["dims"] + hi["dims"]:  # the top-activating test samples of each dimension, largest first
        col = zn[:, dim["dim"]]
        assert dim["samples"] == [i for i in np.argsort(-col, kind="stable")[:6] if col[i] > col.min() + 1e-5]
        assert dim["labels"] == yte[dim["samples"]].tolist()
    json.dumps(d, allow_nan=True)  # JSON-ready


def test_figure4_plot_with_images_and_from_json(digits_probe, tmp_path):
    from monotheory.plots import save_figure

    xtr, xte, yte, probe = digits_probe
    d = figure4_data(xte, yte, np.asarray(probe.predict(xte)), probe.coef_, feature_sd=xtr.std(0), rate=0.8)
    imgs = {i: xte[i].reshape(8, 8) / 16 for p in d["panels"].values() for dim in p["dims"] for i in dim["samples"]}
    save_figure(plot_figure4({"pixels": d}, images=imgs), tmp_path / "figure4.png", data={"sets": {"pixels": d}})
    back = json.loads((tmp_path / "figure4.json").read_text())  # NaN written as null: the plot still draws
    save_figure(plot_figure4(back["sets"]), tmp_path / "again.png")
    assert (tmp_path / "figure4.png").stat().st_size > 10_000 and (tmp_path / "again.png").exists()
