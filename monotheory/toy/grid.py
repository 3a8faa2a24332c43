"""The C5 control grid (issue 22): every regime, every k, both tasks, all / capacity-matched labels, one set of
seeds and data (see :mod:`monotheory.toy.controls` for what each axis controls).

1. Train once per k: poly and ``mono-topk (k = …)`` at every sparsity and seed (poly, oracle and oracle-rot live in
   the first k's model; their codes do not depend on k). Hand-built codes are not trained.
2. Measure every code: the label-free premise measures (:func:`monotheory.metrics.monosemantic_verdict`) and, for
   per-unit codes, how often a unit fires together with its own feature (``selectivity``, reported, not deciding).
3. Probe: for each task, sparsity and label variant, one batched evaluation
   (:func:`monotheory.toy.experiments.evaluate`) of every (group, regime, seed): clean, label noise η, input noise
   at every σ of the grid. Regimes compared with each other share a seed's data, labels and label noise (paired).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from monotheory.metrics import MONOSEMANTIC_RULE, REPRESENTED_NORM
from monotheory.toy import TOPK_REGIMES, ToyConfig, feature_sd
from monotheory.toy.controls import ORACLE_FAMILY, ControlsConfig, regime_key
from monotheory.toy.experiments import CHANCE_RULE, code_report, code_summary, evaluate, train_models
from monotheory.toy.model import ToyModel
from monotheory.toy.sampler import FeatureSampler

_SELECTIVITY_SAMPLES = 4096


class StackedCodes:
    """Instances of several toy models (e.g. one per k) as one encoder: ``parts`` = [(model, instance
    indices)], encoded in that order (an index may repeat). Quacks like a ToyModel for ``evaluate``."""

    def __init__(self, parts: list[tuple[ToyModel, list[int]]]):
        self.parts = [(m.select(idx), len(idx)) for m, idx in parts if idx]
        self.W = torch.cat([m.W.detach() for m, _ in self.parts])

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        out, o = [], 0
        for m, c in self.parts:
            out.append(m.encode(x[o:o + c]))
            o += c
        return torch.cat(out)


def train_codes(cc: ControlsConfig, base: ToyConfig, seeds: list[int], *, progress: bool = False) -> dict:
    """Per k: ``(model, instances)`` with instances [(S, regime, seed)]; trained regimes trained on clean data."""
    out = {}
    for j, k in enumerate(cc.ks):
        regimes = tuple(r for r in cc.regimes if j == 0 or r in TOPK_REGIMES)
        cfg = dataclasses.replace(base, topk=k, regimes=regimes)
        inst = [(S, r, s) for S in cc.sparsities for r in regimes for s in seeds]
        model, info = train_models(cfg, [i[1] for i in inst], [i[2] for i in inst], [i[0] for i in inst],
                                   progress=progress)
        out[k] = (model, inst, info["train_seconds"])
    return out


def index(trained: dict) -> dict:
    """(S, regime key, seed) → (k, instance index)."""
    idx = {}
    for k, (_, inst, _) in trained.items():
        for i, (S, r, s) in enumerate(inst):
            idx[(S, regime_key(r, k), s)] = (k, i)
    return idx


@torch.no_grad()
def selectivity(model: ToyModel, x: torch.Tensor) -> np.ndarray:
    """Per instance of a per-unit code: the mean over its units of P(the unit's own feature is active | the unit
    fires), the unit's own feature being its largest |W_ji| among represented features (units that never fire
    or carry no represented feature are left out; NaN if none is left). 1 = units fire only with their feature."""
    W = model.W.detach()
    a = model.encode(x) != 0                                                   # (I, N, m)
    rep = W.norm(dim=1) > REPRESENTED_NORM                                     # (I, n)
    own = (W.abs() * rep.unsqueeze(1)).argmax(-1)                              # (I, m)
    has = (W.abs() * rep.unsqueeze(1)).amax(-1) > 0
    on = x.gather(-1, own.unsqueeze(1).expand(-1, x.shape[1], -1)) > 0         # (I, N, m) own feature active
    fires = a.sum(1)
    share = (a & on).sum(1) / fires.clamp_min(1)
    keep = has & (fires > 0)
    return torch.where(keep.any(-1), (share * keep).sum(-1) / keep.sum(-1).clamp_min(1), torch.nan).numpy()


def measure_codes(cc: ControlsConfig, base: ToyConfig, trained: dict, seeds: list[int]) -> tuple[dict, dict]:
    """Code summaries per sparsity and regime key (``experiments.code_summary`` + ``selectivity``), and the
    represented features per (S, key, seed)."""
    codes: dict = {f"{S:g}": {} for S in cc.sparsities}
    rep = {}
    for k, (model, inst, _) in trained.items():
        entries = code_report(model)
        x = FeatureSampler(base.n, [i[2] for i in inst], [i[0] for i in inst], offset=5)(_SELECTIVITY_SAMPLES)
        sel = selectivity(model, x)
        norms = model.W.detach().norm(dim=1) > REPRESENTED_NORM
        for e, (S, r, s), v, nr in zip(entries, inst, sel, norms, strict=True):
            if e["basis"] == "per-unit":
                e["selectivity"] = float(v)
            rep[(S, regime_key(r, k), s)] = nr
        for j in range(0, len(inst), len(seeds)):
            S, r = inst[j][0], inst[j][1]
            codes[f"{S:g}"][regime_key(r, k)] = code_summary(entries[j:j + len(seeds)])
    return codes, rep


def _keys(cc: ControlsConfig) -> list[str]:
    return [regime_key(r, k) for r in cc.regimes for k in (cc.ks if r in TOPK_REGIMES else [None])]


def _gram(trained: dict, where: dict, S: float, key: str, seed: int) -> np.ndarray:
    """WᵀW of one instance (Figure 5a)."""
    k, i = where[(S, key, seed)]
    W = trained[k][0].W[i].detach()
    return (W.T @ W).numpy()


def groups(keys: list[str], labels: str, trained: bool = True) -> list[tuple[str, list[str]]]:
    """The label groups of one variant: ``all`` = every key; ``capacity-matched`` = the oracle family with poly,
    and (``trained``) each trained code with poly (:func:`monotheory.toy.controls.group_of`)."""
    if labels == "all":
        return [("all", keys)]
    family = [k for k in keys if not k.startswith("mono-")]
    return [(ORACLE_FAMILY, family)] + [(k, ["poly", k]) for k in keys if trained and k.startswith("mono-")]


def run_grid(cc: ControlsConfig, base: ToyConfig, *, progress: bool = False) -> dict:
    """The grid (module docstring) on ``base``'s seeds (``base.seed`` … + n_seeds − 1): a JSON-ready dict with
    ``cells`` (task, sparsity, labels, group, regime, condition, level, per_seed), ``codes``, ``label_features``
    (per-seed counts of the features the labels depend on), ``chance`` and the rules."""
    cc.check_against(base)
    seeds = base.seeds
    trained = train_codes(cc, base, seeds, progress=progress)
    where = index(trained)
    codes, rep = measure_codes(cc, base, trained, seeds)
    wtw = {f"{S:g}": {key: _gram(trained, where, S, key, seeds[0]) for key in _keys(cc)} for S in cc.sparsities}
    keys = _keys(cc)
    eta = base.noise_rate
    order = {k: j for j, k in enumerate(trained)}
    cells, feats, chance = [], {}, {}
    for task in cc.tasks:
        cfg = cc.task_config(base, task)
        for S in cc.sparsities:
            for labels in cc.labels:
                virt = [(g, key, s) for g, members in groups(keys, labels, cc.matched_trained) for key in members for s in seeds]
                virt.sort(key=lambda v: order[where[(S, v[1], v[2])][0]])                # contiguous per model
                members = dict(groups(keys, labels, cc.matched_trained))
                mask = torch.stack([_label_mask(base.n, rep, S, members[g], s, labels) for g, _, s in virt])
                parts = [(trained[k][0], [where[(S, key, s)][1] for _, key, s in virt if where[(S, key, s)][0] == k])
                         for k in trained]
                sig = [np.full(len(virt), sd * feature_sd(S)) for sd in cc.sigma_sds]
                acc = evaluate(cfg, StackedCodes(parts), [v[2] for v in virt], [S] * len(virt), [eta], sig,
                               label_features=mask)
                for g, members in groups(keys, labels, cc.matched_trained):
                    pos = {key: [i for i, v in enumerate(virt) if v[0] == g and v[1] == key] for key in members}
                    first = pos[members[0]]
                    feats[f"{task}/{S:g}/{labels}/{g}"] = mask[first].sum(-1).tolist()
                    chance[f"{task}/{S:g}/{labels}/{g}"] = float(np.mean(acc["chance"][first]))
                    for key in members:
                        p = pos[key]
                        base_cell = dict(task=task, sparsity=S, labels=labels, group=g, regime=key)
                        cells.append({**base_cell, "condition": "clean", "level": 0.0,
                                      "per_seed": acc["clean"][p].tolist()})
                        cells.append({**base_cell, "condition": "label_noise", "level": eta,
                                      "per_seed": acc["label"][0][p].tolist()})
                        for sd, a in zip(cc.sigma_sds, acc["input"], strict=True):
                            cells.append({**base_cell, "condition": "input_noise", "level": sd,
                                          "per_seed": a[p].tolist()})
    return {"seeds": seeds, "ks": list(cc.ks), "regimes": list(cc.regimes), "noise_rate": eta, "wtw": wtw,
            "matched_trained": cc.matched_trained, "cells": cells, "codes": codes,
            "label_features": feats, "chance": chance, "chance_rule": CHANCE_RULE,
            "monosemantic_rule": MONOSEMANTIC_RULE, "labels_rule": LABELS_RULE,
            "train_seconds": float(sum(t[2] for t in trained.values())),
            "noise_models": {t: cc.task_config(base, t).noise_model for t in cc.tasks}}


LABELS_RULE = ("capacity-matched: the task over the features every compared regime represents on that seed "
               f"(‖W_i‖ > {REPRESENTED_NORM:g}): argmax over them (class = the feature's index, class n when all are "
               "0), pair over the first two of them; the oracle family (poly, oracle, oracle-rot, oracle-topk at "
               "every k) shares one set, each trained mono-topk has its own with poly")


def _label_mask(n: int, rep: dict, S: float, members: list[str], seed: int, labels: str) -> torch.Tensor:
    """The features one virtual instance's labels depend on: all n, or those every member of its group represents."""
    m = torch.ones(n, dtype=torch.bool)
    if labels != "all":
        for key in members:
            m &= rep[(S, key, seed)]
    return m
