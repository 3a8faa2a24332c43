"""C4 — CIFAR-100, clean data: CL slightly above NCL (Table 1, noise 0: 54.5 vs 52.8 %).

Reads a finished ``run-imagenet --dataset cifar100`` folder: the one given as ``--imagenet-results`` when its
config says ``cifar100``, else the folder in the environment variable ``MONOTHEORY_CIFAR_RESULTS`` (the check
context has one results folder, usually the ImageNet-100 run). Cell: training noise 0, test σ 0.

A "no loss" claim ("slightly" lower): NCL − CL, paired over the test images, decided by the one rule
(:mod:`monotheory.claims.rules`) with two one-sided tests against ±:data:`MARGIN` — reproduced when the interval
lies inside ±2 pt, not reproduced when entirely outside, inconclusive otherwise; "not a test" when NCL is not
measurably more monosemantic than CL. **The margin, 2 points of top-1 accuracy**: the paper's own clean cost on
CIFAR-100, 1.7 pt, which it calls slight, rounded up to a whole point (fixed from the paper, not from a run).
"""

import os
from pathlib import Path

from monotheory.claims.runner import CheckContext
from monotheory.claims.verdict import skipped
from monotheory.claims.vision import probe_claim, run_dataset
from monotheory.cli.check import script_main

CLAIM = "CIFAR-100, clean labels: monosemantic features (NCL) cost at most slightly (CL slightly above NCL)"
PAIRS = [("ncl", "cl", "52.8 vs 54.5 (−1.7 pt)")]
ENV = "MONOTHEORY_CIFAR_RESULTS"
MARGIN = 0.02  # ±2 pt of accuracy (0–1 scale): the paper's "slight" CIFAR-100 cost, 1.7 pt, rounded up


def cifar_results(given):
    """(folder, None) for the CIFAR-100 run to read, or (None, reason)."""
    if given is not None and run_dataset(given) == "cifar100":
        return Path(given), None
    env = os.environ.get(ENV)
    if env:
        if not Path(env).is_dir():
            return None, f"{ENV}={env!r} is not a folder"
        return Path(env), None
    seen = f" (--imagenet-results {given} is a run on {run_dataset(given)!r})" if given is not None else ""
    return None, (f"needs a `run-imagenet --dataset cifar100` folder: give it as --imagenet-results or in the "
                  f"environment variable {ENV}{seen}")


def evaluate(results_dir, dataset="cifar100", seed=0):
    return probe_claim(results_dir, claim_id="C4", claim=CLAIM, row="clean", pairs=PAIRS, margin=MARGIN,
                       dataset=dataset)


def run(ctx: CheckContext):
    folder, reason = cifar_results(ctx.imagenet_results)
    if folder is None:
        return skipped("C4", CLAIM, reason, label="NCL−CL", paper_value=PAIRS[0][2])
    return evaluate(folder, seed=ctx.seed)


if __name__ == "__main__":
    raise SystemExit(script_main(run))
