"""Execute every notebook and save it *with* its outputs, so a reader on GitHub sees the figures.

Usage: ``python notebooks/render.py [NAME.ipynb ...]`` (``make notebooks``; without names: the notebooks of
:data:`RENDERED`). Each notebook runs in a fresh kernel from the ``notebooks/`` folder with the library's
default settings (``MONOTHEORY_QUICK`` unset) and records the SHA-256 of its code and Markdown sources in
``metadata.monotheory.sources_sha256``. Figures are stored as PNG at the inline backend's ``DPI``.

``03_full_scale.ipynb`` is not rendered: it reads a finished ``monotheory run-imagenet`` results folder (a GPU
run on ImageNet-100), which a checkout does not have; it is committed without outputs and executed by
``tests/vision/test_notebook.py`` on a small run.
``tests/test_notebooks_rendered.py`` recomputes that hash: a notebook edited without re-rendering fails the
suite, which is how stale outputs are caught (the outputs themselves are not compared byte for byte, since
figures differ across matplotlib versions; the tests that execute each notebook check its behaviour).
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# committed with outputs; tests/test_notebooks_rendered.py checks each one's stored source hash
RENDERED = ("01_theory.ipynb", "02_toy_model.ipynb", "04_probe_your_model.ipynb")
NOT_RENDERED = {"03_full_scale.ipynb": "needs a run-imagenet results folder (MONOTHEORY_RESULTS)"}
DPI = 72  # inline figures: small PNG outputs


def sources_sha256(nb) -> str:
    """Hash of the cells' types and sources: what the outputs were computed from."""
    h = hashlib.sha256()
    for cell in nb.cells:
        h.update(cell.cell_type.encode() + b"\0" + cell.source.encode() + b"\0")
    return h.hexdigest()


def render(path: Path, timeout: int = 1200) -> float:
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    env = dict(os.environ)
    os.environ.pop("MONOTHEORY_QUICK", None)
    os.environ.pop("MPLBACKEND", None)  # the kernel's inline backend, so figures become outputs
    t0 = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory() as rc:
            (Path(rc) / "matplotlibrc").write_text(f"figure.dpi: {DPI}\n")
            os.environ["MATPLOTLIBRC"] = rc  # read by the kernel's matplotlib: small figure outputs
            NotebookClient(nb, timeout=timeout, kernel_name="python3",
                           resources={"metadata": {"path": str(path.parent)}}).execute()
    finally:
        os.environ.clear()
        os.environ.update(env)
    nb.metadata.setdefault("monotheory", {})["sources_sha256"] = sources_sha256(nb)
    nbformat.write(nb, path)
    return time.perf_counter() - t0


def main(argv: list[str]) -> int:
    names = argv or list(RENDERED)
    for name in names:
        if name in NOT_RENDERED:
            print(f"render: {name} is not rendered: {NOT_RENDERED[name]}", file=sys.stderr)
            return 2
        path = HERE / name
        if not path.is_file():
            print(f"render: {name!r} is not a notebook in {HERE}", file=sys.stderr)
            return 2
        print(f"{name}: rendered in {render(path):.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
