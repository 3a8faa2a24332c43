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
        *_rule_cases(),
        *_baseline_cases(),
    ]


def _rule_cases():
    """Issue 22's decision rule: estimate, exact and chance cells, the one-seed premise, C11's results file, the
    item bootstrap of the monosemanticity score."""
    from monotheory.claims import monolora, rules

    cases = [
        (lambda: rules.Cell("x", [1.0], [0.0], kind="bayes"), "bayes"),
        (lambda: rules.Cell("x", [1.0], [0.0], chance=1.5), "1.5"),
        (lambda: rules.Cell("x", [1.0], [0.0], chance=0.1, chance_margin=float("nan")), "nan"),
        (lambda: rules.estimate_cell("x", 0.3, -0.1), "-0.1"),
        (lambda: rules.estimate_cell("x", float("inf"), 0.1), "inf"),
        (lambda: rules.exact_cell("x", float("nan")), "nan"),
        (lambda: rules.decide_theory([([rules.exact_fact("x", True)], [])], alpha=0.9), "0.9"),
        (lambda: rules.item_bootstrap_gap(0.5, 0.1, [0.5, 0.6, 0.4], [0.1, 0.2]), "2"),
        (lambda: monolora.load_results("/proc/monotheory_missing.json"), "/proc/monotheory_missing.json"),
        (lambda: monolora.decide_monolora({"task": {"lora": [1, 0], "monolora": [1]},
                                           "harmful": {"lora": [0], "monolora": [0]}}), "2"),
        (lambda: monolora.decide_monolora({"task": {"lora": [1], "monolora": [1]},
                                           "harmful": {"lora": [0], "monolora": [7]}}), "outside"),
        (lambda: monolora.decide_monolora({"task": {"lora": [1]}, "harmful": {"lora": [0], "monolora": [0]}}),
         "'lora' and 'monolora'"),
        (lambda: monolora.decide_monolora({"unit": "", "task": {}, "harmful": {}}), "unit"),
    ]
    try:
        import torch
    except ImportError:
        return cases
    from monotheory.vision.feature_stats import monosemanticity_bootstrap

    return cases + [(lambda: monosemanticity_bootstrap(torch.ones(4, 2), torch.zeros(4), n_resamples=0),
                     "n_resamples")]


def _baseline_cases():
    """Issue 22's public additions: the tuned L2 probe, the random SAE, Figure 4's measures and data."""
    torch = pytest.importorskip("torch")
    from monotheory.probes.tuned import HeldOutL2Probe
    from monotheory.vision.config import ProbeConfig, SAEConfig
    from monotheory.vision.figure4 import figure4_data, sample_monosemanticity, top_activation_purity
    from monotheory.vision.sae import random_sae

    x, y = np.random.default_rng(0).normal(size=(40, 3)), np.arange(40) % 2
    return [
        (lambda: HeldOutL2Probe(2, alphas=[-1.0]).fit(x, y), "-1"),
        (lambda: HeldOutL2Probe(2, alphas=[]).fit(x, y), "alphas is empty"),
        (lambda: HeldOutL2Probe(2, alphas=[float("inf")]).fit(x, y), "inf"),
        (lambda: HeldOutL2Probe(2, holdout=1.5).fit(x, y), "1.5"),
        (lambda: HeldOutL2Probe(2, holdout=0.01).fit(x[:2], y[:2]), "holdout = 0.01"),
        (lambda: HeldOutL2Probe(2, scoring="roc_auc").fit(x, y), "roc_auc"),
        (lambda: HeldOutL2Probe(2).predict(x), "not fitted"),
        (lambda: random_sae(4, SAEConfig(n_latents=8, k=9), None), "k = 9"),
        (lambda: ProbeConfig(l2_grid=()), "l2_grid"),
        (lambda: top_activation_purity(np.zeros((0, 3)), np.zeros(0, int)), "(0, 3)"),
        (lambda: top_activation_purity(x, y, top=0), "top = 0"),
        (lambda: sample_monosemanticity(x, [0.5, 0.5]), "2 values"),
        (lambda: figure4_data(x, y, y[:5], np.zeros((2, 3))), "(5,)"),
        (lambda: figure4_data(x, y, y, np.zeros((2, 4))), "(2, 4)"),
        (lambda: figure4_data(torch.zeros(4, 3), [0, 1, 0, 1], [0, 1, 0, 1], np.zeros((2, 3)), top_dims=0), "top_dims"),
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
    from monotheory.noise import NoiseGrid
    from monotheory.probe.config import ProfileConfig
    from monotheory.toy.controls import ControlsConfig
    from monotheory.toy.experiments import labels_for
    from monotheory.vision.config import ProbeConfig

    return [
        (lambda: labels_for(torch.zeros(2, 4, 6), "pair", torch.zeros(2, 6, dtype=torch.bool)), "needs at least 2"),
        (lambda: labels_for(torch.zeros(2, 4, 6), "argmax", torch.ones(3, 6, dtype=torch.bool)), "(3, 6)"),
        (lambda: ControlsConfig(ks=(2, 2)), "twice"), (lambda: ControlsConfig(sigma_sds=()), "sigma_sds is empty"),
        (lambda: sampler.features(torch.zeros(3, 8, 6)), "(3, 8, 6)"),
        (lambda: sampler.fill_uniforms(torch.zeros(2, 8, 5)), "(2, 8, 5)"),
        (lambda: sampler.features(torch.zeros(2, 8, 6, dtype=torch.float64)), "float64"),
        (lambda: softmax_lbfgs(torch.zeros(1, 4, 2), torch.zeros(1, 4, dtype=torch.long), 2, tol_change=-1.0),
         "tol_change"),
        # issue 21: the shared noise grid, the renamed counts and an old keyword given beside its new name
        (lambda: NoiseGrid(sigmas=(-1,)), "sigmas entry = -1"), (lambda: NoiseGrid(noise_rates=None), "None"),
        (lambda: ProbeConfig(noise_rates=None), "None"), (lambda: ProfileConfig(n_seeds=0), "n_seeds = 0"),
        (lambda: ProfileConfig(n_resamples=50), "n_resamples = 50"),
        (lambda: ProfileConfig(n_boot=100, n_resamples=200), "n_boot = 100"),
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
