"""Every checkpoint the vision layer writes (pretraining resume state, encoder, SAE, clean probes, feature
cache) holds only tensors and plain values, so it loads with ``torch.load(..., weights_only=True)``; every
site saves through :func:`monotheory.files.atomic_torch_save`."""

from __future__ import annotations

import ast
from pathlib import Path

import torch

from monotheory.probes import LinearProbe
from monotheory.vision.config import PretrainConfig, SAEConfig
from monotheory.vision.features import FeatureCache
from monotheory.vision.pretrain import pretrain
from monotheory.vision.probe_stage import load_probe, predict, save_probe
from monotheory.vision.sae import load_sae, make_sae, save_sae
from tests.vision.test_pretrain import PairData, tiny_encoder

ROOT = Path(__file__).resolve().parents[2]


def test_pretrain_resume_checkpoint_loads_with_weights_only(tmp_path):
    ckpt = tmp_path / "last.pt"
    pretrain(tiny_encoder(), PairData(), PretrainConfig(epochs=1, batch_size=8, lr=0.1, warmup_epochs=1,
                                                        optimizer="lars"), checkpoint_path=ckpt, progress=False)
    state = torch.load(ckpt, weights_only=True)
    assert state["epoch"] == 1 and set(state) >= {"model", "optimizer", "history", "config"}
    assert isinstance(state["history"][0]["loss"], float)


def test_sae_and_probe_and_features_load_with_weights_only(tmp_path):
    x = torch.randn(40, 8, generator=torch.Generator().manual_seed(0))
    sae = make_sae(8, SAEConfig(n_latents=16, k=4), x, seed=0)
    save_sae(sae, tmp_path / "sae.pt")
    torch.load(tmp_path / "sae.pt", weights_only=True)
    assert torch.equal(load_sae(tmp_path / "sae.pt").encoder.weight, sae.encoder.weight)

    y = torch.arange(40) % 3
    probe = LinearProbe(3, epochs=5, random_state=0).fit(x, y)
    save_probe(tmp_path / "probe.pt", probe)
    saved = torch.load(tmp_path / "probe.pt", weights_only=True)
    assert set(saved) == {"coef", "intercept", "classes"}
    assert torch.equal(predict(load_probe(tmp_path / "probe.pt"), x), torch.as_tensor(probe.predict(x)).long())

    cache = FeatureCache(tmp_path / "features")
    cache.get("a", lambda: (x, y))
    torch.load(cache.path("a"), weights_only=True)


def test_no_torch_save_or_unsafe_load_outside_the_atomic_helper():
    files = [*ROOT.glob("monotheory/vision/*.py"), *ROOT.glob("monotheory/probe/*.py")]
    for f in files:
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                    isinstance(node.func.value, ast.Name) and node.func.value.id == "torch":
                assert node.func.attr != "save", f"{f.name}:{node.lineno} calls torch.save (use atomic_torch_save)"
                if node.func.attr == "load":
                    kw = {k.arg: k.value for k in node.keywords}
                    assert isinstance(kw.get("weights_only"), ast.Constant) and kw["weights_only"].value is True, \
                        f"{f.name}:{node.lineno} torch.load without weights_only=True"
