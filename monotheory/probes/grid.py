"""The probe loop under label noise: one probe per training label-noise rate, scored on every test set.

Used by ``run-imagenet``'s probe stage (:mod:`monotheory.vision.probe_stage`) and by the profiles of
``monotheory probe`` (:mod:`monotheory.probe.api`). Label noise is :func:`monotheory.noise.label_noise` on the
training labels only; test labels stay clean.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from monotheory.noise import label_noise


def _prepare(x: torch.Tensor, normalize: bool) -> torch.Tensor:
    return F.normalize(x.float(), dim=1) if normalize else x.float()


def probe_grid(train, tests: dict, num_classes: int, *, noise_rates, noise_model: str, noise_sampling: str,
               make_probe, label_seed, normalize: bool = False) -> tuple[list, dict, Any]:
    """Fit one probe per training label-noise rate and score it on every test set.

    ``train`` = (features, clean labels); ``tests`` maps a key → (features, labels); ``make_probe(rate)``
    returns an unfitted :class:`~monotheory.probes.LinearProbe`, ``label_seed(rate)`` the seed of that rate's
    label-noise draw. Returns (rows, correct, clean_probe): rows ``[{noise_rate, realised_rate,
    train_acc_noisy, train_acc_clean, test_acc: {key: acc}}]``, ``correct[(rate, key)]`` = per-test-item 0/1
    (uint8), and the probe of rate 0 (or of the smallest rate).
    """
    x_tr, y_tr = _prepare(torch.as_tensor(train[0]), normalize), torch.as_tensor(train[1]).long()
    rows, correct, clean_probe = [], {}, None
    for rate in noise_rates:
        noisy = label_noise(y_tr, rate, num_classes, model=noise_model, sampling=noise_sampling,
                            seed=label_seed(rate))
        y_noisy = torch.as_tensor(np.asarray(noisy.labels)).long()
        probe = make_probe(rate)
        probe.fit(x_tr, y_noisy)
        row = {"noise_rate": rate, "realised_rate": float(noisy.realised_rate),
               "train_acc_noisy": float(probe.score(x_tr, y_noisy)),
               "train_acc_clean": float(probe.score(x_tr, y_tr)), "test_acc": {}}
        for key, (x_te, y_te) in tests.items():
            pred = torch.as_tensor(np.asarray(probe.predict(_prepare(torch.as_tensor(x_te), normalize)))).long()
            ok = (pred.cpu() == torch.as_tensor(y_te).long().cpu()).numpy().astype(np.uint8)
            correct[(rate, key)] = ok
            row["test_acc"][key] = float(ok.mean()) if ok.size else float("nan")
        rows.append(row)
        if rate == 0.0 or clean_probe is None and rate == min(noise_rates):
            clean_probe = probe
    return rows, correct, clean_probe
