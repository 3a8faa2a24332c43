"""Putting (Mono)LoRA adapters into any ``nn.Module``, and taking their state out again.

:func:`inject` replaces the matching ``nn.Linear`` / ``nn.Conv2d`` / transformers ``Conv1D`` modules in place
and freezes every other parameter of the model. :func:`adapter_state_dict`, :func:`save_adapter` and :func:`load_adapter` handle the
adapter weights only (keys ``<module name>.lora_A.weight`` / ``.lora_B.weight``); the file also holds the
:class:`LoRAConfig`, so loading rebuilds the adapters on a fresh base model. Files: safetensors when the path
ends in ``.safetensors`` (needs the ``safetensors`` package), otherwise ``torch.save`` of plain tensors and
strings, read back with ``weights_only=True``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from monotheory.errors import ConfigError
from monotheory.lora.config import LoRAConfig
from monotheory.lora.layers import ADAPTER_TYPES, is_conv1d, wrap, wrappable

Predicate = Callable[[str, nn.Module], bool]
_FORMAT = "monotheory.lora/1"


def _matches(name: str, targets) -> bool:
    if targets is None:
        return True
    if isinstance(targets, str):
        return re.fullmatch(targets, name) is not None
    return any(name == t or name.endswith("." + t) for t in targets)


def find_targets(model: nn.Module, cfg: LoRAConfig, predicate: Predicate | None = None) -> list[str]:
    """Names of the ``nn.Linear`` / ``nn.Conv2d`` / ``Conv1D`` modules that ``cfg.target_modules`` and
    ``predicate`` select."""
    out = []
    for name, mod in model.named_modules():
        if not wrappable(mod) or isinstance(mod, ADAPTER_TYPES) or not name:
            continue
        if _matches(name, cfg.target_modules) and (predicate is None or predicate(name, mod)):
            out.append(name)
    return out


def _no_match(model: nn.Module, cfg: LoRAConfig) -> ConfigError:
    """The one-sentence error for a selection that matches nothing: what the names do match (modules of a type
    LoRA does not wrap), and the names of the layers this model does have."""
    named = [(n, m) for n, m in model.named_modules() if n and not isinstance(m, ADAPTER_TYPES)]
    selected = [m for n, m in named if _matches(n, cfg.target_modules)]
    other = sorted({type(m).__name__ for m in selected if not wrappable(m)})
    leaves = sorted({n.rsplit(".", 1)[-1] for n, m in named if wrappable(m)})
    if any(wrappable(m) for m in selected):
        what = "selects layers, but the predicate accepts none of them"
    elif other:
        what = f"selects only modules of type {', '.join(other)}, which LoRA does not wrap"
    else:
        what = "matches no nn.Linear, nn.Conv2d or transformers Conv1D of the model"
    shown = ", ".join(repr(n) for n in leaves[:12]) + (f" and {len(leaves) - 12} more" if len(leaves) > 12 else "")
    has = f"this model's wrappable layers are named {shown}" if leaves else "this model has no wrappable layer"
    return ConfigError(f"target_modules = {cfg.target_modules!r} {what}; {has}")


def inject(model: nn.Module, cfg: LoRAConfig, predicate: Predicate | None = None, *,
           freeze: bool = True) -> list[str]:
    """Wrap the selected layers of ``model`` in (Mono)LoRA adapters, in place; return the wrapped names.

    ``predicate(name, module) -> bool`` narrows the selection of ``cfg.target_modules``. With ``freeze`` every
    parameter outside the adapters gets ``requires_grad=False``. A selection that matches nothing, or a rank
    larger than a selected layer allows, is a ConfigError raised before the model is changed.
    """
    if not isinstance(cfg, LoRAConfig):
        raise ConfigError(f"cfg must be a LoRAConfig, got {type(cfg).__name__}")
    if adapters(model):
        raise ConfigError("the model already holds LoRA adapters; inject into a fresh model")
    names = find_targets(model, cfg, predicate)
    if not names:
        raise _no_match(model, cfg)
    wrapped = {n: wrap(model.get_submodule(n), cfg, n) for n in names}  # all checks before any change
    if freeze:
        model.requires_grad_(False)
    for n, w in wrapped.items():
        parent, _, child = n.rpartition(".")
        setattr(model.get_submodule(parent) if parent else model, child, w)
        w.lora_A.requires_grad_(True)
        w.lora_B.requires_grad_(True)
    return names


def adapters(model: nn.Module) -> dict[str, nn.Module]:
    """The adapter modules of ``model`` by name."""
    return {n: m for n, m in model.named_modules() if isinstance(m, ADAPTER_TYPES)}


def adapter_config(model: nn.Module) -> LoRAConfig:
    """The config the model's adapters were built from."""
    ads = adapters(model)
    if not ads:
        raise ConfigError("the model holds no LoRA adapters")
    return next(iter(ads.values())).cfg


def merge(model: nn.Module) -> None:
    """Merge every adapter into its base weight (plain LoRA only; MonoLoRA raises ConfigError)."""
    ads = adapters(model).values()
    for a in ads:
        a._check_mergeable()
    for a in ads:
        a.merge()


def unmerge(model: nn.Module) -> None:
    """Undo :func:`merge`."""
    for a in adapters(model).values():
        a.unmerge()


def adapter_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The adapter weights only: ``{"<name>.lora_A.weight": ..., "<name>.lora_B.weight": ...}`` (CPU copies)."""
    out = {}
    for n, a in adapters(model).items():
        for part in ("lora_A", "lora_B"):
            out[f"{n}.{part}.weight"] = getattr(a, part).weight.detach().cpu().clone()
    return out


def save_adapter(model: nn.Module, path: str | os.PathLike) -> Path:
    """Write the adapter weights and config to ``path`` (atomically); return the path.

    A path that is a folder or cannot be written (a missing permission, a file where a folder should be) is a
    ConfigError, and nothing is left behind.
    """
    path = Path(path)
    state = adapter_state_dict(model)
    if not state:
        raise ConfigError("the model holds no LoRA adapters to save")
    if path.is_dir() or not path.name:
        raise ConfigError(f"adapter path {str(path)!r} is a folder; give a file name ending in .safetensors or .pt")
    meta = {"format": _FORMAT, "config": json.dumps(adapter_config(model).to_dict())}
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".safetensors":
            from safetensors.torch import save_file

            save_file({k: v.contiguous() for k, v in state.items()}, str(tmp), metadata=meta)
        else:
            torch.save({"meta": meta, "state": state}, tmp)
        os.replace(tmp, path)
    except (OSError, RuntimeError) as e:  # torch.save reports an unwritable file as a RuntimeError
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        reason = (f"{e.strerror}: {e.filename}" if isinstance(e, OSError) and e.strerror and e.filename
                  else str(e).splitlines()[0])
        raise ConfigError(f"cannot write the adapter to {str(path)!r} ({reason}); give a writable file path") from None
    except ImportError:
        raise ConfigError(f"adapter path {str(path)!r} ends in .safetensors, which needs the safetensors package "
                          "(pip install safetensors); or give a .pt path") from None
    return path


def read_adapter(path: str | os.PathLike) -> tuple[LoRAConfig, dict[str, torch.Tensor]]:
    """The config and weights stored in an adapter file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"adapter path {path} is a folder, not an adapter file" if path.is_dir() else
                          f"adapter file {path} does not exist")
    try:
        if path.suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(path), framework="pt") as f:
                meta = f.metadata() or {}
                state = {k: f.get_tensor(k) for k in f.keys()}
        else:
            obj = torch.load(path, map_location="cpu", weights_only=True)
            meta, state = obj["meta"], obj["state"]
    except ConfigError:
        raise
    except Exception as e:  # a foreign or truncated file
        raise ConfigError(f"{path} is not a monotheory adapter file ({type(e).__name__}: {e})") from None
    if meta.get("format") != _FORMAT:
        raise ConfigError(f"{path} is not a monotheory adapter file (format {meta.get('format')!r})")
    return LoRAConfig.from_dict(json.loads(meta["config"])), state


def load_adapter(model: nn.Module, path: str | os.PathLike, *, freeze: bool = True) -> nn.Module:
    """Put the adapters saved at ``path`` into ``model`` (injecting them first if it has none); return it.

    The model must have the saved adapters' layers with the same shapes; otherwise ConfigError, before the
    model is changed.
    """
    cfg, state = read_adapter(path)
    names = sorted({k.rsplit(".", 2)[0] for k in state})
    mods = dict(model.named_modules())
    for n in names:  # check every layer before touching the model
        m = mods.get(n)
        base = m.base if isinstance(m, ADAPTER_TYPES) else m
        if base is None or not wrappable(base):
            raise ConfigError(f"adapter file {path} has a layer {n!r} that the model lacks (or is not a "
                              "Linear/Conv2d/Conv1D there); load it into the model it was trained on")
        for part in ("lora_A", "lora_B"):
            want = tuple(state[f"{n}.{part}.weight"].shape)
            shape = _adapter_shape(base, cfg.rank, part)
            if shape != want:
                raise ConfigError(f"adapter file {path}: {n}.{part} has shape {want} but the model's layer needs "
                                  f"{shape}; the model has another shape than the one the adapter was trained on")
    if not adapters(model):
        inject(model, cfg, lambda name, _m: name in names, freeze=freeze)
    ads = adapters(model)
    if sorted(ads) != names:
        raise ConfigError(f"the model's adapters {sorted(ads)} differ from the file's {names}")
    with torch.no_grad():
        for n in names:
            for part in ("lora_A", "lora_B"):
                w = getattr(ads[n], part).weight
                w.copy_(state[f"{n}.{part}.weight"].to(w))
    return model


def _adapter_shape(base: nn.Module, rank: int, part: str) -> tuple[int, ...]:
    if isinstance(base, nn.Linear):
        return (rank, base.in_features) if part == "lora_A" else (base.out_features, rank)
    if is_conv1d(base):  # weight (in, out)
        d_in, d_out = base.weight.shape
        return (rank, d_in) if part == "lora_A" else (d_out, rank)
    return (rank, base.in_channels, *base.kernel_size) if part == "lora_A" else (base.out_channels, rank, 1, 1)


@contextlib.contextmanager
def record_codes(model: nn.Module, what: str = "code"):
    """Collect every adapter's activations during the ``with`` block: ``{name: [tensor per call]}``.

    ``what="code"``: the rank-r code φ(A x) (ReLU'd for ``relu="hidden"``); ``"output"``: the branch output
    B·φ(A x) before the α/r scale (ReLU'd for ``relu="output"``). Conv codes (N, r, H, W) are returned as rows
    of r values, one per sample and position, (N·H·W, r). Tensors are detached CPU copies.
    """
    if what not in ("code", "output"):
        raise ConfigError(f"what = {what!r} is unknown; choose code or output")
    store: dict[str, list[torch.Tensor]] = {}
    hooks = []
    for n, a in adapters(model).items():
        store[n] = []

        def hook(_m, _inp, out, n=n):
            t = out.detach()
            t = t.movedim(1, -1) if t.ndim == 4 else t
            store[n].append(t.reshape(-1, t.shape[-1]).float().cpu())

        hooks.append((a.code_tap if what == "code" else a.out_tap).register_forward_hook(hook))
    try:
        yield store
    finally:
        for h in hooks:
            h.remove()
