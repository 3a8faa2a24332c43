"""Batched augmentation with kornia on any device: the SimCLR views, the fine-tuning crop and the evaluation resize.

What the ``gpu`` and ``tensor`` loaders (:mod:`monotheory.vision.loaders`) run on a batch of decoded uint8
images, on the GPU (or on CPU tensors, the same code), with the numbers of one :class:`~monotheory.vision.
transforms.AugSpec`:

1. **Random numbers per item.** Row ``index`` of :class:`UniformTable` for ``epoch`` holds that item's 32
   uniforms per view, drawn from the named stream ``(stream, epoch, chunk)`` under the run's seed: an item's
   augmentation depends on (seed, epoch, index) only — not on the batch it lands in, the number of workers or
   of DDP ranks, or where a run was resumed.
2. **Parameters** (:func:`view_params`, vectorised NumPy): RandomResizedCrop boxes by torchvision's algorithm
   (ten tries of an area uniform in ``scale`` × the image and a log-uniform aspect ratio, then the centre-crop
   fallback); jitter factors uniform in [1 − s, 1 + s] (hue in [−h, h]) when the jitter applies; the grayscale,
   blur (σ uniform) and flip coins.
3. **Operations**: the crop + bicubic resize per image with torchvision's tensor kernel (antialiased, as PIL
   when it shrinks; images differ in size, so this is the one per-image step), or — for in-memory images of one
   size whose crops never shrink — one batched bicubic ``grid_sample``; then kornia's ``ColorJitter``,
   ``RandomGrayscale``, ``RandomGaussianBlur`` (reflect border), ``RandomHorizontalFlip`` and ``Normalize`` on
   the whole batch, fed these per-sample parameters.

Where this differs from torchvision's per-image pipeline (:func:`~monotheory.vision.transforms.pil_transform`),
all in distribution detail: the four jitter operations run in the fixed order brightness → contrast →
saturation → hue (torchvision permutes them per image; DALI, the authors' loader, also has a fixed order);
pixel values stay float between operations (PIL rounds to uint8 after each); kornia's hue rotation goes through
its own HSV conversion (equal to torchvision's to ~1e-4). The batched ``grid_sample`` crop of in-memory images
uses torch's plain bicubic (Keys a = −0.75) where the per-image path and PIL use a = −0.5, and it reads the real
neighbours at the crop's border where a crop-then-resize repeats the edge pixel (a few grey levels on average).
Tested in ``tests/vision/test_gpu_aug.py``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from monotheory.seeding import generator
from monotheory.vision.transforms import AugSpec, eval_size

N_COLS, TRIES = 32, 10
AREA, LOG_RATIO = slice(0, TRIES), slice(TRIES, 2 * TRIES)
TOP, LEFT, JITTER, BRIGHT, CONTRAST, SATUR, HUE, GRAY, BLUR, SIGMA, FLIP = range(2 * TRIES, 2 * TRIES + 11)
ORDER = (0, 1, 2, 3)  # brightness, contrast, saturation, hue: kornia ColorJitter's indices, applied in this order


class UniformTable:
    """Per-item uniforms in [0, 1): ``rows(epoch, indices)`` → (len(indices), views, :data:`N_COLS`).

    Rows are generated in chunks of ``chunk`` consecutive indices from the stream ``(stream, epoch, chunk
    number)`` under ``seed`` and cached for the current epoch only.
    """

    def __init__(self, seed: int, views: int, stream: str, chunk: int = 1024):
        self.seed, self.views, self.stream, self.chunk = int(seed), int(views), str(stream), int(chunk)
        self._epoch, self._chunks = None, {}

    def _block(self, epoch: int, c: int) -> np.ndarray:
        if epoch != self._epoch:
            self._epoch, self._chunks = epoch, {}
        if c not in self._chunks:
            g = generator(self.seed, self.stream, int(epoch), int(c))
            self._chunks[c] = g.random((self.chunk, self.views, N_COLS))
        return self._chunks[c]

    def rows(self, epoch: int, indices) -> np.ndarray:
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        out = np.empty((len(idx), self.views, N_COLS))
        for c in np.unique(idx // self.chunk):
            sel = idx // self.chunk == c
            out[sel] = self._block(epoch, int(c))[idx[sel] % self.chunk]
        return out


def crop_boxes(u: np.ndarray, heights, widths, spec: AugSpec) -> np.ndarray:
    """(top, left, h, w) per row of ``u`` (B, N_COLS) for images of the given sizes: torchvision's
    ``RandomResizedCrop.get_params`` with the uniforms of the row."""
    H = np.asarray(heights, dtype=np.float64)[:, None]
    W = np.asarray(widths, dtype=np.float64)[:, None]
    target = H * W * (spec.scale[0] + (spec.scale[1] - spec.scale[0]) * u[:, AREA])
    lo, hi = math.log(spec.ratio[0]), math.log(spec.ratio[1])
    aspect = np.exp(lo + (hi - lo) * u[:, LOG_RATIO])
    w = np.rint(np.sqrt(target * aspect))  # half to even, as Python's round
    h = np.rint(np.sqrt(target / aspect))
    ok = (w > 0) & (w <= W) & (h > 0) & (h <= H)
    first = ok.argmax(1)
    rows = np.arange(len(u))
    w, h, found = w[rows, first], h[rows, first], ok.any(1)
    H, W = H[:, 0], W[:, 0]
    # the fallback: a centre crop of the whole image, clamped to the ratio range
    in_ratio = W / H
    fw = np.where(in_ratio < min(spec.ratio), W, np.where(in_ratio > max(spec.ratio), np.rint(H * max(spec.ratio)), W))
    fh = np.where(in_ratio < min(spec.ratio), np.rint(W / min(spec.ratio)), H)
    w, h = np.where(found, w, fw), np.where(found, h, fh)
    top = np.where(found, np.floor(u[:, TOP] * (H - h + 1)), (H - h) // 2)
    left = np.where(found, np.floor(u[:, LEFT] * (W - w + 1)), (W - w) // 2)
    return np.stack([top, left, h, w], 1).astype(np.int64)


def view_params(u: np.ndarray, heights, widths, spec: AugSpec) -> dict[str, np.ndarray]:
    """Every random choice of one view per row of ``u`` (B, N_COLS): ``box`` (B, 4) and the per-sample
    ``jitter`` flag with ``factors`` (B, 4: brightness, contrast, saturation, hue; neutral when off), ``gray``,
    ``blur`` with ``sigma``, ``flip``."""
    b, c, s, h = spec.jitter
    jitter = u[:, JITTER] < spec.p_jitter
    factors = np.stack([1 - b + 2 * b * u[:, BRIGHT], 1 - c + 2 * c * u[:, CONTRAST], 1 - s + 2 * s * u[:, SATUR],
                        -h + 2 * h * u[:, HUE]], 1)
    factors = np.where(jitter[:, None], factors, np.array([1.0, 1.0, 1.0, 0.0]))
    lo, hi = spec.blur_sigma
    return {"box": crop_boxes(u, heights, widths, spec), "jitter": jitter, "factors": factors,
            "gray": u[:, GRAY] < spec.p_gray, "blur": u[:, BLUR] < spec.p_blur, "sigma": lo + (hi - lo) * u[:, SIGMA],
            "flip": u[:, FLIP] < spec.p_flip}


def _float(images: torch.Tensor) -> torch.Tensor:
    return images.float().div_(255.0) if images.dtype == torch.uint8 else images.float()


def crop_resize(images, box: np.ndarray, size: int, *, batched: bool) -> torch.Tensor:
    """Crop ``box`` (top, left, h, w) of each image and resize it to ``size`` × ``size`` (bicubic) → float in
    [0, 1]. ``images``: a list of uint8 (3, H, W) tensors, or one (B, 3, H, W) tensor. ``batched``: one
    ``grid_sample`` for a same-size batch (exact for crops that are not shrunk); else torchvision's
    antialiased ``resized_crop`` per image."""
    from torchvision.transforms.v2 import InterpolationMode
    from torchvision.transforms.v2 import functional as TF

    if not batched:
        out = [TF.resized_crop(img, int(t), int(lf), int(h), int(w), [size, size],
                               interpolation=InterpolationMode.BICUBIC, antialias=True)
               for img, (t, lf, h, w) in zip(images, box.tolist(), strict=True)]
        return _float(torch.stack(out))
    x = _float(images)
    H, W = x.shape[-2:]
    b = torch.as_tensor(box, dtype=torch.float32)
    top, left, h, w = b.unbind(1)
    theta = torch.zeros(len(b), 2, 3)
    theta[:, 0, 0], theta[:, 0, 2] = w / W, (2 * left + w) / W - 1  # pixel centres, align_corners=False
    theta[:, 1, 1], theta[:, 1, 2] = h / H, (2 * top + h) / H - 1
    grid = F.affine_grid(theta.to(x.device), [len(b), x.shape[1], size, size], align_corners=False)
    return F.grid_sample(x, grid, mode="bicubic", padding_mode="border", align_corners=False).clamp_(0, 1)


class BatchAugment:
    """``(images, params) → normalised float views`` for one :class:`AugSpec`, on the images' device.

    ``params`` come from :func:`view_params`; the photometric steps are kornia modules called with those
    per-sample parameters (``batch_prob`` selects the samples a step applies to).
    """

    def __init__(self, spec: AugSpec, mean, std):
        self.spec, self.mean, self.std = spec, tuple(mean), tuple(std)
        self._mods = None

    def __repr__(self) -> str:
        return f"BatchAugment({self.spec})"

    def modules(self) -> dict:
        if self._mods is None:
            import kornia.augmentation as K

            s = self.spec
            self._mods = {"jitter": K.ColorJitter(*s.jitter, p=s.p_jitter),  # the order comes with the params
                          "gray": K.RandomGrayscale(p=s.p_gray),
                          "blur": K.RandomGaussianBlur((s.blur_kernel,) * 2, s.blur_sigma, p=s.p_blur,
                                                       border_type="reflect"),
                          "flip": K.RandomHorizontalFlip(p=s.p_flip),
                          "normalize": K.Normalize(torch.tensor(self.mean), torch.tensor(self.std))}
        return self._mods

    def __call__(self, images, params: dict[str, np.ndarray], *, batched: bool = False) -> torch.Tensor:
        m = self.modules()
        x = crop_resize(images, params["box"], self.spec.crop, batched=batched)
        dev = x.device

        def t(a):  # per-sample parameters on the images' device (kornia would move them; no version is relied on)
            return torch.as_tensor(np.asarray(a), dtype=torch.float32).to(dev, non_blocking=True)

        steps = (("jitter", lambda mask: {**dict(zip(("brightness_factor", "contrast_factor", "saturation_factor",
                                                      "hue_factor"), t(params["factors"]).T, strict=True)),
                                          "order": torch.tensor(ORDER)}),
                 ("gray", lambda mask: {}), ("blur", lambda mask: {"sigma": t(params["sigma"])}),
                 ("flip", lambda mask: {}))
        for name, extra in steps:
            mask = np.asarray(params[name], dtype=bool)
            if mask.any():  # a step no sample draws is skipped (kornia would return the input unchanged)
                x = m[name](x, params={**extra(mask), "batch_prob": torch.as_tensor(mask).to(dev)})
        return m["normalize"](x)


def eval_batch(images, crop: int, resize: int | None, mean, std) -> torch.Tensor:
    """The evaluation transform of a batch (:func:`~monotheory.vision.transforms.eval_transform`): resize the
    shorter side to :func:`~monotheory.vision.transforms.eval_size` (bilinear, antialiased), centre crop,
    normalise. ``images``: a list of uint8 (3, H, W) tensors or one (B, 3, H, W) tensor."""
    from torchvision.transforms.v2 import functional as TF

    size = eval_size(crop, resize)

    def one(x):
        return TF.center_crop(TF.resize(x, [size], antialias=True), [crop, crop])

    x = one(images) if isinstance(images, torch.Tensor) else torch.stack([one(img) for img in images])
    x = _float(x)
    m = torch.tensor(mean, device=x.device).view(1, 3, 1, 1)
    s = torch.tensor(std, device=x.device).view(1, 3, 1, 1)
    return (x - m) / s
