"""The ``probe`` stage of ``run-imagenet``: linear probes of frozen features under label noise (train) and
input noise (test) → ``probe.json``, ``probe_correct.npz`` and the clean-label probes ``checkpoints/probe_<m>.pt``.
Each row's ``test_acc`` is keyed by σ (``probe.sigmas``); ``test_acc_uniform`` by the ``probe.uniform_noise``
scales a (X + a·U[0, 1)), whose per-sample correctness is stored under the σ-key ``u<a>``.

Training labels are corrupted with :func:`monotheory.noise.label_noise` (the same draw for every method);
test labels stay clean. Features come from :class:`monotheory.vision.context.RunContext` (cached).

Strong baselines (``probe.baselines``, issue 22), rows in the same format with their ``regime`` and a
``baseline`` note: ``cl_l2`` — the CL features with a tuned L2 probe
(:class:`~monotheory.probes.tuned.HeldOutL2Probe`: λ of ``probe.l2_grid`` chosen on a held-out
``probe.l2_holdout`` of each rate's *noisy* training labels, never the clean labels or the test set; each row's
``l2`` records the grid, the held-out accuracies, the choice and the split); ``sae_random`` — the codes of an SAE
with frozen random weights (:func:`~monotheory.vision.sae.random_sae`: the trained SAE's initialisation, never
trained). Figure 4's data (:mod:`monotheory.vision.figure4`) of every arm's probe at the grid's 0.9 rate (else its
highest informative rate) goes under ``figure4``, the test images of its panels into ``probe_figure4.npz``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from monotheory.files import atomic_torch_save, atomic_write_bytes
from monotheory.probes.grid import probe_grid
from monotheory.probes.tuned import HeldOutL2Probe
from monotheory.seeding import stream_seed
from monotheory.vision.config import BASELINE_REGIME, BASELINES, METHODS, REGIME, ProbeConfig
from monotheory.vision.context import RunContext, sigma_key
from monotheory.vision.feature_stats import feature_stats, majority_chance
from monotheory.vision.figure4 import figure4_data, figure4_rate
from monotheory.vision.linear_eval import make_probe as probe_for
from monotheory.vision.sae import random_sae, sae_codes, sae_stats
from monotheory.vision.tables import save_correct


def prepare(features: torch.Tensor, normalize: bool) -> torch.Tensor:
    return F.normalize(features.float(), dim=1) if normalize else features.float()


def probe_lr(cfg: ProbeConfig) -> float:
    """The probe's lr: ``lr × batch_size / 256`` when ``scale_lr`` (solo-learn's linear-eval rule; one process)."""
    return cfg.lr * cfg.batch_size / 256 if cfg.scale_lr else cfg.lr


def probe_method(train: tuple[torch.Tensor, torch.Tensor], tests: dict[str, tuple[torch.Tensor, torch.Tensor]],
                 num_classes: int, cfg: ProbeConfig, *, seed: int = 0, device="cpu", tuned: bool = False,
                 fitted: dict | None = None) -> tuple[list, dict, object]:
    """Fit one linear probe per training label-noise rate and score it on every test set.

    ``train`` = (features, clean labels); ``tests`` maps σ-key → (features, labels). Returns (rows,
    correct, clean_probe): rows ``[{noise_rate, realised_rate, train_acc_noisy, train_acc_clean,
    test_acc: {σ: acc}}]``, ``correct[(rate, σ)]`` = per-test-sample 0/1 correctness (for paired
    intervals), and the probe trained on clean labels (used for the shift stage). ``tuned``: the ``cl_l2``
    baseline's :class:`~monotheory.probes.tuned.HeldOutL2Probe` (λ from ``cfg.l2_grid`` chosen on a held-out
    ``cfg.l2_holdout`` of the *noisy* training labels of each rate, split seeded by the ``l2-holdout`` stream;
    each row gets its ``l2`` selection record). ``fitted`` (a dict) receives every fitted probe by rate.
    """
    fitted = {} if fitted is None else fitted

    def make_probe(rate):  # cosine or the authors' step schedule (ProbeConfig.schedule)
        if tuned:
            probe = HeldOutL2Probe(num_classes, alphas=cfg.l2_grid, holdout=cfg.l2_holdout, device=device,
                                   random_state=stream_seed(seed, "l2-holdout", f"{rate:g}") % 2**32)
        else:
            probe = probe_for(cfg, num_classes, probe_lr(cfg), seed=seed, device=device)
        fitted[rate] = probe
        return probe

    # each rate's label noise from its own named stream (the same draw for every method)
    rows, correct, clean = probe_grid(
        train, tests, num_classes, noise_rates=cfg.noise_rates, noise_model=cfg.noise_model,
        noise_sampling=cfg.noise_sampling, make_probe=make_probe,
        label_seed=lambda rate: stream_seed(seed, "label-noise", f"{rate:g}"), normalize=cfg.normalize_features)
    if tuned:
        for r in rows:
            r["l2"] = fitted[r["noise_rate"]].selection_
    return rows, correct, clean


def stage_arms(cfg) -> tuple[list[str], list[str]]:
    """(methods, baselines) the probe stage fits: the run's methods, then ``cl_l2`` (when ``cl`` is a method) and
    ``sae_random`` (when ``sae`` is) among ``probe.baselines``."""
    methods = [m for m in METHODS if m in cfg.methods]
    need = {"cl_l2": "cl", "sae_random": "sae"}
    return methods, [b for b in BASELINES if b in cfg.probe.baselines and need[b] in methods]


class _ArmFeatures:
    """Features of every arm of the probe stage: a method's (:meth:`RunContext.method_features`), ``cl_l2``'s (the
    CL features) and ``sae_random``'s (codes of the CL features by :func:`~monotheory.vision.sae.random_sae`, the
    trained SAE's untrained start: same width, k, initialisation, seed and input normalisation)."""

    def __init__(self, ctx: RunContext):
        self.ctx, self._random, self.cl_train = ctx, None, None

    def random(self):
        """The random SAE, built on every rank (reading the CL features is a collective under DDP); keeps the CL
        training features in ``cl_train`` for rank 0's statistics, so that no rank reads them alone."""
        if self._random is None:
            x, _ = self.ctx.features("cl", "train", 0.0)
            self.cl_train = x.float()
            self._random = random_sae(x.shape[1], self.ctx.cfg.sae, F.normalize(self.cl_train, dim=1),
                                      seed=self.ctx.cfg.seed).to(self.ctx.device)
        return self._random

    def __call__(self, arm: str, split: str, sigma: float = 0.0, kind: str | None = None):
        if arm == "sae_random":
            x, y = self.ctx.features("cl", split, sigma, kind=kind)
            return sae_codes(self.random(), x, normalize=self.ctx.cfg.sae.probe_input == "normalized"), y
        return self.ctx.method_features("cl" if arm == "cl_l2" else arm, split, sigma, kind=kind)


def run_probe_stage(ctx: RunContext) -> None:
    """Linear probes of every method and baseline × training label-noise rate, scored at every test σ →
    ``probe.json`` (with the data of Figure 4 under ``figure4``) and ``probe_figure4.npz`` (its thumbnails)."""
    if ctx.done("probe"):
        return
    cfg = ctx.cfg.probe
    methods, baselines = stage_arms(ctx.cfg)
    for m in methods:
        ctx.require("sae" if m == "sae" else f"pretrain_{m}", "probe")
    skipped = [b for b in cfg.baselines if b not in baselines and b != "none"]
    if skipped:
        ctx.log(f"probe: baseline(s) {', '.join(skipped)} skipped (cl_l2 needs the cl method, sae_random the sae)")
    results, correct, fig4 = {}, {}, {}
    features = _ArmFeatures(ctx)
    f4_rate = figure4_rate(cfg.noise_rates, ctx.num_classes, cfg.noise_model)
    ctx.log(f"probe: batch {cfg.batch_size}, lr {probe_lr(cfg):g}; features extracted by {ctx.dist.world_size} "
            "process(es), probes fitted by one")
    ctx.eta.begin("probe", "probe (features)")
    for m in methods + baselines:
        ctx.log(f"probe {m}")
        train = features(m, "train", 0.0)
        tests = {sigma_key(s): features(m, "val", s) for s in cfg.sigmas}
        stats_on = tests[sigma_key(0.0)] if sigma_key(0.0) in tests else train
        for a in (a for a in cfg.uniform_noise if a > 0):  # X + a·U[0, 1), the authors' uniform_noise
            tests[f"u{sigma_key(a)}"] = features(m, "val", a, kind="uniform")
        if not ctx.dist.is_main:  # every rank extracts its share of the features; rank 0 fits the probes
            continue
        stats = feature_stats(*stats_on, seed=ctx.cfg.seed)
        fitted: dict = {}
        rows, correct[m], clean = probe_method(train, tests, ctx.num_classes, cfg, seed=ctx.cfg.seed,
                                               device=ctx.device, tuned=m == "cl_l2", fitted=fitted)
        for r in rows:  # the uniform-noise scores apart, so that test_acc keeps its σ keys
            r["test_acc_uniform"] = {k[1:]: r["test_acc"].pop(k) for k in list(r["test_acc"]) if k.startswith("u")}
        save_probe(ctx.ckpt_dir / f"probe_{m}.pt", clean)
        results[m] = {"regime": BASELINE_REGIME.get(m) or REGIME[m], "stats": stats, "rows": rows}
        if m in baselines:
            results[m]["baseline"] = BASELINE_NOTES[m]
        if m == "sae_random":
            results[m]["sae"] = sae_stats(features.random(), F.normalize(features.cl_train, dim=1).to(ctx.device))
        if f4_rate is not None and sigma_key(0.0) in tests:
            fig4[m] = figure4_for(fitted[f4_rate], train[0], *tests[sigma_key(0.0)], cfg, f4_rate, ctx.class_names)
        ctx.log(f"probe {m}: " + ", ".join(f"η={r['noise_rate']:g}: {r['test_acc']}" for r in rows))
    if not ctx.dist.is_main:
        return
    save_correct(ctx.out / "probe_correct.npz", correct)
    if fig4:
        save_thumbnails(ctx.out / "probe_figure4.npz", fig4, ctx.val_raw)
    ctx.write_result("probe", {"methods": results, "num_classes": ctx.num_classes, "n_train": len(ctx.train_eval),
                               "n_test": len(ctx.val), "dataset": ctx.cfg.dataset, "lr_effective": probe_lr(cfg),
                               **majority_chance(tests[next(iter(tests))][1]),
                               "config": dataclasses.asdict(cfg), "baselines": baselines,
                               **({"figure4": {"rate": f4_rate, "sets": fig4, "reference": next(iter(fig4))}}
                                  if fig4 else {})})


BASELINE_NOTES = {
    "cl_l2": "tuned dense baseline: L2 probe (L-BFGS, standardised features) on the CL features, λ chosen on a "
             "held-out split of the noisy training labels of each rate (rows: l2)",
    "sae_random": "untrained control: top-k SAE with frozen random weights (the trained SAE's initialisation: same "
                  "width, k, seed and input normalisation) on the CL features"}


def figure4_for(probe, x_train, x_test, y_test, cfg: ProbeConfig, rate: float, names) -> dict:
    """Figure 4's data of one arm: its probe of training label-noise ``rate`` on the clean test features."""
    xtr, xte = prepare(x_train, cfg.normalize_features), prepare(x_test, cfg.normalize_features)
    pred = torch.as_tensor(np.asarray(probe.predict(xte))).long()
    return figure4_data(xte.cpu().numpy(), y_test.cpu().numpy(), pred.cpu().numpy(), np.asarray(probe.coef_),
                        feature_sd=xtr.std(0).cpu().numpy(), rate=rate, class_names=names)


def save_thumbnails(path: Path, fig4: dict, val_raw, size: int = 64) -> None:
    """The test images of Figure 4's panels (every arm's lowest- and highest-accuracy class), as uint8 (H, W, 3)
    arrays of at most ``size`` px a side keyed by their test index, atomically (``.npz``)."""
    import io

    idx = sorted({i for d in fig4.values() for p in d["panels"].values() for dim in p["dims"] for i in dim["samples"]})
    out = {}
    for i in idx:
        img = val_raw[i][0].float()[None]
        if max(img.shape[-2:]) > size:
            img = F.interpolate(img, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        out[str(i)] = (img[0].clamp(0, 1).permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
    buf = io.BytesIO()
    np.savez_compressed(buf, **out)
    atomic_write_bytes(path, buf.getvalue())


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
