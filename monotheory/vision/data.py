"""Image data for the full-scale experiments: data sets, transforms, few-shot subsets, seeded samplers, loaders.

This module gathers the public names of :mod:`monotheory.vision.folders` (ImageNet-100 / ImageFolder / CIFAR-100),
:mod:`monotheory.vision.arrays` (scikit-learn's digits in memory) and :mod:`monotheory.vision.transforms` (the
authors' augmentations), and holds what every loader shares: stratified few-shot subsets, per-item augmentation
seeds, the epoch sampler and the torchvision ``DataLoader`` factory. The batched GPU pipeline is
:mod:`monotheory.vision.loaders`.

Randomness is seeded locally (numpy ``Generator`` / ``torch.Generator``); no global RNG state is touched.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset

from monotheory.config import check_int, check_range
from monotheory.seeding import stream_seed, torch_generator
from monotheory.vision.arrays import (
    DIGITS_VAL_EVERY,
    ArrayImageDataset,
    digits_arrays,
    load_digits_datasets,
    require_sklearn,
)
from monotheory.vision.folders import (
    DATASETS,
    ImageFolderDataset,
    UnreadableImageError,
    _fixed_class_folder,
    _listing,
    class_names,
    imagenet100_classes,
    load_datasets,
    load_image,
    normalization,
)
from monotheory.vision.transforms import (
    CIFAR100_MEAN,
    CIFAR100_STD,
    IMAGENET_MEAN,
    IMAGENET_STD,
    TwoViews,
    classifier_train_transform,
    eval_transform,
    simclr_transform,
)

__all__ = [
    "CIFAR100_MEAN", "CIFAR100_STD", "DATASETS", "DIGITS_VAL_EVERY", "IMAGENET_MEAN", "IMAGENET_STD",
    "ArrayImageDataset", "EpochSampler", "ImageFolderDataset", "LabelledSubset", "SeededItems", "TwoViews",
    "UnreadableImageError", "_fixed_class_folder", "_listing", "class_names", "classifier_train_transform",
    "digits_arrays", "eval_transform", "few_shot_indices", "imagenet100_classes", "item_seed", "load_datasets",
    "load_digits_datasets", "load_image", "make_loader", "normalization", "require_sklearn", "simclr_transform",
    "subset",
]


# ------------------------------------------------------------------------------------------- subsets, loaders


def few_shot_indices(targets: Sequence[int], fraction: float, seed: Any = 0) -> np.ndarray:
    """Sorted indices of a stratified random ``fraction`` of each class (at least one sample per class).

    Each class c keeps max(1, round(fraction · n_c)) samples chosen uniformly without replacement with
    ``numpy.random.default_rng(seed)``; ``fraction = 1`` returns every index.
    """
    fraction = check_range("few_shot_fraction", fraction, 0.0, 1.0, lo_closed=False)
    y = np.asarray(targets, dtype=np.int64)
    if fraction == 1.0:
        return np.arange(len(y))
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(y))
    order = perm[np.argsort(y[perm], kind="stable")]  # grouped by class, random order inside each class
    counts = np.bincount(y)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.arange(len(y)) - starts[y[order]]  # position of each sample within its class
    keep_n = np.maximum(1, np.round(fraction * counts).astype(np.int64))
    return np.sort(order[rank < keep_n[y[order]]])


class LabelledSubset(Subset):
    """A ``torch.utils.data.Subset`` that keeps ``.targets`` (restricted) and ``.classes``."""

    def __init__(self, dataset: Dataset, indices: Sequence[int]):
        indices = [int(i) for i in indices]
        super().__init__(dataset, indices)
        base = list(dataset.targets)
        self.targets = [int(base[i]) for i in indices]
        self.classes = list(dataset.classes)


def subset(ds: Dataset, indices: Sequence[int]) -> LabelledSubset:
    """``ds`` restricted to ``indices``, keeping ``.targets`` and ``.classes``."""
    return LabelledSubset(ds, indices)


def item_seed(seed: int, epoch: int, index: int, rank: int = 0) -> int:
    """Seed of the random augmentation of item ``index`` in ``epoch`` on DDP rank ``rank``: the named stream
    ``("augment", epoch, index, rank)`` under ``seed`` (:func:`monotheory.seeding.stream_seed`)."""
    return stream_seed(seed, "augment", epoch, index, rank)


class EpochSampler(torch.utils.data.Sampler):
    """Yields ``(epoch, index)`` pairs for :class:`SeededItems` (and the ``gpu`` loader); call :meth:`set_epoch`
    before each epoch.

    The order is a permutation seeded by the stream ``("shuffle", epoch)`` under ``seed`` (``shuffle=False``:
    0, 1, 2 …) — or ``inner``'s order (e.g. a ``DistributedSampler``, whose ``set_epoch`` is forwarded). The
    epoch travels with each index, so persistent DataLoader workers (which never see attribute changes of the
    main process) know it. ``set_epoch(e, start=k)`` skips the first ``k`` positions of epoch ``e``: a run
    resumed in the middle of an epoch sees the rest of the same order.
    """

    def __init__(self, n: int, seed: int = 0, inner=None, shuffle: bool = True):
        self.n, self.seed, self.inner, self.shuffle = int(n), int(seed), inner, bool(shuffle)
        self.epoch, self.start = 0, 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        self.epoch, self.start = int(epoch), int(start)
        if self.inner is not None:
            self.inner.set_epoch(self.epoch)

    def __len__(self) -> int:
        return max(0, (len(self.inner) if self.inner is not None else self.n) - self.start)

    def __iter__(self):
        if self.inner is not None:
            order = list(self.inner)
        elif self.shuffle:
            order = torch.randperm(self.n, generator=torch_generator(self.seed, "shuffle", self.epoch)).tolist()
        else:
            order = range(self.n)
        return ((self.epoch, int(i)) for i in order[self.start:])


class SeededItems(Dataset):
    """``base[i]`` for a key ``(epoch, i)``, its random transforms seeded by :func:`item_seed`.

    Each item's augmentation is a function of (seed, epoch, index, rank) only: the same with any number of
    workers, after a resume, and different on every DDP rank. Only the CPU generator is reseeded, inside
    ``fork_rng``, so the caller's global RNG state (CPU and CUDA) is left as it was.
    """

    def __init__(self, base: Dataset, seed: int = 0, rank: int = 0):
        self.base, self.seed, self.rank = base, int(seed), int(rank)

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, key):
        epoch, i = key
        with torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed(item_seed(self.seed, epoch, i, self.rank))  # CPU only
            return self.base[i]


def make_loader(ds: Dataset, batch_size: int, *, shuffle: bool, num_workers: int = 0, seed: int = 0,
                drop_last: bool = False, sampler=None, device: Any = None) -> DataLoader:
    """A DataLoader with a seeded shuffling generator, pinned memory on CUDA, persistent workers if any."""
    batch_size = check_int("batch_size", batch_size)
    num_workers = check_int("num_workers", num_workers, minimum=0)
    cuda = torch.device(device).type == "cuda" if device is not None else torch.cuda.is_available()
    return DataLoader(ds, batch_size=batch_size, shuffle=shuffle and sampler is None, sampler=sampler,
                      num_workers=num_workers, pin_memory=cuda, drop_last=drop_last,
                      persistent_workers=num_workers > 0, generator=torch.Generator().manual_seed(int(seed)))
