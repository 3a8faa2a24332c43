"""Every stage on every rank: ``torchrun --nproc_per_node=2`` (gloo, CPU) through pretraining, the SAE, probes and
fine-tuning; the shard arithmetic."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import torch

from monotheory.vision.distributed import shard_bounds

REPO = Path(__file__).resolve().parents[2]


def test_shard_bounds_cover_every_batch_once():
    for n in (0, 1, 5, 12):
        for world in (1, 2, 3, 7):
            blocks = [shard_bounds(n, SimpleNamespace(rank=r, world_size=world)) for r in range(world)]
            assert blocks[0][0] == 0 and blocks[-1][1] == n
            assert all(a[1] == b[0] for a, b in zip(blocks, blocks[1:], strict=False))
            assert max(hi - lo for lo, hi in blocks) - min(hi - lo for lo, hi in blocks) <= 1


def test_torchrun_two_ranks_run_the_sae_and_finetuning_on_both(tiny_folder, tmp_path):
    """In the default suite (about 15 s): only a real two-process run shows a collective that one rank enters
    alone (a probe-stage deadlock of this kind was merged once and caught here); the timeout turns a hang into a
    failure."""
    from monotheory.vision import context
    from monotheory.vision.presets import build_config

    out = tmp_path / "ddp"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = ["--dataset", "folder", "--data-root", str(tiny_folder), "--out", str(out), "--preset", "smoke",
            "--device", "cpu", "--loader", "gpu", "--quiet", "--num-workers", "0", "--threads", "1", "--epochs", "2",
            "--batch-size", "4", "--sae-epochs", "3", "--sae-batch-size", "4", "--probe-epochs", "3",
            "--probe-noise-rates", "0,0.3", "--probe-sigmas", "0,0.6", "--probe-extract-batch-size", "5", "--ft-noise-rates", "0.3", "--ft-fractions",
            "0.5,1", "--ft-epochs", "1", "--stages", "pretrain,sae,probe,finetune"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
                           f"--master_port={port}", "-m", "monotheory", "run-imagenet", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "batch 4 per process × 2 process(es) = 8 global" in proc.stderr
    sae, ft = (json.loads((out / f"{n}.json").read_text()) for n in ("sae", "finetune"))
    assert sae["world_size"] == 2 and sae["global_batch_size"] == 8 and ft["world_size"] == 2
    assert sorted({r["rank"] for r in ft["runs"]}) == [0, 1] and len(ft["runs"]) == 6  # runs on both ranks
    assert json.loads((out / "probe.json").read_text())["world_size"] == 2
    assert not list((out / "features").glob(".*part*"))  # the ranks' parts were joined and removed
    # the sharded features (24 images in 5 batches of 5: 2 on rank 0, 3 on rank 1; input noise seeded by the
    # global batch index) are one process's
    cached = next((out / "features").glob("cl_val_s0.6_*.pt"))
    single = tmp_path / "single"
    (single / "checkpoints").mkdir(parents=True)
    shutil.copy(out / "checkpoints" / "encoder_cl.pt", single / "checkpoints" / "encoder_cl.pt")
    (single / "pretrain_cl.json").write_text("{}")
    cfg = build_config("smoke", "folder", {"data_root": str(tiny_folder), "out": str(single), "device": "cpu",
                                           "loader": "gpu", "num_workers": 0}, {"probe": {"sigmas": (0.0, 0.6), "extract_batch_size": 5}})
    x, y = context.RunContext(cfg).features("cl", "val", 0.6)
    d = torch.load(cached, weights_only=True)
    assert torch.equal(d["targets"], y) and torch.allclose(d["features"], x, atol=1e-5)
