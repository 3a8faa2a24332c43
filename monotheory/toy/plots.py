"""Toy-model figures: WᵀW heatmaps (Figure 5a), accuracy bars (5b), noise sweeps, phase maps, probe size.

Every ``plot_*`` function takes the JSON-ready result of :mod:`monotheory.toy.experiments` /
:mod:`monotheory.toy.search`, draws with matplotlib on ``ax`` / ``axes`` (a new figure when None) and
returns the figure. With ``path``, it also writes the figure as PNG with the data it shows as JSON beside it
(:func:`monotheory.plots.save_figure`; the figure stays open, so a notebook can still show it); :func:`save`
does the same for a figure already drawn, and closes it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from monotheory.plots import pyplot, save_figure
from monotheory.stats import paired_t, t_interval

CONDITIONS = (("clean", "clean"), ("label_noise", "label noise"), ("input_noise", "input noise"))


def _ax(ax, figsize):
    if ax is None:
        fig, ax = pyplot().subplots(figsize=figsize)
        return fig, ax
    return ax.figure, ax


def save(fig, path: str | Path, data) -> Path:
    """PNG at ``path`` and ``data`` as JSON beside it; closes ``fig``."""
    return save_figure(fig, path, data)


def _done(fig, path, data):
    if path is not None:
        save_figure(fig, path, data, close=False)
    return fig


def plot_wtw(wtw: dict, axes=None, *, title: str = "WᵀW (seed 0)", path: str | Path | None = None):
    """Figure 5(a): one WᵀW heatmap per regime, mono regimes first and poly last (as in the paper).
    ``axes``: a sequence of one axis per regime (a new figure when None). Returns the figure; with ``path``,
    also saved with ``wtw`` as its data."""
    names = [r for r in wtw if r != "poly"] + (["poly"] if "poly" in wtw else [])
    if axes is None:
        fig, grid = pyplot().subplots(1, len(names), figsize=(3.2 * len(names), 3.2), squeeze=False)
        axes = list(grid[0])
    fig = axes[0].figure
    vmax = max(float(np.abs(np.asarray(wtw[r])).max()) for r in names) or 1.0
    for ax, r in zip(axes, names, strict=True):
        im = ax.imshow(np.asarray(wtw[r]), cmap="RdBu_r", vmin=-vmax, vmax=vmax)
        ax.set_title(r)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(im, ax=list(axes), shrink=0.8)
    fig.suptitle(title)
    return _done(fig, path, wtw)


def plot_accuracy_bars(summary: dict, ax=None, *, title: str = "linear probe on h", chance: float | None = None,
                       path: str | Path | None = None):
    """Figure 5(b): accuracy per condition, one bar per regime, 95 % t-intervals over seeds; chance dashed.
    Returns the figure; with ``path``, also saved with :func:`bars_data` as its data."""
    regimes = list(summary)
    fig, ax = _ax(ax, (1.6 + 1.2 * len(CONDITIONS) * len(regimes) / 2.5, 3.4))
    width = 0.8 / len(regimes)
    for j, r in enumerate(regimes):
        means = np.array([summary[r][c]["mean"] for c, _ in CONDITIONS])
        ci = np.array([summary[r][c]["ci"] for c, _ in CONDITIONS], dtype=float)
        err = np.abs(np.nan_to_num(np.vstack([means - ci[:, 0], ci[:, 1] - means])))
        ax.bar(np.arange(len(CONDITIONS)) + (j - (len(regimes) - 1) / 2) * width, means, width, yerr=err,
               capsize=2, label=r)
    if chance is not None:
        ax.axhline(chance, color="k", ls="--", lw=0.8, label="chance")
    ax.set_xticks(np.arange(len(CONDITIONS)), [lbl for _, lbl in CONDITIONS])
    ax.set_ylabel("test accuracy")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    return _done(fig, path, bars_data(summary, chance) if path is not None else None)


def bars_data(summary: dict, chance: float | None = None) -> dict:
    """The numbers :func:`plot_accuracy_bars` shows: per regime and condition, mean and 95 % interval."""
    return {"chance": chance, **{r: {c: {"mean": summary[r][c]["mean"], "ci": summary[r][c]["ci"]}
                                     for c, _ in CONDITIONS} for r in summary}}


def plot_sweeps(sweep: dict, axes=None, *, path: str | Path | None = None):
    """Accuracy of every regime against label-noise rate (left) and input-noise σ (right), 95 % bands.
    ``axes``: two axes (a new figure when None). Returns the figure; with ``path``, also saved with ``sweep``."""
    if axes is None:
        fig, axes = pyplot().subplots(1, 2, figsize=(9, 3.4))
    fig = axes[0].figure
    unit = "feature sd" if sweep.get("sigma_unit") == "sd" else "raw"
    for ax, key, xlabel in ((axes[0], "label", "label noise rate"), (axes[1], "input", f"input noise σ ({unit})")):
        xs = np.asarray(sweep[key]["levels"], dtype=float)
        for r, stats in sweep[key]["regimes"].items():
            mean = np.array([s["mean"] for s in stats])
            ax.plot(xs, mean, marker="o", ms=3, label=r)
            ax.fill_between(xs, np.array([s["ci"][0] for s in stats], dtype=float),
                            np.array([s["ci"][1] for s in stats], dtype=float), alpha=0.2)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("test accuracy")
    axes[0].legend(fontsize=7)
    fig.suptitle(sweep.get("title", ""), fontsize=9)
    return _done(fig, path, sweep)


def plot_phase_map(pmap: dict, ax=None, *, path: str | Path | None = None):
    """Map over (sparsity, noise level): colour = mono − poly accuracy; '+' / '−' where the 95 % CI of the
    paired gap excludes 0 (mono significantly better / worse), '·' where it does not. Returns the figure;
    with ``path``, also saved with ``pmap`` as its data."""
    gap = np.asarray(pmap["gap"], dtype=float)
    lo, hi = np.asarray(pmap["ci_lo"], dtype=float), np.asarray(pmap["ci_hi"], dtype=float)
    s, lv = pmap["sparsities"], pmap["levels"]
    fig, ax = _ax(ax, (1.5 + 0.7 * len(lv), 1.2 + 0.45 * len(s)))
    vmax = float(np.nanmax(np.abs(gap))) if np.isfinite(gap).any() and np.nanmax(np.abs(gap)) > 0 else 1.0
    im = ax.imshow(gap, cmap="RdBu_r", vmin=-vmax, vmax=vmax, aspect="auto", origin="lower")
    for i in range(gap.shape[0]):
        for j in range(gap.shape[1]):
            mark = "+" if lo[i, j] > 0 else ("−" if hi[i, j] < 0 else "·")
            ax.text(j, i, f"{mark}\n{gap[i, j]:+.2f}", ha="center", va="center", fontsize=6)
    ax.set_xticks(range(len(lv)), [f"{v:g}" for v in lv])
    ax.set_yticks(range(len(s)), [f"{v:g}" for v in s])
    ax.set_xlabel(pmap["noise_label"])
    ax.set_ylabel("sparsity S = P(x_i = 0)")
    ax.set_title(pmap.get("title", f"{pmap['mono']} − {pmap['poly']} accuracy"), fontsize=9)
    fig.colorbar(im, ax=ax, shrink=0.8)
    return _done(fig, path, pmap)


def plot_probe_size(data: dict, ax=None, *, path: str | Path | None = None):
    """Accuracy against the probe's training size under label noise, one line per regime (95 % bands).
    Returns the figure; with ``path``, also saved with ``data``."""
    fig, ax = _ax(ax, (4.2, 3.2))
    for r, stats in data["regimes"].items():
        xs = np.asarray(data["sizes"], dtype=float)
        ax.plot(xs, [s["mean"] for s in stats], marker="o", ms=3, label=r)
        ax.fill_between(xs, [s["ci"][0] for s in stats], [s["ci"][1] for s in stats], alpha=0.2)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("probe training samples")
    ax.set_ylabel("test accuracy")
    ax.set_title(data["title"], fontsize=8)
    ax.legend(fontsize=6)
    return _done(fig, path, data)


def search_figures(res: dict, out: str | Path) -> list[Path]:
    """From a search result: phase maps over (S, σ in sd) and (S, η) of mono − poly for mono-topk and oracle
    (per importance, at the input probe size / the largest probe size), and accuracy against probe size
    under the largest η (per importance and S). Each PNG with its JSON."""
    out = Path(out)
    g = res["grid"]
    cells = {(c["sparsity"], c["importance"], c["regime"], c["probe_size"], c["noise"], c["level"]): c["per_seed"]
             for c in res["cells"]}
    in_size = next(c["probe_size"] for c in res["cells"] if c["noise"] == "input")
    paths = []
    for imp in g["importances"]:
        for mono in [r for r in ("mono-topk", "oracle") if r in g["regimes"]]:
            for noise, levels, size, label in (("input", g["sigma_sds"], in_size, "input noise σ (feature sd)"),
                                               ("label", g["noise_rates"], max(g["probe_sizes"]), "label noise rate")):
                cell = [[paired_t(cells[(S, imp, mono, size, noise, lv)], cells[(S, imp, "poly", size, noise, lv)])
                         for lv in levels] for S in g["sparsities"]]
                pmap = {"mono": mono, "poly": "poly", "sparsities": g["sparsities"], "levels": levels,
                        "noise_label": label, "importance": imp, "probe_size": size,
                        "title": f"{mono} − poly, {imp} importance, probe {size}",
                        "gap": [[c["mean"] for c in row] for row in cell],
                        "ci_lo": [[c["ci"][0] for c in row] for row in cell],
                        "ci_hi": [[c["ci"][1] for c in row] for row in cell]}
                paths.append(save(plot_phase_map(pmap), out / f"phase_{noise}_{mono}_{imp}.png", pmap))
        eta = max(g["noise_rates"])
        for S in g["sparsities"]:
            stats = {r: [dict(zip(("mean", "lo", "hi"), t_interval(cells[(S, imp, r, n, "label", eta)]), strict=True))
                         for n in g["probe_sizes"]] for r in g["regimes"]}
            data = {"sizes": g["probe_sizes"], "noise_rate": eta, "sparsity": S, "importance": imp,
                    "title": f"label noise η={eta:g}, S={S:g}, {imp} importance",
                    "regimes": {r: [{"mean": s["mean"], "ci": [s["lo"], s["hi"]]} for s in v] for r, v in stats.items()}}
            paths.append(save(plot_probe_size(data), out / f"probe_size_S{S:g}_{imp}.png", data))
    return paths


def k_sweep_data(rows: list[dict]) -> dict:
    """From decided control rows (:func:`monotheory.claims.toy_controls.decided_rows`): per (task, labels, S, σ)
    and top-k regime, mono − poly per cell against k, with the rule's intervals (Holm's step level)."""
    out: dict = {}
    for r in rows:
        if "(k = " not in r["mono"]:
            continue
        regime, k = r["mono"].split(" (k = ")
        panel = out.setdefault(f"{r['task']}, {r['labels']}", {})
        line = panel.setdefault(f"{regime}, S={r['sparsity']:g}, σ={r['sigma_sd']:g}", {"k": [], "cells": {}})
        line["k"].append(int(k.rstrip(")")))
        for c in r["decision"]["cells"]:
            ci = [float("nan")] * 2 if c["interval"] is None else list(c["interval"])
            line["cells"].setdefault(c["name"], []).append({"mean": c["estimate"], "ci": ci, "level": c["level"]})
    return out


def plot_k_sweep(rows: list[dict], *, path: str | Path | None = None):
    """mono − poly against k for every top-k code: one row of panels per (task, labels), one panel per cell
    (clean, label noise, input noise), one line per (regime, S, σ), bands = the rule's intervals (Holm's step
    level of each row); the zero line dashed."""
    data = k_sweep_data(rows)
    names = ("clean", "label noise", "input noise")
    fig, axes = pyplot().subplots(max(len(data), 1), 3, figsize=(11, 2.8 * max(len(data), 1)), squeeze=False)
    for i, (panel, lines) in enumerate(data.items()):
        for j, cell in enumerate(names):
            ax = axes[i][j]
            for label, line in lines.items():
                order = np.argsort(line["k"])
                k = np.asarray(line["k"])[order]
                m = np.array([line["cells"][cell][o]["mean"] for o in order])
                ci = np.array([line["cells"][cell][o]["ci"] for o in order], dtype=float)
                ax.plot(k, m, marker="o", label=label)
                ax.fill_between(k, ci[:, 0], ci[:, 1], alpha=0.15)
            ax.axhline(0.0, color="k", ls="--", lw=0.8)
            ax.set_xscale("log", base=2)
            ks = sorted({k for line in lines.values() for k in line["k"]})
            ax.set_xticks(ks, [str(k) for k in ks])
            ax.set_title(f"{panel}: {cell}", fontsize=8)
            ax.set_xlabel("k")
            if j == 0:
                ax.set_ylabel("mono − poly accuracy")
    if data:
        axes[0][0].legend(fontsize=6)
    fig.tight_layout()
    return _done(fig, path, data)
