"""The summary of a ``run-imagenet`` output folder: ``summary.json``, ``summary.md`` and the figures, each PNG with
its data file beside it (tables from :mod:`monotheory.vision.tables`, figures from :mod:`monotheory.vision.figures`).
Nothing here imports torch."""

from __future__ import annotations

from pathlib import Path

from monotheory.files import atomic_write_json, atomic_write_text
from monotheory.plots import save_figure
from monotheory.vision.figures import (
    finetune_data,
    noise_curve_data,
    plot_figure1,
    plot_finetune,
    plot_noise_curves,
)
from monotheory.vision.tables import COLUMNS, figure1_markdown, figure1_rows, load_json


def write_summary(out: str | Path) -> dict:
    """(Re)write ``summary.json``, ``summary.md`` and the figures from the stage results present: ``summary.png``
    (data: ``summary.json``), ``noise_curves.png`` + ``.json``, ``finetune_curves.png`` + ``.json``."""
    out = Path(out)
    probe, ft, shift, sae = (load_json(out, n) for n in ("probe", "finetune", "shift", "sae"))
    summary: dict = {"rows": [], "stages": sorted(p.stem for p in out.glob("*.json")
                                                   if p.stem not in ("config", "summary", "manifest", "noise_curves",
                                                                     "finetune_curves"))}
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
