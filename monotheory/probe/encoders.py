"""Encoders for :mod:`monotheory.probe.api`: resolve a spec (a torchvision name, a callable, a TorchScript file).

An encoder spec is one of

- ``torchvision:NAME`` — ``torchvision.models.get_model(NAME, weights=None)`` (never a download); with
  ``weights`` a local state dict is loaded into it (strictly; a file that does not fit is refused). The
  classification head (``fc`` / ``classifier`` / ``heads`` / ``head``) is replaced by ``nn.Identity``, so the
  features are the penultimate layer (512-d for ResNet-18). The transform defaults to the metadata of
  torchvision's ``DEFAULT`` weights for NAME (resize, crop, mean, std), read without downloading anything;
- ``module.path:callable`` — ``callable()`` returns an ``nn.Module`` or any callable images → features;
- a TorchScript file (``torch.jit.load``).

:func:`monotheory.vision.features.extract` applies an encoder to a data set in batches, adding input noise to the
*normalised* image batch when asked (the paper's protocol); :class:`~monotheory.vision.features.FeatureCache`
stores what it extracted so an ImageNet-size encoder runs once per (split, σ). :func:`fingerprint` identifies
an encoder for that cache.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import re
from pathlib import Path

import torch

from monotheory.errors import ConfigError
from monotheory.seeding import stream_seed

_HEADS = ("fc", "classifier", "heads", "head")
_IMPORT_SPEC = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


def _one_line(e: Exception) -> str:
    s = str(e).strip().splitlines()
    return s[0] if s else type(e).__name__


def _seeded(build, seed: int):
    """Call ``build()`` with the CPU generator seeded from the ``encoder-init`` stream (restored after), so an
    encoder without weights (random initialisation) gives the same features on every run."""
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
    if p.is_dir():
        raise ConfigError(f"weights file {weights!r} is a folder, not a file")
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
    bad = next((k for k, t in state.items() if torch.is_tensor(t) and t.is_floating_point()
                and not bool(torch.isfinite(t).all())), None)
    if bad is not None:
        raise ConfigError(f"weights file {weights!r} holds NaN or infinite values (first in {bad!r}); the features "
                          "would be NaN")
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
    try:
        model = _seeded(obj, seed) if not isinstance(obj, torch.nn.Module) else obj
    except Exception as e:  # noqa: BLE001 - the user's factory: any failure is one line naming it
        raise ConfigError(f"encoder {spec!r}: calling {attr}() failed ({type(e).__name__}: {_one_line(e)[:120]}); "
                          "the callable must build the encoder with no arguments") from None
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
