"""Noise sweeps and the (sparsity, noise) map of mono − poly (``monotheory toy sweep``).

Accuracy of every regime against the label-noise rate and against σ (raw units, or feature-sd units with
``SweepConfig.sigma_sds``), and the map over (sparsity, noise level) of the paired gap mono − poly.
"""

from __future__ import annotations

import numpy as np

from monotheory.stats import paired_t, t_interval
from monotheory.toy.config import SweepConfig, ToyConfig, feature_sd
from monotheory.toy.experiments import evaluate, train_models


def _per_regime(a: np.ndarray, regimes: list[str], k: int) -> dict:
    out = {}
    for i, r in enumerate(regimes):
        m, lo, hi = t_interval(a[i * k:(i + 1) * k])
        out[r] = {"mean": m, "ci": [lo, hi]}
    return out


def _raw(sw: SweepConfig, level: float, sparsity) -> np.ndarray:
    sd = np.array([feature_sd(s) for s in np.atleast_1d(sparsity)])
    return level * sd if sw.unit == "sd" else np.full(sd.shape, float(level))


def run_sweeps(cfg: ToyConfig, sw: SweepConfig, *, progress: bool = False) -> dict:
    """Train cfg's regimes × seeds once, then probe at every label-noise rate and every σ."""
    sw.check_against(cfg)
    regimes = list(cfg.regimes)
    seeds = cfg.seeds
    inst_seed = [s for _ in regimes for s in seeds]
    sp = [cfg.sparsity] * len(inst_seed)
    model, _ = train_models(cfg, [r for r in regimes for _ in seeds], inst_seed, sp, progress=progress)
    acc = evaluate(cfg, model, inst_seed, sp, list(sw.noise_rates), [_raw(sw, s, sp) for s in sw.sigma_levels])
    res = {"title": f"n={cfg.n}, m={cfg.m}, S={cfg.sparsity}, task={cfg.task}, {cfg.n_seeds} seeds",
           "sigma_unit": sw.unit}
    for key, levels in (("label", sw.noise_rates), ("input", sw.sigma_levels)):
        per = [_per_regime(a, regimes, cfg.n_seeds) for a in acc[key]]
        res[key] = {"levels": list(levels), "regimes": {r: [p[r] for p in per] for r in regimes}}
    return res


def run_phase_map(cfg: ToyConfig, sw: SweepConfig, *, progress: bool = False) -> dict:
    """mono − poly accuracy over (sparsity, noise level): all sparsities × {poly, mono} × seeds train in one
    batch; the gap per cell is paired by seed (:func:`monotheory.stats.paired_t`). Rows of ``gap`` are
    sparsities, columns noise levels; gap = mono − poly (positive: mono better)."""
    if sw.map_noise == "label":
        sw.check_against(cfg)
    seeds = cfg.seeds
    pair = ["poly", sw.mono]
    inst = [(r, s, S) for S in sw.sparsities for r in pair for s in seeds]
    sp = [i[2] for i in inst]
    model, _ = train_models(cfg, [i[0] for i in inst], [i[1] for i in inst], sp, progress=progress)
    levels = list(sw.noise_rates if sw.map_noise == "label" else sw.sigma_levels)
    rates, sigmas = (levels, []) if sw.map_noise == "label" else ([], [_raw(sw, s, sp) for s in levels])
    acc = evaluate(cfg, model, [i[1] for i in inst], sp, rates, sigmas)
    a = np.stack(acc[sw.map_noise]).reshape(len(levels), len(sw.sparsities), 2, len(seeds))
    cells = [[paired_t(a[j, i, 1], a[j, i, 0]) for j in range(len(levels))] for i in range(len(sw.sparsities))]
    unit = "feature sd" if sw.unit == "sd" else "raw"
    return {"mono": sw.mono, "poly": "poly", "sparsities": list(sw.sparsities), "levels": levels,
            "noise_label": "label noise rate" if sw.map_noise == "label" else f"input noise σ ({unit})",
            "gap": np.array([[c["mean"] for c in row] for row in cells]),
            "ci_lo": np.array([[c["ci"][0] for c in row] for row in cells]),
            "ci_hi": np.array([[c["ci"][1] for c in row] for row in cells]),
            "poly_acc": a[:, :, 0].mean(-1).T, "mono_acc": a[:, :, 1].mean(-1).T,
            "config": {"task": cfg.task, "n": cfg.n, "m": cfg.m, "n_seeds": cfg.n_seeds}}
