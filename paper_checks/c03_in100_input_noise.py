"""C3 — ImageNet-100, Gaussian input noise σ = 0.6: NCL +4.6 pt and SAE +1.9 pt over CL (Figure 1).

Reads a finished ``run-imagenet`` folder: clean-label probes tested on images with X + σ·N(0, I) added to the
*normalised* tensor at σ exactly 0.6; skipped, naming the cell, when the run's grid lacks it or its input noise
was not Gaussian. Decided by the one rule (:mod:`monotheory.claims.rules`): the gaps mono − CL (paired over the test
images of the one pretraining seed) of NCL and SAE form one Holm family; a row is reproduced when its interval at
Holm's step level lies above 0, not reproduced when below, inconclusive when it contains 0 or both arms are at
chance; "not a test" when the mono arm is not measurably more monosemantic than CL (paired bootstrap over test
items).

A digits experiment folder (``monotheory.vision.digits``) is accepted too: its rows are labelled
"[digits, CPU]" and say that they are not ImageNet-100 (:mod:`monotheory.claims.digits`).
"""

from monotheory.claims.digits import is_digits_folder, probe_rows
from monotheory.claims.runner import CheckContext
from monotheory.claims.vision import probe_claim
from monotheory.cli.check import script_main

CLAIM = "ImageNet-100, Gaussian test input noise σ = 0.6: monosemantic features (NCL, SAE) beat CL"
PAIRS = [("ncl", "cl", "33.3 vs 28.7 (+4.6 pt)"), ("sae", "cl", "30.6 vs 28.7 (+1.9 pt)")]


def evaluate(results_dir, dataset="imagenet100", seed=0):
    if is_digits_folder(results_dir):  # a digits experiment: rows labelled "[digits, CPU]", not ImageNet-100
        return probe_rows(results_dir, claim_id="C3", claim=CLAIM, row="input_noise", pairs=PAIRS)
    return probe_claim(results_dir, claim_id="C3", claim=CLAIM, row="input_noise", pairs=PAIRS, dataset=dataset)


def run(ctx: CheckContext):
    return evaluate(ctx.imagenet_results, seed=ctx.seed)


if __name__ == "__main__":
    raise SystemExit(script_main(run))
