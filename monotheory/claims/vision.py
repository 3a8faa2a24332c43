"""The vision checks' readers (C1–C4, C9, C10 in ``paper_checks/``): the inputs a claim needs from a
``run-imagenet`` folder and its rows, decided by the one rule (:mod:`monotheory.claims.rules` through
:mod:`monotheory.claims.arms`: cells, premise, one Holm family per check). :func:`probe_specs` and
:func:`finetune_specs` build the rows of any list of run folders; the digits reader (:mod:`.digits`) uses them
over its seed folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from monotheory.claims import rules
from monotheory.claims.arms import (
    accuracy_cell,
    attach_survival,
    chance_of,
    family_rows,
    finetune_arms,
    premise,
    probe_arms,
)
from monotheory.claims.rules import ALPHA, REPRODUCED, Cell, decide_family
from monotheory.claims.verdict import skipped
from monotheory.vision.tables import PAPER_CELLS, figure1_rows, grid, has_cell, load_correct, load_json


def claim_inputs(results_dir, stage: str, dataset: str | None):
    """Load what a paper check needs from a run-imagenet folder: ``(result dict, None)`` or ``(None, reason)``.

    ``stage``: the result file (``probe`` / ``finetune``); ``dataset``: the data set the claim is about, or
    ``None`` to accept any (used by the tests on a tiny folder).
    """
    if results_dir is None:
        return None, "needs a finished `monotheory run-imagenet` output folder (--imagenet-results); none given"
    res = load_json(results_dir, stage)
    if res is None:
        return None, f"{results_dir} has no {stage}.json (run the {stage} stage of run-imagenet)"
    got = res.get("run_config", {}).get("dataset")
    if dataset is not None and got != dataset:
        return None, f"{results_dir} is a run on {got!r}; this claim is about {dataset!r}"
    return res, None


def run_dataset(results_dir) -> str | None:
    """The ``dataset`` of a run-imagenet folder (from ``config.json``, else ``probe.json``), or None."""
    for name, keys in (("config", ("config", "dataset")), ("probe", ("run_config", "dataset"))):
        d = load_json(results_dir, name) if results_dir is not None and Path(results_dir).is_dir() else None
        for k in keys:
            d = d.get(k) if isinstance(d, dict) else None
        if d is not None:
            return d
    return None


def probe_specs(folders, pairs, rate: float, sigma_key: str, *, margin: float | None, chance: float | None,
                suffix: str = "") -> list[dict]:
    """The rows of a Figure-1 claim as specs for :func:`monotheory.claims.arms.family_rows`: one per
    (mono, poly, paper value) pair, gap mono − poly, with the premise that mono is measurably more monosemantic;
    ``margin`` (0–1 accuracy) makes the cells "no loss" (TOST) cells, else the claimed direction is mono > poly."""
    arms = probe_arms(folders, sorted({m for a, b, _ in pairs for m in (a, b)}), rate, sigma_key)
    specs = []
    for a, b, pv in pairs:
        label = f"{arms[a].label}−{arms[b].label}"
        specs.append({"label": label + suffix, "paper_value": pv, "arms": (arms[a], arms[b]),
                      "premise": premise(arms[a], arms[b]),
                      "cells": [accuracy_cell(label, arms[a], arms[b], margin=margin, chance=chance)]})
    return specs


def margin_text(margin: float | None) -> str:
    return "" if margin is None else f"; a \"no loss\" claim: TOST against ±{100 * margin:g} pt"


def probe_claim(results_dir, *, claim_id: str, claim: str, row: str, pairs, dataset: str | None,
                margin: float | None = None, input_noise: str = "gaussian"):
    """Verdict rows for a Figure-1 claim from one run folder, decided by the one rule (:mod:`.arms`).

    ``row``: ``clean`` / ``label_noise`` / ``input_noise``; the cell is exactly the paper's (:data:`PAPER_CELLS`:
    rate 0 / 0.9 / 0, σ 0 / 0 / 0.6) and, for σ > 0, ``input_noise`` must be the run's kind; without that cell
    every row is skipped with a reason naming it. ``pairs``: (mono, poly, paper value); the claim's cells (one per
    pair) form one Holm family; with ``margin`` they are "no loss" cells (TOST against ±margin, 0–1 accuracy),
    else the claimed direction is mono > poly. One pretraining seed: the cells are paired over the test images.
    """
    rate, sigma = PAPER_CELLS[row]
    probe, reason = claim_inputs(results_dir, "probe", dataset)
    if probe is not None and not (Path(results_dir) / "probe_correct.npz").exists():
        probe, reason = None, f"{results_dir} has no probe_correct.npz"
    missing = [m for a, b, _ in pairs for m in (a, b) if probe is not None and m not in probe["methods"]]
    if missing:
        probe, reason = None, f"{results_dir} has no probe results for {', '.join(sorted(set(missing)))}"
    if probe is not None and not has_cell(probe, rate, sigma):
        rates, sigmas = grid(probe)
        probe, reason = None, (f"{results_dir}/probe.json has no cell at training label-noise rate {rate:g} and test "
                               f"σ {sigma:g} (its grid: rates {', '.join(f'{r:g}' for r in rates)}; σ "
                               f"{', '.join(sigmas)}); rerun the probe stage with them")
    kind = probe.get("config", {}).get("input_noise", "gaussian") if probe is not None else None
    if probe is not None and sigma > 0 and kind != input_noise:
        probe, reason = None, f"{results_dir} used {kind} input noise; this claim is about {input_noise} noise"
    if probe is None:
        return [skipped(claim_id, claim, reason, label=f"{a.upper()}−{b.upper()}", paper_value=pv)
                for a, b, pv in pairs]
    cell = next(r for r in figure1_rows(probe) if r["row"] == row)
    noise = f", {kind} test noise" if sigma > 0 else ""
    specs = probe_specs([results_dir], pairs, rate, f"{sigma:g}", margin=margin, chance=probe.get("chance"))
    if margin is None:  # a gain: say which strong baselines it beats
        attach_survival(specs, baseline_survival(results_dir, cells=[(rate, f"{sigma:g}")]))
    cond = (f"{probe.get('dataset')}, {cell['label']} (training label noise {rate:g}, test σ {sigma:g}{noise}), "
            f"{probe.get('n_test')} test images, one pretraining seed{margin_text(margin)}")
    return family_rows(claim_id, claim, specs, conditions=cond, family=f"the {len(specs)} cells of {claim_id}",
                       details={"row": cell, "results": str(results_dir)})


def finetune_specs(runs_per_folder: list[list[dict]], kind: str, chance: float | None, suffix: str = "") -> list[dict]:
    """C9 (``kind="label_noise"``: the highest noise rate on the full training set; one row of two parts, NCE − CE
    validation accuracy (claimed > 0) and training accuracy on the noisy labels (claimed < 0)) or C10
    (``kind="few_shot"``: one row per fraction < 1 with clean labels, NCE − CE validation accuracy claimed > 0:
    the paper's "mono ≥ poly" is read as a gain, since a tie is no evidence of one). Premise: NCE's classifier
    input is measurably more monosemantic than CE's. Empty when the runs lack the cells."""
    runs = runs_per_folder[0]
    if kind == "label_noise":
        noisy = [r["noise_rate"] for r in runs if r["noise_rate"] > 0 and r["few_shot_fraction"] == 1.0]
        cells = [(1.0, max(noisy))] if noisy else []
    else:
        cells = sorted({(r["few_shot_fraction"], 0.0) for r in runs if r["noise_rate"] == 0
                        and r["few_shot_fraction"] < 1})
    specs = []
    for frac, rate in cells:
        heads = {r["head"] for r in runs if r["few_shot_fraction"] == frac and r["noise_rate"] == rate}
        if not {"ce", "nce"} <= heads:
            continue
        arms = finetune_arms(runs_per_folder, frac, rate)
        nce, ce = arms["nce"], arms["ce"]
        name = "NCE−CE val" if kind == "label_noise" else f"NCE−CE val, {frac:.0%} of train"
        parts = [accuracy_cell(name, nce, ce, chance=chance)] + ([train_cell(nce, ce)] if kind == "label_noise" else [])
        specs.append({"label": ("NCE−CE" if kind == "label_noise" else f"{frac:.0%} of train") + suffix,
                      "paper_value": "NCE: lower train, higher val accuracy (qualitative)" if kind == "label_noise"
                      else "mono ≥ poly (qualitative)", "arms": (nce, ce), "premise": premise(nce, ce),
                      "cells": parts, "conditions": f"; fine-tuning fraction {frac:g}, label noise {rate:g}, "
                                                    f"{ce.n_train} training images"})
    return specs


def train_cell(nce, ce) -> rules.Cell:
    """NCE − CE final training accuracy on the noisy labels, claimed < 0: paired over seeds (≥ 2), else an
    estimate with the unpaired two-proportion SE (per-item training correctness is not recorded; both heads are
    scored on the same images and their correctness is positively correlated, so the unpaired SE is the larger)."""
    name = "NCE−CE train (noisy labels)"
    if len(nce.train_acc) >= 2:
        return rules.Cell(name, nce.train_acc, ce.train_acc, direction=-1, bounds=(-1.0, 1.0))
    a, b, n = nce.train_acc[0], ce.train_acc[0], nce.n_train or 0
    se = float(np.sqrt((a * (1 - a) + b * (1 - b)) / n)) if n > 0 else float("nan")
    return rules.estimate_cell(name, a - b, se, direction=-1, unit=f"{n} training images (unpaired SE, conservative)")


def finetune_claim(results_dir, *, claim_id: str, claim: str, kind: str, dataset: str | None):
    """C9 / C10 rows from one run folder's ``finetune.json`` (:func:`finetune_specs`), or one skipped row."""
    runs, n_val, reason = finetune_runs(results_dir, dataset)
    specs = finetune_specs([runs], kind, chance_of([results_dir])) if runs is not None else []
    if runs is not None and not specs:
        reason = f"{results_dir}/finetune.json has no CE and NCE runs for {claim_id}"
    if specs and any(not a.items for s in specs for a in s["arms"]):
        specs, reason = [], (f"{results_dir}/finetune.json has no per-image validation correctness (val_correct); "
                             "rerun its finetune stage")
    if not specs:
        return [skipped(claim_id, claim, reason, paper_value="qualitative (no numbers available)")]
    cells = sum(len(s["cells"]) for s in specs)
    return family_rows(claim_id, claim, specs, family=f"the {cells} cells of {claim_id}",
                       conditions=f"{n_val} validation images, {len(runs[0]['history'])} epochs, final epoch, one "
                                  "pretraining seed", details={"results": str(results_dir)})


def finetune_runs(results_dir, dataset: str | None):
    """``(runs, n_val, None)`` from ``finetune.json`` or ``(None, None, reason)``."""
    ft, reason = claim_inputs(results_dir, "finetune", dataset)
    if ft is None:
        return None, None, reason
    return ft["runs"], ft.get("n_val") or ft["runs"][0].get("n_val", 0), None


def final(run: dict, key: str) -> float:
    return run["history"][-1][key]


# ------------------------------------------------------------------------------- the strong baselines (issue 22)

BASELINE_ARMS = ("cl", "cl_l2", "sae_random")


def baseline_survival(results_dir, cells=None, alpha: float = ALPHA) -> list[dict]:
    """Which arm each mono gain of a run-imagenet folder survives, cell by cell of ``probe_correct.npz``.

    ``cells``: (training label-noise rate, σ-key) pairs, default every cell of the grid. For each cell and mono
    arm (SAE, NCL) the paired comparisons against CL, CL with the tuned L2 probe (``cl_l2``) and the untrained SAE
    (``sae_random``) on the same test images are decided together by the one rule
    (:func:`monotheory.claims.rules.decide_family`; one pretraining seed, so item-level: McNemar's exact test and a
    paired bootstrap interval over test images, Holm over the three comparisons; the rows say they ignore the
    variance over seeds). *beats*: that comparison reproduced; ``evidence``: every baseline present beaten. Empty
    when the run has no baselines.
    """
    probe = load_json(results_dir, "probe") if results_dir is not None else None
    path = Path(results_dir or ".") / "probe_correct.npz"
    if probe is None or not path.exists() or not any(b in probe["methods"] for b in ("cl_l2", "sae_random")):
        return []
    correct = load_correct(path)
    rates, sigmas = grid(probe)
    out = []
    for rate, s in cells or [(r, s) for r in rates for s in sigmas]:
        for arm in (m for m in ("sae", "ncl") if (m, rate, s) in correct):
            vs = [b for b in BASELINE_ARMS if (b, rate, s) in correct]
            fam = decide_family([Cell(f"{arm}−{b}", [correct[(arm, rate, s)].mean()], [correct[(b, rate, s)].mean()],
                                      items_a=correct[(arm, rate, s)], items_b=correct[(b, rate, s)],
                                      bounds=(-1.0, 1.0), unit="pretraining seeds") for b in vs], alpha)
            beats = [b for b, r in zip(vs, fam, strict=True) if r.outcome == REPRODUCED]
            out.append({"cell": f"label noise {rate:g}, σ {s}", "noise_rate": rate, "sigma": s, "arm": arm,
                        "vs": {b: r.to_dict() for b, r in zip(vs, fam, strict=True)}, "beats": beats,
                        "evidence": len(beats) == len(vs)})
    return out
