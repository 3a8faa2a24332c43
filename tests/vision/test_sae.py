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
