"""LoRA and MonoLoRA wrappers of ``nn.Linear``, ``nn.Conv2d`` and transformers' ``Conv1D`` (see
:mod:`monotheory.lora.config`).

``LoRALinear(base, cfg)``: y = base(x) + (α/r)·B·φ(A·drop(x)) with φ the identity (``cfg.relu=None``) or a ReLU
on the code (``"hidden"``) or on the branch output (``"output"``, then y = base(x) + (α/r)·ReLU₊(B·A·drop(x))).
The base layer is kept as ``.base`` with its parameters frozen. ``MonoLoRALinear`` is the same class with a
ReLU required. Two ``nn.Identity`` taps, ``.code_tap`` (the rank-r code after φ for ``"hidden"``) and
``.out_tap`` (the branch output before scaling), let forward hooks record activations without changing them.

``relu="output"`` and the initialisation. B starts at 0 (so the wrapped model *is* the base model at init, the
LoRA property), so every pre-activation B·A x is exactly 0 at init; torch's ReLU has derivative 0 there, which
would leave B at 0 for ever. ReLU₊ (:func:`relu_right`) is the ReLU with another valid subgradient at 0 (any
value in [0, 1] is one): its right derivative 1. The forward is the ReLU exactly, so the model still equals the
base model at init, and the first gradient of B is plain LoRA's; after one step B·A x is almost never exactly 0
and ReLU₊ and torch's ReLU agree. Rejected alternatives: a nonzero B init (ReLU(B·A x) would add a
non-negative offset to every output at init, so the adapted model would not be the base model), subtracting
the branch's initial output (a frozen copy of A and B, and the branch output is no longer ≥ 0 or sparse), the
ReLU before B (that is ``"hidden"``). ``"hidden"`` keeps torch's ReLU: ReLU(A x) is nonzero at
init, so B gets a gradient from the first step.

The conv wrappers use A = Conv2d(C_in, r, k, stride, padding, dilation) and B = 1×1 Conv2d(r, C_out), so the
rank-r code is an (N, r, H', W') map; merged, the update is ΔW[o, i, :, :] = (α/r)·Σ_j B[o, j]·A[j, i, :, :].
transformers' ``Conv1D`` (GPT-2's attention and MLP layers) is a linear layer whose weight is stored
transposed, (in, out): :class:`LoRAConv1D` wraps it with A = Linear(in, r), B = Linear(r, out) and merges
ΔWᵀ. It is recognised without importing transformers (a model that holds one has imported it).
"""

from __future__ import annotations

import math
import sys

import torch
import torch.nn.functional as F
from torch import nn

from monotheory.errors import ConfigError
from monotheory.lora.config import LoRAConfig
from monotheory.seeding import torch_generator


def relu_right(x: torch.Tensor) -> torch.Tensor:
    """max(x, 0) with derivative 1 at x = 0 (the right derivative; torch's ReLU takes 0 there).

    >>> x = torch.zeros(2, requires_grad=True); relu_right(x).sum().backward(); x.grad.tolist()
    [1.0, 1.0]
    """
    return torch.where(x >= 0, x, torch.zeros_like(x))


def conv1d_type() -> type | None:
    """transformers' ``Conv1D`` class if transformers is already imported, else None (no import here)."""
    return getattr(sys.modules.get("transformers.pytorch_utils"), "Conv1D", None)


def is_conv1d(module: nn.Module) -> bool:
    """Whether ``module`` is a transformers ``Conv1D`` (y = x·W + b with W stored as (in, out))."""
    t = conv1d_type()
    return t is not None and isinstance(module, t)


def wrappable(module: nn.Module) -> bool:
    """Whether :func:`wrap` takes ``module``: an ``nn.Linear``, ``nn.Conv2d`` or transformers ``Conv1D``."""
    return isinstance(module, (nn.Linear, nn.Conv2d)) or is_conv1d(module)


def _dims(base: nn.Module) -> tuple[int, int]:
    """(input size, output size) of the layer's weight as a matrix."""
    if isinstance(base, nn.Linear):
        return base.in_features, base.out_features
    if is_conv1d(base):
        return tuple(base.weight.shape)
    kh, kw = base.kernel_size
    return base.in_channels * kh * kw, base.out_channels


class _LoRABase(nn.Module):
    """Shared logic: checks, initialisation, the branch, merging."""

    def __init__(self, base: nn.Module, cfg: LoRAConfig, name: str = ""):
        super().__init__()
        if not isinstance(cfg, LoRAConfig):
            raise ConfigError(f"cfg must be a LoRAConfig, got {type(cfg).__name__}")
        d_in, d_out = _dims(base)
        if cfg.rank > min(d_in, d_out):
            raise ConfigError(f"rank = {cfg.rank} is larger than layer {name or type(base).__name__} allows "
                              f"(its weight is {d_out}×{d_in}); choose 1 ≤ rank ≤ {min(d_in, d_out)}")
        self.base, self.cfg, self.name = base, cfg, name
        self.relu, self.scaling = cfg.relu, cfg.scaling
        self.base.requires_grad_(False)
        self.dropout = nn.Dropout(cfg.dropout) if cfg.dropout > 0 else nn.Identity()
        self.code_tap, self.out_tap = nn.Identity(), nn.Identity()
        self.merged = False

    def _init_weights(self) -> None:
        # A: Kaiming-uniform with a = √5 (nn.Linear's default, which peft's LoRA uses), drawn from a named stream
        # per layer so that adapters do not depend on the global RNG or on the order of injection; B = 0.
        w = self.lora_A.weight
        fan_in = w[0].numel()
        bound = math.sqrt(6 / ((1 + 5) * fan_in))
        gen = torch_generator(self.cfg.seed, "lora", "A", self.name)
        with torch.no_grad():
            w.copy_(torch.empty(w.shape).uniform_(-bound, bound, generator=gen).to(w))
            nn.init.zeros_(self.lora_B.weight)

    def code(self, x: torch.Tensor) -> torch.Tensor:
        """The rank-r code φ(A·drop(x)) (ReLU'd only for ``relu="hidden"``)."""
        h = self.lora_A(self.dropout(x))
        return F.relu(h) if self.relu == "hidden" else h

    def branch(self, x: torch.Tensor) -> torch.Tensor:
        """The adapter's unscaled output B·φ(A x), ReLU'd for ``relu="output"``."""
        b = self.lora_B(self.code_tap(self.code(x)))
        return self.out_tap(relu_right(b) if self.relu == "output" else b)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.base(x)
        if self.merged:
            return y
        return y + self.scaling * self.branch(x.to(self.lora_A.weight.dtype)).to(y.dtype)

    def delta_weight(self) -> torch.Tensor:
        """(α/r)·B·A in the base weight's shape (defined for plain LoRA only)."""
        a, b = self.lora_A.weight, self.lora_B.weight
        d = b.flatten(1) @ a.flatten(1)
        if is_conv1d(self.base):  # Conv1D stores W transposed, (in, out)
            d = d.T
        return (self.scaling * d).reshape(self.base.weight.shape)

    def _check_mergeable(self) -> None:
        if self.relu is not None:
            raise ConfigError(f"adapter {self.name or ''} has relu = {self.relu!r}: a ReLU branch is not linear in x "
                              "and cannot be merged into the base weight; only relu=None (plain LoRA) merges")

    @torch.no_grad()
    def merge(self) -> None:
        """Add the update to the base weight (plain LoRA only); forward then skips the branch."""
        self._check_mergeable()
        if not self.merged:
            self.base.weight += self.delta_weight().to(self.base.weight.dtype)
            self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        """Subtract the merged update again."""
        if self.merged:
            self.base.weight -= self.delta_weight().to(self.base.weight.dtype)
            self.merged = False

    def extra_repr(self) -> str:
        return f"rank={self.cfg.rank}, alpha={self.cfg.alpha}, relu={self.relu}, merged={self.merged}"


class LoRALinear(_LoRABase):
    """An ``nn.Linear`` with a (Mono)LoRA branch; see the module docstring."""

    def __init__(self, base: nn.Linear, cfg: LoRAConfig, name: str = ""):
        if not isinstance(base, nn.Linear):
            raise ConfigError(f"LoRALinear wraps an nn.Linear, got {type(base).__name__}")
        super().__init__(base, cfg, name)
        dev, dt = base.weight.device, base.weight.dtype
        self.lora_A = nn.Linear(base.in_features, cfg.rank, bias=False, device=dev, dtype=dt)
        self.lora_B = nn.Linear(cfg.rank, base.out_features, bias=False, device=dev, dtype=dt)
        self._init_weights()


class MonoLoRALinear(LoRALinear):
    """:class:`LoRALinear` whose config must place a ReLU (``relu="hidden"`` or ``"output"``)."""

    def __init__(self, base: nn.Linear, cfg: LoRAConfig, name: str = ""):
        if cfg.relu is None:
            raise ConfigError("MonoLoRALinear needs relu = 'hidden' or 'output'; relu = None is plain LoRALinear")
        super().__init__(base, cfg, name)


class LoRAConv2d(_LoRABase):
    """An ``nn.Conv2d`` (groups = 1) with a (Mono)LoRA branch; see the module docstring."""

    def __init__(self, base: nn.Conv2d, cfg: LoRAConfig, name: str = ""):
        if not isinstance(base, nn.Conv2d):
            raise ConfigError(f"LoRAConv2d wraps an nn.Conv2d, got {type(base).__name__}")
        if base.groups != 1 or base.padding_mode != "zeros":
            raise ConfigError(f"layer {name or 'Conv2d'} has groups = {base.groups}, padding_mode = "
                              f"{base.padding_mode!r}; LoRAConv2d supports groups = 1 with zero padding only")
        super().__init__(base, cfg, name)
        dev, dt = base.weight.device, base.weight.dtype
        self.lora_A = nn.Conv2d(base.in_channels, cfg.rank, base.kernel_size, base.stride, base.padding,
                                base.dilation, bias=False, device=dev, dtype=dt)
        self.lora_B = nn.Conv2d(cfg.rank, base.out_channels, 1, bias=False, device=dev, dtype=dt)
        self._init_weights()


class LoRAConv1D(_LoRABase):
    """transformers' ``Conv1D`` (weight (in, out)) with a (Mono)LoRA branch; see the module docstring."""

    def __init__(self, base: nn.Module, cfg: LoRAConfig, name: str = ""):
        if not is_conv1d(base):
            raise ConfigError(f"LoRAConv1D wraps a transformers Conv1D, got {type(base).__name__}")
        super().__init__(base, cfg, name)
        d_in, d_out = _dims(base)
        dev, dt = base.weight.device, base.weight.dtype
        self.lora_A = nn.Linear(d_in, cfg.rank, bias=False, device=dev, dtype=dt)
        self.lora_B = nn.Linear(cfg.rank, d_out, bias=False, device=dev, dtype=dt)
        self._init_weights()


ADAPTER_TYPES = (LoRALinear, LoRAConv2d, LoRAConv1D)


def wrap(module: nn.Module, cfg: LoRAConfig, name: str = "") -> _LoRABase:
    """The adapter for ``module`` (Linear → LoRALinear / MonoLoRALinear, Conv2d → LoRAConv2d, Conv1D → LoRAConv1D)."""
    if isinstance(module, nn.Linear):
        return (LoRALinear if cfg.relu is None else MonoLoRALinear)(module, cfg, name)
    if isinstance(module, nn.Conv2d):
        return LoRAConv2d(module, cfg, name)
    if is_conv1d(module):
        return LoRAConv1D(module, cfg, name)
    raise ConfigError(f"module {name!r} is a {type(module).__name__}; LoRA wraps nn.Linear, nn.Conv2d and "
                      "transformers' Conv1D only")
