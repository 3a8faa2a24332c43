"""Figure 4 of the paper for ``monotheory probe``: per feature set, the probe trained at the Figure-4 label-noise
rate (0.9 when the grid has it and it leaves the labels informative, else the grid's highest such rate, or
``ProfileConfig.figure4_rate``) on seed 0 — its per-class accuracy against the monosemanticity of each class's
top-weight dimensions, the per-sample monosemanticity of wrongly vs correctly classified test items, and the
top-activating test items of the lowest- and highest-accuracy class of the reference set. Definitions and
statistics: :mod:`monotheory.vision.figure4` (the same code draws ``run-imagenet``'s Figure 4).
:meth:`monotheory.probe.profile.Profile.save` writes ``figure4.png`` with ``figure4.json`` (its data) beside it.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from monotheory.vision.figure4 import figure4_data, figure4_rate


def figure4_rate_of(cfg, num_classes: int) -> float | None:
    """``cfg.figure4_rate`` when given, else :func:`monotheory.vision.figure4.figure4_rate` of the grid."""
    if cfg.figure4_rate is not None:
        return float(cfg.figure4_rate)
    return figure4_rate(cfg.noise_rates, num_classes, cfg.noise_model)


def _prepared(x, normalize: bool) -> torch.Tensor:
    x = torch.as_tensor(x).float()
    return F.normalize(x, dim=1) if normalize else x


def profile_figure4(sets: dict, probes: dict, cfg, rate: float, reference: str, class_names=None,
                    images=None) -> tuple[dict, dict | None]:
    """``(data, images)``: Figure 4's data of every set (name → ``{"train": (X, y), "tests": {"clean": (X, y)}}``)
    from its fitted probe at ``rate`` (``probes[name]``), and the test images of the reference set's panels when
    ``images`` (test index → array) is given."""
    out = {}
    for name, fs in sets.items():
        xtr = _prepared(fs["train"][0], cfg.normalize_features)
        xte, yte = fs["tests"]["clean"]
        xte = _prepared(xte, cfg.normalize_features)
        pred = np.asarray(probes[name].predict(xte))
        out[name] = figure4_data(xte.numpy(), np.asarray(torch.as_tensor(yte)), pred, np.asarray(probes[name].coef_),
                                 feature_sd=xtr.std(0).numpy(), rate=rate, class_names=class_names)
    data = {"rate": rate, "reference": reference, "seed": 0, "sets": out,
            "conditions": f"probes trained at label-noise rate {rate:g} ({cfg.noise_model}/{cfg.noise_sampling}) on "
                          "seed 0; scored on the clean test items"}
    pics = None
    if images is not None:
        idx = {i for p in out[reference]["panels"].values() for d in p["dims"] for i in d["samples"]}
        pics = {i: images(i) for i in sorted(idx)}
    return data, pics
