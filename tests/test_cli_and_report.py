import json

import pytest

from monotheory.claims.runner import CheckContext, run_checks
from monotheory.claims.verdict import NOT_REPRODUCED, REPRODUCED, Verdict, verdicts_markdown, write_verdicts
from monotheory.files import atomic_write_json, to_jsonable


def test_top_level_help_and_unknown_option(cli):
    rc, out, _ = cli("--help")
    assert rc == 0 and "theory" in out and "run-imagenet" in out
    rc, _, err = cli("check", "--no-such-option")
    assert rc == 2 and err.count("\n") == 1 and "unrecognized arguments" in err


def test_check_with_missing_folder_is_one_line(cli, tmp_path):
    rc, _, err = cli("check", "--checks-dir", str(tmp_path / "nope"), "--out", str(tmp_path))
    assert rc == 2
    assert err.strip().count("\n") == 0 and "does not exist" in err and "Traceback" not in err


def test_runner_records_errors_and_writes_table(tmp_path):
    d = tmp_path / "checks"
    d.mkdir()
    (d / "c01_good.py").write_text(
        "from monotheory.claims.verdict import Verdict\n"
        "def run(ctx):\n    return Verdict('C1', 'a claim', 'reproduced', value=1.0, interval=(0.5, 1.5))\n")
    (d / "c02_broken.py").write_text("def run(ctx):\n    raise RuntimeError('boom')\n")
    verdicts = run_checks(d, CheckContext(out_dir=tmp_path / "out"), echo=lambda *_: None)
    assert [v.verdict for v in verdicts] == ["reproduced", "error"]
    assert "boom" in verdicts[1].measured
    assert json.loads((tmp_path / "out" / "checks" / "c01_good.json").read_text())["verdicts"][0]["value"] == 1.0


def test_verdict_rejects_unknown_status():
    with pytest.raises(ValueError, match="unknown"):
        Verdict("C1", "x", "maybe")


def test_markdown_and_json(tmp_path):
    vs = [Verdict("C6", "poly more separable", REPRODUCED, measured="J_poly/J_mono", value=2.0,
                  interval=(1.9, 2.1), conditions="S=0.2"),
          Verdict("C7", "crossover", NOT_REPRODUCED, label="fisher", conditions="a | b")]
    md = verdicts_markdown(vs)
    assert "| C7 (fisher) | **not reproduced** |" in md and "a \\| b" in md
    j, m = write_verdicts(vs, tmp_path)
    data = json.loads(j.read_text())
    assert data["verdicts"][0]["interval"] == [1.9, 2.1]
    assert m.read_text() == md


def test_to_jsonable_handles_numpy_and_nan(tmp_path):
    import numpy as np

    obj = {"a": np.float64(1.5), "b": np.arange(3), "c": float("nan"), "d": (1, 2)}
    assert to_jsonable(obj) == {"a": 1.5, "b": [0, 1, 2], "c": None, "d": [1, 2]}
    p = atomic_write_json(tmp_path / "x.json", obj)
    assert json.loads(p.read_text())["b"] == [0, 1, 2]
    assert not list(tmp_path.glob(".*.tmp"))


def test_markdown_links_each_figure_once_relative_to_the_file(tmp_path):
    fig = tmp_path / "figures" / "f.png"
    vs = [Verdict("C5", "toy", REPRODUCED, label=str(i), figures=[str(fig)]) for i in range(3)]
    _, m = write_verdicts(vs, tmp_path)
    text = m.read_text()
    assert text.count("](figures/f.png)") == 1
    assert str(tmp_path) not in text


def test_check_rejects_a_negative_seed_in_one_line(cli):
    rc, out, err = cli("check", "--seed", "-1")
    assert rc == 2 and err.count("\n") == 1 and "seed" in err


def test_claim_id_of_a_script():
    from pathlib import Path

    from monotheory.claims.runner import claim_id

    assert claim_id(Path("c06_poly.py")) == "C6" and claim_id(Path("c11_x.py")) == "C11"


# ------------------------------------------------------------------------- long runs announce themselves


def test_announce_is_one_line_beyond_the_factor_and_silent_within():
    import io

    from monotheory import progress

    s = io.StringIO()
    assert not progress.announce("theory", "--samples", 5e6, 1e6, 0.05, stream=s) and s.getvalue() == ""
    assert progress.announce("theory", "--samples", 1e12, 1e6, 0.05, stream=s)
    lines = s.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("monotheory theory: --samples 1e+12 is 1e+06× the default (1e+06)")
    assert "estimated time ≈ 13.9 h" in lines[0] and "progress on stderr every 25 s" in lines[0]


def test_progress_settings_give_a_line_at_least_every_30_s_in_a_log():
    import io

    from monotheory import progress

    log = io.StringIO()  # not a terminal
    kw = progress.tqdm_kwargs(log)
    assert kw["file"] is log and kw["mininterval"] <= 30 and kw["maxinterval"] <= 30 and kw["ascii"]

    class Tty(io.StringIO):
        def isatty(self):
            return True

    assert "mininterval" not in progress.tqdm_kwargs(Tty())  # a terminal keeps tqdm's live bar


def _progress_lines(text: str, desc: str) -> int:
    return sum(desc in part for part in text.replace("\r", "\n").splitlines())


def test_long_theory_and_toy_runs_write_progress_lines_into_a_log(capsys, monkeypatch):
    """With stderr a file (capsys) and the interval at 0 s (instead of 25 s), the Monte Carlo and the toy training
    bars write a line per update: the lines come from tqdm with progress.tqdm_kwargs, whatever the interval."""
    from monotheory import progress
    from monotheory.theory import monte_carlo
    from monotheory.toy import ToyConfig
    from monotheory.toy.model import ToyModel
    from monotheory.toy.sampler import FeatureSampler
    from monotheory.toy.train import TrainConfig, train

    monkeypatch.setattr(progress, "NON_TTY_INTERVAL", 0.0)
    capsys.readouterr()
    monte_carlo(0.2, 1_000_000, 0, chunk=10_000, progress=True)  # updates per group of ~2^17 rows: 8 here
    assert _progress_lines(capsys.readouterr().err, "monte carlo") >= 5
    cfg = ToyConfig(n=4, m=2, regimes=("poly",), noise_rate=0.0)
    train(ToyModel(cfg, ["poly"], [0]), FeatureSampler(4, [0], [0.5]), TrainConfig(steps=10, batch_size=8),
          progress=True)
    assert _progress_lines(capsys.readouterr().err, "toy training") >= 5


def test_run_imagenet_far_beyond_the_default_epochs_announces_itself(cli, tmp_path, monkeypatch):
    """--epochs 10**9 on the smoke preset: one line naming the factor before the run (stubbed here), which is
    then interrupted: exit 130 with one more line."""
    import numpy as np
    from PIL import Image

    import monotheory.vision.run as vrun

    for split in ("train", "val"):
        for c in range(2):
            (tmp_path / "d" / split / f"c{c}").mkdir(parents=True)
            Image.fromarray(np.full((8, 8, 3), 50 * c, np.uint8)).save(tmp_path / "d" / split / f"c{c}" / "0.png")

    def interrupted(cfg, *a, **k):
        assert cfg.progress is True  # progress lines in a log, too
        raise KeyboardInterrupt

    monkeypatch.setattr(vrun, "run", interrupted)
    rc, _, err = cli("run-imagenet", "--dataset", "folder", "--data-root", str(tmp_path / "d"), "--preset", "smoke",
                     "--out", str(tmp_path / "o"), "--epochs", "1000000000", "--probe-noise-rates", "0,0.3",
                     "--ft-noise-rates", "0.3", "--device", "cpu")
    lines = err.splitlines()
    assert rc == 130 and len(lines) == 2 and "Traceback" not in err
    assert lines[0].startswith("monotheory run-imagenet: --epochs 1e+09 is ") and "the default" in lines[0]
    assert lines[1] == "monotheory run-imagenet: interrupted; finished results are kept"
