"""C10 — few-shot fine-tuning: monosemantic (NCE) ≥ polysemantic (CE) at 10 / 20 / 50 % of the training set.

Reads ``finetune.json`` of a finished ``run-imagenet`` folder (CL encoder fine-tuned on stratified fractions of
the training set, clean labels). One row per fraction < 1; the fractions' cells form one Holm family, decided by
the one rule (:mod:`monotheory.claims.rules`): NCE − CE final validation accuracy, paired over the shared
validation images, claimed > 0 — the paper's "≥" is read as a gain (it presents few-shot robustness as a gain of
monosemanticity), so a tie or a small, unresolved difference (e.g. p 0.5) is *inconclusive*, never reproduced;
"not a test" when NCE's classifier input is not measurably more monosemantic than CE's.

A digits experiment folder (``monotheory.vision.digits``) is accepted too: its rows are labelled
"[digits, CPU]", paired over seeds, and say that they are not ImageNet-100 (:mod:`monotheory.claims.digits`).
"""

from monotheory.claims.digits import finetune_rows, is_digits_folder
from monotheory.claims.runner import CheckContext
from monotheory.claims.vision import finetune_claim
from monotheory.cli.check import script_main

CLAIM = "Few-shot fine-tuning: monosemantic features (NCE) are at least as accurate as polysemantic (CE)"


def evaluate(results_dir, dataset="imagenet100", seed=0):
    if is_digits_folder(results_dir):  # a digits experiment: rows labelled "[digits, CPU]", not ImageNet-100
        return finetune_rows(results_dir, claim_id="C10", claim=CLAIM, kind="few_shot")
    return finetune_claim(results_dir, claim_id="C10", claim=CLAIM, kind="few_shot", dataset=dataset)


def run(ctx: CheckContext):
    return evaluate(ctx.imagenet_results, seed=ctx.seed)


if __name__ == "__main__":
    raise SystemExit(script_main(run))
