"""Feature sets from images for :mod:`monotheory.probe.api`: an encoder on an ImageFolder, or a run-imagenet folder.

:func:`image_feature_sets` validates everything it can before extracting (the root and its class folders, the
encoder spec, the weights, the shape of one forward pass, ``--mono`` k against d), then extracts the training
features once and the validation features once per σ (noise on the normalised image, seeded per batch from the
``input-noise`` stream), through a :class:`~monotheory.vision.features.FeatureCache` when ``cache_dir`` is given.
:func:`run_feature_sets` reads the feature cache a ``run-imagenet`` probe stage left behind.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import torch

from monotheory.config import check_int
from monotheory.errors import ConfigError
from monotheory.probe.config import allowed_noise_rates, parse_mono
from monotheory.probe.encoders import fingerprint, resolve_encoder
from monotheory.vision import data as D
from monotheory.vision.context import sigma_key
from monotheory.vision.data import IMAGENET_MEAN, IMAGENET_STD, eval_transform
from monotheory.vision.features import FeatureCache, cache_key, extract
from monotheory.vision.sae import load_sae, sae_codes
from monotheory.vision.shift import load_shift_roots


def _transform(meta: dict, crop_size, resize, mean, std) -> tuple:
    crop = int(crop_size or meta.get("crop_size") or 224)
    rs = resize if resize is not None else (meta.get("resize") if crop_size is None else None)
    mean = tuple(mean or meta.get("mean") or IMAGENET_MEAN)
    std = tuple(std or meta.get("std") or IMAGENET_STD)
    if len(mean) != 3 or len(std) != 3 or min(std) <= 0 or not all(math.isfinite(v) for v in (*mean, *std)):
        raise ConfigError(f"mean {mean} and std {std} need 3 finite values each, std > 0")
    tf = eval_transform(crop, mean, std, resize=rs if crop > 64 else None)
    return tf, {"crop_size": crop, "resize": rs if crop > 64 else crop, "mean": list(mean), "std": list(std),
                "source": meta.get("source", "given" if crop_size else "ImageNet defaults")}


def image_feature_sets(encoder: str, data_root: str, cfg, *, weights=None, crop_size=None, resize=None, mean=None,
                       std=None, shifts=None, batch_size=256, num_workers=0, cache_dir=None, progress=None,
                       timing=None):
    """``(sets, num_classes, conditions)`` for :func:`monotheory.probe.api.run_profile`."""
    batch_size = check_int("batch_size", batch_size)
    model, meta = resolve_encoder(encoder, weights, cfg.seed)
    tf, tf_info = _transform(meta, crop_size, resize, mean, std)
    train_ds, val_ds, names = D.load_datasets("folder", data_root, train_transform=tf, eval_transform=tf)
    if len(names) < 2:
        raise ConfigError(f"data root {data_root!r} has {len(names)} class folder; a probe needs at least 2")

    allowed_noise_rates(cfg, len(names), note=False)  # refused before any extraction
    shift_sets = dict(load_shift_roots([f"{k}={v}" for k, v in (shifts or {}).items()], names, tf)) if shifts else {}
    if len(val_ds) < len(names):
        raise ConfigError(f"data root {data_root!r}: {len(val_ds)} val images for {len(names)} classes; a profile "
                          "needs at least one test item per class")
    device = torch.device(cfg.device)
    if isinstance(model, torch.nn.Module):
        model = model.to(device).eval()
    dim = probe_encoder(model, train_ds, device, encoder, tf_info["crop_size"])
    for m in cfg.mono:
        parse_mono(m, dim, cfg.sae_latents)
    cache = FeatureCache(cache_dir) if cache_dir else None
    base = {"encoder": fingerprint(encoder, weights), "root": str(Path(data_root).expanduser().resolve()),
            "transform": tf_info, "noise": cfg.input_noise, "seed": cfg.seed, "batch": batch_size}
    timing = timing if timing is not None else {}

    def get(split: str, ds, sigma: float):
        def build():
            t0 = time.perf_counter()
            out = extract(model, ds, batch_size=batch_size, device=device, sigma=sigma, kind=cfg.input_noise,
                          num_workers=num_workers, progress=progress, desc=f"features {split} σ={sigma:g}")
            timing.setdefault("extract", []).append({"split": split, "sigma": sigma, "n": len(ds),
                                                     "seconds": time.perf_counter() - t0})
            return out
        if cache is None:
            return build()
        key = cache_key({**base, "split": split, "sigma": sigma})
        return cache.get(f"{split}_s{sigma:g}_{key}", build)

    train = get("train", train_ds, 0.0)
    tests = {("clean" if s == 0 else f"σ={s:g}"): get("val", val_ds, s) for s in cfg.sigmas}
    if "clean" not in tests:
        tests["clean"] = get("val", val_ds, 0.0)
    tests.update({f"shift:{k}": get(f"shift-{k}", ds, 0.0) for k, ds in shift_sets.items()})
    warnings = random_init_warning(encoder, weights)
    encoder = encoder if isinstance(encoder, str) else type(encoder).__name__
    cond = {"warnings": warnings, "input": f"encoder {encoder}" + (f" with weights {weights}" if weights else " (weights as built)"),
            "data_root": str(data_root), "noise_space": "image", "transform": tf_info,
            "input_noise": f"{cfg.input_noise} noise σ on the normalised image, test time only", "classes": names}
    sets = {"features": {"train": train, "tests": tests, "kind": f"encoder {encoder}",
                         "images": _thumbnails(val_ds)}}
    return sets, len(names), cond


def _thumbnails(ds, size: int = 64):
    """Test index → the image file as a uint8 (H, W, 3) array of at most ``size`` px a side (Figure 4's panels)."""
    def image(i: int) -> np.ndarray:
        from PIL import Image

        with Image.open(ds.samples[i][0]) as im:
            im = im.convert("RGB")
            im.thumbnail((size, size))
            return np.asarray(im)
    return image


def probe_encoder(model, ds, device, encoder, crop: int) -> int:
    """One small batch (2 images) through the encoder before any extraction: it must run, return an (N, d) tensor
    with one row per image and finite values. Returns d; anything else is one ConfigError line naming the encoder."""
    name = encoder if isinstance(encoder, str) else type(encoder).__name__
    x = torch.stack([ds[i][0] for i in range(min(2, len(ds)))]).to(device)
    try:
        with torch.no_grad():
            out = model(x)
    except Exception as e:  # noqa: BLE001 - any failure of the user's encoder is one line naming it
        msg = str(e).strip().splitlines()[0][:120] if str(e).strip() else ""
        raise ConfigError(f"encoder {name!r} fails on a batch of {len(x)} images of {crop} px ({type(e).__name__}: "
                          f"{msg}); check --crop-size and that the encoder fits the images") from None
    shape = tuple(getattr(out, "shape", ()))
    if not isinstance(out, torch.Tensor) or out.ndim != 2 or shape[0] != len(x):
        raise ConfigError(f"encoder {name!r} returned {type(out).__name__} of shape {shape} for {len(x)} images; it "
                          f"must return ({len(x)}, d) features")
    if not out.is_floating_point() or not bool(torch.isfinite(out).all()):
        raise ConfigError(f"encoder {name!r} returned NaN, infinite or non-float features ({out.dtype}) for "
                          f"{len(x)} images; check its weights")
    return int(shape[1])


def random_init_warning(encoder, weights) -> list[str]:
    """A torchvision model without weights is a random initialisation (weights are never downloaded): say so."""
    if weights is None and isinstance(encoder, str) and encoder.startswith("torchvision:"):
        return [f"encoder {encoder} has no --weights, so its weights are a random initialisation (seeded), not a "
                "trained model"]
    return []


def _newest(folder: Path, pattern: str) -> Path | None:
    files = sorted(folder.glob(pattern), key=lambda p: p.stat().st_mtime_ns)
    return files[-1] if files else None


def _load(p: Path) -> dict:
    return torch.load(p, weights_only=True)


def _plain(d: dict, sae=None):
    return d["features"], d["targets"]


def _codes(d: dict, sae):
    return sae_codes(sae, d["features"]), d["targets"]


def run_feature_sets(run_dir: str, cfg, methods=("cl", "sae", "ncl")):
    """``(sets, num_classes, conditions)`` from the feature cache of a ``run-imagenet`` output folder.

    Uses ``features/<enc>_train_s0_*.pt`` and ``features/<enc>_val_s<σ>_*.pt`` (the newest file of each when
    several runs left some), and ``checkpoints/sae.pt`` for the SAE codes of the CL features. σ values of
    ``cfg.sigmas`` without cached features are left out and listed under ``missing``."""
    run = Path(run_dir)
    feats = run / "features"
    if not feats.is_dir():
        raise ConfigError(f"{run_dir!r} is not a run-imagenet output folder (no features/ cache; run its probe stage)")
    sets, missing = {}, []
    sae = None
    for m in methods:
        enc = "cl" if m == "sae" else m
        tr = _newest(feats, f"{enc}_train_s0_*.pt")
        if tr is None:
            missing.append(f"{m} (no {enc}_train_s0_*.pt)")
            continue
        if m == "sae":
            if not (run / "checkpoints" / "sae.pt").is_file():
                missing.append("sae (no checkpoints/sae.pt)")
                continue

            sae = sae or load_sae(run / "checkpoints" / "sae.pt")
        conv = _codes if m == "sae" else _plain
        tests = {}
        for s in cfg.sigmas:
            p = _newest(feats, f"{enc}_val_s{sigma_key(s)}_*.pt")
            if p is None:
                missing.append(f"{m} σ={s:g}")
                continue
            tests["clean" if s == 0 else f"σ={s:g}"] = conv(_load(p), sae)
        if "clean" not in tests:
            missing.append(f"{m} (no clean validation features)")
            continue
        sets[m] = {"train": conv(_load(tr), sae), "tests": tests, "kind": f"run-imagenet {m}"}
    if not sets:
        raise ConfigError(f"{run_dir!r} has no cached features to profile ({'; '.join(missing)})")
    keys = [set(v["tests"]) for v in sets.values()]
    common = set.intersection(*keys)
    for v in sets.values():  # paired comparisons need the same test sets for every feature set
        v["tests"] = {k: v["tests"][k] for k in v["tests"] if k in common}
    c = int(max(int(v["train"][1].max()) for v in sets.values())) + 1
    cond = {"input": f"run-imagenet folder {run_dir}", "noise_space": "image", "missing": missing,
            "input_noise": "as cached by the run's probe stage (noise on the normalised image)"}
    return sets, c, cond
