"""The authors' recipe as ``--preset paper``: the record of their settings (monotheory/data/authors_settings.json)
against the resolved presets, entry by entry; the differences page; ``--print-config``; the SAE probe input, the
step schedule, the two-crop SAE training, and the built-in digits data set."""

from __future__ import annotations

import dataclasses
import types
from pathlib import Path

import pytest
import torch

from monotheory.cli import main as cli_main
from monotheory.vision import authors as A
from monotheory.vision.authors import compare
from monotheory.vision.config import RunConfig
from monotheory.vision.differences import DIFFERENCES, WHY, comparison_lines, page, preset_options
from monotheory.vision.presets import KEEP_OURS, build_config

REPO = Path(__file__).resolve().parents[2]
NAMED = {i: d for d in DIFFERENCES for i in d.entries}


def test_the_record_is_well_formed_and_every_entry_has_one_rule():
    rec = A.authors_settings()
    assert rec["source"]["repository"] == "PKU-ML/Beyond_Interpretability" and len(rec["source"]["commit"]) == 40
    settings = rec["settings"]
    ids = [e["id"] for e in settings]
    assert len(ids) == len(set(ids)) and len(ids) > 300
    for e in settings:
        assert e["dataset"] in ("imagenet100", "cifar100", "all") and e["files"], e["id"]
        assert e["stage"] in ("pretrain", "augment", "sae", "linear", "finetune"), e["id"]
        assert e["key"].startswith("code.") == ("note" in e), e["id"]  # code facts say where in the code
        rule = A.rule_for(e)  # exactly one rule, or ValueError
        assert rule.kind in ("set", "grid", "fixed", "placeholder", "env", "unused")
        assert rule.kind not in ("env", "unused") or rule.note, e["id"]
        assert (rule.kind == "placeholder") == bool(e.get("placeholder")), e["id"]
    # the settings the issue names, as read from their files
    by_id = {e["id"]: e for e in settings}
    assert by_id["cifar100/pretrain/optimizer.weight_decay"]["value"] == 1e-4
    assert by_id["cifar100/augment/gaussian_blur.prob"]["value"] == 0.5
    assert by_id["imagenet100/sae/devices"]["value"] == [0, 1]
    assert by_id["imagenet100/linear/uniform_noise#2"]["value"] == 0.2
    assert by_id["imagenet100/pretrain/seed"]["value"] == 3 and by_id["cifar100/pretrain/code.stem_padding"]["value"] == 2


@pytest.mark.parametrize("dataset", ["imagenet100", "cifar100"])
def test_resolved_paper_preset_matches_every_entry_or_the_differences_table_names_it(dataset):
    """A difference exists only when the table names it, and a row names only entries that differ."""
    cfg = build_config("paper", dataset)
    cs = compare(cfg)
    assert len(cs) > 100
    unnamed = [(c.entry["id"], c.theirs, c.ours) for c in cs if not c.same and c.entry["id"] not in NAMED]
    stale = [c.entry["id"] for c in cs if c.same and c.entry["id"] in NAMED]
    assert not unnamed, unnamed
    assert not stale, stale
    compared = {c.entry["id"] for c in cs}
    record = {e["id"] for e in A.entries(dataset)}
    assert {i for i in NAMED if i in record} <= compared  # every named entry of this data set was compared


def test_every_named_entry_exists_and_kept_settings_are_named():
    ids = {e["id"] for e in A.authors_settings()["settings"]}
    assert set(NAMED) <= ids
    assert KEEP_OURS <= set(NAMED)
    for d in DIFFERENCES:
        assert d.entries and d.ours and d.why, d.what
        if d.option:
            A.lookup(RunConfig(), d.option)  # the option exists


@pytest.mark.parametrize("dataset, change, entry", [
    ("cifar100", {"pretrain": {"weight_decay": 1e-5}}, "cifar100/pretrain/optimizer.weight_decay"),  # the old preset
    ("cifar100", {"top": {"stem_padding": 1}}, "cifar100/pretrain/code.stem_padding"),
    ("imagenet100", {"sae": {"batch_size": 128}}, "imagenet100/sae/devices"),
    ("imagenet100", {"sae": {"backbone_mode": "eval"}}, "all/sae/code.backbone_mode"),
    ("imagenet100", {"probe": {"uniform_noise": (0.0,)}}, "imagenet100/linear/uniform_noise#2"),
    ("imagenet100", {"top": {"seed": 0}}, "imagenet100/pretrain/seed"),
    ("imagenet100", {"top": {"blur": False}}, "imagenet100/augment/gaussian_blur.prob"),
])
def test_a_preset_that_strays_from_the_record_is_caught(dataset, change, entry):
    nested = {k: v for k, v in change.items() if k != "top"}
    cfg = build_config("paper", dataset, change.get("top"), nested)
    bad = {c.entry["id"] for c in compare(cfg) if not c.same and c.entry["id"] not in NAMED}
    assert entry in bad, bad


def test_folder_preset_is_the_imagenet_one():
    a, b = build_config("paper", "folder"), build_config("paper", "imagenet100")
    assert dataclasses.replace(a, dataset="imagenet100") == b


def test_the_fixed_values_are_what_the_code_does():
    """The constants the rules compare with are read back from the code that uses them."""
    from PIL import Image
    from torchvision import transforms as T

    from monotheory.vision import data as D
    from monotheory.vision import linear_eval, sae

    def ops(crop):
        return D.simclr_transform(crop, blur=True).transform.transforms

    def applied(crop, kind):
        return [t for t in ops(crop) if isinstance(t, T.RandomApply) and isinstance(t.transforms[0], kind)]

    rrc = next(t for t in ops(224) if isinstance(t, T.RandomResizedCrop))
    assert rrc.scale == (A.AUGMENT["rrc.crop_min_scale"], A.AUGMENT["rrc.crop_max_scale"])
    (jitter_apply,), (blur_apply,) = applied(224, T.ColorJitter), applied(224, T.GaussianBlur)
    jitter, blur = jitter_apply.transforms[0], blur_apply.transforms[0]
    assert jitter_apply.p == A.AUGMENT["color_jitter.prob"] and blur_apply.p == 0.5
    assert (jitter.brightness[1] - 1, jitter.contrast[1] - 1, jitter.saturation[1] - 1, jitter.hue[1]) == pytest.approx(
        (A.AUGMENT["color_jitter.brightness"], A.AUGMENT["color_jitter.contrast"],
         A.AUGMENT["color_jitter.saturation"], A.AUGMENT["color_jitter.hue"]))
    assert next(t for t in ops(224) if isinstance(t, T.RandomGrayscale)).p == A.AUGMENT["grayscale.prob"]
    assert next(t for t in ops(224) if isinstance(t, T.RandomHorizontalFlip)).p == A.AUGMENT["horizontal_flip.prob"]
    assert not any("olariz" in type(t).__name__ or "qualiz" in type(t).__name__ for t in ops(224))  # p = 0 both
    assert len(D.simclr_transform(32)(Image.new("RGB", (32, 32)))) == A.AUGMENT["num_crops"]
    assert A._blur_kernel(build_config("paper", "imagenet100")) == f"window {blur.kernel_size[0]}, sigma ~ U[0.1, 2]"
    for crop in (32, 224):  # the rule's account of when data.py blurs
        cfg = dataclasses.replace(build_config("paper", "imagenet100"), crop_size=crop)
        assert A._blur_applied(cfg) == bool(applied(crop, T.GaussianBlur)), crop
    for ds in ("imagenet100", "cifar100"):
        assert [list(v) for v in D.normalization(ds)] == A.NORMALIZATION[ds]
    assert A.SOLO_WARMUP == [sae.WARMUP_EPOCHS, sae.WARMUP_START_LR] and linear_eval.WARMUP_START_LR == A.SOLO_WARMUP[1]
    assert linear_eval.StepProbe(2).momentum == A.PROBE_MOMENTUM


def test_every_default_that_is_not_theirs_says_why():
    for target, row in preset_options().items():
        if row["default"] != row["imagenet100"]:
            assert target in WHY, target


def test_the_differences_page_is_generated_from_the_record():
    text = (REPO / "docs" / "differences.md").read_text()
    assert text == page(), "docs/differences.md is stale: python -m monotheory.vision.differences > docs/differences.md"
    for d in DIFFERENCES:
        assert d.what in text
    assert "--shift sketch=" in text and "n01558993/" in text


def test_print_config_shows_the_authors_cifar_values_and_runs_nothing(capsys, tmp_path):
    out = tmp_path / "never"
    assert cli_main(["run-imagenet", "--preset", "paper", "--dataset", "cifar100", "--out", str(out),
                     "--print-config"]) == 0
    text = capsys.readouterr().out
    for line in ("# pretrain.weight_decay: 0.0001 = theirs 0.0001", "# pretrain.lr: 0.4 = theirs 0.4",
                 "# pretrain.epochs: 200 = theirs 200", "# stem_padding: 2 = theirs 2",
                 "# probe.solver: 'lars' = theirs 'lars'", "# probe.schedule: 'warmup_cosine' = theirs 'warmup_cosine'",
                 "# sae.optimizer: 'lars' = theirs 'lars'", "# sae.lr: 0.4 = theirs 0.4", "# seed: 10 = theirs 10"):
        assert line in text, line
    assert "NOT NAMED" not in text and not out.exists()
    # an override that strays from the record shows as an unnamed difference
    cfg = build_config("paper", "cifar100", nested={"pretrain": {"weight_decay": 1e-5}})
    lines = comparison_lines(cfg)
    assert any("pretrain.weight_decay: 1e-05 ≠ theirs 0.0001" in ln for ln in lines)
    assert any("cifar100/pretrain/optimizer.weight_decay" in ln and "NOT NAMED" in ln for ln in lines)
    assert comparison_lines(build_config("smoke", "folder")) == [
        "# preset smoke: sized for a CPU, not compared with the authors' settings (see --preset paper)"]


def _codes_of(probe_input: str, sae, feats):
    from monotheory.vision.context import RunContext

    cfg = dataclasses.replace(build_config("smoke", "folder"))
    cfg.sae = dataclasses.replace(cfg.sae, probe_input=probe_input)
    fake = types.SimpleNamespace(cfg=cfg, features=lambda *a, **k: (feats, torch.zeros(len(feats))),
                                 load_sae=lambda stage="probe": sae)
    return RunContext.method_features(fake, "sae", "val")[0]


def test_raw_versus_normalised_sae_probe_input_changes_the_sae_features():
    from monotheory.vision.sae import TopKSAE, TopKSAEConfig, sae_codes

    torch.manual_seed(0)
    feats = 5.0 * torch.randn(64, 16) + 2.0  # norms far from 1, so normalising matters
    sae = TopKSAE(TopKSAEConfig(d_in=16, n_latents=32, k=4, seed=0)).init_from_data(torch.nn.functional.normalize(feats, dim=1)).eval()
    raw, normed = _codes_of("raw", sae, feats), _codes_of("normalized", sae, feats)
    assert torch.equal(raw, sae_codes(sae, feats, normalize=False))
    assert torch.equal(normed, sae_codes(sae, feats, normalize=True))
    assert not torch.allclose(raw, normed)
    # the active latents themselves differ, not only their scale
    assert ((raw != 0) != (normed != 0)).any()


def test_step_schedule_keeps_the_lr_constant_over_50_epochs():
    from monotheory.vision.linear_eval import StepProbe, make_probe, step_lr

    cfg = build_config("paper", "imagenet100").probe
    assert cfg.epochs == 50 and cfg.schedule == "step"
    assert {step_lr(1.5, e, cfg.decay_epochs) for e in range(cfg.epochs)} == {1.5}
    x, y = torch.randn(40, 5), torch.arange(40) % 3
    probe = make_probe(dataclasses.replace(cfg, batch_size=16), 3, 1.5, seed=0)
    assert isinstance(probe, StepProbe)
    probe.fit(x, y)
    assert [h["lr"] for h in probe.history_] == [1.5] * 50
    # the schedule is applied: a milestone inside the run does decay the lr
    early = StepProbe(3, lr=1.0, epochs=12, batch_size=16, decay_epochs=(10,)).fit(x, y)
    assert [h["lr"] for h in early.history_] == [1.0] * 10 + [pytest.approx(0.1)] * 2


def test_cifar_probe_is_lars_with_warmup_cosine(monkeypatch):
    """The CIFAR-100 preset's probe: LARS (trust 0.02, clip_lr, wd 1e-4 on the weight only) and solo-learn's
    warmup_cosine (from 3e-5 over warmup_epochs, per step, then cosine to 0); it learns a separable task."""
    from monotheory.vision.linear_eval import StepProbe, make_probe
    from monotheory.vision.pretrain import LARS

    cfg = build_config("paper", "cifar100").probe
    assert (cfg.solver, cfg.schedule, cfg.lr, cfg.weight_decay, cfg.batch_size, cfg.clip_lr) == (
        "lars", "warmup_cosine", 0.4, 1e-4, 256, True)
    g = torch.Generator().manual_seed(0)
    y = torch.arange(60) % 3
    x = torch.nn.functional.one_hot(y, 3).float() * 4 + 0.3 * torch.randn(60, 3, generator=g)
    probe = make_probe(dataclasses.replace(cfg, batch_size=20, epochs=12, warmup_epochs=2), 3, 0.4, seed=0)
    assert isinstance(probe, StepProbe) and probe.optimizer == "lars" and probe.schedule == "warmup_cosine"
    seen = []
    real_step = LARS.step

    def spy(self, closure=None):
        seen.append([(g["lr"], g["weight_decay"], g["lars_exclude"]) for g in self.param_groups])
        return real_step(self, closure)

    monkeypatch.setattr(LARS, "step", spy)
    probe.fit(x, y)
    lrs = [s[0][0] for s in seen]  # 3 steps an epoch, 12 epochs
    assert len(lrs) == 36 and lrs[0] == pytest.approx(3e-5) and lrs[5] == pytest.approx(0.4)
    assert lrs[6] == pytest.approx(0.4) and lrs[-1] < 0.01 and lrs[20] < lrs[10]
    assert seen[0][0][1:] == (1e-4, False) and seen[0][1][1:] == (0.0, True)  # weight / bias
    assert probe.score(x, y) > 0.9


def test_paper_sae_options_change_training():
    from monotheory.vision.config import SAEConfig
    from monotheory.vision.sae import TopKSAE, TopKSAEConfig, sae_optimizer

    default = TopKSAE(TopKSAEConfig(d_in=8, n_latents=16, k=2, init="default", seed=0))
    ours = TopKSAE(TopKSAEConfig(d_in=8, n_latents=16, k=2, init="transpose", seed=0))
    assert torch.allclose(ours.encoder.weight, ours.decoder.weight.T)
    assert not torch.allclose(default.encoder.weight, default.decoder.weight.T)
    opt = sae_optimizer(default, SAEConfig(n_latents=16, k=2, decoder_lr=0.3))
    assert sorted(g["lr"] for g in opt.param_groups) == [1e-4, 0.3]


def test_two_crop_sae_trains_on_both_views():
    from monotheory.vision.config import SAEConfig
    from monotheory.vision.sae import train_sae_two_crop

    enc = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 6)).eval()
    seen = []

    class Sampler:
        def set_epoch(self, e):
            seen.append(e)

    loader = [((torch.randn(4, 3, 2, 2), torch.randn(4, 3, 2, 2)), torch.zeros(4))] * 3
    cfg = SAEConfig(n_latents=12, k=3, epochs=2, batch_size=4, train_data="two_crop")
    sae, hist = train_sae_two_crop(enc, loader, Sampler(), cfg, torch.randn(10, 6))
    assert seen == [0, 1] and len(hist["loss"]) == 2 and hist["n_latents"] == 12


def test_digits_dataset_is_builtin():
    pytest.importorskip("sklearn")
    from monotheory.vision.data import class_names, load_datasets

    train, val, names = load_datasets("digits", "")
    assert names == [str(d) for d in range(10)] == class_names("digits", "")
    assert len(train) + len(val) == 1797 and len(val) == 364
    img, y = train[0]
    assert img.size == (8, 8) and 0 <= y < 10


def test_digits_without_sklearn_is_one_line_exit_2(monkeypatch, capsys, tmp_path):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "sklearn" else real(n, *a))
    rc = cli_main(["run-imagenet", "--dataset", "digits", "--preset", "digits", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "scikit-learn" in err[0] and "pip install" in err[0]
    assert not (tmp_path / "o").exists()


def test_batched_simclr_views_are_normalised_and_seeded():
    from monotheory.seeding import torch_generator
    from monotheory.vision.batch_aug import BatchSimCLR
    from monotheory.vision.data import IMAGENET_MEAN, IMAGENET_STD

    imgs = (torch.arange(6 * 3 * 8 * 8) % 251).to(torch.uint8).view(6, 3, 8, 8)
    aug = BatchSimCLR(8, IMAGENET_MEAN, IMAGENET_STD)
    a = aug(imgs, torch_generator(0, "t"))
    b = aug(imgs, torch_generator(0, "t"))
    c = aug(imgs, torch_generator(1, "t"))
    assert a.shape == (6, 3, 8, 8) and a.dtype == torch.float32 and torch.equal(a, b) and not torch.equal(a, c)
    lo = (0 - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
    hi = (1 - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
    assert (a >= lo.view(1, 3, 1, 1) - 1e-5).all() and (a <= hi.view(1, 3, 1, 1) + 1e-5).all()
