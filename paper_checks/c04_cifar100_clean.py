"""C4 — CIFAR-100, clean data: CL slightly above NCL (Table 1, noise 0: 54.5 vs 52.8 %).

Reads a finished ``run-imagenet --dataset cifar100`` folder (given as ``--imagenet-results``). Reproduced when
the 95 % paired-bootstrap interval of CL − NCL lies above 0; partly when only the point estimate does.
"""

from monotheory.checks import CheckContext, script_main
from monotheory.vision.summary import probe_claim

CLAIM = "CIFAR-100, clean labels: CL is slightly more accurate than NCL"
PAIRS = [("cl", "ncl", "54.5 vs 52.8 (+1.7 pt)")]


def evaluate(results_dir, dataset="cifar100", seed=0):
    return probe_claim(results_dir, claim_id="C4", claim=CLAIM, row="clean", pairs=PAIRS, rule="greater",
                       dataset=dataset, seed=seed)


def run(ctx: CheckContext):
    return evaluate(ctx.imagenet_results, seed=ctx.seed)


if __name__ == "__main__":
    raise SystemExit(script_main(run))
