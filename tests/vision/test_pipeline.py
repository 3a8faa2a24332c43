"""End to end: `monotheory run-imagenet` on a tiny generated ImageFolder — every stage, resume, config
changes, DDP under torchrun (gloo, CPU), and one-line errors for bad input."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from monotheory.cli import main as cli_main

REPO = Path(__file__).resolve().parents[2]
STAGES = "pretrain,sae,probe,finetune,shift"


def tiny_args(root: Path, out: Path, shift_root: Path | None = None, stages: str = STAGES) -> list[str]:
    """The smoke preset shrunk further: 2 pretraining epochs, 5 SAE epochs, 1 fine-tuning epoch."""
    args = ["run-imagenet", "--dataset", "folder", "--data-root", str(root), "--out", str(out), "--preset", "smoke",
            "--device", "cpu", "--stages", stages, "--epochs", "2", "--batch-size", "16", "--sae-epochs", "5",
            "--probe-epochs", "10", "--ft-epochs", "1", "--ft-fractions", "0.5,1", "--shift-corruptions",
            "gaussian_noise", "--shift-severities", "3", "--quiet",
            # 4 classes: flip rates must stay below 3/4 (issue 11), so 0.7 replaces the preset's 0.9
            "--probe-noise-rates", "0,0.3,0.6,0.7", "--ft-noise-rates", "0.7",
            "--probe-uniform-noise", "0,0.3"]  # the authors' X + a·U[0, 1) beside the Gaussian σ's
    if shift_root is not None:
        args += ["--shift", f"sketchy={shift_root}"]
    return args


def _run(args: list[str]) -> int:
    try:
        return cli_main(args)
    except SystemExit as e:
        return e.code


@pytest.fixture(scope="module")
def shift_root(tmp_path_factory, tiny_folder):
    from .conftest import make_image_folder

    return make_image_folder(tmp_path_factory.mktemp("shift"), 4, 3, size=32, seed=5, split_names=("val",))


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, tiny_folder, shift_root):
    out = tmp_path_factory.mktemp("run") / "out"
    assert _run(tiny_args(tiny_folder, out, shift_root)) == 0
    return out


def load(out: Path, name: str) -> dict:
    return json.loads((out / f"{name}.json").read_text())


def test_every_stage_writes_sane_results(tiny_run):
    for name in ("config", "pretrain_cl", "pretrain_ncl", "sae", "probe", "finetune", "shift", "summary"):
        assert (tiny_run / f"{name}.json").exists(), name
    for f in ("summary.md", "summary.png", "noise_curves.png", "noise_curves.json", "finetune_curves.png",
              "finetune_curves.json", "probe_correct.npz", "checkpoints/encoder_cl.pt", "checkpoints/sae.pt"):
        assert (tiny_run / f).exists(), f
    probe = load(tiny_run, "probe")
    assert set(probe["methods"]) == {"cl", "sae", "ncl", "cl_l2", "sae_random"} and probe["num_classes"] == 4
    assert {m: d["regime"] for m, d in probe["methods"].items()} == {"cl": "poly", "sae": "mono", "ncl": "mono",
                                                                     "cl_l2": "poly", "sae_random": "mono"}
    for name in ("pretrain_cl", "pretrain_ncl", "sae", "probe", "finetune", "shift"):  # the vocabulary in every file
        assert load(tiny_run, name)["regimes"] == {"cl": "poly", "sae": "mono", "ncl": "mono"}, name
    assert {r["head"]: r["regime"] for r in load(tiny_run, "finetune")["runs"]} == {"ce": "poly", "nce": "mono"}
    for m, d in probe["methods"].items():
        rows = {r["noise_rate"]: r for r in d["rows"]}
        assert set(rows) == {0.0, 0.3, 0.6, 0.7}
        for r in rows.values():
            assert set(r["test_acc"]) == {"0", "0.2", "0.6"} and set(r["test_acc_uniform"]) == {"0.3"}
            assert all(0 <= a <= 1 for a in [*r["test_acc"].values(), *r["test_acc_uniform"].values()])
        assert rows[0.0]["test_acc"]["0"] > 0.25, m  # chance is 1/4
        assert rows[0.7]["train_acc_clean"] < rows[0.0]["train_acc_clean"], m  # noisy labels pull the fit away
        assert rows[0.7]["realised_rate"] == pytest.approx(0.7, abs=1 / 48)
        assert 0 <= d["stats"]["monosemanticity"] <= 1 and 0 <= d["stats"]["sparsity"] <= 1
    assert probe["methods"]["ncl"]["stats"]["sparsity"] > probe["methods"]["cl"]["stats"]["sparsity"]
    # uniform-noise features are cached apart from the Gaussian ones (noise kind in the name and the key)
    assert list((tiny_run / "features").glob("cl_val_u0.3_*.pt")) and list((tiny_run / "features").glob("cl_val_s0.2_*.pt"))
    sae = load(tiny_run, "sae")
    assert 0 <= sae["dead_latents"] <= 128 and sae["loss"][-1] < sae["loss"][0]
    # the strong baselines (issue 22): cl_l2's penalty chosen per rate on the noisy labels, the untrained SAE's size
    grid = probe["config"]["l2_grid"]
    for r in probe["methods"]["cl_l2"]["rows"]:
        sel = r["l2"]
        assert sel["chosen"] in grid and len(sel["holdout_score"]) == len(grid) and sel["split"]["n_holdout"] == 10
        assert sel["split"]["n_fit"] + sel["split"]["n_holdout"] == 48 and "noisy" in sel["labels"]
    rnd = probe["methods"]["sae_random"]["sae"]
    assert rnd["n_latents"] == sae["n_latents"] == 128 and rnd["normalized_mse"] > sae["normalized_mse"]
    assert probe["baselines"] == ["cl_l2", "sae_random"]
    # Figure 4 at the grid's highest informative rate (0.7 with 4 classes), its PNG with its data beside it
    assert probe["figure4"]["rate"] == 0.7 and set(probe["figure4"]["sets"]) == set(probe["methods"])
    f4 = json.loads((tiny_run / "figure4.json").read_text())
    assert (tiny_run / "figure4.png").stat().st_size > 0 and f4["sets"]["cl"]["n_test"] == 24
    assert (tiny_run / "probe_figure4.npz").exists() and "Figure 4" in (tiny_run / "summary.md").read_text()
    ft = load(tiny_run, "finetune")
    assert {(r["head"], r["few_shot_fraction"], r["noise_rate"]) for r in ft["runs"]} == {
        (h, f, n) for h in ("ce", "nce") for f, n in ((0.5, 0.0), (1.0, 0.0), (1.0, 0.7))}
    assert all(0 <= h[k] <= 1 for r in ft["runs"] for h in r["history"] for k in ("train_acc", "val_acc"))
    shift = load(tiny_run, "shift")["sets"]
    assert set(shift) == {"sketchy", "gaussian_noise-3"} and shift["sketchy"]["n"] == 12
    summary = load(tiny_run, "summary")
    assert [r["row"] for r in summary["rows"]] == ["clean", "label_noise", "input_noise"]
    assert "label noise 70%" in (tiny_run / "summary.md").read_text()


def test_rerun_redoes_nothing_and_other_config_is_refused(tiny_run, tiny_folder, shift_root, capsys):
    stamps = {p.name: p.stat().st_mtime_ns for p in tiny_run.glob("*.json") if p.stem not in ("summary", "config", "manifest", "noise_curves", "finetune_curves", "figure4")}
    assert _run(tiny_args(tiny_folder, tiny_run, shift_root)) == 0
    assert stamps == {n: (tiny_run / n).stat().st_mtime_ns for n in stamps}
    capsys.readouterr()
    assert _run(tiny_args(tiny_folder, tiny_run, shift_root) + ["--sae-k", "8"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "sae.k" in err


def test_interrupted_run_resumes_to_the_same_numbers(tmp_path, tiny_run, tiny_folder, shift_root):
    out = tmp_path / "out"
    assert _run(tiny_args(tiny_folder, out, shift_root, stages="pretrain")) == 0
    assert not (out / "probe.json").exists()
    first = {n: (out / n).stat().st_mtime_ns for n in ("pretrain_cl.json", "checkpoints/encoder_cl.pt")}
    assert _run(tiny_args(tiny_folder, out, shift_root)) == 0
    assert first == {n: (out / n).stat().st_mtime_ns for n in first}
    for name in ("probe", "sae", "finetune", "shift"):
        a, b = load(out, name), load(tiny_run, name)
        a.pop("run_config"), b.pop("run_config")
        assert a == b, name  # same seed ⇒ identical numbers on CPU


def test_force_redoes_finetuning_from_scratch(tmp_path, tiny_run, tiny_folder, shift_root):
    """--force must not resume a finished fine-tuning checkpoint: the runs are trained again."""
    import shutil

    out = shutil.copytree(tiny_run, tmp_path / "out")
    ckpts = {p.name: p.stat().st_mtime_ns for p in (out / "checkpoints").glob("finetune_*.pt")}
    assert len(ckpts) == 6
    assert _run(tiny_args(tiny_folder, out, shift_root, stages="finetune") + ["--force"]) == 0
    assert all((out / "checkpoints" / n).stat().st_mtime_ns != t for n, t in ckpts.items())


def test_force_pretrain_invalidates_the_later_stages(tmp_path, tiny_run, tiny_folder, shift_root):
    import shutil

    out = shutil.copytree(tiny_run, tmp_path / "out")
    args = tiny_args(tiny_folder, out, shift_root, stages="pretrain") + ["--force", "--epochs", "1"]
    assert _run(args) == 0
    assert len(load(out, "pretrain_cl")["history"]) == 1
    for stale in ("sae.json", "probe.json", "probe_correct.npz", "finetune.json", "finetune", "shift.json",
                  "features", "checkpoints/sae.pt", "checkpoints/probe_cl.pt"):
        assert not (out / stale).exists(), stale


@pytest.mark.parametrize("extra, needle", [
    (["--data-root", "/nonexistent"], "/nonexistent"),
    (["--methods", "cl,foo"], "foo"),
    (["--stages", "pretrain,bake"], "bake"),
    (["--preset", "huge"], "huge"),
    (["--shift", "nameonly"], "NAME=DIR"),
    (["--probe-noise-rates", "0,1.5"], "1.5"),
    (["--ft-noise-rates", "-0.1"], "-0.1"),
    (["--dataset", "mnist"], "mnist"),
])
def test_bad_input_is_one_line_and_exit_2(extra, needle, tiny_folder, tmp_path, capsys):
    args = ["run-imagenet", "--dataset", "folder", "--data-root", str(tiny_folder), "--out", str(tmp_path / "o"),
            "--preset", "smoke", "--device", "cpu", *extra]
    assert _run(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err, err
    assert not (tmp_path / "o" / "pretrain_cl.json").exists()


def test_ddp_two_processes_gloo(tmp_path, tiny_folder):
    out = tmp_path / "ddp"
    args = tiny_args(tiny_folder, out, stages="pretrain,sae,probe")[1:] + ["--methods", "cl,ncl"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    with socket.socket() as s:  # a free port for the rendezvous (port 0 is not accepted by torchrun)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
                           f"--master_port={port}",
                           "-m", "monotheory", "run-imagenet", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    pre = load(out, "pretrain_cl")
    assert pre["world_size"] == 2 and len(pre["history"]) == 2
    probe = load(out, "probe")
    assert set(probe["methods"]) == {"cl", "ncl", "cl_l2"}  # sae_random only beside an sae method
    assert (out / "summary.md").exists()


def test_verify_retrain_reproduces_a_stage_and_names_a_tampered_output(tiny_run, tmp_path, capsys):
    """`monotheory verify DIR --retrain sae`: the SAE stage rerun from the saved encoder and seed gives the same
    files bit for bit on CPU (exit 0); after one weight of checkpoints/sae.pt is changed, exit 1 naming it."""
    import shutil

    import torch

    assert _run(["verify", str(tiny_run), "--retrain", "sae"]) == 0
    assert "sae reproduces" in capsys.readouterr().out
    copy = tmp_path / "copy"
    shutil.copytree(tiny_run, copy)
    state = torch.load(copy / "checkpoints" / "sae.pt", weights_only=True)
    state["state_dict"]["pre_bias"][0] += 1e-3
    torch.save(state, copy / "checkpoints" / "sae.pt")
    assert _run(["verify", str(copy), "--retrain", "sae"]) == 1
    out = capsys.readouterr().out
    assert "--retrain sae does not reproduce bit-identically: checkpoints/sae.pt: tensor state_dict.pre_bias" in out


def test_verify_retrain_probe_stage_and_bad_stage(tiny_run, capsys):
    assert _run(["verify", str(tiny_run), "--retrain", "probe"]) == 0
    capsys.readouterr()
    assert _run(["verify", str(tiny_run), "--retrain", "train"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'train'" in err[0] and "pretrain, sae, probe, finetune, shift" in err[0]
