"""Issue 23's cases of the bad-input corpus (tests/bad_input_cases.py): untrusted input and untrusted folders.

Every case must come out *clear*: refused in one line before anything is written; a damaged results folder named
in one line (exit 1 or 2); a planted check script never run; a degenerate run flagged in its JSON and on stderr; a
plugin that cannot corrupt ``--json``. ``python tests/bad_input_census.py`` counts the same cases (and the rest of
the corpus) per command, passing or not.
"""

from __future__ import annotations

import sys

import bad_input_cases as BC
import pytest
from bad_input_files import make_issue23_data
from test_bad_input import make_data, run_cli, tree


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_data(tmp_path_factory.mktemp("bad_input_data"))


@pytest.fixture(scope="module")
def issue23(tmp_path_factory, data):
    """The files of issue 23's cases (tests/bad_input_cases.py); its encoder module is importable meanwhile, and the
    plugins it loads are unregistered afterwards."""
    from monotheory.theory import registry

    made = make_issue23_data(tmp_path_factory.mktemp("issue23"), data)
    sys.path.insert(0, str(made["mods"]))
    before, loaded = set(sys.modules), dict(registry._LOADED)
    with registry.scoped():
        yield made
    sys.path.remove(str(made["mods"]))
    for name in set(sys.modules) - before:
        if name.startswith("monotheory_plugin_") or name == "monotheory_bad_encoders":
            del sys.modules[name]
    registry._LOADED.clear()
    registry._LOADED.update(loaded)


def test_issue23_cli_cases(data, issue23, tmp_path, capsys, monkeypatch):
    """Issue 23's cases: every one clear (refused in one line before anything is written; a damaged folder named
    in one line, exit 1 or 2; a planted script never run; a degenerate run flagged in its JSON and on stderr; a
    plugin that cannot corrupt --json). All cases run; the failures are listed together."""
    monkeypatch.chdir(tmp_path)
    cases = BC.cli_cases(data, issue23, tmp_path / "out")
    bad = []
    for case in cases:
        if case.absent is not None:
            case.absent.unlink(missing_ok=True)
        before = set(tree(tmp_path))
        exc = None
        try:
            rc, out, err = run_cli(case.argv, capsys)
        except Exception as e:  # noqa: BLE001 - counted as a raw exception
            rc, (out, err), exc = None, capsys.readouterr(), e
        wrote = set(tree(tmp_path)) - before
        outcome, why = BC.classify_cli(case, rc, out, err, exc, wrote)
        if outcome != BC.CLEAR:
            bad.append(f"{outcome}: {case.label} → {why}")
        for p in sorted(wrote, key=len, reverse=True):  # a run that rightly wrote (a warning case): clear it
            q = tmp_path / p
            q.unlink() if q.is_file() else q.rmdir()
    assert not bad, "\n".join(bad)
    assert len(cases) >= 60


def test_issue23_api_cases(data, issue23):
    bad = [f"{o}: {c.group} {c.named!r} → {why}" for c in BC.api_cases(data, issue23)
           for o, why in [BC.run_api(c)] if o != BC.CLEAR]
    assert not bad, "\n".join(bad)


