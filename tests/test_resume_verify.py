"""check resumes, verify re-derives and checks the manifest, temp files and permissions (issue 11)."""

from __future__ import annotations

import json
import os
import stat

from monotheory.cli import main

CHECK = """from pathlib import Path
from monotheory.report import Verdict, REPRODUCED
def run(ctx):
    log = Path(ctx.out_dir).parent / "runs.log"
    log.write_text(log.read_text() + "{cid}\\n" if log.exists() else "{cid}\\n")
    return Verdict("{cid}", "dummy", REPRODUCED, value={value})
"""


def _checks(tmp_path):
    d = tmp_path / "checks"
    d.mkdir()
    (d / "c01_a.py").write_text(CHECK.format(cid="C1", value=0.25))
    (d / "c02_b.py").write_text(CHECK.format(cid="C2", value=0.5))
    return d


def test_rerun_reuses_finished_checks_and_verify_detects_edits(tmp_path, capsys):
    d, out = _checks(tmp_path), tmp_path / "r"
    old = os.umask(0o022)
    try:
        assert main(["check", "--checks-dir", str(d), "--out", str(out)]) == 0
        assert main(["check", "--checks-dir", str(d), "--out", str(out)]) == 0
    finally:
        os.umask(old)
    assert (tmp_path / "runs.log").read_text().split() == ["C1", "C2"]  # the rerun recomputed nothing
    assert not list(out.rglob("*.tmp"))
    for p in out.rglob("*.json"):
        assert stat.S_IMODE(p.stat().st_mode) == 0o644, p
    capsys.readouterr()
    assert main(["verify", str(out)]) == 0
    part = out / "checks" / "c02_b.json"
    part.write_text(part.read_text().replace("0.5", "0.6"))
    assert main(["verify", str(out)]) == 1
    err = capsys.readouterr().err
    assert "c02_b.json" in err and "0.6" in err
    part.unlink()
    assert main(["verify", str(out)]) == 1
    assert "c02_b.json" in capsys.readouterr().err


def test_force_reruns_and_stale_temp_files_are_removed(tmp_path):
    d, out = _checks(tmp_path), tmp_path / "r"
    (out / "checks").mkdir(parents=True)
    stale = out / "checks" / ".c01_a.json.abc123.tmp"
    stale.write_text("half")
    assert main(["check", "--checks-dir", str(d), "--out", str(out), "--only", "C1"]) == 0
    assert not stale.exists()
    assert main(["check", "--checks-dir", str(d), "--out", str(out), "--only", "C1", "--force"]) == 0
    assert (tmp_path / "runs.log").read_text().split() == ["C1", "C1"]
    assert json.loads((out / "verdicts.json").read_text())["meta"]["checks"] == ["checks/c01_a.json"]


FIG_CHECK = """from monotheory.report import Verdict, REPRODUCED
def run(ctx):
    p = ctx.figures_dir / "f.png"
    p.write_bytes(b"png")
    return Verdict("C1", "figure", REPRODUCED, value=1.0, figures=[str(p)])
"""


def test_figure_paths_do_not_depend_on_the_working_folder(tmp_path, monkeypatch, capsys):
    """`check --out res` run in one folder (so the check names its figure `res/figures/f.png`), verified from
    another folder and after moving the results: no false mismatch; the figure is stored relative to the folder."""
    import shutil

    d = tmp_path / "checks"
    d.mkdir()
    (d / "c01_fig.py").write_text(FIG_CHECK)
    work, elsewhere = tmp_path / "work", tmp_path / "elsewhere"
    work.mkdir()
    elsewhere.mkdir()
    monkeypatch.chdir(work)
    assert main(["check", "--checks-dir", str(d), "--out", "res"]) == 0
    part = json.loads((work / "res" / "checks" / "c01_fig.json").read_text())
    assert part["verdicts"][0]["figures"] == ["figures/f.png"]
    assert "](figures/f.png)" in (work / "res" / "verdicts.md").read_text()
    monkeypatch.chdir(elsewhere)
    capsys.readouterr()
    assert main(["verify", str(work / "res")]) == 0, capsys.readouterr()
    shutil.copytree(work / "res", elsewhere / "moved")
    assert main(["verify", "moved"]) == 0, capsys.readouterr()
