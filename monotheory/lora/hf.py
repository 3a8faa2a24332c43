"""MonoLoRA through peft (Hugging Face): ``get_peft_model(model, MonoLoraConfig(...))`` and the usual
``save_pretrained`` / ``PeftModel.from_pretrained``.

peft's experimental custom-module API (``LoraConfig._register_custom_module``) maps ``nn.Linear`` and
transformers' ``Conv1D`` (GPT-2's layers) to :class:`MonoLoraLinear`, a subclass of peft's own LoRA ``Linear``
whose ``resolve_lora_variant`` returns a :class:`ReluVariant` (peft's ``LoraVariant`` hook, as DoRA uses). So the
adapter keeps peft's names (``lora_A`` / ``lora_B``, ``r``, ``lora_alpha``, ``lora_dropout``, B = 0 at init),
its state_dict and file layout; only the forward adds the ReLU. ``relu="output"`` uses
:func:`monotheory.lora.layers.relu_right` (derivative 1 at 0), so B moves from its zero init, as in the own
route. Any other module type that ``target_modules`` selects (``nn.Embedding``, ``nn.Conv2d``, …) and
``target_parameters`` are refused with a ConfigError: peft would give them plain LoRA layers, silently.

Needs peft ≥ 0.19 (:data:`MIN_PEFT`): 0.16–0.18 have ``LoraVariant`` but resolve it from ``use_dora`` alone,
without the config that holds the placement; 0.14–0.15 have no ``LoraVariant``.

:class:`MonoLoraConfig` is a ``LoraConfig`` with one more field, ``monolora_relu`` (``"hidden"`` or ``"output"``),
written into ``adapter_config.json``. Plain ``PeftModel.from_pretrained`` reads that file with ``LoraConfig``,
which drops the unknown key with a warning and would give *plain* LoRA: load with :func:`load_monolora` (or
pass ``config=MonoLoraConfig.from_dir(path)``). Merging a MonoLoRA adapter raises ConfigError (the branch is
not linear). Importing this module imports peft and transformers.
"""

from __future__ import annotations

import dataclasses
import json
import os
from contextlib import contextmanager
from pathlib import Path

import peft
import torch
import torch.nn.functional as F
from packaging.version import Version
from peft import LoraConfig, PeftModel
from peft.tuners.lora.layer import Linear as _PeftLinear
from peft.tuners.lora.layer import LoraVariant
from torch import nn
from transformers.pytorch_utils import Conv1D

from monotheory.errors import ConfigError
from monotheory.lora.config import RELU_PLACEMENTS, check_regex
from monotheory.lora.layers import relu_right

MIN_PEFT = "0.19"
if Version(peft.__version__) < Version(MIN_PEFT):
    raise ImportError(f"monotheory.lora.hf needs peft >= {MIN_PEFT}, found {peft.__version__}; "
                      f"pip install 'peft>={MIN_PEFT}'")


class ReluVariant(LoraVariant):
    """peft LoRA variant: result + scaling·B·ReLU(A x) (``hidden``) or + scaling·ReLU₊(B·A x) (``output``)."""

    def __init__(self, placement: str):
        self.placement = placement

    def supports_lora_conversion(self) -> bool:
        return False

    def init(self, module, adapter_name: str, **kwargs) -> None:
        pass  # peft's init (A Kaiming-uniform, B = 0) is kept as is

    def _no_merge(self, *args, **kwargs):
        raise ConfigError(f"a MonoLoRA adapter (ReLU on the {self.placement}) is not linear in x and cannot be "
                          "merged into the base weight; only plain LoRA merges")

    merge_safe = merge_unsafe = unmerge = _no_merge

    def forward(self, module, active_adapter: str, x: torch.Tensor, result: torch.Tensor, **kwargs) -> torch.Tensor:
        a, b = module.lora_A[active_adapter], module.lora_B[active_adapter]
        h = a(module.lora_dropout[active_adapter](x))
        if self.placement == "hidden":
            h = F.relu(h)
        out = b(h)
        if self.placement == "output":
            out = relu_right(out)
        return result + out * module.scaling[active_adapter]


class MonoLoraLinear(_PeftLinear):
    """peft's LoRA ``Linear`` with a :class:`ReluVariant` for every adapter (placement from the config); wraps
    ``nn.Linear`` and transformers' ``Conv1D`` (whose weight is stored transposed: ``fan_in_fan_out``)."""

    def __init__(self, base_layer, adapter_name: str, *args, **kwargs):
        super().__init__(base_layer, adapter_name, *args, **kwargs)
        self.fan_in_fan_out = isinstance(self.get_base_layer(), Conv1D)

    _resolving_mono = False

    @property
    def lora_variants(self):
        # peft ≥ 0.21 resolves variants from the config fields tagged is_lora_variant (monolora_relu is): this
        # layer accepts it for a MonoLoraConfig; peft's plain layers do not, so a MonoLoRA adapter added to one
        # is a ValueError there instead of plain LoRA
        base = getattr(super(), "lora_variants", {(): None})
        return {**base, ("monolora_relu",): None} if self._resolving_mono else base

    def resolve_lora_variant(self, *, config, **kwargs):
        self._resolving_mono = isinstance(config, MonoLoraConfig)
        try:
            other = super().resolve_lora_variant(config=config, **kwargs)
        finally:
            self._resolving_mono = False
        if not isinstance(config, MonoLoraConfig):  # a plain LoraConfig adapter added to this layer stays plain
            return other
        if other is not None:
            raise ConfigError(f"MonoLoRA cannot be combined with peft's {type(other).__name__}; "
                              "turn that option off in the MonoLoraConfig")
        return ReluVariant(config.monolora_relu)


class _Refused(nn.Module):
    """Dispatch target for every module type MonoLoRA does not cover: a ConfigError instead of plain LoRA."""

    def __init__(self, target, adapter_name: str, *args, **kwargs):
        base = target.get_base_layer() if hasattr(target, "get_base_layer") else target
        what = f"parameter {kwargs['parameter_name']!r} of " if kwargs.get("parameter_name") else ""
        raise ConfigError(f"target_modules selects {what}a module of type {type(base).__name__} ({adapter_name!r} "
                          "adapter), where peft would give plain LoRA; MonoLoRA wraps nn.Linear and transformers "
                          "Conv1D layers only")


@dataclasses.dataclass
class MonoLoraConfig(LoraConfig):
    """``peft.LoraConfig`` plus ``monolora_relu`` (``"hidden"``: ReLU on the rank-r code; ``"output"``: on the
    branch output). All LoRA fields (``r``, ``lora_alpha``, ``lora_dropout``, ``target_modules``, …) as in peft;
    ``use_dora``, ``target_parameters`` and the ``init_lora_weights`` that rewrite the base weight are refused."""

    monolora_relu: str = dataclasses.field(default="hidden", metadata={"help": "hidden or output",
                                                                       "is_lora_variant": True})

    def __post_init__(self):
        if self.monolora_relu not in RELU_PLACEMENTS:
            raise ConfigError(f"monolora_relu = {self.monolora_relu!r} is unknown; choose hidden or output "
                              "(plain LoRA is peft.LoraConfig)")
        if not isinstance(self.r, int) or isinstance(self.r, bool) or self.r < 1:
            raise ConfigError(f"r = {self.r!r} must be an integer ≥ 1")
        if isinstance(self.target_modules, str):
            check_regex("target_modules", self.target_modules)
        if self.use_dora:
            raise ConfigError("use_dora = True cannot be combined with MonoLoRA (DoRA rescales a linear update); "
                              "use peft.LoraConfig for DoRA")
        if getattr(self, "target_parameters", None):
            raise ConfigError(f"target_parameters = {self.target_parameters!r} would give plain LoRA on raw "
                              "parameters; MonoLoRA wraps modules: give target_modules")
        init = self.init_lora_weights
        if not (init is True or init is False or init == "gaussian"):
            raise ConfigError(f"init_lora_weights = {init!r} is not supported with MonoLoRA (it assumes a linear "
                              "branch); choose True (B = 0), 'gaussian' (B = 0) or False (B random)")
        super().__post_init__()
        # first match wins: Linear and Conv1D get MonoLoRA, every other module type a clear refusal
        self._register_custom_module({nn.Linear: MonoLoraLinear, Conv1D: MonoLoraLinear, nn.Module: _Refused})

    @classmethod
    def from_dir(cls, path: str | os.PathLike) -> MonoLoraConfig:
        """The config saved by ``save_pretrained`` in ``path`` (ConfigError if it is not a MonoLoRA adapter)."""
        f = Path(path) / "adapter_config.json"
        if not f.is_file():
            raise ConfigError(f"{f} does not exist; give the folder written by save_pretrained")
        d = json.loads(f.read_text())
        if "monolora_relu" not in d:
            raise ConfigError(f"{f} holds no monolora_relu: it is a plain LoRA adapter; load it with "
                              "peft.PeftModel.from_pretrained")
        names = {fl.name for fl in dataclasses.fields(cls) if fl.init}
        return cls(**{k: v for k, v in d.items() if k in names})


def load_monolora(model: nn.Module, path: str | os.PathLike, *, is_trainable: bool = False, **kwargs) -> PeftModel:
    """``PeftModel.from_pretrained(model, path, config=MonoLoraConfig.from_dir(path))`` with a shape check:
    an adapter saved for a model of another shape is a ConfigError (peft raises a size-mismatch RuntimeError)."""
    cfg = MonoLoraConfig.from_dir(path)
    try:
        return PeftModel.from_pretrained(model, str(path), config=cfg, is_trainable=is_trainable, **kwargs)
    except RuntimeError as e:
        if "size mismatch" in str(e):
            raise ConfigError(f"the adapter in {path} was saved for a model of another shape: "
                              f"{str(e).splitlines()[1].strip() if len(str(e).splitlines()) > 1 else e}") from None
        raise


@contextmanager
def record_peft_codes(model: nn.Module, adapter_name: str = "default"):
    """Collect the rank-r codes of every MonoLoRA / LoRA layer of a peft model: ``{name: [tensor per call]}``
    (ReLU'd for ``monolora_relu="hidden"``; rows = tokens, (batch·seq, r); detached CPU copies)."""
    from peft.tuners.lora.layer import LoraLayer

    store: dict[str, list[torch.Tensor]] = {}
    hooks = []
    for n, m in model.named_modules():
        if isinstance(m, LoraLayer) and adapter_name in m.lora_A:
            variant = m.lora_variant.get(adapter_name)
            relu = isinstance(variant, ReluVariant) and variant.placement == "hidden"
            store[n] = []

            def hook(_m, _inp, out, n=n, relu=relu):
                t = F.relu(out) if relu else out
                store[n].append(t.detach().reshape(-1, t.shape[-1]).float().cpu())

            hooks.append(m.lora_A[adapter_name].register_forward_hook(hook))
    try:
        yield store
    finally:
        for h in hooks:
            h.remove()
