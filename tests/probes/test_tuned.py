"""The tuned dense baseline (issue 22): :class:`HeldOutL2Probe` chooses its L2 penalty on a held-out split of the
labels it is fitted on — inside the probe stage, the *noisy* training labels — and never sees clean labels or the
test set."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from monotheory.noise import label_noise
from monotheory.probes import LinearProbe
from monotheory.probes.tuned import HeldOutL2Probe
from monotheory.seeding import stream_seed

GRID = (0.0, 1e-3, 1e-1, 10.0)


def _blobs(n: int, seed: int):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    x = rng.normal(size=(n, 6)) + 1.2 * np.eye(3, 6)[y]
    return x.astype(np.float32), y


def _holdout_scores(x, y_fit_on, y_scored, sel, grid):
    """Held-out log-loss of a LinearProbe per λ, fitted on ``y_fit_on`` and scored against ``y_scored``."""
    from sklearn.metrics import log_loss
    from sklearn.model_selection import StratifiedShuffleSplit

    split = StratifiedShuffleSplit(n_splits=1, test_size=sel["split"]["holdout"],
                                   random_state=sel["split"]["random_state"])
    fit_idx, hold_idx = next(split.split(x, y_fit_on))
    out = []
    for lam in grid:
        p = LinearProbe(3, weight_decay=lam, standardize=True, max_iter=300, random_state=0)
        p.fit(x[fit_idx], y_fit_on[fit_idx])
        out.append(-log_loss(y_scored[hold_idx], p.predict_proba(x[hold_idx]), labels=[0, 1, 2]))
    return np.array(out)


def test_penalty_is_chosen_on_the_noisy_training_labels_only(monkeypatch):
    """In the probe stage (``probe_method(tuned=True)``) the estimator is fitted on the training rows with that
    rate's noisy labels, and every recorded held-out score is the one against the noisy labels: if clean labels
    leaked into the selection (or test rows into the fit), the recorded scores would differ."""
    from monotheory.vision.config import ProbeConfig
    from monotheory.vision.probe_stage import probe_method

    x, y = _blobs(150, 0)
    xte, yte = _blobs(60, 1)
    seen = []
    fit = HeldOutL2Probe.fit

    def spy(self, X, labels):
        seen.append((tuple(np.asarray(X).shape), np.asarray(torch.as_tensor(labels)).copy()))
        return fit(self, X, labels)

    monkeypatch.setattr(HeldOutL2Probe, "fit", spy)
    cfg = ProbeConfig(noise_rates=(0.0, 0.5), sigmas=(0.0,), l2_grid=GRID)
    rows, _, _ = probe_method((torch.from_numpy(x), torch.from_numpy(y)),
                              {"0": (torch.from_numpy(xte), torch.from_numpy(yte))}, 3, cfg, seed=3, tuned=True)
    assert len(seen) == len(rows) == 2
    for row, (shape, labels) in zip(rows, seen, strict=True):
        rate = row["noise_rate"]
        noisy = np.asarray(label_noise(y, rate, 3, seed=stream_seed(3, "label-noise", f"{rate:g}")).labels)
        assert shape == (150, 6) and np.array_equal(labels, noisy)  # the training rows, the noisy labels
        sel = row["l2"]
        assert sel["grid"] == list(GRID) and sel["scoring"] == "neg_log_loss"
        want = _holdout_scores(x, noisy, noisy, sel, GRID)
        np.testing.assert_allclose(sel["holdout_score"], want, rtol=1e-5)
        best = max(i for i, s in enumerate(sel["holdout_score"]) if s == max(sel["holdout_score"]))
        assert sel["chosen"] == GRID[best]  # ties go to the largest λ; GRID ascends
        if rate > 0:
            assert (labels != y).mean() == pytest.approx(0.5, abs=0.01)
            clean = _holdout_scores(x, noisy, y, sel, GRID)  # what scoring against the clean labels would record
            assert np.abs(clean - want).max() > 0.01  # far beyond the 1e-5 agreement above


def test_selection_record_and_refit():
    x, y = _blobs(120, 2)
    p = HeldOutL2Probe(3, alphas=GRID, holdout=0.25, random_state=7).fit(x, y)
    sel = p.selection_
    assert sel["split"]["n_holdout"] == 30 and sel["split"]["n_fit"] == 90 and sel["split"]["kind"] == "stratified"
    assert p.alpha_ == sel["chosen"] and p.probe_.weight_decay == p.alpha_
    assert len(sel["holdout_acc"]) == len(GRID) and all(0 <= a <= 1 for a in sel["holdout_acc"])
    refit = LinearProbe(3, weight_decay=p.alpha_, standardize=True, max_iter=300, random_state=0).fit(x, y)
    np.testing.assert_allclose(p.coef_, refit.coef_, rtol=1e-5, atol=1e-6)  # refitted on every row
    assert HeldOutL2Probe(3, alphas=GRID, random_state=7).fit(x, y).selection_ == \
        HeldOutL2Probe(3, alphas=GRID, random_state=7).fit(x, y).selection_
    assert HeldOutL2Probe(3, alphas=GRID, random_state=8).fit(x, y).selection_["split"]["holdout_sha256"] != \
        sel["split"]["holdout_sha256"]
