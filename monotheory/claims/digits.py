"""Verdict rows of C1–C3, C9 and C10 from a digits experiment folder (``digits.json``), labelled as such.

The paper's claims are about ImageNet-100 with ResNet-18; a digits folder (:mod:`monotheory.vision.digits`:
scikit-learn's 8 × 8 digits, an MLP backbone on a CPU, several seeds) does not meet that premise. Its rows
apply the claim's rule to the analogous digits cell and say so in the label (``[digits, CPU]``), the
conditions ("digits, not ImageNet-100") and ``details["test_of_claim"] = False``; they are evidence about the
mechanism on another data set, not a reproduction of the paper's numbers. Intervals are paired t intervals
over seeds (the unit of replication), with Holm's correction across the rows of one check.
"""

from __future__ import annotations

import json
from pathlib import Path

from monotheory.claims.rules import ALPHA, Cell, decide_family
from monotheory.claims.verdict import NOT_REPRODUCED, PARTLY, REPRODUCED, Verdict, skipped
from monotheory.claims.vision import equivalence_verdict
from monotheory.stats import holm, paired_t

SCALE_NOTE = "digits (scikit-learn, 8×8, 10 classes), CPU MLP scale — NOT ImageNet-100"


def is_digits_folder(results_dir) -> bool:
    """True when ``results_dir`` holds a digits experiment (``digits.json``)."""
    return results_dir is not None and (Path(results_dir) / "digits.json").exists()


def _load(results_dir) -> dict:
    return json.loads((Path(results_dir) / "digits.json").read_text())


def _test(res: dict, family: str, cell: str, pair: str) -> dict | None:
    return next((t for t in res["tests"].get(family, []) if t["cell"] == cell and t["pair"] == pair), None)


def _holm_rows(tests: list[dict]) -> list[float]:
    ps = [t["p_value"] for t in tests]
    return [float(q) for q in holm(ps)] if ps else []


def _conditions(res: dict, cell: str, extra: str = "") -> str:
    return (f"{SCALE_NOTE}; {cell}; {res['epochs']} pretraining epochs; {len(res['seeds'])} seeds; "
            f"{res['n_test']} test images; chance {100 * res['chance']:.0f} %; 95 % paired t interval over seeds"
            + (f"; {extra}" if extra else ""))


def probe_rows(results_dir, *, claim_id: str, claim: str, row: str, pairs, rule: str, tolerance: float = 0.6):
    """Rows for C1 (``row="clean"``, equivalence within ±``tolerance``), C2 (``label_noise``: the grid's highest
    rate, 0.8 on digits — 0.9 flip noise carries no information with 10 classes) and C3 (``input_noise``:
    σ = 0.6); ``rule`` as :func:`monotheory.claims.vision.probe_claim`."""
    res = _load(results_dir)
    if row == "clean":
        family, cell = "label noise", "label noise 0"
    elif row == "label_noise":
        rates = [float(c.split()[-1]) for c in res["cells"] if c.startswith("label noise ")]
        family, cell = "label noise", f"label noise {max(rates):g}"
    else:
        family, cell = "input noise", "input noise σ=0.6"
    tests = [_test(res, family, cell, f"{a}-{b}") for a, b, _ in pairs]
    if any(t is None for t in tests):
        return [skipped(claim_id, claim, f"{results_dir}/digits.json has no cell {cell!r}",
                        label=f"{a.upper()}−{b.upper()} [digits, CPU]", paper_value=pv) for a, b, pv in pairs]
    holm_p = _holm_rows(tests)
    out = []
    for (a, b, pv), t, q in zip(pairs, tests, holm_p, strict=True):
        gap, lo, hi = 100 * t["mean"], 100 * t["ci"][0], 100 * t["ci"][1]
        why = ""
        if rule == "equal":
            verdict, why = equivalence_verdict(lo, hi, tolerance)
        else:
            verdict = REPRODUCED if lo > 0 else PARTLY if gap > 0 else NOT_REPRODUCED
        ca, cb = res["cells"][cell][a]["mean"], res["cells"][cell][b]["mean"]
        out.append(Verdict(
            claim_id=claim_id, claim=claim, verdict=verdict, label=f"{a.upper()}−{b.upper()} [digits, CPU]",
            measured=(f"digits: {a.upper()} {100 * ca:.1f} % vs {b.upper()} {100 * cb:.1f} %: gap {gap:+.1f} pt "
                      f"(p {t['p_value']:.3f}, Holm {q:.3f})" + (f" ({why})" if why else "")),
            value=gap, interval=(lo, hi), paper_value=pv + " on ImageNet-100",
            conditions=_conditions(res, cell),
            details={"dataset": "digits", "scale": res["scale"], "test_of_claim": False, "cell": cell,
                     "test": t, "p_holm": q, "results": str(results_dir)}))
    return out


def finetune_rows(results_dir, *, claim_id: str, claim: str, kind: str):
    """C9 (``kind="label_noise"``: the highest fine-tuning noise rate; NCE − CE validation gap and training
    accuracy on the noisy labels) or C10 (``kind="few_shot"``: one row per fraction < 1, NCE ≥ CE)."""
    res = _load(results_dir)
    ft = {n: c for n, c in res["cells"].items() if n.startswith("fine-tune ")}

    def parse(name):
        f, r = name.removeprefix("fine-tune fraction ").split(", label noise ")
        return float(f), float(r)

    if kind == "label_noise":
        noisy = [n for n in ft if parse(n)[1] > 0 and parse(n)[0] == 1.0]
        if not noisy:
            return skipped(claim_id, claim, f"{results_dir}/digits.json has no fine-tuning runs with label noise",
                           label="NCE−CE [digits, CPU]")
        name = max(noisy, key=lambda n: parse(n)[1])
        c = ft[name]
        val = paired_t(c["nce"]["values"], c["ce"]["values"])
        train = paired_t(c["nce_train"]["values"], c["ce_train"]["values"])
        gap, lo, hi = 100 * val["mean"], 100 * val["ci"][0], 100 * val["ci"][1]
        val_ok, train_ok = lo > 0, train["mean"] < 0
        verdict = REPRODUCED if val_ok and train_ok else PARTLY if val_ok or train_ok else NOT_REPRODUCED
        return Verdict(
            claim_id=claim_id, claim=claim, verdict=verdict, label="NCE−CE val [digits, CPU]",
            measured=(f"digits: val NCE {100 * c['nce']['mean']:.1f} % vs CE {100 * c['ce']['mean']:.1f} % ({gap:+.1f} "
                      f"pt, p {val['p_value']:.3f}); train on noisy labels NCE {100 * c['nce_train']['mean']:.1f} % vs "
                      f"CE {100 * c['ce_train']['mean']:.1f} % ({100 * train['mean']:+.1f} pt)"),
            value=gap, interval=(lo, hi), paper_value="NCE: lower train, higher val accuracy (qualitative), ImageNet-100",
            conditions=_conditions(res, name, f"{c['epochs']} fine-tuning epochs"),
            details={"dataset": "digits", "scale": res["scale"], "test_of_claim": False, "val": val, "train": train})
    few = sorted((n for n in ft if parse(n)[1] == 0 and parse(n)[0] < 1), key=lambda n: parse(n)[0])
    if not few:
        return skipped(claim_id, claim, f"{results_dir}/digits.json has no few-shot fine-tuning runs",
                       label="NCE−CE [digits, CPU]")
    tests = [paired_t(ft[n]["nce"]["values"], ft[n]["ce"]["values"]) for n in few]
    out = []
    for n, t, q in zip(few, tests, _holm_rows(tests), strict=True):
        gap, lo, hi = 100 * t["mean"], 100 * t["ci"][0], 100 * t["ci"][1]
        verdict = REPRODUCED if gap >= 0 else PARTLY if hi >= 0 else NOT_REPRODUCED
        out.append(Verdict(
            claim_id=claim_id, claim=claim, verdict=verdict, label=f"{parse(n)[0]:.0%} of train [digits, CPU]",
            measured=(f"digits: val NCE {100 * ft[n]['nce']['mean']:.1f} % vs CE {100 * ft[n]['ce']['mean']:.1f} % "
                      f"({gap:+.1f} pt, p {t['p_value']:.3f}, Holm {q:.3f})"),
            value=gap, interval=(lo, hi), paper_value="mono ≥ poly (qualitative), ImageNet-100",
            conditions=_conditions(res, n, f"{ft[n]['epochs']} fine-tuning epochs"),
            details={"dataset": "digits", "scale": res["scale"], "test_of_claim": False, "test": t, "p_holm": q}))
    return out


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
    res = _load(results_dir)
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
