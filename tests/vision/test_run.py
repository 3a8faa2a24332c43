"""The run-imagenet driver without training: presets, --force invalidation, the feature-cache key, early input
checks, seeding."""

from __future__ import annotations

import pytest
import torch

from monotheory.errors import ConfigError
from monotheory.vision import context
from monotheory.vision.presets import build_config
from monotheory.vision.run import check_inputs, clear_stages


def test_paper_preset_matches_the_authors_configs():
    cfg = build_config("paper", "imagenet100")
    assert cfg.probe.normalize_features is False and cfg.probe.lr == 1.5 and cfg.probe.batch_size == 256
    f = cfg.finetune  # scripts/finetuning/imagenet-100/*.yaml
    assert (f.lr, f.batch_size, f.weight_decay, f.momentum, f.epochs, f.few_shot_epochs) == (1.5, 256, 0.0, 0.9, 50, 100)
    assert f.schedule == "step" and f.decay_epochs == (60, 80) and f.augment and f.scale_lr
    assert cfg.pretrain.scale_lr and cfg.pretrain.mass_alpha == 1.0 and not cfg.proj_bn
    smoke = build_config("smoke", "folder")
    assert smoke.probe.normalize_features and smoke.finetune.epochs <= 2 and smoke.finetune.few_shot_epochs == 0


def _touch(path, text="x"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_force_clears_a_stage_and_everything_that_depends_on_it(tmp_path):
    files = ["pretrain_cl.json", "checkpoints/encoder_cl.pt", "checkpoints/pretrain_cl_last.pt", "features/a.pt",
             "sae.json", "checkpoints/sae.pt", "probe.json", "probe_correct.npz", "checkpoints/probe_cl.pt",
             "finetune.json", "finetune/ce_f1_n0.json", "checkpoints/finetune_ce_f1_n0.pt", "shift.json",
             "config.json"]
    for f in files:
        _touch(tmp_path / f)
    assert clear_stages(tmp_path, ["finetune"]) == ["finetune"]  # the per-run parts and checkpoints go too
    assert not any((tmp_path / f).exists() for f in ("finetune.json", "finetune", "checkpoints/finetune_ce_f1_n0.pt"))
    assert (tmp_path / "shift.json").exists() and (tmp_path / "probe.json").exists()
    assert clear_stages(tmp_path, ["pretrain"]) == ["pretrain", "sae", "probe", "shift"]  # a new encoder
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["config.json"]


def _ctx(tiny_folder, tmp_path, **top):
    cfg = build_config("smoke", "folder", {"data_root": str(tiny_folder), "out": str(tmp_path / "out"),
                                           "device": "cpu", **top})
    ctx = context.RunContext(cfg)
    enc = ctx.new_encoder("cl")
    ctx.encoder_path("cl").parent.mkdir(parents=True)
    torch.save(enc.state_dict(), ctx.encoder_path("cl"))
    (ctx.out / "pretrain_cl.json").write_text("{}")
    return ctx


def test_feature_cache_is_keyed_by_everything_that_makes_the_features(tiny_folder, tmp_path, monkeypatch):
    builds = []

    def fake_extract(fn, ds, **kw):
        builds.append(kw)
        return torch.zeros(len(ds), 4), torch.zeros(len(ds), dtype=torch.long)

    monkeypatch.setattr(context, "extract", fake_extract)
    ctx = _ctx(tiny_folder, tmp_path)
    ctx.features("cl", "val", 0.6)
    ctx.features("cl", "val", 0.6)
    assert len(builds) == 1  # cached
    ctx.cfg.probe.input_noise = "uniform"
    ctx.features("cl", "val", 0.6)
    assert len(builds) == 2 and builds[-1]["kind"] == "uniform"
    k = ctx.feature_key("cl", "val", 0.0)
    assert ctx.feature_key("cl", "val", 0.0) == k
    ctx.cfg.probe.input_noise = "gaussian"
    assert ctx.feature_key("cl", "val", 0.0) == k  # σ = 0: the noise kind does not matter
    for change in ({"crop_size": 24}, {"eval_resize": 28}, {"seed": 1}, {"train_fraction": 0.5}):
        old = {a: getattr(ctx.cfg, a) for a in change}
        for a, v in change.items():
            setattr(ctx.cfg, a, v)
        assert ctx.feature_key("cl", "val", 0.0) != k, change
        for a, v in old.items():
            setattr(ctx.cfg, a, v)
    torch.save({"other": torch.ones(3)}, ctx.encoder_path("cl"))  # a re-trained encoder
    assert ctx.feature_key("cl", "val", 0.0) != k


def test_new_encoder_reseeds_only_the_cpu_generator(tiny_folder, tmp_path, monkeypatch):
    ctx = _ctx(tiny_folder, tmp_path)
    seeds = []
    monkeypatch.setattr(torch.cuda, "manual_seed_all", lambda s: seeds.append(s))
    state = torch.get_rng_state()
    a, b = ctx.new_encoder("cl"), ctx.new_encoder("ncl")
    assert seeds == [] and torch.equal(torch.get_rng_state(), state)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))


def test_a_shift_root_missing_a_class_fails_before_any_work(tiny_folder, tmp_path, make_folder):
    bad = make_folder(tmp_path / "sketch", ["c0", "c1", "c3"], 1, split_names=("val",))
    cfg = build_config("smoke", "folder", {"data_root": str(tiny_folder), "out": str(tmp_path / "o"),
                                           "shift": (f"sketch={bad}",)})
    with pytest.raises(ConfigError, match=r"shift set 'sketch': 1 of the 4 classes are missing .*c2"):
        check_inputs(cfg)
    good = make_folder(tmp_path / "ok", 4, 1, split_names=("val",))
    check_inputs(build_config("smoke", "folder", {"data_root": str(tiny_folder), "shift": (f"s={good}",)},
                              {"probe": {"noise_rates": (0.0, 0.3)}, "finetune": {"noise_rates": (0.3,)}}))
