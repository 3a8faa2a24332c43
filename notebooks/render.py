"""Execute every notebook and save it *with* its outputs, so a reader on GitHub sees the figures.

Usage: ``python notebooks/render.py [NAME.ipynb ...]`` (``make notebooks``). Each notebook runs in a fresh
kernel from the ``notebooks/`` folder with the library's default settings (``MONOTHEORY_QUICK`` unset) and
records the SHA-256 of its code and Markdown sources in ``metadata.monotheory.sources_sha256``.
``tests/test_notebooks_rendered.py`` recomputes that hash: a notebook edited without re-rendering fails the
suite, which is how stale outputs are caught (the outputs themselves are not compared byte for byte, since
figures differ across matplotlib versions; the tests that execute each notebook check its behaviour).
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


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
        NotebookClient(nb, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
    finally:
        os.environ.clear()
        os.environ.update(env)
    nb.metadata.setdefault("monotheory", {})["sources_sha256"] = sources_sha256(nb)
    nbformat.write(nb, path)
    return time.perf_counter() - t0


def main(argv: list[str]) -> int:
    names = argv or sorted(p.name for p in HERE.glob("[0-9]*.ipynb"))
    for name in names:
        path = HERE / name
        if not path.is_file():
            print(f"render: {name!r} is not a notebook in {HERE}", file=sys.stderr)
            return 2
        print(f"{name}: rendered in {render(path):.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
