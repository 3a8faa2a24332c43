"""Figure 5 of the paper on toy models: mono vs poly hidden codes under label and input noise.

Pipeline (every step batched over instances = regimes × seeds [× sparsities]):

1. train the toy models on clean reconstruction (:mod:`monotheory.toy.train`); ``dense-trained`` instances
   train at S = 0, hand-built ones (``oracle``, ``oracle-rot``, ``oracle-topk``) are not trained;
2. draw probe data (train / test) from the same spike-and-uniform distribution, a separate stream per seed
   shared by all regimes with that seed (paired comparisons);
3. labels: ``argmax`` — y = argmax_i x_i among the n features, with an extra class n for "no feature
   active" (probability Sⁿ); ``pair`` — the theory's binary task y = 1[x_0 > x_1] (a tie x_0 = x_1 = 0
   counts as y = 0, so its chance level, the majority-class rate, is reported beside every cell);
4. a linear probe (:class:`monotheory.probes.BatchedLinearProbe`) on h = encode(x): *clean*, *label noise*
   (``noise_rate`` of the probe's training labels corrupted), *input noise* (clean-label probe, test inputs
   x + σ·N(0, I) before encoding; σ in raw units or in feature-sd units, both recorded); optionally at
   several probe training sizes (the first N samples of one draw, so sizes are nested);
5. per regime: mean accuracy over seeds with a 95 % t-interval, and the paired gap regime − poly
   (:func:`monotheory.stats.paired_t`); per regime and seed, the basis-free superposition measures of W and
   the ``monosemantic`` verdict of :func:`monotheory.metrics.monosemantic_verdict`.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from monotheory.config import check_choice
from monotheory.errors import ConfigError
from monotheory.metrics import MONOSEMANTIC_RULE, chance_level, monosemantic_verdict
from monotheory.noise import label_noise
from monotheory.probes import BatchedLinearProbe
from monotheory.seeding import stream_seed, torch_generator
from monotheory.stats import paired_t, t_interval
from monotheory.toy.config import DENSE_TRAINED, HAND_BUILT, PER_UNIT_CODES, TASKS, ToyConfig
from monotheory.toy.model import ToyModel
from monotheory.toy.sampler import FeatureSampler
from monotheory.toy.train import cpu_threads, train

__all__ = ["code_report", "code_summary", "evaluate", "labels_for", "run_figure5", "run_figure5_multi", "summarise",
           "train_models"]

CHANCE_RULE = "chance = majority-class rate of the test labels (mean over seeds)"
CONDITIONS = ("clean", "label_noise", "input_noise")


def labels_for(x: torch.Tensor, task: str, features: torch.Tensor | None = None) -> torch.Tensor:
    """Labels of features x (…, n): ``argmax`` (class n when every feature is 0) or ``pair`` (1[x_0 > x_1]).

    ``features`` (I, n) bool, with x of shape (I, N, n): each instance's labels depend only on its listed
    features (the capacity-matched task of C5): ``argmax`` over them (the class keeps the feature's index, class n
    when all of them are 0, so the classes and the label-noise process are those of the full task), ``pair``
    compares the first two of them."""
    check_choice("task", task, TASKS)
    if features is None:
        a, b = 0, 1
    else:
        features = torch.as_tensor(features, dtype=torch.bool)
        need = 2 if task == "pair" else 1
        if x.dim() != 3 or features.shape != (x.shape[0], x.shape[-1]):
            raise ConfigError(f"features has shape {tuple(features.shape)}; it needs one row of {x.shape[-1]} flags "
                              f"per instance of x {tuple(x.shape)}")
        if int(features.sum(-1).min()) < need:
            raise ConfigError(f"an instance lists {int(features.sum(-1).min())} label features; task {task} needs at "
                              f"least {need}")
    if task == "pair":
        if features is None:
            return (x[..., a] > x[..., b]).long()
        first = torch.argsort((~features).to(torch.int8), dim=-1, stable=True)[:, :2]       # (I, 2), by index
        xa, xb = (x.gather(-1, first[:, j].view(-1, 1, 1).expand(*x.shape[:2], 1))[..., 0] for j in (0, 1))
        return (xa > xb).long()
    if features is not None:
        x = x.masked_fill(~features.unsqueeze(1), -1.0)   # features ≥ 0: an unlisted one is never the argmax
    y = x.argmax(-1)
    return torch.where(x.amax(-1) > 0, y, torch.full_like(y, x.shape[-1]))


def train_models(cfg: ToyConfig, regimes: list[str], seeds: list[int], sparsities: list[float], *,
                 progress: bool = False) -> tuple[ToyModel, dict]:
    """Build one batched model for the listed instances (its config: ``cfg`` with the instances' regimes) and train
    its non-hand-built instances (``dense-trained`` ones on S = 0 data, whatever their evaluation sparsity)."""
    model = ToyModel(dataclasses.replace(cfg, regimes=tuple(dict.fromkeys(regimes))), regimes, seeds)
    idx = [k for k, r in enumerate(regimes) if r not in HAND_BUILT]
    info = {"loss": np.full(len(regimes), np.nan), "train_seconds": 0.0}
    if idx:
        sub = model.select(idx)
        train_sp = [0.0 if regimes[k] == DENSE_TRAINED else sparsities[k] for k in idx]
        res = train(sub, FeatureSampler(cfg.n, [seeds[k] for k in idx], train_sp, offset=2),
                    cfg.train_config, progress=progress)
        with torch.no_grad():
            model.W[idx] = sub.W
            model.b[idx] = sub.b
        info["loss"][idx] = res.loss_.numpy()
        info["train_seconds"] = res.seconds
    return model, info


def probe_batch(cfg: ToyConfig, seeds: list[int], sparsities: list[float], size: int, offset: int,
                label_features: torch.Tensor | None = None):
    """Probe data for each instance: features x (I, N, n) and clean labels y (I, N) (over ``label_features``,
    see :func:`labels_for`)."""
    x = FeatureSampler(cfg.n, seeds, sparsities, offset=offset)(size)
    return x, labels_for(x, cfg.task, label_features)


def noisy_labels(cfg: ToyConfig, y: torch.Tensor, seeds: list[int], noise_rate: float) -> torch.Tensor:
    """Corrupt each instance's probe labels; instances sharing a seed get the same corruption (paired)."""
    out = torch.empty_like(y)
    for k, s in enumerate(seeds):
        out[k] = label_noise(y[k], noise_rate, cfg.num_classes, model=cfg.noise_model, sampling=cfg.noise_sampling,
                             seed=stream_seed(int(s), "toy", "label-noise", y.shape[1])).labels
    return out


def gaussian_shift(shape: tuple[int, int, int], seeds: list[int]) -> torch.Tensor:
    """Unit Gaussian noise N(0, I) for each instance's test set (shape (I, N, n)), one draw per distinct seed
    from its ``("toy", "input-noise")`` stream: instances sharing a seed get the same noise (paired), and the
    draw is the same for every σ (common random numbers; callers scale it)."""
    uniq = sorted(set(int(s) for s in seeds))
    eps = torch.empty(len(uniq), *shape[1:])
    for j, s in enumerate(uniq):
        eps[j] = torch.randn(*shape[1:], generator=torch_generator(s, "toy", "input-noise"))
    return eps[torch.tensor([uniq.index(int(s)) for s in seeds])]


def make_probe(cfg: ToyConfig):
    return BatchedLinearProbe(cfg.num_classes, solver="lbfgs", weight_decay=cfg.probe_weight_decay,
                              max_iter=cfg.probe_max_iter, random_state=cfg.seed)


def code_report(model: ToyModel) -> list[dict]:
    """Per instance: the ``monosemantic`` verdict and the measures it rests on (basis-free ones for every
    code, per-unit ones only for codes with a per-unit nonlinearity), :func:`metrics.monosemantic_verdict`."""
    flags = [r in PER_UNIT_CODES for r in model.regimes]
    return monosemantic_verdict(model.W.detach().cpu().numpy(), flags)


def evaluate(cfg: ToyConfig, model: ToyModel, seeds: list[int], sparsities: list[float], noise_rates: list[float],
             sigmas: list, *, probe_sizes: list[int] | None = None, label_features: torch.Tensor | None = None) -> dict:
    """Probe accuracies of every instance, as numpy arrays over instances (I,):

    ``clean`` and ``label`` (one array per rate) at ``cfg.probe_train`` samples; ``input`` (one per entry of
    ``sigmas``, each a raw σ or an (I,) array of per-instance raw σ's), scored with the clean probe;
    ``chance``; and with ``probe_sizes``, ``by_size[N] = {"clean": …, "label": [...]}`` for probes trained
    on the first N samples (nested draws). ``label_features`` (I, n) bool: each instance's labels depend only on
    those features (:func:`labels_for`). ``model`` is anything with ``W`` (for its device) and ``encode``. Runs with
    one torch thread on CPU (see ``train.cpu_threads``)."""
    with cpu_threads(1 if model.W.device.type == "cpu" else None):
        return _evaluate(cfg, model, seeds, sparsities, noise_rates, sigmas, probe_sizes, label_features)


@torch.no_grad()
def _encode(model, x):
    return model.encode(x)


def _evaluate(cfg, model, seeds, sparsities, noise_rates, sigmas, probe_sizes, label_features):
    sizes = sorted(set(probe_sizes or []) | {cfg.probe_train})
    xtr, ytr = probe_batch(cfg, seeds, sparsities, max(sizes), offset=3, label_features=label_features)
    xte, yte = probe_batch(cfg, seeds, sparsities, cfg.probe_test, offset=4, label_features=label_features)
    htr, hte = _encode(model, xtr), _encode(model, xte)
    noisy = {rate: noisy_labels(cfg, ytr, seeds, rate) for rate in noise_rates if rate > 0}
    by_size, clean_probe = {}, None
    for size in sizes:
        probe = make_probe(cfg).fit(htr[:, :size], ytr[:, :size])
        clean = np.asarray(probe.score(hte, yte))
        labels = [clean if rate == 0 else np.asarray(make_probe(cfg).fit(htr[:, :size], noisy[rate][:, :size])
                                                     .score(hte, yte)) for rate in noise_rates]
        by_size[size] = {"clean": clean, "label": labels}
        if size == cfg.probe_train:
            clean_probe = probe
    eps = gaussian_shift(tuple(xte.shape), seeds)
    inputs = []
    for sig in sigmas:
        s = torch.as_tensor(np.broadcast_to(np.asarray(sig, dtype=np.float32), (len(seeds),)).copy()).view(-1, 1, 1)
        inputs.append(np.asarray(clean_probe.score(_encode(model, xte + s * eps), yte)))
    acc = {"clean": by_size[cfg.probe_train]["clean"], "label": by_size[cfg.probe_train]["label"], "input": inputs,
           "chance": chance_level(yte.numpy(), cfg.num_classes)}
    if probe_sizes:
        acc["by_size"] = {s: by_size[s] for s in probe_sizes}
    return acc


def _ci(values) -> dict:
    m, lo, hi = t_interval(values)
    return {"mean": m, "ci": [lo, hi]}


def summarise(acc: dict[str, np.ndarray], regimes: list[str], seeds_per: int, poly: str = "poly") -> dict:
    """``acc[condition]`` is (I,) with instances ordered regime-major; per regime the mean with a 95 %
    t-interval and the paired gap regime − poly (:func:`monotheory.stats.paired_t`, with its p-value)."""
    out: dict = {}
    for r_i, r in enumerate(regimes):
        sl = slice(r_i * seeds_per, (r_i + 1) * seeds_per)
        row = {}
        for cond, a in acc.items():
            row[cond] = {**_ci(a[sl]), "per_seed": a[sl]}
            if poly in regimes and r != poly:
                p = regimes.index(poly)
                g = paired_t(a[sl], a[p * seeds_per:(p + 1) * seeds_per])
                row[cond]["gap_vs_poly"] = {"mean": g["mean"], "ci": g["ci"], "p_value": g["p_value"],
                                             "degenerate": g["degenerate"]}
        out[r] = row
    return out


def code_summary(entries: list[dict]) -> dict:
    """Seed means of a regime's code measures, the per-seed verdicts and the share of monosemantic seeds."""
    keys = [k for k, v in entries[0].items() if isinstance(v, float)]
    mono = [e["monosemantic"] for e in entries]
    return {"basis": entries[0]["basis"], "per_seed": entries, "monosemantic_per_seed": mono,
            "monosemantic_share": float(np.mean(mono)),
            **{k: float(np.nanmean([e[k] for e in entries])) if any(e[k] == e[k] for e in entries) else float("nan")
               for k in keys}}


# ---------------------------------------------------------------------------------------------- Figure 5


def run_figure5(cfg: ToyConfig, *, progress: bool = False) -> dict:
    """Train every regime × seed, probe clean / label noise / input noise; return a JSON-ready result."""
    return run_figure5_multi(cfg, [cfg.sparsity], progress=progress)[0]


def run_figure5_multi(cfg: ToyConfig, sparsities: list[float], *, progress: bool = False,
                      trained: tuple | None = None, return_trained: bool = False):
    """:func:`run_figure5` at several sparsities, all trained in one batch (instances = S × regime × seed).

    ``trained`` = the ``(model, info)`` of an earlier call (``return_trained=True`` returns it beside the
    results): training does not depend on the probe task or the noise, so another task / noise setting can
    be evaluated on the same models without retraining. Each regime's summary holds ``code`` (the
    ``monosemantic`` verdict per seed and the numbers it rests on) and ``monosemantic`` = every seed
    monosemantic, ``polysemantic`` = no seed monosemantic."""
    regimes = list(cfg.regimes)
    seeds = cfg.seeds
    inst = [(S, r, s) for S in sparsities for r in regimes for s in seeds]
    inst_seed, sp = [i[2] for i in inst], [i[0] for i in inst]
    if trained is None:
        trained = train_models(cfg, [i[1] for i in inst], inst_seed, sp, progress=progress)
    model, info = trained
    if model.instances != len(inst):
        raise ConfigError(f"the trained model has {model.instances} instances, the config needs {len(inst)}")
    sig = np.array([cfg.sigma_at(S) for S in sp])
    acc = evaluate(cfg, model, inst_seed, sp, [cfg.noise_rate], [sig])
    codes = code_report(model)
    per = len(regimes) * cfg.n_seeds
    W = model.W.detach()
    out = []
    for j, S in enumerate(sparsities):
        sl = slice(j * per, (j + 1) * per)
        conds = {"clean": acc["clean"][sl], "label_noise": acc["label"][0][sl], "input_noise": acc["input"][0][sl]}
        summary = summarise(conds, regimes, cfg.n_seeds)
        for r_i, r in enumerate(regimes):
            k = slice(j * per + r_i * cfg.n_seeds, j * per + (r_i + 1) * cfg.n_seeds)
            code = code_summary(codes[k])
            summary[r]["code"] = code
            summary[r]["monosemantic"] = bool(all(code["monosemantic_per_seed"]))
            summary[r]["polysemantic"] = not any(code["monosemantic_per_seed"])
            summary[r]["train_loss"] = float(np.mean(info["loss"][k])) if r not in HAND_BUILT else None
        wtw = {r: (W[j * per + r_i * cfg.n_seeds].T @ W[j * per + r_i * cfg.n_seeds]).numpy()
               for r_i, r in enumerate(regimes)}
        out.append({"sparsity": S, "sigma": cfg.sigma_at(S), "sigma_sd": cfg.sigma_sd_at(S), "summary": summary,
                    "WtW_seed0": wtw, "train_seconds": info["train_seconds"], "instances": len(inst),
                    "chance": float(np.mean(acc["chance"][sl])), "chance_rule": CHANCE_RULE,
                    "monosemantic_rule": MONOSEMANTIC_RULE})
    return (out, trained) if return_trained else out
