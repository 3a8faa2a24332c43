"""The modules of ``monotheory.vision`` import each other without a cycle (parsed with ``ast``, every import
counted, including those inside functions), and each one imports."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import monotheory.vision as vision

PKG = "monotheory.vision"
MODULES = sorted(m.name for m in pkgutil.iter_modules(vision.__path__))
OPTIONAL = {"dali_loader"}  # imports nvidia.dali lazily; the module itself must still import


def intra_imports(name: str) -> set[str]:
    """The ``monotheory.vision`` modules that module ``name`` imports anywhere in its source."""
    tree = ast.parse((Path(vision.__path__[0]) / f"{name}.py").read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == PKG:
                out |= {a.name for a in node.names if a.name in MODULES}
            elif node.module.startswith(PKG + "."):
                out.add(node.module.split(".")[2])
        elif isinstance(node, ast.Import):
            out |= {a.name.split(".")[2] for a in node.names if a.name.startswith(PKG + ".")}
    return out - {name}


@pytest.mark.parametrize("name", MODULES)
def test_module_imports(name):
    importlib.import_module(f"{PKG}.{name}")


def test_no_import_cycle():
    graph = {m: intra_imports(m) for m in MODULES}
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(m, path):
        state[m] = 1
        for d in sorted(graph[m]):
            if state.get(d) == 1:
                raise AssertionError("import cycle: " + " -> ".join([*path, m, d]))
            if d not in state:
                visit(d, [*path, m])
        state[m] = 2

    for m in MODULES:
        if m not in state:
            visit(m, [])
    assert graph["run"] and {m for m in MODULES if "run" in graph[m]} <= {"cli"}  # run only orchestrates


def test_the_old_cycle_would_be_found():
    assert "context" in intra_imports("probe_stage") and "probe_stage" not in intra_imports("context")
