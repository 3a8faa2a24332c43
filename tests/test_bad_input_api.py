"""The bad-input corpus (issue 11), public functions: each case asserts a :class:`ConfigError` of one sentence
that names the bad value (the command-line cases are in ``tests/test_bad_input.py``). A new public function gets
a case here."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from monotheory.errors import ConfigError

# ------------------------------------------------------------------------------------------- API cases


def api_cases():
    from monotheory import metrics
    from monotheory.files import check_out_dir
    from monotheory.noise import check_label_noise_rate, label_noise
    from monotheory.theory.symbolic import moments

    return [
        (lambda: moments("mono", 0.2 + 1j), "0.2+1j"),
        (lambda: moments("mono", "abc"), "abc"),
        (lambda: moments("mono", [0.2, float("nan")]), "nan"),
        (lambda: moments("mono", 0.2, sigma=1e308), "1e+308"),
        (lambda: metrics.monosemanticity_score(np.zeros((0, 3)), np.zeros(0, int)), "(0, 3)"),
        (lambda: metrics.near_zero_fraction(np.zeros((0, 3))), "(0, 3)"),
        (lambda: check_label_noise_rate("noise_rate", 0.5, 2), "0.5"),
        (lambda: check_label_noise_rate("noise_rate", 0.9, 4), "0.9"),
        (lambda: check_label_noise_rate("noise_rate", 1.0, 10, "uniform"), "noise_rate = 1"),
        (lambda: check_label_noise_rate("noise_rate", float("nan"), 10), "nan"),
        (lambda: check_label_noise_rate("noise_rate", 0.1, 1), "1"),
        (lambda: label_noise([0, 1], 1.5), "1.5"),
        (lambda: check_out_dir("/proc/monotheory"), "/proc/monotheory"),
        (lambda: check_out_dir(""), "''"),
        *_naming_cases(),
        *_toy_and_probe_cases(),
        *_preset_cases(),
        *_lora_cases(),
        *_loader_cases(),
    ]


def _naming_cases():
    """Issue 21's public additions: the one RNG converter, the one definition of the label-noise models, the toy
    model built from its config, the sweep's σ grid in one unit."""
    from monotheory.noise import max_noise_rate, off_diagonal_rate
    from monotheory.seeding import as_generator, as_torch_generator
    from monotheory.toy import SweepConfig, ToyConfig

    cases = [
        (lambda: as_generator("abc"), "'abc'"), (lambda: as_torch_generator(-3), "-3"),
        (lambda: off_diagonal_rate("one_sided", 0.2, 2), "one_sided"), (lambda: max_noise_rate("flip", 1), "1"),
        (lambda: SweepConfig(sigmas=(0.1,), sigma_sds=(0.5,)), "sigma_sds"),
        (lambda: SweepConfig(sigma_sds=(-1.0,)), "-1"),
    ]
    try:
        from monotheory.toy.model import ToyModel
    except ImportError:  # torch not installed
        return cases
    cfg = ToyConfig(n=6, m=3, regimes=("poly",), noise_rate=0.0)
    return cases + [(lambda: ToyModel(cfg, ["oracle"], [0]), "oracle"), (lambda: ToyModel(cfg, ["poly"]), "seeds")]


def _preset_cases():
    """Issue 24's public additions: the record's data sets, the CIFAR stem's padding, the authors' probe."""
    torch = pytest.importorskip("torch")
    from monotheory.vision import authors, presets
    from monotheory.vision.encoders import make_backbone
    from monotheory.vision.linear_eval import StepProbe

    x, y = torch.randn(6, 2), torch.tensor([0, 1] * 3)
    return [
        (lambda: authors.entries("folder"), "folder"),
        (lambda: presets.paper_values("imagenet1k"), "imagenet1k"),
        (lambda: presets.preset_values("paper", "svhn"), "svhn"),
        (lambda: make_backbone("resnet18", True, stem_padding=9), "9"),
        (lambda: StepProbe(2, optimizer="adam").fit(x, y), "adam"),
        (lambda: StepProbe(2, schedule="cosine").fit(x, y), "cosine"),
        (lambda: StepProbe(2, warmup_epochs=-1).fit(x, y), "-1"),
    ]


def _loader_cases():
    """Issue 20's public additions: the augmentation spec, the evaluation size, the loader rule, the loader."""
    pytest.importorskip("torch")
    from monotheory.vision.loaders import GpuImages, resolve_loader
    from monotheory.vision.transforms import AugSpec, eval_size, simclr_spec

    def decode_junk():
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            f = Path(tmp) / "monotheory_bad_input_junk.jpg"
            f.write_text("not an image")
            g = GpuImages(targets=[0], classes=["a"], kind="eval", crop=8, mean=(0,) * 3, std=(1,) * 3, files=[str(f)])
            next(iter(g.loader(1)))

    return [
        (lambda: AugSpec(0), "crop_size = 0"), (lambda: AugSpec(32, p_flip=1.5), "1.5"),
        (lambda: simclr_spec(-3), "-3"), (lambda: eval_size(224, 100), "resize = 100"),
        (lambda: resolve_loader("bogus", "folder", "cpu"), "bogus"), (decode_junk, "monotheory_bad_input_junk.jpg"),
    ]


def _toy_and_probe_cases():
    """The public functions added for issue 13 (a foreign uniforms block, a negative tolerance) and issue 22 (label
    features of the capacity-matched task, the controls grid)."""
    torch = pytest.importorskip("torch")
    from monotheory.lbfgs import softmax_lbfgs
    from monotheory.toy.sampler import FeatureSampler

    sampler = FeatureSampler(6, [0, 1], [0.5, 0.5])
    from monotheory.toy.controls import ControlsConfig
    from monotheory.toy.experiments import labels_for

    return [
        (lambda: labels_for(torch.zeros(2, 4, 6), "pair", torch.zeros(2, 6, dtype=torch.bool)), "needs at least 2"),
        (lambda: labels_for(torch.zeros(2, 4, 6), "argmax", torch.ones(3, 6, dtype=torch.bool)), "(3, 6)"),
        (lambda: ControlsConfig(ks=(2, 2)), "twice"), (lambda: ControlsConfig(sigma_sds=()), "sigma_sds is empty"),
        (lambda: sampler.features(torch.zeros(3, 8, 6)), "(3, 8, 6)"),
        (lambda: sampler.fill_uniforms(torch.zeros(2, 8, 5)), "(2, 8, 5)"),
        (lambda: sampler.features(torch.zeros(2, 8, 6, dtype=torch.float64)), "float64"),
        (lambda: softmax_lbfgs(torch.zeros(1, 4, 2), torch.zeros(1, 4, dtype=torch.long), 2, tol_change=-1.0),
         "tol_change"),
    ]


def _lora_cases():
    """MonoLoRA (issue 24): a bad target regex, unwritable or folder adapter paths, a selection that matches only
    module types LoRA does not wrap, and the peft options that would not give MonoLoRA."""
    pytest.importorskip("torch")
    from torch import nn

    from monotheory.lora import LoRAConfig, inject, read_adapter, save_adapter

    def adapted():
        m = nn.Sequential(nn.Linear(4, 4))
        inject(m, LoRAConfig(rank=2))
        return m

    cases = [
        (lambda: LoRAConfig(target_modules="(q_proj"), "(q_proj"),
        (lambda: save_adapter(adapted(), "/proc/monotheory/a.pt"), "/proc/monotheory/a.pt"),
        (lambda: save_adapter(adapted(), "/dev/null/a.pt"), "/dev/null/a.pt"),
        (lambda: save_adapter(adapted(), "/tmp"), "'/tmp' is a folder"),
        (lambda: read_adapter("/tmp"), "/tmp"),
        (lambda: inject(nn.Sequential(nn.Embedding(3, 4), nn.Linear(4, 2)), LoRAConfig(target_modules=("0",))),
         "Embedding"),
    ]
    try:
        from monotheory.lora.hf import MonoLoraConfig
    except ImportError:  # peft (or transformers) not installed
        return cases
    return cases + [
        (lambda: MonoLoraConfig(r=2, target_modules="[q"), "[q"),
        (lambda: MonoLoraConfig(r=2, target_modules=["q"], use_dora=True), "use_dora"),
        (lambda: MonoLoraConfig(r=2, target_modules=["q"], init_lora_weights="olora"), "olora"),
        (lambda: MonoLoraConfig(r=2, target_modules=["q"], monolora_relu="gelu"), "gelu"),
    ]


def test_api_cases():
    for fn, named in api_cases():
        with pytest.raises(ConfigError) as e:
            fn()
        assert named in str(e.value) and "\n" not in str(e.value), str(e.value)


def test_check_out_dir_refuses_a_read_only_folder(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders")
    from monotheory.files import check_out_dir

    ro = tmp_path / "ro"
    ro.mkdir(mode=0o500)
    with pytest.raises(ConfigError, match="not writable"):
        check_out_dir(ro / "out")
