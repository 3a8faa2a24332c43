"""The Figure-1 summary of a ``run-imagenet`` output folder, its plots, and paired accuracy gaps.

Figure 1 of the paper (ImageNet-100, linear-probe top-1 %): rows *clean*, *90 % label noise*, *Gaussian
input noise σ = 0.6*; columns CL (poly), SAE (mono), NCL (mono). The summary takes the paper's cells
(:data:`PAPER_CELLS`) when the run's grids hold them, else the grid's extremes (labelled with their values,
without the paper's numbers beside them). The claims C1–C4 use the paper's cells only, and skip without
them. Nothing here imports torch.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from monotheory.report import atomic_write_json, atomic_write_text

COLUMNS = (("cl", "CL (poly)"), ("sae", "SAE (mono)"), ("ncl", "NCL (mono)"))
PAPER_FIGURE1 = {"clean": {"cl": 66.8, "sae": 66.2, "ncl": 66.7},
                 "label_noise": {"cl": 34.4, "sae": 45.9, "ncl": 48.1},
                 "input_noise": {"cl": 28.7, "sae": 30.6, "ncl": 33.3}}


# (training label-noise rate, test σ) of each Figure-1 row in the paper
PAPER_CELLS = {"clean": (0.0, 0.0), "label_noise": (0.9, 0.0), "input_noise": (0.0, 0.6)}


def load_json(out: str | Path, name: str) -> dict | None:
    p = Path(out) / f"{name}.json"
    return json.loads(p.read_text()) if p.exists() else None


def _acc(probe: dict, method: str, rate: float, sigma_key: str) -> float | None:
    for r in probe["methods"].get(method, {}).get("rows", []):
        if abs(r["noise_rate"] - rate) < 1e-12:
            return r["test_acc"].get(sigma_key)
    return None


def grid(probe: dict) -> tuple[list[float], list[str]]:
    """The noise rates and σ keys present in ``probe.json`` (ascending)."""
    first = next(iter(probe["methods"].values()))
    rates = sorted(r["noise_rate"] for r in first["rows"])
    sigmas = sorted(first["rows"][0]["test_acc"], key=float)
    return rates, sigmas


def has_cell(probe: dict, rate: float, sigma: float) -> bool:
    """Whether every method of ``probe.json`` has a result at training noise ``rate`` and test σ ``sigma``."""
    return all(_acc(probe, m, rate, f"{float(sigma):g}") is not None for m in probe["methods"])


def cell_label(row: str, rate: float, sigma: float) -> str:
    return {"clean": "clean", "label_noise": f"label noise {rate:.0%}"}.get(row, f"input noise σ={sigma:g}")


def figure1_rows(probe: dict) -> list[dict]:
    """Three rows (``clean``, ``label_noise``, ``input_noise``) of top-1 accuracy (fraction) per method.

    Each row is the paper's cell when present (``paper_cell: True``), else the grid's extreme.
    """
    rates, sigmas = grid(probe)
    fallback = {"clean": (rates[0], float(sigmas[0])), "label_noise": (rates[-1], float(sigmas[0])),
                "input_noise": (rates[0], float(sigmas[-1]))}
    rows = []
    for key, paper in PAPER_CELLS.items():
        ok = has_cell(probe, *paper)
        rate, s = paper if ok else fallback[key]
        rows.append({"row": key, "label": cell_label(key, rate, s), "noise_rate": rate, "sigma": s,
                     "paper_cell": ok,
                     "acc": {m: _acc(probe, m, rate, f"{s:g}") for m, _ in COLUMNS if m in probe["methods"]}})
    return rows


def figure1_markdown(rows: list[dict], paper: bool = False) -> str:
    cols = [(m, name) for m, name in COLUMNS if any(m in r["acc"] for r in rows)]
    head = "| | " + " | ".join(n for _, n in cols) + " |"
    lines = [head, "|---" * (len(cols) + 1) + "|"]
    for r in rows:
        cells = []
        for m, _ in cols:
            a = r["acc"].get(m)
            cell = "—" if a is None else f"{100 * a:.1f}"
            if paper and r.get("paper_cell", True):  # never beside another cell than the paper's
                cell += f" (paper {PAPER_FIGURE1[r['row']][m]})"
            cells.append(cell)
        lines.append(f"| {r['label']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_figure1(rows: list[dict], ax=None):
    """Grouped bars: one group per row, one bar per method (accuracy in %)."""
    from monotheory.plots import pyplot

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
    from monotheory.plots import pyplot

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
    from monotheory.plots import pyplot

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


def write_summary(out: str | Path) -> dict:
    """(Re)write ``summary.json``, ``summary.md`` and ``summary.png`` from the stage results present."""
    from monotheory.plots import save_figure

    out = Path(out)
    probe, ft, shift, sae = (load_json(out, n) for n in ("probe", "finetune", "shift", "sae"))
    summary: dict = {"rows": [], "stages": sorted(p.stem for p in out.glob("*.json")
                                                   if p.stem not in ("config", "summary", "manifest"))}
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
        save_figure(plot_figure1(rows), out / "summary.png", data={"rows": rows})
        save_figure(plot_noise_curves(probe), out / "noise_curves.png")
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
        save_figure(plot_finetune(ft), out / "finetune.png")
    if shift is not None:
        summary["shift"] = {k: v["acc"] for k, v in shift["sets"].items()}
        md += ["", "Distribution shift (clean-label probe, top-1 %):", "",
               "| test set | " + " | ".join(m for m, _ in COLUMNS) + " |", "|---" * 4 + "|"]
        md += [f"| {k} | " + " | ".join("—" if a.get(m) is None else f"{100 * a[m]:.1f}" for m, _ in COLUMNS) + " |"
               for k, a in summary["shift"].items()]
    atomic_write_json(out / "summary.json", summary)
    atomic_write_text(out / "summary.md", "\n".join(md) + "\n")
    return summary


def paired_gap(correct_a, correct_b, *, n_boot: int = 2000, seed: int = 0, level: float = 0.95):
    """Accuracy gap a − b in points (×100) on the same test samples, with a paired bootstrap interval.

    ``correct_a``/``correct_b``: 0/1 per test sample. The interval resamples test samples (percentile
    bootstrap, ``n_boot`` draws from ``numpy.random.default_rng(seed)``), so it reflects test-set size only,
    not the variance over pretraining seeds.
    """
    a, b = np.asarray(correct_a, float), np.asarray(correct_b, float)
    d = a - b
    rng = np.random.default_rng(seed)
    means = np.empty(n_boot)
    for i in range(0, n_boot, 250):  # chunks keep memory at 250 × n
        idx = rng.integers(0, d.size, size=(min(250, n_boot - i), d.size))
        means[i:i + idx.shape[0]] = d[idx].mean(1)
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return 100 * d.mean(), 100 * lo, 100 * hi


def finetune_gap(run_a: dict, run_b: dict, *, seed: int = 0, level: float = 0.95):
    """Validation-accuracy gap a − b (points) of two fine-tuning runs scored on the same validation images:
    ``(gap, lo, hi, p_mcnemar)`` with a paired bootstrap interval over images and McNemar's exact p-value
    (:mod:`monotheory.stats`), or ``None`` when a run has no per-image correctness (``val_correct``, written
    since the fine-tuning stage records it; rerun that stage for older folders)."""
    from monotheory.stats import mcnemar_exact, paired_bootstrap

    a, b = run_a.get("val_correct"), run_b.get("val_correct")
    if a is None or b is None or len(a) != len(b):
        return None
    bs = paired_bootstrap(a, b, confidence=level, random_state=seed)
    return 100 * bs["gap"], 100 * bs["ci"][0], 100 * bs["ci"][1], mcnemar_exact(a, b)["p_value"]


def save_correct(path: str | Path, correct: dict[str, dict]) -> None:
    """Save per-sample correctness as ``.npz`` with keys ``<method>|<rate>|<σ>`` (atomically)."""
    import io

    from monotheory.report import atomic_write_bytes

    buf = io.BytesIO()
    flat = {f"{m}|{r:g}|{s}": v for m, d in correct.items() for (r, s), v in d.items()}
    np.savez_compressed(buf, **flat)
    atomic_write_bytes(path, buf.getvalue())


def load_correct(path: str | Path) -> dict[tuple[str, float, str], np.ndarray]:
    """Inverse of :func:`save_correct`: ``{(method, rate, σ-key): 0/1 array}``."""
    with np.load(path) as z:
        return {(k.split("|")[0], float(k.split("|")[1]), k.split("|")[2]): z[k] for k in z.files}


# ----------------------------------------------------------------------------------- inputs of the claims


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


def probe_gap(results_dir, a: str, b: str, rate: float, sigma_key: str, seed: int = 0):
    """Paired gap (points) between methods ``a`` and ``b`` at one grid cell, from ``probe_correct.npz``."""
    correct = load_correct(Path(results_dir) / "probe_correct.npz")
    return paired_gap(correct[(a, rate, sigma_key)], correct[(b, rate, sigma_key)], seed=seed)


def run_dataset(results_dir) -> str | None:
    """The ``dataset`` of a run-imagenet folder (from ``config.json``, else ``probe.json``), or None."""
    for name, keys in (("config", ("config", "dataset")), ("probe", ("run_config", "dataset"))):
        d = load_json(results_dir, name) if results_dir is not None and Path(results_dir).is_dir() else None
        for k in keys:
            d = d.get(k) if isinstance(d, dict) else None
        if d is not None:
            return d
    return None


def equivalence_verdict(lo: float, hi: float, tolerance: float) -> tuple[str, str]:
    """Two one-sided tests in interval form: (verdict, why) for "the gap is within ±tolerance"."""
    from monotheory.report import NOT_REPRODUCED, PARTLY, REPRODUCED

    if -tolerance <= lo and hi <= tolerance:
        return REPRODUCED, f"the whole 95 % interval lies within ±{tolerance:g} pt"
    if hi < -tolerance or lo > tolerance:
        return NOT_REPRODUCED, f"the whole 95 % interval lies outside ±{tolerance:g} pt"
    return PARTLY, (f"inconclusive: the 95 % interval [{lo:+.1f}, {hi:+.1f}] pt is neither inside nor outside "
                    f"±{tolerance:g} pt")


def probe_claim(results_dir, *, claim_id: str, claim: str, row: str, pairs, rule: str, dataset: str | None,
                seed: int = 0, tolerance: float = 0.6, input_noise: str = "gaussian"):
    """Verdict rows for a Figure-1 claim: one row per (a, b, paper value) pair, gap a − b in points.

    ``row``: ``clean`` / ``label_noise`` / ``input_noise``; the cell is exactly the paper's
    (:data:`PAPER_CELLS`: rate 0 / 0.9 / 0, σ 0 / 0 / 0.6) and, for σ > 0, ``input_noise`` must be the run's
    kind; without that cell every row is skipped with a reason naming it. ``rule``: ``"equal"`` — an
    equivalence test (:func:`equivalence_verdict`): reproduced when the 95 % paired-bootstrap interval of the
    gap lies within ±``tolerance``, not reproduced when it lies entirely outside, partly (inconclusive)
    otherwise; ``"greater"`` — reproduced when the interval lies above 0, partly when only the point
    estimate does, not reproduced otherwise.
    """
    from monotheory.report import NOT_REPRODUCED, PARTLY, REPRODUCED, Verdict, skipped

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
    out = []
    for a, b, pv in pairs:
        gap, lo, hi = probe_gap(results_dir, a, b, rate, f"{sigma:g}", seed=seed)
        why = ""
        if rule == "equal":
            verdict, why = equivalence_verdict(lo, hi, tolerance)
        else:
            verdict = REPRODUCED if lo > 0 else PARTLY if gap > 0 else NOT_REPRODUCED
        acc_a, acc_b = 100 * cell["acc"][a], 100 * cell["acc"][b]
        noise = f", {kind} test noise" if sigma > 0 else ""
        out.append(Verdict(
            claim_id=claim_id, claim=claim, verdict=verdict, label=f"{a.upper()}−{b.upper()}",
            measured=f"{a.upper()} {acc_a:.1f} % vs {b.upper()} {acc_b:.1f} %: gap {gap:+.1f} pt" + (
                f" ({why})" if why else ""),
            value=gap, interval=(lo, hi), paper_value=pv,
            conditions=(f"{probe.get('dataset')}, {cell['label']} (training label noise {rate:g}, test σ {sigma:g}"
                        f"{noise}), {probe.get('n_test')} test images, 95 % paired bootstrap over test images (one "
                        "pretraining seed)"),
            details={"row": cell, "results": str(results_dir)}))
    return out


def finetune_runs(results_dir, dataset: str | None):
    """``(runs, n_val, None)`` from ``finetune.json`` or ``(None, None, reason)``."""
    ft, reason = claim_inputs(results_dir, "finetune", dataset)
    if ft is None:
        return None, None, reason
    return ft["runs"], ft.get("n_val") or ft["runs"][0].get("n_val", 0), None


def final(run: dict, key: str) -> float:
    return run["history"][-1][key]
