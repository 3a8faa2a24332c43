"""The recorded condition search of C5 (`monotheory toy search`, `make toy-search`).

* :func:`run_search` — on the SEARCH seeds, train every regime once per (S, importance) and probe at every
  (probe size, η, σ in feature sds); score each condition for each selected mono regime by the weakest of the
  three paired t statistics of the paper's pattern (poly − mono clean, mono − poly under label noise, mono −
  poly under input noise), among the (S, importance) where the mono regime is measured monosemantic and poly
  polysemantic on every search seed; select the best condition per mono regime. The whole grid, every cell
  and the selection go to JSON; :func:`write_conditions` writes the selection to the package data file
  ``monotheory/data/toy_conditions.json`` (``make toy-search`` reproduces it).

C5 re-runs the selected conditions on held-out seeds with fresh models (:func:`monotheory.toy.grid.run_grid`),
with the difference-in-differences mechanism table of :mod:`monotheory.toy.controls`.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from monotheory.files import atomic_write_json
from monotheory.stats import paired_t_statistic as _t
from monotheory.toy.config import SearchConfig, ToyConfig, feature_sd
from monotheory.toy.experiments import code_report, evaluate, train_models

CONDITIONS_FILE = Path(__file__).resolve().parents[1] / "data" / "toy_conditions.json"


def run_search(sc: SearchConfig, base: ToyConfig, *, progress: bool = False) -> dict:
    """The search (module docstring). ``base`` gives n, m, task, steps, seeds (the search seeds) and the probe's
    settings; its sparsity, importance, σ, η and probe size are replaced by the grid's."""
    sc.check_against(base)
    seeds = base.seeds
    regimes = list(sc.regimes)
    cells, codes = [], {}
    for imp in sc.importances:
        cfg = dataclasses.replace(base, importance=imp, regimes=tuple(regimes), probe_train=max(sc.probe_sizes),
                                  sigma=None, sigma_sd=None)
        inst = [(S, r, s) for S in sc.sparsities for r in regimes for s in seeds]
        sp = [i[0] for i in inst]
        model, _ = train_models(cfg, [i[1] for i in inst], [i[2] for i in inst], sp, progress=progress)
        sigmas = [np.array([sd * feature_sd(S) for S in sp]) for sd in sc.sigma_sds]
        cfg_eval = dataclasses.replace(cfg, probe_train=4096 if 4096 in sc.probe_sizes else max(sc.probe_sizes))
        acc = evaluate(cfg_eval, model, [i[2] for i in inst], sp, list(sc.noise_rates), sigmas,
                       probe_sizes=list(sc.probe_sizes))
        rep = code_report(model)
        for k0 in range(0, len(inst), len(seeds)):
            S, r = inst[k0][0], inst[k0][1]
            sl = slice(k0, k0 + len(seeds))
            codes[f"{S:g}/{imp}/{r}"] = [e["monosemantic"] for e in rep[sl]]
            for size in sc.probe_sizes:
                cells.append(dict(sparsity=S, importance=imp, regime=r, probe_size=size, noise="clean", level=0.0,
                                  per_seed=acc["by_size"][size]["clean"][sl].tolist()))
                for rate, a in zip(sc.noise_rates, acc["by_size"][size]["label"], strict=True):
                    cells.append(dict(sparsity=S, importance=imp, regime=r, probe_size=size, noise="label",
                                      level=rate, per_seed=a[sl].tolist()))
            for sd, a in zip(sc.sigma_sds, acc["input"], strict=True):
                cells.append(dict(sparsity=S, importance=imp, regime=r, probe_size=cfg_eval.probe_train,
                                  noise="input", level=sd, per_seed=a[sl].tolist()))
    res = {"grid": {f.name: list(getattr(sc, f.name)) for f in dataclasses.fields(sc)},
           "search_seeds": seeds, "base": dataclasses.asdict(base), "cells": cells, "monosemantic_per_seed": codes,
           "score_rule": "score = min(t(poly − mono, clean), t(mono − poly, label noise η), t(mono − poly, input "
                         "noise σ)), paired t over search seeds; clean and label noise at the probe size of the "
                         "condition, input noise with the clean probe at the input probe size; only (S, importance) "
                         "where mono is monosemantic and poly polysemantic on every search seed"}
    res["selected"] = select(res, sc)
    return res


def _lookup(cells: list[dict]):
    table = {(c["sparsity"], c["importance"], c["regime"], c["probe_size"], c["noise"], c["level"]): c["per_seed"]
             for c in cells}
    return table.get


def select(res: dict, sc: SearchConfig) -> list[dict]:
    """The best condition per mono regime of ``sc.select`` by the score rule of :func:`run_search`."""
    get = _lookup(res["cells"])
    codes = res["monosemantic_per_seed"]
    out = []
    input_size = next(c["probe_size"] for c in res["cells"] if c["noise"] == "input")
    for r in sc.select:
        best = None
        for S in sc.sparsities:
            for imp in sc.importances:
                premise = all(codes[f"{S:g}/{imp}/{r}"]) and not any(codes[f"{S:g}/{imp}/poly"])
                if not premise:
                    continue
                for size in sc.probe_sizes:
                    t_clean = _t(get((S, imp, "poly", size, "clean", 0.0)), get((S, imp, r, size, "clean", 0.0)))
                    for eta in sc.noise_rates:
                        t_label = _t(get((S, imp, r, size, "label", eta)), get((S, imp, "poly", size, "label", eta)))
                        for sd in sc.sigma_sds:
                            t_in = _t(get((S, imp, r, input_size, "input", sd)),
                                      get((S, imp, "poly", input_size, "input", sd)))
                            score = min(t_clean, t_label, t_in)
                            if best is None or score > best["score"]:
                                best = dict(regime=r, sparsity=S, importance=imp, probe_size=size, noise_rate=eta,
                                            sigma_sd=sd, score=score, t_clean=t_clean, t_label=t_label,
                                            t_input=t_in)
        if best is not None:
            out.append(best)
    return out


def write_conditions(res: dict, path: str | Path = CONDITIONS_FILE) -> Path:
    """Write the selected conditions (and the grid and seeds that selected them) as the package data file."""
    data = {"about": "conditions selected by `monotheory toy search` (make toy-search) on the search seeds; C5 "
                     "re-runs them with fresh models on held-out seeds",
            "search_seeds": res["search_seeds"], "grid": res["grid"], "score_rule": res["score_rule"],
            "task": res["base"]["task"], "steps": res["base"]["steps"], "topk": res["base"]["topk"],
            "conditions": res["selected"]}
    return atomic_write_json(path, data)


def load_conditions(path: str | Path = CONDITIONS_FILE) -> dict:
    """The recorded conditions (``write_conditions``'s file)."""
    return json.loads(Path(path).read_text())
