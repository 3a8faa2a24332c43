"""Claim-verdict logic of the vision checks (C1–C4, C9, C10 in ``paper_checks/``): the inputs a claim needs
from a ``run-imagenet`` folder, the equivalence rule, the paired gaps (:mod:`monotheory.stats`: SciPy's paired
bootstrap, McNemar's exact test) and the verdict rows of a Figure-1 claim."""

from __future__ import annotations

from pathlib import Path

from monotheory.claims.rules import ALPHA, Cell, decide_family
from monotheory.claims.verdict import NOT_REPRODUCED, PARTLY, REPRODUCED, Verdict, skipped
from monotheory.stats import mcnemar_exact, paired_bootstrap
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


def probe_gap(results_dir, a: str, b: str, rate: float, sigma_key: str, seed: int = 0):
    """Accuracy gap a − b in points (×100) between methods ``a`` and ``b`` at one grid cell of
    ``probe_correct.npz`` (the same test images), with a paired bootstrap interval: ``(gap, lo, hi)``.

    The interval is :func:`monotheory.stats.paired_bootstrap` (2000 resamples, 95 %, ``random_state=seed``), so
    it reflects the test-set size only, not the variance over pretraining seeds."""
    correct = load_correct(Path(results_dir) / "probe_correct.npz")
    bs = paired_bootstrap(correct[(a, rate, sigma_key)], correct[(b, rate, sigma_key)], confidence=0.95,
                          n_resamples=2000, random_state=seed)
    return 100 * bs["gap"], 100 * bs["ci"][0], 100 * bs["ci"][1]


def finetune_gap(run_a: dict, run_b: dict, *, seed: int = 0, confidence: float = 0.95):
    """Validation-accuracy gap a − b (points) of two fine-tuning runs scored on the same validation images:
    ``(gap, lo, hi, p_mcnemar)`` with a paired bootstrap interval over images and McNemar's exact p-value
    (:mod:`monotheory.stats`), or ``None`` when a run has no per-image correctness (``val_correct``, written
    since the fine-tuning stage records it; rerun that stage for older folders)."""
    a, b = run_a.get("val_correct"), run_b.get("val_correct")
    if a is None or b is None or len(a) != len(b):
        return None
    bs = paired_bootstrap(a, b, confidence=confidence, random_state=seed)
    return 100 * bs["gap"], 100 * bs["ci"][0], 100 * bs["ci"][1], mcnemar_exact(a, b)["p_value"]


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
