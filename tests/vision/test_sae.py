"""Top-k SAE: sparsity of the codes, loss, training, dead-latent count."""

from __future__ import annotations

import pytest
import torch

from monotheory.errors import ConfigError
from monotheory.vision.config import SAEConfig
from monotheory.vision.sae import TopKSAE, TopKSAEConfig, normalized_mse, sae_codes, sae_stats, train_sae


def test_exactly_k_nonzeros_without_postact_and_at_most_k_with_relu():
    x = torch.randn(50, 16, generator=torch.Generator().manual_seed(0))
    ident = TopKSAE(TopKSAEConfig(d_in=16, n_latents=64, k=5, postact="identity", seed=0))
    with torch.no_grad():
        assert ((ident.encode(x) != 0).sum(1) == 5).all()
        relu = TopKSAE(TopKSAEConfig(d_in=16, n_latents=64, k=5, postact="relu", seed=0))
        codes = relu.encode(x)
    assert ((codes != 0).sum(1) <= 5).all() and (codes >= 0).all()


def test_normalized_mse_formula():
    x = torch.tensor([[3.0, 4.0], [1.0, 0.0]])
    x_hat = torch.tensor([[3.0, 3.0], [0.0, 0.0]])
    assert normalized_mse(x_hat, x).item() == pytest.approx((1 / 25 + 1 / 1) / 2)


def test_training_lowers_the_normalised_mse():
    g = torch.Generator().manual_seed(1)
    atoms = torch.randn(32, 24, generator=g)
    mask = torch.rand(400, 32, generator=g) < 0.1
    x = (torch.rand(400, 32, generator=g) * mask) @ atoms
    cfg = SAEConfig(n_latents=64, k=8, lr=3e-3, weight_decay=0.0, batch_size=64, epochs=15)
    sae, hist = train_sae(x, cfg, seed=0, progress=False)
    assert hist["loss"][-1] < 0.5 * hist["loss"][0]
    assert 0 <= hist["dead_latents"] <= 64 and hist["mean_active"] <= 8
    codes = sae_codes(sae, x)
    assert codes.shape == (400, 64) and ((codes != 0).sum(1) <= 8).all()
    again, hist2 = train_sae(x, cfg, seed=0, progress=False)
    assert hist2["loss"] == hist["loss"]  # deterministic given the seed


def test_dead_latents_are_counted():
    sae = TopKSAE(TopKSAEConfig(d_in=8, n_latents=20, k=10, postact="identity", seed=0))
    with torch.no_grad():  # latents 0..9 always win the top-k, 10..19 never fire
        sae.encoder.bias[:10] = 1e3
        sae.encoder.bias[10:] = -1e3
    stats = sae_stats(sae, torch.randn(100, 8))
    assert stats["dead_latents"] == 10 and stats["mean_active"] == 10


def test_bad_sae_config():
    with pytest.raises(ConfigError, match="k"):
        SAEConfig(n_latents=16, k=32)


def test_lars_sae_optimizer_groups_as_the_authors_cifar_sae():
    """optimizer="lars": weights adapted and decayed, 1-d parameters plain SGD without decay, decoder at 0.3."""
    from monotheory.vision.pretrain import LARS
    from monotheory.vision.sae import sae_optimizer

    sae = TopKSAE(TopKSAEConfig(d_in=8, n_latents=16, k=2, init="default", seed=0))
    cfg = SAEConfig(n_latents=16, k=2, optimizer="lars", lr=0.4, decoder_lr=0.3, clip_lr=True)
    opt = sae_optimizer(sae, cfg)
    assert isinstance(opt, LARS)
    by_param = {id(p): g for g in opt.param_groups for p in g["params"]}
    dec, enc = by_param[id(sae.decoder.weight)], by_param[id(sae.encoder.weight)]
    assert dec["lr"] == dec["base_lr"] == 0.3 and enc["lr"] == 0.4 and enc["weight_decay"] == 1e-4
    assert enc["clip_lr"] and enc["trust_coefficient"] == 0.02 and not enc["lars_exclude"]
    for p in (sae.pre_bias, sae.encoder.bias):
        assert by_param[id(p)]["lars_exclude"] and by_param[id(p)]["weight_decay"] == 0.0
    adam = sae_optimizer(sae, SAEConfig(n_latents=16, k=2))
    assert isinstance(adam, torch.optim.Adam)


class _Recorder(torch.nn.Module):
    """Flatten → Linear → BatchNorm1d; records (batch size, training) of every call (class-level: survives copies)."""

    calls: list = []

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.lin, self.bn = torch.nn.Linear(12, 6), torch.nn.BatchNorm1d(6)

    def forward(self, x):
        _Recorder.calls.append((x.shape[0], self.training))
        return self.bn(self.lin(x.flatten(1)))


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_two_crop_backbone_mode_and_one_view_at_a_time(mode):
    """train: the encoder runs in train mode (batch statistics), one view per call, and the caller's encoder and
    its BatchNorm running statistics are left as they were; eval: eval mode."""
    from monotheory.vision.sae import train_sae_two_crop

    enc = _Recorder().eval()
    before = {k: v.clone() for k, v in enc.state_dict().items()}
    _Recorder.calls.clear()
    g = torch.Generator().manual_seed(0)
    loader = [((torch.randn(4, 3, 2, 2, generator=g) * 3 + 1, torch.randn(4, 3, 2, 2, generator=g)), torch.zeros(4))] * 2

    class Sampler:
        def set_epoch(self, e):
            pass

    cfg = SAEConfig(n_latents=12, k=3, epochs=1, batch_size=4, train_data="two_crop", backbone_mode=mode)
    train_sae_two_crop(enc, loader, Sampler(), cfg, torch.randn(10, 6))
    assert _Recorder.calls == [(4, mode == "train")] * 4  # 2 batches × 2 views
    assert not enc.training and all(torch.equal(v, before[k]) for k, v in enc.state_dict().items())


def test_backbone_mode_changes_what_the_sae_sees():
    """Batch statistics per view (train) differ from the running statistics (eval) on un-centred inputs."""
    from monotheory.vision.sae import train_sae_two_crop

    losses = {}
    for mode in ("eval", "train"):
        g = torch.Generator().manual_seed(0)
        loader = [((torch.randn(8, 3, 2, 2, generator=g) + 2, torch.randn(8, 3, 2, 2, generator=g) + 2),
                   torch.zeros(8))] * 2
        sampler = type("S", (), {"set_epoch": lambda self, e: None})()
        cfg = SAEConfig(n_latents=12, k=3, epochs=2, batch_size=8, train_data="two_crop", backbone_mode=mode)
        _, hist = train_sae_two_crop(_Recorder().eval(), loader, sampler, cfg, torch.randn(10, 6))
        losses[mode] = hist["loss"]
    assert losses["eval"] != losses["train"]
