"""SimCLR augmentations applied to a whole batch of tensors at once (the ``tensor`` loader backend).

Per-image PIL augmentation costs milliseconds per image in Python overhead, which on a CPU dominates the
training of a small network on small images (scikit-learn's digits). :class:`BatchSimCLR` draws every
image's parameters independently (as torchvision's per-image transforms) and applies them with batched
tensor operations: RandomResizedCrop (scale 0.08–1, ratio 3/4–4/3, bicubic) and the horizontal flip as one
``grid_sample`` with a per-image affine grid; colour jitter (0.8, 0.8, 0.8, 0.2) with p = 0.8; grayscale
with p = 0.2; normalisation. Differences from torchvision's per-image pipeline, all in distribution only:
the jitter's four operations run in the fixed order brightness → contrast → saturation → hue (torchvision
permutes them per image), and a crop that does not fit is shrunk to fit instead of torchvision's ten retries
and centre-crop fallback. Randomness comes from the ``torch.Generator`` passed in (see
:mod:`monotheory.seeding`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from monotheory.seeding import torch_generator

GRAY = (0.299, 0.587, 0.114)  # ITU-R 601 luma, as torchvision's rgb_to_grayscale


def _gray(x: torch.Tensor) -> torch.Tensor:
    w = torch.tensor(GRAY, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x * w).sum(1, keepdim=True)


def _rgb_to_hsv(x: torch.Tensor) -> torch.Tensor:
    r, g, b = x.unbind(1)
    maxc, _ = x.max(1)
    minc, _ = x.min(1)
    delta = maxc - minc
    s = torch.where(maxc > 0, delta / maxc.clamp_min(1e-12), torch.zeros_like(maxc))
    dc = delta.clamp_min(1e-12)
    rc, gc, bc = (maxc - r) / dc, (maxc - g) / dc, (maxc - b) / dc
    h = torch.where(maxc == r, bc - gc, torch.where(maxc == g, 2.0 + rc - bc, 4.0 + gc - rc))
    h = torch.where(delta > 0, (h / 6.0) % 1.0, torch.zeros_like(h))
    return torch.stack([h, s, maxc], 1)


def _hsv_to_rgb(x: torch.Tensor) -> torch.Tensor:
    h, s, v = x.unbind(1)
    i = torch.floor(h * 6.0)
    f = h * 6.0 - i
    i = i.long() % 6
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    table = torch.stack([torch.stack(c, 1) for c in ((v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v),
                                                      (v, p, q))], 0)  # (6, B, 3, H, W)
    idx = i.unsqueeze(0).unsqueeze(2).expand(1, *i.shape[:1], 3, *i.shape[1:])
    return table.gather(0, idx).squeeze(0)


def _u(n: int, lo: float, hi: float, g: torch.Generator) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=g)


class BatchSimCLR:
    """Callable ``(uint8 images (B, 3, H, W), generator) → normalised float views (B, 3, crop, crop)``.

    Parameters as :func:`monotheory.vision.data.simclr_transform` (no blur: it is off for crops ≤ 32 px there).
    """

    def __init__(self, crop_size: int, mean, std, *, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3),
                 jitter=(0.8, 0.8, 0.8, 0.2), p_jitter: float = 0.8, p_gray: float = 0.2, p_flip: float = 0.5):
        self.crop_size, self.scale, self.ratio = int(crop_size), scale, ratio
        self.mean, self.std = tuple(mean), tuple(std)
        self.jitter, self.p_jitter, self.p_gray, self.p_flip = jitter, p_jitter, p_gray, p_flip

    def __repr__(self) -> str:
        return f"BatchSimCLR(crop_size={self.crop_size}, jitter={self.jitter})"

    def crop_flip(self, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        """Per-image RandomResizedCrop + horizontal flip as one bicubic ``grid_sample``."""
        n = x.shape[0]
        area = _u(n, *self.scale, g)
        log_r = _u(n, math.log(self.ratio[0]), math.log(self.ratio[1]), g)
        ratio = torch.exp(log_r)
        w = torch.sqrt(area * ratio).clamp(max=1.0)  # fractions of the image width / height
        h = torch.sqrt(area / ratio).clamp(max=1.0)
        cx = (torch.rand(n, generator=g) * (1 - w) + w / 2) * 2 - 1  # centre in [-1, 1] coordinates
        cy = (torch.rand(n, generator=g) * (1 - h) + h / 2) * 2 - 1
        flip = torch.where(torch.rand(n, generator=g) < self.p_flip, -1.0, 1.0)
        theta = torch.zeros(n, 2, 3)
        theta[:, 0, 0], theta[:, 0, 2] = w * flip, cx
        theta[:, 1, 1], theta[:, 1, 2] = h, cy
        grid = F.affine_grid(theta.to(x), [n, 3, self.crop_size, self.crop_size], align_corners=False)
        return F.grid_sample(x, grid, mode="bicubic", padding_mode="border", align_corners=False).clamp(0, 1)

    def color(self, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        """Colour jitter (probability ``p_jitter``), then grayscale (probability ``p_gray``)."""
        n = x.shape[0]
        b, c, s, hue = self.jitter
        on = (torch.rand(n, generator=g) < self.p_jitter).view(n, 1, 1, 1)
        fb, fc, fs = _u(n, 1 - b, 1 + b, g), _u(n, 1 - c, 1 + c, g), _u(n, 1 - s, 1 + s, g)
        fh = _u(n, -hue, hue, g)
        y = (x * fb.view(n, 1, 1, 1)).clamp(0, 1)
        m = _gray(y).mean((2, 3), keepdim=True)
        y = ((y - m) * fc.view(n, 1, 1, 1) + m).clamp(0, 1)
        gy = _gray(y)
        y = ((y - gy) * fs.view(n, 1, 1, 1) + gy).clamp(0, 1)
        hsv = _rgb_to_hsv(y)
        hsv = torch.stack([(hsv[:, 0] + fh.view(n, 1, 1)) % 1.0, hsv[:, 1], hsv[:, 2]], 1)
        y = _hsv_to_rgb(hsv).clamp(0, 1)
        x = torch.where(on, y, x)
        gray = (torch.rand(n, generator=g) < self.p_gray).view(n, 1, 1, 1)
        return torch.where(gray, _gray(x).expand_as(x), x)

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        x = images.float() / 255.0 if images.dtype == torch.uint8 else images.float()
        x = self.color(self.crop_flip(x, generator), generator)
        mean = torch.tensor(self.mean).view(1, 3, 1, 1)
        std = torch.tensor(self.std).view(1, 3, 1, 1)
        return (x - mean) / std


class BatchTwoViewCollate:
    """DataLoader ``collate_fn`` for :class:`BatchItems`: stacks uint8 images and returns ``((view1, view2),
    labels)``, the batch's randomness seeded by (seed, rank, epoch, first index of the batch) through
    :func:`monotheory.seeding.torch_generator` — a function of the sampler's order, so resumes repeat it."""

    def __init__(self, transform: BatchSimCLR, seed: int = 0, rank: int = 0):
        self.transform, self.seed, self.rank = transform, int(seed), int(rank)

    def __call__(self, items):
        imgs = torch.stack([it[0] for it in items])
        labels = torch.as_tensor([it[1] for it in items])
        epoch, first = items[0][2], items[0][3]
        g = torch_generator(self.seed, "batch-simclr", self.rank, int(epoch), int(first))
        return (self.transform(imgs, g), self.transform(imgs, g)), labels


class BatchItems(torch.utils.data.Dataset):
    """Items ``(uint8 image (3, H, W), label, epoch, index)`` of an in-memory image data set for a key
    ``(epoch, index)`` (the keys of :class:`monotheory.vision.data.EpochSampler`)."""

    def __init__(self, images, targets):
        self.images = torch.as_tensor(images).permute(0, 3, 1, 2).contiguous()
        self.targets = list(targets)

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, key):
        epoch, i = key
        return self.images[i], self.targets[i], epoch, i
