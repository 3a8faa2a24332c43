"""MonoLoRA on a tiny Hugging Face Llama built from a config (random weights, no download): the own injection
and the peft route, each trained from the real initialisation (B = 0)."""

from __future__ import annotations

import pytest
import torch

transformers = pytest.importorskip("transformers")

from monotheory.errors import ConfigError  # noqa: E402
from monotheory.lora import LoRAConfig, inject, load_adapter, save_adapter  # noqa: E402

from .training import train_steps  # noqa: E402

TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def tiny_llama(hidden: int = 32, seed: int = 0):
    cfg = transformers.LlamaConfig(vocab_size=64, hidden_size=hidden, intermediate_size=2 * hidden,
                                   num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                   max_position_embeddings=32)
    torch.manual_seed(seed)
    return transformers.LlamaForCausalLM(cfg).eval()


def _tokens(seed: int = 0):
    # a repeating pattern an adapter can learn in a few steps: token t+1 = (t + 1) mod 16
    g = torch.Generator().manual_seed(seed)
    start = torch.randint(0, 16, (8, 1), generator=g)
    return (start + torch.arange(12)) % 16


def test_own_injection_on_llama(tmp_path):
    model, ids = tiny_llama(), _tokens()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    y0 = model(ids).logits.detach()
    names = inject(model, LoRAConfig(rank=4, alpha=8, relu="hidden", target_modules=TARGETS))
    assert len(names) == 2 * len(TARGETS)
    assert torch.equal(model(ids).logits, y0)
    losses = train_steps(model, ids)
    assert losses[-1] < losses[0] - 0.05, losses
    for n, p in model.named_parameters():  # base weights untouched, adapters moved
        if "lora_" in n:
            assert p.requires_grad
        else:
            key = n.replace(".base.", ".")
            assert not p.requires_grad and torch.equal(p, before[key]), n
    y1 = model(ids).logits.detach()
    assert not torch.allclose(y1, y0)
    path = save_adapter(model, tmp_path / "adapter.safetensors")
    fresh = load_adapter(tiny_llama(), path)
    assert torch.equal(fresh(ids).logits, y1)
    with pytest.raises(ConfigError, match="another shape"):
        load_adapter(tiny_llama(hidden=48), path)


def test_peft_monolora_roundtrip(tmp_path):
    pytest.importorskip("peft")
    from peft import get_peft_model

    from monotheory.lora.hf import MonoLoraConfig, MonoLoraLinear, load_monolora, record_peft_codes

    model, ids = tiny_llama(), _tokens()
    y0 = model(ids).logits.detach()
    pm = get_peft_model(model, MonoLoraConfig(r=4, lora_alpha=8, target_modules=list(TARGETS)))
    q = pm.base_model.model.model.layers[0].self_attn.q_proj
    assert isinstance(q, MonoLoraLinear)
    assert torch.equal(pm(ids).logits, y0)  # peft's B = 0
    trainable = [n for n, p in pm.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    losses = train_steps(pm, ids)
    assert losses[-1] < losses[0] - 0.05, losses
    y1 = pm(ids).logits.detach()
    with torch.no_grad(), record_peft_codes(pm) as codes:
        pm(ids)
    code = torch.cat(codes["base_model.model.model.layers.0.self_attn.q_proj"])
    assert code.shape == (ids.numel(), 4) and (code >= 0).all() and (code == 0).any()
    pm.save_pretrained(tmp_path / "mono")
    loaded = load_monolora(tiny_llama(), tmp_path / "mono")
    assert torch.equal(loaded(ids).logits, y1)
    with pytest.raises(ConfigError, match="not linear"):
        loaded.merge_and_unload()
    with pytest.raises(ConfigError, match="another shape"):
        load_monolora(tiny_llama(hidden=48), tmp_path / "mono")
    with pytest.raises(ConfigError, match="monolora_relu = 'sigmoid'"):
        MonoLoraConfig(r=4, monolora_relu="sigmoid")


def _max_b(model) -> float:
    return max(p.detach().abs().max().item() for n, p in model.named_parameters() if "lora_B" in n)


def _adapted(route: str, relu):
    """A tiny Llama with adapters at their real init (B = 0), through the own injection or peft."""
    model = tiny_llama()
    if route == "own":
        inject(model, LoRAConfig(rank=4, alpha=8, relu=relu, target_modules=TARGETS))
        return model
    pytest.importorskip("peft")
    from peft import LoraConfig, get_peft_model

    from monotheory.lora.hf import MonoLoraConfig

    cfg = (LoraConfig(r=4, lora_alpha=8, target_modules=list(TARGETS)) if relu is None else
           MonoLoraConfig(r=4, lora_alpha=8, target_modules=list(TARGETS), monolora_relu=relu))
    return get_peft_model(model, cfg)


@pytest.mark.parametrize("route", ["own", "peft"])
@pytest.mark.parametrize("relu", [None, "hidden", "output"])
def test_every_placement_trains_from_the_real_init(route, relu):
    """Issue 24: with B = 0 a plain ReLU after B passes no gradient, so ``output`` never trained (max|B| stayed 0,
    the loss did not move). From the real init: the model equals the base model, then B and the loss move."""
    ids = _tokens()
    y0 = tiny_llama()(ids).logits.detach()
    model = _adapted(route, relu)
    assert _max_b(model) == 0.0
    assert torch.equal(model(ids).logits, y0)
    losses = train_steps(model, ids)
    assert _max_b(model) > 1e-3
    assert losses[-1] < losses[0] - 0.05, losses


def test_peft_refuses_what_it_would_silently_make_plain_lora():
    pytest.importorskip("peft")
    from peft import get_peft_model

    from monotheory.lora.hf import MonoLoraConfig

    with pytest.raises(ConfigError, match="selects a module of type Embedding"):
        get_peft_model(tiny_llama(), MonoLoraConfig(r=4, target_modules=["embed_tokens", "q_proj"]))
    with pytest.raises(ConfigError, match="use_dora = True"):
        MonoLoraConfig(r=4, target_modules=["q_proj"], use_dora=True)
    with pytest.raises(ConfigError, match="init_lora_weights = 'pissa'"):
        MonoLoraConfig(r=4, target_modules=["q_proj"], init_lora_weights="pissa")
    with pytest.raises(ConfigError, match="not a valid regular expression"):
        MonoLoraConfig(r=4, target_modules="(q_proj")


def test_adapters_added_later_keep_their_kind():
    """A plain LoraConfig adapter added to MonoLoRA layers stays plain LoRA; a MonoLoRA adapter added to plain
    peft LoRA layers is refused by peft ≥ 0.21 (it would be plain LoRA; older peft cannot tell)."""
    peft = pytest.importorskip("peft")
    from packaging.version import Version
    from peft import LoraConfig, get_peft_model

    from monotheory.lora.hf import MonoLoraConfig, ReluVariant

    pm = get_peft_model(tiny_llama(), MonoLoraConfig(r=4, target_modules=["q_proj"], monolora_relu="output"))
    pm.add_adapter("plain", LoraConfig(r=4, target_modules=["q_proj"]))
    q = pm.base_model.model.model.layers[0].self_attn.q_proj
    assert isinstance(q.lora_variant["default"], ReluVariant) and q.lora_variant["default"].placement == "output"
    assert "plain" in q.lora_A and "plain" not in q.lora_variant
    if Version(peft.__version__) >= Version("0.21"):
        plain = get_peft_model(tiny_llama(), LoraConfig(r=4, target_modules=["q_proj"]))
        with pytest.raises(ValueError, match="monolora_relu"):
            plain.add_adapter("mono", MonoLoraConfig(r=4, target_modules=["q_proj"]))
