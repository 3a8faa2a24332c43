"""Committed-rendered notebooks are not stale: each stored source hash equals the hash of the current sources.

Policy (issue 9): the notebooks of ``notebooks/render.py``'s ``RENDERED`` are committed *with* their outputs
(``make notebooks`` executes them with the default settings and stores a SHA-256 of the cells' sources). A
notebook edited without re-rendering fails here. Nothing is executed: the tests that run each notebook with
small settings (``tests/*/test_notebook.py``) check their behaviour.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
MAX_NOTEBOOK_BYTES = 1_500_000  # outputs stay small: PNG figures at a modest dpi


def _render_module():
    spec = importlib.util.spec_from_file_location("notebook_render", NOTEBOOKS / "render.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


RENDER = _render_module()


@pytest.mark.parametrize("name", RENDER.RENDERED)
def test_rendered_notebook_matches_its_sources(name):
    path = NOTEBOOKS / name
    nb = nbformat.read(path, as_version=4)
    stored = nb.metadata.get("monotheory", {}).get("sources_sha256")
    assert stored is not None, f"{name} has never been rendered: run `make notebooks` and commit it"
    assert stored == RENDER.sources_sha256(nb), (
        f"{name} was edited after it was rendered (its outputs are stale): run `make notebooks` and commit it")
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.get("execution_count") for c in code), f"{name} has cells that were not executed"
    assert not [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert any("image/png" in o.get("data", {}) for c in code for o in c.get("outputs", []))
    assert path.stat().st_size < MAX_NOTEBOOK_BYTES


def test_every_notebook_is_either_rendered_or_says_why_not():
    names = {p.name for p in NOTEBOOKS.glob("[0-9]*.ipynb")}
    assert names == set(RENDER.RENDERED) | set(RENDER.NOT_RENDERED)
    assert not set(RENDER.RENDERED) & set(RENDER.NOT_RENDERED)
    for name in RENDER.NOT_RENDERED:  # committed without outputs, so nothing in them can be stale
        nb = nbformat.read(NOTEBOOKS / name, as_version=4)
        assert not any(c.get("outputs") for c in nb.cells if c.cell_type == "code")


def test_the_hash_covers_every_cell_source():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_markdown_cell("# a")])
    before = RENDER.sources_sha256(nb)
    nb.cells[1].source = "# b"
    assert RENDER.sources_sha256(nb) != before
    nb.cells[1].source = "# a"
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", text="1")]  # outputs are not hashed
    assert RENDER.sources_sha256(nb) == before
