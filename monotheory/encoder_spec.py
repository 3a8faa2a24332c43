"""Encoders for :mod:`monotheory.evaluate`: resolve a spec, build its transform, extract features (cached).

An encoder spec is one of

- ``torchvision:NAME`` — ``torchvision.models.get_model(NAME, weights=None)`` (never a download); with
  ``weights`` a local state dict is loaded into it (strictly; a file that does not fit is refused). The
  classification head (``fc`` / ``classifier`` / ``heads`` / ``head``) is replaced by ``nn.Identity``, so the
  features are the penultimate layer (512-d for ResNet-18). The transform defaults to the metadata of
  torchvision's ``DEFAULT`` weights for NAME (resize, crop, mean, std), read without downloading anything;
- ``module.path:callable`` — ``callable()`` returns an ``nn.Module`` or any callable images → features;
- a TorchScript file (``torch.jit.load``).

:func:`extract` applies an encoder to a data set in batches with a tqdm bar showing items/s, adding input
noise to the *normalised* image batch when asked (the paper's protocol); :class:`FeatureCache` stores what it
extracted so an ImageNet-size encoder runs once per (split, σ).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import re
import sys
from pathlib import Path

import torch

from monotheory.errors import ConfigError
from monotheory.files import atomic_torch_save

_HEADS = ("fc", "classifier", "heads", "head")
_IMPORT_SPEC = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


def _one_line(e: Exception) -> str:
    s = str(e).strip().splitlines()
    return s[0] if s else type(e).__name__


def _seeded(build, seed: int):
    """Call ``build()`` with the CPU generator seeded from the ``encoder-init`` stream (restored after), so an
    encoder without weights (random initialisation) gives the same features on every run."""
    from monotheory.seeding import stream_seed

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(stream_seed(seed, "encoder-init"))
        return build()


def _torchvision(name: str, weights: str | None, seed: int = 0):
    from torchvision import models

    try:
        model = _seeded(lambda: models.get_model(name, weights=None), seed)
    except (ValueError, KeyError):
        raise ConfigError(f"encoder 'torchvision:{name}' does not resolve: torchvision has no model {name!r} "
                          f"(e.g. {', '.join(models.list_models()[:4])} …)") from None
    if weights is not None:
        _load_weights(model, weights, f"torchvision:{name}")
    for head in _HEADS:
        if isinstance(getattr(model, head, None), torch.nn.Module):
            setattr(model, head, torch.nn.Identity())
            break
    meta = {}
    try:  # the preprocessing of torchvision's DEFAULT weights, without downloading them
        tf = models.get_model_weights(name).DEFAULT.transforms()
        meta = {"crop_size": _first(tf.crop_size), "resize": _first(tf.resize_size), "mean": list(tf.mean),
                "std": list(tf.std), "source": f"torchvision {name} DEFAULT weights metadata"}
    except Exception:  # a model without registered weights: the caller falls back to ImageNet values
        pass
    return model, meta


def _first(v):
    return int(v[0]) if isinstance(v, (list, tuple)) else int(v)


def _load_weights(model: torch.nn.Module, weights: str, spec: str) -> None:
    p = Path(weights)
    if not p.is_file():
        raise ConfigError(f"weights file {weights!r} does not exist")
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ConfigError(f"weights file {weights!r} cannot be read as a state dict ({_one_line(e)})") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ConfigError(f"weights file {weights!r} holds a {type(state).__name__}, not a state dict")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        missing = len(set(model.state_dict()) - set(state))
        extra = len(set(state) - set(model.state_dict()))
        raise ConfigError(f"weights file {weights!r} does not fit {spec} ({missing} missing and {extra} unexpected "
                          f"keys; {_one_line(e)[:160]})") from None


def resolve_encoder(spec: str, weights: str | None = None, seed: int = 0):
    """``(encoder, meta)`` for an encoder spec (see the module docstring); ``meta`` may hold transform
    defaults (``crop_size``, ``resize``, ``mean``, ``std``). Raises ConfigError for a spec that does not resolve.
    Models are built under a seeded CPU generator (``seed``), so random initialisations are reproducible.
    An ``nn.Module`` or other callable given instead of a string is used as it is."""
    if not isinstance(spec, (str, os.PathLike)):
        if not callable(spec):
            raise ConfigError(f"encoder {spec!r} is neither a spec string nor a callable")
        if weights is not None:
            _load_weights(spec, weights, type(spec).__name__)
        return spec, {}
    spec = str(spec).strip()
    if spec.startswith("torchvision:"):
        return _torchvision(spec.split(":", 1)[1], weights, seed)
    if Path(spec).is_file():
        try:
            model = torch.jit.load(spec, map_location="cpu")
        except Exception as e:
            raise ConfigError(f"encoder {spec!r} is a file but not a TorchScript module ({_one_line(e)})") from None
        if weights is not None:
            _load_weights(model, weights, spec)
        return model, {}
    if not _IMPORT_SPEC.match(spec):
        raise ConfigError(f"encoder {spec!r} does not resolve; use torchvision:NAME, module.path:callable or a "
                          "TorchScript file")
    mod_name, attr = spec.split(":")
    try:
        obj = importlib.import_module(mod_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as e:
        raise ConfigError(f"encoder {spec!r} does not resolve ({_one_line(e)})") from None
    if not callable(obj):
        raise ConfigError(f"encoder {spec!r} is not callable")
    model = _seeded(obj, seed) if not isinstance(obj, torch.nn.Module) else obj
    if not callable(model):
        raise ConfigError(f"encoder {spec!r} returned a {type(model).__name__}, not a module or a callable")
    if weights is not None:
        if not isinstance(model, torch.nn.Module):
            raise ConfigError(f"--weights needs an nn.Module, but {spec!r} returned a plain callable")
        _load_weights(model, weights, spec)
    return model, {}


def fingerprint(spec: str, weights: str | None) -> dict:
    """What identifies an encoder for the feature cache: the spec and the weights/TorchScript file's size+mtime."""
    if not isinstance(spec, (str, os.PathLike)):  # a module object: its class and a hash of its parameters
        h = hashlib.sha256()
        for t in (spec.state_dict().values() if isinstance(spec, torch.nn.Module) else ()):
            h.update(t.detach().cpu().contiguous().numpy().tobytes())
        return {"spec": type(spec).__qualname__, "params": h.hexdigest()[:16]}
    out: dict = {"spec": str(spec)}
    for key, f in (("weights", weights), ("file", spec if Path(spec).is_file() else None)):
        if f is not None:
            st = Path(f).stat()
            out[key] = [str(Path(f).resolve()), st.st_size, st.st_mtime_ns]
    return out


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
    import time

    from tqdm.auto import tqdm

    from monotheory.noise import input_noise
    from monotheory.seeding import stream_seed
    from monotheory.vision.data import make_loader

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
