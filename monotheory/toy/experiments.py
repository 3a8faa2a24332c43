"""Figure 5 of the paper on toy models: mono vs poly hidden codes under label and input noise.

Pipeline (every step batched over instances = regimes × seeds [× sparsities]):

1. train the toy models on clean reconstruction (:mod:`monotheory.toy.train`);
2. draw probe data (train / test) from the same spike-and-uniform distribution, a separate stream per seed
   shared by all regimes with that seed (paired comparisons);
3. labels: ``argmax`` — y = argmax_i x_i among the n features, with an extra class n for "no feature
   active" (probability Sⁿ; the tie rule is ours); ``pair`` — the theory's binary task y = 1[x_0 > x_1]
   (a tie x_0 = x_1 = 0 counts as y = 0), which ties the toy model to Section 4.3;
4. a linear probe (:class:`monotheory.probes.BatchedLinearProbe`) on h = encode(x): *clean* (clean labels,
   clean test), *label noise* (``noise_rate`` of the probe's training labels corrupted), *input noise*
   (clean-label probe, test inputs x + σ·N(0, I) before encoding);
5. per regime: mean accuracy over seeds with a 95 % t-interval, and the paired gap mono − poly with its
   95 % t-interval (poly and mono with the same seed share all data).
"""

from __future__ import annotations

import numpy as np
import torch

from monotheory.config import check_choice
from monotheory.errors import ConfigError
from monotheory.toy import TASKS, SweepConfig, ToyConfig
from monotheory.toy.model import FeatureSampler, ToyModel, _mix, importance_weights
from monotheory.toy.train import cpu_threads, train

__all__ = ["SweepConfig", "ToyConfig", "run_figure5", "run_sweeps", "run_phase_map", "evaluate", "labels_for",
           "features_per_unit", "unit_feature_recovery", "chance_level", "is_monosemantic"]

# random streams of a seed (see model._mix): 1 init, 2 training data, 3/4 probe train/test data, 5 input noise
INPUT_NOISE_STREAM = 5
# "is this hidden code monosemantic?" — a label-free rule on W, fixed before looking at the C5 outcome
MONO_MAX_FEATURES_PER_UNIT = 1.25
MONO_MIN_FEATURE_RECOVERY = 0.9
MONOSEMANTIC_RULE = (f"monosemantic = features_per_unit ≤ {MONO_MAX_FEATURES_PER_UNIT:g} AND unit_feature_recovery "
                     f"≥ {MONO_MIN_FEATURE_RECOVERY:g} (seed means): each hidden unit carries about one feature and "
                     "points along it")
CHANCE_RULE = "chance = majority-class rate of the test labels (mean over seeds)"


# ------------------------------------------------------------------------------------------ building blocks


def labels_for(x: torch.Tensor, task: str) -> torch.Tensor:
    """Labels of features x (…, n): ``argmax`` (class n when every feature is 0) or ``pair`` (1[x_0 > x_1])."""
    check_choice("task", task, TASKS)
    if task == "pair":
        return (x[..., 0] > x[..., 1]).long()
    y = x.argmax(-1)
    return torch.where(x.amax(-1) > 0, y, torch.full_like(y, x.shape[-1]))


def train_models(cfg: ToyConfig, regimes: list[str], seeds: list[int], sparsities: list[float], *,
                 progress: bool = False) -> tuple[ToyModel, dict]:
    """Build one batched model for the listed instances and train its non-oracle instances."""
    imp = importance_weights(cfg.n, cfg.importance, cfg.importance_decay)
    model = ToyModel(cfg.n, cfg.m, regimes, seeds, importance=imp, l1_penalty=cfg.l1_penalty)
    idx = [k for k, r in enumerate(regimes) if r != "oracle"]
    info = {"loss": np.full(len(regimes), np.nan), "train_seconds": 0.0}
    if idx:  # oracle instances are hand-built: leave them out of training altogether
        sub = model.select(idx)
        res = train(sub, FeatureSampler(cfg.n, [seeds[k] for k in idx], [sparsities[k] for k in idx], offset=2),
                    cfg.train_config, progress=progress)
        with torch.no_grad():
            model.W[idx] = sub.W
            model.b[idx] = sub.b
        info["loss"][idx] = res.loss_.numpy()
        info["train_seconds"] = res.seconds
    return model, info


def probe_batch(cfg: ToyConfig, seeds: list[int], sparsities: list[float], size: int, offset: int):
    """Probe data for each instance: features x (I, N, n) and clean labels y (I, N)."""
    x = FeatureSampler(cfg.n, seeds, sparsities, offset=offset)(size)
    return x, labels_for(x, cfg.task)


def noisy_labels(cfg: ToyConfig, y: torch.Tensor, seeds: list[int], noise_rate: float) -> torch.Tensor:
    """Corrupt each instance's probe labels; instances sharing a seed get the same corruption (paired)."""
    from monotheory.noise import label_noise

    out = torch.empty_like(y)
    for k, s in enumerate(seeds):  # I calls on ~4k labels each: negligible next to training
        out[k] = label_noise(y[k], noise_rate, cfg.num_classes, model=cfg.noise_model,
                             sampling=cfg.noise_sampling, seed=int(s) * 7 + 5).labels
    return out


def gaussian_shift(cfg: ToyConfig, shape: tuple[int, int, int], seeds: list[int], sigma: float) -> torch.Tensor:
    """Input noise σ·N(0, I) for each instance's test set (shape (I, N, n)), one draw per distinct seed.

    Each distinct seed has a stream of its own (``_mix(seed, INPUT_NOISE_STREAM)``), so instances sharing a
    seed get the same noise (paired comparisons) and an instance's noise does not depend on which other
    seeds are in the run. The draw is the same for every σ (common random numbers), scaled by σ.
    """
    from monotheory.noise import input_noise

    uniq = sorted(set(int(s) for s in seeds))
    eps = torch.empty(len(uniq), *shape[1:])
    for j, s in enumerate(uniq):
        g = torch.Generator().manual_seed(_mix(s, INPUT_NOISE_STREAM))
        eps[j] = input_noise(torch.zeros(*shape[1:]), sigma, kind="gaussian", seed=g)
    return eps[torch.tensor([uniq.index(int(s)) for s in seeds])]


def make_probe(cfg: ToyConfig):
    from monotheory.probes import BatchedLinearProbe

    return BatchedLinearProbe(cfg.num_classes, solver="lbfgs", weight_decay=cfg.probe_weight_decay,
                              max_iter=cfg.probe_max_iter, random_state=cfg.seed)


@torch.no_grad()
def encode(model: ToyModel, x: torch.Tensor) -> torch.Tensor:
    return model.encode(x)


def features_per_unit(W, *, represented: float = 0.5, share: float = 0.5) -> np.ndarray:
    """Label-free count of the features each hidden unit carries, averaged over units: (I, m, n) → (I,).

    Feature i is *represented* when ‖W_i‖ > ``represented`` (column norm). For hidden unit j, count the
    represented features with |W_ji| ≥ ``share`` · max_i |W_ji| (max over represented features); average
    over the units that carry at least one represented feature (NaN if none does). 1 = one feature per
    unit (the oracle); a rotated or superposed code gives more.
    """
    A = np.abs(np.asarray(W, dtype=np.float64))
    rep = np.linalg.norm(A, axis=1) > represented                      # (I, n)
    A = np.where(rep[:, None, :], A, 0.0)
    mx = A.max(-1, keepdims=True)                                       # (I, m, 1)
    counts = ((A >= share * mx) & (A > 0)).sum(-1)                      # (I, m)
    used = mx[..., 0] > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(used.any(-1), (counts * used).sum(-1) / np.maximum(used.sum(-1), 1), np.nan)


def unit_feature_recovery(W) -> np.ndarray:
    """Per instance, :func:`monotheory.metrics.feature_recovery` of W's columns (the features' embeddings in
    R^m) against the one-hot basis of the hidden units: the mean over hidden units of |cos| between the unit
    axis and the feature embedding matched to it one to one. 1 = every unit is the axis of one feature."""
    from monotheory.metrics import feature_recovery

    W = np.asarray(W, dtype=np.float64)
    eye = np.eye(W.shape[1])
    return np.array([feature_recovery(W[k].T, eye) for k in range(W.shape[0])])


def is_monosemantic(features_per_unit_: float, recovery: float) -> bool:
    """The rule of :data:`MONOSEMANTIC_RULE`."""
    return bool(features_per_unit_ <= MONO_MAX_FEATURES_PER_UNIT and recovery >= MONO_MIN_FEATURE_RECOVERY)


def chance_level(y: torch.Tensor, num_classes: int) -> np.ndarray:
    """Majority-class rate of each instance's labels, (I, N) → (I,): the accuracy of the best constant
    prediction (for argmax with 41 nearly balanced classes ≈ 1/C plus sampling noise; for the pair task at
    S = 0.8, P(y = 0) = 0.82)."""
    counts = torch.nn.functional.one_hot(y.long(), num_classes).sum(1)
    return (counts.max(-1).values.double() / y.shape[1]).numpy()


def code_metrics(model: ToyModel, h: torch.Tensor, y: torch.Tensor) -> dict[str, np.ndarray]:
    """Per instance: monosemanticity score of h w.r.t. the labels (class purity — ≈ the majority-class
    share for every regime when the classes are many and balanced, so it cannot tell the codes apart), and
    the label-free measures of W: ``features_per_unit`` and ``unit_feature_recovery`` (see those functions),
    mean feature dimensionality, dimensions per feature, number of represented features (‖W_i‖ > 0.5) and
    superposition = max(0, #represented − m) / (n − m) (0: at most m features kept, 1: all n packed into m
    dimensions)."""
    from monotheory.metrics import dimensions_per_feature, feature_dimensionality, monosemanticity_score

    W = model.W.detach().cpu().numpy()
    rep = (np.linalg.norm(W, axis=1) > 0.5).sum(-1)
    n, m = model.n, model.m
    mono = np.array([monosemanticity_score(h[k], y[k]) for k in range(h.shape[0])])
    return {"monosemanticity": mono, "features_per_unit": features_per_unit(W),
            "unit_feature_recovery": unit_feature_recovery(W),
            "feature_dimensionality": feature_dimensionality(W).mean(-1),
            "dimensions_per_feature": np.asarray(dimensions_per_feature(W)), "represented": rep,
            "superposition": np.maximum(rep - m, 0) / max(n - m, 1)}


# -------------------------------------------------------------------------------------------- statistics


def t_interval(values, confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean and two-sided t-interval over the last axis (NaNs when fewer than 2 values)."""
    from scipy import stats

    v = np.asarray(values, dtype=float)
    k = v.shape[-1]
    mean = v.mean(-1)
    if k < 2:
        return float(mean), float("nan"), float("nan")
    half = stats.t.ppf(0.5 + confidence / 2, k - 1) * v.std(-1, ddof=1) / np.sqrt(k)
    return float(mean), float(mean - half), float(mean + half)


def summarise(acc: dict[str, np.ndarray], regimes: list[str], seeds_per: int, poly: str = "poly") -> dict:
    """``acc[condition]`` is (I,) with instances ordered regime-major; return per regime mean/CI and the
    paired gap regime − poly per condition."""
    out: dict = {}
    for r_i, r in enumerate(regimes):
        sl = slice(r_i * seeds_per, (r_i + 1) * seeds_per)
        row = {}
        for cond, a in acc.items():
            m, lo, hi = t_interval(a[sl])
            row[cond] = {"mean": m, "ci": [lo, hi], "per_seed": a[sl]}
            if poly in regimes and r != poly:
                p = regimes.index(poly)
                d = a[sl] - a[p * seeds_per:(p + 1) * seeds_per]
                gm, glo, ghi = t_interval(d)
                row[cond]["gap_vs_poly"] = {"mean": gm, "ci": [glo, ghi]}
        out[r] = row
    return out


# ---------------------------------------------------------------------------------------------- Figure 5


def run_figure5(cfg: ToyConfig, *, progress: bool = False) -> dict:
    """Train every regime × seed, probe clean / label noise / input noise; return a JSON-ready result."""
    return run_figure5_multi(cfg, [cfg.sparsity], progress=progress)[0]


def run_figure5_multi(cfg: ToyConfig, sparsities: list[float], *, progress: bool = False,
                      trained: tuple | None = None, return_trained: bool = False):
    """:func:`run_figure5` at several sparsities, all trained in one batch (instances = S × regime × seed).

    ``trained`` = the ``(model, info)`` of an earlier call (``return_trained=True`` returns it beside the
    results): training does not depend on the probe task or the noise, so another task / noise setting can
    be evaluated on the same models without retraining.
    """
    regimes = list(cfg.regimes)
    seeds = [cfg.seed + s for s in range(cfg.seeds)]
    inst = [(S, r, s) for S in sparsities for r in regimes for s in seeds]
    inst_seed, sp = [i[2] for i in inst], [i[0] for i in inst]
    if trained is None:
        trained = train_models(cfg, [i[1] for i in inst], inst_seed, sp, progress=progress)
    model, info = trained
    if model.instances != len(inst):
        raise ConfigError(f"the trained model has {model.instances} instances, the config needs {len(inst)}")
    acc, metrics = evaluate(cfg, model, inst_seed, sp, [cfg.noise_rate], [cfg.sigma])
    per = len(regimes) * cfg.seeds
    W = model.W.detach()
    out = []
    for j, S in enumerate(sparsities):
        sl = slice(j * per, (j + 1) * per)
        conds = {"clean": acc["clean"][sl], "label_noise": acc["label"][0][sl],
                 "input_noise": acc["input"][0][sl], "monosemanticity": metrics["monosemanticity"][sl]}
        summary = summarise(conds, regimes, cfg.seeds)
        for r_i, r in enumerate(regimes):
            k = slice(j * per + r_i * cfg.seeds, j * per + (r_i + 1) * cfg.seeds)
            geo = {key: float(np.mean(v[k])) for key, v in metrics.items() if key != "monosemanticity"}
            summary[r]["geometry"] = geo
            summary[r]["monosemantic"] = is_monosemantic(geo["features_per_unit"], geo["unit_feature_recovery"])
            summary[r]["train_loss"] = float(np.mean(info["loss"][k])) if r != "oracle" else None
        wtw = {r: (W[j * per + r_i * cfg.seeds].T @ W[j * per + r_i * cfg.seeds]).numpy()
               for r_i, r in enumerate(regimes)}
        out.append({"sparsity": S, "summary": summary, "WtW_seed0": wtw, "train_seconds": info["train_seconds"],
                    "instances": len(inst), "chance": float(np.mean(acc["chance"][sl])), "chance_rule": CHANCE_RULE,
                    "monosemantic_rule": MONOSEMANTIC_RULE})
    return (out, trained) if return_trained else out


def evaluate(cfg: ToyConfig, model: ToyModel, seeds: list[int], sparsities: list[float],
             noise_rates: list[float], sigmas: list[float]) -> tuple[dict, dict]:
    """Probe accuracies of every instance: ``clean`` (I,), ``label`` (rates, I), ``input`` (sigmas, I), and
    ``chance`` (I,), the majority-class rate of the instance's test labels (:func:`chance_level`).

    Input noise is added to the test inputs x before encoding (h = encode(x + σ·ε)); the probe is the clean
    one, trained on clean inputs.

    Runs with one torch thread on CPU (see :func:`monotheory.toy.train.cpu_threads`)."""
    with cpu_threads(1 if model.W.device.type == "cpu" else None):
        return _evaluate(cfg, model, seeds, sparsities, noise_rates, sigmas)


def _evaluate(cfg, model, seeds, sparsities, noise_rates, sigmas):
    xtr, ytr = probe_batch(cfg, seeds, sparsities, cfg.probe_train, offset=3)
    xte, yte = probe_batch(cfg, seeds, sparsities, cfg.probe_test, offset=4)
    htr, hte = encode(model, xtr), encode(model, xte)
    clean = make_probe(cfg).fit(htr, ytr)
    acc = {"clean": np.asarray(clean.score(hte, yte)), "label": [], "input": [],
           "chance": chance_level(yte, cfg.num_classes)}
    for rate in noise_rates:
        if rate == 0:
            acc["label"].append(acc["clean"])
            continue
        yn = noisy_labels(cfg, ytr, seeds, rate)
        acc["label"].append(np.asarray(make_probe(cfg).fit(htr, yn).score(hte, yte)))
    for sigma in sigmas:
        xn = xte + gaussian_shift(cfg, tuple(xte.shape), seeds, sigma)
        acc["input"].append(np.asarray(clean.score(encode(model, xn), yte)))
    return acc, code_metrics(model, hte, yte)


# ------------------------------------------------------------------------------------------------- sweeps


def _per_regime(a: np.ndarray, regimes: list[str], k: int) -> dict:
    out = {}
    for i, r in enumerate(regimes):
        m, lo, hi = t_interval(a[i * k:(i + 1) * k])
        out[r] = {"mean": m, "ci": [lo, hi]}
    return out


def run_sweeps(cfg: ToyConfig, sw: SweepConfig, *, progress: bool = False) -> dict:
    """Train cfg's regimes × seeds once, then probe at every label-noise rate and every σ."""
    sw.check_against(cfg)
    regimes = list(cfg.regimes)
    seeds = [cfg.seed + s for s in range(cfg.seeds)]
    inst_seed = [s for _ in regimes for s in seeds]
    sp = [cfg.sparsity] * len(inst_seed)
    model, _ = train_models(cfg, [r for r in regimes for _ in seeds], inst_seed, sp, progress=progress)
    acc, _ = evaluate(cfg, model, inst_seed, sp, list(sw.noise_rates), list(sw.sigmas))
    res = {"title": f"n={cfg.n}, m={cfg.m}, S={cfg.sparsity}, task={cfg.task}, {cfg.seeds} seeds"}
    for key, levels in (("label", sw.noise_rates), ("input", sw.sigmas)):
        per = [_per_regime(a, regimes, cfg.seeds) for a in acc[key]]
        res[key] = {"levels": list(levels), "regimes": {r: [p[r] for p in per] for r in regimes}}
    return res


def run_phase_map(cfg: ToyConfig, sw: SweepConfig, *, progress: bool = False) -> dict:
    """mono − poly accuracy over (sparsity, noise level): all sparsities × {poly, mono} × seeds train in one
    batch; the gap per cell is paired by seed, with a 95 % t-interval. Rows of ``gap`` are sparsities,
    columns noise levels; gap = mono − poly (positive: mono better)."""
    if sw.map_noise == "label":
        sw.check_against(cfg)
    seeds = [cfg.seed + s for s in range(cfg.seeds)]
    pair = ["poly", sw.mono]
    inst = [(r, s, S) for S in sw.sparsities for r in pair for s in seeds]
    model, _ = train_models(cfg, [i[0] for i in inst], [i[1] for i in inst], [i[2] for i in inst],
                            progress=progress)
    levels = list(sw.noise_rates if sw.map_noise == "label" else sw.sigmas)
    rates, sigmas = (levels, []) if sw.map_noise == "label" else ([], levels)
    acc, _ = evaluate(cfg, model, [i[1] for i in inst], [i[2] for i in inst], rates, sigmas)
    a = np.stack(acc[sw.map_noise]).reshape(len(levels), len(sw.sparsities), 2, len(seeds))
    d = a[:, :, 1] - a[:, :, 0]  # (levels, sparsities, seeds): mono − poly, paired by seed
    cells = [[t_interval(d[j, i]) for j in range(len(levels))] for i in range(len(sw.sparsities))]
    arr = np.array(cells)  # (sparsities, levels, 3)
    return {"mono": sw.mono, "poly": "poly", "sparsities": list(sw.sparsities), "levels": levels,
            "noise_label": "label noise rate" if sw.map_noise == "label" else "input noise σ",
            "gap": arr[..., 0], "ci_lo": arr[..., 1], "ci_hi": arr[..., 2],
            "poly_acc": a[:, :, 0].mean(-1).T, "mono_acc": a[:, :, 1].mean(-1).T,
            "config": {"task": cfg.task, "n": cfg.n, "m": cfg.m, "seeds": cfg.seeds}}
