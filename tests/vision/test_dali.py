"""The ``dali`` loader backend: same tensors as the torchvision path on the same images (DALI's CPU pipeline),
and a one-line error without DALI."""

from __future__ import annotations

import pytest
import torch

from monotheory.cli import main as cli_main
from monotheory.vision.dali_loader import dali_available


def test_loader_dali_without_dali_is_one_line_exit_2(tiny_folder, tmp_path, capsys, monkeypatch):
    import monotheory.vision.dali_loader as dl

    monkeypatch.setattr(dl, "dali_available", lambda: False)
    rc = cli_main(["run-imagenet", "--dataset", "folder", "--data-root", str(tiny_folder), "--preset", "smoke",
                   "--device", "cpu", "--loader", "dali", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "nvidia-dali-cuda130" in err[0] and "pip install" in err[0]
    assert not (tmp_path / "o").exists()


def test_loader_tensor_needs_in_memory_images(tiny_folder, tmp_path, capsys):
    rc = cli_main(["run-imagenet", "--dataset", "folder", "--data-root", str(tiny_folder), "--preset", "smoke",
                   "--loader", "tensor", "--out", str(tmp_path / "o")])
    assert rc == 2 and "--loader tensor" in capsys.readouterr().err


def test_gpu_only_option_on_cpu_is_one_line_exit_2(tiny_folder, tmp_path, capsys):
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    rc = cli_main(["run-imagenet", "--dataset", "folder", "--data-root", str(tiny_folder), "--preset", "smoke",
                   "--device", "cuda", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "no CUDA device" in err[0]


@pytest.mark.skipif(not dali_available(), reason="NVIDIA DALI not installed (pip install nvidia-dali-cuda130)")
def test_dali_cpu_pipeline_matches_torchvision_on_the_same_images(tmp_path):
    from monotheory.vision.dali_loader import eval_loader, pretrain_loader
    from monotheory.vision.data import (
        IMAGENET_MEAN,
        IMAGENET_STD,
        ImageFolderDataset,
        eval_transform,
        make_loader,
    )

    from .conftest import make_image_folder

    root = make_image_folder(tmp_path / "f", 3, (5,), size=100, seed=1, split_names=("train",))
    for p in list(root.glob("*/*/*.png")):  # DALI's decoder and PIL read the same JPEG files
        from PIL import Image

        Image.open(p).convert("RGB").save(p.with_suffix(".jpg"), quality=95)
        p.unlink()
    classes = ["c0", "c1", "c2"]
    for crop, resize, tol in ((32, None, 0.02), (80, 92, 0.05)):  # small-image rule; resize + centre crop
        tv = ImageFolderDataset(str(root / "train"), classes, transform=eval_transform(crop, resize=resize))
        files, labels = [p for p, _ in tv.samples], [t for _, t in tv.samples]
        x_tv, y_tv = next(iter(make_loader(tv, len(tv), shuffle=False)))
        dl = eval_loader(files, labels, crop=crop, resize=resize, mean=IMAGENET_MEAN, std=IMAGENET_STD,
                         batch_size=len(files))
        x_d, y_d = next(iter(dl))
        x_d = x_d.cpu()
        assert x_d.shape == x_tv.shape and x_d.dtype == x_tv.dtype == torch.float32
        assert torch.equal(y_d, y_tv.long())
        # same geometry and normalisation: pixels agree up to JPEG-decoder and resampling differences
        # (normalised units; one grey level is ~0.017)
        assert (x_d - x_tv).abs().mean() < tol, (crop, (x_d - x_tv).abs().mean())
    views, y = next(iter(pretrain_loader(files, labels, crop=32, mean=IMAGENET_MEAN, std=IMAGENET_STD, blur=False,
                                         batch_size=5, seed=0)))
    assert views[0].shape == (5, 3, 32, 32) and views[0].dtype == torch.float32 and not torch.equal(*views)
    assert set(y.tolist()) <= {0, 1, 2}
    lo = (0 - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
    hi = (1 - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
    v = views[0].cpu()
    assert (v >= lo.view(1, 3, 1, 1) - 1e-3).all() and (v <= hi.view(1, 3, 1, 1) + 1e-3).all()


@pytest.mark.skipif(not dali_available(), reason="NVIDIA DALI not installed (pip install nvidia-dali-cuda130)")
def test_run_imagenet_pretrains_and_probes_with_the_dali_loader(tiny_folder, tmp_path):
    import json

    out = tmp_path / "dali"
    rc = cli_main(["run-imagenet", "--dataset", "folder", "--data-root", str(tiny_folder), "--out", str(out),
                   "--preset", "smoke", "--device", "cpu", "--loader", "dali", "--stages", "pretrain,sae,probe",
                   "--epochs", "2", "--batch-size", "16", "--sae-epochs", "2", "--probe-epochs", "5",
                   "--probe-noise-rates", "0", "--probe-sigmas", "0", "--methods", "cl,sae", "--num-workers", "1",
                   "--quiet"])
    assert rc == 0
    pre = json.loads((out / "pretrain_cl.json").read_text())
    assert len(pre["history"]) == 2 and pre["history"][-1]["loss"] > 0
    probe = json.loads((out / "probe.json").read_text())
    assert probe["n_test"] == 24 and set(probe["methods"]) == {"cl", "sae", "cl_l2", "sae_random"}
