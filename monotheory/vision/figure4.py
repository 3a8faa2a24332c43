"""Figure 4 of the paper: what a linear probe trained under heavy label noise gets wrong, and how monosemantic the
feature dimensions behind it are.

The paper's caption (PAPER.md; no numbers are available): a linear classifier on a frozen contrastive encoder,
trained with 90 % noisy labels; (a), (b) the samples that activate the dimensions with the largest classifier
weight for the lowest- and the highest-accuracy class; (c) the monosemanticity of wrongly vs correctly
classified samples. Its per-dimension and per-sample scores are not defined there; monotheory's choices:

- **per-dimension score** (:func:`top_activation_purity`): the share of the most common class among the
  dimension's ``top`` highest-activating test samples (rows L2-normalised; ``top`` = test samples per class;
  samples at the dimension's floor — 0 for a sparse code — do not count).
  The NCL paper's per-dimension share (:func:`monotheory.metrics.monosemanticity_score`: all samples where
  |z| > 1e-5) is reported beside it (``ncl_share``) but not plotted: on dense features every dimension is active
  on every sample, so it is the largest class share for every dimension and cannot rank them;
- **a class's dimensions**: the ``top_dims`` dimensions with the largest weight of that class's row of the probe,
  measured per feature sd (``coef[c, d] · sd_d``: the logit change per sd, so that a dimension of small scale does
  not win by a large raw weight); the class's score is the mean of their per-dimension scores;
- **per-sample score** (:func:`sample_monosemanticity`): the per-dimension scores averaged over the dimensions
  a sample activates, weighted by |z| of its L2-normalised row;
- statistics: per-class accuracy vs class score by Spearman's ρ (SciPy's p-value; 95 % paired bootstrap interval
  over classes, 2000 resamples, seed 0); wrong − correct mean per-sample score by Welch's t (95 % interval).

:func:`figure4_data` builds the data of one feature set, :func:`plot_figure4` draws one or several (the data is
what :func:`monotheory.plots.save_figure` writes beside the PNG). NumPy, SciPy and matplotlib; no torch.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import stats as sps

from monotheory.config import check_int
from monotheory.errors import ConfigError
from monotheory.metrics import _encode_labels, _to_numpy, monosemanticity_score
from monotheory.plots import pyplot

PAPER_RATE = 0.9
TOP_DIMS, N_SHOW = 5, 8


def figure4_rate(rates, num_classes: int, noise_model: str = "flip") -> float | None:
    """The training label-noise rate of Figure 4: 0.9 (the paper's) when the grid has it and it leaves the labels
    informative (flip: η < (C−1)/C; uniform: η < 1), else the grid's highest informative rate > 0; None if none."""
    ok = [float(r) for r in rates if 0 < r < ((num_classes - 1) / num_classes if noise_model == "flip" else 1)]
    return PAPER_RATE if PAPER_RATE in ok else (max(ok) if ok else None)


def _l2(z: np.ndarray) -> np.ndarray:
    return z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)


def top_activation_purity(features, labels, *, top: int | None = None, threshold: float = 1e-5):
    """Per dimension: the share of the most common class among the ``top`` samples with the largest value of the
    L2-normalised feature (ties in sample order) that are *active* — above the dimension's floor (its minimum over
    the samples) by more than ``threshold``: for a ReLU or top-k code the floor is 0, so active means non-zero;
    for dense signed features every sample but the minimum is active —, and that class (NaN / −1 where no top
    sample is active), and how many top samples are active (the support). ``top`` defaults to round(N / K), the
    samples per class. (N, D), (N,) → three (D,) arrays."""
    z = _to_numpy(features, "features", ndim=(2,))
    if not z.size:
        raise ConfigError(f"features have shape {tuple(z.shape)}; the purity needs a sample and a dimension")
    inv, k = _encode_labels(labels, (z.shape[0],))
    top = min(check_int("top", max(1, round(z.shape[0] / k)) if top is None else top), z.shape[0])
    z = _l2(z)
    order = np.argsort(-z, axis=0, kind="stable")[:top]                         # (top, D) sample indices
    active = np.take_along_axis(z, order, axis=0) > z.min(0) + threshold       # above the dimension's floor
    counts = np.stack([((inv[order] == c) & active).sum(0) for c in range(k)])   # (K, D)
    n = counts.sum(0)
    values = np.unique(_to_numpy(labels, "labels", dtype=None))
    return (np.where(n > 0, counts.max(0) / np.maximum(n, 1), np.nan),
            np.where(n > 0, values[counts.argmax(0)], -1), n)


def sample_monosemanticity(features, per_dim) -> np.ndarray:
    """Per sample: Σ_d |z_sd|·m_d / Σ_d |z_sd| over the dimensions with a finite score m_d, z the L2-normalised
    row; NaN for a sample with no weight there (an all-zero code). (N, D), (D,) → (N,)."""
    z = np.abs(_l2(_to_numpy(features, "features", ndim=(2,))))
    m = np.asarray(per_dim, dtype=np.float64).ravel()
    if m.shape[0] != z.shape[1]:
        raise ConfigError(f"per_dim has {m.shape[0]} values but the features have {z.shape[1]} dimensions")
    ok = np.isfinite(m)
    tot = z[:, ok].sum(1)
    return np.where(tot > 0, z[:, ok] @ m[ok] / np.maximum(tot, 1e-300), np.nan)


def _mean_ci(x: np.ndarray) -> dict:
    x = x[np.isfinite(x)]
    if x.size < 2 or np.all(x == x[0]):
        return {"mean": float(x.mean()) if x.size else float("nan"), "ci": [float("nan")] * 2, "n": int(x.size)}
    ci = sps.ttest_1samp(x, 0.0).confidence_interval(0.95)
    return {"mean": float(x.mean()), "ci": [float(ci.low), float(ci.high)], "n": int(x.size)}


def _spearman(acc: np.ndarray, score: np.ndarray) -> dict:
    ok = np.isfinite(acc) & np.isfinite(score)
    a, s = acc[ok], score[ok]
    if a.size < 3 or np.ptp(a) == 0 or np.ptp(s) == 0:
        return {"rho": float("nan"), "p_value": float("nan"), "ci": [float("nan")] * 2, "n_classes": int(a.size),
                "note": "not estimable: fewer than 3 classes or no spread"}
    res = sps.spearmanr(a, s)

    def rho(x, y, axis=-1):  # Spearman's ρ of every resample at once: Pearson's r of the ranks
        rx, ry = sps.rankdata(x, axis=axis), sps.rankdata(y, axis=axis)
        rx, ry = rx - rx.mean(axis, keepdims=True), ry - ry.mean(axis, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            return (rx * ry).sum(axis) / np.sqrt((rx**2).sum(axis) * (ry**2).sum(axis))

    with warnings.catch_warnings():  # a resample with one distinct value gives NaN (then no interval)
        warnings.simplefilter("ignore")
        boot = sps.bootstrap((a, s), rho, paired=True, vectorized=True, n_resamples=2000, confidence_level=0.95,
                             method="percentile", random_state=0)
    return {"rho": float(res.statistic), "p_value": float(res.pvalue), "n_classes": int(a.size),
            "ci": [float(boot.confidence_interval.low), float(boot.confidence_interval.high)]}


def figure4_data(features, labels, pred, coef, *, feature_sd=None, rate: float | None = None,
                 top_dims: int = TOP_DIMS, n_show: int = N_SHOW, top: int | None = None, class_names=None) -> dict:
    """The data of Figure 4 for one feature set.

    ``features`` (N, D): the test features as the probe saw them; ``labels`` (N,) the clean test labels 0..C−1;
    ``pred`` (N,) the predictions of the probe trained at label-noise ``rate``; ``coef`` (C, D) its weights;
    ``feature_sd`` (D,) the sd of each feature on the training set (default: on these features). See the module
    docstring for the definitions; every choice is written into ``definition``.
    """
    z = _to_numpy(features, "features", ndim=(2,))
    y = np.asarray(_to_numpy(labels, "labels", dtype=None)).astype(np.int64).ravel()
    p = np.asarray(_to_numpy(pred, "pred", dtype=None)).astype(np.int64).ravel()
    w = _to_numpy(coef, "coef", ndim=(2,))
    if not (len(y) == len(p) == z.shape[0]) or w.shape[1] != z.shape[1]:
        raise ConfigError(f"figure 4 needs features (N, D), labels and predictions (N,) and coef (C, D); got "
                          f"{z.shape}, {y.shape}, {p.shape}, {w.shape}")
    sd = np.asarray(z.std(0) if feature_sd is None else _to_numpy(feature_sd, "feature_sd"), dtype=np.float64)
    top_dims = min(check_int("top_dims", top_dims), z.shape[1])
    n_show = check_int("n_show", n_show)
    purity, majority, support = top_activation_purity(z, y, top=top)
    _, ncl_share = monosemanticity_score(z, y, return_per_dim=True)
    score = sample_monosemanticity(z, purity)
    ok = (p == y).astype(np.int64)
    zn = _l2(z)
    classes = []
    for c in range(w.shape[0]):
        dims = np.argsort(-(w[c] * sd), kind="stable")[:top_dims]
        n_c = int((y == c).sum())
        classes.append({"class": c, "name": str(class_names[c]) if class_names is not None else str(c), "n": n_c,
                        "acc": float(ok[y == c].mean()) if n_c else float("nan"), "dims": dims.tolist(),
                        "weight_per_sd": (w[c, dims] * sd[dims]).tolist(), "purity": purity[dims].tolist(),
                        "majority_class": majority[dims].tolist(), "support": support[dims].tolist(),
                        "ncl_share": ncl_share[dims].tolist(),
                        "score": float(np.nanmean(purity[dims])) if np.isfinite(purity[dims]).any() else float("nan")})
    acc = np.array([c["acc"] for c in classes])
    cls_score = np.array([c["score"] for c in classes])
    wrong, right = _mean_ci(score[ok == 0]), _mean_ci(score[ok == 1])
    a, b = score[(ok == 0) & np.isfinite(score)], score[(ok == 1) & np.isfinite(score)]
    diff = {"estimate": float(a.mean() - b.mean()) if a.size and b.size else float("nan"), "ci": [float("nan")] * 2,
            "p_value": float("nan"), "test": "Welch's t (two samples), 95 %"}
    if a.size >= 2 and b.size >= 2 and (np.ptp(a) > 0 or np.ptp(b) > 0):
        t = sps.ttest_ind(a, b, equal_var=False)
        ci = t.confidence_interval(0.95)
        diff.update(ci=[float(ci.low), float(ci.high)], p_value=float(t.pvalue))
    valid = [c for c in classes if c["n"] > 0]
    panels = {}
    for key, cls in (("lowest", min(valid, key=lambda c: (c["acc"], c["class"]))),
                     ("highest", max(valid, key=lambda c: (c["acc"], -c["class"])))):
        dims = []
        for d, pur in zip(cls["dims"], cls["purity"], strict=True):
            idx = np.argsort(-zn[:, d], kind="stable")[:n_show]
            idx = idx[zn[idx, d] > zn[:, d].min() + 1e-5]  # active samples only (above the floor)
            dims.append({"dim": int(d), "purity": pur, "samples": idx.tolist(), "labels": y[idx].tolist(),
                         "activation": zn[idx, d].tolist()})
        panels[key] = {"class": cls["class"], "name": cls["name"], "acc": cls["acc"], "dims": dims}
    return {"rate": rate, "n_test": int(len(y)), "num_classes": int(w.shape[0]), "dim": int(z.shape[1]),
            "top_dims": top_dims, "n_show": n_show, "top": int(top or max(1, round(len(y) / len(np.unique(y))))),
            "accuracy": float(ok.mean()), "classes": classes, "correlation": _spearman(acc, cls_score),
            "wrong_vs_correct": {"wrong": wrong, "correct": right, "wrong_minus_correct": diff,
                                 "no_score": int((~np.isfinite(score)).sum())},
            "samples": {"score": score.tolist(), "correct": ok.tolist()}, "panels": panels,
            "definition": {
                "per_dimension": "share of the most common class among the dimension's `top` highest-activating "
                                 "test samples (L2-normalised rows; value > the dimension's minimum + 1e-5)",
                "class_dimensions": "the `top_dims` largest coef[c, d] * sd_d of the probe trained at `rate`",
                "class_score": "mean per-dimension score of the class's dimensions",
                "per_sample": "per-dimension scores weighted by |z| of the L2-normalised row",
                "ncl_share": "the NCL paper's per-dimension share (all samples with |z| > 1e-5), reported only"}}


def _num(x) -> float:
    """A number of the data as a float (JSON's null — a NaN written out — back to NaN)."""
    return float("nan") if x is None else float(x)


def _strip(ax, dim: dict, target: int, images, n: int) -> None:
    """One dimension's top-activating samples: thumbnails (``images[i]``) or squares with the label, framed green
    where the sample is of the class, red where not."""
    ax.set_xlim(0, max(n, len(dim["samples"])))
    ax.set_ylim(0, 1)
    ax.set_xticks([])
    ax.set_yticks([])
    for j, (i, lab) in enumerate(zip(dim["samples"], dim["labels"], strict=True)):
        color = "tab:green" if lab == target else "tab:red"
        if images is not None and i in images:
            ax.imshow(images[i], extent=(j + 0.05, j + 0.95, 0.05, 0.95), cmap="gray", interpolation="nearest")
        else:
            ax.text(j + 0.5, 0.5, str(lab), ha="center", va="center", fontsize=8)
        ax.add_patch(pyplot().Rectangle((j + 0.03, 0.03), 0.94, 0.94, fill=False, ec=color, lw=1.5))
    ax.set_aspect("auto")
    pur = "—" if not np.isfinite(_num(dim["purity"])) else f"{dim['purity']:.2f}"
    ax.set_ylabel(f"dim {dim['dim']}\n{pur}", fontsize=6, rotation=0, ha="right", va="center")


def plot_figure4(sets: dict, reference: str | None = None, images: dict | None = None, *, rows: int = 3):
    """Figure 4 of several feature sets (name → :func:`figure4_data`): per-class accuracy vs class score (one
    marker per set), wrong vs correct per-sample score with intervals, and for ``reference`` (default: the first
    set) the top-activating samples of the lowest- and highest-accuracy class's first ``rows`` dimensions
    (``images``: sample index → image array, else the labels). Returns the figure."""
    plt = pyplot()
    ref = reference or next(iter(sets))
    fig = plt.figure(figsize=(11, 6.4))
    gs = fig.add_gridspec(2, 2, height_ratios=[1.1, 1], hspace=0.45, wspace=0.25)
    ax_s, ax_c = fig.add_subplot(gs[0, 0]), fig.add_subplot(gs[0, 1])
    for name, d in sets.items():
        acc = [100 * _num(c["acc"]) for c in d["classes"]]
        ax_s.scatter([_num(c["score"]) for c in d["classes"]], acc, s=14,
                     label=f"{name} (ρ {_num(d['correlation']['rho']):+.2f})")
    ax_s.set(xlabel="monosemanticity of the class's top-weight dimensions", ylabel="per-class test accuracy (%)",
             title=f"(a) probe trained at label noise {next(iter(sets.values()))['rate']}")
    ax_s.legend(fontsize=7)
    for i, d in enumerate(sets.values()):
        for j, key in enumerate(("wrong", "correct")):
            g = d["wrong_vs_correct"][key]
            m, lo, hi = _num(g["mean"]), _num(g["ci"][0]), _num(g["ci"][1])
            err = [[m - lo], [hi - m]] if np.isfinite(lo) else None
            ax_c.errorbar(i + 0.3 * j - 0.15, m, yerr=err, fmt="o", capsize=3,
                          color=("tab:red", "tab:green")[j], label=key if i == 0 else None)
    ax_c.set_xticks(range(len(sets)), list(sets))
    ax_c.set_xlim(-0.6, len(sets) - 0.4)
    ax_c.set(ylabel="per-sample monosemanticity", title="(b) wrong vs correct test samples (mean, 95 % t)")
    ax_c.legend(fontsize=7)
    for col, key in enumerate(("lowest", "highest")):
        panel = sets[ref]["panels"][key]
        sub = gs[1, col].subgridspec(min(rows, len(panel["dims"])), 1, hspace=0.15)
        for r, dim in enumerate(panel["dims"][:rows]):
            ax = fig.add_subplot(sub[r, 0])
            _strip(ax, dim, panel["class"], images, sets[ref]["n_show"])
            if r == 0:
                ax.set_title(f"({'cd'[col]}) {ref}: {key}-accuracy class {panel['name']} "
                             f"({100 * _num(panel['acc']):.0f} %), top-activating samples", fontsize=8)
    return fig
