"""Robustness profiles of any feature set or encoder: the paper's Figure-1 question asked of *your* model.

A **profile** of a feature set is: linear-probe accuracy over the training label-noise grid, over the test
input-noise grid and on each shifted test set, plus label-based measures of the features (monosemanticity
score, near-zero fraction, active dimensions per sample, classes per active dimension, Fisher separability). With
``mono=("sae-topk:k", "relu")`` the paper's monosemantic views of the same features (the top-k SAE codes, the
NCL-style non-negative part) are profiled side by side and compared with the features themselves by *paired*
statistics: every feature set is scored on the same test items with the same noisy training labels, so each
gap gets McNemar's exact test and a paired bootstrap interval over items (seed 0), Holm-adjusted over the cells
of a comparison, and a paired t-interval over seeds when ``n_seeds ≥ 2``.

Entry points (each returns a :class:`monotheory.probe.profile.Profile` with ``.table()``, ``.plot(ax=…)``,
``.to_json()``, ``.save(out)``): :func:`profile_features` (arrays; input noise in feature space),
:func:`profile_encoder` (an encoder spec + an ImageFolder root; input noise on the normalised image, as in the
paper), :func:`profile_run` (the cached features of a ``run-imagenet`` folder). The settings are a
:class:`~monotheory.probe.config.ProfileConfig`; the probe loop is :func:`monotheory.probes.grid.probe_grid`, which
``run-imagenet``'s probe stage also uses.

Conventions: ``noise_rate`` η of :func:`monotheory.noise.label_noise` on the training labels only (test labels
clean); σ of :func:`monotheory.noise.input_noise` at test time only. In feature space the noise is isotropic,
σ × the features' average sd (the root mean of the per-dimension training variances), drawn once per σ and
shared by every view. Random streams come from :mod:`monotheory.seeding` (``label-noise``, ``probe``,
``sae``, ``input-noise``), so every feature set sees the same noisy labels and the same noisy inputs.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from monotheory.errors import ConfigError
from monotheory.noise import input_noise
from monotheory.probe.config import ProfileConfig, allowed_noise_rates, parse_mono, view_name
from monotheory.probe.feature_files import check_labels, check_split
from monotheory.probe.figure4 import figure4_rate_of, profile_figure4
from monotheory.probe.images import image_feature_sets, run_feature_sets
from monotheory.probe.profile import Profile, feature_measures
from monotheory.probes import LinearProbe
from monotheory.probes.grid import probe_grid
from monotheory.probes.tuned import HeldOutL2Probe
from monotheory.seeding import stream_seed
from monotheory.vision.config import SAEConfig
from monotheory.vision.sae import random_sae, sae_codes, sae_stats, train_sae

# ------------------------------------------------------------------------------------------- views


def _sae_setup(spec: str, x_train: torch.Tensor, cfg: ProfileConfig, s: int) -> tuple[SAEConfig, int, int, int]:
    _, k = parse_mono(spec, x_train.shape[1], cfg.sae_latents)
    n = cfg.sae_latents or x_train.shape[1]
    sc = SAEConfig(n_latents=n, k=k, lr=1e-3, weight_decay=1e-4, batch_size=128, epochs=cfg.sae_epochs)
    return sc, k, n, stream_seed(cfg.seed, "sae", s) % 2**62


def _view(spec: str, x_train: torch.Tensor, cfg: ProfileConfig, s: int):
    """A fitted monosemantic view of the features: a function features → codes, and what it is."""
    name, _ = parse_mono(spec, x_train.shape[1], cfg.sae_latents)
    if name == "relu":
        return (lambda x: torch.relu(x.float())), {"view": "relu", "what": "max(0, features) (NCL-style)"}
    sc, k, n, seed = _sae_setup(spec, x_train, cfg, s)
    sae, hist = train_sae(x_train, sc, seed=seed, device=cfg.device, progress=False)
    return (lambda x: sae_codes(sae, x)), {
        "view": "sae-topk", "k": k, "latents": n, "normalized_mse": hist["normalized_mse"],
        "dead_latents": hist["dead_latents"], "what": f"top-{k} SAE codes ({n} latents) of the L2-normalised "
        "features, Adam lr 1e-3"}


def _random_view(spec: str, x_train: torch.Tensor, cfg: ProfileConfig, s: int):
    """The ``sae-random`` baseline of a ``sae-topk`` view: the SAE that view trains, at its initialisation, frozen."""
    sc, k, n, seed = _sae_setup(spec, x_train, cfg, s)
    xn = F.normalize(x_train.float(), dim=1)
    sae = random_sae(x_train.shape[1], sc, xn, seed=seed).to(cfg.device)
    st = sae_stats(sae, xn.to(cfg.device))
    return (lambda x: sae_codes(sae, x)), {
        "view": "sae-random", "k": k, "latents": n, "trained": False, "normalized_mse": st["normalized_mse"],
        "dead_latents": st["dead_latents"], "what": f"top-{k} codes ({n} latents) of an SAE with frozen random "
        f"weights: the initialisation of the {view_name(spec, x_train.shape[1], cfg.sae_latents)} view's SAE, "
        "never trained"}


# ------------------------------------------------------------------------------------------- the profile


def _fit_probe(cfg: ProfileConfig, num_classes: int, s: int, rate: float, tuned: bool = False):
    if tuned:  # the l2 baseline: λ chosen on a held-out split of the (noisy) labels the probe is fitted on
        return HeldOutL2Probe(num_classes, alphas=cfg.l2_grid, holdout=cfg.l2_holdout, max_iter=cfg.max_iter,
                              standardize=cfg.standardize, device=cfg.device,
                              random_state=stream_seed(cfg.seed, "l2-holdout", s, f"{rate:g}") % 2**32)
    return LinearProbe(num_classes, solver=cfg.solver, lr=cfg.lr, weight_decay=cfg.weight_decay,
                       max_iter=cfg.max_iter, epochs=cfg.epochs, batch_size=cfg.batch_size, device=cfg.device,
                       standardize=cfg.standardize,
                       random_state=stream_seed(cfg.seed, "probe", s, f"{rate:g}") % 2**62)


def _seeded_sets(sets: dict, ref: str, x_ref: torch.Tensor, cfg: ProfileConfig, s: int) -> dict:
    """The feature sets of seed ``s``: the given ones (role ``reference`` / ``features``), the ``cfg.mono`` views
    (``view``) and the ``cfg.baselines`` (``baseline``: ``<ref>+l2``, ``sae-random:k`` beside each sae-topk view)."""
    base = sets[ref]
    seeded = {n: {**v, "role": "reference" if n == ref else "features"} for n, v in sets.items()}

    def derived(f, info, role):
        return {"train": (f(x_ref), base["train"][1]), "kind": f"{info['view']} of {ref}", "info": info,
                "role": role, "tests": {k: (f(torch.as_tensor(x).float()), y) for k, (x, y) in base["tests"].items()}}

    randoms = {}
    for m in cfg.mono:
        f, info = _view(m, x_ref, cfg, s)
        seeded[view_name(m, x_ref.shape[1], cfg.sae_latents)] = derived(f, info, "view")
        if info["view"] == "sae-topk" and "sae-random" in cfg.baselines:
            fr, rinfo = _random_view(m, x_ref, cfg, s)
            randoms[f"sae-random:{info['k']}"] = derived(fr, rinfo, "baseline")
    if "l2" in cfg.baselines:
        seeded[f"{ref}+l2"] = {**base, "kind": f"{ref} with a tuned L2 probe", "role": "baseline", "probe": "l2"}
    return {**seeded, **randoms}


def run_profile(sets: dict, num_classes: int, cfg: ProfileConfig, conditions: dict, images=None):
    """Profile feature sets that share their train/test items.

    ``sets``: name → ``{"train": (X, y), "tests": {key: (X, y)}, "kind": …}`` with identical labels across
    sets; test keys are ``clean``, ``σ=<s>`` and ``shift:<name>``. The ``cfg.mono`` views and the
    ``cfg.baselines`` are derived from the first set (the reference of every comparison). Figure 4's data
    (:func:`monotheory.probe.figure4.profile_figure4`) comes from seed 0's probes at its rate; ``images`` (a
    function test index → image array, optional) gives its panels the test images.
    """
    cfg = allowed_noise_rates(cfg, num_classes)
    conditions = dict(conditions)
    warnings = list(conditions.pop("warnings", [])) + degenerate_features(sets)
    ref = next(iter(sets))
    images = images or sets[ref].get("images")
    x_ref = torch.as_tensor(sets[ref]["train"][0]).float()
    for m in cfg.mono:
        parse_mono(m, x_ref.shape[1], cfg.sae_latents)  # k > d is refused before any work
    out_sets: dict = {}
    correct: dict = {}
    fitted: dict = {}
    first: dict = {}
    for s in range(cfg.n_seeds):
        seeded = _seeded_sets(sets, ref, x_ref, cfg, s)
        for name, fs in seeded.items():
            tuned = fs.get("probe") == "l2"

            def make(r, s=s, name=name, tuned=tuned):
                fitted[(name, s, r)] = _fit_probe(cfg, num_classes, s, r, tuned)
                return fitted[(name, s, r)]

            rows, corr, _ = probe_grid(
                fs["train"], fs["tests"], num_classes, noise_rates=cfg.noise_rates, noise_model=cfg.noise_model,
                noise_sampling=cfg.noise_sampling, make_probe=make,
                label_seed=lambda r, s=s: stream_seed(cfg.seed, "label-noise", s, f"{r:g}"),
                normalize=cfg.normalize_features)
            entry = out_sets.setdefault(name, {"kind": fs.get("kind", "features"), "role": fs["role"], "info": [],
                                               "rows": []})
            if s == 0:
                entry["measures"] = feature_measures(*fs["tests"]["clean"])
                entry["dim"] = int(fs["train"][0].shape[1])
                first[name] = fs
            if "info" in fs:
                entry["info"].append(fs["info"])
            if fs.get("probe") == "l2":
                entry.setdefault("l2_selection", []).append(
                    {f"{r:g}": fitted[(name, s, r)].selection_ for r in cfg.noise_rates})
            entry["rows"].append(rows)
            correct.update({(name, s, r, k): v for (r, k), v in corr.items()})
    y_test = np.asarray(sets[ref]["tests"]["clean"][1])
    conditions = {**conditions, "num_classes": num_classes, "n_train": int(len(sets[ref]["train"][1])),
                  "n_test": int(y_test.size), "chance": float(np.bincount(y_test).max() / y_test.size),
                  "reference": ref, "tests": list(sets[ref]["tests"])}
    prof = Profile.build(out_sets, correct, cfg, conditions)
    rate4 = figure4_rate_of(cfg, num_classes)
    if rate4 is not None:
        prof.set_figure4(*profile_figure4(first, {n: fitted[(n, 0, rate4)] for n in first}, cfg, rate4, ref,
                                          conditions.get("classes"), images))
    prof.data["warnings"] = warnings
    return prof


def degenerate_features(sets: dict) -> list[str]:
    """Refuse NaN/inf features (one line naming the set); warn about a set that is constant on the training items
    (its probe is at chance whatever the noise, and feature-space input noise has scale 0)."""
    out = []
    for name, fs in sets.items():
        xs = [fs["train"][0], *(x for x, _ in fs["tests"].values())]
        if not all(bool(torch.isfinite(torch.as_tensor(x).float()).all()) for x in xs):
            raise ConfigError(f"feature set {name!r} holds NaN or infinite features; check the encoder and its weights")
        x = torch.as_tensor(fs["train"][0]).float()
        if x.shape[0] > 1 and float(x.var(0).max()) == 0:
            out.append(f"feature set {name!r} is constant on the training items (zero variance in every dimension): "
                       "its probe cannot beat chance, and input noise scaled by its sd is 0")
    return out


def _as_config(config) -> ProfileConfig:
    if config is None:
        return ProfileConfig()
    if not isinstance(config, ProfileConfig):
        raise ConfigError(f"config = {config!r:.60} is a {type(config).__name__}, not a ProfileConfig (build one: "
                          "ProfileConfig(**settings))")
    return config


def _feature_noise_tests(x_tr: np.ndarray, x_te: np.ndarray, y_te, cfg: ProfileConfig) -> tuple[dict, float]:
    scale = float(np.sqrt(x_tr.astype(np.float64).var(0).mean()))
    tests = {}
    for sigma in cfg.sigmas:
        key = "clean" if sigma == 0 else f"σ={sigma:g}"
        x = x_te if sigma == 0 else input_noise(x_te, sigma * scale, kind=cfg.input_noise,
                                                 seed=stream_seed(cfg.seed, "input-noise", f"{sigma:g}"))
        tests[key] = (torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y_te))
    tests.setdefault("clean", (torch.from_numpy(x_te), torch.from_numpy(y_te)))
    return tests, scale


def profile_features(X_train, y_train, X_test, y_test, *, shifts: dict | None = None,
                     config: ProfileConfig | None = None, name: str = "features", source: str = "arrays"):
    """Profile a feature set given as arrays (N, d) with integer labels 0..C−1 (input noise in feature space).

    ``shifts`` maps a name → (X, y) of a shifted test set. Every input is validated first (one-line
    :class:`ConfigError`: lengths, NaN/inf, non-integer labels, a single class, widths)."""
    cfg = _as_config(config)
    tr, te = check_split(X_train, y_train, "train"), check_split(X_test, y_test, "test")
    if shifts is not None and (not isinstance(shifts, dict) or not all(
            isinstance(v, (tuple, list)) and len(v) == 2 for v in shifts.values())):
        raise ConfigError(f"shifts is a {type(shifts).__name__}; give a dict name → (X, y) of shifted test sets")
    sh = {k: check_split(x, y, f"shift {k}") for k, (x, y) in (shifts or {}).items()}
    for nm, (x, _) in [("test", te), *((f"shift {k}", v) for k, v in sh.items())]:
        if x.shape[1] != tr[0].shape[1]:
            raise ConfigError(f"{nm}: features have width {x.shape[1]} but the training features "
                              f"{tr[0].shape[1]}; they must match")
    c = check_labels(tr[1], {"test": te[1], **{f"shift {k}": v[1] for k, v in sh.items()}})
    allowed_noise_rates(cfg, c, note=False)  # an explicit rate the labels cannot carry is refused before work
    for m in cfg.mono:
        parse_mono(m, tr[0].shape[1], cfg.sae_latents)
    tests, scale = _feature_noise_tests(tr[0], te[0], te[1], cfg)
    tests.update({f"shift:{k}": (torch.from_numpy(x), torch.from_numpy(y)) for k, (x, y) in sh.items()})
    sets = {name: {"train": (torch.from_numpy(tr[0]), torch.from_numpy(tr[1])), "tests": tests, "kind": source}}
    cond = {"input": source, "noise_space": "feature", "noise_scale": scale,
            "input_noise": f"{cfg.input_noise} noise in feature space, σ × average feature sd ({scale:.4g}), "
                           "test time only"}
    return run_profile(sets, c, cfg, cond)


def profile_encoder(encoder: str, data_root: str, *, weights: str | None = None, config: ProfileConfig | None = None,
                    crop_size: int | None = None, resize: int | None = None, mean=None, std=None,
                    shifts: dict | None = None, batch_size: int = 256, num_workers: int = 0,
                    cache_dir: str | None = None, progress: bool | None = None, timing: dict | None = None):
    """Profile an encoder (spec, see :mod:`monotheory.probe.encoders`) on an ImageFolder root (``train/``,
    ``val/``); input noise is added to the normalised image. ``timing`` (a dict) receives extraction times."""
    cfg = _as_config(config)
    sets, c, cond = image_feature_sets(encoder, data_root, cfg, weights=weights, crop_size=crop_size, resize=resize,
                                       mean=mean, std=std, shifts=shifts, batch_size=batch_size,
                                       num_workers=num_workers, cache_dir=cache_dir, progress=progress,
                                       timing=timing)
    return run_profile(sets, c, cfg, cond)


def profile_run(run_dir: str, *, config: ProfileConfig | None = None, methods=("cl", "sae", "ncl")):
    """Profile the cached features of a finished ``run-imagenet`` folder (its CL, SAE and NCL feature sets)."""
    cfg = _as_config(config)
    sets, c, cond = run_feature_sets(run_dir, cfg, methods)
    return run_profile(sets, c, cfg, cond)
