"""Features of a data set under an encoder: :func:`extract` (batched, with input noise on the normalised image
when asked) and :class:`FeatureCache` (extracted once per key, reused after).

Used by ``run-imagenet``'s :class:`~monotheory.vision.context.RunContext` and by ``monotheory probe``
(:mod:`monotheory.probe.images`).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from monotheory.errors import ConfigError
from monotheory.files import atomic_torch_save
from monotheory.noise import input_noise
from monotheory.seeding import stream_seed
from monotheory.vision.data import make_loader


def cache_key(parts: dict) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


@torch.no_grad()
def extract(fn, ds, *, batch_size: int = 256, device="cpu", sigma: float = 0.0, kind: str = "gaussian",
            seed: int = 0, num_workers: int = 0, progress: bool | None = None, desc: str = "features") -> tuple[torch.Tensor, torch.Tensor]:
    """Apply ``fn`` (images → features) to every item of ``ds`` in order; returns CPU (features, targets).

    With ``sigma > 0`` the noise of :func:`monotheory.noise.input_noise` is added to each normalised image
    batch i, seeded by the named stream ``("input-noise", f"{sigma:g}", i)`` under ``seed``
    (:func:`monotheory.seeding.stream_seed`), so the noisy images do not depend on the encoder. The bar shows images per second.
    """
    device = torch.device(device)
    # a DALI dataset brings its own loader (vision.dali_loader); anything else goes through torchvision
    loader = ds.loader(batch_size) if hasattr(ds, "two_views") else make_loader(
        ds, batch_size, shuffle=False, num_workers=num_workers, device=device)
    show = sys.stderr.isatty() if progress is None else progress
    feats, ys, seen, t0 = [], [], 0, time.perf_counter()
    bar = tqdm(loader, desc=desc, disable=not show, leave=False)
    for i, (x, y) in enumerate(bar):
        x = x.to(device, non_blocking=True)
        if sigma > 0:
            x = input_noise(x, sigma, kind=kind, seed=stream_seed(seed, "input-noise", f"{sigma:g}", i))
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            f = fn(x)
        if not isinstance(f, torch.Tensor) or f.ndim != 2:
            raise ConfigError(f"the encoder returned {type(f).__name__} of shape {getattr(f, 'shape', None)}; "
                              "it must return an (N, d) feature tensor")
        feats.append(f.float().cpu())
        ys.append(torch.as_tensor(y).cpu())
        seen += x.shape[0]
        bar.set_postfix(img_s=f"{seen / (time.perf_counter() - t0):.0f}")
    if not feats:
        return torch.zeros(0), torch.zeros(0, dtype=torch.long)
    return torch.cat(feats), torch.cat(ys).long()


class FeatureCache:
    """``torch.save`` d (features, targets) pairs in ``folder``, built on first use and reused after."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)

    def path(self, name: str) -> Path:
        return self.folder / f"{name}.pt"

    def get(self, name: str, build) -> tuple[torch.Tensor, torch.Tensor]:
        p = self.path(name)
        if p.exists():
            d = torch.load(p, weights_only=True)
            return d["features"], d["targets"]
        feats, targets = build()
        atomic_torch_save({"features": feats, "targets": targets}, p)
        return feats, targets
