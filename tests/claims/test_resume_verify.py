"""check resumes, verify re-derives and checks the manifest, temp files and permissions (issue 11)."""

from __future__ import annotations

import json
import os
import stat

import pytest

from monotheory.cli import main

CHECK = """from pathlib import Path
from monotheory.claims.verdict import REPRODUCED, Verdict
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


FIG_CHECK = """from monotheory.claims.verdict import REPRODUCED, Verdict
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


# ------------------------------------------------------------------------------------- kill and Ctrl-C

BLOCKING_CHECK = """import time
from pathlib import Path
from monotheory.claims.verdict import REPRODUCED, Verdict
def run(ctx):
    base = Path(ctx.out_dir).parent
    log = base / "runs.log"
    log.write_text(log.read_text() + "C2\\n" if log.exists() else "C2\\n")
    (base / "c02_started").write_text("")
    t0 = time.monotonic()
    while (base / "block").exists() and time.monotonic() - t0 < 120:  # the test kills the run here
        time.sleep(0.02)
    return Verdict("C2", "dummy", REPRODUCED, value=0.5)
"""


def _kill_checks(tmp_path):
    d = tmp_path / "checks"
    d.mkdir()
    (d / "c01_a.py").write_text(CHECK.format(cid="C1", value=0.25))
    (d / "c02_b.py").write_text(BLOCKING_CHECK)
    return d


def _start(args: list[str], log_dir):
    """``python -m monotheory ARGS`` in a subprocess (this checkout first on the path; SIGINT not ignored)."""
    import signal
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(repo), os.environ.get("PYTHONPATH")) if p)}
    env.pop("MPLBACKEND", None)
    out, err = open(log_dir / "stdout", "w"), open(log_dir / "stderr", "w")
    return subprocess.Popen([sys.executable, "-m", "monotheory", *args], stdout=out, stderr=err, env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _wait_for(cond, proc, log_dir, what: str, deadline_s: float = 120.0):
    """Poll ``cond()`` until true; fail (killing ``proc``) if the process ends first or the deadline passes."""
    import time

    t0 = time.monotonic()
    while not cond():
        if proc.poll() is not None:
            raise AssertionError(f"exited {proc.returncode} before {what}: {(log_dir / 'stderr').read_text()}")
        if time.monotonic() - t0 > deadline_s:  # a safety net against a hung test, not a timing assertion
            proc.kill()
            raise AssertionError(f"no {what} after {deadline_s:.0f} s: {(log_dir / 'stderr').read_text()}")
        time.sleep(0.02)


def _check_in_flight(tmp_path, base, d=None, only="C1,C2", first="c01_a", extra=()):
    """Start `check` over a fast check (C1) and a blocking one (which waits while base/block exists); return once
    the first is saved and the blocking one runs."""
    d = d or _kill_checks(tmp_path)
    base.mkdir()
    (base / "block").write_text("")
    out = base / "r"
    proc = _start(["check", "--checks-dir", str(d), "--out", str(out), "--only", only, *extra], base)
    _wait_for(lambda: (out / "checks" / f"{first}.json").is_file() and (base / "c02_started").is_file(), proc,
              base, "the first check's file")
    return d, out, proc


def test_check_killed_after_the_first_check_resumes_without_recomputing_it(tmp_path, capsys):
    """kill -9 while C2 runs; the rerun reuses C1 (file untouched, a 'reused' line) and ends with the verdicts of
    an uninterrupted run; no temporary file remains; verify passes."""
    import signal

    d, out, proc = _check_in_flight(tmp_path, tmp_path / "killed")
    part = out / "checks" / "c01_a.json"
    before = (part.read_bytes(), part.stat().st_mtime_ns)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=60) == -signal.SIGKILL
    assert not (out / "checks" / "c02_b.json").exists()
    assert [v["claim_id"] for v in json.loads((out / "verdicts.json").read_text())["verdicts"]] == ["C1"]
    (out.parent / "block").unlink()
    capsys.readouterr()
    assert main(["check", "--checks-dir", str(d), "--out", str(out), "--only", "C1,C2"]) == 0
    printed = capsys.readouterr().out
    assert "c01_a.py: reused the finished result" in printed and "c02_b.py: reused" not in printed
    assert (part.read_bytes(), part.stat().st_mtime_ns) == before
    assert (out.parent / "runs.log").read_text().split() == ["C1", "C2", "C2"]  # C1 once, C2 again
    ref = tmp_path / "whole" / "r"
    ref.parent.mkdir()
    assert main(["check", "--checks-dir", str(d), "--out", str(ref), "--only", "C1,C2"]) == 0
    assert (out / "verdicts.json").read_text() == (ref / "verdicts.json").read_text()
    assert (out / "verdicts.md").read_text() == (ref / "verdicts.md").read_text()
    assert not list(out.rglob("*.tmp"))
    assert main(["verify", str(out)]) == 0


def test_check_ctrl_c_exits_130_and_keeps_the_finished_check(tmp_path, capsys):
    """SIGINT while C2 runs: exit 130, one line on stderr, C1's file and the verdict table of C1 kept."""
    import signal

    d, out, proc = _check_in_flight(tmp_path, tmp_path / "int")
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 130
    err = (out.parent / "stderr").read_text()
    assert "Traceback" not in err and err.strip().splitlines()[-1] == (
        "monotheory check: interrupted; finished results are kept")
    assert (out / "checks" / "c01_a.json").is_file() and not (out / "checks" / "c02_b.json").exists()
    assert [v["claim_id"] for v in json.loads((out / "verdicts.json").read_text())["verdicts"]] == ["C1"]
    assert not list(out.rglob("*.tmp"))
    (out.parent / "block").unlink()
    assert main(["check", "--checks-dir", str(d), "--out", str(out), "--only", "C1,C2"]) == 0
    assert "c01_a.py: reused" in capsys.readouterr().out


def test_a_long_toy_run_announces_itself_and_ctrl_c_exits_130(tmp_path):
    """`toy --steps 10**8` with stderr in a file: the estimate line, a progress line, then SIGINT → exit 130 with
    one line and no traceback; a toy run saves nothing before its end (its instances train together), so the
    output folder holds no file, temporary or not."""
    import signal

    out = tmp_path / "toy"
    proc = _start(["toy", "--steps", "100000000", "--out", str(out)], tmp_path)
    err = tmp_path / "stderr"
    _wait_for(lambda: "/100000000" in err.read_text(), proc, tmp_path, "a progress line")
    lines = err.read_text().splitlines()
    assert lines[0].startswith("monotheory toy: --steps 1e+08 is 1e+05× the default (1000); estimated time ≈")
    proc.send_signal(signal.SIGINT)
    try:
        assert proc.wait(timeout=60) == 130
    finally:  # a run that did not stop must not train on (10^8 steps) after the test
        if proc.poll() is None:
            proc.kill()
    text = err.read_text()
    assert "Traceback" not in text and text.rstrip().splitlines()[-1].endswith(
        "monotheory toy: interrupted; finished results are kept")
    assert not out.exists() or not [p for p in out.rglob("*") if p.is_file()]


@pytest.mark.slow  # 30 s on a fresh clone (cold Numba cache); the behaviour is covered fast by
# test_check_killed_after_the_first_check_resumes_without_recomputing_it (synthetic checks)
def test_real_checks_killed_and_resumed_equal_an_uninterrupted_run(tmp_path, capsys):
    """The same with the claim checks C7 and C8 (--quick, ~2 s): killed while a third (blocking) check runs, the
    rerun reuses both and its verdicts.json/.md (figures included) equal those of a run never killed."""
    import shutil
    import signal
    from pathlib import Path

    src = Path(__file__).resolve().parents[2] / "paper_checks"
    d = tmp_path / "checks"
    d.mkdir()
    for name in ("c07_label_noise_crossover.py", "c08_input_noise.py"):
        shutil.copy(src / name, d / name)
    (d / "c99_block.py").write_text(BLOCKING_CHECK)
    args = ["--checks-dir", str(d), "--only", "C7,C8,C99", "--quick"]
    _, out, proc = _check_in_flight(tmp_path, tmp_path / "killed", d, "C7,C8,C99", "c08_input_noise",
                                    ["--quick"])
    parts = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in (out / "checks").glob("c0*.json")}
    assert sorted(parts) == ["c07_label_noise_crossover.json", "c08_input_noise.json"]
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    (out.parent / "block").unlink()
    capsys.readouterr()
    assert main(["check", *args, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.count(": reused the finished result") == 2 and "c99_block.py: reused" not in printed
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in (out / "checks").glob("c0*.json")} == parts
    ref = tmp_path / "whole" / "r"
    ref.parent.mkdir()
    assert main(["check", *args, "--out", str(ref)]) == 0
    assert (out / "verdicts.json").read_text() == (ref / "verdicts.json").read_text()
    assert (out / "verdicts.md").read_text() == (ref / "verdicts.md").read_text()
    assert "](figures/c07_separability_vs_eta.png)" in (out / "verdicts.md").read_text()
    assert main(["verify", str(out)]) == 0
    # issue 11's acceptance: after editing one number of a per-check file, verify exits 1 naming it
    import re

    part = out / "checks" / "c08_input_noise.json"
    text = part.read_text()
    m = re.search(r'"value": (-?[0-9.e+-]+)', text)
    part.write_text(text[:m.start(1)] + repr(float(m.group(1)) + 1) + text[m.end(1):])
    capsys.readouterr()
    assert main(["verify", str(out)]) == 1
    err = capsys.readouterr().err
    assert "checks/c08_input_noise.json: verdicts[0]" in err and ".value = " in err and err.count("\n") == 1, err
