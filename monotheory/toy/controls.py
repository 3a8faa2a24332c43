"""The toy controls of claim C5 (issue 22): what the rows compare, and the difference-in-differences table.

The grid (:func:`monotheory.toy.grid.run_grid`, torch) measures, on the same seeds and data for every regime:

* **k**: the top-k codes (``mono-topk`` trained, ``oracle-topk`` hand-built) at every k of
  :attr:`ControlsConfig.ks`; every row names its k (``oracle-topk (k = 4)``);
* **tasks**: ``argmax`` (n + 1 classes, flip label noise) and ``pair`` (1[x_a > x_b]; flip noise ≥ 1/2 would
  invert binary labels, so the pair task takes :attr:`ControlsConfig.pair_noise_model`, by default ``uniform``:
  a label is redrawn uniformly with probability η, i.e. flipped with probability η/2);
* **labels**: ``all`` (the task over all n features) and ``capacity-matched`` (the same task over the features
  that every compared regime represents on that seed, ‖W_i‖ > 0.5: for the oracle family, poly, oracle,
  oracle-rot and every oracle-topk, the features the oracle keeps that poly also represents; for a trained
  ``mono-topk (k = …)``, the features it and poly both represent), so that "mono − poly" no longer changes
  what the label can depend on.

This module holds the config, the look-ups, the rows of paired cells (what the decision rule consumes: per cell
the per-seed values of both arms and the claimed sign of mono − poly, plus the row's premise) and the cells of
the mechanism table; :mod:`monotheory.claims.toy_controls` decides them. It imports no torch.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from monotheory.config import check_choice, check_sparsity, check_unique
from monotheory.errors import ConfigError
from monotheory.noise import LABEL_NOISE_MODELS, check_sigma
from monotheory.toy import TOPK_REGIMES, ToyConfig, check_label_noise

F = dataclasses.field
LABELS = ("all", "capacity-matched")
GRID_REGIMES = ("poly", "oracle", "oracle-rot", "mono-topk", "oracle-topk")
ORACLE_FAMILY = "oracle family"
NOISES = (("label_noise", "label noise"), ("input_noise", "input noise"))
# (name, a, b, what a − b isolates); "k" in a regime name is filled per k of the grid
CONTRASTS = (("monosemanticity", "oracle", "poly", "oracle − poly: orthogonal vs superposed, both dense linear"),
             ("sparsity", "oracle-topk", "oracle", "oracle-topk − oracle: top-k at fixed monosemanticity"),
             ("basis", "oracle-rot", "oracle", "oracle-rot − oracle: basis at fixed subspace (0 for a linear probe)"),
             ("trained code", "mono-topk", "poly", "mono-topk − poly: the trained top-k code vs poly"))


@dataclasses.dataclass
class ControlsConfig:
    """The control grid of C5 (module docstring); n, m, steps, probe, η and the seeds come from a ToyConfig."""

    sparsities: tuple[float, ...] = F(default=(0.2, 0.8), metadata={"help": "sparsities S (P(zero))"})
    regimes: tuple[str, ...] = F(default=GRID_REGIMES, metadata={"help": f"regimes ({', '.join(GRID_REGIMES)})"})
    ks: tuple[int, ...] = F(default=(1, 2, 4, 8), metadata={"help": "k of the top-k codes"})
    tasks: tuple[str, ...] = F(default=("argmax", "pair"), metadata={"help": "probe tasks: argmax, pair"})
    labels: tuple[str, ...] = F(default=LABELS, metadata={"help": "labels over: all, capacity-matched"})
    sigma_sds: tuple[float, ...] = F(default=(0.6,), metadata={"help": "input-noise σ's in feature sds"})
    pair_noise_model: str = F(default="uniform", metadata={"help": "label-noise model of the pair task"})
    matched_trained: bool = F(default=True, metadata={"help": "capacity-matched labels for the trained codes too "
                                                              "(else only for the oracle family)"})

    def __post_init__(self):
        for name in ("regimes", "tasks", "labels"):
            v = getattr(self, name)
            if isinstance(v, str):
                setattr(self, name, tuple(x.strip() for x in v.split(",") if x.strip()))
        self.check()

    def check(self) -> None:
        for f in dataclasses.fields(self):
            if f.name not in ("pair_noise_model", "matched_trained") and not tuple(getattr(self, f.name)):
                raise ConfigError(f"controls axis {f.name} is empty; give at least one value")
        for s in self.sparsities:
            check_sparsity("sparsities entry", s)
        for k in self.ks:
            if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
                raise ConfigError(f"ks entry = {k!r} is not an integer ≥ 1")
        if len(set(self.ks)) != len(self.ks):
            raise ConfigError(f"ks = {self.ks} lists a k twice")
        for r in self.regimes:
            check_choice("regimes entry", r, GRID_REGIMES)
        if "poly" not in self.regimes or "oracle" not in self.regimes:
            raise ConfigError(f"regimes = {','.join(self.regimes)} must include poly and oracle, the references of "
                              "every gap and contrast")
        for t in self.tasks:
            check_choice("tasks entry", t, ("argmax", "pair"))
        for lab in self.labels:
            check_choice("labels entry", lab, LABELS)
        for s in self.sigma_sds:
            check_sigma("sigma_sds entry", s)
        for name in ("sparsities", "regimes", "tasks", "labels", "sigma_sds"):
            check_unique(name, getattr(self, name))
        check_choice("pair_noise_model", self.pair_noise_model, LABEL_NOISE_MODELS)

    def check_against(self, base: ToyConfig) -> None:
        """k ≤ m, and η valid for each task's noise model (:func:`monotheory.toy.check_label_noise`)."""
        for k in self.ks:
            if k > base.m:
                raise ConfigError(f"ks entry = {k} is outside [1, m = {base.m}]; a top-k code keeps at most m units")
        for t in self.tasks:
            cfg = self.task_config(base, t)
            check_label_noise("noise_rate", cfg.noise_rate, cfg.num_classes, cfg.noise_model, t)

    def task_config(self, base: ToyConfig, task: str) -> ToyConfig:
        """``base`` for one task: the pair task takes :attr:`pair_noise_model`."""
        model = self.pair_noise_model if task == "pair" else base.noise_model
        return dataclasses.replace(base, task=task, noise_model=model, sigma=None, sigma_sd=None)


def regime_key(regime: str, k: int | None = None) -> str:
    """The name of a regime in the grid: top-k codes carry their k (``oracle-topk (k = 4)``)."""
    return f"{regime} (k = {k})" if regime in TOPK_REGIMES else regime


def group_of(key: str, labels: str) -> str:
    """The label group of a regime: ``all`` for the full task; under ``capacity-matched`` the oracle family
    (oracle, oracle-rot, oracle-topk) shares one set of label features, a trained code has its own."""
    if labels == "all":
        return "all"
    return key if key.startswith("mono-") else ORACLE_FAMILY


def series(res: dict, task: str, sparsity: float, labels: str, key: str, condition: str, level: float = 0.0,
           group: str | None = None) -> np.ndarray:
    """Per-seed accuracies of one cell of a grid result (``group`` defaults to the regime's own)."""
    g = group or group_of(key, labels)
    for c in res["cells"]:
        if (c["task"], c["sparsity"], c["labels"], c["group"], c["regime"], c["condition"]) == \
                (task, sparsity, labels, g, key, condition) and np.isclose(c["level"], level):
            return np.asarray(c["per_seed"], dtype=float)
    raise KeyError(f"no cell {task}/{sparsity:g}/{labels}/{g}/{key}/{condition}/{level:g} in the grid result")


def premise(res: dict, sparsity: float, mono: str) -> dict:
    """Is the row a test? mono measured monosemantic on every seed AND poly polysemantic on every seed."""
    codes = res["codes"][f"{sparsity:g}"]
    m, p = codes[mono], codes["poly"]
    mono_ok, poly_ok = all(m["monosemantic_per_seed"]), not any(p["monosemantic_per_seed"])
    why = ", ".join(w for w, bad in ((f"{mono} not monosemantic on every seed", not mono_ok),
                                     ("poly not polysemantic on every seed", not poly_ok)) if bad)
    return {"holds": mono_ok and poly_ok, "why": why, "rule": res["monosemantic_rule"],
            "measured": {mono: code_text(m), "poly": code_text(p)}}


def code_text(c: dict) -> str:
    """One code's premise measures in words."""
    k, n = sum(c["monosemantic_per_seed"]), len(c["monosemantic_per_seed"])
    unit = (f", {c['features_per_unit']:.2f} features/unit, recovery {c['unit_feature_recovery']:.2f}, units fire "
            f"with their feature {c['selectivity']:.2f}" if c.get("features_per_unit") is not None else "")
    return (f"monosemantic on {k}/{n} seeds ({c['basis']}; {c['represented']:.1f} features represented, "
            f"interference {c['interference']:.3f}{unit})")


def row(res: dict, task: str, sparsity: float, labels: str, mono: str, sigma_sd: float) -> dict:
    """One C5 row: mono vs poly under one condition, as paired cells (mono − poly per seed, claimed sign: −1
    clean, +1 under each noise) plus the premise. ``mono`` is a regime key (:func:`regime_key`)."""
    eta = res["noise_rate"]
    get = lambda key, cond, lev=0.0: series(res, task, sparsity, labels, key, cond, lev, group_of(mono, labels))  # noqa: E731
    cells = [{"name": "clean", "mono": get(mono, "clean"), "poly": get("poly", "clean"), "sign": -1}]
    cells.append({"name": "label noise", "mono": get(mono, "label_noise", eta), "poly": get("poly", "label_noise", eta),
                  "sign": +1})
    cells.append({"name": "input noise", "mono": get(mono, "input_noise", sigma_sd),
                  "poly": get("poly", "input_noise", sigma_sd), "sign": +1})
    feats = res["label_features"][f"{task}/{sparsity:g}/{labels}/{group_of(mono, labels)}"]
    return {"task": task, "sparsity": sparsity, "labels": labels, "mono": mono, "sigma_sd": sigma_sd,
            "noise_rate": eta, "cells": cells, "premise": premise(res, sparsity, mono),
            "label_features": {"min": int(min(feats)), "max": int(max(feats))},
            "chance": res["chance"][f"{task}/{sparsity:g}/{labels}/{group_of(mono, labels)}"]}


def mechanism(res: dict, task: str, sparsity: float, labels: str, sigma_sd: float) -> dict:
    """The cells of one run's mechanism table on differences-in-differences: per contrast a − b of
    :data:`CONTRASTS` (every k for the top-k ones) and noise, the per-seed gaps a − b under the noise
    (``noisy``) and clean (``clean``): DiD = noisy − clean, paired over seeds. Undecided: the claims layer
    decides the table as one family (:func:`monotheory.claims.toy_controls.decide_mechanism`) and fills
    ``mean``, ``ci``, ``p_holm``, ``significant`` and the ``carriers``."""
    eta, rows = res["noise_rate"], []
    for name, a, b, what in CONTRASTS:
        if a not in res["regimes"] or b not in res["regimes"]:
            continue
        if labels != "all" and a.startswith("mono-") and not res.get("matched_trained", True):
            continue
        for k in (res["ks"] if a in TOPK_REGIMES else [None]):
            ka, kb = regime_key(a, k), regime_key(b, k)
            grp = group_of(ka, labels)
            s = lambda key, cond, lev=0.0, g=grp: series(res, task, sparsity, labels, key, cond, lev, g)  # noqa: E731
            clean = s(ka, "clean") - s(kb, "clean")
            for cond, word in NOISES:
                lev = eta if cond == "label_noise" else sigma_sd
                noisy = s(ka, cond, lev) - s(kb, cond, lev)
                rows.append({"contrast": name, "k": k, "a": ka, "b": kb, "isolates": what, "noise": word,
                             "clean": clean.tolist(), "noisy": noisy.tolist(),
                             "clean_gap": float(clean.mean()), "noisy_gap": float(noisy.mean())})
    return {"task": task, "sparsity": sparsity, "labels": labels, "sigma_sd": sigma_sd, "noise_rate": eta,
            "rows": rows}


def carriers(rows: list[dict]) -> dict[str, str]:
    """Per noise, the contrasts whose DiD is decided (``significant``): ``sparsity (k = 2) helps`` etc.; ``none``.
    The trained code's contrast (mono-topk − poly) is a result, not a mechanism, and is left out."""
    out = {}
    for _, word in NOISES:
        parts = [f"{contrast_name(r)} {'helps' if r['mean'] > 0 else 'hurts'}" for r in rows
                 if r["noise"] == word and r["significant"] and r["contrast"] != "trained code"]
        out[word] = ", ".join(parts) or "none"
    return out


def contrast_name(r: dict) -> str:
    """``sparsity (k = 2)``, ``monosemanticity``."""
    return r["contrast"] if r["k"] is None else f"{r['contrast']} (k = {r['k']})"


def _ci(r: dict) -> str:
    if r["ci"] is None:
        return f"not estimable ({r['degenerate']})"
    return f"[{r['ci'][0]:+.3f}, {r['ci'][1]:+.3f}]{'*' if r['significant'] else ''} ({100 * r['level']:.1f} %)"


def mechanism_md(tables: list[dict]) -> str:
    """The mechanism tables as Markdown (one line per DiD cell)."""
    lines = ["| task | S | labels | σ (sd) | contrast | noise | gap clean | gap noisy | DiD | CI (Holm step) | Holm p |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for t in tables:
        for r in t["rows"]:
            lines.append(f"| {t['task']} | {t['sparsity']:g} | {t['labels']} | {t['sigma_sd']:g} | {r['a']} − {r['b']} "
                         f"| {r['noise']} | {r['clean_gap']:+.3f} | {r['noisy_gap']:+.3f} | {r['mean']:+.3f} | "
                         f"{_ci(r)} | {r['p_holm']:.3g} |")
    return "\n".join(lines) + "\n"
