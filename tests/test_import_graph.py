"""The import graph of the whole package (docs/architecture.md): no cycle, no import against the layer order, and
function-local imports of project modules only where the allow-list below gives the reason.

Every module of ``monotheory/`` and of ``paper_checks/`` (shipped as ``monotheory.paper_checks``) is parsed with
``ast``; every ``import`` / ``from … import`` of a project module counts, at module level and inside functions
(where a cycle can hide), relative imports resolved. The checker is plain functions over a package folder, so
the tests at the end run it on small packages planted in ``tmp_path`` and see it fail.
"""

from __future__ import annotations

import ast
import importlib
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "monotheory"

# The floors, bottom up (docs/architecture.md says the same in prose). A module may import modules of its own
# floor or of a lower one; a module's floor is that of the longest entry naming it or a package above it
# ("monotheory" alone is the package's __init__).
FLOORS: list[tuple[str, tuple[str, ...]]] = [
    ("ground", ("monotheory", "monotheory.errors", "monotheory.config", "monotheory.seeding",
                "monotheory.progress", "monotheory.files", "monotheory.deprecation")),
    ("shared", ("monotheory.noise", "monotheory.metrics", "monotheory.stats", "monotheory.plots",
                "monotheory.lbfgs", "monotheory.probes", "monotheory.theory")),
    ("models", ("monotheory.toy", "monotheory.vision", "monotheory.lora", "monotheory.testing",
                "monotheory.pytest_plugin")),
    ("probe", ("monotheory.probe",)),
    ("claims", ("monotheory.claims",)),
    ("cli", ("monotheory.cli", "monotheory.__main__", "monotheory.paper_checks")),
    ("deprecated aliases", ("monotheory.report", "monotheory.checks", "monotheory.evaluate", "monotheory.profile")),
]

# Deprecated aliases (one release): old import path → where its names live now. Nothing in the package imports them.
DEPRECATED_ALIASES = {
    "monotheory.report": ("monotheory.files", "monotheory.claims.verdict"),
    "monotheory.checks": ("monotheory.claims.runner", "monotheory.cli.check"),
    "monotheory.evaluate": ("monotheory.probe.api", "monotheory.probe.config", "monotheory.probes.grid"),
    "monotheory.profile": ("monotheory.probe.profile",),
}

# The only function-local imports of project modules: each defers a layer that needs torch (torchvision) behind
# something the light install must do without it. (importer, imported) → the reason.
_TORCH_FOR_VERIFY = ("`monotheory verify` checks a folder on the core install; only --retrain STAGE reruns a "
                     "run-imagenet stage, which needs torch and torchvision")
_TORCH_FOR_TOY = ("`monotheory toy --help` and its config checks need no torch; the toy experiments load it when "
                  "a run starts")
_TORCH_FOR_C5 = ("`monotheory check` loads every check on the core install; C5 needs the torch toy layer only when "
                 "it runs (without torch it is skipped, naming the extra)")
ALLOWED_LOCAL_IMPORTS: dict[tuple[str, str], str] = {
    ("monotheory.claims.verify", "monotheory.vision.context"): _TORCH_FOR_VERIFY,
    ("monotheory.claims.verify", "monotheory.vision.run"): _TORCH_FOR_VERIFY,
    ("monotheory.cli.run_imagenet", "monotheory.vision.run"):
        "`run-imagenet --help`, --print-config and bad input need no torch; torch and torchvision load when the "
        "run starts",
    ("monotheory.cli.toy", "monotheory.toy.experiments"): _TORCH_FOR_TOY,
    ("monotheory.cli.toy", "monotheory.toy.search"): _TORCH_FOR_TOY,
    ("monotheory.cli.toy", "monotheory.toy.sweeps"): _TORCH_FOR_TOY,
    ("monotheory.cli.toy", "monotheory.toy.grid"): _TORCH_FOR_TOY,
    ("monotheory.paper_checks.c05_toy_model", "monotheory.toy.search"): _TORCH_FOR_C5,
    ("monotheory.paper_checks.c05_toy_model", "monotheory.toy.grid"): _TORCH_FOR_C5,
}


# ----------------------------------------------------------------------------------------------- the checker


@dataclass(frozen=True)
class Import:
    importer: str
    target: str
    line: int
    local: bool  # inside a function (or lambda): runs at call time, not at import time


def module_files(root: Path, package: str, extra: dict[str, Path] | None = None) -> dict[str, Path]:
    """Dotted module name → file, for every ``.py`` file of the package folder ``root / package`` and of each
    ``extra`` package (dotted name → folder)."""
    mods = {}
    for name, folder in [(package, root / package), *(extra or {}).items()]:
        for f in sorted(folder.rglob("*.py")):
            parts = f.relative_to(folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            mods[".".join((name, *parts))] = f
    return mods


def _resolve(name: str, mods: dict[str, Path]) -> str | None:
    """The longest prefix of ``name`` that is a module (``a.b.func`` → ``a.b``), or None."""
    while name and name not in mods:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(module: str, path: Path, mods: dict[str, Path]) -> list[Import]:
    """The project modules that ``module`` imports, at module level and inside functions."""
    tree = ast.parse(path.read_text(), filename=str(path))
    is_pkg = path.name == "__init__.py"
    root = module.split(".")[0]
    found: list[Import] = []

    def targets(node) -> list[str]:
        if isinstance(node, ast.Import):
            return [a.name for a in node.names]
        if node.level:  # relative: from the package of this module, level − 1 packages up
            base = module.split(".") if is_pkg else module.split(".")[:-1]
            base = base[: len(base) - (node.level - 1)]
            frm = ".".join(base + ([node.module] if node.module else []))
        else:
            frm = node.module or ""
        # `from pkg import sub` imports the submodule pkg.sub; `from mod import name` imports mod
        return [f"{frm}.{a.name}" if f"{frm}.{a.name}" in mods else frm for a in node.names]

    def visit(node, local: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = local or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                for t in targets(child):
                    if t.split(".")[0] == root and (r := _resolve(t, mods)) and r != module:
                        found.append(Import(module, r, child.lineno, local))
            visit(child, inner)

    visit(tree, False)
    return found


def import_graph(root: Path, package: str, extra: dict[str, Path] | None = None) -> list[Import]:
    mods = module_files(root, package, extra)
    return [imp for m, f in mods.items() for imp in imports_of(m, f, mods)]


def find_cycle(imports: list[Import]) -> list[str] | None:
    """One import cycle as a path ``[a, b, …, a]``, or None."""
    graph: dict[str, set[str]] = {}
    for i in imports:
        graph.setdefault(i.importer, set()).add(i.target)
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(m: str, path: list[str]) -> list[str] | None:
        state[m] = 1
        for d in sorted(graph.get(m, ())):
            if state.get(d) == 1:
                return [*path, m, d][[*path, m].index(d):]
            if d not in state and (c := visit(d, [*path, m])):
                return c
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (c := visit(m, [])):
            return c
    return None


def floor_of(module: str, floors: list[tuple[str, tuple[str, ...]]]) -> int | None:
    """The index of the floor of the longest entry that is ``module`` or a package above it (the top package
    itself, an entry without a dot, stands for its ``__init__`` only, so a new module must be given a floor)."""
    best, level = -1, None
    for i, (_, names) in enumerate(floors):
        for n in names:
            if (module == n or "." in n and module.startswith(n + ".")) and len(n) > best:
                best, level = len(n), i
    return level


def upward_imports(imports: list[Import], floors) -> list[str]:
    """Every import of a module on a higher floor than the importer's, as ``importer:line -> target``."""
    bad = []
    for i in imports:
        a, b = floor_of(i.importer, floors), floor_of(i.target, floors)
        if a is not None and b is not None and b > a:
            bad.append(f"{i.importer}:{i.line} ({floors[a][0]}) imports {i.target} ({floors[b][0]})")
    return bad


# ------------------------------------------------------------------------------------------- the package

EXTRA = {"monotheory.paper_checks": ROOT / "paper_checks"}
MODULES = module_files(ROOT, PACKAGE, EXTRA)
IMPORTS = import_graph(ROOT, PACKAGE, EXTRA)


def test_the_graph_is_the_whole_package():
    assert {"monotheory.cli", "monotheory.claims.runner", "monotheory.probe.api", "monotheory.theory.registry",
            "monotheory.paper_checks.c05_toy_model"} <= set(MODULES)
    assert len(IMPORTS) > 300 and any(i.local for i in IMPORTS)


def test_every_module_has_a_floor():
    assert [m for m in MODULES if floor_of(m, FLOORS) is None] == []
    assert floor_of("monotheory.new_module", FLOORS) is None and floor_of("monotheory", FLOORS) == 0


def test_no_import_cycle_anywhere():
    assert find_cycle(IMPORTS) is None, "import cycle: " + " -> ".join(find_cycle(IMPORTS))


def test_no_import_against_the_layer_order():
    assert upward_imports(IMPORTS, FLOORS) == []


def test_function_local_project_imports_are_the_listed_deferrals():
    local = {(i.importer, i.target) for i in IMPORTS if i.local}
    assert local - set(ALLOWED_LOCAL_IMPORTS) == set(), "function-local imports without a reason in the allow-list"
    assert set(ALLOWED_LOCAL_IMPORTS) - local == set(), "allow-list entries that no longer exist: remove them"
    assert len(ALLOWED_LOCAL_IMPORTS) <= 25


def test_nothing_imports_a_deprecated_alias():
    assert {i.importer for i in IMPORTS if i.target in DEPRECATED_ALIASES} == set()
    assert set(DEPRECATED_ALIASES) == set(FLOORS[-1][1])


@pytest.mark.parametrize("module", sorted(m for m in MODULES if not m.startswith("monotheory.paper_checks")
                                           and not m.endswith("__main__")))
def test_every_module_imports(module):
    importlib.import_module(module)


@pytest.mark.parametrize("old", sorted(DEPRECATED_ALIASES))
def test_a_deprecated_alias_gives_the_new_object_and_warns_with_the_new_path(old):
    alias = importlib.import_module(old)
    names = sorted(alias._MOVED)  # (not in dir(): pytest's collection would trip every warning)
    assert names
    for name in names:
        with pytest.warns(DeprecationWarning, match=f"{old}.{name} is deprecated: import it from ") as rec:
            obj = getattr(alias, name)
        new = str(rec[0].message).split("import it from ")[1].split()[0]  # the path the warning names
        assert new in DEPRECATED_ALIASES[old]
        assert getattr(importlib.import_module(new), name) is obj
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(AttributeError):
            alias.no_such_name  # noqa: B018


# ---------------------------------------------------------------------------------- the checker can fail


def _plant(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    return tmp_path


def test_a_planted_cycle_is_found_also_when_a_function_local_import_hides_it(tmp_path):
    root = _plant(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "from pkg.b import helper\n",
        "pkg/b.py": "def helper():\n    from pkg import a\n    return a\n",
        "pkg/c.py": "import pkg.a\n",
    })
    imports = import_graph(root, "pkg")
    assert {(i.importer, i.target, i.local) for i in imports} == {
        ("pkg.a", "pkg.b", False), ("pkg.b", "pkg.a", True), ("pkg.c", "pkg.a", False)}
    assert find_cycle(imports) == ["pkg.a", "pkg.b", "pkg.a"]
    assert find_cycle([i for i in imports if not i.local]) is None  # only the local import closes it


def test_a_planted_upward_import_is_found_also_through_a_relative_import(tmp_path):
    root = _plant(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/low/__init__.py": "",
        "pkg/low/base.py": "from ..high import top\n",
        "pkg/low/fine.py": "from . import base\n",
        "pkg/high/__init__.py": "",
        "pkg/high/top.py": "from pkg.low import fine\n",
    })
    floors = [("low", ("pkg", "pkg.low")), ("high", ("pkg.high",))]
    imports = import_graph(root, "pkg")
    assert {(i.importer, i.target) for i in imports} == {
        ("pkg.low.base", "pkg.high.top"), ("pkg.low.fine", "pkg.low.base"), ("pkg.high.top", "pkg.low.fine")}
    assert upward_imports(imports, floors) == ["pkg.low.base:1 (low) imports pkg.high.top (high)"]
    cycle = find_cycle(imports)
    assert cycle[0] == cycle[-1] and sorted(cycle[1:]) == ["pkg.high.top", "pkg.low.base", "pkg.low.fine"]


def test_a_planted_function_local_import_is_reported_as_local(tmp_path):
    root = _plant(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "import json\n\ndef f():\n    import pkg.b\n    return lambda: __import__('x')\n",
        "pkg/b.py": "class C:\n    from pkg import a  # a class body runs at import time\n",
    })
    imports = import_graph(root, "pkg")
    assert {(i.importer, i.target, i.local) for i in imports} == {("pkg.a", "pkg.b", True),
                                                                  ("pkg.b", "pkg.a", False)}
