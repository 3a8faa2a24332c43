"""`monotheory verify` treats a results folder as untrusted input (issue 23): no code from the folder, or from a
path it records, ever runs; every file it reads is validated (the damaged-file cases are in the bad-input corpus,
tests/bad_input_cases.py)."""

from __future__ import annotations

import json

from monotheory.cli import main
from monotheory.files import write_manifest

PLANTED = """from pathlib import Path
HERE = Path(__file__).resolve().parent
if (HERE / "ARMED").exists():
    (HERE / "MARKER").write_text("code named by the results folder ran")
from monotheory.claims.verdict import REPRODUCED, Verdict
def run(ctx):
    if (HERE / "ARMED").exists():
        (HERE / "MARKER").write_text("code named by the results folder ran")
    return Verdict("C6", "planted", REPRODUCED, value=1.0)
"""


def _folder(tmp_path, script: str):
    """A check folder made honestly with a C6 script from ``tmp_path/checks`` (recorded in its verdicts.json)."""
    checks = tmp_path / "checks"
    checks.mkdir()
    (checks / "c06_planted.py").write_text(script)
    out = tmp_path / "received"
    assert main(["check", "--checks-dir", str(checks), "--out", str(out)]) == 0
    assert json.loads((out / "verdicts.json").read_text())["meta"]["checks_dir"] == str(checks)
    return checks, out


def test_retrain_never_runs_the_check_script_a_folder_names(tmp_path, capsys):
    """The folder's verdicts.json names a checks folder whose C6 writes a marker when run; its per-check file
    carries a key that matches that script and this library, so a verify that trusted the folder would run it
    (it did before issue 23). verify --retrain C6 runs the installed package's C6 instead, finds no result of it
    in the folder, says so (exit 1), and the marker is never written."""
    checks, out = _folder(tmp_path, PLANTED)
    (checks / "ARMED").write_text("")
    write_manifest(out)
    capsys.readouterr()
    assert main(["verify", str(out), "--retrain", "C6"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert not (checks / "MARKER").exists()
    assert len(err) == 1 and "--retrain C6" in err[0] and "installed package" in err[0], err
    # the planted script is the one that writes the marker: run deliberately, it does (so the test can fail)
    assert main(["verify", str(out), "--retrain", "C6", "--checks-dir", str(checks)]) == 0
    assert (checks / "MARKER").exists()


def test_an_edited_manifest_exclude_cannot_hide_an_added_file(tmp_path, capsys):
    _, out = _folder(tmp_path, PLANTED)
    m = json.loads((out / "manifest.json").read_text())
    (out / "manifest.json").write_text(json.dumps({**m, "exclude": ["extra"]}))
    (out / "extra").mkdir()
    (out / "extra" / "added.txt").write_text("added after the run")
    capsys.readouterr()
    assert main(["verify", str(out)]) == 1
    assert "extra/added.txt: not in manifest.json (added after the run)" in capsys.readouterr().err


def test_checks_dir_and_data_root_need_a_retrain_of_the_right_kind(tmp_path, capsys):
    checks, out = _folder(tmp_path, PLANTED)
    capsys.readouterr()
    assert main(["verify", str(out), "--checks-dir", str(checks)]) == 2
    assert "applies only to --retrain" in capsys.readouterr().err
    assert main(["verify", str(out), "--retrain", "C6", "--data-root", str(tmp_path)]) == 2
    assert "--data-root" in capsys.readouterr().err


def test_the_verifier_excludes_what_run_imagenet_leaves_out_of_its_manifest():
    from monotheory.claims.verify import EXCLUDED
    from monotheory.vision.run import MANIFEST_EXCLUDE

    assert EXCLUDED["run-imagenet"] == MANIFEST_EXCLUDE and EXCLUDED["check"] == ()
