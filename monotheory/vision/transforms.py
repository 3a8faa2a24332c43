"""The augmentations of the full-scale experiments: one :class:`AugSpec` per kind of view, and its PIL pipeline.

The numbers are the authors' (``scripts/pretrain/imagenet-100/augmentations/symmetric.yaml`` of solo-learn,
which their fork uses): RandomResizedCrop scale 0.08–1 (aspect ratio 3/4–4/3, bicubic), colour jitter
(brightness, contrast, saturation 0.8, hue 0.2) with p = 0.8, grayscale p = 0.2, Gaussian blur p = 0.5 (σ ∈
[0.1, 2], kernel ≈ 10 % of the crop, odd: 23 px at 224 px, the window of their DALI loader; at least 13 px, the
±3σ width of the largest σ, so that small crops get a whole Gaussian as the authors' PIL blur at 32 px), solarization p = 0 (so none), horizontal flip p = 0.5, two views. Their
fine-tuning trains on RandomResizedCrop + flip (:func:`classifier_spec`).

Two implementations read the same :class:`AugSpec`: the per-image PIL/torchvision pipeline here (the
``torchvision`` loader) and the batched kornia pipeline of :mod:`monotheory.vision.gpu_aug` (the ``gpu`` and
``tensor`` loaders). Transforms return *normalised* float tensors; ``eval_transform`` with ``mean=None`` skips
the normalisation (the distribution-shift module corrupts images in [0, 1] first).
"""

from __future__ import annotations

import dataclasses
import math

from monotheory.config import check_int, check_probability, check_range

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CIFAR100_MEAN = (0.5071, 0.4865, 0.4409)
CIFAR100_STD = (0.2673, 0.2564, 0.2762)


@dataclasses.dataclass(frozen=True)
class AugSpec:
    """The random augmentation of one view: crop size and scale/ratio ranges of RandomResizedCrop, the
    probability and strengths of colour jitter (brightness, contrast, saturation, hue), of grayscale, of
    Gaussian blur (σ range; kernel :attr:`blur_kernel`) and of the horizontal flip. A probability of 0 turns
    the operation off."""

    crop: int
    scale: tuple[float, float] = (0.08, 1.0)
    ratio: tuple[float, float] = (3 / 4, 4 / 3)
    p_jitter: float = 0.8
    jitter: tuple[float, float, float, float] = (0.8, 0.8, 0.8, 0.2)
    p_gray: float = 0.2
    p_blur: float = 0.5
    blur_sigma: tuple[float, float] = (0.1, 2.0)
    p_flip: float = 0.5

    def __post_init__(self):
        check_int("crop_size", self.crop)
        check_range("crop scale", self.scale[0], 0, 1, lo_closed=False)
        check_range("crop scale", self.scale[1], self.scale[0], 1)
        for name in ("p_jitter", "p_gray", "p_blur", "p_flip"):
            check_probability(name, getattr(self, name))

    @property
    def blur_kernel(self) -> int:
        """Odd kernel size: ≈ 10 % of the crop (23 at 224 px, their DALI window), at least the ±3σ width of the
        largest σ (13 px for σ ≤ 2: their CIFAR-100 blur is PIL's radius-σ Gaussian, which has no window), at
        most the crop.

        >>> AugSpec(224).blur_kernel, AugSpec(32).blur_kernel, AugSpec(8).blur_kernel
        (23, 13, 7)
        """
        tenth = int(0.1 * self.crop) // 2 * 2 + 1
        whole = 2 * math.ceil(3 * self.blur_sigma[1]) + 1
        return min(max(tenth, whole), self.crop - (1 - self.crop % 2))


def simclr_spec(crop_size: int, *, blur: bool = True) -> AugSpec:
    """One SimCLR view with the authors' settings; Gaussian blur (p = 0.5) when asked, at every crop size (their
    CIFAR-100 config blurs at 32 px too)."""
    crop_size = check_int("crop_size", crop_size)
    return AugSpec(crop_size, p_blur=0.5 if blur else 0.0)


def classifier_spec(crop_size: int) -> AugSpec:
    """The fine-tuning augmentation: RandomResizedCrop (scale 0.08–1, bicubic) + horizontal flip, nothing else."""
    return AugSpec(check_int("crop_size", crop_size), p_jitter=0.0, p_gray=0.0, p_blur=0.0)


def eval_size(crop_size: int, resize: int | None = None) -> int:
    """The shorter side an evaluation image is resized to before the centre crop: ``resize`` or crop·256/224 for
    crops > 64 px (the usual ImageNet protocol), the crop itself for small images (a no-op on 32-px CIFAR)."""
    crop_size = check_int("crop_size", crop_size)
    if crop_size > 64:
        return check_int("resize", resize if resize is not None else int(crop_size * 256 / 224), crop_size)
    return crop_size


class TwoViews:
    """Apply the same random transform twice: SimCLR's two augmented views of one image."""

    def __init__(self, transform):
        self.transform = transform

    def __call__(self, img):
        return self.transform(img), self.transform(img)

    def __repr__(self) -> str:
        return f"TwoViews({self.transform!r})"


def pil_transform(spec: AugSpec, mean=IMAGENET_MEAN, std=IMAGENET_STD):
    """The torchvision (PIL, per image) pipeline of ``spec``, ending in a normalised tensor. Colour jitter
    applies its four operations in a random order per image (torchvision's ``ColorJitter``)."""
    from torchvision import transforms as T

    ops = [T.RandomResizedCrop(spec.crop, scale=spec.scale, ratio=spec.ratio,
                               interpolation=T.InterpolationMode.BICUBIC)]
    if spec.p_jitter:
        ops.append(T.RandomApply([T.ColorJitter(*spec.jitter)], p=spec.p_jitter))
    if spec.p_gray:
        ops.append(T.RandomGrayscale(p=spec.p_gray))
    if spec.p_blur:
        ops.append(T.RandomApply([T.GaussianBlur(spec.blur_kernel, sigma=spec.blur_sigma)], p=spec.p_blur))
    ops += [T.RandomHorizontalFlip(p=spec.p_flip), T.ToTensor(), T.Normalize(mean, std)]
    return T.Compose(ops)


def simclr_transform(crop_size: int, mean=IMAGENET_MEAN, std=IMAGENET_STD, *, blur: bool = True):
    """SimCLR augmentations (the authors' settings, :func:`simclr_spec`); the callable returns a pair of
    normalised tensors."""
    return TwoViews(pil_transform(simclr_spec(crop_size, blur=blur), mean, std))


def classifier_train_transform(crop_size: int, mean=IMAGENET_MEAN, std=IMAGENET_STD):
    """Training augmentation of the authors' fine-tuning (solo-learn's classification pipeline): a normalised
    tensor of RandomResizedCrop(``crop_size``, scale 0.08–1, bicubic as their DALI loader) + horizontal flip."""
    return pil_transform(classifier_spec(crop_size), mean, std)


def eval_transform(crop_size: int, mean=IMAGENET_MEAN, std=IMAGENET_STD, *, resize: int | None = None):
    """Deterministic evaluation transform → a normalised tensor (``mean=None``: unnormalised, in [0, 1]).

    Resize the shorter side to :func:`eval_size` (bilinear, as solo-learn's evaluation pipeline), then
    CenterCrop(crop); a 32-px image at crop 32 is untouched.
    """
    from torchvision import transforms as T

    ops = [T.Resize(eval_size(crop_size, resize)), T.CenterCrop(crop_size), T.ToTensor()]
    if mean is not None:
        ops.append(T.Normalize(mean, std))
    return T.Compose(ops)
