"""In-memory image sets: scikit-learn's handwritten digits as RGB uint8 arrays, and a data set over such arrays.

``--dataset digits`` needs scikit-learn (which ships the 1,797 images); without it :func:`require_sklearn` raises
a one-line ConfigError saying how to install it.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
from torch.utils.data import Dataset

from monotheory.errors import ConfigError

DIGITS_VAL_EVERY = 5  # every 5th image of each digit class goes to the validation split (deterministic)


def require_sklearn() -> None:
    """Raise a one-line ConfigError when scikit-learn (the source of the ``digits`` data set) is missing."""
    import importlib.util

    if importlib.util.find_spec("sklearn") is None:
        raise ConfigError("--dataset digits needs scikit-learn, which is not installed; install it with "
                          "`pip install scikit-learn` (or the project's dev extra)")


class ArrayImageDataset(Dataset):
    """Images held in memory as a uint8 array (N, H, W, 3); items ``(transform(PIL image), class index)``."""

    def __init__(self, images: np.ndarray, targets: Sequence[int], classes: Sequence[str], transform=None):
        self.images, self.transform = images, transform
        self.targets, self.classes = [int(t) for t in targets], list(classes)
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        self.skipped_files: list[str] = []

    def __len__(self) -> int:
        return len(self.targets)

    def precompute(self) -> ArrayImageDataset:
        """Apply the (deterministic) transform to every image once and serve the results (evaluation sets)."""
        self._cache = [self._apply(i) for i in range(len(self))]
        return self

    def __getitem__(self, i: int):
        cache = getattr(self, "_cache", None)
        if cache is not None:
            return cache[i], self.targets[i]
        return self._apply(i), self.targets[i]

    def _apply(self, i: int):
        from PIL import Image

        img = Image.fromarray(self.images[i])
        return self.transform(img) if self.transform is not None else img


@functools.lru_cache(maxsize=2)
def digits_arrays(size: int = 8) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """scikit-learn's digits (1,797 8×8 grey images, values 0–16) as RGB uint8 ``size``-px images, split.

    Returns (train_images, train_targets, val_images, val_targets); the ``DIGITS_VAL_EVERY``-th image of each
    class (in the file's order) goes to val — 364 val and 1,433 train images. Resized bilinearly (PIL) if ``size`` ≠ 8.
    """
    require_sklearn()
    from PIL import Image
    from sklearn.datasets import load_digits

    d = load_digits()
    imgs, ys, seen = [], [], np.zeros(10, np.int64)
    val = np.zeros(len(d.target), bool)
    for j, (img, y) in enumerate(zip(d.images, d.target, strict=True)):
        val[j] = seen[y] % DIGITS_VAL_EVERY == 0
        seen[y] += 1
        pil = Image.fromarray(np.round(img * 255 / 16).astype(np.uint8))
        if size != pil.size[0]:
            pil = pil.resize((size, size), Image.BILINEAR)
        imgs.append(np.asarray(pil.convert("RGB")))
        ys.append(int(y))
    imgs, ys = np.stack(imgs), np.asarray(ys)
    return imgs[~val], ys[~val], imgs[val], ys[val]


def load_digits_datasets(train_transform=None, eval_transform=None, classes=None, size: int = 8):
    """(train, val, class_names) of scikit-learn's digits as RGB images at their native 8 px; classes "0"-"9"."""
    names = [str(d) for d in range(10)]
    if classes is not None and list(classes) != names:
        raise ConfigError("the digits data set has exactly the classes 0-9; a class list cannot be given")
    xtr, ytr, xva, yva = digits_arrays(size)
    return (ArrayImageDataset(xtr, ytr, names, train_transform), ArrayImageDataset(xva, yva, names, eval_transform),
            names)
