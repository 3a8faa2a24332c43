"""The ``finetune`` stage of ``run-imagenet``: CE vs NCE fine-tuning of a pretrained encoder → ``finetune.json``."""

from __future__ import annotations

import copy
import dataclasses
import json

from monotheory.report import atomic_write_json
from monotheory.vision.config import HEAD_REGIME


def run_finetune_stage(ctx) -> None:
    """CE vs NCE fine-tuning: few-shot (clean labels) and full data with label noise. The CE runs start from the CL
    encoder, the NCE runs from ``finetune.nce_encoder`` (``cl`` by default and in the paper preset).

    Each run's result is kept in ``finetune/<tag>.json`` so an interrupted stage resumes run by run;
    ``finetune.json`` (the stage's result) gathers them. Few-shot runs (fraction < 1) train for
    ``few_shot_epochs`` when set; the lr is ``lr × batch_size / 256`` when ``scale_lr`` (recorded per run).
    """

    from monotheory.vision.finetune import finetune

    if ctx.done("finetune"):
        return
    f, p = ctx.cfg.finetune, ctx.cfg.probe
    plan = [(h, fr, 0.0) for fr in f.fractions for h in f.heads]
    plan += [(h, 1.0, r) for r in f.noise_rates for h in f.heads if (h, 1.0, r) not in plan]
    bases = {"ce": ctx.load_encoder("cl"), "nce": ctx.load_encoder(f.nce_encoder)}
    train = ctx.train_ft if f.augment else ctx.train_eval
    lr = f.lr * f.batch_size / 256 if f.scale_lr else f.lr  # one process: global batch = batch_size
    runs = []
    for head, frac, rate in plan:
        tag = f"{head}_f{frac:g}_n{rate:g}"
        part = ctx.out / "finetune" / f"{tag}.json"
        if part.exists():  # --force removed the parts (and checkpoints) of an earlier run up front
            runs.append(json.loads(part.read_text()))
            continue
        ctx.log(f"finetune {tag}")
        epochs = f.few_shot_epochs if frac < 1 and f.few_shot_epochs else f.epochs
        fcfg = dataclasses.replace(f, head=head, epochs=epochs, lr=lr, few_shot_fraction=frac, noise_rate=rate,
                                   noise_model=p.noise_model, noise_sampling=p.noise_sampling, seed=ctx.cfg.seed,
                                   num_workers=ctx.cfg.num_workers, amp=ctx.cfg.pretrain.amp)
        res = finetune(copy.deepcopy(bases[head]), train, ctx.val, ctx.num_classes, fcfg, device=ctx.device,
                       progress=ctx.progress, checkpoint_path=ctx.ckpt_dir / f"finetune_{tag}.pt")
        row = {"head": head, "regime": HEAD_REGIME[head], "method": "cl" if head == "ce" else f.nce_encoder,
               "few_shot_fraction": frac,
                "noise_rate": rate, "lr_effective": lr, **res}
        atomic_write_json(part, row)
        runs.append(row)
    ctx.write_result("finetune", {"runs": runs, "n_val": len(ctx.val), "config": {**f.plan(), "_type": "FinetuneConfig"}})
