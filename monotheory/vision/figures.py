"""Figures of a ``run-imagenet`` summary: Figure-1 bars, noise curves, fine-tuning. Each plot function takes
an optional ``ax``/``axes`` and returns the figure; each has a ``*_data`` function giving what it draws (saved
as JSON beside the PNG by :func:`monotheory.vision.tables.write_summary`). Imports matplotlib lazily."""

from __future__ import annotations

import numpy as np

from monotheory.plots import pyplot
from monotheory.vision.tables import COLUMNS, _acc, grid


def noise_curve_data(probe: dict) -> dict:
    """The points of :func:`plot_noise_curves`: accuracy per method vs training rate (lowest σ) and vs σ (rate 0)."""
    rates, sigmas = grid(probe)
    return {"noise_rates": rates, "sigmas": [float(s) for s in sigmas],
            "vs_noise_rate": {m: [_acc(probe, m, r, sigmas[0]) for r in rates] for m, _ in COLUMNS
                              if m in probe["methods"]},
            "vs_sigma": {m: [_acc(probe, m, rates[0], s) for s in sigmas] for m, _ in COLUMNS if m in probe["methods"]}}


def finetune_data(ft: dict) -> dict:
    """The points of :func:`plot_finetune`: per run its head, fraction, rate, final val accuracy and history."""
    return {"runs": [{k: r.get(k) for k in ("head", "few_shot_fraction", "noise_rate", "final_val_acc", "history")}
                     for r in ft["runs"]]}


def plot_figure1(rows: list[dict], ax=None):
    """Grouped bars: one group per row, one bar per method (accuracy in %)."""
    plt = pyplot()
    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.5, 3.5))
    cols = [(m, n) for m, n in COLUMNS if any(m in r["acc"] for r in rows)]
    w = 0.8 / max(1, len(cols))
    for j, (m, name) in enumerate(cols):
        vals = [100 * (r["acc"].get(m) or 0.0) for r in rows]
        bars = ax.bar(np.arange(len(rows)) + (j - (len(cols) - 1) / 2) * w, vals, w, label=name)
        ax.bar_label(bars, fmt="%.1f", fontsize=7)
    ax.set_xticks(np.arange(len(rows)), [r["label"] for r in rows])
    ax.set_ylabel("linear-probe top-1 (%)")
    ax.legend(fontsize=8)
    return fig or ax.figure


def plot_noise_curves(probe: dict, axes=None):
    """Left: test accuracy vs training label-noise rate (σ lowest); right: vs test σ (clean labels)."""
    plt = pyplot()
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    rates, sigmas = grid(probe)
    for m, name in COLUMNS:
        if m not in probe["methods"]:
            continue
        axes[0].plot(rates, [100 * _acc(probe, m, r, sigmas[0]) for r in rates], "o-", label=name)
        axes[1].plot([float(s) for s in sigmas], [100 * _acc(probe, m, rates[0], s) for s in sigmas], "o-", label=name)
    axes[0].set(xlabel="training label-noise rate", ylabel="top-1 (%)")
    axes[1].set(xlabel="test input-noise σ (normalised pixels)", ylabel="top-1 (%)")
    axes[0].legend(fontsize=8)
    return axes[0].figure


def plot_finetune(ft: dict, axes=None):
    """Fine-tuning: val accuracy of CE vs NCE per few-shot fraction, and train/val curves under label noise."""
    plt = pyplot()
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    runs = ft["runs"]
    for head in sorted({r["head"] for r in runs}):
        few = sorted((r for r in runs if r["head"] == head and r["noise_rate"] == 0), key=lambda r: r["few_shot_fraction"])
        axes[0].plot([r["few_shot_fraction"] for r in few], [100 * r["final_val_acc"] for r in few], "o-",
                     label=head.upper())
        for r in (r for r in runs if r["head"] == head and r["noise_rate"] > 0):
            ep = [h["epoch"] for h in r["history"]]
            axes[1].plot(ep, [100 * h["train_acc"] for h in r["history"]], "--", label=f"{head.upper()} train")
            axes[1].plot(ep, [100 * h["val_acc"] for h in r["history"]], "-", label=f"{head.upper()} val")
    axes[0].set(xlabel="few-shot fraction of the training set", ylabel="val top-1 (%)")
    axes[1].set(xlabel="epoch", ylabel="top-1 (%)", title="label noise")
    axes[0].legend(fontsize=8)
    axes[1].legend(fontsize=7)
    return axes[0].figure
