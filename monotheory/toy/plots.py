"""Toy-model figures: WᵀW heatmaps (Figure 5a), accuracy bars (5b), noise sweeps and the mono − poly map.

Every function takes the JSON-ready result of :mod:`monotheory.toy.experiments`, draws with matplotlib
(Agg) and saves PNG + data JSON through :func:`monotheory.plots.save_figure`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from monotheory.plots import pyplot, save_figure

CONDITIONS = (("clean", "clean"), ("label_noise", "label noise"), ("input_noise", "input noise"))


def plot_wtw(wtw: dict, path: str | Path, *, title: str = "WᵀW (seed 0)") -> Path:
    """Figure 5(a): one WᵀW heatmap per regime, mono regimes first and poly last (as in the paper)."""
    plt = pyplot()
    names = [r for r in wtw if r != "poly"] + (["poly"] if "poly" in wtw else [])
    fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 3.2), squeeze=False)
    vmax = max(float(np.abs(np.asarray(wtw[r])).max()) for r in names) or 1.0
    for ax, r in zip(axes[0], names, strict=True):
        im = ax.imshow(np.asarray(wtw[r]), cmap="RdBu_r", vmin=-vmax, vmax=vmax)
        ax.set_title(r)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8)
    fig.suptitle(title)
    return save_figure(fig, path, {r: np.asarray(wtw[r]) for r in names})


def plot_accuracy_bars(summary: dict, path: str | Path, *, title: str = "linear probe on h") -> Path:
    """Figure 5(b): accuracy per condition (clean / label noise / input noise), one bar per regime, 95 % CIs."""
    plt = pyplot()
    regimes = list(summary)
    fig, ax = plt.subplots(figsize=(1.6 + 1.2 * len(CONDITIONS) * len(regimes) / 2.5, 3.4))
    width = 0.8 / len(regimes)
    data = {}
    for j, r in enumerate(regimes):
        means = np.array([summary[r][c]["mean"] for c, _ in CONDITIONS])
        ci = np.array([summary[r][c]["ci"] for c, _ in CONDITIONS], dtype=float)
        err = np.abs(np.nan_to_num(np.vstack([means - ci[:, 0], ci[:, 1] - means])))
        ax.bar(np.arange(len(CONDITIONS)) + (j - (len(regimes) - 1) / 2) * width, means, width, yerr=err,
               capsize=2, label=r)
        data[r] = {c: {"mean": summary[r][c]["mean"], "ci": summary[r][c]["ci"]} for c, _ in CONDITIONS}
    ax.set_xticks(np.arange(len(CONDITIONS)), [lbl for _, lbl in CONDITIONS])
    ax.set_ylabel("test accuracy")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    return save_figure(fig, path, data)


def plot_sweeps(sweep: dict, path: str | Path) -> Path:
    """Accuracy of every regime against label-noise rate (left) and input-noise σ (right), 95 % bands."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for ax, key, xlabel in ((axes[0], "label", "label noise rate"), (axes[1], "input", "input noise σ")):
        xs = np.asarray(sweep[key]["levels"], dtype=float)
        for r, stats in sweep[key]["regimes"].items():
            mean = np.array([s["mean"] for s in stats])
            lo = np.array([s["ci"][0] for s in stats], dtype=float)
            hi = np.array([s["ci"][1] for s in stats], dtype=float)
            ax.plot(xs, mean, marker="o", ms=3, label=r)
            ax.fill_between(xs, lo, hi, alpha=0.2)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("test accuracy")
    axes[0].legend(fontsize=7)
    fig.suptitle(sweep.get("title", ""), fontsize=9)
    return save_figure(fig, path, sweep)


def plot_phase_map(pmap: dict, path: str | Path) -> Path:
    """Map over (sparsity, noise level): colour = mono − poly accuracy; '+' / '−' where the 95 % CI of the
    paired gap excludes 0 (mono significantly better / worse), '·' where it does not."""
    plt = pyplot()
    gap = np.asarray(pmap["gap"], dtype=float)
    lo = np.asarray(pmap["ci_lo"], dtype=float)
    hi = np.asarray(pmap["ci_hi"], dtype=float)
    s, lv = pmap["sparsities"], pmap["levels"]
    fig, ax = plt.subplots(figsize=(1.5 + 0.7 * len(lv), 1.2 + 0.45 * len(s)))
    vmax = float(np.nanmax(np.abs(gap))) if np.isfinite(gap).any() else 1.0
    im = ax.imshow(gap, cmap="RdBu_r", vmin=-vmax, vmax=vmax, aspect="auto", origin="lower")
    for i in range(gap.shape[0]):
        for j in range(gap.shape[1]):
            mark = "+" if lo[i, j] > 0 else ("−" if hi[i, j] < 0 else "·")
            ax.text(j, i, f"{mark}\n{gap[i, j]:+.2f}", ha="center", va="center", fontsize=6)
    ax.set_xticks(range(len(lv)), [f"{v:g}" for v in lv])
    ax.set_yticks(range(len(s)), [f"{v:g}" for v in s])
    ax.set_xlabel(pmap["noise_label"])
    ax.set_ylabel("sparsity S = P(x_i = 0)")
    ax.set_title(f"{pmap['mono']} − {pmap['poly']} accuracy", fontsize=9)
    fig.colorbar(im, ax=ax, shrink=0.8)
    return save_figure(fig, path, pmap)
