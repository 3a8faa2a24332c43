"""C9 — fine-tuning with noisy labels: NCE (ReLU before the classifier) fits the noisy training labels less
and generalises better than plain CE (lower train, higher validation accuracy).

Reads ``finetune.json`` of a finished ``run-imagenet`` folder (CL encoder fine-tuned on the full training set
at the highest label-noise rate of the run, 90 % in the paper). One row, two parts, one Holm family, decided by
the one rule (:mod:`monotheory.claims.rules`): NCE − CE final validation accuracy (claimed > 0; paired over the
shared validation images) and NCE − CE final training accuracy on the noisy labels (claimed < 0; per-image
training correctness is not recorded, so a z-test with the unpaired two-proportion SE, which is conservative for
two heads scored on the same images). Reproduced when both hold, partly when one does; "not a test" when NCE's
classifier input is not measurably more monosemantic than CE's (paired bootstrap over validation images).

A digits experiment folder (``monotheory.vision.digits``) is accepted too: its rows are labelled
"[digits, CPU]", paired over seeds, and say that they are not ImageNet-100 (:mod:`monotheory.claims.digits`).
"""

from monotheory.claims.digits import finetune_rows, is_digits_folder
from monotheory.claims.runner import CheckContext
from monotheory.claims.vision import finetune_claim
from monotheory.cli.check import script_main

CLAIM = "Fine-tuning under label noise: NCE has lower train and higher validation accuracy than CE"


def evaluate(results_dir, dataset="imagenet100", seed=0):
    if is_digits_folder(results_dir):  # a digits experiment: rows labelled "[digits, CPU]", not ImageNet-100
        return finetune_rows(results_dir, claim_id="C9", claim=CLAIM, kind="label_noise")
    return finetune_claim(results_dir, claim_id="C9", claim=CLAIM, kind="label_noise", dataset=dataset)


def run(ctx: CheckContext):
    return evaluate(ctx.imagenet_results, seed=ctx.seed)


if __name__ == "__main__":
    raise SystemExit(script_main(run))
