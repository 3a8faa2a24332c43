"""`monotheory probe` on an encoder: scikit-learn's digits as an ImageFolder through torchvision's resnet18
(weights=None, 32-px inputs), a local weights file, TorchScript, module:callable, and the feature cache."""

from __future__ import annotations

import json

import pytest
import torch

from monotheory.vision.digits import write_digits_folder


@pytest.fixture(scope="module")
def digits_root(tmp_path_factory):
    # every 6th image of the built-in digits split (239 train / 61 val), 32 px
    return write_digits_folder(tmp_path_factory.mktemp("digits_folder") / "digits", size=32, keep_every=6)


def small_encoder():
    """A factory for `--encoder tests.probe.test_probe_encoder:small_encoder` (untrained; monotheory seeds
    the generator it is built under)."""
    return torch.nn.Sequential(torch.nn.Conv2d(3, 16, 3, stride=2), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(2),
                               torch.nn.Flatten())


def test_resnet18_on_digits_end_to_end_and_cache(cli, digits_root, tmp_path):
    from torchvision.models import resnet18

    torch.manual_seed(0)
    w = tmp_path / "resnet18.pt"
    torch.save(resnet18(weights=None).state_dict(), w)   # a local state dict, as a user would bring
    out = tmp_path / "Q"
    args = ("probe", "--encoder", "torchvision:resnet18", "--weights", str(w), "--data-root", str(digits_root),
            "--crop-size", "32", "--device", "cpu", "--noise-rates", "0,0.8", "--sigmas", "0,0.6", "--quiet",
            "--extract-batch-size", "128")
    rc, stdout, err = cli(*args, "--out", str(out))
    assert rc == 0, err
    assert "s per 1,000 images" in err
    prof = json.loads((out / "profile.json").read_text())
    cond = prof["conditions"]
    assert cond["noise_space"] == "image" and cond["transform"]["crop_size"] == 32 and cond["num_classes"] == 10
    fs = prof["feature_sets"]["features"]
    assert fs["dim"] == 512
    cell = {(c["noise_rate"], c["test"]): c["acc"] for c in fs["cells"]}
    # untrained ResNet-18 features still beat chance (≈ 10 %) by far on digits; 80 % flipped labels cost accuracy
    assert cell[(0.0, "clean")] > 0.4 > cond["chance"]
    assert cell[(0.8, "clean")] < cell[(0.0, "clean")]
    assert "| clean |" in stdout and prof["timing"]["seconds_per_1000_images"] > 0
    cached = sorted(p.name for p in (out / "features").glob("*.pt"))
    assert len(cached) == 3  # train, val, val σ=0.6
    # a second run reuses the cache (no extraction) and gives the same profile
    rc, _, err = cli(*args, "--cache", str(out / "features"), "--json")
    assert rc == 0 and "extracted" not in err


def test_torchscript_and_module_callable_agree(cli, digits_root, tmp_path):
    ts = tmp_path / "enc.torchscript"
    from monotheory.probe.encoders import resolve_encoder

    spec = "tests.probe.test_probe_encoder:small_encoder"
    torch.jit.script(resolve_encoder(spec, seed=0)[0]).save(str(ts))   # the same module, as TorchScript
    common = ("--data-root", str(digits_root), "--crop-size", "32", "--noise-rates", "0", "--sigmas", "0",
              "--quiet", "--json")
    rc1, out1, err1 = cli("probe", "--encoder", str(ts), *common)
    rc2, out2, err2 = cli("probe", "--encoder", spec, *common)
    assert rc1 == 0 and rc2 == 0, (err1, err2)
    a, b = json.loads(out1)["feature_sets"]["features"], json.loads(out2)["feature_sets"]["features"]
    assert a["dim"] == b["dim"] == 64 and a["cells"][0]["acc"] == b["cells"][0]["acc"]
