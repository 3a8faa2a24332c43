"""What the verdicts need to know about a feature set besides its accuracy: its monosemanticity score and zero
fraction with replicates over resampled test items (:func:`feature_stats`), and the chance level of a test set
(:func:`majority_chance`). Written by the probe stage (``probe.json``: ``methods.<m>.stats``, ``chance``) and by each
fine-tuning run (``finetune.json``: ``runs[i].stats``); read by :mod:`monotheory.claims.vision_rules`.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from monotheory.config import check_int
from monotheory.metrics import monosemanticity_score, near_zero_fraction
from monotheory.seeding import generator

BOOTSTRAP_RESAMPLES = 1000


def feature_stats(features: torch.Tensor, labels: torch.Tensor, *, seed: int = 0,
                  n_resamples: int = BOOTSTRAP_RESAMPLES) -> dict:
    """Monosemanticity score and sparsity (share of |z| < 1e-2 after L2 normalisation) of a feature set, and the
    score's replicates over resampled test items (:func:`monosemanticity_bootstrap`; ``n_resamples`` 0: none)."""
    z = F.normalize(features.float(), dim=1)
    out = {"monosemanticity": float(monosemanticity_score(z, labels)), "sparsity": float(near_zero_fraction(z)),
           "dim": int(features.shape[1])}
    if n_resamples:
        out["monosemanticity_bootstrap"] = {
            "replicates": monosemanticity_bootstrap(z, labels, n_resamples=n_resamples, seed=seed),
            "n_items": int(z.shape[0]), "n_resamples": int(n_resamples), "seed": int(seed),
            "unit": "test items (resampled with replacement; the same resamples for every method of the run)"}
    return out


def monosemanticity_bootstrap(features, labels, *, n_resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0) -> list:
    """The monosemanticity score on ``n_resamples`` resamples of the rows (test items) with replacement.

    The resampled indices depend only on ``seed`` and the number of rows, so two feature sets of the same test
    items (CL and SAE codes of one run) get the same resamples: replicate r of one pairs with replicate r of the
    other, and their differences are a *paired* bootstrap of the score gap over test items (the premise of the
    vision rows when a run has one seed, :func:`monotheory.claims.rules.more_monosemantic`).
    """
    check_int("n_resamples", n_resamples, 1)
    z = features.float() if isinstance(features, torch.Tensor) else torch.as_tensor(features, dtype=torch.float32)
    y = torch.as_tensor(labels).long().to(z.device)
    n, d = z.shape
    idx = torch.from_numpy(generator(seed, "monosemanticity-bootstrap", n).integers(0, n, (n_resamples, n)))
    chunk = max(1, (1 << 25) // max(1, n * d))  # resamples at a time: ≤ 32 M floats of gathered features
    reps = []
    for s in range(0, n_resamples, chunk):
        i = idx[s:s + chunk].to(z.device)
        reps.append(np.atleast_1d(monosemanticity_score(z[i], y[i])))
    return [round(float(r), 6) for r in np.concatenate(reps)]


def majority_chance(labels) -> dict:
    """Chance of the test set: the majority-class share of its labels (what a constant predictor scores)."""
    counts = np.bincount(np.asarray(torch.as_tensor(labels).cpu()).astype(int).ravel())
    return {"chance": float(counts.max() / counts.sum()), "chance_rule": "majority-class share of the test labels"}
