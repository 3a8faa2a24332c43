"""Training: batched = one by one, and the known geometry of Elhage et al.'s toy models."""

import pytest
import torch

from monotheory.toy import ToyConfig
from monotheory.toy.model import ToyModel
from monotheory.toy.sampler import FeatureSampler
from monotheory.toy.train import TrainConfig, train, train_one_by_one


def toy_model(n: int, m: int, regimes: list[str], seeds: list[int], **kw) -> ToyModel:
    """``ToyModel(cfg, regimes, seeds)`` with a ToyConfig of n, m and these regimes (top-k off unless ``topk``)."""
    cfg = ToyConfig(n=n, m=m, regimes=tuple(dict.fromkeys(regimes)), topk=kw.pop("topk", m), noise_rate=0.0, **kw)
    return ToyModel(cfg, regimes, seeds)


def test_batched_training_matches_single_instance_training():
    regimes = ["poly", "mono-nonneg", "mono-l1", "mono-nonneg-w", "mono-topk"]
    seeds, sp = [0, 1, 2, 1, 3], [0.7, 0.9, 0.5, 0.9, 0.8]
    cfg = TrainConfig(steps=150, batch_size=64, lr=1e-2)
    batched = toy_model(12, 4, regimes, seeds, l1_penalty=0.05, topk=2)
    train(batched, FeatureSampler(12, seeds, sp), cfg)
    singles = train_one_by_one(toy_model(12, 4, regimes, seeds, l1_penalty=0.05, topk=2),
                               lambda k: FeatureSampler(12, [seeds[k]], [sp[k]]), cfg)
    for k, single in enumerate(singles):
        torch.testing.assert_close(batched.W[k], single.W[0], atol=2e-5, rtol=1e-4)
        torch.testing.assert_close(batched.b[k], single.b[0], atol=2e-5, rtol=1e-4)
    # and it is not trivially true: another seed gives other weights
    other = toy_model(12, 4, ["poly"], [5])
    train(other, FeatureSampler(12, [5], [0.7]), cfg)
    assert (other.W[0] - batched.W[0]).abs().max() > 1e-2


def test_oracle_is_not_trained():
    m = toy_model(6, 3, ["oracle", "poly"], [0, 0])
    w0 = m.W.detach().clone()
    train(m, FeatureSampler(6, [0, 0], [0.5, 0.5]), TrainConfig(steps=20, batch_size=32))
    assert torch.equal(m.W[0], w0[0]) and not torch.equal(m.W[1], w0[1])


def test_very_sparse_features_form_antipodal_pairs():
    """n = 2m, S = 0.97: every feature is embedded (‖W_i‖ ≈ 1) with exactly one partner at WᵀW ≈ −1."""
    seeds = [0, 1]
    m = toy_model(10, 5, ["poly"] * 2, seeds)
    train(m, FeatureSampler(10, seeds, [0.97] * 2), TrainConfig(steps=2500, batch_size=512, lr=1e-2))
    W = m.W.detach()
    G = W.transpose(1, 2) @ W
    assert torch.allclose(W.norm(dim=1), torch.ones(2, 10), atol=0.05)
    off = G - torch.diag_embed(torch.diagonal(G, dim1=1, dim2=2))
    assert torch.allclose(off.min(-1).values, -torch.ones(2, 10), atol=0.05)  # one antipodal partner each
    assert ((off < -0.5).sum(-1) == 1).all()
    assert (off.abs() > 0.1).sum(-1).eq(1).all()  # and nothing else interferes


def test_dense_features_keep_exactly_the_most_important():
    """S = 0, importance 0.5^i, n = 10, m = 5: the represented features (‖W_i‖ > 0.5) are exactly the m = 5 most
    important ones, each at norm ≈ 1, and the other five are not embedded at all (no superposition)."""
    seeds = [0, 1, 2]
    m = toy_model(10, 5, ["poly"] * 3, seeds, importance="geometric", importance_decay=0.5)
    train(m, FeatureSampler(10, seeds, [0.0] * 3), TrainConfig(steps=3000, batch_size=512, lr=3e-2))
    norms = m.W.detach().norm(dim=1)
    for k in range(3):
        assert set(torch.nonzero(norms[k] > 0.5).flatten().tolist()) == {0, 1, 2, 3, 4}, norms[k]
    assert (norms[:, :5] > 0.95).all() and (norms[:, 5:] < 0.1).all()


def _forms():
    from monotheory.toy import fused
    return [False] + ([True] if fused.available() else [])


@pytest.mark.parametrize("fused", _forms())
@pytest.mark.parametrize("importance", ["uniform", "geometric"])
def test_hand_gradients_equal_autograd(importance, fused):
    """loss_and_grads (used by the trainer) against autograd of ToyModel.loss, every regime, λ > 0, with
    uniform and with geometric importance (I_i = 0.8^i weights the residual in both the loss and G), in the
    torch form and in the fused Numba form."""
    regs = ["poly", "mono-nonneg", "mono-nonneg-w", "mono-l1", "oracle", "mono-topk", "oracle-topk", "oracle-rot"]
    seeds = list(range(len(regs)))
    m = toy_model(12, 5, regs, seeds, l1_penalty=0.3, importance=importance, importance_decay=0.8, topk=2)
    with torch.no_grad():
        m.b.normal_(generator=torch.Generator().manual_seed(0))
    x = FeatureSampler(12, seeds, [0.5] * len(regs))(64)
    ref = m.loss(x)
    ref.sum().backward()
    loss, gW, gb = (t.clone() for t in m.loss_and_grads(x, fused=fused))
    torch.testing.assert_close(loss, ref.detach())
    torch.testing.assert_close(gW, m.W.grad)
    torch.testing.assert_close(gb, m.b.grad)
    # a deliberately wrong gradient would be caught: mono-nonneg's without the ReLU mask on h is poly's formula
    m.relu_hidden[1] = False
    _, wrong, _ = m.loss_and_grads(x, fused=fused)
    assert not torch.allclose(wrong[1], gW[1], atol=1e-3)
    m.relu_hidden[1] = True
    # ... and so would a top-k gradient that let the dropped entries through (mono-topk is instance 5)
    m.topk_code[5] = False
    _, wrong, _ = m.loss_and_grads(x, fused=fused)
    assert not torch.allclose(wrong[5], gW[5], atol=1e-3)
    m.topk_code[5] = True
    if importance == "geometric":  # and so would a gradient that ignored the importance weights
        m.importance.fill_(1.0)
        _, unweighted, _ = m.loss_and_grads(x, fused=fused)
        assert not torch.allclose(unweighted, gW, atol=1e-3)


def test_chunking_does_not_change_training():
    seeds = [0, 1, 2, 3, 4]
    runs = []
    for chunk in (1, 2, 5):
        m = toy_model(8, 3, ["poly", "mono-l1", "mono-nonneg", "poly", "mono-nonneg-w"], seeds, l1_penalty=0.1)
        train(m, FeatureSampler(8, seeds, [0.6] * 5), TrainConfig(steps=40, batch_size=32), chunk=chunk)
        runs.append(m.W.detach().clone())
    torch.testing.assert_close(runs[0], runs[1], atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(runs[0], runs[2], atol=1e-6, rtol=1e-5)


def test_a_seed_retrains_identically():
    """Same seeds, same config: bit-identical weights on rerun (the sampler's named streams, no global RNG)."""
    def run():
        m = toy_model(10, 4, ["poly", "mono-topk", "mono-l1"], [3, 3, 4], l1_penalty=0.05, topk=2)
        train(m, FeatureSampler(10, [3, 3, 4], [0.6, 0.6, 0.8]), TrainConfig(steps=30, batch_size=64))
        return m.W.detach().clone(), m.b.detach().clone()
    (w1, b1), (w2, b2) = run(), run()
    assert torch.equal(w1, w2) and torch.equal(b1, b2)


@pytest.mark.parametrize("k", [1, 3, 6])
def test_fused_and_torch_forms_give_the_same_step(k):
    """The fused Numba stages against the torch form on one step: top-k with k ≤ 4 (the repeated-max rule)
    and k > 4 (torch.topk's), every regime, a 40 × 20 model; to float32 rounding."""
    pytest.importorskip("numba", reason="numba not installed: the fused toy step is not tested")
    regs = ["poly", "mono-nonneg", "mono-nonneg-w", "mono-l1", "oracle", "mono-topk", "oracle-topk", "oracle-rot",
            "dense-trained"]
    seeds = list(range(len(regs)))
    m = toy_model(40, 20, regs, seeds, l1_penalty=0.1, topk=k, importance="geometric", importance_decay=0.9)
    with torch.no_grad():
        m.b.normal_(generator=torch.Generator().manual_seed(1))
    x = FeatureSampler(40, seeds, [0.3] * len(regs))(256)
    ref = m.loss_and_grads(x, fused=False)
    buf = {}
    got = m.loss_and_grads(x, fused=True, buffers=buf)
    again = [t.clone() for t in got]
    got2 = m.loss_and_grads(x, fused=True, buffers=buf)  # buffers reused: the same numbers again
    for r, g, g2 in zip(ref, again, got2, strict=True):
        torch.testing.assert_close(g, r, atol=1e-5, rtol=1e-4)
        assert torch.equal(g, g2)


def test_threads_and_forms_do_not_change_training(monkeypatch):
    """The trainer shares a step's chunks out over threads: 1 or 2 threads give identical weights (each
    instance's arithmetic does not depend on its thread); the torch form (no Numba) trains to the same weights
    up to float32 rounding."""
    from monotheory.toy import fused
    from monotheory.toy import train as train_mod

    regs = ["poly", "mono-l1", "mono-topk", "mono-nonneg", "oracle", "mono-nonneg-w"]
    seeds = [0, 0, 1, 1, 2, 2]

    def run():
        m = toy_model(10, 4, regs, seeds, l1_penalty=0.05, topk=2)
        train(m, FeatureSampler(10, seeds, [0.6, 0.6, 0.7, 0.7, 0.8, 0.8]), TrainConfig(steps=40, batch_size=64),
              chunk=2)
        return m.W.detach().clone()

    monkeypatch.setattr(train_mod, "_workers", lambda device, n: min(2, n))
    two = run()
    monkeypatch.setattr(train_mod, "_workers", lambda device, n: 1)
    one = run()
    assert torch.equal(one, two)
    monkeypatch.setattr(fused, "kernels", lambda: None)
    torch_form = run()
    torch.testing.assert_close(torch_form, one, atol=1e-4, rtol=1e-3)


def test_fused_form_refuses_what_it_cannot_run(monkeypatch):
    """fused = True on float64 tensors, or without Numba: one ConfigError sentence naming the value."""
    from monotheory.errors import ConfigError
    from monotheory.toy import fused

    m = toy_model(6, 3, ["poly"], [0])
    x = FeatureSampler(6, [0], [0.5])(8)
    if fused.available():
        with pytest.raises(ConfigError, match="float64"):
            m.loss_and_grads(x.double(), fused=True)
    monkeypatch.setattr(fused, "kernels", lambda: None)
    with pytest.raises(ConfigError, match="numba"):
        m.loss_and_grads(x, fused=True)


def test_the_fused_kernels_are_first_called_before_any_worker_thread(monkeypatch):
    """Numba compiles a kernel on its first call: that call comes from the calling thread before the trainer's
    worker threads exist (a Ctrl-C during a compilation on a worker could hang the run), and it draws no random
    numbers (the trained weights equal those of a run where every kernel was already compiled)."""
    pytest.importorskip("numba", reason="numba not installed: the fused toy step is not tested")
    from monotheory.toy import fused
    from monotheory.toy import train as train_mod

    regs, seeds = ["poly", "mono-topk", "mono-l1", "oracle"], [0, 0, 1, 1]
    ref = toy_model(10, 4, regs, seeds, l1_penalty=0.05, topk=2)
    train(ref, FeatureSampler(10, seeds, [0.6] * 4), TrainConfig(steps=20, batch_size=32), chunk=1)
    events = []
    real = fused.kernels()

    def recording(i, k):
        def call(*a):
            events.append(("kernel", i))
            return k(*a)
        return call
    monkeypatch.setattr(fused, "kernels", lambda: tuple(recording(i, k) for i, k in enumerate(real)))
    real_pool = train_mod.ThreadPoolExecutor
    monkeypatch.setattr(train_mod, "ThreadPoolExecutor", lambda n: (events.append(("pool",)), real_pool(n))[1])
    monkeypatch.setattr(train_mod, "_workers", lambda device, n: min(2, n))
    m = toy_model(10, 4, regs, seeds, l1_penalty=0.05, topk=2)
    train(m, FeatureSampler(10, seeds, [0.6] * 4), TrainConfig(steps=20, batch_size=32), chunk=1)
    first = {e[1]: j for j, e in reversed(list(enumerate(events))) if e[0] == "kernel"}
    assert ("pool",) in events and set(first) == {0, 1, 2, 3}
    assert max(first.values()) < events.index(("pool",))
    assert torch.equal(m.W, ref.W) and torch.equal(m.b, ref.b)
