"""C10 — few-shot fine-tuning: monosemantic (NCE) ≥ polysemantic (CE) at 10 / 20 / 50 % of the training set.

Reads ``finetune.json`` of a finished ``run-imagenet`` folder (CL encoder fine-tuned on stratified fractions of
the training set, clean labels). One row per fraction < 1: reproduced when NCE's final validation accuracy is
at least CE's, partly when it is lower but not significantly (the 95 % paired bootstrap interval of the gap over
the shared validation images reaches
0), not reproduced when it is significantly lower.

A digits experiment folder (``monotheory.vision.digits``) is accepted too: its rows are labelled
"[digits, CPU]" and say that they are not ImageNet-100 (:mod:`monotheory.claims.digits`).
"""

from monotheory.claims.digits import finetune_rows, is_digits_folder
from monotheory.claims.runner import CheckContext
from monotheory.claims.verdict import NOT_REPRODUCED, PARTLY, REPRODUCED, Verdict, skipped
from monotheory.claims.vision import final, finetune_gap, finetune_runs
from monotheory.cli.check import script_main

CLAIM = "Few-shot fine-tuning: monosemantic features (NCE) are at least as accurate as polysemantic (CE)"


def evaluate(results_dir, dataset="imagenet100", seed=0):
    if is_digits_folder(results_dir):  # a digits experiment: rows labelled "[digits, CPU]", not ImageNet-100
        return finetune_rows(results_dir, claim_id="C10", claim=CLAIM, kind="few_shot")
    runs, n_val, reason = finetune_runs(results_dir, dataset)
    fractions = []
    if runs is not None:
        clean = [r for r in runs if r["noise_rate"] == 0 and r["few_shot_fraction"] < 1]
        fractions = sorted({r["few_shot_fraction"] for r in clean
                            if {"ce", "nce"} <= {q["head"] for q in clean if q["few_shot_fraction"] == r["few_shot_fraction"]}})
        if not fractions:
            reason = f"{results_dir}/finetune.json has no CE/NCE few-shot runs (fractions < 1)"
    if not fractions:
        return skipped("C10", CLAIM, reason, paper_value="qualitative (no numbers available)")
    out = []
    for f in fractions:
        ce = next(r for r in clean if r["few_shot_fraction"] == f and r["head"] == "ce")
        nce = next(r for r in clean if r["few_shot_fraction"] == f and r["head"] == "nce")
        paired = finetune_gap(nce, ce, seed=seed)
        if paired is None:
            out.append(skipped("C10", CLAIM, f"{results_dir}/finetune.json has no per-image validation correctness "
                               "(val_correct); rerun its finetune stage", label=f"{f:.0%} of train",
                               paper_value="mono ≥ poly (qualitative)"))
            continue
        gap, lo, hi, p_value = paired
        verdict = REPRODUCED if gap >= 0 else PARTLY if hi >= 0 else NOT_REPRODUCED
        out.append(Verdict(
            claim_id="C10", claim=CLAIM, verdict=verdict, label=f"{f:.0%} of train",
            measured=f"val: NCE {100 * final(nce, 'val_acc'):.1f} % vs CE {100 * final(ce, 'val_acc'):.1f} % ({gap:+.1f} pt)",
            value=gap, interval=(lo, hi), paper_value="mono ≥ poly (qualitative)",
            conditions=(f"{ce['n_train']} training images ({f:g} of the set), clean labels, {len(ce['history'])} epochs, "
                        f"{n_val} validation images; interval: paired bootstrap over them (McNemar p = {p_value:.2g}), "
                        "one seed")))
    return out


def run(ctx: CheckContext):
    return evaluate(ctx.imagenet_results, seed=ctx.seed)


if __name__ == "__main__":
    raise SystemExit(script_main(run))
