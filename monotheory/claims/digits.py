"""Verdict rows of C1–C3, C9 and C10 from a digits experiment folder (``digits.json`` and its seed folders),
labelled as such.

The paper's claims are about ImageNet-100 with ResNet-18; a digits folder (:mod:`monotheory.vision.digits`:
scikit-learn's 8 × 8 digits, an MLP backbone on a CPU, several seeds) does not meet that premise. Its rows
apply the claim's rule to the analogous digits cell and say so in the label (``[digits, CPU]``), the
conditions ("digits, not ImageNet-100") and ``details["test_of_claim"] = False``; they are evidence about the
mechanism on another data set, not a reproduction of the paper's numbers.

The rows are those of the ImageNet reader (:func:`monotheory.claims.vision.probe_specs` /
:func:`~monotheory.claims.vision.finetune_specs`) over the seed folders ``seed<s>/``: cells paired over seeds (the
unit of replication; the pooled test items are the fallback when the seeds have zero spread), one Holm family per
check, the premise over seeds, chance measured (the majority-class share of the test labels, ``probe.json``).
"""

from __future__ import annotations

import json
from pathlib import Path

from monotheory.claims.arms import attach_survival, chance_of, family_rows
from monotheory.claims.rules import ALPHA, REPRODUCED, Cell, decide_family
from monotheory.claims.verdict import skipped
from monotheory.claims.vision import finetune_specs, margin_text, probe_specs

SCALE_NOTE = "digits (scikit-learn, 8×8, 10 classes), CPU MLP scale — NOT ImageNet-100"
TAG = " [digits, CPU]"


def is_digits_folder(results_dir) -> bool:
    """True when ``results_dir`` holds a digits experiment (``digits.json``)."""
    return results_dir is not None and (Path(results_dir) / "digits.json").exists()


def _load(results_dir) -> tuple[dict, list[Path], str | None]:
    """``(digits.json, seed folders, None)`` or ``(…, …, reason)`` when a seed folder lacks its probe results."""
    res = json.loads((Path(results_dir) / "digits.json").read_text())
    folders = [Path(results_dir) / f"seed{s}" for s in res["seeds"]]
    missing = [f.name for f in folders if not (f / "probe.json").exists()]
    return res, folders, (f"{results_dir} lacks the seed folders' probe results ({', '.join(missing)})"
                          if missing else None)


def _conditions(res: dict, cell: str, chance, extra: str = "") -> str:
    c = "not recorded" if chance is None else f"{100 * chance:.1f} % (majority-class share of the test labels)"
    return (f"{SCALE_NOTE}; {cell}; {res['epochs']} pretraining epochs; {len(res['seeds'])} seeds "
            f"({', '.join(map(str, res['seeds']))}); {res['n_test']} test images; chance {c}; cells paired over "
            "seeds" + extra)


def _details(res: dict, results_dir, cell: str) -> dict:
    return {"dataset": "digits", "scale": res["scale"], "test_of_claim": False, "cell": cell,
            "results": str(results_dir)}


def probe_rows(results_dir, *, claim_id: str, claim: str, row: str, pairs, margin: float | None = None):
    """Rows for C1 (``row="clean"``), C2 (``label_noise``: the grid's highest rate, 0.8 on digits — 0.9 flip noise
    carries no information with 10 classes) and C3 (``input_noise``: σ = 0.6); ``margin`` as
    :func:`monotheory.claims.vision.probe_claim`."""
    res, folders, reason = _load(results_dir)
    if row == "clean":
        rate, sigma, cell = 0.0, "0", "label noise 0"
    elif row == "label_noise":
        rate = max(float(c.split()[-1]) for c in res["cells"] if c.startswith("label noise "))
        sigma, cell = "0", f"label noise {rate:g}"
    else:
        rate, sigma, cell = 0.0, "0.6", "input noise σ=0.6"
    if reason is None and cell not in res["cells"]:
        reason = f"{results_dir}/digits.json has no cell {cell!r}"
    if reason is not None:
        return [skipped(claim_id, claim, reason, label=f"{a.upper()}−{b.upper()}{TAG}", paper_value=pv)
                for a, b, pv in pairs]
    chance = chance_of(folders)
    specs = probe_specs(folders, [(a, b, pv + " on ImageNet-100") for a, b, pv in pairs], rate, sigma,
                        margin=margin, chance=chance, suffix=TAG)
    if margin is None:  # a gain: say which strong baselines it beats
        attach_survival(specs, [r for r in baseline_survival(results_dir) if r["cell"] == cell])
    return family_rows(claim_id, claim, specs, conditions=_conditions(res, cell, chance, margin_text(margin)),
                       family=f"the {len(specs)} digits cells of {claim_id}", details=_details(res, results_dir, cell))


def finetune_rows(results_dir, *, claim_id: str, claim: str, kind: str):
    """C9 (``kind="label_noise"``) or C10 (``kind="few_shot"``) over the seed folders' ``finetune.json``."""
    res, folders, reason = _load(results_dir)
    missing = [f.name for f in folders if not (f / "finetune.json").exists()]
    if reason is None and missing:
        reason = f"{results_dir} lacks the seed folders' fine-tuning results ({', '.join(missing)})"
    runs = [] if reason else [json.loads((f / "finetune.json").read_text())["runs"] for f in folders]
    chance = None if reason else chance_of(folders)
    specs = finetune_specs(runs, kind, chance, suffix=TAG) if runs else []
    if not specs:
        return [skipped(claim_id, claim, reason or f"{results_dir} has no CE and NCE fine-tuning runs for {claim_id}",
                        label=f"NCE−CE{TAG}")]
    for s in specs:
        s["paper_value"] += ", ImageNet-100"
    ep = len(runs[0][0]["history"])
    return family_rows(claim_id, claim, specs, family=f"the {sum(len(s['cells']) for s in specs)} digits cells of "
                       f"{claim_id}", conditions=_conditions(res, "fine-tuning", chance, f"; {ep} fine-tuning epochs"),
                       details=_details(res, results_dir, "fine-tuning"))


# ------------------------------------------------------------------------------- the strong baselines (issue 22)

BASELINE_ARMS = ("cl", "cl_l2", "sae_random")


def baseline_survival(results_dir, alpha: float = ALPHA) -> list[dict]:
    """Which arm each mono gain of a digits folder survives, cell by cell (label-noise and input-noise cells).

    For each cell and mono arm (SAE, NCL), the paired differences over seeds against CL, CL with the tuned L2
    probe (``cl_l2``) and the untrained SAE (``sae_random``) are decided together by the one rule
    (:func:`monotheory.claims.rules.decide_family`: paired t over seeds, Holm over these three comparisons, the
    interval at Holm's step level; one seed or zero spread is "not estimable"). The arm *beats* a baseline where
    that comparison is reproduced (positive at the adjusted level); a gain over CL counts as evidence for
    monosemanticity only where it beats every baseline present (``evidence``). Empty when the folder's runs have no
    baselines (``digits.json`` without ``baselines``).
    """
    res = json.loads((Path(results_dir) / "digits.json").read_text())  # the cells only: no seed folders needed
    if not res.get("baselines"):
        return []
    out = []
    for name, cell in res["cells"].items():
        if not name.startswith(("label noise", "input noise")) or "cl" not in cell:
            continue
        for arm in ("sae", "ncl"):
            if arm not in cell:
                continue
            vs = [b for b in BASELINE_ARMS if b in cell and b != arm]
            fam = decide_family([Cell(f"{arm}−{b}", cell[arm]["values"], cell[b]["values"], bounds=(-1.0, 1.0))
                                 for b in vs], alpha)
            beats = [b for b, r in zip(vs, fam, strict=True) if r.outcome == REPRODUCED]
            out.append({"cell": name, "arm": arm, "vs": {b: r.to_dict() for b, r in zip(vs, fam, strict=True)},
                        "beats": beats, "evidence": len(beats) == len(vs),
                        "gain_over_cl": cell[arm]["mean"] - cell["cl"]["mean"]})
    return out


def survival_markdown(rows: list[dict]) -> str:
    """The rows of :func:`baseline_survival` as a Markdown table (points, interval at Holm's step level)."""
    if not rows:
        return ""
    arms = list(rows[0]["vs"])
    md = ["| cell | arm | " + " | ".join(f"− {b}" for b in arms) + " | beats | evidence |", "|---" * (len(arms) + 4) + "|"]
    for r in rows:
        cells = []
        for b in arms:
            c = r["vs"].get(b)
            if c is None:
                cells.append("—")
                continue
            iv = c["interval"]
            ci = f"[{100 * iv[0]:+.1f}, {100 * iv[1]:+.1f}]" if iv else "(not estimable)"
            cells.append(f"{100 * c['estimate']:+.1f} {ci}, p_Holm {c['p_holm']:.3f}")
        md.append(f"| {r['cell']} | {r['arm'].upper()} | " + " | ".join(cells)
                  + f" | {', '.join(r['beats']) or 'none'} | {'yes' if r['evidence'] else 'no'} |")
    return "\n".join(md) + "\n"
