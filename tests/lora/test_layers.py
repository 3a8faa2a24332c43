"""LoRA / MonoLoRA layers and the own injection on small torch models (fast, no transformers)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from monotheory import metrics
from monotheory.errors import ConfigError
from monotheory.lora import (
    LoRAConfig,
    LoRAConv2d,
    LoRALinear,
    MonoLoRALinear,
    activation_measures,
    adapter_state_dict,
    inject,
    load_adapter,
    merge,
    record_codes,
    relu_right,
    save_adapter,
    unmerge,
)


def _net(seed: int = 0, width: int = 16) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 4 * 4, width),
                         nn.ReLU(), nn.Linear(width, 5))


def _randomise(model: nn.Module, seed: int = 1) -> None:
    """Non-zero B so that the adapters do something (B = 0 at init)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "lora_" in n:
                p.copy_(torch.randn(p.shape, generator=g) * 0.3)


@pytest.mark.parametrize("relu", [None, "hidden", "output"])
def test_unchanged_at_init_and_only_adapters_train(relu):
    m = _net()
    x = torch.randn(6, 3, 4, 4)
    y0 = m(x).detach()
    names = inject(m, LoRAConfig(rank=2, relu=relu))
    assert names == ["0", "3", "5"]
    assert torch.equal(m(x), y0)  # B = 0: the wrapped model is the base model
    trainable = {n for n, p in m.named_parameters() if p.requires_grad}
    assert trainable and all(".lora_A." in n or ".lora_B." in n for n in trainable)
    assert isinstance(m[3], MonoLoRALinear if relu else LoRALinear) and isinstance(m[0], LoRAConv2d)


def test_relu_right_is_relu_with_derivative_one_at_zero():
    x = torch.tensor([-2.0, -0.0, 0.0, 3.0], requires_grad=True)
    y = relu_right(x)
    assert torch.equal(y.detach(), torch.relu(x.detach()))
    y.sum().backward()
    assert x.grad.tolist() == [0.0, 1.0, 1.0, 1.0]


@pytest.mark.parametrize("relu", [None, "hidden", "output"])
def test_every_placement_trains_from_the_real_init_linear_and_conv(relu):
    """Issue 24: from B = 0 (no randomised B), every adapter's B moves and the loss falls, Conv2d and Linear
    alike; torch's ReLU after B would leave every B at exactly 0 for ``output``."""
    m = _net()
    inject(m, LoRAConfig(rank=2, relu=relu))
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(32, 3, 4, 4, generator=g), torch.randint(0, 5, (32,), generator=g)
    opt = torch.optim.Adam([p for p in m.parameters() if p.requires_grad], lr=1e-2)
    losses = []
    for _ in range(10):
        loss = nn.functional.cross_entropy(m(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    for name in ("0", "3", "5"):
        assert m[int(name)].lora_B.weight.abs().max() > 1e-3, name
    assert losses[-1] < losses[0] - 0.05, losses


def test_relu_hidden_gives_exact_zeros_in_code_and_output_placement_nonnegative():
    x = torch.randn(64, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    for relu in ("hidden", "output", None):
        m = _net()
        inject(m, LoRAConfig(rank=4, relu=relu))
        _randomise(m)
        with torch.no_grad(), record_codes(m) as codes, record_codes(m, "output") as outs:
            m(x)
        code, out = torch.cat(codes["3"]), torch.cat(outs["3"])
        if relu == "hidden":
            assert (code >= 0).all() and metrics.zero_fraction(code) > 0.2  # Kaiming A on random x: ~half off
        else:
            assert metrics.zero_fraction(code) == 0.0  # no ReLU on the code: no exact zeros
        if relu == "output":
            assert (out >= 0).all() and metrics.zero_fraction(out) > 0.2
        meas = activation_measures(codes, torch.arange(64) % 5)
        assert set(meas["mean"]) == {"zero_fraction", "sparsity", "monosemanticity"}
        assert 0.2 <= meas["mean"]["monosemanticity"] <= 1  # chance is 1/5 for 5 balanced classes


def test_plain_lora_merge_equals_unmerged():
    m = _net()
    inject(m, LoRAConfig(rank=3, relu=None, alpha=6))
    _randomise(m)
    x = torch.randn(8, 3, 4, 4)
    y = m(x).detach()
    w0 = m[3].base.weight.detach().clone()
    merge(m)
    assert m[3].merged and not torch.equal(m[3].base.weight, w0)
    torch.testing.assert_close(m(x), y, rtol=1e-5, atol=1e-5)
    unmerge(m)
    torch.testing.assert_close(m[3].base.weight, w0, rtol=0, atol=1e-6)
    torch.testing.assert_close(m(x), y, rtol=1e-5, atol=1e-5)


def test_monolora_refuses_to_merge():
    m = _net()
    inject(m, LoRAConfig(rank=2, relu="hidden"))
    with pytest.raises(ConfigError, match="cannot be merged"):
        merge(m)
    assert not any(a.merged for a in (m[0], m[3], m[5]))


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_save_load_roundtrip_and_state_dict_is_adapter_only(tmp_path, suffix):
    m = _net()
    cfg = LoRAConfig(rank=2, relu="output", target_modules=("3", "5"))
    inject(m, cfg)
    _randomise(m)
    x = torch.randn(4, 3, 4, 4)
    y = m(x).detach()
    sd = adapter_state_dict(m)
    assert sorted(sd) == ["3.lora_A.weight", "3.lora_B.weight", "5.lora_A.weight", "5.lora_B.weight"]
    path = save_adapter(m, tmp_path / f"a{suffix}")
    fresh = load_adapter(_net(), path)  # same base weights (seed 0), adapters rebuilt from the file
    assert torch.equal(fresh(x), y)
    assert fresh[3].cfg == cfg


def test_predicate_and_regex_targets():
    m = _net()
    assert inject(m, LoRAConfig(rank=1), lambda n, mod: isinstance(mod, nn.Linear)) == ["3", "5"]
    m = _net()
    assert inject(m, LoRAConfig(rank=1, target_modules=r"[05]")) == ["0", "5"]


def test_bad_input_is_one_config_error(tmp_path):
    with pytest.raises(ConfigError, match="rank = 0"):
        LoRAConfig(rank=0)
    with pytest.raises(ConfigError, match="relu = 'sigmoid' is unknown"):
        LoRAConfig(relu="sigmoid")
    with pytest.raises(ConfigError, match="matches no"):
        inject(_net(), LoRAConfig(target_modules=("q_proj",)))
    m = _net()
    with pytest.raises(ConfigError, match="rank = 6 is larger"):
        inject(m, LoRAConfig(rank=6, target_modules=("5",)))  # Linear(16, 5): rank ≤ 5
    assert isinstance(m[5], nn.Linear) and all(p.requires_grad for p in m.parameters())  # untouched
    m = _net()
    inject(m, LoRAConfig(rank=2))
    path = save_adapter(m, tmp_path / "a.pt")
    with pytest.raises(ConfigError, match="another shape"):
        load_adapter(_net(width=24), path)
    (tmp_path / "junk.pt").write_bytes(b"not a file")
    with pytest.raises(ConfigError, match="not a monotheory adapter"):
        load_adapter(_net(), tmp_path / "junk.pt")
