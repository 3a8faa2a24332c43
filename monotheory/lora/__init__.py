"""LoRA and MonoLoRA adapters (the paper's §5.3 "monosemantic LoRA"; no code of the authors exists for it).

MonoLoRA puts a ReLU on the LoRA branch so that the adapter's activations are sparse: y = W x + (α/r)·B·ReLU(A x)
(``relu="hidden"``) or y = W x + (α/r)·ReLU(B A x) (``relu="output"``, with derivative 1 at 0 so that B moves
from its zero init: :func:`monotheory.lora.layers.relu_right`); ``relu=None`` is plain LoRA. Layers:
``nn.Linear``, ``nn.Conv2d`` and transformers' ``Conv1D`` (GPT-2).

- own injection into any ``nn.Module``: :func:`inject`, :func:`merge` / :func:`unmerge` (plain LoRA),
  :func:`adapter_state_dict`, :func:`save_adapter` / :func:`load_adapter`, :func:`record_codes`;
- Hugging Face models through peft: :mod:`monotheory.lora.hf` (imports peft only when used);
- the digits analogue of C9 (LoRA vs MonoLoRA vs full fine-tuning under label noise):
  ``monotheory lora-digits`` (:mod:`monotheory.lora.digits`).

Importing this package imports torch (not peft, transformers or torchvision).
"""

from monotheory.lora.config import RELU_PLACEMENTS, LoRAConfig
from monotheory.lora.inject import (
    adapter_config,
    adapter_state_dict,
    adapters,
    find_targets,
    inject,
    load_adapter,
    merge,
    read_adapter,
    record_codes,
    save_adapter,
    unmerge,
)
from monotheory.lora.layers import LoRAConv1D, LoRAConv2d, LoRALinear, MonoLoRALinear, relu_right
from monotheory.lora.measure import activation_measures

__all__ = ["RELU_PLACEMENTS", "LoRAConfig", "LoRAConv1D", "LoRAConv2d", "LoRALinear", "MonoLoRALinear",
           "activation_measures", "adapter_config", "adapter_state_dict", "adapters", "find_targets", "inject",
           "load_adapter", "merge", "read_adapter", "record_codes", "relu_right", "save_adapter", "unmerge"]
