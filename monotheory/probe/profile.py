"""The :class:`Profile` returned by :mod:`monotheory.probe.api`: numbers with intervals, paired comparisons,
a Markdown table, a plot, and atomic files.

Per feature set and cell (training label-noise rate η × test set): mean accuracy over seeds with a t-interval
over seeds (``n_seeds ≥ 2``) or a Wilson interval over test items (one seed). Per comparison (every other set
against the reference set, cell by cell): the accuracy gap with a paired bootstrap interval over test items and
McNemar's exact p-value (seed 0; Holm-adjusted over the cells of the comparison), and with ``n_seeds ≥ 2`` a
paired t-interval over seeds. A cell whose training labels carry no class information (flip noise with
η ≥ (C−1)/C, uniform relabelling with η = 1) is marked ``informative: false``.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np

from monotheory.config import to_dict
from monotheory.errors import ConfigError
from monotheory.files import atomic_write_bytes, atomic_write_json, atomic_write_text, to_jsonable
from monotheory.metrics import fisher_separability, monosemanticity_score, near_zero_fraction
from monotheory.plots import pyplot, save_figure
from monotheory.stats import (
    holm,
    mcnemar_exact,
    paired_bootstrap,
    paired_t,
    proportion_interval,
    t_interval,
)
from monotheory.vision.figure4 import plot_figure4


def feature_measures(features, labels) -> dict:
    """Label-based measures of a feature set (rows L2-normalised where a measure says so).

    ``monosemanticity``: :func:`monotheory.metrics.monosemanticity_score` (1 = every active dimension fires for
    one class only, ≈ largest class share for dense features); ``near_zero_fraction``: share of entries with |z| < 1e-2
    after L2 normalisation (the paper's measurement, :func:`monotheory.metrics.near_zero_fraction`); ``exact_zero_fraction``;
    ``active_per_sample``: mean number of dimensions with |z| > 1e-5 after normalisation; ``classes_per_dim``:
    mean over active dimensions of the inverse Simpson index of the classes they fire on (1 = one class per
    dimension, C = all classes equally: a features-per-dimension measure with the classes as features);
    ``fisher_mean`` / ``fisher_median`` / ``fisher_max``: :func:`monotheory.metrics.fisher_separability` of each
    dimension (finite values; ``constant_dims`` counts dimensions with no within-class spread).
    """
    import torch

    z = torch.as_tensor(features).float()
    y = np.asarray(torch.as_tensor(labels).cpu().numpy(), dtype=np.int64)
    zn = torch.nn.functional.normalize(z, dim=1)
    active = (zn.abs() > 1e-5).numpy()
    onehot = np.eye(int(y.max()) + 1)[y]
    counts = onehot.T @ active                                                   # (C, D)
    tot = counts.sum(0)
    p = counts[:, tot > 0] / tot[tot > 0]
    fisher = fisher_separability(z.numpy(), y)
    fin = fisher[np.isfinite(fisher)]
    return {"monosemanticity": float(monosemanticity_score(z, y)), "near_zero_fraction": float(near_zero_fraction(z)),
            "exact_zero_fraction": float((z == 0).float().mean()), "active_per_sample": float(active.sum(1).mean()),
            "classes_per_dim": float((1 / (p**2).sum(0)).mean()) if p.size else float("nan"),
            "fisher_mean": float(fin.mean()) if fin.size else float("nan"),
            "fisher_median": float(np.median(fin)) if fin.size else float("nan"),
            "fisher_max": float(fin.max()) if fin.size else float("nan"),
            "constant_dims": int((~np.isfinite(fisher)).sum()), "dim": int(z.shape[1])}


def _pct(v, sign: str = "") -> str:
    """A share as a percentage with one decimal; "—" for an interval end that is not estimable (None in the JSON:
    e.g. a t-interval over seeds that agree exactly)."""
    return "—" if v is None else f"{100 * v:{sign}.1f}"


def _count_note(shown: int, cells: int) -> str:
    """The caption's count of what the table shows against the cells a Holm family holds (issue 24)."""
    if shown == cells:
        return f" (the table shows all {cells} cells)."
    return (f". The table shows {shown} of the {cells} cells (every η × test set; profile.json has all): label "
            "noise on the clean test set, input noise and shifts at the lowest η.")


def _informative(rate: float, model: str, c: int) -> bool:
    return rate < (c - 1) / c if model == "flip" else rate < 1


def _comparison(sets: dict, correct: dict, cfg, c: int, tests: list, name: str, ref: str) -> dict:
    """Set ``name`` against set ``ref``, cell by cell: item-level paired bootstrap + McNemar (seed 0, Holm over the
    cells), and a paired t over seeds when ``n_seeds ≥ 2``."""
    seeds, rows = cfg.n_seeds, []
    for i, rate in enumerate(cfg.noise_rates):
        for t in tests:
            a, b = correct[(name, 0, rate, t)], correct[(ref, 0, rate, t)]
            mc = mcnemar_exact(a, b)
            bs = paired_bootstrap(a, b, confidence=cfg.confidence, n_resamples=cfg.n_resamples, random_state=cfg.seed)
            row = {"noise_rate": rate, "test": t, "gap": bs["gap"], "ci": bs["ci"], "p_mcnemar": mc["p_value"],
                   "only_a": mc["only_a"], "only_b": mc["only_b"], "informative": _informative(rate, cfg.noise_model, c)}
            if seeds >= 2:
                pt = paired_t([sets[name]["rows"][s][i]["test_acc"][t] for s in range(seeds)],
                              [sets[ref]["rows"][s][i]["test_acc"][t] for s in range(seeds)], cfg.confidence)
                row["seed_level"] = {"gap": pt["mean"], "ci": pt["ci"], "p_value": pt["p_value"]}
            rows.append(row)
    for row, p in zip(rows, holm([r["p_mcnemar"] for r in rows]), strict=True):
        row["p_holm"] = float(p)
    return {"a": name, "b": ref, "cells": rows, "tests": {
        "item_level": f"seed 0: paired bootstrap over test items ({cfg.n_resamples} resamples, percentile, "
                      f"{cfg.confidence:g}) and McNemar's exact test, Holm-adjusted over the {len(rows)} cells",
        "seed_level": f"paired t over {seeds} seeds" if seeds >= 2 else "one seed: none"}}


def survival(comps: list[dict], ref: str, baselines: list[str], alpha: float) -> list[dict]:
    """Which arm each gain of a feature set survives, cell by cell: the set beats an arm (the reference features,
    each strong baseline) where its gap is positive at that comparison's Holm-adjusted level (``p_holm < alpha``,
    McNemar, seed 0) and its paired-bootstrap interval lies above 0. A gain over the reference counts as evidence
    for monosemanticity only where the set beats every baseline too (``evidence``)."""
    by = {(c["a"], c["b"]): {(r["noise_rate"], r["test"]): r for r in c["cells"]} for c in comps}
    out = []
    for a in dict.fromkeys(c["a"] for c in comps if c["b"] in baselines):
        for key, r0 in by[(a, ref)].items():
            arms = {b: by[(a, b)][key] for b in (ref, *baselines)}
            beats = [b for b, r in arms.items() if r["gap"] > 0 and r["ci"][0] > 0 and r["p_holm"] < alpha]
            out.append({"set": a, "noise_rate": key[0], "test": key[1], "informative": r0["informative"],
                        "gaps": {b: {"gap": r["gap"], "ci": r["ci"], "p_holm": r["p_holm"]} for b, r in arms.items()},
                        "beats": beats, "evidence": len(beats) == len(arms)})
    return out


class Profile:
    """A robustness profile: ``data`` (the JSON-ready result) and ``correct`` {(set, seed, η, test): 0/1}."""

    def __init__(self, data: dict, correct: dict):
        self.data, self.correct = data, correct
        self.figure4, self.figure4_images = None, None

    @classmethod
    def build(cls, sets: dict, correct: dict, cfg, conditions: dict) -> Profile:
        c, seeds, tests = conditions["num_classes"], cfg.n_seeds, conditions["tests"]
        out_sets = {}
        for name, e in sets.items():
            cells = []
            for i, rate in enumerate(cfg.noise_rates):
                for t in tests:
                    accs = [e["rows"][s][i]["test_acc"][t] for s in range(seeds)]
                    if seeds >= 2:
                        m, lo, hi = t_interval(accs, cfg.confidence)
                        kind = f"t-interval over {seeds} seeds"
                    else:
                        ok = correct[(name, 0, rate, t)]
                        m, lo, hi = proportion_interval(int(ok.sum()), int(ok.size), cfg.confidence)
                        kind = "Wilson interval over test items (one seed)"
                    cells.append({"noise_rate": rate, "test": t, "acc": m, "ci": [lo, hi], "ci_kind": kind,
                                  "per_seed": accs, "informative": _informative(rate, cfg.noise_model, c),
                                  "realised_rate": [e["rows"][s][i]["realised_rate"] for s in range(seeds)]})
            out_sets[name] = {"kind": e["kind"], "dim": e["dim"], "measures": e["measures"], "cells": cells,
                              **({"view": e["info"]} if e["info"] else {})}
        ref = conditions["reference"]
        roles = {n: e.get("role", "reference" if n == ref else "features") for n, e in sets.items()}
        for n, e in sets.items():
            out_sets[n]["role"] = roles[n]
            if "l2_selection" in e:
                out_sets[n]["l2_selection"] = e["l2_selection"]
        base = [n for n in sets if roles[n] == "baseline"]
        pairs = [(n, ref) for n in sets if n != ref] + [
            (a, b) for a in sets if roles[a] in ("view", "features") for b in base]
        comps = [_comparison(sets, correct, cfg, c, tests, a, b) for a, b in pairs]
        data = {"conditions": conditions, "config": to_dict(cfg), "feature_sets": out_sets, "comparisons": comps}
        if base:
            data["survival"] = survival(comps, ref, base, 1 - cfg.confidence)
        return cls(to_jsonable(data), correct)

    def set_figure4(self, data: dict, images: dict | None = None) -> None:
        """Attach Figure 4's data (:func:`monotheory.probe.figure4.profile_figure4`) and its panel images; the
        profile keeps a summary of it under ``data["figure4"]``."""
        self.figure4, self.figure4_images = data, images
        self.data["figure4"] = to_jsonable({
            "rate": data["rate"], "reference": data["reference"], "files": "figure4.png, figure4.json",
            "sets": {n: {"accuracy": d["accuracy"], "spearman": d["correlation"],
                         "wrong_minus_correct": d["wrong_vs_correct"]["wrong_minus_correct"]}
                     for n, d in data["sets"].items()}})

    # ----------------------------------------------------------------------------------------- views
    def to_dict(self) -> dict:
        return self.data

    def to_json(self, indent: int | None = 2) -> str:
        """The profile as JSON text (every number with its interval and the exact conditions)."""
        return json.dumps(self.data, indent=indent, allow_nan=False)

    def _cell(self, name: str, rate: float, test: str) -> dict:
        return next(c for c in self.data["feature_sets"][name]["cells"]
                    if c["noise_rate"] == rate and c["test"] == test)

    def table(self) -> str:
        """A Figure-1-style Markdown table: rows = conditions, columns = feature sets (accuracy % [interval]),
        then the paired gap to the reference, then the feature measures."""
        d, cond = self.data, self.data["conditions"]
        names, ref = list(d["feature_sets"]), cond["reference"]
        comps = {c["a"]: c for c in d["comparisons"] if c["b"] == ref}
        rates = d["config"]["noise_rates"]
        head = ["condition", *names, *(f"{n} − {ref} (pt)" for n in comps)]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

        def row(label, rate, test):
            cells = [label]
            for n in names:
                c = self._cell(n, rate, test)
                cells.append(f"{_pct(c['acc'])} [{_pct(c['ci'][0])}, {_pct(c['ci'][1])}]")
            for cp in comps.values():
                g = next(r for r in cp["cells"] if r["noise_rate"] == rate and r["test"] == test)
                cells.append(f"{_pct(g['gap'], '+')} [{_pct(g['ci'][0], '+')}, {_pct(g['ci'][1], '+')}], "
                             f"p_Holm {g['p_holm']:.2g}")
            return "| " + " | ".join(cells) + " |"

        r0 = 0.0 if 0.0 in rates else min(rates)
        lines = [f"warning: {w}" for w in d.get("warnings", [])] + ([""] if d.get("warnings") else []) + lines
        first = len(lines)
        lines.append(row("clean", r0, "clean"))
        for r in rates:
            if r != r0:
                flag = "" if self._cell(names[0], r, "clean")["informative"] else " (labels carry no signal)"
                lines.append(row(f"label noise {r:g}{flag}", r, "clean"))
        for t in cond["tests"]:
            if t != "clean":
                lines.append(row(t.replace("shift:", "shift ") if t.startswith("shift:") else f"input noise {t}",
                                 r0, t))
        shown = len(lines) - first
        meas = ["monosemanticity", "near_zero_fraction", "active_per_sample", "classes_per_dim", "fisher_mean", "dim"]
        lines += ["", "| measure | " + " | ".join(names) + " |", "|" + "---|" * (len(names) + 1)]
        for m in meas:
            vals = [d["feature_sets"][n]["measures"].get(m) for n in names]
            lines.append(f"| {m} | " + " | ".join("—" if v is None else f"{v:.4g}" for v in vals) + " |")
        lines += ["", f"Top-1 accuracy (%) of a linear probe ({d['config']['solver']}) on {cond['n_test']} test items, "
                  f"{cond['num_classes']} classes (chance = majority share {100 * cond['chance']:.1f} %); label noise "
                  f"{d['config']['noise_model']}/{d['config']['noise_sampling']} on the {cond['n_train']} training "
                  f"labels; input noise: {cond['input_noise']}. Intervals: {d['feature_sets'][names[0]]['cells'][0]['ci_kind']}"
                  + (f"; gaps: {next(iter(comps.values()))['tests']['item_level']}" if comps else "")
                  + _count_note(shown, len(rates) * len(cond["tests"]))]
        return "\n".join(lines + self._survival_lines()) + "\n"

    def _survival_lines(self) -> list[str]:
        """The strong baselines: each set's gap over the reference and over each baseline, and which it beats."""
        surv = self.data.get("survival")
        if not surv:
            return []
        arms = list(surv[0]["gaps"])
        lines = ["", "Against the strong baselines (gap in points [interval], p_Holm; a gain counts as evidence for "
                 "monosemanticity only where the set beats every arm):", "",
                 "| set | condition | " + " | ".join(f"− {b}" for b in arms) + " | beats |", "|" + "---|" * (len(arms) + 3)]
        for r in surv:
            cond = ("clean" if r["noise_rate"] == 0 and r["test"] == "clean" else
                    f"label noise {r['noise_rate']:g}" if r["test"] == "clean" else f"η {r['noise_rate']:g}, {r['test']}")
            gaps = [f"{100 * g['gap']:+.1f} [{100 * g['ci'][0]:+.1f}, {100 * g['ci'][1]:+.1f}], {g['p_holm']:.2g}"
                    for g in r["gaps"].values()]
            lines.append(f"| {r['set']} | {cond} | " + " | ".join(gaps) + f" | {', '.join(r['beats']) or 'none'}"
                         + (" (evidence)" if r["evidence"] else "") + " |")
        return lines

    def input_noise_label(self) -> str:
        """The σ axis, with its unit: feature files get noise σ × the features' average sd, images on the
        normalised image."""
        if self.data["conditions"].get("noise_space") == "feature":
            return "test input noise σ (× the features' average sd)"
        return "test input noise σ (on the normalised image)"

    def curves(self) -> dict:
        """The data of :meth:`plot`: per feature set, accuracy vs η (clean test) and vs σ (η of the clean row)."""
        d = self.data
        rates = d["config"]["noise_rates"]
        r0 = 0.0 if 0.0 in rates else min(rates)
        sig = [t for t in d["conditions"]["tests"] if t == "clean" or t.startswith("σ=")]
        out = {}
        for n in d["feature_sets"]:
            lab = [self._cell(n, r, "clean") for r in rates]
            inp = [self._cell(n, r0, t) for t in sig]
            out[n] = {"label_noise": {"x": rates, "acc": [c["acc"] for c in lab], "ci": [c["ci"] for c in lab]},
                      "input_noise": {"x": [0.0 if t == "clean" else float(t[2:]) for t in sig],
                                      "acc": [c["acc"] for c in inp], "ci": [c["ci"] for c in inp]}}
        return {"curves": out, "chance": d["conditions"]["chance"]}

    def plot(self, ax=None, *, path: str | os.PathLike | None = None):
        """Accuracy vs training label-noise rate and vs test input noise σ, one line per feature set, with
        intervals and the chance level. ``ax``: a pair of axes (or None for a new figure); returns the figure.
        With ``path``, also saves it with :meth:`curves` as its data file (the figure stays open)."""
        if ax is None:
            fig, ax = pyplot().subplots(1, 2, figsize=(9, 3.4))
        ax = list(np.atleast_1d(ax))
        if len(ax) != 2:
            raise ConfigError(f"Profile.plot needs two axes (label noise, input noise), got {len(ax)}")
        data = self.curves()
        for n, cv in data["curves"].items():
            for a, key in zip(ax, ("label_noise", "input_noise"), strict=True):
                c = cv[key]
                # no error bar where the interval is not estimable (one seed, zero spread: NaN / null ends)
                ci = np.array([[np.nan if v is None else v for v in ci] for ci in c["ci"]], dtype=float)
                lo = np.nan_to_num(100 * (np.asarray(c["acc"]) - ci[:, 0]))
                hi = np.nan_to_num(100 * (ci[:, 1] - np.asarray(c["acc"])))
                a.errorbar(c["x"], [100 * v for v in c["acc"]], yerr=[lo, hi], marker="o", capsize=3, label=n)
        for a, xl in zip(ax, ("training label-noise rate η", self.input_noise_label()), strict=True):
            a.axhline(100 * data["chance"], color="grey", ls=":", lw=1, label="chance")
            a.set_xlabel(xl)
            a.set_ylabel("probe top-1 (%)")
        ax[0].legend(fontsize=7)
        if path is not None:
            save_figure(ax[0].figure, path, data, close=False)
        return ax[0].figure

    def save(self, out: str | os.PathLike, config: dict | None = None) -> Path:
        """Write ``config.json``, ``profile.json``, ``profile.md``, ``noise_curves.png`` + ``.json``, the
        per-item correctness ``correct.npz`` (keys ``set|seed|η|test``) and, when the grid has a Figure-4 rate,
        ``figure4.png`` + ``figure4.json`` into ``out``, each atomically."""
        out = Path(out)
        if getattr(self, "figure4", None) is not None:
            save_figure(plot_figure4(self.figure4["sets"], self.figure4["reference"], self.figure4_images),
                        out / "figure4.png", data=self.figure4)
        buf = io.BytesIO()
        np.savez_compressed(buf, **{f"{n}|{s}|{r:g}|{t}": v for (n, s, r, t), v in self.correct.items()})
        atomic_write_bytes(out / "correct.npz", buf.getvalue())
        save_figure(self.plot(), out / "noise_curves.png", data=self.curves())
        atomic_write_text(out / "profile.md", "# Robustness profile\n\n" + self.table())
        atomic_write_json(out / "profile.json", self.data)
        atomic_write_json(out / "config.json", config if config is not None else self.data["config"])
        return out
