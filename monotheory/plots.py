"""Matplotlib helpers shared by every layer: headless (Agg), imported lazily, saved atomically.

Every figure is saved as PNG with the data it shows in a JSON file beside it (``fig.png`` +
``fig.json``), so a number on a plot can always be read back exactly. Plot functions draw on an ``ax`` they
are given (a new figure when None), return the figure, and save it (with its data) only when given a path.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

from monotheory.files import atomic_write_bytes, atomic_write_json


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


def plot_regime_curves(curve: dict, ax: Any = None, *, path: str | os.PathLike | None = None):
    """One criterion of the mono and poly regimes against a noise level: ``curve`` holds ``x``, ``mono``,
    ``poly`` (equal-length sequences) and optionally ``xlabel``, ``ylabel``, ``title`` and ``mark`` (an x
    to mark with a dotted line, e.g. a crossover; None for none). Draws on ``ax`` (a new figure when None)
    and returns the figure; with ``path``, also saves it with ``curve`` as its data (the figure stays open).
    """
    if ax is None:
        fig, ax = pyplot().subplots(figsize=(4.2, 3.2))
    fig = ax.figure
    for regime in ("mono", "poly"):
        ax.plot(curve["x"], curve[regime], label=regime)
    if curve.get("mark") is not None:
        ax.axvline(curve["mark"], color="k", ls=":", lw=0.8, label=f"crossover {curve['mark']:.3g}")
    ax.set_xlabel(curve.get("xlabel", ""))
    ax.set_ylabel(curve.get("ylabel", ""))
    ax.set_title(curve.get("title", ""), fontsize=9)
    ax.legend(fontsize=7)
    if path is not None:
        save_figure(fig, path, curve, close=False)
    return fig
