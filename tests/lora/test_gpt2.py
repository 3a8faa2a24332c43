"""MonoLoRA on GPT-2's ``Conv1D`` layers (weight stored transposed, (in, out)), built from a ``GPT2Config`` with
random weights (no download): both routes train from the real init, agree with each other, and never fall back
to plain LoRA silently."""

from __future__ import annotations

import pytest
import torch

transformers = pytest.importorskip("transformers")

from monotheory.errors import ConfigError  # noqa: E402
from monotheory.lora import LoRAConfig, LoRAConv1D, inject, load_adapter, merge, save_adapter, unmerge  # noqa: E402

from .training import train_steps  # noqa: E402

TARGETS = ("c_attn", "c_fc")


def tiny_gpt2(hidden: int = 32, seed: int = 0):
    cfg = transformers.GPT2Config(vocab_size=64, n_embd=hidden, n_layer=2, n_head=4, n_positions=32,
                                  bos_token_id=0, eos_token_id=0)
    torch.manual_seed(seed)
    return transformers.GPT2LMHeadModel(cfg).eval()


def _tokens(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randint(0, 16, (8, 1), generator=g) + torch.arange(12)) % 16


def _lora(model) -> dict[str, torch.Tensor]:
    """{"<layer>.lora_A" / ".lora_B": weight} with peft's "base_model.model." prefix and ".default" removed."""
    out = {}
    for n, p in model.named_parameters():
        if "lora_" in n:
            key = n.removeprefix("base_model.model.").replace(".default", "").removesuffix(".weight")
            out[key] = p
    return out


def _peft(relu):
    pytest.importorskip("peft")
    from peft import get_peft_model

    from monotheory.lora.hf import MonoLoraConfig

    return get_peft_model(tiny_gpt2(), MonoLoraConfig(r=4, lora_alpha=8, target_modules=list(TARGETS),
                                                      monolora_relu=relu))


@pytest.mark.parametrize("relu", [None, "hidden", "output"])
def test_own_route_wraps_conv1d_and_trains_from_init(relu, tmp_path):
    model, ids = tiny_gpt2(), _tokens()
    y0 = model(ids).logits.detach()
    names = inject(model, LoRAConfig(rank=4, alpha=8, relu=relu, target_modules=TARGETS))
    assert names == [f"transformer.h.{i}.{m}" for i in range(2) for m in ("attn.c_attn", "mlp.c_fc")]
    assert all(isinstance(model.get_submodule(n), LoRAConv1D) for n in names)
    assert torch.equal(model(ids).logits, y0)
    losses = train_steps(model, ids)
    assert max(p.abs().max().item() for k, p in _lora(model).items() if k.endswith("lora_B")) > 1e-3
    assert losses[-1] < losses[0] - 0.05, losses
    y1 = model(ids).logits.detach()
    fresh = load_adapter(tiny_gpt2(), save_adapter(model, tmp_path / "a.pt"))
    assert torch.equal(fresh(ids).logits, y1)


def test_own_conv1d_merge_uses_the_transposed_weight():
    model, ids = tiny_gpt2(), _tokens()
    inject(model, LoRAConfig(rank=3, relu=None, target_modules=TARGETS))
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in _lora(model).values():
            p.copy_(torch.randn(p.shape, generator=g) * 0.2)
    y = model(ids).logits.detach()
    merge(model)
    torch.testing.assert_close(model(ids).logits, y, rtol=1e-4, atol=1e-4)
    unmerge(model)
    torch.testing.assert_close(model(ids).logits, y, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("relu", ["hidden", "output"])
def test_peft_route_is_monolora_on_conv1d_and_equals_the_own_route(relu):
    """The issue-24 defect: peft's variant map was empty on Conv1D (plain LoRA). Now every targeted Conv1D holds
    the ReLU variant, B moves from its zero init, and with the same A and B both routes give the same logits."""
    from monotheory.lora.hf import MonoLoraLinear, ReluVariant

    pm, ids = _peft(relu), _tokens()
    layers = [m for m in pm.modules() if isinstance(m, MonoLoraLinear)]
    assert len(layers) == 4 and all(isinstance(m.lora_variant["default"], ReluVariant) for m in layers)
    assert torch.equal(pm(ids).logits, tiny_gpt2()(ids).logits)
    losses = train_steps(pm, ids)
    assert max(p.abs().max().item() for k, p in _lora(pm).items() if k.endswith("lora_B")) > 1e-3
    assert losses[-1] < losses[0] - 0.05, losses
    own = tiny_gpt2()
    inject(own, LoRAConfig(rank=4, alpha=8, relu=relu, target_modules=TARGETS))
    theirs = _lora(pm)
    assert sorted(_lora(own)) == sorted(theirs)
    with torch.no_grad():
        for k, p in _lora(own).items():
            p.copy_(theirs[k])
    torch.testing.assert_close(own(ids).logits, pm(ids).logits, rtol=1e-5, atol=1e-5)
    plain = tiny_gpt2()
    inject(plain, LoRAConfig(rank=4, alpha=8, relu=None, target_modules=TARGETS))
    with torch.no_grad():
        for k, p in _lora(plain).items():
            p.copy_(theirs[k])
    assert not torch.allclose(plain(ids).logits, pm(ids).logits, atol=1e-4)  # not plain LoRA


def test_no_match_hint_names_the_layers_that_exist():
    with pytest.raises(ConfigError, match=r"matches no nn.Linear.*'c_attn', 'c_fc', 'c_proj', 'lm_head'") as e:
        inject(tiny_gpt2(), LoRAConfig(target_modules=("q_proj",)))
    assert "\n" not in str(e.value)
    with pytest.raises(ConfigError, match="selects only modules of type Embedding, which LoRA does not wrap"):
        inject(tiny_gpt2(), LoRAConfig(target_modules=("wte", "wpe")))
    with pytest.raises(ConfigError, match="predicate accepts none"):
        inject(tiny_gpt2(), LoRAConfig(target_modules=TARGETS), lambda n, m: False)


def test_peft_refuses_other_module_types_on_gpt2():
    pytest.importorskip("peft")
    from peft import get_peft_model

    from monotheory.lora.hf import MonoLoraConfig

    with pytest.raises(ConfigError, match="selects a module of type Embedding") as e:
        get_peft_model(tiny_gpt2(), MonoLoraConfig(r=4, target_modules=["c_attn", "wte"]))
    assert "\n" not in str(e.value)
