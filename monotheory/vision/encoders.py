"""Encoders for CL (SimCLR) and NCL: a ResNet backbone plus a projector, and the contrastive loss.

``Encoder.forward(x)`` returns the projector output ``z`` — the 2048-d feature the paper probes — passed
through a ReLU when ``nonneg=True`` (NCL, Wang et al. 2024: the ReLU sits on the projector output *before*
the L2 normalisation of the loss). ``Encoder.backbone`` is ``torchvision.models.resnet18(weights=None)``
with ``fc = Identity`` (512-d output); the CIFAR stem swaps the 7×7/2 conv + max-pool for a 3×3/1 conv.

:func:`nt_xent` is SimCLR's InfoNCE loss (temperature 0.2 in the paper). With ``gather=True`` under
``torch.distributed`` the keys are all-gathered with ``torch.distributed.nn.functional.all_gather`` so
gradients flow back to every rank; each rank's queries are its own samples.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from monotheory.config import check_choice, check_int
from monotheory.vision.config import ARCHS


class TinyResNet(nn.Module):
    """A narrow 4-stage ResNet (torchvision ``BasicBlock`` s, one per stage) for CPU smoke runs and tests.

    Same layout as ResNet-18 with one block per stage and widths ``widths``; output dim ``widths[-1]``.
    """

    def __init__(self, widths: tuple[int, ...] = (16, 32, 64, 128), cifar_stem: bool = True, stem_padding: int = 1):
        super().__init__()
        from torchvision.models.resnet import BasicBlock

        w0 = widths[0]
        if cifar_stem:
            stem = [nn.Conv2d(3, w0, 3, 1, stem_padding, bias=False), nn.BatchNorm2d(w0), nn.ReLU(inplace=True)]
        else:
            stem = [nn.Conv2d(3, w0, 7, 2, 3, bias=False), nn.BatchNorm2d(w0), nn.ReLU(inplace=True),
                    nn.MaxPool2d(3, 2, 1)]
        layers, c_in = [], w0
        for i, w in enumerate(widths):
            stride = 1 if i == 0 else 2
            down = None
            if stride != 1 or c_in != w:
                down = nn.Sequential(nn.Conv2d(c_in, w, 1, stride, bias=False), nn.BatchNorm2d(w))
            layers.append(BasicBlock(c_in, w, stride, down))
            c_in = w
        self.body = nn.Sequential(*stem, *layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.out_dim = c_in

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class MLPBackbone(nn.Module):
    """Flatten → [Linear → BatchNorm1d → ReLU] × len(widths): a convolution-free backbone for tiny images.

    For the built-in ``digits`` data (8 × 8 images), where a CNN costs too much CPU time to reach a
    plateau in minutes; the input size is fixed by ``in_pixels`` (3 · crop²).
    """

    def __init__(self, in_pixels: int, widths: tuple[int, ...] = (256, 256)):
        super().__init__()
        layers, c_in = [nn.Flatten()], int(in_pixels)
        for w in widths:
            layers += [nn.Linear(c_in, w), nn.BatchNorm1d(w), nn.ReLU(inplace=True)]
            c_in = w
        self.body, self.out_dim = nn.Sequential(*layers), c_in

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def make_backbone(arch: str = "resnet18", cifar_stem: bool = False, crop_size: int = 32,
                  stem_padding: int = 1) -> tuple[nn.Module, int]:
    """A randomly initialised backbone with its classifier removed, and its output width (``crop_size``: mlp only;
    ``stem_padding``: of the CIFAR stem's 3×3 conv, 1 keeps the image size, the authors' 2 adds a pixel a side)."""
    check_choice("arch", arch, ARCHS)
    check_int("stem_padding", stem_padding, 0, 3)
    if arch == "mlp":
        net = MLPBackbone(3 * int(crop_size) ** 2)
        return net, net.out_dim
    if arch == "tiny":
        net = TinyResNet(cifar_stem=cifar_stem, stem_padding=stem_padding)
        return net, net.out_dim
    import torchvision

    net = getattr(torchvision.models, arch)(weights=None)
    dim = net.fc.in_features
    net.fc = nn.Identity()
    if cifar_stem:  # CIFAR: 3x3 stride-1 first conv, no max-pool (solo-learn / the authors' code)
        net.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=stem_padding, bias=False)
        nn.init.kaiming_normal_(net.conv1.weight, mode="fan_out", nonlinearity="relu")
        net.maxpool = nn.Identity()
    return net, dim


@dataclasses.dataclass
class EncoderConfig:
    """The architecture of an :class:`Encoder`: ``arch`` (one of :data:`ARCHS`), ``cifar_stem``, ``proj_hidden``
    (16384 in the paper), ``proj_out`` (2048), ``nonneg`` (False = CL/SimCLR, True = NCL), ``proj_bn`` (False:
    the paper's and the authors' SimCLR projector has no BatchNorm; True inserts BatchNorm1d after the first
    Linear), ``crop_size`` (the input size, for the ``mlp`` backbone), ``stem_padding`` (of the CIFAR stem's conv)."""

    arch: str = "resnet18"
    cifar_stem: bool = False
    proj_hidden: int = 16384
    proj_out: int = 2048
    nonneg: bool = False
    proj_bn: bool = False
    crop_size: int = 32
    stem_padding: int = 1

    def __post_init__(self):
        check_int("proj_hidden", self.proj_hidden)
        check_int("proj_out", self.proj_out)


class Encoder(nn.Module):
    """Backbone + projector Linear→ReLU→Linear; output ReLU'd when ``cfg.nonneg`` (NCL). Takes its
    :class:`EncoderConfig` whole (``Encoder(EncoderConfig(arch="tiny", nonneg=True))``)."""

    def __init__(self, cfg: EncoderConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg if cfg is not None else EncoderConfig()
        self.arch, self.cifar_stem, self.nonneg = cfg.arch, bool(cfg.cifar_stem), bool(cfg.nonneg)
        self.backbone, self.feature_dim = make_backbone(cfg.arch, cfg.cifar_stem, cfg.crop_size, cfg.stem_padding)
        bn = [nn.BatchNorm1d(cfg.proj_hidden)] if cfg.proj_bn else []
        self.projector = nn.Sequential(nn.Linear(self.feature_dim, cfg.proj_hidden), *bn, nn.ReLU(inplace=True),
                                       nn.Linear(cfg.proj_hidden, cfg.proj_out))
        self.out_dim = int(cfg.proj_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Projector output z (shape (batch, proj_out)); non-negative when ``nonneg``."""
        z = self.projector(self.backbone(x))
        return F.relu(z) if self.nonneg else z

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Backbone features (before the projector)."""
        return self.backbone(x)


def _gather(z: torch.Tensor) -> tuple[torch.Tensor, int, int]:
    """All-gather ``z`` across ranks with gradient flow; returns (gathered, rank, world_size)."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return z, 0, 1
    import warnings

    from torch.distributed.nn.functional import all_gather

    with warnings.catch_warnings():  # deprecated in favour of a functional API whose backward is not on gloo
        warnings.simplefilter("ignore", FutureWarning)
        parts = all_gather(z)
    return torch.cat(parts, dim=0), dist.get_rank(), dist.get_world_size()


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.2, *, gather: bool = False) -> torch.Tensor:
    """SimCLR's NT-Xent / InfoNCE loss for two views ``z1``, ``z2`` (each (n, d), rows = same images).

    Every row is L2-normalised; the query ``z1[i]`` has positive ``z2[i]`` and, as negatives, every other
    row of both views (its own row excluded); symmetric for ``z2[i]``. Returns the mean over the 2n
    queries of ``-log softmax`` at the positive, logits = cosine / ``temperature``. With ``gather`` and an
    initialised process group the keys are all ranks' rows (gradients flow through the gather).
    """
    n = z1.shape[0]
    q = F.normalize(torch.cat([z1, z2]).float(), dim=1)
    if gather:
        k1, rank, world = _gather(q[:n])
        k2, _, _ = _gather(q[n:])
    else:
        k1, k2, rank, world = q[:n], q[n:], 0, 1
    keys = torch.cat([k1, k2])  # (2·world·n, d)
    big = world * n
    logits = q @ keys.T / temperature
    idx = torch.arange(n, device=q.device) + rank * n  # global index of each local row
    self_idx = torch.cat([idx, idx + big])
    pos_idx = torch.cat([idx + big, idx])
    rows = torch.arange(2 * n, device=q.device)
    logits[rows, self_idx] = float("-inf")
    return F.cross_entropy(logits, pos_idx)


def contrastive_loss(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.2, *, mass_alpha: float = 0.0,
                     gather: bool = False) -> torch.Tensor:
    """NT-Xent plus the optional activation-mass term ``-mass_alpha · mean|ẑ|`` of the authors' NCL code.

    ``z1``, ``z2`` are the encoder outputs (already ReLU'd for NCL); ``ẑ`` is each row L2-normalised, as in
    the authors' ``solo/methods/simclr.py`` (``F.normalize`` before ``mean(|z|)``), so the term lies in
    [−mass_alpha, 0] and the loss is invariant to rescaling z. ``mass_alpha = 0`` is plain InfoNCE; the
    authors add the term with coefficient 1 for NCL. The mean runs over the local rows of both views.
    """
    loss = nt_xent(z1, z2, temperature, gather=gather)
    if mass_alpha:
        # on the raw z the term would be unbounded below (scaling z up lowers it without limit)
        q = F.normalize(torch.cat([z1, z2]).float(), dim=1)
        loss = loss - mass_alpha * q.abs().mean()
    return loss
