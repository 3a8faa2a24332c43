"""The measuring steps of ``benchmarks/gpu_check.py``, each run in its own process (so a step that hangs is killed
at its time budget and loses nothing else); each prints one JSON line last.

    python benchmarks/gpu_check_steps.py data ROOT --device cuda      # the generated ImageNet-shaped JPEG folder
    python benchmarks/gpu_check_steps.py loaders ROOT --device cuda   # PIL / gpu / DALI loader images/s
    python benchmarks/gpu_check_steps.py rates ROOT --device cuda     # step-only vs end-to-end pretraining

``rates`` runs :func:`monotheory.vision.pretrain.pretrain` itself twice in one process, the same encoder and
settings (the paper's: ResNet-18, projector 16384 → 2048, LARS, bf16 autocast and channels_last on CUDA):
once fed pre-made batches already on the device (the step alone) and once fed by the ``gpu`` loader from the
JPEGs (loader + step); the rate of each is the mean images/s of the epochs after the first.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
for p in (str(REPO), str(REPO / "benchmarks")):
    if p not in sys.path:
        sys.path.insert(0, p)

# per device: images per class (train, val), JPEG size, crop, batch, encoder
SIZES = {"cuda": dict(per_class=(12, 2), size=(500, 375), crop=224, batch=128, arch="resnet18", proj=(16384, 2048),
                      epochs=3),
         "cpu": dict(per_class=(2, 1), size=(64, 48), crop=32, batch=16, arch="tiny", proj=(64, 32), epochs=2)}


def _write_class(job) -> None:
    from PIL import Image

    from monotheory.seeding import generator

    root, split, ci, wnid, n, (w, h) = job
    rng = generator(0, "gpu-check", "images", split, ci)
    d = Path(root) / split / wnid
    d.mkdir(parents=True, exist_ok=True)
    base = rng.integers(0, 256, 3)
    for i in range(n):
        img = base + rng.normal(0, 40, (h, w, 3)) + 30 * np.sin(np.arange(w) * (1 + ci % 7) / 9)[None, :, None]
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(d / f"{i}.jpg", quality=90)


def make_folder(root: Path, device: str) -> dict:
    """ImageNet-100-shaped JPEG folder: the 100 WordNet ids under train/ and val/ (in parallel processes)."""
    from monotheory.vision.data import imagenet100_classes

    s = SIZES[device]
    if not (root / "val").is_dir():
        jobs = [(str(root), split, ci, wnid, n, s["size"]) for split, n in zip(("train", "val"), s["per_class"],
                                                                                strict=True)
                for ci, wnid in enumerate(imagenet100_classes())]
        with Pool(min(16, os.cpu_count() or 1)) as pool:
            pool.map(_write_class, jobs)
    return {"root": str(root), "train_images": 100 * s["per_class"][0], "val_images": 100 * s["per_class"][1],
            "image_size": list(s["size"])}


def loaders(root: Path, device: str, seconds: float, workers: int) -> dict:
    from bench_loader import measure

    from monotheory.vision.dali_loader import dali_available

    s = SIZES[device]
    row = measure(root, [s["crop"]], s["batch"], workers, seconds, device, dali_available())[0]
    return {**row, "batch": s["batch"], "workers": workers}


class PremadeViews:
    """Stands in for a data set in :func:`~monotheory.vision.pretrain.pretrain`: its loader yields the same
    pre-made batch of two views, already on the device, ``steps`` times an epoch (the step alone)."""

    with_kind = None  # what make_pretrain_loader tests for a self-loading set

    def __init__(self, steps: int, batch: int, crop: int, device):
        import torch

        g = torch.Generator().manual_seed(0)
        self.views = tuple(torch.randn(batch, 3, crop, crop, generator=g).to(device) for _ in range(2))
        self.labels = torch.zeros(batch, dtype=torch.long)
        self.steps, self.batch = steps, batch

    def __len__(self) -> int:
        return self.steps * self.batch

    def loader(self, batch, **_):
        return self

    def set_epoch(self, epoch: int) -> None:
        pass

    def __iter__(self):
        return iter([(self.views, self.labels)] * self.steps)


def rates(root: Path, device: str, workers: int) -> dict:
    import torch

    from monotheory.vision.config import PretrainConfig
    from monotheory.vision.data import IMAGENET_MEAN, IMAGENET_STD
    from monotheory.vision.encoders import Encoder, EncoderConfig
    from monotheory.vision.loaders import GpuImages
    from monotheory.vision.pretrain import pretrain

    s = SIZES[device]
    cfg = PretrainConfig(epochs=s["epochs"], batch_size=s["batch"], lr=0.3, warmup_epochs=1, mass_alpha=0.0,
                         clip_lr=True)
    files = sorted(str(p) for p in (root / "train").glob("*/*.jpg"))
    out = {"batch": s["batch"], "crop": s["crop"], "arch": s["arch"], "projector": list(s["proj"]),
           "amp_bf16": device == "cuda" and cfg.amp, "channels_last": device == "cuda" and cfg.channels_last}
    for name, data in (("step", PremadeViews(len(files) // s["batch"], s["batch"], s["crop"], device)),
                       ("end_to_end", GpuImages(files=files, targets=[0] * len(files), classes=["c"], kind="simclr",
                                                crop=s["crop"], mean=IMAGENET_MEAN, std=IMAGENET_STD, blur=True,
                                                device=device, num_workers=workers))):
        torch.manual_seed(0)
        enc = Encoder(EncoderConfig(arch=s["arch"], cifar_stem=s["crop"] <= 64, proj_hidden=s["proj"][0],
                                    proj_out=s["proj"][1], crop_size=s["crop"]))
        t0 = time.perf_counter()
        hist = pretrain(enc, data, cfg, device=device, progress=False)["history"]
        out[f"{name}_images_per_s"] = float(np.mean([h["images_per_s"] for h in hist[1:]]))
        out[f"{name}_epoch_images_per_s"] = [h["images_per_s"] for h in hist]
        out[f"{name}_seconds"] = time.perf_counter() - t0
    out["end_to_end_ratio"] = out["end_to_end_images_per_s"] / out["step_images_per_s"]
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=("data", "loaders", "rates"))
    p.add_argument("root")
    p.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    p.add_argument("--seconds", type=float, default=8.0, help="loaders: timed seconds per backend")
    p.add_argument("--workers", type=int, default=min(16, os.cpu_count() or 1))
    a = p.parse_args(argv)
    root = Path(a.root)
    if a.what == "data":
        res = make_folder(root, a.device)
    elif a.what == "loaders":
        res = loaders(root, a.device, a.seconds, a.workers)
    else:
        res = rates(root, a.device, a.workers)
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
