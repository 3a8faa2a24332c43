"""The ``gpu`` / ``tensor`` loaders on CPU tensors: seeds, workers, resume, bad files, the auto rule, the time
estimate, and ``run-imagenet --loader gpu --device cpu`` through every stage."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from monotheory.errors import ConfigError
from monotheory.vision import data as D
from monotheory.vision.eta import Eta, estimate_hours, plan_units
from monotheory.vision.loaders import GpuImages, gpu_sets, resolve_loader, scan_files


def to_jpeg(root):
    """Convert every PNG under ``root`` to a JPEG (the gpu loader's batched decode path)."""
    from PIL import Image

    for p in list(root.rglob("*.png")):
        Image.open(p).convert("RGB").save(p.with_suffix(".jpg"), quality=92)
        p.unlink()
    return root


@pytest.fixture(scope="module")
def jpeg_folder(tmp_path_factory):
    from .conftest import make_image_folder

    return to_jpeg(make_image_folder(tmp_path_factory.mktemp("jpegs"), 3, (8, 3), size=40, seed=2))


def sets(root, workers=0, skip_bad=False, crop=32):
    cfg = SimpleNamespace(crop_size=crop, eval_resize=0, blur=True, num_workers=workers, skip_bad_images=skip_bad)
    tr, va, _ = D.load_datasets("folder", root, skip_bad_images=skip_bad)
    return gpu_sets(tr, va, cfg, D.IMAGENET_MEAN, D.IMAGENET_STD, "cpu")


def epoch(loader, e, start=0):
    loader.set_epoch(e, start)
    return [(x, y) for x, y in loader]


def same(a, b):
    return len(a) == len(b) and all(torch.equal(ya, yb) and all(torch.allclose(u, v, atol=1e-6) for u, v in
                                                                    zip(xa, xb, strict=True))
                                    for (xa, ya), (xb, yb) in zip(a, b, strict=True))


def test_same_seed_same_batches_any_workers_and_other_seeds_differ(jpeg_folder):
    a = epoch(sets(jpeg_folder)["gpu_train_aug"].loader(5, seed=3, shuffle=True, drop_last=True), 1)
    b = epoch(sets(jpeg_folder, workers=2)["gpu_train_aug"].loader(5, seed=3, shuffle=True, drop_last=True), 1)
    c = epoch(sets(jpeg_folder)["gpu_train_aug"].loader(5, seed=4, shuffle=True, drop_last=True), 1)
    assert len(a) == 24 // 5 and same(a, b) and not same(a, c)
    for (v1, v2), _ in a:  # two views of one image differ
        assert all(not torch.equal(p, q) for p, q in zip(v1, v2, strict=True))


def test_an_items_views_do_not_depend_on_the_batch(jpeg_folder):
    """Per-item random numbers: the views of image i in epoch e are the same in batches of 4 and of 6."""
    g = sets(jpeg_folder)["gpu_train_aug"]

    def by_item(bs):
        loader = g.loader(bs, seed=0, shuffle=False)
        loader.set_epoch(2)
        out = {}
        for k, ((v1, _), _) in enumerate(loader):
            for j, v in enumerate(v1):
                out[k * bs + j] = v
        return out

    a, b = by_item(4), by_item(6)
    assert all(torch.allclose(a[i], b[i], atol=1e-5) for i in a)


def test_resume_inside_an_epoch_gives_the_remaining_batches(jpeg_folder):
    g = sets(jpeg_folder)["gpu_train_aug"]
    full = epoch(g.loader(4, seed=1, shuffle=True, drop_last=True), 3)
    resumed = epoch(g.loader(4, seed=1, shuffle=True, drop_last=True), 3, start=2)  # a fresh loader, batch 2 on
    assert same(full[2:], resumed) and not same(full[:len(resumed)], resumed)


def test_ddp_ranks_split_the_epoch_and_keep_each_items_views(jpeg_folder):
    g = sets(jpeg_folder)["gpu_train_aug"]
    one = epoch(g.loader(2, seed=0, shuffle=True, drop_last=True), 0)
    ranks = [epoch(g.loader(2, seed=0, shuffle=True, drop_last=True, dist=SimpleNamespace(
        enabled=True, world_size=2, rank=r)), 0) for r in (0, 1)]
    labels = sorted(int(y) for part in ranks for _, ys in part for y in ys)
    assert labels == sorted(int(y) for _, ys in one for y in ys)  # every image once, over the two ranks
    assert not same(ranks[0], ranks[1])


def test_evaluation_loader_is_in_order_and_deterministic(jpeg_folder):
    s = sets(jpeg_folder)
    a = epoch(s["gpu_val"].loader(4), 0)
    assert torch.equal(torch.cat([y for _, y in a]), torch.as_tensor(s["gpu_val"].targets))
    assert same(a, epoch(s["gpu_val"].loader(4), 5))


def test_in_memory_arrays_and_files_give_the_same_kind_of_batches():
    xtr, ytr, _, _ = D.digits_arrays(8)
    g = GpuImages(targets=ytr, classes=[str(i) for i in range(10)], kind="simclr", crop=8, mean=(0.5,) * 3,
                  std=(0.25,) * 3, array=xtr, blur=False)
    loader = g.loader(64, seed=0, shuffle=True, drop_last=True)
    batches = epoch(loader, 0)
    assert len(batches) == len(ytr) // 64 and batches[0][0][0].shape == (64, 3, 8, 8)
    sub = g.subset(np.arange(10)).with_kind("classifier")
    x, y = next(iter(sub.loader(10, extras=(np.arange(10) * 7,))))[:2]
    assert x.shape == (10, 3, 8, 8) and torch.equal(y, torch.as_tensor(ytr[:10]))


def _broken_folder(root, make_folder):
    make_folder(root, 2, (4, 2), size=24)
    to_jpeg(root)
    bad = root / "train" / "c1" / "001.jpg"
    bad.write_bytes(bad.read_bytes()[:200])  # truncated: no end-of-image marker
    return bad


def test_an_undecodable_file_is_named_or_skipped_and_counted(tmp_path, make_folder):
    bad = _broken_folder(tmp_path / "f", make_folder)
    assert scan_files(sorted(str(p) for p in (tmp_path / "f").rglob("*.jpg"))) == [str(bad)]
    junk = tmp_path / "f" / "train" / "c1" / "junk.jpg"
    junk.write_text("not an image")
    assert scan_files([str(junk)]) == [str(junk)]
    g = sets(tmp_path / "f")["gpu_train_eval"]
    with pytest.raises(ConfigError, match="cannot decode image file .*001.jpg.*--skip-bad-images"):
        epoch(g.loader(16), 0)
    g = sets(tmp_path / "f", skip_bad=True)["gpu_train_eval"]  # the up-front PIL check drops both
    assert g.skipped_files == [] and len(g) == 7
    g2 = sets(tmp_path / "f")["gpu_train_eval"]
    g2.skip_bad = True  # only the decoder sees them: dropped from their batch and listed
    xs = epoch(g2.loader(16), 0)
    assert sum(len(y) for _, y in xs) == 7 and sorted(g2.skipped_files) == [str(bad), str(junk)]


def test_auto_loader_rule():
    assert resolve_loader("auto", "folder", "cuda") == "gpu" and resolve_loader("auto", "cifar100", "cuda") == "tensor"
    assert resolve_loader("auto", "imagenet100", "cpu") == "torchvision" and resolve_loader("dali", "folder", "cpu") == "dali"
    with pytest.raises(ConfigError, match="bogus"):
        resolve_loader("bogus", "folder", "cpu")


# --------------------------------------------------------------------------------------------- estimates


def test_time_estimate_line_after_the_warmup(tmp_path):
    from monotheory.vision.presets import build_config

    cfg = build_config("paper", "imagenet100")
    units = plan_units(cfg, 1000, 100)
    assert units["pretrain"] == 2 * 100 * 1000 * 2 * 3  # CL + NCL, 100 epochs, two views, forward + backward
    assert units["sae"] == 1000 + 200 * 1000 * 2  # clean features + 200 two-crop epochs of encoder forwards
    lines, now = [], [0.0]
    eta = Eta(lines.append, units, warmup=2, min_steps=3, min_seconds=1.0, clock=lambda: now[0])
    eta.begin("pretrain", "pretrain cl")
    for _ in range(6):
        now[0] += 0.5
        eta.tick(1200.0)  # 1200 units every 0.5 s: 2400 units/s
    assert len(lines) == 1 and "pretrain cl" in lines[0] and "2,400" in lines[0]
    left = sum(units.values()) - 6 * 1200
    assert f"{left / 2400 / 60:.1f} min" in lines[0] or f"{left / 2400 / 3600:.1f} h" in lines[0]
    # time between pause() and resume() (probes being fitted between extractions) is not measured
    lines2 = []
    eta = Eta(lines2.append, units, warmup=2, min_steps=3, min_seconds=1.0, clock=lambda: now[0])
    eta.begin("probe", "probe (features)")
    for k in range(6):
        if k == 3:
            eta.pause()
            now[0] += 100.0
            eta.resume()
        now[0] += 0.5
        eta.tick(1200.0)
    assert len(lines2) == 1 and "2,400" in lines2[0]
    hours = estimate_hours(cfg, 2400.0)
    assert hours["total"] == pytest.approx(sum(plan_units(cfg, 126_689, 5_000).values()) / 2400 / 3600)


# ------------------------------------------------------------------------------------------- the CLI run


def test_run_imagenet_gpu_loader_on_cpu_through_every_stage(jpeg_folder, tmp_path, cli):
    out = tmp_path / "run"
    rc, _, err = cli("run-imagenet", "--dataset", "folder", "--data-root", str(jpeg_folder), "--out", str(out),
                     "--preset", "smoke", "--device", "cpu", "--loader", "gpu", "--quiet", "--epochs", "2",
                     "--batch-size", "8", "--sae-epochs", "2", "--probe-epochs", "3", "--probe-noise-rates", "0,0.3",
                     "--ft-noise-rates", "0.3", "--ft-fractions", "0.5,1", "--ft-epochs", "1", "--num-workers", "1",
                     "--threads", "1")
    assert rc == 0, err
    assert "gpu loader" in err and "= 8 global, lr 1.2 × 8/256" in err
    for name in ("pretrain_cl", "pretrain_ncl", "sae", "probe", "finetune", "shift"):
        d = json.loads((out / f"{name}.json").read_text())
        assert d["world_size"] == 1 and d["loader"] == "gpu" and d["skipped_bad_images"] == [], name
    t = json.loads((out / "timings.json").read_text())
    assert set(t["stage_seconds"]) == {"pretrain", "sae", "probe", "finetune", "shift"} and t["loader"] == "gpu"
    assert all(v > 0 for v in t["stage_seconds"].values())
