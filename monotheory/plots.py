"""Matplotlib helpers shared by every layer: headless (Agg), imported lazily, saved atomically.

Every figure is saved as PNG with the data it shows in a JSON file beside it (``fig.png`` +
``fig.json``), so a number on a plot can always be read back exactly.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

from monotheory.report import atomic_write_bytes, atomic_write_json


def pyplot():
    """Return ``matplotlib.pyplot`` with the non-interactive Agg backend (unless inside Jupyter)."""
    import matplotlib

    if "ipykernel" not in os.environ.get("MPLBACKEND", "") and not _in_notebook():
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _in_notebook() -> bool:
    import sys

    return "ipykernel" in sys.modules


def save_figure(fig: Any, path: str | os.PathLike, data: Any = None, *, dpi: int = 120,
                close: bool = True) -> Path:
    """Save ``fig`` as PNG at ``path`` (atomically) and, if given, ``data`` as JSON beside it."""
    path = Path(path)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    atomic_write_bytes(path, buf.getvalue())
    if data is not None:
        atomic_write_json(path.with_suffix(".json"), data)
    if close:
        pyplot().close(fig)
    return path
