"""The SAE arm with frozen random weights (issue 22): the trained SAE's own initialisation, never trained."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402

from monotheory.vision.config import ProbeConfig, RunConfig, SAEConfig  # noqa: E402
from monotheory.vision.probe_stage import stage_arms  # noqa: E402
from monotheory.vision.sae import make_sae, random_sae, sae_codes, train_sae  # noqa: E402


def test_random_sae_has_the_trained_saes_shapes_and_k_and_is_never_trained():
    x = torch.randn(96, 16, generator=torch.Generator().manual_seed(0))
    cfg = SAEConfig(n_latents=32, k=4, epochs=3, lr=1e-2, batch_size=16)
    trained, _ = train_sae(x, cfg, seed=5)
    rnd = random_sae(16, cfg, F.normalize(x, dim=1), seed=5)
    init = make_sae(16, cfg, F.normalize(x, dim=1), seed=5)
    t, r, i = trained.state_dict(), rnd.state_dict(), init.state_dict()
    assert {k: v.shape for k, v in r.items()} == {k: v.shape for k, v in t.items()}
    assert rnd.k == trained.k == 4 and rnd.encoder.out_features == trained.encoder.out_features == 32
    assert rnd.postact == trained.postact and rnd.trained is False and not rnd.training
    assert all(not p.requires_grad for p in rnd.parameters())
    assert all(torch.equal(r[k], i[k]) for k in r)  # exactly the trained SAE's starting point
    assert any(not torch.equal(r[k], t[k]) for k in r)  # which training moved
    codes = sae_codes(rnd, x)
    assert codes.shape == (96, 32) and int((codes != 0).sum(1).max()) <= 4
    with pytest.raises(RuntimeError):  # frozen: no gradient can flow into it
        rnd(F.normalize(x, dim=1))[0].sum().backward()


def test_the_stage_fits_each_baseline_beside_its_method():
    assert stage_arms(RunConfig()) == (["cl", "sae", "ncl"], ["cl_l2", "sae_random"])
    assert stage_arms(RunConfig(methods=("cl", "ncl"))) == (["cl", "ncl"], ["cl_l2"])
    assert stage_arms(RunConfig(methods=("ncl",))) == (["ncl"], [])
    assert stage_arms(RunConfig(probe=ProbeConfig(baselines=("none",)))) == (["cl", "sae", "ncl"], [])
    assert stage_arms(RunConfig(probe=ProbeConfig(baselines=("sae_random",)))) == (["cl", "sae", "ncl"],
                                                                                   ["sae_random"])
