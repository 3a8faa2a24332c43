"""Corruptions (range, monotone severity, determinism) and shift-set loading (error paths, class mapping)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from monotheory.errors import ConfigError
from monotheory.seeding import torch_generator
from monotheory.vision import data as D
from monotheory.vision import shift
from monotheory.vision.shift import CORRUPTIONS, CorruptedDataset, corrupt, load_shift_roots


def pink_images(n: int, size: int, seed: int) -> torch.Tensor:
    """Images with a 1/f amplitude spectrum (natural-image statistics), rescaled to [0.1, 0.9]."""
    g = torch.Generator().manual_seed(seed)
    f = torch.fft.fftfreq(size)
    r = torch.sqrt(f[:, None] ** 2 + f[None, :] ** 2)
    r[0, 0] = 1
    spec = torch.complex(torch.randn(n, 3, size, size, generator=g), torch.randn(n, 3, size, size, generator=g))
    img = torch.fft.ifft2(spec / r).real
    lo, hi = img.amin((2, 3), keepdim=True), img.amax((2, 3), keepdim=True)
    return 0.1 + 0.8 * (img - lo) / (hi - lo)


@pytest.fixture(scope="module")
def images():
    return pink_images(12, 32, seed=0)


def severity_distances(images: torch.Tensor, name: str) -> torch.Tensor:
    """RMS distance to the clean image, severity × image; asserts range and shape on the way."""
    dists = []
    for s in range(1, 6):
        out = corrupt(images, name, s, generator=torch.Generator().manual_seed(s))
        assert out.shape == images.shape and out.dtype == images.dtype
        assert out.min() >= 0 and out.max() <= 1
        dists.append((out - images).pow(2).mean((1, 2, 3)).sqrt())
    return torch.stack(dists)


def monotone_on_average(d: torch.Tensor) -> bool:
    """Every severity step raises the mean distance by more than 3 standard errors of the paired per-image
    differences (one-sided false-alarm rate ≈ 1e-3 per step if the truth were no change)."""
    step = d.diff(dim=0)
    se = step.std(dim=1) / np.sqrt(step.shape[1])
    return bool(torch.all(step.mean(dim=1) > 3 * se + 1e-7))


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_range_shape_and_monotone_severity(images, name):
    d = severity_distances(images, name)
    assert d[0].mean() > 0  # severity 1 changes the image
    assert monotone_on_average(d), f"{name}: mean distances {d.mean(1).tolist()}"


@pytest.mark.parametrize("name", ["gaussian_noise", "contrast", "pixelate"])
def test_monotone_check_catches_a_reversed_table(images, name, monkeypatch):
    monkeypatch.setitem(shift.SEVERITY_PARAMS, name, shift.SEVERITY_PARAMS[name][::-1])
    assert not monotone_on_average(severity_distances(images, name))


@pytest.mark.parametrize("name", ["gaussian_noise", "shot_noise", "impulse_noise"])
def test_noise_is_seeded(images, name):
    a = corrupt(images, name, 3, generator=torch.Generator().manual_seed(7))
    b = corrupt(images, name, 3, generator=torch.Generator().manual_seed(7))
    c = corrupt(images, name, 3, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_gaussian_noise_has_the_table_sigma():
    # away from the clip boundaries the added noise has sd σ = 0.18 at severity 3; 3·32²·64 ≈ 2e5 draws give a
    # relative SE of the sd of 1/sqrt(2n) ≈ 0.16 %, so a 1 % tolerance is > 6 SE
    x = torch.full((64, 3, 32, 32), 0.5)
    out = corrupt(x, "gaussian_noise", 3, generator=torch.Generator().manual_seed(0))
    inner = (out - x)[(out > 0) & (out < 1)]
    assert abs(inner.std().item() / 0.18 - 1) < 0.01 + 0.02  # clipping at 2.8σ trims the sd by ≈ 1.5 %


def test_deterministic_corruptions_ignore_generator(images):
    for name in ("gaussian_blur", "contrast", "brightness", "jpeg", "pixelate"):
        assert torch.equal(corrupt(images, name, 2), corrupt(images, name, 2))


def test_pixelate_makes_constant_blocks():
    x = pink_images(2, 32, seed=1)
    out = corrupt(x, "pixelate", 2)  # factor 0.5 → 16 blocks of 2 px along each axis
    blocks = out.unfold(2, 2, 2).unfold(3, 2, 2)
    assert torch.allclose(blocks.amax((-1, -2)), blocks.amin((-1, -2)), atol=1e-6)
    ref = torch.nn.functional.avg_pool2d(x, 2)
    assert torch.allclose(blocks[..., 0, 0], ref, atol=1e-6)


@pytest.mark.parametrize("name, severity, match", [
    ("fog", 1, "corruption = 'fog' is unknown"),
    ("jpeg", 0, "severity = 0 must be ≥ 1"),
    ("jpeg", 6, "severity = 6 must be ≤ 5"),
    ("contrast", 2.5, "severity = 2.5 is not an integer"),
])
def test_bad_corruption(images, name, severity, match):
    with pytest.raises(ConfigError, match=match):
        corrupt(images, name, severity)
    with pytest.raises(ConfigError, match=match):
        CorruptedDataset([], name, severity, D.IMAGENET_MEAN, D.IMAGENET_STD, seed=0)


def test_bad_image_tensor():
    with pytest.raises(ConfigError, match=r"shape \(B, 3, H, W\), got \(3, 8, 8\)"):
        corrupt(torch.rand(3, 8, 8), "jpeg", 1)
    with pytest.raises(ConfigError, match="float images"):
        corrupt(torch.zeros(1, 3, 8, 8, dtype=torch.uint8), "jpeg", 1)


def test_corrupted_dataset(tiny_folder):
    ev_raw = D.eval_transform(32, mean=None)
    _, val, _ = D.load_datasets("folder", tiny_folder, eval_transform=ev_raw)
    mean, std = D.IMAGENET_MEAN, D.IMAGENET_STD
    cds = CorruptedDataset(val, "gaussian_noise", 5, mean, std, seed=3)
    assert len(cds) == len(val) and cds.targets == val.targets and cds.classes == val.classes
    x0, y0 = cds[0]
    assert torch.equal(x0, cds[0][0]) and y0 == val.targets[0]  # deterministic per index
    assert not torch.equal(x0, CorruptedDataset(val, "gaussian_noise", 5, mean, std, seed=4)[0][0])
    assert not torch.equal(x0, cds[1][0])
    raw = (x0 * torch.tensor(std)[:, None, None] + torch.tensor(mean)[:, None, None])
    assert raw.min() > -1e-5 and raw.max() < 1 + 1e-5  # normalised after clipping to [0, 1]
    g = torch_generator(3, "corruption", 0)
    assert torch.allclose(raw, corrupt(val[0][0][None], "gaussian_noise", 5, generator=g)[0], atol=1e-5)
    _, normed, _ = D.load_datasets("folder", tiny_folder, eval_transform=D.eval_transform(32))
    with pytest.raises(ConfigError, match=r"base images as tensors in \[0, 1\]"):
        CorruptedDataset(normed, "jpeg", 1, mean, std)[0]


def test_load_shift_roots(tmp_path, make_folder):
    names = ["a", "b", "c"]
    make_folder(tmp_path / "sketch", ["c", "a", "b", "extra"], 2, size=16, split_names=("val",))
    make_folder(tmp_path / "flat", ["b", "c", "a"], 3, size=16, split_names=(".",))
    sets = load_shift_roots([f"sketch={tmp_path / 'sketch'}", f"flat = {tmp_path / 'flat'}"], names,
                            D.eval_transform(16))
    assert list(sets) == ["sketch", "flat"]
    assert len(sets["sketch"]) == 6 and len(sets["flat"]) == 9
    for ds in sets.values():
        assert ds.classes == names
        for path, t in ds.samples:
            assert path.split("/")[-2] == names[t]
        assert ds[0][0].shape == (3, 16, 16)
    assert load_shift_roots([], names, None) == {}


@pytest.mark.parametrize("spec, match", [
    ("sketch", "shift spec 'sketch' is malformed; write NAME=DIR"),
    ("=/tmp", "malformed; write NAME=DIR with both parts non-empty"),
    ("sketch=", "malformed; write NAME=DIR with both parts non-empty"),
    ("sketch=/no/such/dir", "shift set 'sketch': folder /no/such/dir does not exist"),
])
def test_bad_shift_specs(spec, match):
    with pytest.raises(ConfigError, match=match):
        load_shift_roots([spec], ["a"], None)


def test_shift_missing_classes_and_duplicates(tmp_path, make_folder):
    make_folder(tmp_path / "s", ["a"], 1, size=8, split_names=("val",))
    with pytest.raises(ConfigError, match=r"shift set 's': 2 of the 3 classes are missing from .*val: b, c"):
        load_shift_roots([f"s={tmp_path / 's'}"], ["a", "b", "c"], None)
    with pytest.raises(ConfigError, match="shift set name 's' is given twice"):
        load_shift_roots([f"s={tmp_path / 's'}"] * 2, ["a"], None)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_corruptions_on_cuda(images):
    x = images.cuda()
    for name in CORRUPTIONS:
        out = corrupt(x, name, 3, generator=torch.Generator(device="cuda").manual_seed(0))
        assert out.device == x.device and out.shape == x.shape and 0 <= out.min() and out.max() <= 1
        cpu_gen = corrupt(x, name, 3, generator=torch.Generator().manual_seed(0))  # a CPU generator also works
        assert cpu_gen.device == x.device
        if name in ("gaussian_blur", "contrast", "brightness", "pixelate"):
            assert torch.allclose(out.cpu(), corrupt(images, name, 3), atol=1e-5)
