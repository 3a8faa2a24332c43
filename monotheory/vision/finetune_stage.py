"""The ``finetune`` stage of ``run-imagenet``: CE vs NCE fine-tuning of a pretrained encoder → ``finetune.json``."""

from __future__ import annotations

import copy
import dataclasses
import json

from monotheory.files import atomic_write_json
from monotheory.vision.config import HEAD_REGIME
from monotheory.vision.finetune import finetune
from monotheory.vision.finetune_config import FinetuneConfig


def finetune_plan(f: FinetuneConfig) -> list[tuple[str, float, float]]:
    """The runs of the stage as (head, few-shot fraction, label-noise rate): every head × fraction with clean
    labels, then every head × noise rate on the full training set (a run already in the first list is not
    repeated)."""
    plan = [(h, fr, 0.0) for fr in f.fractions for h in f.heads]
    return plan + [(h, 1.0, r) for r in f.noise_rates for h in f.heads if (h, 1.0, r) not in plan]


def run_epochs(f: FinetuneConfig, fraction: float) -> int:
    """Epochs of a run: ``few_shot_epochs`` (when set) for few-shot runs (fraction < 1), else ``epochs``."""
    return f.few_shot_epochs if fraction < 1 and f.few_shot_epochs else f.epochs


def run_finetune_stage(ctx) -> None:
    """CE vs NCE fine-tuning: few-shot (clean labels) and full data with label noise. The CE runs start from the CL
    encoder, the NCE runs from ``finetune.nce_encoder`` (``cl`` by default and in the paper preset).

    Each run's result is kept in ``finetune/<tag>.json`` so an interrupted stage resumes run by run;
    ``finetune.json`` (the stage's result) gathers them. Under ``torchrun`` the runs (independent, each seeded
    by the run's seed) are spread over the ranks: run k on rank k mod world size, each on its own device, so
    the results do not depend on the number of processes. The lr is ``lr × batch_size / 256`` when
    ``scale_lr`` (the batch of one run; recorded per run).
    """

    if ctx.done("finetune"):
        return
    f, p, dist = ctx.cfg.finetune, ctx.cfg.probe, ctx.dist
    plan = finetune_plan(f)
    bases = {"ce": ctx.load_encoder("cl"), "nce": ctx.load_encoder(f.nce_encoder)}
    train = ctx.train_ft if f.augment else ctx.train_eval
    lr = f.lr * f.batch_size / 256 if f.scale_lr else f.lr  # one run = one process: its batch is the global one
    ctx.log(f"finetune: {len(plan)} runs over {dist.world_size} process(es), batch {f.batch_size} per run, lr {lr:g}"
            f" ({'scaled: ' + format(f.lr, 'g') + ' × ' + str(f.batch_size) + '/256' if f.scale_lr else 'not scaled'})")

    def part(tag):
        return ctx.out / "finetune" / f"{tag}.json"

    def tick(units):  # each rank runs its share at once: the run's work times the world size
        ctx.eta.tick(units * dist.world_size)

    ctx.eta.begin("finetune", "finetune")
    for k, (head, frac, rate) in enumerate(plan):
        tag = f"{head}_f{frac:g}_n{rate:g}"
        if k % dist.world_size != dist.rank or part(tag).exists():  # --force removed old parts up front
            continue
        ctx.log(f"finetune {tag}")
        fcfg = dataclasses.replace(f, head=head, epochs=run_epochs(f, frac), lr=lr, few_shot_fraction=frac,
                                   noise_rate=rate, noise_model=p.noise_model, noise_sampling=p.noise_sampling,
                                   seed=ctx.cfg.seed, num_workers=ctx.cfg.num_workers, amp=ctx.cfg.pretrain.amp)
        res = finetune(copy.deepcopy(bases[head]), train, ctx.val, ctx.num_classes, fcfg, device=ctx.device,
                       progress=ctx.progress and dist.is_main, checkpoint_path=ctx.ckpt_dir / f"finetune_{tag}.pt",
                       on_step=tick)
        atomic_write_json(part(tag), {"head": head, "regime": HEAD_REGIME[head],
                                      "method": "cl" if head == "ce" else f.nce_encoder,
                                      "few_shot_fraction": frac, "noise_rate": rate, "lr_effective": lr,
                                      "rank": dist.rank, **res})
    ctx.barrier()
    runs = [json.loads(part(f"{h}_f{fr:g}_n{r:g}").read_text()) for h, fr, r in plan]
    ctx.write_result("finetune", {"runs": runs, "n_val": len(ctx.val), "config": {**f.plan(), "_type": "FinetuneConfig"}})
