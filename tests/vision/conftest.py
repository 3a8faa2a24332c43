"""Shared vision fixtures: a tiny generated ImageFolder whose classes a small network can learn."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest


def make_image(cls_index: int, n_classes: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """A size×size RGB uint8 image: a class-dependent base colour and stripe orientation, plus pixel noise."""
    hue = cls_index / max(n_classes, 1)
    base = 255 * np.array([0.5 + 0.5 * np.cos(2 * np.pi * (hue + k / 3)) for k in range(3)])
    yy, xx = np.mgrid[0:size, 0:size]
    period = 4 + 2 * (cls_index % 3)
    coord = xx if cls_index % 2 == 0 else yy
    stripes = ((coord + rng.integers(0, period)) // (period // 2)) % 2
    img = base[None, None, :] * (0.6 + 0.4 * stripes[..., None]) + rng.normal(0, 12, (size, size, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def make_image_folder(root: str | Path, classes: Sequence[str] | int, per_class: int | Sequence[int],
                      size: int = 32, seed: int = 0, split_names: Sequence[str] = ("train", "val")) -> Path:
    """Write ``root/<split>/<class>/<i>.png`` images for each split and return ``root``.

    ``classes``: names or a count (names ``c0``, ``c1`` …); ``per_class``: one count for all splits or one per
    split. Images of a class share a colour and stripe pattern, so a classifier can learn them.
    """
    from PIL import Image

    root = Path(root)
    names = [f"c{i}" for i in range(classes)] if isinstance(classes, int) else list(classes)
    counts = [per_class] * len(split_names) if isinstance(per_class, int) else list(per_class)
    rng = np.random.default_rng(seed)
    for split, n in zip(split_names, counts, strict=True):
        for ci, name in enumerate(names):
            d = root / split / name
            d.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                Image.fromarray(make_image(ci, len(names), size, rng)).save(d / f"{i:03d}.png")
    return root


@pytest.fixture(scope="session")
def tiny_folder(tmp_path_factory) -> Path:
    """A root with train/ (4 classes × 12) and val/ (4 classes × 6) of 32-px PNGs; classes c0..c3."""
    return make_image_folder(tmp_path_factory.mktemp("tiny_folder"), 4, (12, 6), size=32, seed=0)


@pytest.fixture
def make_folder():
    """:func:`make_image_folder` as a fixture (tests should not ``import conftest``: two conftest modules exist)."""
    return make_image_folder
