"""The ``probe`` stage of ``run-imagenet``: linear probes of frozen features under label noise (train) and
input noise (test) → ``probe.json``, ``probe_correct.npz`` and the clean-label probes ``checkpoints/probe_<m>.pt``.
Each row's ``test_acc`` is keyed by σ (``probe.sigmas``); ``test_acc_uniform`` by the ``probe.uniform_noise``
scales a (X + a·U[0, 1)), whose per-sample correctness is stored under the σ-key ``u<a>``.

Training labels are corrupted with :func:`monotheory.noise.label_noise` (the same draw for every method);
test labels stay clean. Features come from :class:`monotheory.vision.context.RunContext` (cached).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
import torch.nn.functional as F

from monotheory.files import atomic_torch_save
from monotheory.probes.grid import probe_grid
from monotheory.seeding import stream_seed
from monotheory.vision.config import METHODS, REGIME, ProbeConfig
from monotheory.vision.context import RunContext, sigma_key
from monotheory.vision.feature_stats import feature_stats, majority_chance
from monotheory.vision.linear_eval import make_probe as probe_for
from monotheory.vision.tables import save_correct


def prepare(features: torch.Tensor, normalize: bool) -> torch.Tensor:
    return F.normalize(features.float(), dim=1) if normalize else features.float()


def probe_lr(cfg: ProbeConfig) -> float:
    """The probe's lr: ``lr × batch_size / 256`` when ``scale_lr`` (solo-learn's linear-eval rule; one process)."""
    return cfg.lr * cfg.batch_size / 256 if cfg.scale_lr else cfg.lr


def probe_method(train: tuple[torch.Tensor, torch.Tensor], tests: dict[str, tuple[torch.Tensor, torch.Tensor]],
                 num_classes: int, cfg: ProbeConfig, *, seed: int = 0, device="cpu") -> tuple[list, dict, object]:
    """Fit one linear probe per training label-noise rate and score it on every test set.

    ``train`` = (features, clean labels); ``tests`` maps σ-key → (features, labels). Returns (rows,
    correct, clean_probe): rows ``[{noise_rate, realised_rate, train_acc_noisy, train_acc_clean,
    test_acc: {σ: acc}}]``, ``correct[(rate, σ)]`` = per-test-sample 0/1 correctness (for paired
    intervals), and the probe trained on clean labels (used for the shift stage).
    """
    def make_probe(rate):  # cosine or the authors' step schedule (ProbeConfig.schedule)
        return probe_for(cfg, num_classes, probe_lr(cfg), seed=seed, device=device)

    # each rate's label noise from its own named stream (the same draw for every method)
    return probe_grid(train, tests, num_classes, noise_rates=cfg.noise_rates, noise_model=cfg.noise_model,
                      noise_sampling=cfg.noise_sampling, make_probe=make_probe,
                      label_seed=lambda rate: stream_seed(seed, "label-noise", f"{rate:g}"), normalize=cfg.normalize_features)




def run_probe_stage(ctx: RunContext) -> None:
    """Linear probes of every method × training label-noise rate, scored at every test σ → ``probe.json``."""
    if ctx.done("probe"):
        return
    cfg = ctx.cfg.probe
    methods = [m for m in METHODS if m in ctx.cfg.methods]
    for m in methods:
        ctx.require("sae" if m == "sae" else f"pretrain_{m}", "probe")
    results, correct = {}, {}
    ctx.log(f"probe: batch {cfg.batch_size}, lr {probe_lr(cfg):g}; features extracted by {ctx.dist.world_size} "
            "process(es), probes fitted by one")
    ctx.eta.begin("probe", "probe (features)")
    for m in methods:
        ctx.log(f"probe {m}")
        train = ctx.method_features(m, "train", 0.0)
        tests = {sigma_key(s): ctx.method_features(m, "val", s) for s in cfg.sigmas}
        stats_on = tests[sigma_key(0.0)] if sigma_key(0.0) in tests else train
        for a in (a for a in cfg.uniform_noise if a > 0):  # X + a·U[0, 1), the authors' uniform_noise
            tests[f"u{sigma_key(a)}"] = ctx.method_features(m, "val", a, kind="uniform")
        if not ctx.dist.is_main:  # every rank extracts its share of the features; rank 0 fits the probes
            continue
        stats = feature_stats(*stats_on, seed=ctx.cfg.seed)
        rows, correct[m], clean = probe_method(train, tests, ctx.num_classes, cfg, seed=ctx.cfg.seed,
                                               device=ctx.device)
        for r in rows:  # the uniform-noise scores apart, so that test_acc keeps its σ keys
            r["test_acc_uniform"] = {k[1:]: r["test_acc"].pop(k) for k in list(r["test_acc"]) if k.startswith("u")}
        save_probe(ctx.ckpt_dir / f"probe_{m}.pt", clean)
        results[m] = {"regime": REGIME[m], "stats": stats, "rows": rows}
        ctx.log(f"probe {m}: " + ", ".join(f"η={r['noise_rate']:g}: {r['test_acc']}" for r in rows))
    if not ctx.dist.is_main:
        return
    save_correct(ctx.out / "probe_correct.npz", correct)
    ctx.write_result("probe", {"methods": results, "num_classes": ctx.num_classes, "n_train": len(ctx.train_eval),
                               "n_test": len(ctx.val), "dataset": ctx.cfg.dataset, "lr_effective": probe_lr(cfg),
                               **majority_chance(tests[next(iter(tests))][1]),
                               "config": dataclasses.asdict(cfg)})


def save_probe(path: Path, probe) -> None:
    """Save a fitted probe's weights as plain tensors (``coef``, ``intercept``, ``classes``; loads with
    ``weights_only=True``), atomically."""
    atomic_torch_save({"coef": torch.as_tensor(probe.coef_).cpu(), "intercept": torch.as_tensor(probe.intercept_).cpu(),
                       "classes": torch.as_tensor(getattr(probe, "classes_", range(len(probe.intercept_))))}, path)


def load_probe(path: Path) -> dict[str, torch.Tensor]:
    """The tensors :func:`save_probe` wrote (``weights_only=True``)."""
    return torch.load(path, map_location="cpu", weights_only=True)


def predict(probe: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Class labels of a saved probe on features ``x``: ``classes[argmax(x·coefᵀ + intercept)]``."""
    coef = probe["coef"]
    logits = x.to(coef.dtype) @ coef.T + probe["intercept"]
    return probe["classes"].long()[logits.argmax(1)]
