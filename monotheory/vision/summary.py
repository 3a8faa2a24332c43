"""The summary of a ``run-imagenet`` output folder: ``summary.json``, ``summary.md`` and the figures, each PNG with
its data file beside it (tables from :mod:`monotheory.vision.tables`, figures from :mod:`monotheory.vision.figures`
and :mod:`monotheory.vision.figure4`). Nothing here imports torch."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from monotheory.files import atomic_write_json, atomic_write_text
from monotheory.plots import save_figure
from monotheory.vision.figure4 import plot_figure4
from monotheory.vision.figures import (
    finetune_data,
    noise_curve_data,
    plot_figure1,
    plot_finetune,
    plot_noise_curves,
)
from monotheory.vision.tables import COLUMNS, _acc, figure1_markdown, figure1_rows, load_json

BASELINE_NAMES = {"cl_l2": "CL + tuned L2 probe (poly)", "sae_random": "random SAE (mono, untrained)"}


def write_summary(out: str | Path) -> dict:
    """(Re)write ``summary.json``, ``summary.md`` and the figures from the stage results present: ``summary.png``
    (data: ``summary.json``), ``noise_curves.png`` + ``.json``, ``finetune_curves.png`` + ``.json``,
    ``figure4.png`` + ``.json`` (when ``probe.json`` has Figure 4's data)."""
    out = Path(out)
    probe, ft, shift, sae = (load_json(out, n) for n in ("probe", "finetune", "shift", "sae"))
    summary: dict = {"rows": [], "stages": sorted(p.stem for p in out.glob("*.json")
                                                   if p.stem not in ("config", "summary", "manifest", "noise_curves",
                                                                     "finetune_curves", "figure4"))}
    md = [f"# run-imagenet summary: {out}", ""]
    if probe is None:
        md.append("No probe results yet (run the probe stage).")
    else:
        rows = figure1_rows(probe)
        is_in100 = probe.get("dataset") == "imagenet100"
        summary.update(rows=rows, dataset=probe.get("dataset"), n_test=probe.get("n_test"),
                       stats={m: d["stats"] for m, d in probe["methods"].items()})
        md += [f"Linear-probe top-1 (%) on {probe.get('dataset')} ({probe.get('n_test')} test images), laid out "
               "like the paper's Figure 1" + (" (paper values in brackets)" if is_in100 else "") + ":", "",
               figure1_markdown(rows, paper=is_in100), "", "| feature set | monosemanticity | sparsity | dim |",
               "|---|---|---|---|"]
        md += [f"| {m} | {s['monosemanticity']:.3f} | {s['sparsity']:.3f} | {s['dim']} |"
               for m, s in summary["stats"].items()]
        save_figure(plot_figure1(rows), out / "summary.png")  # its data file: summary.json ("rows")
        save_figure(plot_noise_curves(probe), out / "noise_curves.png", data=noise_curve_data(probe))
        md += baseline_section(probe, rows, summary)
        md += figure4_section(probe, out, summary)
    if sae is not None:
        summary["sae"] = {k: sae[k] for k in ("normalized_mse", "dead_latents", "n_latents")}
        md += ["", f"SAE: normalised MSE {sae['normalized_mse']:.4f}, dead latents {sae['dead_latents']} of "
               f"{sae['n_latents']}."]
    if ft is not None:
        summary["finetune"] = [{k: r[k] for k in ("head", "few_shot_fraction", "noise_rate", "final_val_acc")}
                               | {"final_train_acc": r["history"][-1]["train_acc"]} for r in ft["runs"]]
        md += ["", "Fine-tuning of the CL encoder (final epoch; train acc on the labels trained on):", "",
               "| head | few-shot fraction | label noise | train acc (%) | val acc (%) |", "|---|---|---|---|---|"]
        md += [f"| {r['head']} | {r['few_shot_fraction']:g} | {r['noise_rate']:g} | {100 * r['final_train_acc']:.1f} | "
               f"{100 * r['final_val_acc']:.1f} |" for r in summary["finetune"]]
        save_figure(plot_finetune(ft), out / "finetune_curves.png", data=finetune_data(ft))
    if shift is not None:
        summary["shift"] = {k: v["acc"] for k, v in shift["sets"].items()}
        md += ["", "Distribution shift (clean-label probe, top-1 %):", "",
               "| test set | " + " | ".join(m for m, _ in COLUMNS) + " |", "|---" * 4 + "|"]
        md += [f"| {k} | " + " | ".join("—" if a.get(m) is None else f"{100 * a[m]:.1f}" for m, _ in COLUMNS) + " |"
               for k, a in summary["shift"].items()]
    atomic_write_json(out / "summary.json", summary)
    atomic_write_text(out / "summary.md", "\n".join(md) + "\n")
    return summary


def baseline_section(probe: dict, rows: list[dict], summary: dict) -> list[str]:
    """The strong baselines' cells beside CL's (same rows as the Figure-1 table) and cl_l2's chosen penalties."""
    base = [b for b in BASELINE_NAMES if b in probe["methods"]]
    if not base:
        return []
    summary["baselines"] = {b: {r["row"]: _acc(probe, b, r["noise_rate"], f"{r['sigma']:g}") for r in rows}
                            for b in base}
    md = ["", "Strong baselines (same cells; a mono gain is evidence only where it beats these too):", "",
          "| | CL | " + " | ".join(BASELINE_NAMES[b] for b in base) + " |", "|---" * (len(base) + 2) + "|"]
    for r in rows:
        cells = [summary["baselines"][b][r["row"]] for b in base]
        md.append(f"| {r['label']} | {100 * (r['acc'].get('cl') or float('nan')):.1f} | "
                  + " | ".join("—" if a is None else f"{100 * a:.1f}" for a in cells) + " |")
    if "cl_l2" in base:
        sel = {row["noise_rate"]: row.get("l2", {}) for row in probe["methods"]["cl_l2"]["rows"]}
        summary["l2_chosen"] = {f"{k:g}": v.get("chosen") for k, v in sel.items()}
        md += ["", "cl_l2's penalty λ, chosen on a held-out split of each rate's noisy training labels: "
               + ", ".join(f"η={k:g}: {v.get('chosen', float('nan')):g}" + (" (grid edge)" if v.get("at_edge") else "")
                           for k, v in sel.items()) + "."]
    return md


def figure4_section(probe: dict, out: Path, summary: dict) -> list[str]:
    """``figure4.png`` + ``figure4.json`` from ``probe.json``'s Figure-4 data (thumbnails: ``probe_figure4.npz``)."""
    f4 = probe.get("figure4")
    if not f4:
        return []
    images = None
    if (out / "probe_figure4.npz").is_file():
        with np.load(out / "probe_figure4.npz") as z:
            images = {int(k): z[k] for k in z.files}
    sets = {m: f4["sets"][m] for m in ("cl", "sae", "ncl", "cl_l2", "sae_random") if m in f4["sets"]}
    save_figure(plot_figure4(sets, f4["reference"], images), out / "figure4.png", data=f4)
    summary["figure4"] = {m: {"rate": d["rate"], "accuracy": d["accuracy"], "spearman": d["correlation"],
                              "wrong_minus_correct": d["wrong_vs_correct"]["wrong_minus_correct"]}
                          for m, d in sets.items()}
    md = ["", f"Figure 4 (probes trained at label noise {f4['rate']:g}; figure4.png): per-class accuracy vs the "
          "monosemanticity of each class's top-weight dimensions (Spearman ρ, 95 % bootstrap over classes), and "
          "the per-sample monosemanticity of wrongly − correctly classified test samples (Welch, 95 %):", "",
          "| features | accuracy (%) | ρ [95 %] | wrong − correct [95 %] |", "|---|---|---|---|"]
    for m, d in summary["figure4"].items():
        rho, gap = d["spearman"], d["wrong_minus_correct"]
        md.append(f"| {m} | {100 * d['accuracy']:.1f} | {_g(rho['rho'], '+.2f')} [{_g(rho['ci'][0], '+.2f')}, "
                  f"{_g(rho['ci'][1], '+.2f')}] | {_g(gap['estimate'], '+.3f')} [{_g(gap['ci'][0], '+.3f')}, "
                  f"{_g(gap['ci'][1], '+.3f')}] |")
    return md


def _g(x, fmt: str) -> str:
    """A number of a result file (null where it was NaN: not estimable) as text."""
    return "n/a" if x is None or x != x else format(x, fmt)
