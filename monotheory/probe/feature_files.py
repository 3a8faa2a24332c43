"""Feature files for :mod:`monotheory.probe.api`: load (X, y) pairs and validate them before any work starts.

Accepted forms of one split (features X of shape (N, d), integer labels y of shape (N,)):

- ``FILE.npz`` with arrays ``X`` and ``y``;
- ``X.npy,y.npy``: two ``.npy`` files, comma-separated;
- ``FILE.pt``: a ``torch.save`` d dict with tensors ``X``/``y`` or ``features``/``targets`` (the latter is the
  feature cache of ``run-imagenet`` and of :func:`monotheory.vision.features.extract`), loaded with
  ``weights_only=True``;
- ``FILE.safetensors`` with tensors ``X``/``y`` (or ``features``/``targets``).

Every problem (a missing file or key, lengths that differ, NaN or infinite features, labels that are not
integers or not 0..C−1, a single class, train and test of different widths) raises
:class:`~monotheory.errors.ConfigError` with one sentence naming the file and the problem.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from monotheory.errors import ConfigError

SUFFIXES = (".npz", ".npy", ".pt", ".pth", ".safetensors")
_KEYS = (("X", "y"), ("features", "targets"))


def _pick(d, name: str) -> tuple[object, object]:
    for kx, ky in _KEYS:
        if kx in d and ky in d:
            return d[kx], d[ky]
    raise ConfigError(f"{name} holds {', '.join(sorted(map(str, d.keys()))) or 'nothing'}; it needs arrays "
                      "'X' and 'y' (or 'features' and 'targets')")


def _numpy(a) -> np.ndarray:
    return a.detach().cpu().numpy() if hasattr(a, "detach") else np.asarray(a)


def _exists(spec: str) -> Path:
    """``spec`` as a Path to an existing file; a folder or a missing path is refused, saying which."""
    path = Path(spec)
    if path.is_dir():
        raise ConfigError(f"feature file {spec!r} is a folder, not a file")
    if not path.is_file():
        raise ConfigError(f"feature file {spec!r} does not exist")
    return path


def load_feature_file(spec: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read one split: ``(X, y)`` as numpy arrays, not yet validated (see :func:`check_split`)."""
    spec = os.fspath(spec)
    if "," in spec and not Path(spec).exists():
        parts = [p.strip() for p in spec.split(",")]
        if len(parts) != 2 or not all(p.endswith(".npy") for p in parts):
            raise ConfigError(f"feature file {spec!r} is not a pair 'X.npy,y.npy'")
        for p in parts:
            _exists(p)
        return np.load(parts[0], allow_pickle=False), np.load(parts[1], allow_pickle=False)
    path = _exists(spec)
    suffix = path.suffix.lower()
    try:
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                x, y = _pick({k: z[k] for k in z.files}, spec)
        elif suffix in (".pt", ".pth"):
            import torch

            d = torch.load(path, map_location="cpu", weights_only=True)
            if not isinstance(d, dict):
                raise ConfigError(f"{spec} holds a {type(d).__name__}; it needs a dict with 'X' and 'y'")
            x, y = _pick(d, spec)
        elif suffix == ".safetensors":
            from safetensors.numpy import load_file

            x, y = _pick(load_file(str(path)), spec)
        elif suffix == ".npy":
            raise ConfigError(f"{spec} is a single .npy file; give features and labels as 'X.npy,y.npy'")
        else:
            raise ConfigError(f"feature file {spec!r} has an unknown type; use one of {', '.join(SUFFIXES)}")
    except ConfigError:
        raise
    except Exception as e:  # a corrupt or foreign file: name it in one line
        raise ConfigError(f"feature file {spec!r} cannot be read ({type(e).__name__}: "
                          f"{str(e).splitlines()[0] if str(e) else 'no detail'})") from None
    return _numpy(x), _numpy(y)


def check_split(x, y, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Validate one split; returns ``(X float32 (N, d), y int64 (N,))``."""
    x, y = _numpy(x), _numpy(y)
    if x.ndim != 2:
        raise ConfigError(f"{name}: features have shape {x.shape}; an (N, d) matrix is required")
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise ConfigError(f"{name}: features have dtype {x.dtype}; numbers are required")
    if y.ndim != 1:
        raise ConfigError(f"{name}: labels have shape {y.shape}; a 1-d array of class indices is required")
    if x.shape[0] != y.shape[0]:
        raise ConfigError(f"{name}: {x.shape[0]} feature rows but {y.shape[0]} labels; they must match")
    if x.shape[0] == 0:
        raise ConfigError(f"{name}: no samples")
    if not np.isfinite(x.astype(np.float64, copy=False)).all():
        bad = int((~np.isfinite(x.astype(np.float64, copy=False))).any(1).sum())
        raise ConfigError(f"{name}: features contain NaN or infinite values ({bad} rows)")
    if y.dtype == bool or not np.issubdtype(y.dtype, np.integer):
        if np.issubdtype(y.dtype, np.floating) and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
            y = y.astype(np.int64)  # integral floats (e.g. saved from pandas) are integer labels
        else:
            raise ConfigError(f"{name}: labels have dtype {y.dtype} with non-integer values; integer class "
                              "indices 0..C−1 are required")
    return x.astype(np.float32, copy=False), y.astype(np.int64, copy=False)


def check_labels(y_train: np.ndarray, others: dict[str, np.ndarray], name: str = "train") -> int:
    """The number of classes C; labels must be 0..C−1 with at least two classes in the training labels."""
    lo, hi = int(y_train.min()), int(y_train.max())
    if lo < 0:
        raise ConfigError(f"{name}: labels include {lo}; class indices must be 0..C−1")
    classes = np.unique(y_train)
    if classes.size < 2:
        raise ConfigError(f"{name}: all labels are class {int(classes[0])}; a probe needs at least 2 classes")
    c = hi + 1
    missing = sorted(set(range(c)) - set(classes.tolist()))
    if missing:
        raise ConfigError(f"{name}: labels are not 0..C−1 (max {hi}, but class {missing[0]} never occurs); "
                          "relabel the classes to 0..C−1")
    for other, y in others.items():
        if int(y.min()) < 0 or int(y.max()) >= c:
            raise ConfigError(f"{other}: labels range over [{int(y.min())}, {int(y.max())}], outside the "
                              f"training classes 0..{c - 1}")
        check_test_size(other, y.size, c)
    return c


def check_test_size(name: str, n: int, num_classes: int) -> None:
    """A test set needs at least one item per class: with fewer, no accuracy or interval says anything about every
    class (and the per-class measures have empty classes), so it is refused before any work."""
    if n < num_classes:
        raise ConfigError(f"{name}: {n} test item{'s' if n != 1 else ''} for {num_classes} classes; a profile needs "
                          "at least one test item per class")


def load_splits(train: str, test: str, shifts: dict[str, str] | None = None) -> dict:
    """Load and validate train, test and named shift files: ``{"train": (X, y), "test": …, "shifts": {…},
    "num_classes": C}``; widths must agree."""
    tr = check_split(*load_feature_file(train), f"train {train}")
    te = check_split(*load_feature_file(test), f"test {test}")
    sh = {k: check_split(*load_feature_file(v), f"shift {k} {v}") for k, v in (shifts or {}).items()}
    for name, (x, _) in [(f"test {test}", te), *((f"shift {k}", v) for k, v in sh.items())]:
        if x.shape[1] != tr[0].shape[1]:
            raise ConfigError(f"{name}: features have width {x.shape[1]} but the training features {tr[0].shape[1]}; "
                              "they must match")
    c = check_labels(tr[1], {f"test {test}": te[1], **{f"shift {k}": v[1] for k, v in sh.items()}},
                     f"train {train}")
    return {"train": tr, "test": te, "shifts": sh, "num_classes": c}


def parse_named(specs, what: str = "--shift") -> dict[str, str]:
    """``["NAME=FILE", …]`` → ``{NAME: FILE}`` (names unique, non-empty)."""
    out: dict[str, str] = {}
    for s in specs or ():
        name, sep, value = str(s).partition("=")
        if not sep or not name.strip() or not value.strip():
            raise ConfigError(f"{what} {s!r} is not NAME=PATH")
        if name.strip() in out:
            raise ConfigError(f"{what} name {name.strip()!r} is given twice")
        out[name.strip()] = value.strip()
    return out
