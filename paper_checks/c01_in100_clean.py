"""C1 — ImageNet-100, clean data: CL ≈ NCL ≈ SAE (Figure 1: 66.8 / 66.7 / 66.2 %, gaps ≤ 0.6 pt).

Reads a finished ``run-imagenet`` folder (``ctx.imagenet_results``): the linear probe trained on clean labels
(rate exactly 0), tested on clean images (σ exactly 0). A "no loss" claim, decided by the one rule
(:mod:`monotheory.claims.rules`) with two one-sided tests against ±:data:`MARGIN`: reproduced when the
interval of a gap mono − CL (paired over the test images; 90 % for TOST at Holm's step) lies inside ±1 pt, not
reproduced when it lies entirely outside, inconclusive otherwise; the two gaps (NCL−CL, SAE−CL) are one Holm
family; "not a test" when the mono arm is not measurably more monosemantic than CL. Skipped (instantly) without
an ImageNet-100 run or without that cell.

**The margin, 1 point of top-1 accuracy**: the paper calls its clean gaps of up to 0.6 pt "no loss"; the margin
is that largest gap rounded up to a whole point (fixed from the paper's numbers, not from any run of ours).

A digits experiment folder (``monotheory.vision.digits``) is accepted too: its rows are labelled
"[digits, CPU]" and say that they are not ImageNet-100 (:mod:`monotheory.claims.digits`).
"""

from monotheory.claims.digits import is_digits_folder, probe_rows
from monotheory.claims.runner import CheckContext
from monotheory.claims.vision import probe_claim
from monotheory.cli.check import script_main

CLAIM = "ImageNet-100, clean labels and images: monosemantic features cost no accuracy (CL ≈ NCL ≈ SAE)"
PAIRS = [("ncl", "cl", "66.7 vs 66.8 (−0.1 pt)"), ("sae", "cl", "66.2 vs 66.8 (−0.6 pt)")]
MARGIN = 0.01  # ±1 pt of accuracy (0–1 scale): the paper's largest "no loss" gap, 0.6 pt, rounded up


def evaluate(results_dir, dataset="imagenet100", seed=0):
    if is_digits_folder(results_dir):  # a digits experiment: rows labelled "[digits, CPU]", not ImageNet-100
        return probe_rows(results_dir, claim_id="C1", claim=CLAIM, row="clean", pairs=PAIRS, margin=MARGIN)
    return probe_claim(results_dir, claim_id="C1", claim=CLAIM, row="clean", pairs=PAIRS, margin=MARGIN,
                       dataset=dataset)


def run(ctx: CheckContext):
    return evaluate(ctx.imagenet_results, seed=ctx.seed)


if __name__ == "__main__":
    raise SystemExit(script_main(run))
