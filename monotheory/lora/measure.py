"""Measures of adapter activations: sparsity (share of zeros) and monosemanticity of the codes.

Built on :mod:`monotheory.metrics`: ``zero_fraction`` (exact zeros, the sparsity of a ReLU code),
``sparsity`` (the paper's share of |z| < 1e-2 after L2-normalising each row) and ``monosemanticity_score``
(class purity of the active code units, the NCL paper's score; chance ≈ 1/C for dense codes).
"""

from __future__ import annotations

import numpy as np
import torch

from monotheory import metrics
from monotheory.errors import ConfigError


def _labels_for(rows: int, labels: np.ndarray) -> np.ndarray:
    # conv codes have one row per sample and position, in sample-major order: repeat each label H·W times
    if rows % len(labels):
        raise ConfigError(f"{rows} code rows cannot be matched to {len(labels)} labels")
    return np.repeat(labels, rows // len(labels))


def activation_measures(records: dict[str, list[torch.Tensor]], labels=None) -> dict[str, dict]:
    """Per adapter: ``zero_fraction``, ``sparsity`` and (with ``labels``, one per sample) the
    ``monosemanticity`` of its recorded activations (from :func:`monotheory.lora.record_codes`), plus
    ``"mean"`` over adapters (unweighted). Adapters that recorded nothing are left out.
    """
    y = None if labels is None else np.asarray(labels)
    out: dict[str, dict] = {}
    for name, parts in records.items():
        if not parts:
            continue
        z = torch.cat(parts)
        row = {"zero_fraction": metrics.zero_fraction(z), "sparsity": metrics.near_zero_fraction(z), "units": z.shape[1]}
        if y is not None:
            row["monosemanticity"] = metrics.monosemanticity_score(z, _labels_for(len(z), y))
        out[name] = row
    if out:
        keys = [k for k in next(iter(out.values())) if k != "units"]
        out["mean"] = {k: float(np.nanmean([r[k] for n, r in out.items() if n != "mean"])) for k in keys}
    return out
