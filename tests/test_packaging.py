"""The install is what the README promises: a light core, checks shipped in the wheel, extras named."""

import subprocess
import sys
from pathlib import Path

import pytest

from monotheory import cli
from monotheory.claims.runner import EXTRAS, default_checks_dir, discover

ROOT = Path(__file__).resolve().parents[1]
tomllib = pytest.importorskip("tomllib")  # Python ≥ 3.11


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_every_package_folder_is_listed_in_pyproject():
    listed = set(_pyproject()["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "monotheory").rglob("__init__.py")}
    found.add("monotheory.paper_checks")
    assert found <= listed, f"packages missing from pyproject.toml: {sorted(found - listed)}"


def test_core_dependencies_have_no_torch_and_extras_cover_the_optional_modules():
    project = _pyproject()["project"]
    assert not any(d.startswith("torch") for d in project["dependencies"])
    extras = project["optional-dependencies"]
    assert {"toy", "vision", "all", "dev"} <= set(extras)
    assert any(d.startswith("torch") for d in extras["toy"])
    assert set(EXTRAS.values()) - {"llm"} <= set(extras)


def test_checks_ship_as_a_package():
    scripts = discover(default_checks_dir())
    assert default_checks_dir() == (ROOT / "paper_checks").resolve()
    assert [p.stem[:3] for p in scripts] == [f"c{i:02d}" for i in range(1, 12)]


# the core install's commands: check, verify and theory (the claims package and its commands load no torch)
@pytest.mark.parametrize("module", ["monotheory.theory", "monotheory.claims.runner", "monotheory.stats",
                                    "monotheory.seeding", "monotheory.cli", "monotheory.files",
                                    "monotheory.claims.verify", "monotheory.claims.vision", "monotheory.claims.digits",
                                    "monotheory.cli.check", "monotheory.cli.verify", "monotheory.cli.theory"])
def test_light_modules_import_neither_torch_nor_matplotlib(module):
    code = f"import sys, {module}; print(sorted(m for m in ('torch', 'matplotlib') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=ROOT).stdout.strip()
    assert out == "[]"


def test_a_command_whose_extra_is_missing_says_which_in_one_line(monkeypatch, capsys):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a))
    assert cli.main(["toy", "--help"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install 'monotheory[toy]'" in err[0]


def test_a_check_whose_extra_is_missing_is_skipped_with_the_extra_named(tmp_path):
    from monotheory.claims.runner import CheckContext, run_check

    script = tmp_path / "c99_needs_torch.py"
    script.write_text("import not_installed_torch_stand_in\n\ndef run(ctx):\n    pass\n")
    EXTRAS["not_installed_torch_stand_in"] = "toy"
    try:
        (row,) = run_check(script, CheckContext(out_dir=tmp_path))
    finally:
        del EXTRAS["not_installed_torch_stand_in"]
    assert row.verdict == "skipped" and "monotheory[toy]" in row.conditions
