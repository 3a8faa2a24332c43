"""Loader throughput (two-view images/s) of the pretraining pipeline: PIL vs the batched GPU pipeline (vs DALI).

Writes ``--n`` generated JPEGs of ImageNet-like size (500 × 375, quality 90) into a temporary ImageFolder and,
for each crop size of ``--crops``, times passes of two SimCLR views per image through:

- ``pil``: the torchvision loader (``simclr_transform`` per image in ``--workers`` DataLoader processes);
- ``gpu``: the ``gpu`` loader (:mod:`monotheory.vision.loaders`: bytes from ``--workers`` processes, then on
  ``--device cuda`` batched nvJPEG decoding and kornia augmentation on the GPU; on ``--device cpu`` its CPU
  path: decoding in the workers, the same kornia code on CPU tensors in the main process);
- ``dali``: the DALI pipeline, when DALI is installed (its CPU pipeline on ``--device cpu``).

Each backend first makes one untimed pass (workers start, files enter the page cache), then timed passes until
``--seconds`` have gone by (at least one). All backends read the same files in the same run; the last line is
one JSON object with the rates and the ratios gpu / pil (and dali / pil) per crop.

    python benchmarks/bench_loader.py                                  # CPU: 96 images, 32 and 224 px
    python benchmarks/bench_loader.py --device cuda --n 2048 --workers 8 --batch 128 --crops 224
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script from anywhere: the repository's package first
    sys.path.insert(0, str(REPO))


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


def timed_passes(make_iter, seconds: float, sync=None) -> float:
    """Images/s over whole passes after one untimed pass; ``make_iter()`` yields batches ``((v1, v2), y)``."""
    for _ in make_iter():
        pass
    seen, t0 = 0, time.perf_counter()
    while True:
        for (v1, _v2), _ in make_iter():
            seen += v1.shape[0]
        if sync is not None:
            sync()
        if time.perf_counter() - t0 >= seconds:
            return seen / (time.perf_counter() - t0)


def pil_rate(root: Path, crop: int, batch: int, workers: int, seconds: float) -> float:
    import torch

    from monotheory.vision.data import ImageFolderDataset, simclr_transform

    classes = sorted(p.name for p in (root / "train").iterdir())
    ds = ImageFolderDataset(str(root / "train"), classes, transform=simclr_transform(crop))
    loader = torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=False, num_workers=workers,
                                         persistent_workers=workers > 0, generator=torch.Generator().manual_seed(0))
    return timed_passes(lambda: loader, seconds)


def gpu_rate(root: Path, crop: int, batch: int, workers: int, seconds: float, device: str) -> float:
    import torch

    from monotheory.vision.data import IMAGENET_MEAN, IMAGENET_STD
    from monotheory.vision.loaders import GpuImages

    files = sorted(str(p) for p in (root / "train").glob("*/*.jpg"))
    g = GpuImages(files=files, targets=[0] * len(files), classes=["c"], kind="simclr",
                  crop=crop, mean=IMAGENET_MEAN, std=IMAGENET_STD, blur=True, device=device, num_workers=workers)
    loader = g.loader(batch, seed=0, shuffle=True)
    epochs = iter(range(10 ** 9))

    def one_pass():
        loader.set_epoch(next(epochs))
        return loader

    return timed_passes(one_pass, seconds, torch.cuda.synchronize if device == "cuda" else None)


def dali_rate(root: Path, crop: int, batch: int, workers: int, seconds: float, device: str) -> float:
    from monotheory.vision.dali_loader import pretrain_loader
    from monotheory.vision.data import IMAGENET_MEAN, IMAGENET_STD

    files = sorted(str(p) for p in (root / "train").glob("*/*.jpg"))
    loader = pretrain_loader(files, [0] * len(files), crop=crop, mean=IMAGENET_MEAN, std=IMAGENET_STD, blur=True,
                             batch_size=batch, seed=0, device=device, num_threads=max(1, workers))
    return timed_passes(lambda: loader, seconds)


def measure(root: Path, crops, batch: int, workers: int, seconds: float, device: str, dali: bool) -> list[dict]:
    rows = []
    for crop in crops:
        pil = pil_rate(root, crop, batch, workers, seconds)
        gpu = gpu_rate(root, crop, batch, workers, seconds, device)
        d = dali_rate(root, crop, batch, workers, seconds, device) if dali else None
        rows.append({"crop": crop, "pil_images_per_s": pil, "gpu_images_per_s": gpu, "dali_images_per_s": d,
                     "ratio_gpu_over_pil": gpu / pil, "ratio_dali_over_pil": d / pil if d else None})
        print(f"{crop:>4} px   pil {pil:9.1f}   gpu ({device}) {gpu:9.1f}   ratio {gpu / pil:5.2f}"
              + (f"   dali {d:9.1f}" if d else ""), flush=True)
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--n", type=int, default=96, help="generated JPEGs")
    p.add_argument("--crops", default="32,224", help="crop sizes in pixels")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--workers", type=int, default=2, help="DataLoader processes / DALI threads")
    p.add_argument("--seconds", type=float, default=5.0, help="timed passes per backend and crop, at least one")
    p.add_argument("--data", default=None, help="an existing ImageFolder with train/<class>/*.jpg (else generated)")
    a = p.parse_args(argv)
    if a.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            p.error("--device cuda: no CUDA device is available")
    from monotheory.vision.dali_loader import dali_available

    crops = [int(c) for c in a.crops.split(",")]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(a.data) if a.data else write_jpegs(Path(tmp), a.n)
        n = len(list((root / "train").glob("*/*.jpg")))
        print(f"# {n} JPEGs -> two SimCLR views, batch {a.batch}, {a.workers} workers, {a.device}, load {load}")
        rows = measure(root, crops, a.batch, a.workers, a.seconds, a.device, dali_available())
    note = None if dali_available() else "DALI not installed (pip install nvidia-dali-cuda130): dali not measured"
    print(json.dumps({"bench": "loader", "device": a.device, "n_images": n, "batch": a.batch, "workers": a.workers,
                      "cpu_count": os.cpu_count(), "load_average_1min_before": load, "rows": rows, "note": note}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
