"""Image folders and CIFAR-100 for the full-scale experiments: ImageNet-100 / any ImageFolder / CIFAR-100 / digits.

Conventions
-----------
- A dataset returned here exposes ``.targets`` (list[int]) and ``.classes`` (list[str]); train and val map the
  same class name to the same index (index = position in the class list, which is sorted for ``folder``
  roots and follows ``monotheory/data/imagenet100_classes.txt`` for ImageNet-100).
- Every problem with the data (missing folder, missing class, empty class, unreadable file) raises
  :class:`ConfigError` with one sentence naming it, never a deep traceback.
- The in-memory sets (scikit-learn's digits) live in :mod:`monotheory.vision.arrays`; the transforms in
  :mod:`monotheory.vision.transforms`.
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

import numpy as np
from torchvision.datasets import CIFAR100, ImageFolder

from monotheory.config import check_choice
from monotheory.errors import ConfigError
from monotheory.vision.arrays import load_digits_datasets
from monotheory.vision.config import DATASETS
from monotheory.vision.transforms import CIFAR100_MEAN, CIFAR100_STD, IMAGENET_MEAN, IMAGENET_STD

log = logging.getLogger(__name__)


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
