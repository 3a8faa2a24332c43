"""Pretraining: LARS, the warmup-cosine schedule, no label leakage, exact resume."""

from __future__ import annotations

import math

import pytest
import torch
from torch.utils.data import Dataset

from monotheory.errors import ConfigError
from monotheory.vision.encoders import Encoder
from monotheory.vision.pretrain import LARS, make_optimizer, pretrain, warmup_cosine
from monotheory.vision.run import PretrainConfig


class PairData(Dataset):
    """Synthetic SimCLR-style data: item = ((view1, view2), label); views = image + seeded noise."""

    def __init__(self, n=24, labels=None):
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(n, 3, 16, 16, generator=g)
        self.targets = list(labels) if labels is not None else [i % 3 for i in range(n)]

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        noise = torch.randn(2, *self.x[i].shape)  # uses the (per-epoch seeded) global RNG, like torchvision
        return (self.x[i] + 0.1 * noise[0], self.x[i] + 0.1 * noise[1]), self.targets[i]


def tiny_encoder(nonneg=False):
    torch.manual_seed(0)
    return Encoder("tiny", cifar_stem=True, proj_hidden=32, proj_out=16, nonneg=nonneg)


CFG = dict(epochs=2, batch_size=8, lr=0.1, warmup_epochs=1, optimizer="lars")


def test_lars_step_matches_formula():
    p = torch.nn.Parameter(torch.tensor([[3.0, 4.0]]))  # ‖p‖ = 5
    b = torch.nn.Parameter(torch.tensor([1.0]))
    opt = LARS([{"params": [p]}, {"params": [b], "weight_decay": 0.0, "lars_exclude": True}], lr=0.5, momentum=0.0,
               weight_decay=0.1, eta=0.02)
    p.grad = torch.tensor([[0.0, 2.0]])  # ‖g‖ = 2
    b.grad = torch.tensor([4.0])
    opt.step()
    ratio = 0.02 * 5 / (2 + 0.1 * 5 + 1e-8)
    expected = torch.tensor([[3.0, 4.0]]) - 0.5 * ratio * (torch.tensor([[0.0, 2.0]]) + 0.1 * torch.tensor([[3.0, 4.0]]))
    assert torch.allclose(p.detach(), expected)
    assert torch.allclose(b.detach(), torch.tensor([1.0 - 0.5 * 4.0]))  # excluded: plain SGD, no decay


def test_bias_and_bn_excluded_from_weight_decay():
    opt = make_optimizer(tiny_encoder(), PretrainConfig(**CFG))
    decayed, plain = opt.param_groups
    assert all(p.ndim > 1 for p in decayed["params"]) and decayed["weight_decay"] > 0
    assert all(p.ndim == 1 for p in plain["params"]) and plain["weight_decay"] == 0 and plain["lars_exclude"]


def test_warmup_cosine():
    assert warmup_cosine(0, 100, 10, 1.0) == pytest.approx(0.1)
    assert warmup_cosine(9, 100, 10, 1.0) == pytest.approx(1.0)
    assert warmup_cosine(10, 100, 10, 1.0) == pytest.approx(1.0)
    assert warmup_cosine(55, 100, 10, 1.0) == pytest.approx(0.5)
    assert warmup_cosine(100, 100, 10, 1.0) == pytest.approx(0.0, abs=1e-12)
    assert warmup_cosine(30, 100, 0, 2.0) == pytest.approx(1 + math.cos(math.pi * 0.3))


def test_labels_never_reach_the_encoder():
    """Same images, different labels → bit-identical weights after pretraining."""
    cfg = PretrainConfig(**CFG)
    a, b = tiny_encoder(), tiny_encoder()
    pretrain(a, PairData(), cfg, seed=0, progress=False)
    pretrain(b, PairData(labels=[(7 * i) % 5 for i in range(24)]), cfg, seed=0, progress=False)
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(va, vb), k


def test_resume_after_interruption_gives_identical_weights(tmp_path):
    cfg = PretrainConfig(**CFG)
    full = tiny_encoder(nonneg=True)
    res_full = pretrain(full, PairData(), cfg, seed=3, checkpoint_path=tmp_path / "a.pt", progress=False)

    def stop(epoch):
        if epoch == 1:
            raise KeyboardInterrupt

    part = tiny_encoder(nonneg=True)
    with pytest.raises(KeyboardInterrupt):
        pretrain(part, PairData(), cfg, seed=3, checkpoint_path=tmp_path / "b.pt", progress=False, on_epoch_end=stop)
    resumed = tiny_encoder(nonneg=True)  # a fresh process would start from scratch weights
    res = pretrain(resumed, PairData(), cfg, seed=3, checkpoint_path=tmp_path / "b.pt", progress=False)
    assert [h["loss"] for h in res["history"]] == [h["loss"] for h in res_full["history"]]
    for va, vb in zip(full.state_dict().values(), resumed.state_dict().values(), strict=True):
        assert torch.equal(va, vb)


def test_training_lowers_the_loss():
    cfg = PretrainConfig(epochs=6, batch_size=8, lr=0.5, warmup_epochs=0, optimizer="sgd", weight_decay=0.0)
    res = pretrain(tiny_encoder(), PairData(), cfg, seed=0, progress=False)
    losses = [h["loss"] for h in res["history"]]
    assert losses[-1] < losses[0]


def test_bad_pretrain_config():
    with pytest.raises(ConfigError, match="optimizer"):
        PretrainConfig(optimizer="adamw")
    with pytest.raises(ConfigError, match="temperature"):
        PretrainConfig(temperature=0)
