"""The batched toy model and its data: distribution, regimes, constraints, bad input."""

import math

import pytest
import torch

from monotheory.errors import ConfigError
from monotheory.toy import ToyConfig
from monotheory.toy.model import ToyModel, importance_weights
from monotheory.toy.sampler import FeatureSampler, spike_and_uniform

# Monte Carlo tolerances: z = 4.5 (two-sided false-alarm probability ≈ 7e-6 per assertion).
Z = 4.5


@pytest.mark.parametrize("S", [0.0, 0.2, 0.8, 0.97])
def test_spike_and_uniform_distribution(S, mc_seed):
    n = 400_000
    u = torch.rand(n, generator=torch.Generator().manual_seed(mc_seed(1)), dtype=torch.float64)
    x = spike_and_uniform(u, S)
    p0 = (x == 0).double().mean().item()
    assert abs(p0 - S) <= Z * math.sqrt(max(S * (1 - S), 1e-12) / n) + 1e-12
    active = x[x > 0]
    k = active.numel()
    # given active, U[0,1): mean 1/2 (sd 1/√12), and the upper half holds half of the mass
    assert abs(active.mean().item() - 0.5) <= Z * math.sqrt(1 / 12 / k)
    assert abs((active > 0.5).double().mean().item() - 0.5) <= Z * 0.5 / math.sqrt(k)
    assert active.max() < 1


def test_wrong_sampler_would_be_caught():
    """A sampler using S as the feature probability (the other reading) fails the zero-rate test."""
    u = torch.rand(100_000, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    wrong = spike_and_uniform(u, 1 - 0.2)  # P(zero) = 0.8 instead of 0.2
    p0 = (wrong == 0).double().mean().item()
    assert abs(p0 - 0.2) > Z * math.sqrt(0.16 / 1e5)


def test_sampler_streams_are_per_seed_and_independent_of_the_batch():
    a = FeatureSampler(6, [3, 5, 3], [0.5, 0.5, 0.9])(64)
    b = FeatureSampler(6, [5], [0.5])(64)
    assert a.shape == (3, 64, 6)
    torch.testing.assert_close(a[1], b[0])  # seed 5's data does not depend on the other instances
    u_shared = (a[0] > 0) | (a[2] == 0)  # same seed, S=0.9 is zero wherever S=0.5 is zero (common numbers)
    assert bool(u_shared.all())
    assert not torch.equal(a[0], a[1])


def toy_model(n: int, m: int, regimes: list[str], seeds: list[int], **kw) -> ToyModel:
    """``ToyModel(cfg, regimes, seeds)`` with a ToyConfig of n, m and these regimes (top-k off unless ``topk``)."""
    cfg = ToyConfig(n=n, m=m, regimes=tuple(dict.fromkeys(regimes)), topk=kw.pop("topk", m), noise_rate=0.0, **kw)
    return ToyModel(cfg, regimes, seeds)


def test_the_model_is_built_from_its_config():
    """ToyModel(cfg) holds cfg.regimes × cfg.seeds (regime-major) with cfg's n, m, importance, λ and k; listed
    instances must use the config's regimes."""
    cfg = ToyConfig(n=8, m=4, regimes=("poly", "mono-l1", "mono-topk"), n_seeds=2, seed=5, importance="geometric",
                    importance_decay=0.7, l1_penalty=0.2, topk=3, noise_rate=0.5)
    m = ToyModel(cfg)
    assert m.regimes == ["poly"] * 2 + ["mono-l1"] * 2 + ["mono-topk"] * 2 and m.seeds == [5, 6] * 3
    assert m.W.shape == (6, 4, 8) and m.topk == 3 and m.cfg is cfg
    torch.testing.assert_close(m.importance, importance_weights(8, "geometric", 0.7))
    assert m.l1.tolist() == [0, 0, pytest.approx(0.2), pytest.approx(0.2), 0, 0]
    listed = ToyModel(cfg, ["mono-topk", "poly"], [6, 5])
    torch.testing.assert_close(listed.W[0], m.W[5])   # the initial W depends on the seed only
    with pytest.raises(ConfigError, match="regime = 'oracle' is unknown; choose one of poly, mono-l1, mono-topk"):
        ToyModel(cfg, ["oracle"], [0])
    with pytest.raises(ConfigError, match="give both regimes and seeds"):
        ToyModel(cfg, ["poly"])
    with pytest.raises(ConfigError, match="takes no other arguments"):
        ToyModel(cfg, ["poly"], [0], topk=2)


def test_the_old_signature_warns_and_builds_the_same_model():
    """ToyModel(n, m, regimes, seeds, *, importance, l1_penalty, topk): deprecated for one release, same model
    (positional or by keyword), and its own importance vector is kept (also by select())."""
    imp = importance_weights(8, "geometric", 0.8).flip(0)  # most important feature last: no config says this
    with pytest.warns(DeprecationWarning, match="ToyModel"):
        old = ToyModel(8, 3, ["poly", "oracle"], [0, 1], importance=imp, l1_penalty=0.1, topk=2)
    with pytest.warns(DeprecationWarning, match="ToyModel"):
        by_keyword = ToyModel(n=8, m=3, regimes=["poly", "oracle"], seeds=[0, 1], importance=imp, topk=2)
    new = toy_model(8, 3, ["poly", "oracle"], [0, 1], topk=2, l1_penalty=0.1)
    torch.testing.assert_close(old.W[0], new.W[0])
    torch.testing.assert_close(old.W[0], by_keyword.W[0])
    assert torch.equal(old.importance, imp) and torch.equal(old.select(1).importance, imp)
    assert set(old.W[1].detach().argmax(1).tolist()) == {5, 6, 7}  # the oracle follows the given importance
    assert old.topk == 2 and old.cfg.l1_penalty == 0.1


def test_regime_properties():
    regimes = ["poly", "mono-nonneg", "mono-nonneg-w", "mono-l1", "oracle"]
    m = toy_model(8, 3, regimes, [0] * 5, importance="geometric", importance_decay=0.8, l1_penalty=0.1)
    x = FeatureSampler(8, [0] * 5, [0.3] * 5)(256)
    h = m.encode(x)
    assert (h[1] >= 0).all() and (h[3] >= 0).all()  # non-negative codes
    assert (h[0] < 0).any()  # the poly code is not constrained
    assert (m.W[2] >= 0).all()  # non-negative weights
    # oracle: one-hot rows on the 3 most important features (the first three), h_j = x of that feature
    W = m.W[4].detach()
    assert torch.equal(W.sum(1), torch.ones(3)) and torch.equal((W != 0).sum(1), torch.ones(3, dtype=torch.long))
    assert set(W.argmax(1).tolist()) == {0, 1, 2}
    torch.testing.assert_close(h[4], x[4][:, W.argmax(1)])
    # losses: one per instance, L1 term only for mono-l1
    loss = m.loss(x)
    assert loss.shape == (5,)
    assert m.l1.tolist() == [0, 0, 0, pytest.approx(0.1), 0]


def test_topk_rotation_and_hand_built_regimes():
    regimes = ["mono-topk", "oracle", "oracle-rot", "oracle-topk"]
    m = toy_model(8, 4, regimes, [0, 1, 1, 1], topk=2)
    x = FeatureSampler(8, [0, 1, 1, 1], [0.3] * 4)(128)
    h = m.encode(x)
    assert ((h[0] != 0).sum(-1) <= 2).all() and (h[0] >= 0).all()     # top-k of a ReLU code
    assert ((h[3] != 0).sum(-1) <= 2).all()
    # oracle-topk keeps the two largest of the oracle's code
    top = h[1].topk(2, dim=-1).values
    torch.testing.assert_close(h[3].sort(-1, descending=True).values[:, :2], top)
    # oracle-rot = R·oracle with R orthogonal (same Gram matrix WᵀW), and R depends on the seed only
    R = m.W[2] @ m.W[1].T
    torch.testing.assert_close(R @ R.T, torch.eye(4), atol=1e-5, rtol=0)
    torch.testing.assert_close(m.W[2].T @ m.W[2], m.W[1].T @ m.W[1], atol=1e-5, rtol=0)
    assert not torch.allclose(R, torch.eye(4), atol=0.1)
    again = toy_model(8, 4, ["oracle-rot"], [1])
    torch.testing.assert_close(again.W[0], m.W[2])


def test_select_and_projection():
    m = toy_model(6, 3, ["poly", "mono-nonneg-w"], [1, 2])
    with torch.no_grad():
        m.W.fill_(-1.0)
    m.project_()
    assert (m.W[0] == -1).all() and (m.W[1] == 0).all()
    s = m.select(1)
    assert s.regimes == ["mono-nonneg-w"] and s.seeds == [2] and torch.equal(s.W[0], m.W[1])


@pytest.mark.parametrize("kwargs, match", [
    (dict(n=4, m=5, regimes=["poly"], seeds=[0]), "m = 5"),
    (dict(n=4, m=2, regimes=["mono"], seeds=[0]), "regime = 'mono' is unknown"),
    (dict(n=4, m=2, regimes=["poly"], seeds=[0, 1]), "one seed per regime"),
    (dict(n=4, m=2, regimes=["mono-topk"], seeds=[0], topk=3), r"topk = 3 is outside \[1, m = 2\]"),
    (dict(n=4, m=2, regimes=["mono-topk"], seeds=[0], topk=0), "topk = 0 must be ≥ 1"),
])
def test_model_bad_input(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        toy_model(**kwargs)
    with pytest.raises(ConfigError, match=match), pytest.warns(DeprecationWarning):  # the old form checks the same
        ToyModel(**kwargs)


def test_bad_sparsity_and_importance():
    with pytest.raises(ConfigError, match=r"sparsity = 1.0 is outside \[0, 1\)"):
        FeatureSampler(3, [0], [1.0])
    with pytest.raises(ConfigError, match="importance"):
        importance_weights(3, "zipf")


def test_the_top_k_code_keeps_what_torch_topk_keeps():
    """The fast k-th-largest threshold of the top-k codes equals torch.topk's selection (continuous values,
    so no ties; ReLU zeros stay zero), for the max-pass path (k ≤ 4) and the topk path (k > 4)."""
    from monotheory.toy.model import _kth_largest

    a = torch.randn(3, 64, 9, generator=torch.Generator().manual_seed(0)).clamp(min=0.0)
    for k in range(1, 9):
        keep = torch.zeros_like(a, dtype=torch.bool).scatter_(-1, a.topk(k, dim=-1).indices, True)
        expected = torch.where(keep, a, 0.0)
        assert torch.equal(a.masked_fill(a < _kth_largest(a, k), 0.0), expected), k


def test_one_set_of_training_defaults():
    """TrainConfig and ToyConfig share their training defaults (one source: toy/config.py's DEFAULT_*), and
    ToyConfig checks its training fields by TrainConfig's rules (the same sentence)."""
    from monotheory.toy import DEFAULT_BATCH_SIZE, DEFAULT_LR, DEFAULT_STEPS, TrainConfig

    assert TrainConfig() == ToyConfig().train_config == TrainConfig(DEFAULT_STEPS, DEFAULT_BATCH_SIZE, DEFAULT_LR)
    for bad in (dict(steps=-1), dict(batch_size=0), dict(lr=0.0)):
        with pytest.raises(ConfigError) as toy:
            ToyConfig(**bad)
        with pytest.raises(ConfigError) as train:
            TrainConfig(**bad)
        assert str(toy.value) == str(train.value)


def test_toy_regimes_are_named_apart_from_the_theory_regimes():
    """The toy's regime list is TOY_REGIMES; the old name REGIMES still works for one release, with a warning."""
    import monotheory.toy as toy
    from monotheory.theory import REGIMES as THEORY

    assert THEORY == ("mono", "poly") and "oracle" in toy.TOY_REGIMES
    with pytest.warns(DeprecationWarning, match="TOY_REGIMES"):
        assert toy.REGIMES == toy.TOY_REGIMES
    with pytest.warns(DeprecationWarning, match="TOY_REGIMES"):
        from monotheory.toy.config import REGIMES  # noqa: F401
