"""Pretraining: LARS, the warmup-cosine schedule, no label leakage, exact resume."""

from __future__ import annotations

import math

import pytest
import torch
from torch.utils.data import Dataset

from monotheory.errors import ConfigError
from monotheory.vision.config import PretrainConfig
from monotheory.vision.data import SeededItems, item_seed
from monotheory.vision.encoders import Encoder, EncoderConfig
from monotheory.vision.pretrain import LARS, effective_lr, make_optimizer, pretrain, warmup_cosine


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
    return Encoder(EncoderConfig(arch="tiny", cifar_stem=True, proj_hidden=32, proj_out=16, nonneg=nonneg))


CFG = dict(epochs=2, batch_size=8, lr=0.1, warmup_epochs=1, optimizer="lars")


def test_lars_step_matches_formula():
    p = torch.nn.Parameter(torch.tensor([[3.0, 4.0]]))  # ‖p‖ = 5
    b = torch.nn.Parameter(torch.tensor([1.0]))
    opt = LARS([{"params": [p]}, {"params": [b], "weight_decay": 0.0, "lars_exclude": True}], lr=0.5, momentum=0.0,
               weight_decay=0.1, trust_coefficient=0.02)
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


def test_lr_is_scaled_by_the_global_batch_and_recorded():
    """solo-learn (the authors' fork): lr × batch_size × world_size / 256; here 0.1 × 8 / 256."""
    cfg = PretrainConfig(**{**CFG, "epochs": 1, "warmup_epochs": 0})
    res = pretrain(tiny_encoder(), PairData(), cfg, seed=0, progress=False)
    assert res["lr_effective"] == pytest.approx(0.1 * 8 / 256) and res["lr_scaled"] and res["lr_base"] == 0.1
    assert res["history"][0]["lr"] <= res["lr_effective"]
    assert effective_lr(cfg, 8, 4) == pytest.approx(0.1 * 32 / 256)  # torchrun: the world size counts
    unscaled = PretrainConfig(**{**CFG, "scale_lr": False})
    assert effective_lr(unscaled, 8, 4) == 0.1


def test_ddp_ranks_draw_different_augmentations():
    """The augmentation seed contains the rank: two ranks never share a seed or a view of the same item."""
    assert item_seed(0, 3, 5, rank=0) != item_seed(0, 3, 5, rank=1)
    assert item_seed(0, 3, 5, rank=1) == item_seed(0, 3, 5, rank=1)
    r0, r1 = SeededItems(PairData(), seed=0, rank=0), SeededItems(PairData(), seed=0, rank=1)
    (a, _), _ = r0[(3, 5)]
    (b, _), _ = r1[(3, 5)]
    (c, _), _ = r0[(3, 5)]
    assert not torch.equal(a, b) and torch.equal(a, c)


def test_loader_is_built_once_and_workers_do_not_change_the_result(monkeypatch):
    """One DataLoader for all epochs (persistent workers), and since every item's augmentation is seeded by
    (seed, epoch, index), two worker processes give bit-identical weights to none."""
    from monotheory.vision import data

    built = []
    real = data.make_loader
    monkeypatch.setattr(data, "make_loader", lambda *a, **k: built.append(1) or real(*a, **k))
    cfg = PretrainConfig(**CFG)
    a, b = tiny_encoder(), tiny_encoder()
    pretrain(a, PairData(), cfg, seed=1, progress=False)
    assert len(built) == 1
    pretrain(b, PairData(), cfg, seed=1, progress=False, num_workers=2)
    for va, vb in zip(a.state_dict().values(), b.state_dict().values(), strict=True):
        assert torch.equal(va, vb)


def test_seeding_leaves_the_global_and_cuda_generators_alone(monkeypatch):
    """``torch.manual_seed`` inside ``fork_rng(devices=[])`` reseeds every CUDA generator without restoring it;
    only the CPU generator may be reseeded (and fork_rng restores it)."""
    enc = tiny_encoder()  # (seeds the global generators itself, before we watch)
    cuda_seeds = []
    monkeypatch.setattr(torch.cuda, "manual_seed_all", lambda s: cuda_seeds.append(s))
    monkeypatch.setattr(torch.cuda, "manual_seed", lambda s: cuda_seeds.append(s))
    state = torch.get_rng_state()
    pretrain(enc, PairData(), PretrainConfig(**{**CFG, "epochs": 1}), seed=0, progress=False)
    assert cuda_seeds == [] and torch.equal(torch.get_rng_state(), state)


def test_lars_clip_lr_caps_the_step_at_plain_sgd():
    """clip_lr: the local lr λ becomes min(λ / lr, 1), so the step is min(λ, lr)·(g + wd·p) (solo-learn)."""
    d = torch.tensor([[0.0, 2.0]]) + 0.1 * torch.tensor([[3.0, 4.0]])
    for trust, step in ((0.02, 0.02 * 5 / (2 + 0.5 + 1e-8)), (100.0, 0.5)):  # cap not reached / reached
        p = torch.nn.Parameter(torch.tensor([[3.0, 4.0]]))  # ‖p‖ = 5
        opt = LARS([{"params": [p]}], lr=0.5, momentum=0.0, weight_decay=0.1, trust_coefficient=trust, clip_lr=True)
        p.grad = torch.tensor([[0.0, 2.0]])  # ‖g‖ = 2
        opt.step()
        assert torch.allclose(p.detach(), torch.tensor([[3.0, 4.0]]) - step * d), trust


def test_lars_groups_split_weights_from_biases():
    from monotheory.vision.pretrain import lars_groups

    lin = torch.nn.Linear(3, 2)
    w, b = lars_groups(lin.parameters(), lr=0.3)
    assert w["params"] == [lin.weight] and w["lr"] == 0.3 and "lars_exclude" not in w
    assert b["params"] == [lin.bias] and b["lr"] == 0.3 and b["weight_decay"] == 0.0 and b["lars_exclude"]


def test_warmup_from_a_start_lr_as_pl_bolts():
    """start_lr > 0: start_lr at step 0, base_lr at step warmup − 1 (LinearWarmupCosineAnnealingLR), then cosine."""
    assert warmup_cosine(0, 100, 10, 1.0, start_lr=3e-5) == pytest.approx(3e-5)
    assert warmup_cosine(5, 100, 10, 1.0, start_lr=3e-5) == pytest.approx(3e-5 + 5 * (1 - 3e-5) / 9)
    assert warmup_cosine(9, 100, 10, 1.0, start_lr=3e-5) == pytest.approx(1.0)
    assert warmup_cosine(55, 100, 10, 1.0, start_lr=3e-5) == pytest.approx(0.5)
    assert warmup_cosine(0, 100, 10, 1.0) == pytest.approx(0.1)  # start 0: the ramp from lr / warmup
