"""Loader throughput (images/s) of the pretraining pipeline: torchvision (PIL) vs NVIDIA DALI, same JPEGs.

Writes ``--n`` generated JPEGs of ImageNet-like size (500 × 375, quality 90) into a temporary ImageFolder and
times one pass of two SimCLR views per image at ``--crop`` px through each backend: the torchvision
``DataLoader`` (``--workers`` processes, per-image PIL decode + augmentation) and, when DALI is installed, the
DALI pipeline (``--device cpu``: its CPU pipeline; ``cuda``: nvJPEG decode and GPU augmentation). Both read the
same files in the same run; the last line is one JSON object with images/s and the ratio dali / torchvision
(``null`` when DALI is absent, said so on the line before).

    python benchmarks/bench_loader.py                     # CPU, 96 images
    python benchmarks/bench_loader.py --device cuda --n 2000 --workers 8 --batch 128
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np


def write_jpegs(root: Path, n: int, classes: int = 4, size=(500, 375), seed: int = 0) -> Path:
    """``root/train/c<k>/<i>.jpg`` (smooth random colour fields plus noise, so JPEG has real work to do)."""
    from PIL import Image

    from monotheory.seeding import generator

    rng = generator(seed, "bench-loader", "images")
    w, h = size
    for i in range(n):
        d = root / "train" / f"c{i % classes}"
        d.mkdir(parents=True, exist_ok=True)
        low = rng.integers(0, 256, (h // 25 + 1, w // 25 + 1, 3)).astype(np.uint8)
        img = Image.fromarray(low).resize((w, h), Image.BICUBIC)
        arr = np.clip(np.asarray(img, dtype=np.int16) + rng.integers(-20, 21, (h, w, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(arr).save(d / f"{i:05d}.jpg", quality=90)
    return root


def torchvision_rate(root: Path, crop: int, batch: int, workers: int) -> float:
    import torch

    from monotheory.vision.data import ImageFolderDataset, simclr_transform

    classes = sorted(p.name for p in (root / "train").iterdir())
    ds = ImageFolderDataset(str(root / "train"), classes, transform=simclr_transform(crop))
    loader = torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=False, num_workers=workers,
                                         drop_last=False, generator=torch.Generator().manual_seed(0))
    t0, seen = time.perf_counter(), 0
    for (v1, _v2), _ in loader:
        seen += v1.shape[0]
    return seen / (time.perf_counter() - t0)


def dali_rate(root: Path, crop: int, batch: int, workers: int, device: str) -> float:
    from monotheory.vision.dali_loader import pretrain_loader
    from monotheory.vision.data import IMAGENET_MEAN, IMAGENET_STD

    files = sorted(str(p) for p in (root / "train").glob("*/*.jpg"))
    labels = [int(Path(f).parent.name[1:]) for f in files]
    loader = pretrain_loader(files, labels, crop=crop, mean=IMAGENET_MEAN, std=IMAGENET_STD, blur=True,
                             batch_size=batch, seed=0, device=device, num_threads=max(1, workers))
    t0, seen = time.perf_counter(), 0
    for (v1, _), _ in loader:
        seen += v1.shape[0]
    return seen / (time.perf_counter() - t0)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--n", type=int, default=96, help="generated JPEGs")
    p.add_argument("--crop", type=int, default=224)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--workers", type=int, default=2, help="DataLoader processes / DALI threads")
    a = p.parse_args(argv)
    from monotheory.vision.dali_loader import dali_available

    with tempfile.TemporaryDirectory() as tmp:
        root = write_jpegs(Path(tmp), a.n)
        tv = torchvision_rate(root, a.crop, a.batch, a.workers)
        print(f"# {a.n} JPEGs 500x375 -> two {a.crop}-px SimCLR views, batch {a.batch}, {a.workers} workers/threads")
        print(f"torchvision (PIL) {tv:8.1f} images/s")
        dali, note = None, None
        if dali_available():
            dali = dali_rate(root, a.crop, a.batch, a.workers, a.device)
            print(f"dali ({a.device})     {dali:8.1f} images/s   ratio {dali / tv:.2f}")
        else:
            note = "DALI not installed (pip install nvidia-dali-cuda130): dali not measured"
            print(f"# {note}")
    print(json.dumps({"bench": "loader", "device": a.device, "n_images": a.n, "crop": a.crop, "batch": a.batch,
                      "workers": a.workers, "torchvision_images_per_s": tv, "dali_images_per_s": dali,
                      "ratio_dali_over_torchvision": dali / tv if dali else None, "note": note}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
