"""Distribution shift: ImageNet-C-style corruptions of test images, and extra test sets from folders.

Corruptions follow the spirit of ImageNet-C (Hendrycks & Dietterich, "Benchmarking Neural Network Robustness
to Common Corruptions and Perturbations", ICLR 2019): eight corruption types at severities 1–5. The parameter
tables below are ours (close to ImageNet-C's published values, with blur scaled to the image size); they are not
the benchmark's files, so numbers are not comparable to published ImageNet-C results.

Conventions
-----------
- :func:`corrupt` works on UNnormalised float images (B, 3, H, W) in [0, 1] and returns the same shape in
  [0, 1]; normalisation comes after corruption (:class:`CorruptedDataset` does both).
- Randomness comes from a ``torch.Generator`` (``generator=None``: fresh entropy); no global RNG state.
- The paper's own distribution-shift test sets (sketch / stylised ImageNet-100, Figure 2) are folders of the
  same WordNet ids: :func:`load_shift_roots` loads them restricted to the training class list.
"""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from monotheory.config import check_choice, check_int
from monotheory.errors import ConfigError
from monotheory.seeding import torch_generator
from monotheory.vision.data import _fixed_class_folder, _listing

CORRUPTIONS = ("gaussian_noise", "shot_noise", "impulse_noise", "gaussian_blur", "contrast", "brightness",
               "jpeg", "pixelate")

# severity 1..5 → parameter (index 0 = severity 1)
SEVERITY_PARAMS: dict[str, tuple[float, ...]] = {
    "gaussian_noise": (0.08, 0.12, 0.18, 0.26, 0.38),   # σ of additive N(0, σ²), [0, 1] pixel units
    "shot_noise": (60.0, 25.0, 12.0, 5.0, 3.0),         # photons per unit intensity: Poisson(c·x)/c
    "impulse_noise": (0.03, 0.06, 0.09, 0.17, 0.27),    # share of values set to 0 or 1 (salt and pepper)
    "gaussian_blur": (1.0, 2.0, 3.0, 4.0, 6.0),         # σ in pixels at 224 px, scaled by max(size/224, 0.4)
    "contrast": (0.4, 0.3, 0.2, 0.1, 0.05),             # blend factor towards the mean grey
    "brightness": (1.2, 1.4, 1.6, 1.8, 2.0),            # multiplicative brightness factor (clipped to 1)
    "jpeg": (25.0, 18.0, 15.0, 10.0, 7.0),              # JPEG quality
    "pixelate": (0.6, 0.5, 0.4, 0.3, 0.25),             # downsampling factor ; each block of pixels → its mean
}


def corruption_parameter(name: str, severity: int) -> float:
    """The table value for ``name`` at ``severity`` (1–5); ConfigError for an unknown name or severity."""
    check_choice("corruption", name, CORRUPTIONS)
    severity = check_int("severity", severity, minimum=1, maximum=5)
    return SEVERITY_PARAMS[name][severity - 1]


def _noise_like(x: torch.Tensor, kind: str, generator: torch.Generator) -> torch.Tensor:
    """Standard normal or U[0, 1) noise shaped like ``x``, drawn on the generator's device."""
    draw = torch.randn if kind == "normal" else torch.rand
    return draw(x.shape, generator=generator, device=generator.device, dtype=torch.float32).to(x.device, x.dtype)


def corrupt(images: torch.Tensor, name: str, severity: int, *, generator: torch.Generator | None = None
            ) -> torch.Tensor:
    """Corrupt a batch of images in [0, 1] (B, 3, H, W) with ``name`` at ``severity`` ∈ {1..5}.

    Deterministic corruptions (blur, contrast, brightness, jpeg, pixelate) ignore ``generator``; the noises
    draw from it, so the same seeded generator gives the same output.
    """
    p = corruption_parameter(name, severity)
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[1] != 3:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ConfigError(f"corrupt expects a float tensor of shape (B, 3, H, W), got {shape}")
    if not images.is_floating_point():
        raise ConfigError(f"corrupt expects float images in [0, 1], got dtype {images.dtype}")
    x = images.clamp(0, 1)
    if generator is None:
        generator = torch.Generator(device=x.device)
        generator.seed()
    import torchvision.transforms.v2.functional as TF

    h, w = x.shape[-2:]
    if name == "gaussian_noise":
        out = x + p * _noise_like(x, "normal", generator)
    elif name == "shot_noise":
        rate = (x * p).float().to(generator.device)
        out = (torch.poisson(rate, generator=generator) / p).to(x.device, x.dtype)
    elif name == "impulse_noise":
        hit = _noise_like(x, "uniform", generator) < p
        salt = _noise_like(x, "uniform", generator) < 0.5
        out = torch.where(hit, salt.to(x.dtype), x)
    elif name == "gaussian_blur":
        sigma = p * max(max(h, w) / 224, 0.4)
        k = 2 * math.ceil(3 * sigma) + 1
        k = min(k, 2 * ((min(h, w) - 1) // 2) + 1)  # reflect padding needs kernel // 2 < image size
        out = TF.gaussian_blur(x, [k, k], [sigma, sigma])
    elif name == "contrast":
        out = TF.adjust_contrast(x, p)
    elif name == "brightness":
        out = TF.adjust_brightness(x, p)
    elif name == "jpeg":
        q = (x * 255).round().to(torch.uint8)
        with warnings.catch_warnings():  # torchvision 0.29 deprecates its codecs in favour of torchcodec
            warnings.filterwarnings("ignore", message=".*decoding and encoding capabilities", category=DeprecationWarning)
            out = TF.jpeg(q.cpu(), int(p)).to(x.device, x.dtype) / 255.0
    else:  # pixelate
        out = _block_average(_block_average(x, p, dim=-2), p, dim=-1)
    return out.clamp(0, 1)


def _block_average(x: torch.Tensor, factor: float, dim: int) -> torch.Tensor:
    """Replace pixels along ``dim`` by the mean of their block; blocks partition the axis into
    max(1, int(n·factor)) near-equal runs (exact pixelation, also for non-integer block sizes)."""
    n = x.shape[dim]
    blocks = max(1, int(n * factor))
    member = F.one_hot(torch.arange(n, device=x.device) * blocks // n, blocks).to(x.dtype)  # n × blocks
    proj = member @ (member / member.sum(0)).T  # n × n: average over one's own block
    return torch.movedim(torch.movedim(x, dim, -1) @ proj.T, -1, dim)


class CorruptedDataset(Dataset):
    """``base_ds`` with every image corrupted, then normalised; returns (normalised tensor, target).

    ``base_ds`` must yield UNnormalised tensors in [0, 1], e.g. with ``eval_transform(crop, mean=None)``.
    Image ``i`` is corrupted with a generator seeded from (``seed``, ``i``), so it is the same on every call
    and in every DataLoader worker. ``.targets`` and ``.classes`` are the base dataset's.
    """

    def __init__(self, base_ds: Dataset, name: str, severity: int, mean, std, seed: int = 0):
        corruption_parameter(name, severity)
        self.base_ds, self.name, self.severity, self.seed = base_ds, name, int(severity), int(seed)
        self.mean = torch.as_tensor(mean, dtype=torch.float32).view(3, 1, 1)
        self.std = torch.as_tensor(std, dtype=torch.float32).view(3, 1, 1)
        self.targets = list(getattr(base_ds, "targets", []))
        self.classes = list(getattr(base_ds, "classes", []))

    def __len__(self) -> int:
        return len(self.base_ds)

    def __getitem__(self, index: int):
        x, y = self.base_ds[index]
        if not isinstance(x, torch.Tensor) or x.min() < -1e-6 or x.max() > 1 + 1e-6:
            raise ConfigError("CorruptedDataset needs base images as tensors in [0, 1]; build the base dataset "
                              "with eval_transform(crop, mean=None) so normalisation happens after corruption")
        g = torch_generator(self.seed, "corruption", index)  # one named stream per image
        out = corrupt(x[None].float(), self.name, self.severity, generator=g)[0]
        return (out - self.mean) / self.std, y


def parse_shift_spec(spec: str) -> tuple[str, Path]:
    """Split ``"NAME=DIR"`` into (NAME, DIR); ConfigError if malformed."""
    if not isinstance(spec, str) or spec.count("=") < 1:
        raise ConfigError(f"shift spec {spec!r} is malformed; write NAME=DIR, e.g. sketch=/data/in100-sketch")
    name, _, directory = spec.partition("=")
    name, directory = name.strip(), directory.strip()
    if not name or not directory:
        raise ConfigError(f"shift spec {spec!r} is malformed; write NAME=DIR with both parts non-empty")
    return name, Path(directory).expanduser()


def load_shift_roots(specs: list[str], class_names: list[str], eval_transform: Any) -> dict[str, Dataset]:
    """Load extra test sets ``{"NAME": dataset}`` from ``"NAME=DIR"`` specs.

    DIR is an ImageFolder root: class folders directly, or inside a ``val/`` sub-folder. Only ``class_names``
    are used (extra folders are ignored) and target indices are positions in ``class_names``, so a classifier
    trained on the main data set evaluates them directly. A missing class is an error that names it.
    """
    out: dict[str, Dataset] = {}
    for spec in specs:
        name, root = parse_shift_spec(spec)
        if name in out:
            raise ConfigError(f"shift set name {name!r} is given twice")
        folder = check_shift_root(name, root, class_names)
        out[name] = _fixed_class_folder(folder, list(class_names), eval_transform, False)
    return out


def check_shift_root(name: str, root: Path, class_names: list[str]) -> Path:
    """The class-folder root of shift set ``name`` (``root/val`` if present, else ``root``), checked to hold a
    folder for every class; ConfigError naming the missing ones otherwise. Cheap: lists folders only."""
    if not root.is_dir():
        raise ConfigError(f"shift set {name!r}: folder {root} does not exist")
    folder = root / "val" if (root / "val").is_dir() else root
    present = {e.name for e in os.scandir(folder) if e.is_dir()}
    missing = [c for c in class_names if c not in present]
    if missing:
        raise ConfigError(f"shift set {name!r}: {len(missing)} of the {len(class_names)} classes are missing "
                          f"from {folder}: {_listing(missing)}")
    return folder
