"""C9 — fine-tuning with noisy labels: NCE (ReLU before the classifier) fits the noisy training labels less
and generalises better than plain CE (lower train, higher validation accuracy).

Reads ``finetune.json`` of a finished ``run-imagenet`` folder (CL encoder fine-tuned on the full training set
at the highest label-noise rate of the run, 90 % in the paper). Reproduced when NCE's final validation accuracy
is above CE's with a 95 % interval above 0 (both heads are scored on the same validation images: paired bootstrap
over images, with McNemar's exact p-value)
AND its final training accuracy (on the noisy labels) is below CE's; partly when only one of the two holds.

A digits experiment folder (``monotheory.vision.digits``) is accepted too: its rows are labelled
"[digits, CPU]" and say that they are not ImageNet-100 (:mod:`monotheory.claims.digits`).
"""

from monotheory.claims.digits import finetune_rows, is_digits_folder
from monotheory.claims.runner import CheckContext
from monotheory.claims.verdict import NOT_REPRODUCED, PARTLY, REPRODUCED, Verdict, skipped
from monotheory.claims.vision import final, finetune_gap, finetune_runs
from monotheory.cli.check import script_main

CLAIM = "Fine-tuning under label noise: NCE has lower train and higher validation accuracy than CE"


def evaluate(results_dir, dataset="imagenet100", seed=0):
    if is_digits_folder(results_dir):  # a digits experiment: rows labelled "[digits, CPU]", not ImageNet-100
        return finetune_rows(results_dir, claim_id="C9", claim=CLAIM, kind="label_noise")
    runs, n_val, reason = finetune_runs(results_dir, dataset)
    if runs is not None:
        noisy = [r for r in runs if r["noise_rate"] > 0 and r["few_shot_fraction"] == 1.0]
        rate = max((r["noise_rate"] for r in noisy), default=None)
        pick = {r["head"]: r for r in noisy if r["noise_rate"] == rate}
        if not {"ce", "nce"} <= set(pick):
            runs, reason = None, f"{results_dir}/finetune.json has no CE and NCE runs with label noise"
    if runs is None:
        return skipped("C9", CLAIM, reason, paper_value="qualitative (no numbers available)")
    ce, nce = pick["ce"], pick["nce"]
    paired = finetune_gap(nce, ce, seed=seed)
    if paired is None:
        return skipped("C9", CLAIM, f"{results_dir}/finetune.json has no per-image validation correctness "
                       "(val_correct); rerun its finetune stage", paper_value="qualitative (no numbers available)")
    gap, lo, hi, p_value = paired
    train_gap = 100 * (final(nce, "train_acc") - final(ce, "train_acc"))
    val_ok, train_ok = lo > 0, train_gap < 0
    verdict = REPRODUCED if val_ok and train_ok else PARTLY if val_ok or train_ok else NOT_REPRODUCED
    return Verdict(
        claim_id="C9", claim=CLAIM, verdict=verdict, label="NCE−CE val",
        measured=(f"val: NCE {100 * final(nce, 'val_acc'):.1f} % vs CE {100 * final(ce, 'val_acc'):.1f} % "
                  f"({gap:+.1f} pt); train (noisy labels): NCE {100 * final(nce, 'train_acc'):.1f} % vs CE "
                  f"{100 * final(ce, 'train_acc'):.1f} % ({train_gap:+.1f} pt)"),
        value=gap, interval=(lo, hi), paper_value="NCE: lower train, higher val accuracy (qualitative)",
        conditions=(f"label noise {rate:g}, {len(ce['history'])} epochs, final epoch, {n_val} validation images; "
                    f"interval: paired bootstrap over validation images (McNemar p = {p_value:.2g}), one seed"),
        details={"ce": ce["history"], "nce": nce["history"]})


def run(ctx: CheckContext):
    return evaluate(ctx.imagenet_results, seed=ctx.seed)


if __name__ == "__main__":
    raise SystemExit(script_main(run))
