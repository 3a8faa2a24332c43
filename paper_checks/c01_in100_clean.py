"""C1 — ImageNet-100, clean data: CL ≈ NCL ≈ SAE (Figure 1: 66.8 / 66.7 / 66.2 %, gaps ≤ 0.6 pt).

Reads a finished ``run-imagenet`` folder (``ctx.imagenet_results``): the linear probe trained on clean labels
(rate exactly 0), tested on clean images (σ exactly 0). An equivalence test: reproduced when the whole 95 %
paired-bootstrap interval of a gap (over test images) lies within ±0.6 pt, not reproduced when it lies
entirely outside, partly reproduced (inconclusive, said so) otherwise. Skipped (instantly) without an
ImageNet-100 run or without that cell.

A digits experiment folder (``monotheory.vision.digits``) is accepted too: its rows are labelled
"[digits, CPU]" and say that they are not ImageNet-100 (:mod:`monotheory.claims.digits`).
"""

from monotheory.claims.digits import is_digits_folder, probe_rows
from monotheory.claims.runner import CheckContext
from monotheory.claims.vision import probe_claim
from monotheory.cli.check import script_main

CLAIM = "ImageNet-100, clean labels and images: monosemantic features cost no accuracy (CL ≈ NCL ≈ SAE)"
PAIRS = [("ncl", "cl", "66.7 vs 66.8 (−0.1 pt)"), ("sae", "cl", "66.2 vs 66.8 (−0.6 pt)")]


def evaluate(results_dir, dataset="imagenet100", seed=0):
    if is_digits_folder(results_dir):  # a digits experiment: rows labelled "[digits, CPU]", not ImageNet-100
        return probe_rows(results_dir, claim_id="C1", claim=CLAIM, row="clean", pairs=PAIRS, rule="equal")
    return probe_claim(results_dir, claim_id="C1", claim=CLAIM, row="clean", pairs=PAIRS, rule="equal",
                       dataset=dataset, seed=seed)


def run(ctx: CheckContext):
    return evaluate(ctx.imagenet_results, seed=ctx.seed)


if __name__ == "__main__":
    raise SystemExit(script_main(run))
