"""Image data for the full-scale experiments: ImageNet-100 / any ImageFolder / CIFAR-100, transforms, few-shot.

Conventions
-----------
- A dataset returned here exposes ``.targets`` (list[int]) and ``.classes`` (list[str]); train and val map the
  same class name to the same index (index = position in the class list, which is sorted for ``folder``
  roots and follows ``monotheory/data/imagenet100_classes.txt`` for ImageNet-100).
- Transforms return *normalised* float tensors (ImageNet or CIFAR-100 mean/std). ``eval_transform`` with
  ``mean=None`` skips the normalisation (the distribution-shift module corrupts images in [0, 1] first).
- Every problem with the data (missing folder, missing class, empty class, unreadable file) raises
  :class:`ConfigError` with one sentence naming it, never a deep traceback.
- Randomness is seeded locally (numpy ``Generator`` / ``torch.Generator``); no global RNG state is touched.
"""

from __future__ import annotations

import functools
import logging
import os
import pickle
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset
from torchvision.datasets import CIFAR100, ImageFolder

from monotheory.config import check_choice, check_int, check_range
from monotheory.errors import ConfigError
from monotheory.seeding import stream_seed, torch_generator

log = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CIFAR100_MEAN = (0.5071, 0.4865, 0.4409)
CIFAR100_STD = (0.2673, 0.2564, 0.2762)
DATASETS = ("imagenet100", "folder", "cifar100", "digits")
DIGITS_VAL_EVERY = 5  # every 5th image of each digit class goes to the validation split (deterministic)


def imagenet100_classes() -> list[str]:
    """The 100 WordNet ids of ImageNet-100 (the CMC subset used by the paper), in the package's order."""
    text = resources.files("monotheory").joinpath("data/imagenet100_classes.txt").read_text()
    return [line.strip() for line in text.splitlines() if line.strip()]


def normalization(dataset: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(mean, std) per RGB channel for ``dataset``: CIFAR-100's for cifar100, ImageNet's otherwise."""
    check_choice("dataset", dataset, DATASETS)
    return (CIFAR100_MEAN, CIFAR100_STD) if dataset == "cifar100" else (IMAGENET_MEAN, IMAGENET_STD)


# ------------------------------------------------------------------------------------------------ folders


class UnreadableImageError(ConfigError):
    """An image file PIL cannot read. Raised in a DataLoader worker, torch re-raises it in the main process
    with the worker's traceback as the message; the constructor keeps only the original one-line sentence."""

    def __init__(self, message: str):
        if "Traceback" in message:
            last = message.strip().splitlines()[-1]
            message = last.split(f"{type(self).__name__}: ", 1)[-1]
        super().__init__(message)


def load_image(path: str):
    """Open ``path`` as an RGB PIL image; an unreadable file raises :class:`UnreadableImageError` (a
    ConfigError) naming it."""
    from PIL import Image

    try:
        with open(path, "rb") as f:
            img = Image.open(f)
            return img.convert("RGB")
    except (OSError, ValueError, SyntaxError) as e:  # PIL raises all three on damaged files
        raise UnreadableImageError(f"cannot read image file {path} ({type(e).__name__}: {e})") from None


def _verify_image(path: str) -> bool:
    """:func:`_check_image`, cached per (path, size, mtime): a root is often loaded twice in one process."""
    try:
        st = os.stat(path)
    except OSError:  # vanished since the folder was listed
        return False
    return _check_image(path, st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=1 << 20)
def _check_image(path: str, size: int, mtime_ns: int) -> bool:
    """True if PIL can read ``path``: ``verify`` (structure, PNG checksums), then a reduced-size decode.

    ``verify`` alone passes truncated JPEGs, which only fail when decoded; ``draft`` lets libjpeg decode at
    1/8 scale, so the whole file is still read but the check costs a fraction of a full decode.
    """
    from PIL import Image

    try:
        with Image.open(path) as img:
            img.verify()
        with Image.open(path) as img:
            img.draft("RGB", (max(1, img.size[0] // 8), max(1, img.size[1] // 8)))
            img.load()
        return True
    except Exception:  # any failure means the file is unusable
        return False


def _class_dirs(split_dir: Path) -> list[str]:
    return sorted(e.name for e in os.scandir(split_dir) if e.is_dir() and not e.name.startswith("."))


def _listing(names: Sequence[str], k: int = 5) -> str:
    head = ", ".join(names[:k])
    return head + (f", … ({len(names) - k} more)" if len(names) > k else "")


class ImageFolderDataset(ImageFolder):
    """ImageFolder over a fixed class list (index = position in the list) with a ``skipped_files`` list."""

    def __init__(self, root: str, classes: Sequence[str], transform=None):
        self._fixed_classes = list(classes)  # read by find_classes during ImageFolder.__init__
        self.skipped_files: list[str] = []
        super().__init__(root, transform=transform, loader=load_image, allow_empty=True)

    def find_classes(self, directory):
        return list(self._fixed_classes), {c: i for i, c in enumerate(self._fixed_classes)}

    def drop_unreadable(self) -> list[str]:
        """Check every file (PIL ``verify`` + a reduced-size decode, in threads) and drop the bad ones; returns
        their paths."""
        if not self.samples:
            return []
        workers = min(16, (os.cpu_count() or 1) * 2)
        with ThreadPoolExecutor(workers) as pool:  # PIL releases the GIL while reading files
            ok = list(pool.map(_verify_image, [p for p, _ in self.samples], chunksize=64))
        bad = [p for (p, _), good in zip(self.samples, ok, strict=True) if not good]
        if bad:
            self.samples = [s for s, good in zip(self.samples, ok, strict=True) if good]
            self.imgs = self.samples
            self.targets = [t for _, t in self.samples]
        self.skipped_files = bad
        return bad


def _fixed_class_folder(split_dir: Path, classes: list[str], transform, skip_bad_images: bool):
    """An :class:`ImageFolderDataset` over exactly ``classes``, checked for empty classes."""
    ds = ImageFolderDataset(str(split_dir), classes, transform)
    if skip_bad_images and ds.drop_unreadable():
        log.warning("skipped %d unreadable image file(s) in %s, e.g. %s", len(ds.skipped_files),
                    split_dir, ds.skipped_files[0])
    counts = np.bincount(np.asarray(ds.targets, dtype=np.int64), minlength=len(classes))
    empty = [c for c, n in zip(classes, counts, strict=True) if n == 0]
    if empty:
        raise ConfigError(f"class folder {split_dir / empty[0]} has no readable images"
                          + (f" ({len(empty)} empty classes: {_listing(empty)})" if len(empty) > 1 else ""))
    return ds


def _check_split_dirs(root: Path) -> tuple[Path, Path]:
    if not root.is_dir():
        raise ConfigError(f"data root {root} does not exist or is not a directory")
    train, val = root / "train", root / "val"
    for d in (train, val):
        if not d.is_dir():
            raise ConfigError(f"data root {root} has no {d.name}/ folder; it needs train/ and val/ "
                              "folders of class sub-folders")
    return train, val


def _require(split_dir: Path, wanted: list[str], what: str) -> None:
    present = set(_class_dirs(split_dir))
    missing = [c for c in wanted if c not in present]
    if missing:
        raise ConfigError(f"{len(missing)} of the {len(wanted)} {what} are missing from {split_dir}: "
                          f"{_listing(missing)}")


def load_datasets(dataset: str, root: str | os.PathLike, *, train_transform=None, eval_transform=None,
                  classes: Sequence[str] | None = None, skip_bad_images: bool = False):
    """Load (train_ds, val_ds, class_names).

    ``dataset``:
      - ``imagenet100``: ``root/train`` and ``root/val`` hold WordNet-id folders; only the 100 ids of
        :func:`imagenet100_classes` (or ``classes``, a subset of them) are used, in that order; a missing id is
        an error, extra folders are ignored and logged.
      - ``folder``: any ImageFolder root with ``train/`` and ``val/``; classes = the sorted train folders (or
        ``classes``), and val must hold exactly the same class folders (without ``classes``).
      - ``cifar100``: torchvision's CIFAR-100 files under ``root`` (never downloaded here).
      - ``digits``: scikit-learn's handwritten digits (shipped with scikit-learn; ``root`` is ignored), see
        :func:`load_digits_datasets`.
    ``skip_bad_images``: check every file up front (PIL ``verify`` plus a 1/8-scale decode, which also catches
    truncated JPEGs) and drop unreadable ones (listed in ``ds.skipped_files``, count logged); otherwise an
    unreadable file raises ConfigError naming it when it is loaded.
    """
    check_choice("dataset", dataset, DATASETS)
    root = Path(root).expanduser()
    if classes is not None:
        classes = list(classes)
        if not classes or len(set(classes)) != len(classes):
            raise ConfigError(f"the class list must be non-empty and without duplicates, got {_listing(classes)}")
    if dataset == "cifar100":
        return _load_cifar100(root, train_transform, eval_transform, classes)
    if dataset == "digits":
        return load_digits_datasets(train_transform, eval_transform, classes)
    train_dir, val_dir = _check_split_dirs(root)
    names = _folder_classes(dataset, train_dir, val_dir, classes)
    train_ds = _fixed_class_folder(train_dir, names, train_transform, skip_bad_images)
    val_ds = _fixed_class_folder(val_dir, names, eval_transform, skip_bad_images)
    return train_ds, val_ds, names


def _folder_classes(dataset: str, train_dir: Path, val_dir: Path, classes: list[str] | None) -> list[str]:
    """The class list of an ImageNet-100 or ImageFolder root, after checking both splits have every class."""
    if dataset == "imagenet100":
        all_ids = imagenet100_classes()
        names = classes if classes is not None else all_ids
        unknown = [c for c in names if c not in set(all_ids)]
        if unknown:
            raise ConfigError(f"{len(unknown)} requested classes are not ImageNet-100 WordNet ids: "
                              f"{_listing(unknown)}")
        for d in (train_dir, val_dir):
            _require(d, names, "ImageNet-100 classes")
            extra = sorted(set(_class_dirs(d)) - set(names))
            if extra:
                log.info("ignoring %d extra class folder(s) in %s: %s", len(extra), d, _listing(extra))
        return names
    if classes is not None:  # an explicit list: both splits need it, extra folders are ignored
        for d in (train_dir, val_dir):
            _require(d, classes, "requested classes")
        return classes
    names, val_names = _class_dirs(train_dir), _class_dirs(val_dir)
    if not names:
        raise ConfigError(f"{train_dir} has no class folders")
    missing = [c for c in names if c not in set(val_names)]
    if missing:
        raise ConfigError(f"{len(missing)} train classes have no folder in {val_dir}: {_listing(missing)}")
    extra = [c for c in val_names if c not in set(names)]
    if extra:
        raise ConfigError(f"{val_dir} has {len(extra)} class folders not in {train_dir}: {_listing(extra)}")
    return names


def class_names(dataset: str, root: str | os.PathLike) -> list[str]:
    """The class list :func:`load_datasets` will use, read cheaply (folder names or CIFAR-100's meta file)."""
    check_choice("dataset", dataset, DATASETS)
    root = Path(root).expanduser()
    if dataset == "imagenet100":
        return imagenet100_classes()
    if dataset == "digits":
        return [str(d) for d in range(10)]
    if dataset == "folder":
        train, _ = _check_split_dirs(root)
        return _class_dirs(train)
    meta = (root.parent if root.name == "cifar-100-python" else root) / "cifar-100-python" / "meta"
    try:
        with open(meta, "rb") as f:
            return list(pickle.load(f, encoding="latin1")["fine_label_names"])
    except (OSError, pickle.UnpicklingError, KeyError, EOFError):
        raise ConfigError(f"CIFAR-100 meta file {meta} is missing or unreadable") from None


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
        self.batch_transform = None  # set to a BatchSimCLR for the ``tensor`` loader backend (pretraining)

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


def _load_cifar100(root: Path, train_transform, eval_transform, classes):
    if root.name == "cifar-100-python":  # accept the extracted folder itself as well as its parent
        root = root.parent
    if not (root / "cifar-100-python").is_dir():
        raise ConfigError(f"CIFAR-100 not found: {root} has no cifar-100-python/ folder (download it yourself; "
                          "this tool never downloads data)")
    try:
        train = CIFAR100(str(root), train=True, transform=train_transform, download=False)
        val = CIFAR100(str(root), train=False, transform=eval_transform, download=False)
    except (RuntimeError, OSError, pickle.UnpicklingError, KeyError):  # torchvision's message suggests download=True
        raise ConfigError(f"CIFAR-100 files under {root / 'cifar-100-python'} are missing or corrupt (their "
                          "checksums do not match the official train/test/meta files)") from None
    names = list(train.classes)
    if classes is not None:
        unknown = [c for c in classes if c not in names]
        if unknown:
            raise ConfigError(f"{len(unknown)} requested classes are not CIFAR-100 classes: {_listing(unknown)}")
        old_to_new = {names.index(c): i for i, c in enumerate(classes)}
        for ds in (train, val):  # keep only the asked classes, re-indexed in the asked order
            keep = [i for i, t in enumerate(ds.targets) if t in old_to_new]
            ds.data = ds.data[keep]
            ds.targets = [old_to_new[ds.targets[i]] for i in keep]
        names = list(classes)
    for ds in (train, val):
        ds.classes = names
        ds.class_to_idx = {c: i for i, c in enumerate(names)}
        ds.skipped_files = []
    return train, val, names


# ------------------------------------------------------------------------------------------------ transforms


class TwoViews:
    """Apply the same random transform twice: SimCLR's two augmented views of one image."""

    def __init__(self, transform):
        self.transform = transform

    def __call__(self, img):
        return self.transform(img), self.transform(img)

    def __repr__(self) -> str:
        return f"TwoViews({self.transform!r})"


def simclr_transform(crop_size: int, mean=IMAGENET_MEAN, std=IMAGENET_STD, *, blur: bool = True):
    """SimCLR augmentations (solo-learn's settings); the callable returns a pair of normalised tensors.

    RandomResizedCrop(scale 0.08–1), colour jitter (0.8, 0.8, 0.8, 0.2) with p=0.8, grayscale p=0.2, Gaussian
    blur p=0.5 (kernel ≈ 10 % of the crop, odd, σ ∈ [0.1, 2]), horizontal flip p=0.5. The blur is skipped for
    crops ≤ 32 px even with ``blur=True``: that guard is monotheory's, not the authors' — their CIFAR-100
    config (``scripts/pretrain/cifar/augmentations/symmetric.yaml``) blurs with p = 0.5 at 32 px (PIL, radius
    σ); docs/differences.md lists it.
    """
    from torchvision import transforms as T

    crop_size = check_int("crop_size", crop_size)
    ops = [T.RandomResizedCrop(crop_size, scale=(0.08, 1.0), interpolation=T.InterpolationMode.BICUBIC),
           T.RandomApply([T.ColorJitter(0.8, 0.8, 0.8, 0.2)], p=0.8),
           T.RandomGrayscale(p=0.2)]
    if blur and crop_size > 32:
        kernel = int(0.1 * crop_size) // 2 * 2 + 1
        ops.append(T.RandomApply([T.GaussianBlur(kernel, sigma=(0.1, 2.0))], p=0.5))
    ops += [T.RandomHorizontalFlip(p=0.5), T.ToTensor(), T.Normalize(mean, std)]
    return TwoViews(T.Compose(ops))


def classifier_train_transform(crop_size: int, mean=IMAGENET_MEAN, std=IMAGENET_STD):
    """Training augmentation of the authors' fine-tuning (solo-learn's classification pipeline): a normalised
    tensor of RandomResizedCrop(``crop_size``, scale 0.08–1, bicubic as their DALI loader) + horizontal flip."""
    from torchvision import transforms as T

    crop_size = check_int("crop_size", crop_size)
    return T.Compose([T.RandomResizedCrop(crop_size, scale=(0.08, 1.0), interpolation=T.InterpolationMode.BICUBIC),
                      T.RandomHorizontalFlip(), T.ToTensor(), T.Normalize(mean, std)])


def eval_transform(crop_size: int, mean=IMAGENET_MEAN, std=IMAGENET_STD, *, resize: int | None = None):
    """Deterministic evaluation transform → a normalised tensor (``mean=None``: unnormalised, in [0, 1]).

    Crops > 64 px: Resize(``resize`` or crop·256/224) then CenterCrop(crop), the usual ImageNet protocol;
    small images (CIFAR): Resize(crop) + CenterCrop(crop), a no-op on 32-px inputs.
    """
    from torchvision import transforms as T

    crop_size = check_int("crop_size", crop_size)
    if crop_size > 64:
        size = check_int("resize", resize if resize is not None else int(crop_size * 256 / 224), crop_size)
    else:
        size = crop_size
    # bilinear, as solo-learn's evaluation pipeline (torchvision's default); a 32-px image at crop 32 is untouched
    ops = [T.Resize(size), T.CenterCrop(crop_size), T.ToTensor()]
    if mean is not None:
        ops.append(T.Normalize(mean, std))
    return T.Compose(ops)


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
    """Yields ``(epoch, index)`` pairs for :class:`SeededItems`; call :meth:`set_epoch` before each epoch.

    The order is a permutation seeded by the stream ``("shuffle", epoch)`` under ``seed`` — or ``inner``'s order (e.g. a
    ``DistributedSampler``, whose ``set_epoch`` is forwarded). The epoch travels with each index, so
    persistent DataLoader workers (which never see attribute changes of the main process) know it.
    """

    def __init__(self, n: int, seed: int = 0, inner=None):
        self.n, self.seed, self.inner, self.epoch = int(n), int(seed), inner, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        if self.inner is not None:
            self.inner.set_epoch(self.epoch)

    def __len__(self) -> int:
        return len(self.inner) if self.inner is not None else self.n

    def __iter__(self):
        if self.inner is not None:
            order = iter(self.inner)
        else:
            g = torch_generator(self.seed, "shuffle", self.epoch)
            order = torch.randperm(self.n, generator=g).tolist()
        return ((self.epoch, int(i)) for i in order)


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
