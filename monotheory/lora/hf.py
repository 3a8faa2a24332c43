"""MonoLoRA through peft (Hugging Face): ``get_peft_model(model, MonoLoraConfig(...))`` and the usual
``save_pretrained`` / ``PeftModel.from_pretrained``.

peft's experimental custom-module API (``LoraConfig._register_custom_module``, peft ≥ 0.14; written against
0.21) maps ``nn.Linear`` to :class:`MonoLoraLinear`, a subclass of peft's own LoRA ``Linear`` whose
``resolve_lora_variant`` returns a :class:`ReluVariant` (peft's ``LoraVariant`` hook, as DoRA uses). So the
adapter keeps peft's names (``lora_A`` / ``lora_B``, ``r``, ``lora_alpha``, ``lora_dropout``, B = 0 at
init), its state_dict and file layout; only the forward adds the ReLU.

:class:`MonoLoraConfig` is a ``LoraConfig`` with one more field, ``monolora_relu`` (``"hidden"`` or ``"output"``),
written into ``adapter_config.json``. Plain ``PeftModel.from_pretrained`` reads that file with ``LoraConfig``,
which drops the unknown key with a warning and would give *plain* LoRA: load with :func:`load_monolora` (or
pass ``config=MonoLoraConfig.from_dir(path)``). Merging a MonoLoRA adapter raises ConfigError (the branch is
not linear). Importing this module imports peft.
"""

from __future__ import annotations

import dataclasses
import json
import os
from contextlib import contextmanager
from pathlib import Path

import torch
import torch.nn.functional as F
from peft import LoraConfig, PeftModel
from peft.tuners.lora.layer import Linear as _PeftLinear
from peft.tuners.lora.layer import LoraVariant
from torch import nn

from monotheory.errors import ConfigError
from monotheory.lora.config import RELU_PLACEMENTS


class ReluVariant(LoraVariant):
    """peft LoRA variant: result + scaling·B·ReLU(A x) (``hidden``) or + scaling·ReLU(B·A x) (``output``)."""

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
            out = F.relu(out)
        return result + out * module.scaling[active_adapter]


class MonoLoraLinear(_PeftLinear):
    """peft's LoRA ``Linear`` with a :class:`ReluVariant` for every adapter (placement from the config)."""

    def resolve_lora_variant(self, *, config, **kwargs):
        return ReluVariant(getattr(config, "monolora_relu", "hidden"))


@dataclasses.dataclass
class MonoLoraConfig(LoraConfig):
    """``peft.LoraConfig`` plus ``monolora_relu`` (``"hidden"``: ReLU on the rank-r code; ``"output"``: on the
    branch output). All LoRA fields (``r``, ``lora_alpha``, ``lora_dropout``, ``target_modules``, …) as in peft."""

    monolora_relu: str = dataclasses.field(default="hidden", metadata={"help": "hidden or output"})

    def __post_init__(self):
        super().__post_init__()
        if self.monolora_relu not in RELU_PLACEMENTS:
            raise ConfigError(f"monolora_relu = {self.monolora_relu!r} is unknown; choose hidden or output "
                              "(plain LoRA is peft.LoraConfig)")
        if not isinstance(self.r, int) or isinstance(self.r, bool) or self.r < 1:
            raise ConfigError(f"r = {self.r!r} must be an integer ≥ 1")
        self._register_custom_module({nn.Linear: MonoLoraLinear})

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
